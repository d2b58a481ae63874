//! `hook --rewake`, registered on Stop with `"asyncRewake": true`: while the
//! session is idle with jobs running, wait for the next end; then exit 2 with
//! a notice, which wakes the session. One waiter per session: a newer one
//! makes older copies exit 0 at once (Claude Code starts one per Stop).

use std::time::{Duration, Instant};

use bgjobs_store::{ProcessIdentity, Store};

use super::tell;
use crate::commands::wait::active_jobs;
use crate::failure::Outcome;
use crate::waker::{Interest, Waker};
use bgjobs::hook_event::Event;

/// Exit code that makes Claude Code wake the session with our stderr.
const EXIT_WAKE: i32 = 2;
/// Longest sleep between looks (also how soon a superseded waiter without a
/// notifier notices).
const TICK: Duration = Duration::from_secs(1);

/// Entry point for Stop with `--rewake`.
pub fn run(store: &Store, event: &Event, limit: Duration) -> Outcome {
    let session = event.session_id.as_str();
    let me = ProcessIdentity::current();
    store.update_session(session, |s| {
        s.waiter = me;
        if s.agent_process.is_none() {
            s.agent_process = super::agent_process();
        }
    })?;
    let deadline = Instant::now() + limit;
    let mut waker = Waker::subscribe(
        store,
        Interest {
            session: Some(session.to_string()),
            waiter: Some(format!("{}\n{session}", store.workspace().display())),
            ..Interest::default()
        },
    );
    loop {
        // Look at the active jobs first: that look marks a job whose worker
        // died as lost, which makes it one to tell right below; and a job
        // that ends between the two looks is still seen as active, so the
        // loop comes round for it.
        let active = active_jobs(store, Some(session))?;
        let ended = tell::claim_untold(store, session)?;
        if !ended.is_empty() {
            eprintln!("Notice, not an error: {}", tell::describe(&ended));
            return Ok(EXIT_WAKE);
        }
        if waker.superseded() || store.session(session)?.and_then(|s| s.waiter) != me {
            return Ok(0); // a newer waiter took over
        }
        if active.is_empty() || Instant::now() >= deadline {
            return Ok(0);
        }
        waker.sleep(TICK.min(deadline.saturating_duration_since(Instant::now())));
    }
}
