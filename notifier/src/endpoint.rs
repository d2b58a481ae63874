//! Where the notifier listens: a Unix socket in an owner-only directory, or a
//! named pipe restricted to the current user. One per state root.

use std::path::PathBuf;

use bgjobs_store::StateRoot;

#[cfg(unix)]
#[path = "endpoint/unix.rs"]
mod platform;
#[cfg(windows)]
#[path = "endpoint/windows.rs"]
mod platform;

pub use platform::{peer_allowed, raise_fd_limit, Endpoint};

/// The notifier's own directory under the state root: lock, pid record, log.
pub fn notifier_dir(root: &StateRoot) -> PathBuf {
    root.path().join("notifier")
}

/// A short stable tag for a state root, for names that must be short.
fn root_tag(root: &StateRoot) -> String {
    let bytes = root.path().to_string_lossy();
    let hash = bytes.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}
