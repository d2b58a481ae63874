//! What every command needs first: the state root, the workspace, the config
//! and the store, resolved the same way for commands, hooks and workers.

use std::path::PathBuf;
use std::time::Duration;

use bgjobs_store::workspace::{self, WorkspaceHints};
use bgjobs_store::{time, Config, StateRoot, Store};

use crate::failure::Failure;

/// Open the store of the workspace named by `--workspace` or found from the
/// environment and the current directory.
pub fn open_store(flag: Option<PathBuf>) -> Result<Store, Failure> {
    let config = Config::load()?;
    let root = StateRoot::from_env()?;
    let hints = WorkspaceHints::from_env(flag)?;
    let workspace = workspace::resolve(&hints)?;
    Ok(Store::open(&root, workspace, config)?)
}

/// The session named by `--session`, else `BGJOBS_SESSION_ID`, else
/// `CLAUDE_CODE_SESSION_ID`.
pub fn session(flag: Option<String>) -> Option<String> {
    flag.or_else(|| env_nonempty("BGJOBS_SESSION_ID"))
        .or_else(|| env_nonempty("CLAUDE_CODE_SESSION_ID"))
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Parse a `DUR` option, naming the option in the error.
pub fn duration(option: &str, text: &str) -> Result<Duration, Failure> {
    time::parse_duration(text).map_err(|e| Failure::usage(format!("{option}: {e}")))
}
