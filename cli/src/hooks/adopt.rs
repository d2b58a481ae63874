//! Adopting Claude Code's own background Bash calls.
//!
//! A Bash call with `run_in_background: true` dies with the subagent or the
//! session that made it. PreToolUse rewrites its command into a follower,
//! `bgjobs run -b --follow … -- SHELL -c 'ORIGINAL'`, keeping the call in the
//! background: Claude Code still has its task (output, end, stop tool), while
//! the command itself runs as a bgjobs job under a detached worker. When the
//! client kills the follower at a subagent's or session's end, the job goes
//! on; its end is then told by bgjobs, once.
//!
//! A deliberate stop differs from those ends only in the tool call that asks
//! for it: PostToolUse records which client task is which job, and
//! PreToolUse on the stop tool cancels that job once the client has killed
//! the follower.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bgjobs_store::{Config, Job, Store};
use serde_json::{json, Value};

use crate::context;
use crate::failure::{Failure, Outcome};
use crate::jobs::cancel_one;
use crate::platform;
use crate::shell;
use bgjobs::hook_event::Event;

/// The key of an adopted call's job: `claude:<tool_use_id>` (an active job
/// with the same key is reused, so a repeated call never starts twice).
const KEY_PREFIX: &str = "claude:";
/// Reason recorded on a job stopped through the client's task-stop tool.
const STOP_REASON: &str = "stopped by the agent's task-stop tool";
/// Reason recorded on a job whose task was stopped without a tool call
/// (the user's task list).
const KILLED_REASON: &str = "its agent task was stopped while its session went on";
/// How long a killed follower's job is watched for a sign that its session
/// or subagent is ending (SessionEnd, the agent's exit, SubagentStop)
/// before the kill counts as a deliberate stop.
const ENDING_SIGNS: Duration = Duration::from_secs(3);
/// How long the stop waits for the client to kill the follower before it
/// cancels the job anyway.
const FOLLOWER_GONE: Duration = Duration::from_secs(2);
/// Grace between SIGTERM and SIGKILL for a stopped job.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Client tasks remembered per session (the newest are kept).
const MAX_TASKS: usize = 256;

/// Whether adoption is switched off for this hook: `BGJOBS_ADOPT=0` in its
/// environment, else `adopt_background = false` in the config.
fn disabled() -> Result<bool, Failure> {
    if std::env::var_os("BGJOBS_ADOPT").is_some_and(|v| v == "0") {
        return Ok(true);
    }
    Ok(!Config::load()?.adopt_background)
}

/// PreToolUse on `Bash`: rewrite a background call into a follower. Every
/// other call is answered at once, with nothing printed and no store opened.
pub fn pre_bash(event: &Event) -> Outcome {
    let Some(input) = event.tool_input.as_ref().and_then(Value::as_object) else {
        return Ok(0);
    };
    if input.get("run_in_background").and_then(Value::as_bool) != Some(true) {
        return Ok(0);
    }
    let Some(command) = input.get("command").and_then(Value::as_str) else {
        return Ok(0);
    };
    if command.trim().is_empty() || starts_with_bgjobs(command) || disabled()? {
        return Ok(0);
    }
    let mut updated = input.clone();
    updated.insert("command".into(), Value::String(follower(event, command)?));
    // No permission decision: Claude Code then checks the rewritten call with
    // the user's own rules and prompts as usual. "allow" would skip that
    // check altogether, running calls the user's rules would have stopped.
    crate::output::json(&json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "updatedInput": updated,
        }
    }))?;
    Ok(0)
}

/// Whether the command is already a bgjobs command (left alone).
fn starts_with_bgjobs(command: &str) -> bool {
    let command = command.trim_start();
    let first = match command.chars().next() {
        Some(q @ ('\'' | '"')) => command[1..].split(q).next().unwrap_or_default(),
        _ => command.split_whitespace().next().unwrap_or_default(),
    };
    let name = first.rsplit(['/', '\\']).next().unwrap_or(first);
    matches!(name, "bgjobs" | "bgjobs.exe")
}

