//! SessionEnd: mark the session ended and stop its foreground jobs; leave its
//! background jobs alone. Claude Code gives all SessionEnd hooks 1.5 s, so the
//! hook only records and signals; the grace period, the forced kill and the
//! broker clean-up happen in a detached `bgjobs reap-session`.

use std::path::PathBuf;
use std::time::Duration;

use bgjobs_store::time::Timestamp;
use bgjobs_store::{tree, Store};

use crate::context;
use crate::failure::{Failure, Outcome};
use crate::jobs::{cancel_many, foreground_jobs};
use crate::platform;
use bgjobs::hook_event::Event;

/// Reason recorded on foreground jobs cancelled at a session's end.
const REASON: &str = "session ended";
/// Grace the detached reaper gives foreground trees before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Entry point for SessionEnd.
pub fn run(store: &Store, event: &Event) -> Outcome {
    let session = &event.session_id;
    store.update_session(session, |s| {
        s.ended_at = Some(Timestamp::now());
        s.end_reason = event.reason.clone();
    })?;
    let mut foreground = Vec::new();
    for job in foreground_jobs(store, session)? {
        let job = store.update(job.id, |j| {
            if j.status.is_active() && !j.background && j.cancel_requested.is_none() {
                j.cancel_requested = Some(REASON.into());
            }
        })?;
        if job.background || !job.status.is_active() {
            continue;
        }
        if let Some(process) = &job.process {
            tree::request_stop(process, &store.tree_name(job.id));
        }
        foreground.push(job.id);
    }
    if !foreground.is_empty() || store.broker()?.is_some() {
        spawn_reaper(store, session, &foreground)?;
    }
    Ok(0)
}

fn spawn_reaper(store: &Store, session: &str, ids: &[u64]) -> Result<(), Failure> {
    let mut args = vec!["reap-session".to_string(), session.to_string()];
    args.extend(ids.iter().map(u64::to_string));
    let mut cmd = context::bgjobs(store, &args)?;
    platform::spawn_detached(&mut cmd)
        .map(drop)
        .map_err(|e| Failure::error(format!("cannot start the session reaper: {e}")))
}

/// Entry point of the hidden `reap-session`: end the session's foreground
/// trees (grace, then force; recorded `cancelled`), then tear the broker down
/// if nothing holds it any more.
pub fn reap(workspace: Option<PathBuf>, _session: &str, ids: &[u64]) -> Outcome {
    let store = context::open_store(workspace)?;
    cancel_many(&store, ids, GRACE, REASON)?;
    store.teardown_broker(false)?;
    Ok(0)
}
