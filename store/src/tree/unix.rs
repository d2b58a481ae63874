//! Unix: the command leads a new process group; the group is signalled as a
//! whole (SIGTERM, grace, SIGKILL).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::Ended;

/// The worker's handle on a running tree.
#[derive(Debug)]
pub struct Tree {
    pgid: i32,
}

impl Tree {
    /// Send `sig` to every process of the tree.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a negative pid signals a process group.
        unsafe { libc::kill(-self.pgid, sig) };
    }

    /// End the whole tree: SIGTERM, up to `grace`, SIGKILL.
    pub fn terminate(&self, grace: Duration) -> Ended {
        terminate(self.pgid as u32, "", grace)
    }
}

pub fn spawn(cmd: &mut Command, _name: &str) -> std::io::Result<(Child, Tree)> {
    let child = cmd.process_group(0).spawn()?;
    let pgid = child.id() as i32;
    Ok((child, Tree { pgid }))
}

fn group_exists(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let exists = unsafe { libc::kill(-pgid, 0) == 0 };
    // Zombies keep a group "existing" until reaped; they are not running.
    exists && crate::identity::ProcessIdentity::group_alive(pgid as u32).unwrap_or(true)
}

fn wait_gone(pgid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while group_exists(pgid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

pub fn terminate(pid: u32, _name: &str, grace: Duration) -> Ended {
    let pgid = pid as i32;
    // SAFETY: signalling a process group we verified to be the job's.
    if unsafe { libc::kill(-pgid, libc::SIGTERM) } != 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ESRCH) => Ended::NotRunning,
            _ => Ended::Failed(err.to_string()),
        };
    }
    if wait_gone(pgid, grace) {
        return Ended::Stopped;
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if wait_gone(pgid, Duration::from_secs(2)) {
        Ended::Killed
    } else {
        Ended::Failed(format!("process group {pgid} survived SIGKILL"))
    }
}

pub fn request_stop(pid: u32, _name: &str) {
    // SAFETY: signalling a process group we verified to be the job's.
    unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
}

/// Signal one process: SIGTERM, or SIGKILL when `force`.
pub fn signal_process(pid: u32, force: bool) {
    let sig = if force { libc::SIGKILL } else { libc::SIGTERM };
    // SAFETY: signalling a process whose identity the caller checked.
    unsafe { libc::kill(pid as i32, sig) };
}
