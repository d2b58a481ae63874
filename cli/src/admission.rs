//! Starting the queued jobs that are due (see `bgjobs_store::queue`): the
//! CLI's launcher for their workers, and the reports of those that ended
//! without starting. Called wherever a slot may have freed or a dependency
//! ended: by a worker after its job's end, by `run`, `cancel`, `status`,
//! `show` and `queue`, and by the notifier's sweep; never by `wait`, a
//! follower or the Stop waiter, which an agent may kill with every process
//! below them while they wait.

use std::cell::Cell;

use bgjobs_store::store::Locked;
use bgjobs_store::{Job, ProcessIdentity, Status, Store};

use crate::context;
use crate::notify;
use crate::platform;

/// Start every due job of `store`. The jobs that ended instead (skipped,
/// or whose worker could not start) are reported to the notifier, started
/// if `start_notifier`. A store that cannot be written is a warning: the
/// caller's own work (a listing, a cancel, a job just recorded) stands, and
/// the next look starts what is due.
pub fn start_due(store: &Store, start_notifier: bool) {
    match store.start_due(&launch) {
        Ok(admitted) => {
            for job in &admitted.ended {
                notify::report(store, job.id, start_notifier);
            }
        }
        Err(e) => eprintln!("bgjobs: warning: cannot start the queued jobs that are due: {e}"),
    }
}

/// [`start_due`] from a detached worker whose job just ended: the first due
/// job becomes this process's own next job (no worker to start, so it starts
/// sooner), returned as recorded; the rest get workers of their own. A job
/// recorded as this process's is returned even when admitting a later one
/// failed, so that it is never left to be found lost.
pub fn start_due_here(store: &Store) -> Option<Job> {
    if store.waiting_ids().is_ok_and(|ids| ids.is_empty()) {
        return None;
    }
    let successors = store
        .with_lock(|tx| Ok(admit(tx, Starter::Here)))
        .unwrap_or_else(|e| {
            eprintln!("bgjobs: warning: cannot start the queued jobs that are due: {e}");
            Successors::default()
        });
    successors.report(store, true)
}

/// Who starts the jobs that [`admit`] lets start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starter {
    /// Each gets a detached worker of its own.
    Workers,
    /// The first becomes the calling process's next job (a detached worker
    /// whose job just ended); the rest get workers of their own.
    Here,
}

/// What [`admit`] did: the jobs that ended without starting, to report once
/// the lock is let go, and the job this process runs next.
#[derive(Debug, Default)]
pub struct Successors {
    ended: Vec<Job>,
    here: Option<Job>,
}

impl Successors {
    /// Report the jobs that ended without starting (starting the notifier
    /// if `start_notifier`); the job this process runs next, if any.
    pub fn report(self, store: &Store, start_notifier: bool) -> Option<Job> {
        for job in &self.ended {
            notify::report(store, job.id, start_notifier);
        }
        self.here
    }
}

/// Start the due jobs of `tx`'s store, the lock held: a worker that records
/// its job's end admits the jobs it lets start in the same hold of the
/// lock, and so the next one starts sooner. A store that cannot be written
/// is a warning, as in [`start_due`].
pub fn admit(tx: &Locked<'_>, starter: Starter) -> Successors {
    let here = Cell::new(None);
    let launch_or_take = |store: &Store, id: u64| -> std::io::Result<u32> {
        if starter == Starter::Here && here.get().is_none() {
            here.set(Some(id));
            return Ok(std::process::id());
        }
        launch(store, id)
    };
    let ended = match tx.start_due(&launch_or_take) {
        Ok(admitted) => admitted.ended,
        Err(e) => {
            eprintln!("bgjobs: warning: cannot start the queued jobs that are due: {e}");
            Vec::new()
        }
    };
    let me = ProcessIdentity::current();
    let here = here
        .get()
        .and_then(|id| tx.job(id).ok())
        .filter(|job| job.status == Status::Queued && !job.waiting && job.worker == me);
    Successors { ended, here }
}

/// [`start_due`] for the notifier's sweep, which reports nothing: its own
/// sweep delivers the ends right after. Errors are the sweep's to log.
pub fn start_due_in_sweep(store: &Store) {
    if let Err(e) = store.start_due(&launch) {
        eprintln!(
            "bgjobs notifier: cannot start the queued jobs of {}: {e}",
            store.workspace().display()
        );
    }
}

/// Start `bgjobs worker ID`, detached; a thread reaps it so that a
/// long-lived launcher (the notifier) never keeps a zombie that would look
/// alive.
fn launch(store: &Store, id: u64) -> std::io::Result<u32> {
    let mut cmd = context::bgjobs(store, &["worker", &id.to_string(), "--admitted"])
        .map_err(|f| std::io::Error::other(f.message))?;
    let mut child = platform::spawn_detached(&mut cmd)?;
    let pid = child.id();
    std::thread::spawn(move || child.wait());
    Ok(pid)
}
