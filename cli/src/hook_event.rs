//! The Claude Code hook event read from stdin by `bgjobs hook`: unknown
//! extra fields are ignored (Claude Code adds fields over time), missing
//! required ones are bad input. In the library part of the crate so that it
//! can be fuzzed (`fuzz/`).

use std::io::Read;

use serde::Deserialize;

/// Largest accepted event. Real events are a few KiB; the bound keeps a
/// runaway payload from costing memory.
pub const MAX_EVENT: u64 = 1024 * 1024;

/// The fields bgjobs uses, common and event-specific.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub session_id: String,
    pub hook_event_name: String,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub transcript_path: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// SessionStart.
    #[serde(default)]
    pub source: Option<String>,
    /// SessionEnd.
    #[serde(default)]
    pub reason: Option<String>,
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
