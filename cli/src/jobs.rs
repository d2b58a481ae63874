//! What several commands and hooks do with jobs: list the active ones and
//! cancel them (the whole tree, always recorded).

use std::time::Duration;

use bgjobs_store::tree::{self, Ended};
use bgjobs_store::{Job, Status, Store};

use crate::failure::Failure;

/// The workspace's queued and running jobs (of `session` when given), as
/// they are now (a job whose worker is gone is recorded lost and left out).
pub fn active_jobs(store: &Store, session: Option<&str>) -> Result<Vec<Job>, Failure> {
    still_active(store, store.active_ids()?, session)
}

/// The active foreground jobs of `session`: only the records the index names
/// as such are read.
pub fn foreground_jobs(store: &Store, session: &str) -> Result<Vec<Job>, Failure> {
    let mut jobs = still_active(store, store.foreground_ids(session)?, Some(session))?;
    jobs.retain(|job| !job.background);
    Ok(jobs)
}

/// Those of `ids` (the index's word, a superset) whose record says they are
/// active, of `session` when given.
fn still_active(store: &Store, ids: Vec<u64>, session: Option<&str>) -> Result<Vec<Job>, Failure> {
    let mut jobs = Vec::new();
    for id in ids {
        match store.get(id) {
            Ok(job)
                if job.status.is_active()
                    && (session.is_none() || job.session_id.as_deref() == session) =>
            {
                jobs.push(job)
            }
            Ok(_) | Err(bgjobs_store::Error::UnknownJob(_)) => {}
            // Moved aside and reported; it must not stop the others.
            Err(e @ bgjobs_store::Error::Corrupt { .. }) => eprintln!("bgjobs: warning: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(jobs)
}

/// Their ids.
pub fn ids(jobs: &[Job]) -> Vec<u64> {
    jobs.iter().map(|j| j.id).collect()
}

/// How one cancel went.
pub struct Cancelled {
    /// The record afterwards.
    pub job: Job,
    /// Whether it was active (and so is now cancelled).
    pub was_active: bool,
    /// Set when the OS refused to end the tree.
    pub kill_error: Option<String>,
}

/// Cancel `ids` concurrently (each may spend a grace period); then start
/// what their ends let start (or skip what came after them).
pub fn cancel_many(
    store: &Store,
    ids: &[u64],
    grace: Duration,
    reason: &str,
) -> Result<Vec<Cancelled>, Failure> {
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .iter()
            .map(|&id| scope.spawn(move || cancel_one(store, id, grace, reason)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Failure::error("a cancel thread panicked")))
            })
            .collect::<Result<Vec<_>, Failure>>()
    })?;
    crate::admission::start_due(store, false);
    Ok(results)
}

/// Cancel one job: mark the request (so the worker records `cancelled`, not
/// the signal's exit), end the tree, then record `cancelled` whatever the
/// outcome of the kill was.
pub fn cancel_one(
    store: &Store,
    id: u64,
    grace: Duration,
    reason: &str,
) -> Result<Cancelled, Failure> {
    let job = store.get(id)?;
    if !job.status.is_active() {
        return Ok(Cancelled {
            job,
            was_active: false,
            kill_error: None,
        });
    }
    let job = store.update(id, |j| {
        if j.status.is_active() && j.cancel_requested.is_none() {
            j.cancel_requested = Some(reason.to_string());
        }
    })?;
    let ended = match &job.process {
        Some(process) => tree::terminate(process, &store.tree_name(id), grace),
        None => Ended::NotRunning,
    };
    let kill_error = match ended {
        Ended::Failed(e) => Some(e),
        _ => None,
    };
    let note = match &kill_error {
        Some(e) => format!("{reason}; ending its processes failed: {e}"),
        None => reason.to_string(),
    };
    let mut recorded = false;
    let job = store.update(id, |j| {
        recorded = j.finish(Status::Cancelled, Some(note));
    })?;
    if recorded {
        // No worker recorded this end (none had started, or it is gone).
        crate::notify::report(store, id, false);
    }
    Ok(Cancelled {
        was_active: true,
        job,
        kill_error,
    })
}
