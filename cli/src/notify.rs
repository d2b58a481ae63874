//! The CLI's side of the notifier: starting the daemon on demand for the
//! clients that need it (workers, `wait`, the Stop waiter), connecting, and
//! reporting a job's end.

use std::fs::OpenOptions;
use std::io;
use std::process::{Command, Stdio};

use bgjobs_notifier::endpoint::notifier_dir;
use bgjobs_notifier::{Client, Request};
use bgjobs_store::{fsio, StateRoot};

use crate::platform;

/// Start the daemon detached, its output appended to `notifier/daemon.log`.
/// Several clients may race to do this; the daemon's lock keeps one.
pub fn spawn_daemon(root: &StateRoot) -> io::Result<()> {
    let dir = notifier_dir(root);
    fsio::create_private_dir_all(&dir)?;
    let log = fsio::open_private(
        &dir.join("daemon.log"),
        OpenOptions::new().append(true).create(true),
    )?;
    let mut cmd = Command::new(std::env::current_exe()?);
    crate::context::pass_env(&mut cmd, root);
    cmd.args(["notifier", "run"])
        .current_dir(root.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    platform::spawn_detached(&mut cmd).map(drop)
}

/// Connect to the notifier, starting it if needed.
pub fn connect_or_start(root: &StateRoot) -> io::Result<Client> {
    Client::connect_or_start(root, &|| spawn_daemon(root))
}

/// What a report tells the notifier about a job.
#[derive(Clone, Copy)]
pub enum News {
    /// It ended.
    Finished,
    /// Its ready pattern matched.
    Ready,
    /// It waits for a slot or other jobs: keep looking until it starts.
    Queued,
}

/// Tell the notifier that job `id` ended, starting it first if `start`.
/// Best effort: a notifier that starts later finds the job pending in the
/// store. Interactive commands pass `start: false`: whoever waits has started
/// a notifier already, and they must not stall on one that cannot start.
pub fn report(store: &bgjobs_store::Store, id: u64, start: bool) {
    tell(store, id, News::Finished, start);
}

/// Tell the notifier `news` of job `id` (see [`report`]).
pub fn tell(store: &bgjobs_store::Store, id: u64, news: News, start: bool) {
    let root = store.root();
    let starter = || -> io::Result<()> {
        if start {
            spawn_daemon(root)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no notifier running",
            ))
        }
    };
    let workspace = store.workspace().to_path_buf();
    let (message, what) = match news {
        News::Finished => (Request::JobFinished { workspace, id }, "ended"),
        News::Ready => (Request::JobReady { workspace, id }, "is ready"),
        News::Queued => (Request::JobQueued { workspace, id }, "waits"),
    };
    match bgjobs_notifier::client::report(root, &message, &starter) {
        Err(e) if start || e.kind() != io::ErrorKind::NotConnected => {
            eprintln!("bgjobs: could not tell the notifier that job {id} {what}: {e}")
        }
        _ => {}
    }
}
