//! `bgjobs cancel`: end jobs' whole process trees and record `cancelled`.

use std::path::PathBuf;
use std::time::Duration;

use bgjobs_store::tree::{self, Ended};
use bgjobs_store::{Job, Status, Store};

use crate::args::CancelArgs;
use crate::commands::wait::active_jobs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::output;
use crate::output::say;

/// How one cancel went.
pub struct Cancelled {
    /// The record afterwards.
    pub job: Job,
    /// Whether it was active (and so is now cancelled).
    pub was_active: bool,
    /// Set when the OS refused to end the tree.
    pub kill_error: Option<String>,
}

/// Entry point of `cancel`.
pub fn run(workspace: Option<PathBuf>, args: CancelArgs) -> Outcome {
    let grace = args.grace;
    let store = context::open_store(workspace)?;
    let ids = if args.all {
        active_jobs(&store, None)?
    } else if let Some(session) = &args.session {
        active_jobs(&store, Some(session))?
    } else {
        for &id in &args.ids {
            store.get(id)?; // unknown ids fail before anything is cancelled
        }
        args.ids
    };
    let results = cancel_many(&store, &ids, grace, "cancelled by bgjobs cancel")?;
    if args.json {
        output::json(&results.iter().map(|r| &r.job).collect::<Vec<_>>())?;
    } else {
        for r in &results {
            if r.was_active {
                say!("cancelled job {}: {}", r.job.id, r.job.title)?;
            } else {
                say!("job {} had already ended: {}", r.job.id, r.job.outcome())?;
            }
        }
    }
    match results.iter().find_map(|r| r.kill_error.as_ref()) {
        Some(e) => Err(Failure::error(format!(
            "recorded as cancelled, but ending its processes failed: {e}"
        ))),
        None => Ok(0),
    }
}

/// Cancel `ids` concurrently (each may spend a grace period).
pub fn cancel_many(
    store: &Store,
    ids: &[u64],
    grace: Duration,
    reason: &str,
) -> Result<Vec<Cancelled>, Failure> {
    std::thread::scope(|scope| {
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
            .collect()
    })
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
        crate::commands::notifier::report(store, id, false);
    }
    Ok(Cancelled {
        was_active: true,
        job,
        kill_error,
    })
}
