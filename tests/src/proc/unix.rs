//! Unix processes: liveness (a zombie counts as dead), signals, and on Linux
//! what `/proc` says about process groups, sessions and signal handlers.

/// Send `sig` to `pid` (negative: a process group). Returns whether the
/// signal was delivered.
pub fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Send `sig` to every process of the group `pgid`.
pub fn signal_group(pgid: u32, sig: i32) -> bool {
    // SAFETY: as above.
    unsafe { libc::kill(-(pgid as libc::pid_t), sig) == 0 }
}

/// Whether `pid` is a running process; a zombie (exited, not yet reaped)
/// is dead.
#[cfg(target_os = "linux")]
pub fn pid_alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Whether `pid` is a running process (zombies cannot be told apart here).
#[cfg(not(target_os = "linux"))]
pub fn pid_alive(pid: u32) -> bool {
    signal(pid, 0)
}

/// What `/proc/<pid>/stat` says.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone)]
pub struct Stat {
    pub pid: u32,
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub session: u32,
    /// Field 22: start time in clock ticks since boot.
    pub start: u64,
}

/// `/proc/<pid>/stat`, parsed; `None` if there is no such process.
#[cfg(target_os = "linux")]
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        pid,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// Every process on the system, as `/proc` lists it.
#[cfg(target_os = "linux")]
pub fn all() -> Vec<Stat> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter_map(stat)
                .collect()
        })
        .unwrap_or_default()
}

/// Live (non-zombie) processes of the process group `pgid`.
#[cfg(target_os = "linux")]
pub fn group_members(pgid: u32) -> Vec<u32> {
    all()
        .into_iter()
        .filter(|s| s.pgrp == pgid && !matches!(s.state, 'Z' | 'X' | 'x'))
        .map(|s| s.pid)
        .collect()
}

/// Whether `pid` has a handler installed for `sig` (`SigCgt` in
/// `/proc/<pid>/status`).
#[cfg(target_os = "linux")]
pub fn catches(pid: u32, sig: i32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// Make this process a child subreaper and reap, from a background thread,
/// the orphans it inherits. Only zombies in another session are reaped:
/// the test's own children stay in its session, and std's `wait` on them
/// must not find them gone. Idempotent.
#[cfg(target_os = "linux")]
pub fn adopt_orphans() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl and getsid with plain integer arguments.
        let (ok, session) = unsafe {
            (
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0,
                libc::getsid(0) as u32,
            )
        };
        if !ok {
            return;
        }
        let me = std::process::id();
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            // Cheap check first: is any child a zombie at all? (WNOWAIT
            // leaves it to be reaped.)
            // SAFETY: waitid fills the zeroed siginfo_t we own.
            let any = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
                libc::waitid(libc::P_ALL, 0, &mut info, flags) == 0 && info.si_pid() != 0
            };
            if !any {
                continue;
            }
            for s in all() {
                if s.ppid == me && s.state == 'Z' && s.session != session {
                    // SAFETY: reaping a zombie child by pid; no status wanted.
                    unsafe {
                        libc::waitpid(s.pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG)
                    };
                }
            }
        });
    });
}

/// Processes (other than this one) whose initial environment holds
/// `name=value`.
#[cfg(target_os = "linux")]
pub fn processes_with_env(name: &str, value: &std::ffi::OsStr) -> Vec<u32> {
    use std::os::unix::ffi::OsStrExt;
    let mut entry = name.as_bytes().to_vec();
    entry.push(b'=');
    entry.extend_from_slice(value.as_bytes());
    let me = std::process::id();
    all()
        .into_iter()
        .filter(|s| s.pid != me && !matches!(s.state, 'Z' | 'X' | 'x'))
        .filter(|s| {
            std::fs::read(format!("/proc/{}/environ", s.pid))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|e| e == entry.as_slice()))
        })
        .map(|s| s.pid)
        .collect()
}

/// Kill `pid` outright (SIGKILL). Returns whether the signal was delivered.
pub fn kill(pid: u32) -> bool {
    signal(pid, libc::SIGKILL)
}

/// Unix tests never run under Wine.
pub fn is_wine() -> bool {
    false
}
