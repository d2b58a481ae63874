//! Unix: the worker gets its own session (`setsid`), so it has no controlling
//! terminal and survives the shell, the terminal and the agent session that
//! started it.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};

/// Spawn `cmd` detached: new session, no controlling terminal.
pub fn spawn_detached(cmd: &mut Command) -> std::io::Result<Child> {
    // SAFETY: setsid is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// A detached worker forked before its job is recorded, waiting for the id
/// of the job to run (see [`fork_worker`]). Dropped without a job, it exits.
pub struct Forked {
    pid: u32,
    go: std::io::PipeWriter,
}

impl Forked {
    /// The worker's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Hand job `id` to the worker, which runs it.
    pub fn hand_over(mut self, id: u64) -> std::io::Result<()> {
        use std::io::Write;
        self.go.write_all(&id.to_le_bytes())
    }
}

/// Fork a detached worker: a copy of this process in a session of its own
/// with its stdio on `/dev/null`, which waits for [`Forked::hand_over`], then
/// runs `work(id)` and exits with its code. A fork costs a fraction of
/// starting `bgjobs worker` (an exec, then a process start). Only for a
/// process that has not started a thread: the copy has just the calling one.
pub fn fork_worker(work: impl FnOnce(u64) -> i32) -> std::io::Result<Option<Forked>> {
    let (reader, go) = std::io::pipe()?;
    // SAFETY: the caller is single-threaded (see above), so the child may do
    // anything the parent could; it never returns into the caller's code.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            drop(go);
            let code = match detach_from_caller().and_then(|()| read_id(reader)) {
                Ok(Some(id)) => work(id),
                // Not handed a job: its creator recorded none, or died first.
                Ok(None) | Err(_) => 0,
            };
            std::process::exit(code)
        }
        pid => Ok(Some(Forked {
            pid: pid as u32,
            go,
        })),
    }
}

/// In a forked worker: a session of its own, no controlling terminal, and
/// none of the caller's stdio (a caller that captures `run -b`'s output
/// would otherwise wait for the job to end).
fn detach_from_caller() -> std::io::Result<()> {
    // SAFETY: plain system calls on our own process and descriptors.
    unsafe {
        if libc::setsid() == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null == -1 {
            return Err(std::io::Error::last_os_error());
        }
        for fd in 0..3 {
            if libc::dup2(null, fd) == -1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if null > 2 {
            libc::close(null);
        }
    }
    Ok(())
}

/// The job id handed over, or `None` at the end of the pipe.
fn read_id(mut reader: std::io::PipeReader) -> std::io::Result<Option<u64>> {
    use std::io::Read;
    let mut id = [0u8; 8];
    match reader.read_exact(&mut id) {
        Ok(()) => Ok(Some(u64::from_le_bytes(id))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// A job's exit code as this process's exit status: Unix keeps the low 8
/// bits, and a non-zero code must never become 0.
pub fn exit_code(code: i32) -> i32 {
    match code & 0xff {
        0 if code != 0 => 1,
        byte => byte,
    }
}

/// The signal that ended the process, if one did.
pub fn signal_of(status: &ExitStatus) -> Option<i32> {
    status.signal()
}

/// Restore the default SIGPIPE action (Rust ignores it), so that writing to a
/// closed pipe ends the process quietly.
pub fn default_sigpipe() {
    // SAFETY: setting a signal disposition to its default.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// A path as a POSIX shell command line names it.
pub fn path_for_shell(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}