/// The follower command line that replaces `original`.
fn follower(event: &Event, original: &str) -> Result<String, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find the bgjobs executable: {e}")))?;
    let mut words = vec![
        platform::path_for_shell(&exe),
        "run".into(),
        "-b".into(),
        "--follow".into(),
        "--adopted".into(),
        "--session".into(),
        event.session_id.clone(),
    ];
    if let Some(agent) = &event.agent_id {
        words.extend(["--agent".into(), agent.clone()]);
    }
    let title = event
        .input_str("description")
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(original);
    words.extend([
        "--title".into(),
        bgjobs_store::job::shorten(title, bgjobs_store::job::DEFAULT_TITLE),
    ]);
    if let Some(id) = &event.tool_use_id {
        words.extend(["--key".into(), format!("{KEY_PREFIX}{id}")]);
    }
    words.extend(["--".into(), bash_tool_shell(), "-c".into(), original.into()]);
    Ok(words
        .iter()
        .map(|w| shell::quote(w))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The shell Claude Code's Bash tool runs commands with, so that the
/// adopted command means the same: `CLAUDE_CODE_SHELL`, else `SHELL` when it
/// is bash or zsh, else Git Bash (`CLAUDE_CODE_GIT_BASH_PATH`), else `bash`.
fn bash_tool_shell() -> String {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(shell) = var("CLAUDE_CODE_SHELL") {
        return shell;
    }
    if let Some(shell) = var("SHELL").filter(|s| s.ends_with("/bash") || s.ends_with("/zsh")) {
        return shell;
    }
    var("CLAUDE_CODE_GIT_BASH_PATH")
        .map(|p| p.replace('\\', "/"))
        .unwrap_or_else(|| "bash".into())
}

/// Whether this PostToolUse is for a Bash call that [`pre_bash`] adopted.
fn adopted_key(event: &Event) -> Option<String> {
    let id = event.tool_use_id.as_deref()?;
    let key = format!("{KEY_PREFIX}{id}");
    let command = event.input_str("command")?;
    let ours = command.contains(" run -b --follow ") && command.contains(&shell::quote(&key));
    ours.then_some(key)
}

/// PostToolUse on an adopted Bash call: remember which client task runs
/// which job (for a later stop), and, in a foreground subagent whose result
/// says the command ends with the subagent, say that it no longer does.
/// Returns the context to add, if any.
pub fn post_bash(store: &Store, event: &Event) -> Result<Option<String>, Failure> {
    let Some(key) = adopted_key(event) else {
        return Ok(None);
    };
    if let Some(task) = event.response_str("backgroundTaskId") {
        store.update_session(&event.session_id, |s| {
            s.tasks.retain(|(t, _)| t != task);
            s.tasks.push((task.to_string(), key.clone()));
            let excess = s.tasks.len().saturating_sub(MAX_TASKS);
            s.tasks.drain(..excess);
        })?;
    }
    let ends_with_subagent = event
        .tool_response
        .as_ref()
        .and_then(|r| r.get("backgroundEndsWithFinalResponse"))
        .and_then(Value::as_bool)
        == Some(true);
    Ok(ends_with_subagent.then(|| {
        "bgjobs adopted this background command as a job: it keeps running after this \
         subagent's final response, and its end is reported to the session when it comes."
            .to_string()
    }))
}

/// PostToolUse on a Bash call of a subagent that ran `bgjobs run`: the job
/// it printed is the subagent's (the Bash tool tells a command nothing of the
/// subagent it runs for; the hook payload does). Only a job of the same
/// session that names no subagent yet is changed.
pub fn attribute(store: &Store, event: &Event) -> Result<(), Failure> {
    let (Some(agent), Some(command)) = (&event.agent_id, event.input_str("command")) else {
        return Ok(());
    };
    let mut words = command.split_whitespace();
    let starts = starts_with_bgjobs(command) && matches!(words.nth(1), Some("run" | "enqueue"));
    if !starts {
        return Ok(());
    }
    let Some(stdout) = event.response_str("stdout") else {
        return Ok(());
    };
    let printed = stdout.trim();
    let id = printed.parse::<u64>().ok().or_else(|| {
        let job: Value = serde_json::from_str(printed).ok()?;
        job.get("id")?.as_u64()
    });
    let Some(id) = id else {
        return Ok(());
    };
    match store.get(id) {
        Ok(job)
            if job.agent_id.is_none() && job.session_id.as_deref() == Some(&event.session_id) =>
        {
            store.update(id, |j| {
                if j.agent_id.is_none() {
                    j.agent_id = Some(agent.clone());
                }
            })?;
        }
        Ok(_) | Err(bgjobs_store::Error::UnknownJob(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// PreToolUse on the client's task-stop tool: if the task is an adopted
/// job, cancel the job — after the client has killed the follower, so the
/// stop finds its task still running. Never blocks the stop.
pub fn pre_stop(store: &Store, event: &Event) -> Outcome {
    let Some(task) = event
        .input_str("task_id")
        .or_else(|| event.input_str("shell_id"))
    else {
        return Ok(0);
    };
    let Some(session) = store.session(&event.session_id)? else {
        return Ok(0);
    };
    let Some((_, key)) = session.tasks.iter().find(|(t, _)| t == task) else {
        return Ok(0);
    };
    let Some(job) = find_active(store, &event.session_id, key)? else {
        return Ok(0);
    };
    // The stop tool's own result tells the model; nothing more to tell.
    mark_stopped(store, job.id, STOP_REASON)?;
    spawn_stopper(store, job.id)?;
    Ok(0)
}

/// Record that the client stopped the task of active job `id`: its cancel
/// is asked for, and its end counts as told (the client itself tells the
/// model that the task was stopped).
fn mark_stopped(store: &Store, id: u64, reason: &str) -> Result<(), Failure> {
    store.update(id, |j| {
        if j.status.is_active() && j.cancel_requested.is_none() {
            j.cancel_requested = Some(reason.into());
            j.deliveries.told_at = Some(bgjobs_store::time::Timestamp::now());
        }
    })?;
    Ok(())
}

/// The session's active job with `key`.
fn find_active(store: &Store, session: &str, key: &str) -> Result<Option<Job>, Failure> {
    let jobs = crate::jobs::active_jobs(store, Some(session))?;
    Ok(jobs.into_iter().find(|job| job.key.as_deref() == Some(key)))
}

fn spawn_stopper(store: &Store, id: u64) -> Result<(), Failure> {
    let mut cmd = context::bgjobs(store, &["stop-adopted", &id.to_string()])?;
    platform::spawn_detached(&mut cmd)
        .map(drop)
        .map_err(|e| Failure::error(format!("cannot start the job's stopper: {e}")))
}

/// Entry point of the hidden `stop-adopted ID`: wait (briefly) until the
/// client has killed the job's follower, then cancel the job.
///
/// With `if_deliberate` (started by a follower that was killed with no stop
/// tool call): Claude Code kills a background task the same way at a
/// subagent's end, a session's end and a stop from the user's task list, and
/// only the last runs no hook. So the job is cancelled only if, for a short
/// while, nothing says its session or subagent is ending: the session not
/// ended and its Claude Code process alive, the subagent not stopped.
pub fn stop(workspace: Option<PathBuf>, id: u64, if_deliberate: bool) -> Outcome {
    let store = context::open_store(workspace)?;
    if if_deliberate {
        let deadline = Instant::now() + ENDING_SIGNS;
        loop {
            let job = store.get(id)?;
            if !job.status.is_active()
                || job.cancel_requested.is_some()
                || owner_ending(&store, &job)?
            {
                return Ok(0);
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The client tells the model itself that the task was stopped.
        mark_stopped(&store, id, KILLED_REASON)?;
        cancel_one(&store, id, STOP_GRACE, KILLED_REASON)?;
        return Ok(0);
    }
    let deadline = Instant::now() + FOLLOWER_GONE;
    while store.get(id)?.followed() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    cancel_one(&store, id, STOP_GRACE, STOP_REASON)?;
    Ok(0)
}

/// Whether the job's session or subagent is ending or gone (or unknown):
/// then a killed follower is that end, not a stop.
fn owner_ending(store: &Store, job: &Job) -> Result<bool, Failure> {
    let Some(session) = job.session_id.as_deref() else {
        return Ok(true);
    };
    let Some(session) = store.session(session)? else {
        return Ok(true);
    };
    if !session.is_live() || session.agent_process.is_none() {
        return Ok(true);
    }
    Ok(job
        .agent_id
        .as_ref()
        .is_some_and(|agent| !session.agents.contains(agent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgjobs_commands_are_recognised() {
        for yes in [
            "bgjobs run -b -- x",
            "  bgjobs status",
            "/usr/local/bin/bgjobs wait 3",
            "'/opt/my dir/bgjobs' run -b -- x",
            "C:\\bin\\bgjobs.exe status",
        ] {
            assert!(starts_with_bgjobs(yes), "{yes}");
        }
        for no in ["cargo test", "bgjobsx run", "echo bgjobs", ""] {
            assert!(!starts_with_bgjobs(no), "{no}");
        }
    }
}
