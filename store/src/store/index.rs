//! `index.json`, kept with the records: the next id and the ids of the jobs
//! that may be active, undelivered or untold. It is always a superset of
//! what the records say (an entry is added before a record changes and
//! removed after), so readers find the jobs that matter without reading
//! every record, and check each against its record.
//!
//! It is never synced where the system names its boot ([`crate::boot`]):
//! every process sees a write at once (the page cache is shared), and only
//! a crash of the machine can lose one. The index carries the boot it was
//! written in; one from an earlier boot, or missing or corrupt, is rebuilt
//! from the records, which are synced. Where the boot is unknown, entries
//! are added durably instead.

use serde::{Deserialize, Serialize};

use super::{Locked, Store};
use crate::boot;
use crate::error::{IoContext, Result};
use crate::fsio;
use crate::job::{Job, SCHEMA_VERSION};
use crate::record::{self, Read};

/// Whether [`Locked::reindex`] adds entries or removes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Queued jobs held back by their queue or their `after` jobs.
    #[serde(default)]
    pub waiting: Vec<u64>,
    /// Running jobs whose readiness the notifier has not handled yet.
    #[serde(default)]
    pub ready_undelivered: Vec<u64>,
    /// Running jobs whose owning session has not been told they are ready.
    #[serde(default)]
    pub ready_untold: Vec<Untold>,
    /// Active foreground jobs with their owning session, so that a
    /// session's end finds its own without reading the others' records.
    /// `None` in an index written by a bgjobs from before the list (filled
    /// in by the next write; until then readers read every active record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreground: Option<Vec<Untold>>,
    /// The boot of the machine this index was written in (see the module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
}

impl Index {
    /// Whether this index can be trusted now: written in this boot, so
    /// nothing a crash of the machine lost is missing from it. Where the
    /// boot is unknown, its entries were written durably.
    fn is_current(&self) -> bool {
        boot::id().is_none_or(|now| self.boot.as_deref() == Some(now))
    }
}

/// Which of the index's lists a job belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Membership {
    active: bool,
    undelivered: bool,
    untold: bool,
    waiting: bool,
    ready_undelivered: bool,
    ready_untold: bool,
    foreground: bool,
}

/// An entry of the index's `untold` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Untold {
    pub id: u64,
    pub session: String,
}

impl Store {
    /// Final jobs whose end the notifier has not handled (a superset).
    pub fn undelivered_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.undelivered)
    }

    /// Running jobs whose readiness the notifier has not handled (a superset).
    pub fn ready_undelivered_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.ready_undelivered)
    }

    /// What `session` has not been told, from one read of the index (a
    /// superset of each): jobs that ended, and running jobs that are ready.
    pub fn untold_news(&self, session: &str) -> Result<(Vec<u64>, Vec<u64>)> {
        let index = self.index()?;
        let of = |list: Vec<Untold>| -> Vec<u64> {
            list.into_iter()
                .filter(|u| u.session == session)
                .map(|u| u.id)
                .collect()
        };
        Ok((of(index.untold), of(index.ready_untold)))
    }

    /// `index.json` opened, for a worker forked before a job's creation
    /// replaces it to keep the old one in use until it has started the job
    /// (see [`fsio::deferred`]): the replace then frees nothing.
    pub fn open_index(&self) -> Option<std::fs::File> {
        fsio::deferred::open_to_keep(&self.dir.join("index.json"))
    }

    /// The active foreground jobs of `session` (a superset): every active
    /// job while the index has no such list (one written by an older bgjobs).
    pub fn foreground_ids(&self, session: &str) -> Result<Vec<u64>> {
        let index = self.index()?;
        Ok(match index.foreground {
            Some(list) => list
                .into_iter()
                .filter(|u| u.session == session)
                .map(|u| u.id)
                .collect(),
            None => index.active,
        })
    }

    /// Jobs held back by their queue or their `after` jobs (a superset).
    pub fn waiting_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.waiting)
    }

    /// The ids of jobs that may be active (a superset; read them to know).
    pub fn active_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.active)
    }

    /// Drop the entries of job `id` that its record no longer warrants. A
    /// writer killed between the record and the index leaves them, and a
    /// delivered record is never written again to drop them: each would
    /// keep the record from being pruned and cost every sweep a read.
    pub fn unlist_stale(&self, id: u64) -> Result<()> {
        self.with_lock(|tx| match tx.job_opt(id)? {
            Some(job) => tx.reindex(&job, Change::Remove, fsio::Durability::Volatile),
            // Pruned meanwhile, its entries with it.
            None => Ok(()),
        })
    }

    /// `index.json`, rebuilt under the lock if it is missing, corrupt or
    /// from an earlier boot.
    pub(crate) fn index(&self) -> Result<Index> {
        match record::read::<Index>(&self.dir.join("index.json"))? {
            Read::Found(index) if index.is_current() => Ok(index),
            _ => self.with_lock(|tx| tx.index()),
        }
    }
}

