//! Retention: which finished jobs to remove, with their logs. A queued or
//! running job is never removed.

use std::time::Duration;

use crate::error::Result;
use crate::store::Store;
use crate::time::Timestamp;

/// What to prune.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Keep at most this many finished jobs (the newest).
    pub keep: usize,
    /// Remove finished jobs that ended longer ago than this.
    pub older_than: Option<Duration>,
}

impl Policy {
    /// The store's configured automatic bound.
    pub fn configured(store: &Store) -> Self {
        Self {
            keep: store.config().keep_finished,
            older_than: store.config().max_age(),
        }
    }
}

/// Remove finished jobs beyond `policy`, with their logs, under the lock.
/// Returns the removed ids.
pub fn prune(store: &Store, policy: Policy) -> Result<Vec<u64>> {
    store.with_lock(|tx| {
        let (ids, _) = store.scan()?;
        let mut finished = Vec::new();
        for id in ids {
            // A corrupt record is moved aside (and so reported), never pruned.
            if let Ok(Some(job)) = tx.job_opt(id) {
                if !job.status.is_active() {
                    finished.push(job);
                }
            }
        }
        let excess = finished.len().saturating_sub(policy.keep);
        let now = Timestamp::now();
        let removed: Vec<u64> = finished
            .iter()
            .enumerate()
            // A job whose end has not been delivered yet counts towards the
            // bound but is kept until it has been.
            .filter(|(_, job)| !job.undelivered())
            .filter(|(i, job)| {
                *i < excess
                    || policy.older_than.is_some_and(|age| {
                        job.finished_at.unwrap_or(job.created_at).until(now) > age
                    })
            })
            .map(|(_, job)| job.id)
            .collect();
        let Some(&highest) = removed.iter().max() else {
            return Ok(removed);
        };
        // Raise the watermark first: ids stay unique even if we crash midway.
        if let Some(mut meta) = tx.meta()? {
            if meta.pruned_through < highest {
                meta.pruned_through = highest;
                tx.write_meta(&meta)?;
            }
        }
        for &id in &removed {
            let _ = std::fs::remove_file(store.job_path(id));
            let _ = std::fs::remove_file(store.log_path(id));
        }
        let jobs = store.job_path(0).with_file_name("");
        crate::fsio::sync_dir(&jobs).map_err(|e| crate::Error::Io {
            action: "cannot sync directory",
            path: jobs,
            source: e,
        })?;
        Ok(removed)
    })
}

/// The automatic bound, cheap when nothing is due: only counts directory
/// entries unless the count is over the bound (or an age limit is set).
pub fn auto_prune(store: &Store) -> Result<Vec<u64>> {
    let policy = Policy::configured(store);
    if policy.older_than.is_none() {
        let records = std::fs::read_dir(store.logs_dir().with_file_name("jobs"))
            .map(|d| d.count())
            .unwrap_or(0);
        let active = store.active_ids()?.len();
        if records <= policy.keep + active {
            return Ok(Vec::new());
        }
    }
    prune(store, policy)
}
