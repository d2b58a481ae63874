//! The CLI's small platform interface: starting the detached worker and
//! reading how a process ended.

#[cfg(unix)]
#[path = "platform/unix.rs"]
mod imp;
#[cfg(windows)]
#[path = "platform/windows.rs"]
mod imp;

pub use imp::{
    default_sigpipe, exit_code, fork_worker, path_for_shell, signal_of, spawn_detached, Forked,
};
