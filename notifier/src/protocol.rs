//! The wire protocol between the notifier and its clients: newline-delimited
//! JSON, one message per line, each with `"v": 1` and a `"type"`. Defined once
//! here and used by both ends.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Protocol version carried by every message.
pub const VERSION: u32 = 1;

/// Longest accepted line, newline included. A longer one is an error and
/// ends the connection.
pub const MAX_LINE: usize = 64 * 1024;

/// What a client sends the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
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
    /// Job `id` of `workspace` is waiting for a slot or for other jobs: the
    /// daemon keeps looking (and starts it when due) until it has started.
    JobQueued {
        /// Canonical workspace path.
        workspace: PathBuf,
        /// Job id.
        id: u64,
    },
    /// A worker says job `id` of `workspace` printed its ready line. Only a
    /// wake-up, like `job_finished`.
    JobReady {
        /// Canonical workspace path.
        workspace: PathBuf,
        /// Job id.
        id: u64,
    },
    /// Ask to be told (with `event`) when jobs end or turn ready: the listed ids, else the
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
    /// Ask for the daemon's state.
    Status,
    /// Ask the daemon to exit.
    Shutdown,
}

/// What the daemon sends a client: a reply to its request, or a push to a
/// subscriber.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// The daemon's greeting, with its pid.
    Hello {
        /// The daemon's pid.
        #[serde(default)]
        pid: Option<u32>,
    },
    /// Pushed to subscribers: job `id` of `workspace` reached a final status
    /// or turned ready (as the store says). A wake-up: the subscriber reads
    /// the record.
    Event {
        /// Canonical workspace path.
        workspace: PathBuf,
        /// Job id.
        id: u64,
    },
    /// Sent to a subscriber replaced by a newer one with the same waiter key.
    Superseded,
    /// The daemon's state.
    StatusReply {
        /// What it reports.
        status: DaemonStatus,
    },
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

/// Encode `message` (a [`Request`] or a [`Reply`]) as one line, newline
/// included. A message that cannot be serialised is an error for the sender,
/// never an empty object on the wire.
pub fn encode<T: Serialize>(message: &T) -> std::io::Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Out<'a, T> {
        v: u32,
        #[serde(flatten)]
        message: &'a T,
    }
    let mut line = serde_json::to_vec(&Out {
        v: VERSION,
        message,
    })?;
    line.push(b'\n');
    Ok(line)
}

/// Decode one line (without its newline) as a [`Request`] (the daemon's
/// side) or a [`Reply`] (a client's). The error says what is wrong, for the
/// `error` reply.
pub fn decode<T: DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        #[allow(dead_code)] // checked below, before the message is parsed
        v: u32,
        #[serde(flatten)]
        message: T,
    }
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
    let envelope: Envelope<T> =
        serde_json::from_value(value).map_err(|e| format!("invalid message: {e}"))?;
    Ok(envelope.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for message in [
            Request::Hello { pid: Some(7) },
            Request::JobFinished {
                workspace: "/w".into(),
                id: 3,
            },
            Request::Subscribe {
                workspace: "/w".into(),
                ids: vec![1, 2],
                session: None,
                waiter: None,
            },
            Request::Status,
            Request::JobQueued {
                workspace: "/w".into(),
                id: 4,
            },
            Request::JobReady {
                workspace: "/w".into(),
                id: 5,
            },
        ] {
            let line = encode(&message).unwrap();
            assert!(line.ends_with(b"\n"));
            assert!(
                line.starts_with(b"{\"v\":1,\"type\":"),
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert_eq!(decode::<Request>(&line[..line.len() - 1]).unwrap(), message);
        }
        for message in [
            Reply::Ok,
            Reply::Event {
                workspace: "/w".into(),
                id: 3,
            },
            Reply::Error {
                message: "no".into(),
            },
        ] {
            let line = encode(&message).unwrap();
            assert_eq!(decode::<Reply>(&line[..line.len() - 1]).unwrap(), message);
        }
        // A reply is no request, and the other way round.
        assert!(decode::<Request>(br#"{"v":1,"type":"ok"}"#).is_err());
        assert!(decode::<Reply>(br#"{"v":1,"type":"shutdown"}"#).is_err());
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(decode::<Request>(b"{not json")
            .unwrap_err()
            .contains("malformed"));
        assert!(decode::<Request>(br#"{"type":"status"}"#)
            .unwrap_err()
            .contains("version"));
        assert!(decode::<Request>(br#"{"v":2,"type":"status"}"#)
            .unwrap_err()
            .contains("version 2"));
        assert!(decode::<Request>(br#"{"v":1,"type":"launch_missiles"}"#)
            .unwrap_err()
            .contains("launch_missiles"));
        assert!(decode::<Request>(&vec![b' '; MAX_LINE])
            .unwrap_err()
            .contains("longer"));
    }
}
