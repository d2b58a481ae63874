//! Unix side of [`crate::fsio`]: modes 0700/0600, `rename(2)`, directory fsync,
//! files read by mapping them.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Create `path` and its missing parents with mode 0700.
pub fn create_private_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Open with `opts`; a file created by this call gets mode 0600.
pub fn open_private(path: &Path, opts: &OpenOptions) -> io::Result<File> {
    let mut opts = opts.clone();
    opts.mode(0o600);
    opts.open(path)
}

/// Atomically replace `dest` with `src`.
pub fn replace(src: &Path, dest: &Path) -> io::Result<()> {
    std::fs::rename(src, dest)
}

/// `path` opened to keep its file in use across a replace (see
/// [`super::deferred`]); `None` when there is none.
pub fn open_to_keep(path: &Path) -> Option<File> {
    File::open(path).ok()
}

/// Make a rename inside `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether only the owner may read or write `path` (no group or other
/// permission bits); `None` where the platform has no such modes.
pub fn owner_only(path: &Path) -> io::Result<Option<bool>> {
    use std::os::unix::fs::PermissionsExt;
    Ok(Some(
        std::fs::metadata(path)?.permissions().mode() & 0o077 == 0,
    ))
}

/// The content of the file at `path`, mapped rather than copied: a file of
/// megabytes is read without a copy or fresh pages to clear.
pub fn read_shared(path: &Path) -> io::Result<super::Shared> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        // Nothing to map (and mapping nothing is an error).
        return Ok(std::sync::Arc::new(Vec::new()));
    }
    // SAFETY: the mapping is read-only (shared, so it sees the file as it
    // is). bgjobs never changes a file read this way in place: it replaces
    // one by renaming another over it (which leaves this inode as it is) or
    // appends to it (which leaves the mapped bytes as they are). Only a
    // program truncating the file while it is mapped could take the bytes
    // away, which would end this process.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(std::sync::Arc::new(map))
}

/// The metadata of the file `entry` names (`fstatat` on the directory).
pub fn entry_metadata(entry: &std::fs::DirEntry) -> io::Result<std::fs::Metadata> {
    entry.metadata()
}
