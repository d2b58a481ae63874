//! SessionStart: record the session and who runs it, export its id to later
//! Bash commands, on startup/clear tell the model what bgjobs is for, and on
//! resume/clear/compact say what happened meanwhile.

use std::io::Write;

use bgjobs_store::{fsio, Store};

use super::tell;
use crate::failure::{Failure, Outcome};
use crate::jobs::active_jobs;
use bgjobs::hook_event::{Client, Event};

/// Entry point for SessionStart.
pub fn run(store: &Store, event: &Event, client: Client) -> Outcome {
    let agent = super::agent_process();
    store.update_session(&event.session_id, |s| {
        s.source = event.source.clone();
        s.transcript_path = event.transcript_path.clone();
        s.agent_process = agent;
        s.ended_at = None;
        s.end_reason = None;
    })?;
    if let Some(env_file) = std::env::var_os("CLAUDE_ENV_FILE").filter(|f| !f.is_empty()) {
        let path = std::path::PathBuf::from(env_file);
        let mut file = fsio::open_append(&path)?;
        writeln!(file, "export BGJOBS_SESSION_ID={}", event.session_id)
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))?;
    }
    let mut parts = Vec::new();
    if matches!(event.source.as_deref(), Some("startup" | "clear") | None) {
        parts.push(match client {
            Client::Claude => teaching(store.config().adopt_background).to_string(),
            Client::Codex => teaching_codex(),
        });
    }
    let mut finished = Vec::new();
    if matches!(
        event.source.as_deref(),
        Some("resume" | "clear" | "compact")
    ) {
        finished = tell::claim_untold(store, &event.session_id)?;
        let running = active_jobs(store, Some(&event.session_id))?;
        if !finished.is_empty() {
            parts.push(tell::describe(&finished));
        }
        if !running.is_empty() {
            let used: usize = parts.iter().map(|p| p.len() + 1).sum();
            parts.push(tell::describe_running(
                &running,
                tell::MAX_TEXT.saturating_sub(used),
            ));
        }
    }
    if !parts.is_empty() {
        let printed = super::print_context(&event.hook_event_name, &parts.join("\n"));
        tell::undo_if_unread(store, &finished, printed)?;
    }
    Ok(0)
}

/// What the model learns about bgjobs at the start of a session: plain
/// facts, at most 600 characters (a cost paid by every session).
pub fn teaching(adopting: bool) -> &'static str {
    if adopting {
        TEACHING_ADOPTING
    } else {
        TEACHING
    }
}

const TEACHING_ADOPTING: &str = "bgjobs manages background jobs in this workspace. \
Long-running work (test suites, builds, dev servers) belongs in `bgjobs run -b -- CMD` \
or a background Bash call (run_in_background), which bgjobs adopts as a job. Such jobs \
outlive subagents and the session. Their ends are reported to this session \
automatically, so there is no need to poll. `bgjobs status` lists jobs, \
`bgjobs wait ID` waits for one, `bgjobs logs ID` shows its output.";

const TEACHING: &str = "bgjobs manages background jobs in this workspace. \
Long-running work (test suites, builds, dev servers) belongs in `bgjobs run -b -- CMD`: \
such jobs outlive subagents and the session. Their ends are reported to this session \
automatically, so there is no need to poll. `bgjobs status` lists jobs, \
`bgjobs wait ID` waits for one, `bgjobs logs ID` shows its output.";

/// What a Codex model learns at the start of a session. Its shell tool runs
/// a login shell, whose `PATH` (reset by `/etc/profile`) may not hold this
/// binary: outside the system's own directories the text names it by path.
fn teaching_codex() -> String {
    let exe = std::env::current_exe().ok();
    let on_login_path = exe
        .as_deref()
        .and_then(std::path::Path::parent)
        .is_some_and(|dir| LOGIN_PATH.iter().any(|d| dir == std::path::Path::new(d)));
    let mut text = String::from(TEACHING_CODEX);
    if let (Some(exe), false) = (exe, on_login_path) {
        let path = crate::shell::quote_always(&crate::platform::path_for_shell(&exe));
        text.push_str(&format!(
            " The shell may not find bgjobs on its PATH: run it as {path}."
        ));
    }
    text
}

/// The directories a login shell's `PATH` holds on any system.
const LOGIN_PATH: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin"];

const TEACHING_CODEX: &str = "bgjobs manages background jobs in this workspace. A command \
left running in the background of a shell call (`cmd &`, nohup) is killed when the call \
returns. Long-running work (test suites, builds, dev servers) belongs in \
`bgjobs run -b -- CMD`, which returns at once; such jobs outlive the turn and the session. \
Their ends are reported to this session at its next prompt, tool call or turn end, so \
there is no need to poll. `bgjobs status` lists jobs, `bgjobs wait ID` waits for one, \
`bgjobs logs ID` shows its output.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teaching_is_short() {
        for adopting in [true, false] {
            let text = teaching(adopting);
            assert!(text.chars().count() <= 600, "{}", text.len());
            assert!(text.contains("bgjobs run -b") && text.contains("bgjobs status"));
        }
        let codex = teaching_codex();
        assert!(codex.chars().count() <= 800, "{}", codex.len());
        assert!(codex.contains("bgjobs run -b") && codex.contains("killed when the call returns"));
    }
}
