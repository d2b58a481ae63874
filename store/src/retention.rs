//! Retention: which finished jobs to remove, with their logs. A queued or
//! running job is never removed.

use std::time::Duration;

use crate::error::Result;
use crate::store::{Index, Store, WorkspaceMeta};
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
        for &id in &ids {
            // A corrupt record is moved aside (and so reported), never pruned.
            if let Ok(Some(job)) = tx.job_opt(id) {
                if !job.status.is_active() {
                    finished.push(job);
                }
            }
        }
        let excess = finished.len().saturating_sub(policy.keep);
        let now = Timestamp::now();
        let awaited = awaited(tx)?;
        let removed: Vec<u64> = finished
            .iter()
            .enumerate()
            // A job whose end has not been delivered yet counts towards the
            // bound but is kept until it has been; so is one that a waiting
            // job comes after, until that one has started.
            .filter(|(_, job)| !job.undelivered() && !awaited.contains(&job.id))
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
            let through = meta.pruned_through.max(highest);
            let kept = ids
                .iter()
                .copied()
                .filter(|id| *id <= through && !removed.contains(id))
                .collect();
            meta.pruned_through = through;
            meta.kept = kept;
            tx.write_meta(&meta)?;
        }
        remove_records(store, &removed)?;
        Ok(removed)
    })
}

/// The jobs that waiting jobs come after (`--after`): kept, so that what
/// they ended as still decides whether the waiting ones start.
fn awaited(tx: &crate::store::Locked<'_>) -> Result<Vec<u64>> {
    let mut awaited = Vec::new();
    for id in tx.index()?.waiting {
        if let Ok(Some(job)) = tx.job_opt(id) {
            if job.waiting {
                awaited.extend(job.after);
            }
        }
    }
    Ok(awaited)
}

/// Delete the records and logs of `ids` (already pruned from the meta).
fn remove_records(store: &Store, ids: &[u64]) -> Result<()> {
    for &id in ids {
        let _ = std::fs::remove_file(store.job_path(id));
        let _ = std::fs::remove_file(store.log_path(id));
        store.forget_environment(id);
    }
    let jobs = store.job_path(0).with_file_name("");
    crate::fsio::sync_dir(&jobs).map_err(|e| crate::Error::Io {
        action: "cannot sync directory",
        path: jobs,
        source: e,
    })
}

/// The automatic bound, after each job's end: O(1) per job whatever the
/// bound. Job ids grow with time, so the oldest finished jobs are those
/// just above the cursor (`pruned_through`, plus the few `kept` below it):
/// how many finished jobs there are follows from the index and the cursor,
/// without listing or reading the records, and only the records about to
/// go are read (to be sure each is finished, delivered and readable; a
/// corrupt one is moved aside and reported, never deleted unread). With an
/// age limit it is a full [`prune`].
pub fn auto_prune(store: &Store) -> Result<Vec<u64>> {
    let policy = Policy::configured(store);
    if policy.older_than.is_some() {
        return prune(store, policy);
    }
    let due = |index: &Index, meta: &WorkspaceMeta| {
        let above = index.next_id.saturating_sub(1 + meta.pruned_through);
        let on_disk = above + meta.kept.len() as u64;
        let finished = on_disk.saturating_sub(index.active.len() as u64);
        finished.saturating_sub(policy.keep as u64)
    };
    // Unlocked first look, the common case: nothing is due.
    if let Some(meta) = store.meta() {
        if due(&store.index()?, &meta) == 0 {
            return Ok(Vec::new());
        }
    }
    store.with_lock(|tx| {
        let (Some(mut meta), index) = (tx.meta()?, tx.index()?) else {
            return Ok(Vec::new());
        };
        let mut excess = due(&index, &meta);
        let awaited = awaited(tx)?;
        let mut removed = Vec::new();
        let mut kept = Vec::new();
        let old_kept = std::mem::take(&mut meta.kept);
        let above = meta.pruned_through + 1..index.next_id;
        for id in old_kept.iter().copied().chain(above) {
            if excess == 0 {
                if id > meta.pruned_through {
                    break;
                }
                kept.push(id); // a straggler not reached this time
                continue;
            }
            let listed = index.active.contains(&id) || index.undelivered.contains(&id);
            match tx.job_opt(id) {
                Ok(Some(job))
                    if listed
                        || job.status.is_active()
                        || job.undelivered()
                        || awaited.contains(&id) =>
                {
                    kept.push(id);
                    // It was counted as finished only if not listed active.
                    if !index.active.contains(&id) {
                        excess -= 1;
                    }
                }
                Ok(Some(_)) => {
                    removed.push(id);
                    excess -= 1;
                }
                // Gone already, or corrupt (moved aside and reported): it
                // was counted, but is not a finished job to keep or remove.
                Ok(None) | Err(_) => excess -= 1,
            }
            meta.pruned_through = meta.pruned_through.max(id);
        }
        if removed.is_empty() && kept == old_kept {
            meta.kept = kept;
            return Ok(removed);
        }
        // Ids must stay unique even after a crash midway: the cursor is
        // raised (durably) before the records go.
        kept.sort_unstable();
        kept.dedup();
        meta.kept = kept;
        tx.write_meta(&meta)?;
        remove_records(store, &removed)?;
        Ok(removed)
    })
}
