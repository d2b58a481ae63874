//! Processes as the tests see them: whether one is alive, killing one
//! outright, and whether the tests run under Wine. The same calls work on
//! every platform; the twin files add what only one platform has (signals
//! and `/proc` on Unix, Job Objects on Windows).

#[cfg(unix)]
#[path = "proc/unix.rs"]
mod platform;
#[cfg(windows)]
#[path = "proc/windows.rs"]
mod platform;

pub use platform::*;

/// Wait until `pid` is gone; panic naming `what` after the deadline.
#[track_caller]
pub fn wait_dead(pid: u32, what: &str) {
    crate::wait_until(
        &format!("{what} (pid {pid}) to be gone"),
        crate::DEADLINE,
        || (!pid_alive(pid)).then_some(()),
    );
}

/// Whether the process (or processes) `pids` are all gone.
pub fn all_gone(pids: &[u32]) -> bool {
    pids.iter().all(|&pid| !pid_alive(pid))
}

/// Say that `test` is skipped and why, straight to the process's stderr (the
/// harness captures the print macros): `.ci/run` fails on Linux when any
/// test says so, so a missing precondition (root, tmpfs, an open-file limit)
/// can never pass unnoticed there. The caller returns at once.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// When the tests run under Wine, print that `test` is skipped and why, and
/// return true: the caller returns at once. `reason` names the Wine
/// limitation. Never skips on Linux, macOS or real Windows.
pub fn skip_under_wine(test: &str, reason: &str) -> bool {
    if !is_wine() {
        return false;
    }
    // Straight to the process's stderr: the test harness captures what the
    // print macros write (and shows it only for failures), and this line
    // must reach the log, where .ci/windows-test lists the skips.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED under Wine: {test}: {reason}");
    true
}
