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

/// Whether the process (or processes) `pids` are all gone.
pub fn all_gone(pids: &[u32]) -> bool {
    pids.iter().all(|&pid| !pid_alive(pid))
}

/// When the tests run under Wine, print that `test` is skipped and why, and
/// return true: the caller returns at once. `reason` names the Wine
/// limitation. Never skips on Linux, macOS or real Windows.
pub fn skip_under_wine(test: &str, reason: &str) -> bool {
    if !is_wine() {
        return false;
    }
    // stdout and stderr both: cargo test shows stderr of passing tests only
    // with --nocapture, and the CI summary greps the log for these lines.
    let line = format!("SKIPPED under Wine: {test}: {reason}");
    println!("{line}");
    eprintln!("{line}");
    true
}
