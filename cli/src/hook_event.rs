//! The hook event read from stdin by `bgjobs hook`, from Claude Code or
//! Codex CLI (which send the same layout): unknown extra fields are ignored
//! (the clients add fields over time), missing required ones are bad input.
//! In the library part of the crate so that it can be fuzzed (`fuzz/`).

use std::io::Read;

use serde::Deserialize;

/// Largest accepted event. Real events are a few KiB; the bound keeps a
/// runaway payload from costing memory.
pub const MAX_EVENT: u64 = 1024 * 1024;

/// The agent that runs a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// Anthropic's Claude Code.
    Claude,
    /// OpenAI's Codex CLI.
    Codex,
}

/// The fields bgjobs uses, common and event-specific.
#[derive(Debug, Deserialize)]
pub struct Event {
    /// The session (a subagent's hooks carry its parent's).
    pub session_id: String,
    /// Which event this is (`SessionStart`, `PreToolUse`, ...).
    pub hook_event_name: String,
    /// The agent's working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// The session's transcript file.
    #[serde(default)]
    pub transcript_path: Option<String>,
    /// The subagent, inside a subagent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// SessionStart.
    #[serde(default)]
    pub source: Option<String>,
    /// SessionEnd.
    #[serde(default)]
    pub reason: Option<String>,
    /// PreToolUse / PostToolUse: the tool called (`Bash`, `TaskStop`, ...).
    #[serde(default)]
    pub tool_name: Option<String>,
    /// PreToolUse / PostToolUse: the tool's input, as the model gave it (or
    /// as a PreToolUse hook rewrote it, on PostToolUse).
    #[serde(default)]
    pub tool_input: Option<serde_json::Value>,
    /// PostToolUse: what the tool returned.
    #[serde(default)]
    pub tool_response: Option<serde_json::Value>,
    /// PreToolUse / PostToolUse: the id of this tool call.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    /// Codex: the turn, on every event inside one (Claude Code sends none).
    #[serde(default)]
    pub turn_id: Option<String>,
    /// Stop: the turn already goes on because a Stop hook blocked it.
    #[serde(default)]
    pub stop_hook_active: Option<bool>,
}

impl Event {
    /// Which agent sent this event, as far as the event says: Codex names a
    /// turn on the events inside one and keeps its transcripts as
    /// `sessions/…/rollout-*.jsonl`; Claude Code does neither. `install`
    /// writes `hook --agent codex`, which settles it for every event.
    pub fn client(&self) -> Client {
        let rollout = self.transcript_path.as_deref().is_some_and(|path| {
            let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
            name.starts_with("rollout-") && name.ends_with(".jsonl")
        });
        if self.turn_id.is_some() || rollout {
            Client::Codex
        } else {
            Client::Claude
        }
    }

    /// A string field of the tool's input.
    pub fn input_str(&self, field: &str) -> Option<&str> {
        self.tool_input.as_ref()?.get(field)?.as_str()
    }

    /// A string field of the tool's response.
    pub fn response_str(&self, field: &str) -> Option<&str> {
        self.tool_response.as_ref()?.get(field)?.as_str()
    }
}

/// Read and parse one event from stdin; the error is one line for stderr.
pub fn read_stdin() -> Result<Event, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_EVENT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the hook event from stdin: {e}"))?;
    if bytes.len() as u64 > MAX_EVENT {
        return Err(format!("hook event larger than {MAX_EVENT} bytes"));
    }
    parse(&bytes)
}

/// Parse one event.
pub fn parse(bytes: &[u8]) -> Result<Event, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("no hook event on stdin (expected one JSON object)".into());
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("hook event is not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("hook event is not a JSON object".into());
    }
    let event: Event = serde_json::from_value(value).map_err(|e| format!("hook event: {e}"))?;
    bgjobs_store::session::check_id(&event.session_id).map_err(|e| format!("hook event: {e}"))?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_events_are_refused() {
        for bad in [
            &b""[..],
            b"  \n",
            b"[]",
            b"{}",
            b"{\"session_id\":\"a\"",
            b"{\"session_id\":\"../x\",\"hook_event_name\":\"Stop\"}",
            b"{\"session_id\":5,\"hook_event_name\":\"Stop\"}",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let ok = parse(br#"{"session_id":"abc-1","hook_event_name":"Stop","new_field":{"x":1}}"#)
            .unwrap();
        assert_eq!(ok.hook_event_name, "Stop");
    }
}

#[cfg(test)]
mod props;
