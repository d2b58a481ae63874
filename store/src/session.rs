//! Agent sessions recorded in a workspace (`sessions/<id>.json`): who started
//! them, whether they are still live, and the rewake waiter they have.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identity::ProcessIdentity;
use crate::job::SCHEMA_VERSION;
use crate::record::{self, Read};
use crate::store::Store;
use crate::time::Timestamp;

/// One agent session (a Claude Code session, say) of the workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Schema version.
    pub v: u32,
    /// The session id as the agent gives it.
    pub id: String,
    /// How it started (`startup`, `resume`, `clear`, `compact`, ...).
    pub source: Option<String>,
    /// The agent's transcript file.
    pub transcript_path: Option<String>,
    /// First seen.
    pub started_at: Timestamp,
    /// Last hook event seen.
    pub last_seen_at: Timestamp,
    /// Set by SessionEnd.
    pub ended_at: Option<Timestamp>,
    /// Why it ended, as the agent said.
    pub end_reason: Option<String>,
    /// The agent's own process: when it is gone, the session is over even
    /// without a SessionEnd (crash, killed terminal, `-p` exits).
    pub agent_process: Option<ProcessIdentity>,
    /// Subagents seen in this session.
    #[serde(default)]
    pub agents: Vec<String>,
    /// The current `hook --rewake` waiter; an older one that finds another
    /// here stands down.
    #[serde(default)]
    pub waiter: Option<ProcessIdentity>,
    /// The agent's own background tasks that run adopted jobs: (task id as
    /// the agent names it, the job's key), oldest first, bounded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<(String, String)>,
}

impl Session {
    /// A session seen for the first time now.
    pub fn new(id: &str) -> Self {
        let now = Timestamp::now();
        Self {
            v: SCHEMA_VERSION,
            id: id.to_string(),
            source: None,
            transcript_path: None,
            started_at: now,
            last_seen_at: now,
            ended_at: None,
            end_reason: None,
            agent_process: None,
            agents: Vec::new(),
            waiter: None,
            tasks: Vec::new(),
        }
    }

    /// Not ended, and its agent process (when known) still running.
    pub fn is_live(&self) -> bool {
        self.ended_at.is_none() && self.agent_process.is_none_or(|p| p.is_alive())
    }
}

/// Session ids become file names: accept only what agents actually use.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("invalid session id {id:?}")))
    }
}

impl Store {
    /// The record of session `id`, if any.
    pub fn session(&self, id: &str) -> Result<Option<Session>> {
        check_id(id)?;
        let path = self.sessions_dir().join(format!("{id}.json"));
        match record::read::<Session>(&path)? {
            Read::Found(s) => Ok(Some(s)),
            Read::Missing => Ok(None),
            Read::Corrupt(detail) => self.with_lock(|_| match record::read::<Session>(&path)? {
                Read::Found(s) => Ok(Some(s)),
                Read::Missing => Ok(None),
                Read::Corrupt(_) => Err(record::quarantine(&path, detail)),
            }),
        }
    }

    /// Create or change session `id` under the lock.
    pub fn update_session(&self, id: &str, f: impl FnOnce(&mut Session)) -> Result<Session> {
        check_id(id)?;
        self.with_lock(|_| {
            let dir = self.sessions_dir();
            let path = dir.join(format!("{id}.json"));
            let mut session = match record::read::<Session>(&path)? {
                Read::Found(s) => s,
                Read::Missing => Session::new(id),
                Read::Corrupt(detail) => return Err(record::quarantine(&path, detail)),
            };
            f(&mut session);
            session.last_seen_at = Timestamp::now();
            // Atomic, not synced: a session record describes live processes
            // (the agent, its waiter, its subagents and tasks), which a crash
            // of the machine ends anyway, so a lost update says no more than
            // the crash itself. It saves a hook two fsyncs on every event.
            let volatile = crate::fsio::Durability::Volatile;
            record::write_with(&dir, &format!("{id}.json"), &session, volatile)?;
            Ok(session)
        })
    }

    /// Every session recorded in the workspace (unreadable ones skipped:
    /// they are moved aside when read singly).
    pub fn sessions(&self) -> Result<Vec<Session>> {
        let dir = self.sessions_dir();
        let mut sessions = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(sessions);
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".json") {
                if let Ok(Read::Found(s)) = record::read::<Session>(&entry.path()) {
                    if s.id == id {
                        sessions.push(s);
                    }
                }
            }
        }
        Ok(sessions)
    }
}
