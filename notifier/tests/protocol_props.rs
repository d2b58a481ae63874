//! Property tests of the wire protocol (`bgjobs_notifier::protocol`).
//!
//! - `decode` never panics, whatever the bytes, as a request or a reply, and
//!   refuses every line of `MAX_LINE` bytes or more, even one that is
//!   otherwise a valid message.
//! - Every request and reply round-trips: `decode(encode(m))` (newline
//!   stripped) is `m`.
//! - A valid line with junk after it is an error — at most trailing JSON
//!   whitespace is tolerated, and then it is the same message — never a
//!   different valid message.

#![allow(clippy::unwrap_used)] // test code: a panic is the test failing

// The text strategy is shared with the store's property tests.
#[path = "../../store/tests/strategy/mod.rs"]
mod strategy;

use std::path::PathBuf;

use bgjobs_notifier::protocol::{decode, encode, DaemonStatus, Reply, Request, MAX_LINE};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn path() -> impl Strategy<Value = PathBuf> {
    strategy::text().prop_map(PathBuf::from)
}

fn daemon_status() -> impl Strategy<Value = DaemonStatus> {
    (
        any::<bool>(),
        any::<u32>(),
        any::<u64>(),
        strategy::text(),
        any::<usize>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(running, pid, uptime_secs, endpoint, connections, deliveries, desktop_shown)| {
                DaemonStatus {
                    running,
                    pid,
                    uptime_secs,
                    endpoint,
                    connections,
                    deliveries,
                    desktop_shown,
                }
            },
        )
}

/// A request or a reply: every message on the wire.
#[derive(Debug, Clone, PartialEq)]
enum Message {
    Request(Request),
    Reply(Reply),
}

/// Every kind of message, with any field values.
fn message() -> impl Strategy<Value = Message> {
    let request = prop_oneof![
        option::of(any::<u32>()).prop_map(|pid| Request::Hello { pid }),
        (path(), any::<u64>()).prop_map(|(workspace, id)| Request::JobFinished { workspace, id }),
        (
            path(),
            vec(any::<u64>(), 0..5),
            option::of(strategy::text()),
            option::of(strategy::text()),
        )
            .prop_map(|(workspace, ids, session, waiter)| Request::Subscribe {
                workspace,
                ids,
                session,
                waiter,
            }),
        Just(Request::Status),
        Just(Request::Shutdown),
    ];
    let reply = prop_oneof![
        option::of(any::<u32>()).prop_map(|pid| Reply::Hello { pid }),
        Just(Reply::Superseded),
        (path(), any::<u64>()).prop_map(|(workspace, id)| Reply::Event { workspace, id }),
        daemon_status().prop_map(|status| Reply::StatusReply { status }),
        Just(Reply::Ok),
        strategy::text().prop_map(|message| Reply::Error { message }),
    ];
    prop_oneof![
        request.prop_map(Message::Request),
        reply.prop_map(Message::Reply)
    ]
}

/// `encode(m)` without its newline.
fn line(m: &Message) -> Vec<u8> {
    let mut line = match m {
        Message::Request(r) => encode(r),
        Message::Reply(r) => encode(r),
    }
    .expect("every message serialises");
    assert_eq!(line.pop(), Some(b'\n'));
    line
}

/// Decode `bytes` as the kind of message `like` is.
fn decode_like(like: &Message, bytes: &[u8]) -> Result<Message, String> {
    match like {
        Message::Request(_) => decode::<Request>(bytes).map(Message::Request),
        Message::Reply(_) => decode::<Reply>(bytes).map(Message::Reply),
    }
}

/// Bytes after a line: anything, or things that look like more JSON.
fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 1..32),
        "[ \t\r\n]{1,4}".prop_map(String::into_bytes),
        "[ \t\r\n]{0,2}[{}\\[\\],:\"0-9a-z]{1,16}".prop_map(String::into_bytes),
        message().prop_map(|m| line(&m)),
        Just(b",\"v\":1}".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes: decoded or refused, never a panic; at `MAX_LINE` or more,
    /// always refused.
    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode::<Request>(&bytes);
        let _ = decode::<Reply>(&bytes);
    }

    /// Text that looks like JSON messages, to get past the JSON parser.
    #[test]
    fn decode_never_panics_on_jsonish(
        text in "\\{(\"(v|type|pid|id|ids|job|workspace|status|session)\":[ 0-9a-z\"\\[\\]{},.:-]{0,12},?){0,4}\\}",
    ) {
        let _ = decode::<Request>(text.as_bytes());
        let _ = decode::<Reply>(text.as_bytes());
    }

    /// A line of `MAX_LINE` bytes or more is refused, even when it is a
    /// valid message padded with whitespace.
    #[test]
    fn long_lines_are_refused(m in message(), extra in 0usize..64, pad_before in any::<bool>()) {
        let body = line(&m);
        let pad = vec![b' '; (MAX_LINE + extra).saturating_sub(body.len())];
        let long = if pad_before { [pad, body].concat() } else { [body, pad].concat() };
        prop_assert!(long.len() >= MAX_LINE);
        prop_assert!(decode_like(&m, &long).is_err());
    }

    /// Every message comes back as itself.
    #[test]
    fn messages_round_trip(m in message()) {
        let line = line(&m);
        prop_assume!(line.len() < MAX_LINE);
        prop_assert!(line.starts_with(b"{\"v\":1,\"type\":\""), "{}", String::from_utf8_lossy(&line));
        prop_assert!(!line.contains(&b'\n'));
        prop_assert_eq!(decode_like(&m, &line).unwrap(), m);
    }

    /// Junk after a valid line never turns it into another valid message.
    #[test]
    fn junk_after_a_line_is_refused(m in message(), junk in junk()) {
        let line = line(&m);
        let longer = [line.as_slice(), &junk].concat();
        prop_assume!(longer.len() < MAX_LINE);
        match decode_like(&m, &longer) {
            Err(_) => {}
            Ok(decoded) => {
                prop_assert!(
                    junk.iter().all(|b| b" \t\r\n".contains(b)),
                    "{:?} accepted with junk {:?}",
                    String::from_utf8_lossy(&longer),
                    String::from_utf8_lossy(&junk),
                );
                prop_assert_eq!(decoded, m);
            }
        }
    }
}
