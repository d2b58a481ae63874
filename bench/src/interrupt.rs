//! Ctrl-C (and SIGTERM/SIGHUP) end the bench *through its normal error path*,
//! so that the fixture's cleanup still runs: a bench that dies on the signal
//! would leave a temp directory of thousands of records, and possibly a
//! worker, behind. The signal only sets a flag; long loops check it.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Route the termination signals to the flag. Best effort: if a handler
/// cannot be set, the signal simply ends the bench as it would by default.
pub fn install() {
    let _ = ctrlc::set_handler(|| REQUESTED.store(true, Ordering::SeqCst));
}

/// Whether the user asked the bench to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// An error when the user asked the bench to stop.
pub fn check() -> Result<(), String> {
    if requested() {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}
