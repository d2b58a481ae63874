//! `bgjobs install AGENT` / `bgjobs uninstall AGENT`: merge bgjobs' hooks
//! into an agent's configuration, keeping everything else, with a backup;
//! idempotent; uninstall removes exactly what install added.

mod claude;
mod codex;
mod codex_trust;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::args::{InstallArgs, InstallTarget};
use crate::failure::{Failure, Outcome};

pub(crate) use claude::{is_ours, our_group, settings_path, ADOPT, EVENTS};
pub(crate) use codex::{check as codex_check, CodexScope};

/// Entry point of `install`.
pub fn install(workspace: Option<PathBuf>, args: InstallArgs) -> Outcome {
    match args.target {
        InstallTarget::Claude => claude::install(workspace, args),
        InstallTarget::Codex => codex::install(workspace, &args),
    }
}

/// Entry point of `uninstall`.
pub fn uninstall(workspace: Option<PathBuf>, args: InstallArgs) -> Outcome {
    match args.target {
        InstallTarget::Claude => claude::uninstall(workspace, args),
        InstallTarget::Codex => codex::uninstall(workspace, &args),
    }
}

/// A JSON settings file that must hold an object, or `None` if absent.
pub(crate) fn read_json(path: &Path) -> Result<Option<Value>, Failure> {
    let Some(bytes) = read_file(path)? else {
        return Ok(None);
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::error(format!(
            "{} is not valid JSON ({e}); nothing changed",
            path.display()
        ))
    })?;
    if !value.is_object() {
        return Err(not_object(path));
    }
    Ok(Some(value))
}

/// A file's bytes, or `None` if absent.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::error(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn not_object(path: &Path) -> Failure {
    Failure::error(format!(
        "{} is not a JSON object; nothing changed",
        path.display()
    ))
}

/// Copy `path` to `<path>.bgjobs-backup` before it is changed.
fn backup(path: &Path) -> Result<PathBuf, Failure> {
    let mut name = path.as_os_str().to_owned();
    name.push(".bgjobs-backup");
    let backup = PathBuf::from(name);
    std::fs::copy(path, &backup)
        .map_err(|e| Failure::error(format!("cannot write backup {}: {e}", backup.display())))?;
    Ok(backup)
}

/// Write `settings` as pretty JSON.
fn write_json(path: &Path, settings: &Value) -> Result<(), Failure> {
    let mut text =
        serde_json::to_string_pretty(settings).map_err(|e| Failure::error(e.to_string()))?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

/// Write durably and atomically (`fsio`), so that a crash never leaves the
/// agent a torn configuration file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))?;
    bgjobs_store::fsio::write_file_atomic(path, bytes).map_err(|e| Failure::error(e.to_string()))
}
