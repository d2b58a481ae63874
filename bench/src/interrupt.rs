//! Ctrl-C (and SIGTERM/SIGHUP) end the bench *through its normal error path*,
//! so that the fixture's cleanup still runs: a bench that dies on the signal
//! would leave a temp directory of thousands of records, and possibly a
//! worker, behind. The signal only sets a flag; long loops check it.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Route the termination signals to the flag.
pub fn install() {
    platform::install();
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

#[cfg(unix)]
mod platform {
    use std::sync::atomic::Ordering;

    extern "C" fn on_signal(_: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        super::REQUESTED.store(true, Ordering::SeqCst);
    }

    /// Plain `signal(2)` on libc, already a dependency, rather than a crate
    /// for one flag.
    pub fn install() {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: installs a handler that only stores to an atomic.
            unsafe { libc::signal(sig, handler) };
        }
    }
}

/// Windows: Ctrl-C ends the bench at once; its temp directory may remain.
#[cfg(not(unix))]
mod platform {
    pub fn install() {}
}
