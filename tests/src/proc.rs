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

use std::io::Read;
use std::process::{Child, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// Wait for `child` to exit within `limit` (else kill it and fail), with
/// its output. A process the client left behind may hold the pipes open:
/// after the exit they are read for one more second at most.
#[track_caller]
pub fn wait_output(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        });
        rx
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let collect = |rx: mpsc::Receiver<Vec<u8>>| {
        let until = Instant::now() + Duration::from_secs(1);
        let mut bytes = Vec::new();
        while let Ok(chunk) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            bytes.extend_from_slice(&chunk);
        }
        bytes
    };
    Output {
        status,
        stdout: collect(out),
        stderr: collect(err),
    }
}
