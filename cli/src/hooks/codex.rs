//! Codex CLI's events. Codex runs no tool call in the background (it
//! SIGKILLs a shell call's process group when the call returns), so there is
//! nothing to adopt; and nothing can wake an idle Codex session, so an end is
//! told at the session's next prompt, tool call or turn end, or on resume.

use std::path::PathBuf;

use serde_json::json;

use super::{session_end, session_start, tell};
use crate::failure::Outcome;
use crate::output;
use bgjobs::hook_event::{Client, Event};

/// Entry point for a Codex event.
pub fn run(workspace: Option<PathBuf>, event: &Event) -> Outcome {
    let name = event.hook_event_name.as_str();
    if name == "PreToolUse" {
        return Ok(0); // nothing to adopt; answered without opening the store
    }
    let store = super::open_store(workspace, event)?;
    match name {
        "SessionStart" => session_start::run(&store, event, Client::Codex),
        "SessionEnd" => session_end::run(&store, event),
        "UserPromptSubmit" | "PostToolUse" => tell::run(&store, event, None),
        "SubagentStart" | "SubagentStop" => super::subagent(&store, event),
        "Stop" => stop(&store, event),
        _ => Ok(0),
    }
}

/// Stop: the session's jobs that ended during the turn are told before it
/// ends. The hook blocks the stop once, and Codex goes on with the notice as
/// the next user message; the turn that goes on for it (`stop_hook_active`)
/// is never blocked again, so a hook can never keep a turn going.
fn stop(store: &bgjobs_store::Store, event: &Event) -> Outcome {
    if event.stop_hook_active == Some(true) {
        return Ok(0);
    }
    let ended = tell::claim_untold(store, &event.session_id)?;
    if ended.is_empty() {
        return Ok(0);
    }
    let answer = json!({"decision": "block", "reason": tell::describe(&ended)});
    tell::undo_if_unread(store, &ended, output::json(&answer))?;
    Ok(0)
}
