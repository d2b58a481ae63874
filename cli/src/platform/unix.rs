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
