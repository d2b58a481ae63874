//! Durable file operations: owner-only directories and files, and the atomic
//! replace that every record write goes through.
//!
//! Every write happens under the workspace lock, so one fixed temp name per
//! directory is enough: a writer that crashed mid-write leaves at most one temp
//! file, and the next write to that directory reuses (and so removes) it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

#[cfg(unix)]
#[path = "fsio/unix.rs"]
mod platform;
#[cfg(windows)]
#[path = "fsio/windows.rs"]
mod platform;

pub mod deferred;

pub use platform::{create_private_dir_all, open_private, owner_only, sync_dir};

/// Name of the temp file used by [`write_atomic`] in each directory.
pub const TEMP_NAME: &str = ".tmp-write";

/// Whether a write must survive a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and the directory before returning.
    Durable,
    /// The file synced, its directory not: after a crash of the machine the
    /// old content or the new, never an empty or torn file (some file
    /// systems do not order a rename after the data it names), though the
    /// replacement itself may be lost. For a record whose loss is harmless
    /// but whose old content must survive.
    Ordered,
    /// Still atomic for readers, but not synced: for facts that a crash of
    /// the machine makes void anyway (which process owns a job), so that
    /// they do not cost two fsyncs on the path of `run -b`.
    Volatile,
}

/// Replace `dir/name` with `bytes` so that a reader sees either the old or the
/// new content, never a torn one, and the new content survives a crash once
/// this returns. Must be called with the workspace lock held.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic_with(dir, name, bytes, Durability::Durable)
}

/// [`write_atomic`] with a choice of durability.
pub fn write_atomic_with(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    durability: Durability,
) -> Result<()> {
    let tmp = dir.join(TEMP_NAME);
    let mut staged = Staged::at(tmp.clone(), dir.join(name))?;
    let written = staged
        .write_all(bytes)
        .and_then(|()| staged.commit(durability).map(drop));
    if written.is_err() {
        // A failed write (a full disk) leaves nothing behind but the old file.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The current metadata of the file a directory entry names (where the
/// listing's own copy may lag behind the file, it is not used).
pub fn entry_metadata(entry: &std::fs::DirEntry) -> std::io::Result<std::fs::Metadata> {
    platform::entry_metadata(entry)
}

/// A file's content held in memory, shared by whatever refers into it.
pub type Shared = std::sync::Arc<dyn AsRef<[u8]> + Send + Sync>;

/// The whole content of the file at `path`, for a big file read often (on
/// Unix mapped, not copied).
pub fn read_shared(path: &Path) -> std::io::Result<Shared> {
    platform::read_shared(path)
}

/// Append `bytes` to the file at `path`, synced (the file only: it is not
/// new) unless `durability` is [`Durability::Volatile`]. It must exist: an
/// append to a file another writer removed would start one without what
/// comes first in it.
pub fn append(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .at("cannot open", path)?;
    file.write_all(bytes).at("cannot write", path)?;
    match durability {
        Durability::Volatile => Ok(()),
        Durability::Durable | Durability::Ordered => file.sync_data().at("cannot sync", path),
    }
}

/// Replace the file at `path` with `bytes`, durably, outside any workspace
/// lock (a file of another program, such as Claude Code's settings). A
/// reader sees the old content or the new, never a torn file.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut staged = Staged::beside(path)?;
    staged.write_all(bytes)?;
    staged.commit(Durability::Durable).map(drop)
}

/// New content for a file, written to a temp file beside it and put in its
/// place by [`Staged::commit`]: the one implementation of an atomic replace.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
}

impl Staged {
    /// Stage new content for `dest` in the temp file `tmp`, which must be
    /// in the same directory (a rename does not cross file systems).
    pub fn at(tmp: PathBuf, dest: PathBuf) -> Result<Self> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        let file = open_private(&tmp, &opts).at("cannot create", &tmp)?;
        Ok(Self { tmp, dest, file })
    }

    /// Stage new content for `path` outside the workspace lock: the temp
    /// file is named after it (`<name>.bgjobs-tmp`), so writers of
    /// different files never share one.
    pub fn beside(path: &Path) -> Result<Self> {
        let mut temp = path.file_name().unwrap_or_default().to_owned();
        temp.push(".bgjobs-tmp");
        Self::at(parent_dir(path).join(temp), path.to_path_buf())
    }

    /// Append `bytes` to the staged content.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).at("cannot write", &self.tmp)
    }

    /// A second handle on the staged content, for a writer that goes on
    /// appending to the file once it is in place.
    pub fn handle(&self) -> Result<File> {
        self.file.try_clone().at("cannot open", &self.tmp)
    }

    /// Put the staged content in place of the destination (durably: file
    /// and directory synced before this returns) and hand back the handle,
    /// positioned at its end. On Windows no other handle on the
    /// destination may be open.
    pub fn commit(self, durability: Durability) -> Result<File> {
        match durability {
            Durability::Durable => self.file.sync_all().at("cannot sync", &self.tmp)?,
            Durability::Ordered => self.file.sync_data().at("cannot sync", &self.tmp)?,
            Durability::Volatile => {}
        }
        let old = deferred::before_replace(&self.dest);
        platform::replace(&self.tmp, &self.dest).at("cannot replace", &self.dest)?;
        deferred::after_replace(old);
        if durability == Durability::Durable {
            let dir = parent_dir(&self.dest);
            platform::sync_dir(dir).at("cannot sync directory", dir)?;
        }
        Ok(self.file)
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Atomically replace `dest` with `src` (on Windows, retrying briefly while
/// a reader holds `dest` open).
pub fn replace(src: &Path, dest: &Path) -> std::io::Result<()> {
    platform::replace(src, dest)
}

/// Read a whole small file, closing it at once (on Windows an open reader
/// would make a concurrent writer's rename fail).
pub fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// Open (creating if needed) a file for appending, owner-only.
pub fn open_append(path: &Path) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    open_private(path, &opts).at("cannot open", path)
}
