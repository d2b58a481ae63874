//! `bgjobs restart ID`: run a job again, as a new background job with the
//! same command, cwd, environment, title, key, timeout, queue and ready
//! pattern (not the jobs it came after), naming the old one in
//! `restarted_from`. The new job belongs to the caller's session. A job
//! still queued or running is cancelled first (whole tree, recorded), unless
//! `--no-cancel` says to refuse instead.

use std::path::PathBuf;

use bgjobs_store::{Created, NewJob};

use crate::args::RestartArgs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::jobs::cancel_one;

/// Reason recorded on a job cancelled to be restarted.
const REASON: &str = "restarted";

/// Entry point of `restart`.
pub fn run(workspace: Option<PathBuf>, args: RestartArgs) -> Outcome {
    let store = context::open_store(workspace)?;
    let old = store.get(args.id)?; // an unknown id is a usage error
    if old.status.is_active() {
        if args.no_cancel {
            return Err(Failure::usage(format!(
                "job {} is {}: cancel it first, or restart without --no-cancel",
                old.id, old.status
            )));
        }
        let cancelled = cancel_one(&store, old.id, args.grace, REASON)?;
        if let Some(error) = cancelled.kill_error {
            return Err(Failure::error(format!(
                "cannot stop job {} to restart it: {error}",
                old.id
            )));
        }
    }
    let new = NewJob {
        title: Some(old.title.clone()),
        command: old.command.to_vec(),
        cwd: old.cwd.clone(),
        background: true,
        agent_id: context::subagent(args.session.as_deref()),
        session_id: context::session(args.session),
        key: old.key.clone(),
        timeout_ms: old.timeout_ms,
        follow: false,
        env: old.env.clone(),
        restarted_from: Some(old.id),
        queue: old.queue.clone(),
        after: Vec::new(),
        ready_pattern: old.ready_pattern.clone(),
    };
    let job = match store.create(new)? {
        Created::New(job) if job.waiting => super::run::start_if_due(&store, job)?,
        Created::New(job) => super::run::start_background(&store, job)?,
        // Another caller restarted it (or started the key) meanwhile.
        Created::Existing(job) => job,
    };
    super::run::report(&job, args.json)?;
    Ok(0)
}
