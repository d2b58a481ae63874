//! `bgjobs hook`: the hook entry point of Claude Code and Codex CLI. One
//! event on stdin, dispatched on its agent and `hook_event_name`; a Codex
//! event never reaches Claude Code's handling (adoption, the asyncRewake
//! waiter) and a Claude Code event never Codex's. Every hook finishes in milliseconds;
//! anything slow (a grace period, a broker teardown) goes to a detached
//! process. Exit 2 is used only to wake the session on purpose (`--rewake`);
//! every failure exits 1, so bad input can never block or wake by accident.

pub mod adopt;
mod codex;
mod rewake;
pub mod session_end;
mod session_start;
mod tell;

use std::path::PathBuf;

use bgjobs_store::workspace::{self, WorkspaceHints};
use bgjobs_store::{Config, ProcessIdentity, StateRoot, Store};

use crate::args::HookArgs;
use crate::exit;
use crate::failure::{Failure, Outcome};
use bgjobs::hook_event::{self as event, Client, Event};

/// Entry point of `hook`.
pub fn run(workspace: Option<PathBuf>, args: HookArgs) -> Outcome {
    dispatch(workspace, args).map_err(|f| Failure {
        code: exit::ERROR,
        message: f.message,
    })
}

fn dispatch(workspace: Option<PathBuf>, args: HookArgs) -> Outcome {
    let limit = args.limit;
    let event = event::read_stdin().map_err(Failure::error)?;
    let name = event.hook_event_name.as_str();
    if !matches!(
        name,
        "SessionStart"
            | "SessionEnd"
            | "UserPromptSubmit"
            | "PreToolUse"
            | "PostToolUse"
            | "SubagentStart"
            | "SubagentStop"
            | "Stop"
    ) {
        return Err(Failure::error(format!("unsupported hook event {name:?}")));
    }
    if args.rewake && name != "Stop" {
        return Err(Failure::error(format!(
            "--rewake is for the Stop event, not {name}"
        )));
    }
    if args.agent.unwrap_or_else(|| event.client()) == Client::Codex {
        if args.rewake {
            return Err(Failure::error(
                "--rewake is Claude Code's (asyncRewake); Codex cannot be woken while idle",
            ));
        }
        return codex::run(workspace, &event);
    }
    // Before every Bash call: answered without opening the store.
    if name == "PreToolUse" {
        match event.tool_name.as_deref() {
            Some("Bash") => return adopt::pre_bash(&event),
            Some("TaskStop" | "KillShell") => {}
            _ => return Ok(0),
        }
    }
    let store = open_store(workspace, &event)?;
    match name {
        "SessionStart" => session_start::run(&store, &event, Client::Claude),
        "SessionEnd" => session_end::run(&store, &event),
        "UserPromptSubmit" => tell::run(&store, &event, None),
        "PreToolUse" => adopt::pre_stop(&store, &event),
        "PostToolUse" => {
            let adopted = match event.tool_name.as_deref() {
                Some("Bash") => {
                    adopt::attribute(&store, &event)?;
                    adopt::post_bash(&store, &event)?
                }
                _ => None,
            };
            tell::run(&store, &event, adopted)
        }
        "SubagentStart" | "SubagentStop" => subagent(&store, &event),
        _ if args.rewake => rewake::run(&store, &event, limit),
        _ => Ok(0),
    }
}

/// SubagentStart / SubagentStop: keep the session's list of running
/// subagents, which says whose end a killed job is.
fn subagent(store: &Store, event: &Event) -> Outcome {
    if let Some(agent) = &event.agent_id {
        let starting = event.hook_event_name == "SubagentStart";
        store.update_session(&event.session_id, |s| {
            if s.agent_process.is_none() {
                s.agent_process = agent_process();
            }
            s.agents.retain(|a| a != agent);
            if starting {
                s.agents.push(agent.clone());
            }
        })?;
    }
    Ok(0)
}

/// Whether nobody attends the session, so nothing may hold it open: Claude
/// Code's print mode (`claude -p`) and the Agent SDK wait for every Stop
/// hook before they exit. Claude Code says so in the hook's environment.
fn unattended() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    var("CLAUDE_CODE_SESSION_ATTENDED") == "0" || var("CLAUDE_CODE_ENTRYPOINT").starts_with("sdk")
}

/// The store of the event's workspace: `CLAUDE_PROJECT_DIR` when Claude Code
/// sets it, else the event's `cwd`, resolved like every other entry point.
fn open_store(flag: Option<PathBuf>, event: &Event) -> Result<Store, Failure> {
    let config = Config::load()?;
    let root = StateRoot::from_env()?;
    let mut hints = WorkspaceHints::from_env(flag)?;
    if hints.project_dir.is_none() {
        if let Some(cwd) = event
            .cwd
            .as_deref()
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
        {
            hints.cwd = cwd;
        }
    }
    let workspace = workspace::resolve(&hints)?;
    Ok(Store::open(&root, workspace, config)?)
}

/// Print `text` as the event's `additionalContext`.
fn print_context(event_name: &str, text: &str) -> Result<(), Failure> {
    crate::output::json(&serde_json::json!({
        "hookSpecificOutput": {
            "hookEventName": event_name,
            "additionalContext": text,
        }
    }))
}

/// Shells Claude Code may run a hook through; the agent is their parent.
const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "fish",
    "pwsh",
    "powershell",
    "cmd",
];

/// How many shells deep a hook may be started: Git for Windows' `bash.exe`
/// is a launcher that starts the real (MSYS) `bash.exe`, and a shell may run
/// the hook through another one.
const MAX_SHELLS: usize = 4;

/// The agent's process: the hook's parent, or the first process above the
/// shells the hook was started through (`sh -c`, PowerShell, Git Bash).
/// When it is gone, so is the session.
fn agent_process() -> Option<ProcessIdentity> {
    let mut process = ProcessIdentity::parent_of(std::process::id())?;
    for _ in 0..MAX_SHELLS {
        let is_shell = process
            .name()
            .is_some_and(|name| SHELLS.contains(&name.to_ascii_lowercase().as_str()));
        match ProcessIdentity::parent_of(process.pid) {
            Some(parent) if is_shell => process = parent,
            _ => break,
        }
    }
    Some(process)
}
