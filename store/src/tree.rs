//! Process trees: a job's command runs as the leader of its own process group
//! (Unix) or inside a named Job Object (Windows), so that cancel and timeout
//! reach every process it started, and nothing else.

use std::process::{Child, Command};
use std::time::Duration;

use crate::identity::ProcessIdentity;

#[cfg(unix)]
#[path = "tree/unix.rs"]
mod platform;
#[cfg(windows)]
#[path = "tree/windows.rs"]
mod platform;

pub use platform::Tree;

/// How an attempt to end a tree went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// No process of the tree was running (or the leader is not the process
    /// recorded: its pid now belongs to someone else). Nothing was signalled.
    NotRunning,
    /// The tree ended within the grace period.
    Stopped,
    /// The tree had to be killed after the grace period.
    Killed,
    /// The OS refused; the text says why.
    Failed(String),
}

/// Start `cmd` as the root of a new tree named `name`.
pub fn spawn(cmd: &mut Command, name: &str) -> std::io::Result<(Child, Tree)> {
    platform::spawn(cmd, name)
}

/// From any process: end the tree whose leader is `leader` — ask politely,
/// wait up to `grace`, then force. The leader's identity is checked first, so
/// a reused pid is never signalled.
pub fn terminate(leader: &ProcessIdentity, name: &str, grace: Duration) -> Ended {
    if !leader.is_alive() {
        return Ended::NotRunning;
    }
    platform::terminate(leader.pid, name, grace)
}

/// From any process: ask the tree to stop without waiting (identity-checked).
pub fn request_stop(leader: &ProcessIdentity, name: &str) {
    if leader.is_alive() {
        platform::request_stop(leader.pid, name);
    }
}

/// From any process: end `root` and all its descendants, identity-checked —
/// for a helper that is not the leader of its own group (a broker). Asks,
/// waits up to `grace`, then forces whatever is left.
pub fn terminate_process_tree(root: &ProcessIdentity, grace: Duration) -> Ended {
    if !root.is_alive() {
        return Ended::NotRunning;
    }
    let members = root.tree();
    for p in &members {
        platform::signal_process(p.pid, false);
    }
    let all_gone = |limit: Duration| {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if members.iter().all(|p| !p.is_alive()) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    if all_gone(grace) {
        return Ended::Stopped;
    }
    for p in members.iter().filter(|p| p.is_alive()) {
        platform::signal_process(p.pid, true);
    }
    if all_gone(Duration::from_secs(2)) {
        Ended::Killed
    } else {
        Ended::Failed(format!("process {} survived being killed", root.pid))
    }
}
