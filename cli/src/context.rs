//! What every command needs first: the state root, the workspace, the config
//! and the store, resolved the same way for commands, hooks and workers.

use std::path::PathBuf;

use bgjobs_store::workspace::{self, WorkspaceHints};
use bgjobs_store::{Config, StateRoot, Store};

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

/// The session named by `--session`, else `BGJOBS_SESSION_ID`, else the
/// agent's own: `CLAUDE_CODE_SESSION_ID` (Claude Code), else Codex CLI's
/// `CODEX_SESSION_ID` (its hooks' `session_id`; inside a subagent too),
/// else `CODEX_THREAD_ID` (the same outside subagents).
pub fn session(flag: Option<String>) -> Option<String> {
    flag.or_else(|| env_nonempty("BGJOBS_SESSION_ID"))
        .or_else(|| env_nonempty("CLAUDE_CODE_SESSION_ID"))
        .or_else(|| env_nonempty("CODEX_SESSION_ID"))
        .or_else(|| env_nonempty("CODEX_THREAD_ID"))
}

/// The Codex subagent a command runs in, when its session is Codex's own
/// (no `--session`, no `BGJOBS_SESSION_ID`): a subagent's shell calls get
/// its own thread as `CODEX_THREAD_ID` (its hooks' `agent_id`) beside the
/// session's `CODEX_SESSION_ID`.
pub fn subagent(session_flag: Option<&str>) -> Option<String> {
    if session_flag.is_some()
        || env_nonempty("BGJOBS_SESSION_ID").is_some()
        || env_nonempty("CLAUDE_CODE_SESSION_ID").is_some()
    {
        return None;
    }
    let session = env_nonempty("CODEX_SESSION_ID")?;
    env_nonempty("CODEX_THREAD_ID").filter(|thread| *thread != session)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Give a child bgjobs process (worker, daemon, reaper) the same state root
/// and config as this one, as absolute paths: children run in another
/// directory, where a relative `BGJOBS_HOME` or `BGJOBS_CONFIG` would name
/// something else.
pub fn pass_env(cmd: &mut std::process::Command, root: &bgjobs_store::StateRoot) {
    cmd.envs(child_env(root));
}

/// In a worker forked from this process (see `platform::fork_worker`): what
/// [`bgjobs`] gives a child bgjobs process, the environment of
/// [`pass_env`] and the store's directory as its own, so that the caller's
/// directory is not kept busy by a job.
pub fn become_child(store: &Store) {
    for (name, value) in child_env(store.root()) {
        // The forked worker has one thread: nothing reads the environment
        // while it changes.
        std::env::set_var(name, value);
    }
    let _ = std::env::set_current_dir(store.dir());
}

/// The variables of [`pass_env`].
fn child_env(root: &bgjobs_store::StateRoot) -> Vec<(&'static str, std::ffi::OsString)> {
    let mut vars = vec![("BGJOBS_HOME", root.path().as_os_str().to_owned())];
    if let Some(config) = std::env::var_os("BGJOBS_CONFIG").filter(|c| !c.is_empty()) {
        let config = PathBuf::from(config);
        if config.is_relative() {
            if let Ok(cwd) = std::env::current_dir() {
                vars.push(("BGJOBS_CONFIG", cwd.join(config).into_os_string()));
            }
        }
    }
    vars
}

/// `bgjobs --workspace W ARGS…` — this binary, for a child bgjobs process
/// (worker, reaper, stopper): run in the store's directory, with no stdio
/// and the same state root and config as this process.
pub fn bgjobs<S: AsRef<std::ffi::OsStr>>(
    store: &Store,
    args: &[S],
) -> Result<std::process::Command, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find the bgjobs executable: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--workspace")
        .arg(store.workspace())
        .args(args)
        .current_dir(store.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    pass_env(&mut cmd, store.root());
    Ok(cmd)
}
