//! `bgjobs cancel`: end jobs' whole process trees and record `cancelled`.

use std::path::PathBuf;

use crate::args::CancelArgs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::jobs::{self, active_jobs, cancel_many};
use crate::output;
use crate::output::say;

/// Entry point of `cancel`.
pub fn run(workspace: Option<PathBuf>, args: CancelArgs) -> Outcome {
    let grace = args.grace;
    let store = context::open_store(workspace)?;
    let ids = if args.all {
        jobs::ids(&active_jobs(&store, None)?)
    } else if let Some(session) = &args.session {
        jobs::ids(&active_jobs(&store, Some(session))?)
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
