//! Starting the queued jobs that are due (see `bgjobs_store::queue`): the
//! CLI's launcher for their workers, and the reports of those that ended
//! without starting. Called wherever a slot may have freed or a dependency
//! ended: by a worker after its job's end, by `run`, `cancel`, `status`,
//! `show` and `queue`, and by the notifier's sweep; never by `wait`, a
//! follower or the Stop waiter, which an agent may kill with every process
//! below them while they wait.

use std::cell::Cell;

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
    let here = Cell::new(None);
    let launch_or_take = |store: &Store, id: u64| -> std::io::Result<u32> {
        if here.get().is_none() {
            here.set(Some(id));
            return Ok(std::process::id());
        }
        launch(store, id)
    };
    match store.start_due(&launch_or_take) {
        Ok(admitted) => {
            for job in &admitted.ended {
                notify::report(store, job.id, true);
            }
        }
        Err(e) => eprintln!("bgjobs: warning: cannot start the queued jobs that are due: {e}"),
    }
    let me = ProcessIdentity::current();
    let job = store.get(here.get()?).ok()?;
    (job.status == Status::Queued && !job.waiting && job.worker == me).then_some(job)
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