impl Locked<'_> {
    /// Which index lists `job` belongs in.
    pub(super) fn index_membership(&self, job: &Job) -> Membership {
        Membership {
            active: job.status.is_active(),
            undelivered: job.undelivered(),
            untold: job.untold(),
            waiting: job.waiting && job.status.is_active(),
            ready_undelivered: job.ready_undelivered(),
            ready_untold: job.ready_untold(),
            foreground: job.status.is_active() && !job.background,
        }
    }

    /// The index's `foreground` list, filled in from the active records
    /// first if the index was written without one.
    pub(super) fn foreground_list<'i>(&self, index: &'i mut Index) -> &'i mut Vec<Untold> {
        if index.foreground.is_none() {
            let mut list = Vec::new();
            for &id in &index.active {
                if let Ok(Some(job)) = self.job_opt(id) {
                    if let (true, Some(session)) =
                        (self.index_membership(&job).foreground, job.session_id)
                    {
                        list.push(Untold { id, session });
                    }
                }
            }
            index.foreground = Some(list);
        }
        index.foreground.get_or_insert_with(Vec::new)
    }

    /// Bring the index in line with `job` (see [`Membership`]), only adding
    /// entries, or only removing them. Added entries are durable unless
    /// `durability` says they describe what a crash of the machine voids.
    pub(super) fn reindex(
        &self,
        job: &Job,
        change: Change,
        durability: fsio::Durability,
    ) -> Result<()> {
        let mut index = self.index()?;
        let before = index.clone();
        let member = self.index_membership(job);
        let id = job.id;
        let (add, remove) = (change == Change::Add, change == Change::Remove);
        let set = |list: &mut Vec<u64>, member: bool| match member {
            true if add && !list.contains(&id) => list.push(id),
            false if remove => list.retain(|&a| a != id),
            _ => {}
        };
        set(&mut index.active, member.active);
        // `undelivered` is the one list entered after the record is written,
        // in the write that leaves `active`, never synced: until it lands,
        // and after a crash that loses it, the job is still listed active
        // (durably, since it was recorded), and the notifier's sweep looks
        // at both lists. It spares every job's end a synced index write.
        match member.undelivered {
            true if remove && !index.undelivered.contains(&id) => index.undelivered.push(id),
            false if remove => index.undelivered.retain(|&a| a != id),
            _ => {}
        }
        set(&mut index.waiting, member.waiting);
        set(&mut index.ready_undelivered, member.ready_undelivered);
        let set_session =
            |list: &mut Vec<Untold>, member: bool| match (member, &job.session_id, change) {
                (true, Some(session), Change::Add) if !list.iter().any(|u| u.id == id) => {
                    list.push(Untold {
                        id,
                        session: session.clone(),
                    });
                }
                (false, _, Change::Remove) => list.retain(|u| u.id != id),
                _ => {}
            };
        set_session(&mut index.untold, member.untold);
        set_session(&mut index.ready_untold, member.ready_untold);
        set_session(self.foreground_list(&mut index), member.foreground);
        if index != before {
            // Added entries must survive a crash (the index is a superset of
            // what records say); a removed one that comes back after a crash
            // is only a stale hint, which readers check against the record.
            let durability = match change {
                Change::Add => durability,
                Change::Remove => fsio::Durability::Volatile,
            };
            self.write_index(index, durability)?;
        }
        Ok(())
    }

    /// `index.json`; if missing, corrupt or from an earlier boot, rebuilt
    /// from the records (a corrupt one is moved aside first).
    pub(crate) fn index(&self) -> Result<Index> {
        let path = self.store.dir.join("index.json");
        match record::read::<Index>(&path)? {
            Read::Found(index) if index.is_current() => return Ok(index),
            // Written before the machine went down: what it lost, the
            // records still say.
            Read::Found(_) => {}
            Read::Corrupt(detail) => {
                // Reported by `status` through the `.corrupt-` file it leaves.
                let _ = record::quarantine(&path, detail);
            }
            Read::Missing => {}
        }
        let (ids, aside) = self.store.scan()?;
        if aside.iter().any(|w| self.store.in_jobs(w)) {
            // Moved aside by an older bgjobs, which left no marker.
            self.mark_aside();
        }
        let mut high = self.meta()?.map(|m| m.pruned_through).unwrap_or(0);
        let mut active = Vec::new();
        let mut undelivered = Vec::new();
        let mut untold = Vec::new();
        let mut waiting = Vec::new();
        let mut ready_undelivered = Vec::new();
        let mut ready_untold = Vec::new();
        let mut foreground = Vec::new();
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
                let member = self.index_membership(&job);
                if member.waiting {
                    waiting.push(id);
                }
                if member.ready_undelivered {
                    ready_undelivered.push(id);
                }
                if let (true, Some(session)) = (member.ready_untold, &job.session_id) {
                    ready_untold.push(Untold {
                        id,
                        session: session.clone(),
                    });
                }
                if let (true, Some(session)) = (member.foreground, &job.session_id) {
                    foreground.push(Untold {
                        id,
                        session: session.clone(),
                    });
                }
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
            waiting,
            ready_undelivered,
            ready_untold,
            foreground: Some(foreground),
            boot: None,
        };
        self.write_index(index, fsio::Durability::Durable)
    }

    /// Write `index`, stamped with this boot. Where the boot is known the
    /// write is never synced (see the module): `durability` is what its
    /// entries would need without that.
    pub(crate) fn write_index(
        &self,
        mut index: Index,
        durability: fsio::Durability,
    ) -> Result<Index> {
        index.boot = boot::id().map(str::to_string);
        let durability = match index.boot {
            Some(_) => fsio::Durability::Volatile,
            None => durability,
        };
        record::write_with(&self.store.dir, "index.json", &index, durability)?;
        Ok(index)
    }
}
