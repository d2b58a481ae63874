//! `index.json`, kept with the records: the next id and the ids of the jobs
//! that may be active, undelivered or untold. It is always a superset of
//! what the records say (an entry is added, durably, before a record changes
//! and removed after), so readers find the jobs that matter without reading
//! every record, and check each against its record.

use serde::{Deserialize, Serialize};

use super::{Locked, Store};
use crate::error::{IoContext, Result};
use crate::fsio;
use crate::job::{Job, SCHEMA_VERSION};
use crate::record::{self, Read};

/// Whether [`Locked::reindex`] adds entries or removes them.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    Add,
    Remove,
}

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Index {
    pub v: u32,
    pub next_id: u64,
    pub active: Vec<u64>,
    /// Final jobs whose end the notifier has not handled yet.
    #[serde(default)]
    pub undelivered: Vec<u64>,
    /// Final jobs whose owning session has not been told of their end, with
    /// that session, so a hook finds its own without reading other records.
    #[serde(default)]
    pub untold: Vec<Untold>,
}

/// An entry of the index's `untold` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Untold {
    pub id: u64,
    pub session: String,
}

impl Store {
    /// Final jobs of `session` that it has not been told of (a superset).
    pub fn untold_ids(&self, session: &str) -> Result<Vec<u64>> {
        Ok(self
            .index()?
            .untold
            .into_iter()
            .filter(|u| u.session == session)
            .map(|u| u.id)
            .collect())
    }

    /// Final jobs whose end the notifier has not handled (a superset).
    pub fn undelivered_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.undelivered)
    }

    /// The ids of jobs that may be active (a superset; read them to know).
    pub fn active_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.active)
    }

    /// `index.json`, rebuilt under the lock if it is missing or corrupt.
    pub(crate) fn index(&self) -> Result<Index> {
        match record::read::<Index>(&self.dir.join("index.json"))? {
            Read::Found(index) => Ok(index),
            _ => self.with_lock(|tx| tx.index()),
        }
    }
}

impl Locked<'_> {
    /// Which index lists `job` belongs in: active, undelivered, untold.
    pub(super) fn index_membership(&self, job: &Job) -> (bool, bool, bool) {
        (job.status.is_active(), job.undelivered(), job.untold())
    }

    /// Bring the index in line with `job`: active jobs in `active`, final ones
    /// not yet handled by the notifier in `undelivered`, final ones not yet
    /// told to their session in `untold` — only adding entries, or only
    /// removing them.
    pub(super) fn reindex(&self, job: &Job, change: Change) -> Result<()> {
        let mut index = self.index()?;
        let before = index.clone();
        let (active, undelivered, untold) = self.index_membership(job);
        let set = |list: &mut Vec<u64>, member: bool| match (member, change) {
            (true, Change::Add) if !list.contains(&job.id) => list.push(job.id),
            (false, Change::Remove) => list.retain(|&a| a != job.id),
            _ => {}
        };
        set(&mut index.active, active);
        set(&mut index.undelivered, undelivered);
        match (untold, &job.session_id, change) {
            (true, Some(session), Change::Add) if !index.untold.iter().any(|u| u.id == job.id) => {
                index.untold.push(Untold {
                    id: job.id,
                    session: session.clone(),
                });
            }
            (false, _, Change::Remove) => index.untold.retain(|u| u.id != job.id),
            _ => {}
        }
        if index != before {
            // Added entries must survive a crash (the index is a superset of
            // what records say); a removed one that comes back after a crash
            // is only a stale hint, which readers check against the record.
            let durability = match change {
                Change::Add => fsio::Durability::Durable,
                Change::Remove => fsio::Durability::Volatile,
            };
            record::write_with(&self.store.dir, "index.json", &index, durability)?;
        }
        Ok(())
    }

    /// `index.json`; if missing or corrupt, rebuilt from the records (the
    /// corrupt one is moved aside first).
    pub(crate) fn index(&self) -> Result<Index> {
        let path = self.store.dir.join("index.json");
        match record::read::<Index>(&path)? {
            Read::Found(index) => return Ok(index),
            Read::Corrupt(detail) => {
                // Reported by `status` through the `.corrupt-` file it leaves.
                let _ = record::quarantine(&path, detail);
            }
            Read::Missing => {}
        }
        let (ids, _) = self.store.scan()?;
        let mut high = self.meta()?.map(|m| m.pruned_through).unwrap_or(0);
        let mut active = Vec::new();
        let mut undelivered = Vec::new();
        let mut untold = Vec::new();
        for entry in std::fs::read_dir(&self.store.jobs)
            .at("cannot read", &self.store.jobs)?
            .flatten()
        {
            let name = entry.file_name();
            let digits: String = name
                .to_string_lossy()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            high = high.max(digits.parse().unwrap_or(0));
        }
        for id in ids {
            if let Ok(Some(job)) = self.job_opt(id) {
                if job.status.is_active() {
                    active.push(id);
                } else {
                    if job.undelivered() {
                        undelivered.push(id);
                    }
                    if let (true, Some(session)) = (job.untold(), job.session_id) {
                        untold.push(Untold { id, session });
                    }
                }
            }
        }
        let index = Index {
            v: SCHEMA_VERSION,
            next_id: high + 1,
            active,
            undelivered,
            untold,
        };
        self.write_index(&index)?;
        Ok(index)
    }

    pub(crate) fn write_index(&self, index: &Index) -> Result<()> {
        record::write(&self.store.dir, "index.json", index)
    }
}
