//! `hook --rewake`, registered on Stop with `"asyncRewake": true`: while the
//! session is idle with jobs running, wait for the next end; then exit 2 with
//! a notice, which wakes the session. One waiter per session: a newer one
//! makes older copies exit 0 at once (Claude Code starts one per Stop).
//!
//! The waiter holds nothing back and tells nobody by mistake: in a session
//! nobody attends (`claude -p`, which waits for this hook before it exits) it
//! returns at once, leaving the end to the next resume; and when its Claude
//! Code process is gone (killed, crashed) it stands down without marking
//! anything told.

use std::time::{Duration, Instant};

use bgjobs_store::{ProcessIdentity, Store};

use super::tell;
use crate::exit;
use crate::failure::Outcome;
use crate::jobs::active_jobs;
use crate::waker::{Interest, Waker};
use bgjobs::hook_event::Event;

/// Longest sleep between looks: how soon the waiter notices that its Claude
/// Code process is gone, or (without a notifier) that it was superseded.
const TICK: Duration = Duration::from_millis(250);

/// Entry point for Stop with `--rewake`.
pub fn run(store: &Store, event: &Event, limit: Duration) -> Outcome {
    if super::unattended() {
        return Ok(0);
    }
    let session = event.session_id.as_str();
    let me = ProcessIdentity::current();
    let agent = super::agent_process();
    store.update_session(session, |s| {
        s.waiter = me;
        if s.agent_process.is_none() {
            s.agent_process = agent;
        }
    })?;
    let listening = || agent.is_none_or(|a| a.is_alive());
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
        if !listening() {
            return Ok(0); // nobody left to wake; the next prompt or resume tells
        }
        // Look at the active jobs first: that look marks a job whose worker
        // died as lost, which makes it one to tell right below; and a job
        // that ends between the two looks is still seen as active, so the
        // loop comes round for it.
        let active = active_jobs(store, Some(session))?;
        let ended = tell::claim_untold(store, session)?;
        if !ended.is_empty() {
            if !listening() {
                tell::unclaim(store, &ended)?;
                return Ok(0);
            }
            eprintln!("Notice, not an error: {}", tell::describe(&ended));
            return Ok(exit::WAKE);
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
