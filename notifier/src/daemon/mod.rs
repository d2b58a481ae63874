//! The notifier daemon: one per state root, exclusive through a lock held for
//! its whole life. It sleeps on its socket; a job's end wakes it, it re-reads
//! the store, wakes subscribers, shows a desktop notification and records each
//! delivery on the job. With nothing to do for the idle period it exits.

mod connection;
mod delivery;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bgjobs_store::{fsio, Config, StateRoot, Store};
use interprocess::local_socket::traits::tokio::Listener as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};

use crate::endpoint::{notifier_dir, Endpoint};
use crate::protocol::Reply;

/// How often the daemon looks for dead workers while jobs are running.
const LIVENESS_SWEEP: Duration = Duration::from_secs(5);

/// How the daemon is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The state root it serves.
    pub root: StateRoot,
    /// Settings (idle timeout, desktop, coalescing window).
    pub config: Config,
    /// The command that shows one desktop notification (summary and body are
    /// appended), or `None` when they are off (config and `BGJOBS_DESKTOP`
    /// already applied).
    pub desktop: Option<Vec<std::ffi::OsString>>,
    /// Starts a store's queued jobs that are due (the CLI's launcher of
    /// workers), called by every sweep before it looks at the jobs.
    pub start_due: Option<fn(&Store)>,
}

/// How [`run`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// Another daemon holds the lock for this state root.
    AlreadyRunning,
    /// Idle for the idle period, or asked to shut down.
    Stopped,
}

/// `notifier/daemon.json`: who the daemon is, for `notifier stop` when it no
/// longer answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct DaemonRecord {
    /// Its identity.
    pub process: bgjobs_store::ProcessIdentity,
    /// Its endpoint.
    pub endpoint: String,
}

/// Run the daemon until it is idle or told to stop. Returns at once with
/// [`Exit::AlreadyRunning`] if another daemon serves this state root.
pub fn run(options: Options) -> io::Result<Exit> {
    let dir = notifier_dir(&options.root);
    options.root.ensure().map_err(io::Error::other)?;
    fsio::create_private_dir_all(&dir)?;
    let lock_path = dir.join("lock");
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    let mut lock = fd_lock::RwLock::new(fsio::open_private(&lock_path, &opts)?);
    let _guard = match lock.try_write() {
        Ok(guard) => guard,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Exit::AlreadyRunning),
        Err(e) => return Err(e),
    };
    let endpoint = Endpoint::for_root(&options.root)?;
    crate::endpoint::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(serve(options, &endpoint, &dir));
    drop(runtime);
    endpoint.cleanup();
    let _ = std::fs::remove_file(dir.join("daemon.json"));
    result.map(|()| Exit::Stopped)
}

/// State shared by the connection tasks.
pub(crate) struct Shared {
    pub options: Options,
    pub endpoint: String,
    pub started: Instant,
    pub shutdown: Notify,
    /// Signalled by reports and subscriptions: jobs are running.
    pub work: Notify,
    inner: Mutex<Inner>,
}

/// A `wait` (or hook) that asked to be told about jobs' ends.
pub(crate) struct Subscriber {
    pub workspace: PathBuf,
    pub ids: Vec<u64>,
    pub session: Option<String>,
    pub waiter: Option<String>,
    pub tx: mpsc::Sender<Reply>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub stores: HashMap<PathBuf, Store>,
    pub subscribers: HashMap<u64, Subscriber>,
    pub next_subscriber: u64,
    pub connections: usize,
    pub deliveries: u64,
    pub desktop_shown: u64,
    pub batch: Vec<bgjobs_store::Job>,
    pub last_activity: Option<Instant>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave it inconsistent in a
        // way that matters more than stopping would; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn touch(&self) {
        self.lock().last_activity = Some(Instant::now());
    }
}

async fn serve(options: Options, endpoint: &Endpoint, dir: &std::path::Path) -> io::Result<()> {
    let listener = endpoint.listener_options()?.create_tokio()?;
    if let Some(process) = bgjobs_store::ProcessIdentity::current() {
        let record = DaemonRecord {
            process,
            endpoint: endpoint.describe(),
        };
        let bytes = serde_json::to_vec_pretty(&record).map_err(io::Error::other)?;
        let _ = fsio::write_atomic(dir, "daemon.json", &bytes);
    }
    let idle = options.config.idle_timeout();
    let shared = Arc::new(Shared {
        options,
        endpoint: endpoint.describe(),
        started: Instant::now(),
        shutdown: Notify::new(),
        work: Notify::new(),
        inner: Mutex::new(Inner::default()),
    });
    shared.touch();
    // Sweeps run on the blocking pool and report back here, one at a time:
    // a teardown that takes seconds never stalls the connections.
    let (swept_tx, mut swept) = tokio::sync::mpsc::channel::<bool>(1);
    let sweep = |shared: &Arc<Shared>| {
        let (shared, tx) = (shared.clone(), swept_tx.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.blocking_send(delivery::sweep(&shared));
        });
    };
    // Deliver what a previous daemon left pending (or nobody reported).
    sweep(&shared);
    let mut sweeping = true;
    // With jobs running (or a delivery to retry), look again soon: a worker
    // killed outright never reports, and its job is found lost (and
    // delivered) only by looking. With none, sleep on the socket until the
    // idle period ends.
    let mut sweep_at: Option<Instant> = None;
    loop {
        let last = shared.lock().last_activity.unwrap_or_else(Instant::now);
        let wake = sweep_at.unwrap_or(last + idle);
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(stream) => {
                    let shared = shared.clone();
                    tokio::spawn(connection::serve(stream, shared));
                }
                Err(e) => {
                    eprintln!("bgjobs notifier: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            () = shared.shutdown.notified() => break,
            // A report or a subscription means work is under way: look soon
            // (but never later than already planned). A mere query does not.
            () = shared.work.notified() => {
                sweep_at.get_or_insert_with(|| Instant::now() + LIVENESS_SWEEP);
            }
            Some(again) = swept.recv() => {
                sweeping = false;
                // Keep a look asked for while this one ran (a report, a
                // subscription): it may be for a job this one did not see.
                if again {
                    sweep_at.get_or_insert_with(|| Instant::now() + LIVENESS_SWEEP);
                }
                let last = shared.lock().last_activity.unwrap_or_else(Instant::now);
                let connections = shared.lock().connections;
                if sweep_at.is_none() && connections == 0 && last.elapsed() >= idle {
                    break;
                }
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)), if !sweeping => {
                sweeping = true;
                sweep_at = None;
                sweep(&shared);
            }
        }
    }
    // Desktop notifications already claimed must not be lost by exiting
    // inside the coalescing window.
    delivery::flush_desktop(&shared);
    Ok(())
}
