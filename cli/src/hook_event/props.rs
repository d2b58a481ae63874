//! Property tests of the hook event parser ([`super::parse`]).
//!
//! - Any bytes on stdin are parsed or refused, never a panic.
//! - A JSON object with a valid `session_id` and a `hook_event_name`, any
//!   optional fields and any unknown extra fields (Claude Code adds fields
//!   over time), in any order, parses, and the known fields come through.
//! - An invalid session id (empty, `../x`, a `/`, a leading dot, another
//!   character, over 128 characters, not a string) is refused: session ids
//!   become file names.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::{Map, Value};

use super::parse;

/// The fields `Event` knows; extra fields get other names.
const KNOWN: [&str; 9] = [
    "session_id",
    "hook_event_name",
    "cwd",
    "transcript_path",
    "agent_id",
    "source",
    "reason",
    "tool_name",
    "tool_use_id",
];

/// Short text, any characters.
fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..10).prop_map(String::from_iter)
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((text(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A session id as agents give them.
fn valid_session_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}"
}

/// Session ids that must never become file names.
fn invalid_session_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("../x".to_string()),
        Just("..".to_string()),
        "\\.[A-Za-z0-9_.-]{0,20}",
        "[A-Za-z0-9_.-]{0,20}/[A-Za-z0-9_./-]{0,20}",
        "[A-Za-z0-9_-]{129,300}",
        (
            "[A-Za-z0-9_-]{1,20}",
            "[^A-Za-z0-9_.-]",
            "[A-Za-z0-9_.-]{0,20}"
        )
            .prop_map(|(a, bad, b)| format!("{a}{bad}{b}")),
    ]
}

/// An optional field: absent, null, or a string.
fn optional() -> impl Strategy<Value = Option<Value>> {
    option::of(prop_oneof![
        Just(Value::Null),
        text().prop_map(Value::String)
    ])
}

/// An event object's entries, in any order, from the given session id and
/// event name, with optional and unknown extra fields.
fn event_entries(
    session_id: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Vec<(String, Value)>> {
    (
        session_id,
        text(),
        vec(optional(), KNOWN.len() - 2),
        vec((text(), json()), 0..6),
    )
        .prop_flat_map(|(session_id, name, optionals, extras)| {
            let mut entries = vec![
                ("session_id".to_string(), session_id),
                ("hook_event_name".to_string(), Value::String(name)),
            ];
            for (key, value) in KNOWN[2..].iter().zip(optionals) {
                if let Some(value) = value {
                    entries.push((key.to_string(), value));
                }
            }
            entries.extend(
                extras
                    .into_iter()
                    .filter(|(k, _)| !KNOWN.contains(&k.as_str())),
            );
            Just(entries).prop_shuffle()
        })
}

fn to_bytes(entries: &[(String, Value)], pretty: bool) -> Vec<u8> {
    let object: Map<String, Value> = entries.iter().cloned().collect();
    if pretty {
        serde_json::to_vec_pretty(&object).unwrap()
    } else {
        serde_json::to_vec(&object).unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: parsed or refused, never a panic.
    #[test]
    fn any_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    /// Valid events with a byte changed or cut short: never a panic.
    #[test]
    fn damaged_events_never_panic(
        entries in event_entries(valid_session_id().prop_map(Value::String)),
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let mut bytes = to_bytes(&entries, false);
        let at = at % bytes.len();
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] = byte;
        }
        let _ = parse(&bytes);
    }

    /// Unknown fields are ignored; the known ones come through as given.
    #[test]
    fn events_with_extra_fields_parse(
        entries in event_entries(valid_session_id().prop_map(Value::String)),
        pretty in any::<bool>(),
    ) {
        let bytes = to_bytes(&entries, pretty);
        let event = parse(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        let field = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let string = |name: &str| field(name).and_then(Value::as_str).map(str::to_string);
        prop_assert_eq!(Some(event.session_id), string("session_id"));
        prop_assert_eq!(Some(event.hook_event_name), string("hook_event_name"));
        prop_assert_eq!(event.cwd, string("cwd"));
        prop_assert_eq!(event.transcript_path, string("transcript_path"));
        prop_assert_eq!(event.agent_id, string("agent_id"));
        prop_assert_eq!(event.source, string("source"));
        prop_assert_eq!(event.reason, string("reason"));
        prop_assert_eq!(event.tool_name, string("tool_name"));
        prop_assert_eq!(event.tool_use_id, string("tool_use_id"));
    }

    /// An invalid session id is refused, however good the rest is.
    #[test]
    fn invalid_session_ids_are_refused(
        entries in event_entries(invalid_session_id().prop_map(Value::String)),
    ) {
        let bytes = to_bytes(&entries, false);
        prop_assert!(parse(&bytes).is_err(), "accepted: {}", String::from_utf8_lossy(&bytes));
    }

    /// A session id that is not a string is refused.
    #[test]
    fn non_string_session_ids_are_refused(
        entries in event_entries(json().prop_filter("not a string", |v| !v.is_string())),
    ) {
        let bytes = to_bytes(&entries, false);
        prop_assert!(parse(&bytes).is_err(), "accepted: {}", String::from_utf8_lossy(&bytes));
    }
}
