//! Queues and dependencies: which held-back jobs may start now, and starting
//! each exactly once.
//!
//! A job recorded with a limited queue or with `after` jobs is `waiting`:
//! `queued`, with no worker. [`Store::start_due`] decides, under the lock,
//! which waiting jobs are due (every `after` job succeeded, a free slot in
//! the queue, oldest first) and starts each one's worker before it lets the
//! lock go, recording the worker as the job's owner. So a job is admitted
//! once whoever looks first (the worker of a job that ended, the notifier's
//! sweep, any CLI read), and a crash at any point leaves it either waiting
//! (the next look starts it) or owned (its worker runs it, or it is lost).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::Result;
use crate::identity::ProcessIdentity;
use crate::job::{Job, Status};
use crate::store::{Locked, Store};

/// A queue's name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueName(String);

impl QueueName {
    /// The queue of every job not given one.
    pub const DEFAULT: &'static str = "default";

    /// `name`, if it is a valid queue name; else why not.
    pub fn new(name: &str) -> std::result::Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if valid {
            Ok(Self(name.to_string()))
        } else {
            Err(format!(
                "bad queue name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for QueueName {
    fn default() -> Self {
        Self(Self::DEFAULT.into())
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for QueueName {
    type Error = String;
    fn try_from(name: String) -> std::result::Result<Self, String> {
        Self::new(&name)
    }
}

impl From<QueueName> for String {
    fn from(name: QueueName) -> String {
        name.0
    }
}

/// Starts the detached worker of an admitted job and returns its pid. Called
/// with the lock held: the worker's first read of its job waits for it.
pub type Launch<'a> = &'a dyn Fn(&Store, u64) -> std::io::Result<u32>;

/// What [`Store::start_due`] did.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Jobs whose worker was started.
    pub started: Vec<u64>,
    /// Jobs that ended without starting (skipped, or their worker could not
    /// be started): their ends are to be reported like any other.
    pub ended: Vec<Job>,
}

/// Why a waiting job cannot start yet, or must never start.
enum Hold {
    /// A job it comes after is still active.
    After(u64),
    /// A job it comes after ended without succeeding (or is gone).
    Failed(u64, String),
    /// Its queue's slots are all taken.
    Full,
}

/// The reason recorded on a job waiting for `id`.
pub fn waiting_for_job(id: u64) -> String {
    format!("waiting for job {id}")
}

/// The reason recorded on a job waiting for a slot in `queue`.
pub fn waiting_for_slot(queue: &QueueName) -> String {
    format!("waiting for a slot in queue {queue}")
}

impl Store {
    /// Start every waiting job that is due, each exactly once (see the
    /// module's documentation), with `launch`. Cheap when nothing waits: one
    /// read of the index.
    pub fn start_due(&self, launch: Launch<'_>) -> Result<Admitted> {
        if self.waiting_ids()?.is_empty() {
            return Ok(Admitted::default());
        }
        self.with_lock(|tx| tx.start_due(launch))
    }
}

impl Locked<'_> {
    /// [`Store::start_due`], the lock held: as cheap when nothing waits.
    pub fn start_due(&self, launch: Launch<'_>) -> Result<Admitted> {
        let index = self.index()?;
        if index.waiting.is_empty() {
            return Ok(Admitted::default());
        }
        let store = self.store();
        // Read now, not when the store was opened: a notifier or a worker
        // lives long, and a limit set meanwhile must hold.
        let config = Config::load().unwrap_or_else(|_| store.config().clone());
        let (mut running, waiting) = self.occupancy(index.active)?;
        let mut admitted = Admitted::default();
        for job in waiting {
            let limit = config.queue_limit(&job.queue);
            let taken = running.get(&job.queue).copied().unwrap_or(0);
            let hold = match self.after_hold(&job)? {
                Some(hold) => Some(hold),
                None if limit > 0 && taken >= limit => Some(Hold::Full),
                None => None,
            };
            let reason = match hold {
                Some(Hold::Failed(id, outcome)) => {
                    let reason = format!("job {id} {outcome}");
                    let job = self.apply(job, |j| {
                        j.finish(Status::Skipped, Some(reason));
                    })?;
                    admitted.ended.push(job);
                    continue;
                }
                Some(Hold::After(id)) => waiting_for_job(id),
                Some(Hold::Full) => waiting_for_slot(&job.queue),
                None => {
                    *running.entry(job.queue.clone()).or_default() += 1;
                    match self.admit(job, launch)? {
                        Ok(id) => admitted.started.push(id),
                        Err(job) => admitted.ended.push(job),
                    }
                    continue;
                }
            };
            if job.reason.as_deref() != Some(reason.as_str()) {
                self.apply(job, |j| j.reason = Some(reason))?;
            }
        }
        Ok(admitted)
    }

    /// How many of each queue's jobs are started and active (reading every
    /// active record of `ids`, the index's, so that a job whose worker died is found lost and frees
    /// its slot), and the waiting ones, oldest first.
    fn occupancy(&self, mut ids: Vec<u64>) -> Result<(HashMap<QueueName, usize>, Vec<Job>)> {
        let mut running: HashMap<QueueName, usize> = HashMap::new();
        let mut waiting = Vec::new();
        ids.sort_unstable();
        for id in ids {
            let Ok(Some(job)) = self.job_opt(id) else {
                continue; // gone or moved aside (reported by `status`)
            };
            let job = self.reconciled(job)?;
            if !job.status.is_active() {
                continue;
            }
            if job.waiting {
                // One being cancelled is about to end: it takes no slot.
                if job.cancel_requested.is_none() {
                    waiting.push(job);
                }
            } else {
                *running.entry(job.queue.clone()).or_default() += 1;
            }
        }
        Ok((running, waiting))
    }

    /// What holds `job` back among the jobs it comes after, if anything.
    fn after_hold(&self, job: &Job) -> Result<Option<Hold>> {
        for &id in &job.after {
            let before = match self.job_opt(id) {
                Ok(Some(before)) => self.reconciled(before)?,
                Ok(None) => return Ok(Some(Hold::Failed(id, "is gone (pruned)".into()))),
                Err(e) => return Ok(Some(Hold::Failed(id, format!("is unreadable: {e}")))),
            };
            match before.status {
                Status::Succeeded => {}
                status if status.is_active() => return Ok(Some(Hold::After(id))),
                _ => return Ok(Some(Hold::Failed(id, before.outcome()))),
            }
        }
        Ok(None)
    }

    /// Start `job`'s worker and record it as the owner: its id, or the job
    /// as it ended when no worker could be started.
    fn admit(&self, job: Job, launch: Launch<'_>) -> Result<std::result::Result<u64, Job>> {
        let id = job.id;
        let worker = launch(self.store(), id).map(ProcessIdentity::of);
        let ended = |reason: String| {
            self.apply(job.clone(), |j| {
                j.finish(Status::Failed, Some(reason));
            })
        };
        match worker {
            Ok(Some(worker)) => {
                self.apply(job.clone(), |j| {
                    j.waiting = false;
                    j.worker = Some(worker);
                    j.reason = None;
                })?;
                Ok(Ok(id))
            }
            Ok(None) => Ok(Err(ended("its worker exited as it started".into())?)),
            Err(e) => Ok(Err(ended(format!("cannot start the worker: {e}"))?)),
        }
    }
}
