//! Reading records: parse, or move a damaged record aside and say so. A record
//! that cannot be read is never treated as absent.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsio;

/// What reading a record found.
pub(crate) enum Read<T> {
    /// No such file.
    Missing,
    /// Parsed.
    Found(T),
    /// Present but unparseable; the detail says why.
    Corrupt(String),
}

/// Read and parse `path` without any lock.
pub(crate) fn read<T: DeserializeOwned>(path: &Path) -> Result<Read<T>> {
    match fsio::read_small(path) {
        Ok(bytes) => Ok(match serde_json::from_slice(&bytes) {
            Ok(value) => Read::Found(value),
            Err(e) => Read::Corrupt(e.to_string()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Read::Missing),
        Err(e) => Err(e).at("cannot read", path),
    }
}

/// Serialise `value` and write it atomically and durably as `dir/name`. Lock held.
pub(crate) fn write<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    write_with(dir, name, value, fsio::Durability::Durable)
}

/// [`write`] with a choice of durability.
pub(crate) fn write_with<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
    durability: fsio::Durability,
) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    bytes.push(b'\n');
    fsio::write_atomic_with(dir, name, &bytes, durability)
}

/// Move a corrupt record aside to `<name>.corrupt-<unix millis>`. Lock held.
/// Returns the error that reports it.
pub(crate) fn quarantine(path: &Path, detail: String) -> Error {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{millis}"));
    let aside = PathBuf::from(aside);
    match std::fs::rename(path, &aside) {
        Ok(()) => Error::Corrupt {
            path: path.into(),
            moved_to: aside,
            detail,
        },
        Err(e) => Error::Io {
            action: "cannot move aside corrupt record",
            path: path.into(),
            source: e,
        },
    }
}

/// Whether a directory entry is a record moved aside as corrupt.
pub(crate) fn is_quarantined(name: &str) -> bool {
    name.contains(".corrupt-")
}
