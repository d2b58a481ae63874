//! Workspace resolution: the one function every entry point uses to decide
//! which workspace a command, a hook or a worker belongs to.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where to look for the workspace, in order of precedence.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceHints {
    /// `--workspace` or `BGJOBS_WORKSPACE`: used as is (canonicalised).
    pub explicit: Option<PathBuf>,
    /// `CLAUDE_PROJECT_DIR`: its git top level, else itself.
    pub project_dir: Option<PathBuf>,
    /// The current directory: its git top level, else itself.
    pub cwd: PathBuf,
}

impl WorkspaceHints {
    /// Hints from the environment (`BGJOBS_WORKSPACE`, `CLAUDE_PROJECT_DIR`, the
    /// current directory), with `flag` (`--workspace`) taking precedence.
    pub fn from_env(flag: Option<PathBuf>) -> Result<Self> {
        let nonempty = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
        let cwd = std::env::current_dir().map_err(|source| Error::Workspace {
            path: PathBuf::from("."),
            source,
        })?;
        Ok(Self {
            explicit: flag.or_else(|| nonempty(std::env::var_os("BGJOBS_WORKSPACE"))),
            project_dir: nonempty(std::env::var_os("CLAUDE_PROJECT_DIR")),
            cwd,
        })
    }
}

/// Resolve the workspace: the explicit path, else the git top level of the
/// project dir, else the git top level of the current directory, else the
/// current directory; always canonicalised, so a subdirectory, a symlinked
/// path, a hook and a shell all find the same workspace.
pub fn resolve(hints: &WorkspaceHints) -> Result<PathBuf> {
    if let Some(explicit) = &hints.explicit {
        return canonical(&hints.cwd.join(explicit));
    }
    let start = match &hints.project_dir {
        Some(dir) => canonical(&hints.cwd.join(dir))?,
        None => canonical(&hints.cwd)?,
    };
    Ok(git_top_level(&start).unwrap_or(start))
}

fn canonical(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|source| Error::Workspace {
        path: path.to_path_buf(),
        source,
    })
}

/// The nearest ancestor (or `dir` itself) holding a `.git` entry: a directory
/// in a plain repository, a file in a worktree or submodule. Walking up is what
/// `git rev-parse --show-toplevel` does, without the cost of a subprocess on
/// every hook.
fn git_top_level(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").symlink_metadata().is_ok())
        .map(Path::to_path_buf)
}

/// The directory name used for a workspace under `workspaces/`:
/// `<slug>-<hash>`, readable and unique.
pub fn dir_name(workspace: &Path) -> String {
    let slug: String = workspace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    format!(
        "{slug}-{:016x}",
        fnv1a(workspace.to_string_lossy().as_bytes())
    )
}

/// FNV-1a, 64 bit: stable across versions and platforms, unlike std's hasher.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_name_is_stable_and_readable() {
        let a = dir_name(Path::new("/home/u/my project"));
        assert!(a.starts_with("my_project-"), "{a}");
        assert_eq!(a, dir_name(Path::new("/home/u/my project")));
        assert_ne!(a, dir_name(Path::new("/home/v/my project")));
    }
}
