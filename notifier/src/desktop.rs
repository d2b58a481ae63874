//! Desktop notifications through notify-rust, when built with the `desktop`
//! feature. A missing notification server is an error to log, never a reason
//! to fail a job or hold up other deliveries.

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
