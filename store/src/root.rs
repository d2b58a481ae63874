//! The state root: where every workspace's records live.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsio;

/// The directory holding all of bgjobs' state for this user:
/// `BGJOBS_HOME`, else the platform's local data directory. Never a temp dir.
#[derive(Debug, Clone)]
pub struct StateRoot {
    path: PathBuf,
}

impl StateRoot {
    /// Resolve from `BGJOBS_HOME`, else the platform local data directory.
    pub fn from_env() -> Result<Self> {
        match std::env::var_os("BGJOBS_HOME") {
            Some(home) if !home.is_empty() => Self::at(PathBuf::from(home)),
            _ => {
                let dirs =
                    directories::ProjectDirs::from("", "", "bgjobs").ok_or(Error::NoStateRoot)?;
                Self::at(dirs.data_local_dir().to_path_buf())
            }
        }
    }

    /// Use `path` as the state root. It need not exist yet, but if it exists it
    /// must be a directory.
    pub fn at(path: PathBuf) -> Result<Self> {
        let path = if path.is_relative() {
            std::env::current_dir()
                .at("cannot read", Path::new("."))?
                .join(path)
        } else {
            path
        };
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_dir() => {
                return Err(Error::BadStateRoot {
                    path,
                    reason: "it is not a directory".into(),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::BadStateRoot {
                    path,
                    reason: e.to_string(),
                })
            }
        }
        Ok(Self { path })
    }

    /// The root directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `workspaces/` under the root.
    pub fn workspaces_dir(&self) -> PathBuf {
        self.path.join("workspaces")
    }

    /// Create the root (owner-only) if missing, with a message naming the
    /// problem when it cannot be created or written.
    pub fn ensure(&self) -> Result<()> {
        fsio::create_private_dir_all(&self.path).map_err(|e| Error::BadStateRoot {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }
}
