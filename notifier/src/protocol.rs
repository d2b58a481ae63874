//! The wire protocol between the notifier and its clients: newline-delimited
//! JSON, one message per line, each with `"v": 1` and a `"type"`. Defined once
//! here and used by both ends.

use std::path::PathBuf;

use bgjobs_store::Job;
use serde::{Deserialize, Serialize};

/// Protocol version carried by every message.
pub const VERSION: u32 = 1;

/// Longest accepted line, newline included. A longer one is an error and
/// ends the connection.
pub const MAX_LINE: usize = 64 * 1024;

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Greeting; the daemon answers with its own pid.
    Hello {
        /// Sender's pid.
        #[serde(default)]
        pid: Option<u32>,
    },
    /// A worker says job `id` of `workspace` has ended. Only a wake-up: the
    /// daemon re-reads the store and acts on what it says.
    JobFinished {
        /// Canonical workspace path.
        workspace: PathBuf,
        /// Job id.
        id: u64,
    },
    /// Ask to be told (with `event`) when jobs end: the listed ids, else the
    /// session's jobs, else every job of the workspace.
    Subscribe {
        /// Canonical workspace path.
        workspace: PathBuf,
        /// Jobs of interest (empty: see `session`).
        #[serde(default)]
        ids: Vec<u64>,
        /// A session whose jobs are of interest.
        #[serde(default)]
        session: Option<String>,
        /// Exclusive waiter key: a newer subscriber with the same key makes
        /// the daemon send `superseded` to this one and drop it.
        #[serde(default)]
        waiter: Option<String>,
    },
    /// Sent to a subscriber replaced by a newer one with the same waiter key.
    Superseded,
    /// Pushed to subscribers: a job reached a final status (as the store says).
    Event {
        /// Canonical workspace path.
        workspace: PathBuf,
        /// The job's final record.
        job: Box<Job>,
    },
    /// Ask for the daemon's state.
    Status,
    /// The daemon's state.
    StatusReply {
        /// What it reports.
        status: DaemonStatus,
    },
    /// Ask the daemon to exit.
    Shutdown,
    /// A request was carried out.
    Ok,
    /// A request was refused; the daemon closes the connection after this when
    /// the request was malformed.
    Error {
        /// Why, in words.
        message: String,
    },
}

/// What `notifier status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// Always true in a reply (a stopped daemon cannot answer).
    #[serde(default = "yes")]
    pub running: bool,
    /// Daemon pid.
    pub pid: u32,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Socket path or pipe name.
    pub endpoint: String,
    /// Connections open now (this one included).
    pub connections: usize,
    /// Finished jobs handled since start.
    pub deliveries: u64,
    /// Desktop notifications shown since start.
    pub desktop_shown: u64,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    message: Message,
}

/// Encode `message` as one line, newline included. A message that cannot be
/// serialised is an error for the sender, never an empty object on the wire.
pub fn encode(message: &Message) -> std::io::Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Out<'a> {
        v: u32,
        #[serde(flatten)]
        message: &'a Message,
    }
    let mut line = serde_json::to_vec(&Out {
        v: VERSION,
        message,
    })?;
    line.push(b'\n');
    Ok(line)
}

/// Decode one line (without its newline). The error says what is wrong, for
/// the `error` reply.
pub fn decode(line: &[u8]) -> Result<Message, String> {
    if line.len() >= MAX_LINE {
        return Err(format!("line longer than {MAX_LINE} bytes"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("malformed JSON: {e}"))?;
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(format!(
                "unsupported protocol version {v} (this notifier speaks {VERSION})"
            ))
        }
        None => return Err("missing protocol version \"v\"".into()),
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| format!("invalid message: {e}"))?;
    Ok(envelope.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for message in [
            Message::Hello { pid: Some(7) },
            Message::JobFinished {
                workspace: "/w".into(),
                id: 3,
            },
            Message::Subscribe {
                workspace: "/w".into(),
                ids: vec![1, 2],
                session: None,
                waiter: None,
            },
            Message::Status,
            Message::Ok,
            Message::Error {
                message: "no".into(),
            },
        ] {
            let line = encode(&message).unwrap();
            assert!(line.ends_with(b"\n"));
            assert!(
                line.starts_with(b"{\"v\":1,\"type\":"),
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert_eq!(decode(&line[..line.len() - 1]).unwrap(), message);
        }
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(decode(b"{not json").unwrap_err().contains("malformed"));
        assert!(decode(br#"{"type":"status"}"#)
            .unwrap_err()
            .contains("version"));
        assert!(decode(br#"{"v":2,"type":"status"}"#)
            .unwrap_err()
            .contains("version 2"));
        assert!(decode(br#"{"v":1,"type":"launch_missiles"}"#)
            .unwrap_err()
            .contains("launch_missiles"));
        assert!(decode(&vec![b' '; MAX_LINE])
            .unwrap_err()
            .contains("longer"));
    }
}
