//! Windows side of [`crate::fsio`]: ACLs are inherited from the per-user local
//! app-data directory; a rename refused because a reader holds the target open
//! is retried briefly.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// Create `path` and its missing parents.
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Open with `opts`.
pub fn open_private(path: &Path, opts: &OpenOptions) -> io::Result<File> {
    opts.open(path)
}

/// Atomically replace `dest` with `src`, retrying for up to a second while a
/// reader has `dest` open ("access denied" / sharing violation).
pub fn replace(src: &Path, dest: &Path) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut pause = Duration::from_millis(1);
    loop {
        match std::fs::rename(src, dest) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Never: a handle open on the destination would make its replace fail
/// (see [`super::deferred`]).
pub fn open_to_keep(_path: &Path) -> Option<File> {
    None
}

/// NTFS journals the rename itself; a directory cannot be fsynced through std.
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Whether only the owner may read or write `path`: on Windows that is the
/// ACL inherited from the user's profile, not a mode, so `None`.
pub fn owner_only(path: &Path) -> io::Result<Option<bool>> {
    std::fs::metadata(path).map(|_| None)
}

/// The content of the file at `path`. Read, not mapped: a mapped file could
/// not be replaced by a rename until it is unmapped.
pub fn read_shared(path: &Path) -> io::Result<super::Shared> {
    Ok(std::sync::Arc::new(std::fs::read(path)?))
}

/// The metadata of the file `entry` names, from the file itself: the copy in
/// the directory's listing can lag behind a file renamed in while open.
pub fn entry_metadata(entry: &std::fs::DirEntry) -> io::Result<std::fs::Metadata> {
    std::fs::metadata(entry.path())
}
