//! Freeing a replaced file's blocks later than its replacement.
//!
//! A rename over a record drops the old file's last name, and the file
//! system frees its blocks right there, inside the rename, unless a process
//! still holds the file open. On some file systems that is as slow as an
//! fsync: ext4 without a journal, mounted with `discard`, waits for the device
//! to discard the blocks. A process with a better moment for that wait (a
//! worker, once it has reported its job's end) asks for [`defer`]: its
//! replaces then keep the old file open until [`release`], which closes them
//! and lets the file system free them.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Whether this process defers freeing (see [`defer`]).
static DEFERRING: AtomicBool = AtomicBool::new(false);
/// The replaced files this process holds open.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());
/// Held files beyond which a replace frees at once again, so that a process
/// that forgets to [`release`] cannot run out of descriptors.
const MAX_HELD: usize = 32;

/// From now on, a file this process replaces stays open (its blocks in use)
/// until [`release`]. Where the platform cannot keep a file open across its
/// replacement (Windows), nothing changes.
pub fn defer() {
    DEFERRING.store(true, Ordering::Relaxed);
}

/// Close the replaced files held so far: the file system frees them now.
pub fn release() {
    let held = std::mem::take(&mut *lock());
    drop(held);
}

/// Hold `file` until [`release`], as if this process had replaced it: a
/// file opened by the parent of a fork, which replaces it afterwards.
pub fn keep(file: File) {
    lock().push(file);
}

/// The file at `path`, opened for [`keep`]: `None` where there is none, or
/// where the platform cannot keep a file open across its replacement.
pub fn open_to_keep(path: &Path) -> Option<File> {
    super::platform::open_to_keep(path)
}

/// Before a replace of `dest`: the old file, opened, when freeing is
/// deferred.
pub(super) fn before_replace(dest: &Path) -> Option<File> {
    if !DEFERRING.load(Ordering::Relaxed) {
        return None;
    }
    open_to_keep(dest)
}

/// After the replace: hold what [`before_replace`] opened.
pub(super) fn after_replace(old: Option<File>) {
    let Some(old) = old else {
        return;
    };
    let mut held = lock();
    if held.len() >= MAX_HELD {
        held.clear();
    }
    held.push(old);
}

fn lock() -> std::sync::MutexGuard<'static, Vec<File>> {
    // A panic elsewhere while holding the lock leaves a plain list behind.
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;

    /// The files this process holds open whose last name is gone.
    fn held_deleted(dir: &Path) -> usize {
        let prefix = dir.to_string_lossy().into_owned();
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .map(|target| target.to_string_lossy().into_owned())
            .filter(|target| target.starts_with(&prefix) && target.ends_with(" (deleted)"))
            .count()
    }

    #[test]
    fn a_replaced_file_stays_in_use_until_released() {
        let dir = std::env::temp_dir().join(format!("bgjobs-deferred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.as_path();
        let durable = crate::fsio::Durability::Durable;
        crate::fsio::write_atomic_with(dir, "r.json", b"1", durable).unwrap();
        defer();
        crate::fsio::write_atomic_with(dir, "r.json", b"2", durable).unwrap();
        crate::fsio::write_atomic_with(dir, "r.json", b"3", durable).unwrap();
        assert_eq!(held_deleted(dir), 2, "both replaced files are held");
        assert_eq!(std::fs::read(dir.join("r.json")).unwrap(), b"3");
        release();
        assert_eq!(held_deleted(dir), 0, "released, they are freed");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
