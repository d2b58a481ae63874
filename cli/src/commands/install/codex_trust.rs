//! Codex CLI's hook trust: Codex runs a hook only if `config.toml` holds,
//! under `[hooks.state."<file>:<event>:<group>:<handler>"]`, a
//! `trusted_hash` equal to the hash of that very handler; any later edit of
//! the handler changes the hash, and Codex skips it until trusted again.
//! Computed exactly as Codex 0.171 does (checked against the hashes its
//! `app-server` reports, in tests/tests/codex_real.rs).

use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Codex's name for an event in trust keys and hashes: `PreToolUse` →
/// `pre_tool_use`.
pub fn event_label(event: &str) -> String {
    let mut label = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                label.push('_');
            }
            label.push(c.to_ascii_lowercase());
        } else {
            label.push(c);
        }
    }
    label
}

/// The timeout Codex runs a handler with (and hashes), in seconds:
/// SessionEnd and Interrupt get 1 s by default and 3 s at most, every other
/// event 600 s by default; never less than 1.
pub fn effective_timeout(event: &str, timeout: Option<u64>) -> u64 {
    match event {
        "SessionEnd" | "Interrupt" => timeout.unwrap_or(1).clamp(1, 3),
        _ => timeout.unwrap_or(600).max(1),
    }
}

/// Events whose groups Codex matches on nothing: their matcher is not part
/// of the hash.
const NO_MATCHER: &[&str] = &[
    "PreModelRequest",
    "PostModelRequest",
    "UserPromptSubmit",
    "Stop",
    "Interrupt",
];

/// The trust key of handler `handler` of group `group` of `event` in the
/// hooks file `file` (as Codex names that file).
pub fn key(file: &Path, event: &str, group: usize, handler: usize) -> String {
    format!(
        "{}:{}:{group}:{handler}",
        file.display(),
        event_label(event)
    )
}

/// The hash Codex trusts `handler` (a command hook) by, in a group of
/// `event` with `matcher`: `sha256:` and the hex SHA-256 of the compact,
/// key-sorted JSON of `{event_name, matcher?, hooks: [handler as Codex
/// reads it]}`.
pub fn hash(event: &str, matcher: Option<&str>, handler: &Value) -> String {
    let mut read = Map::new();
    read.insert("type".into(), "command".into());
    let command = handler.get("command").cloned().unwrap_or(Value::Null);
    read.insert("command".into(), command);
    let timeout = handler.get("timeout").and_then(Value::as_u64);
    read.insert("timeout".into(), effective_timeout(event, timeout).into());
    let asynchronous = handler.get("async").and_then(Value::as_bool);
    read.insert("async".into(), asynchronous.unwrap_or(false).into());
    for optional in ["statusMessage", "additionalContextLimit"] {
        if let Some(value) = handler.get(optional) {
            read.insert(optional.into(), value.clone());
        }
    }
    let mut identity = Map::new();
    identity.insert("event_name".into(), event_label(event).into());
    if let Some(matcher) = matcher.filter(|_| !NO_MATCHER.contains(&event)) {
        identity.insert("matcher".into(), matcher.into());
    }
    identity.insert("hooks".into(), Value::Array(vec![Value::Object(read)]));
    let digest = Sha256::digest(canonical(&Value::Object(identity)).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Compact JSON with every object's keys in byte order.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The hashes Codex 0.171.0's `hooks/list` reported for these handlers.
    #[test]
    fn hashes_as_codex_does() {
        let command = "'/usr/local/bin/bgjobs' hook --agent codex";
        assert_eq!(
            hash(
                "SessionStart",
                Some("startup|resume|clear"),
                &json!({"type": "command", "command": command, "timeout": 30})
            ),
            "sha256:4d9e16e7a65bb607f914feb674d3c142a41699426e3932b135e6d9e700c25cb2"
        );
        // 10 s is clamped to 3 s, and hashed so.
        assert_eq!(
            hash(
                "SessionEnd",
                None,
                &json!({"type": "command", "command": command, "timeout": 10})
            ),
            "sha256:b599f0fd63b4bc30b02b1763c3e1e2a8db22523a97ea7e04b0ea310c409446d6"
        );
        // Stop's matcher is not Codex's to match on, so not hashed.
        assert_eq!(
            hash(
                "Stop",
                Some("zzz"),
                &json!({"type": "command", "command": "x3", "timeout": 5, "statusMessage": "hi"})
            ),
            "sha256:a42e7d497c7977c370e96693f5dfc61d1c720e0b20fee36615ec7235860d395d"
        );
    }

    #[test]
    fn keys_name_the_file_event_group_and_handler() {
        assert_eq!(event_label("UserPromptSubmit"), "user_prompt_submit");
        assert_eq!(
            key(Path::new("/h/.codex/hooks.json"), "PreToolUse", 2, 0),
            "/h/.codex/hooks.json:pre_tool_use:2:0"
        );
    }
}
