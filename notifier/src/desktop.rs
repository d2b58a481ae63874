//! Desktop notifications through notify-rust, when built with the `desktop`
//! feature. A missing notification server is an error to log, never a reason
//! to fail a job or hold up other deliveries.
//!
//! The daemon shows them from a short-lived child process ([`show_with`]):
//! the D-Bus client's code then never stays resident in the long-lived
//! daemon, and a hung notification server can only hang that child.

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the child that shows a notification may take.
const SHOW_TIMEOUT: Duration = Duration::from_secs(10);

/// Run `command` with `summary` and `body` appended, which shows one
/// notification (for bgjobs: `bgjobs notifier show-desktop`).
pub fn show_with(command: &[OsString], summary: &str, body: &str) -> Result<(), String> {
    let (program, args) = command.split_first().ok_or("no desktop command")?;
    let mut child = Command::new(program)
        .args(args)
        .arg(summary)
        .arg(body)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
    let deadline = Instant::now() + SHOW_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("the notification helper failed ({status})")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the notification helper hung for {}s and was killed",
                    SHOW_TIMEOUT.as_secs()
                ));
            }
        }
    }
}

/// Whether this build can show desktop notifications.
pub const AVAILABLE: bool = cfg!(feature = "desktop");

/// Show one notification.
#[cfg(feature = "desktop")]
pub fn show(summary: &str, body: &str) -> Result<(), String> {
    notify_rust::Notification::new()
        .appname("bgjobs")
        .summary(summary)
        .body(body)
        .show()
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Show one notification: this build has none.
#[cfg(not(feature = "desktop"))]
pub fn show(_summary: &str, _body: &str) -> Result<(), String> {
    Err("this build of bgjobs has no desktop notifications".into())
}

/// What would show a notification here: on Linux and the BSDs the server on
/// the session bus (asked over D-Bus), elsewhere the platform's own
/// notification center. An error says why none would be shown.
#[cfg(all(feature = "desktop", unix, not(target_os = "macos")))]
pub fn backend() -> Result<String, String> {
    notify_rust::get_server_information()
        .map(|s| format!("{} {} on the session bus", s.name, s.version))
        .map_err(|e| format!("no notification server on the session bus: {e}"))
}

/// What would show a notification here: the platform's notification center.
#[cfg(all(feature = "desktop", any(windows, target_os = "macos")))]
pub fn backend() -> Result<String, String> {
    Ok("the platform's notification center".into())
}

/// This build shows no notifications.
#[cfg(not(feature = "desktop"))]
pub fn backend() -> Result<String, String> {
    Err("this build of bgjobs has no desktop notifications".into())
}
