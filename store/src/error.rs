//! The store's error type: every variant renders as one line that names the problem.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the store, each with enough context for a
/// one-line message to the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a path failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot create", "cannot read", ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The state root exists but is not a usable directory.
    #[error("state root {} is not usable: {reason}", path.display())]
    BadStateRoot {
        /// The offending path.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// No state root could be determined (no `BGJOBS_HOME` and no home directory).
    #[error("cannot find a data directory: set BGJOBS_HOME")]
    NoStateRoot,
    /// The workspace directory could not be resolved.
    #[error("cannot use workspace {}: {source}", path.display())]
    Workspace {
        /// The path that was tried.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No job has this id in the workspace.
    #[error("no job {0} in this workspace")]
    UnknownJob(u64),
    /// A record could not be parsed; it has been moved aside to `moved_to`.
    #[error("record {} is corrupt ({detail}); moved aside to {}", path.display(), moved_to.display())]
    Corrupt {
        /// Where the record was.
        path: PathBuf,
        /// Where it is now.
        moved_to: PathBuf,
        /// The parse error.
        detail: String,
    },
    /// The configuration file is invalid.
    #[error("config {}: {detail}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key where there is one.
        detail: String,
    },
    /// A value given by the user is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

/// Attach a path and an action to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
