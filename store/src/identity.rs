//! Process identity: a pid plus the process's start time, so that a pid the
//! system has since given to another process is never mistaken for ours.

use serde::{Deserialize, Serialize};

#[cfg(target_os = "linux")]
#[path = "identity/linux.rs"]
mod platform;
#[cfg(target_os = "macos")]
#[path = "identity/macos.rs"]
mod platform;
#[cfg(windows)]
#[path = "identity/windows.rs"]
mod platform;

/// A live process, named so that it cannot be confused with a later process
/// that reuses its pid. `start` is in the platform's own unit (Linux: clock
/// ticks since boot; macOS: microseconds since the epoch; Windows: FILETIME).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// The process's start time, platform units.
    pub start: u64,
}

impl ProcessIdentity {
    /// The identity of the running process `pid`, or `None` when there is no
    /// such process or it has already exited (a zombie counts as exited).
    pub fn of(pid: u32) -> Option<Self> {
        if pid == std::process::id() {
            return Self::current();
        }
        Self::read(pid)
    }

    /// The identity of the calling process. Read once: a worker names itself
    /// in several writes on the path from one job's end to the next one's
    /// start, and its start time never changes. Keyed by pid, so that a
    /// forked child never takes its parent's.
    pub fn current() -> Option<Self> {
        static CURRENT: std::sync::OnceLock<Option<ProcessIdentity>> = std::sync::OnceLock::new();
        let pid = std::process::id();
        match *CURRENT.get_or_init(|| Self::read(pid)) {
            Some(me) if me.pid == pid => Some(me),
            _ => Self::read(pid),
        }
    }

    fn read(pid: u32) -> Option<Self> {
        platform::start_time(pid).map(|start| Self { pid, start })
    }

    /// Whether this exact process is still running.
    pub fn is_alive(&self) -> bool {
        platform::start_time(self.pid) == Some(self.start)
    }

    /// The parent of the running process `pid`, when it can be found.
    pub fn parent_of(pid: u32) -> Option<Self> {
        platform::parent_pid(pid).and_then(Self::of)
    }

    /// Whether process group `pgid` has a live (non-zombie) member, where the
    /// platform can tell.
    pub fn group_alive(pgid: u32) -> Option<bool> {
        platform::group_alive(pgid)
    }

    /// The executable name of this process (`bash`, `node`, `claude`...).
    pub fn name(&self) -> Option<String> {
        platform::name(self.pid)
    }

    /// This process and all its descendants, children before their parents'
    /// siblings are exhausted (a snapshot; identities of the live ones).
    pub fn tree(&self) -> Vec<Self> {
        let mut found = vec![*self];
        let mut i = 0;
        while i < found.len() {
            for child in platform::children(found[i].pid) {
                if let Some(id) = Self::of(child) {
                    if !found.contains(&id) {
                        found.push(id);
                    }
                }
            }
            i += 1;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_alive_and_a_changed_start_is_not() {
        let me = ProcessIdentity::current().expect("own identity");
        assert!(me.is_alive());
        let impostor = ProcessIdentity {
            start: me.start + 1,
            ..me
        };
        assert!(!impostor.is_alive());
    }

    #[test]
    fn exited_child_is_gone() {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--list")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let id = ProcessIdentity::of(child.id());
        child.wait().unwrap();
        if let Some(id) = id {
            assert!(!id.is_alive());
        }
    }

    #[test]
    fn parent_is_found() {
        // A child's parent is us (our own parent may be outside the system's
        // view, as under Wine, where it is a Unix process).
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "identity::tests::parent_is_found", "--list"])
            .stdout(std::process::Stdio::null())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let parent = ProcessIdentity::parent_of(child.id());
        child.wait().unwrap();
        assert_eq!(parent, ProcessIdentity::current());
    }
}
