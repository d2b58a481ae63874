//! The workspace's broker: a helper process that jobs share (Codex's
//! app-server is one). Recorded in `broker.json` with its identity; torn down
//! exactly once, by whoever finds it no longer held by any live session or
//! active job, or on request.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::command::CommandLine;
use crate::error::{Error, Result};
use crate::identity::ProcessIdentity;
use crate::job::SCHEMA_VERSION;
use crate::record::{self, Read};
use crate::store::{Locked, Store};
use crate::time::Timestamp;
use crate::tree::{self, Ended};

/// How long a broker's shutdown command may run.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);
/// Time the broker's processes get between the polite and the forced end.
pub const KILL_GRACE: Duration = Duration::from_millis(300);

/// `broker.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broker {
    /// Schema version.
    pub v: u32,
    /// The broker process.
    pub process: ProcessIdentity,
    /// `unix:PATH` (a socket file removed at teardown) or `pipe:NAME`.
    pub endpoint: Option<String>,
    /// A directory the broker owns, removed at teardown.
    pub dir: Option<String>,
    /// Run first at teardown, with [`SHUTDOWN_TIMEOUT`].
    pub shutdown_cmd: Option<CommandLine>,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// A teardown in progress, by this process.
    #[serde(default)]
    pub teardown_by: Option<ProcessIdentity>,
}

/// What a teardown did, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct Teardown {
    /// The broker torn down.
    pub broker: Broker,
    /// How the shutdown command went (`none`, `exited 0`, `timed out`...).
    pub shutdown: String,
    /// Whether its processes had to be ended, and how.
    pub process: String,
    /// Files and directories removed.
    pub removed: Vec<String>,
}

impl Broker {
    /// A broker to register: `pid` must be a running process.
    pub fn new(
        pid: u32,
        endpoint: Option<String>,
        dir: Option<PathBuf>,
        shutdown_cmd: Option<Vec<String>>,
    ) -> Result<Self> {
        let shutdown_cmd =
            match shutdown_cmd {
                Some(words) => Some(CommandLine::new(words).ok_or_else(|| {
                    Error::Invalid("the broker's shutdown command is empty".into())
                })?),
                None => None,
            };
        let process = ProcessIdentity::of(pid)
            .ok_or_else(|| Error::Invalid(format!("no running process {pid}")))?;
        if let Some(endpoint) = &endpoint {
            if !(endpoint.starts_with("unix:") || endpoint.starts_with("pipe:")) {
                return Err(Error::Invalid(format!(
                    "broker endpoint {endpoint:?}: expected unix:PATH or pipe:NAME"
                )));
            }
        }
        let dir = match dir {
            Some(dir) => {
                let dir = std::fs::canonicalize(&dir).map_err(|e| {
                    Error::Invalid(format!("broker directory {}: {e}", dir.display()))
                })?;
                let home = directories::BaseDirs::new()
                    .and_then(|d| std::fs::canonicalize(d.home_dir()).ok());
                if dir.parent().is_none() || Some(&dir) == home.as_ref() {
                    return Err(Error::Invalid(format!(
                        "broker directory {}: refusing a directory this broad",
                        dir.display()
                    )));
                }
                Some(dir.to_string_lossy().into_owned())
            }
            None => None,
        };
        Ok(Self {
            v: SCHEMA_VERSION,
            process,
            endpoint,
            dir,
            shutdown_cmd,
            registered_at: Timestamp::now(),
            teardown_by: None,
        })
    }
}

const FILE: &str = "broker.json";

/// Whether a live session or an active job holds the broker, under the lock
/// (a job whose worker is gone is recorded lost first, and holds nothing).
fn held(tx: &Locked<'_>) -> Result<bool> {
    for id in tx.index()?.active {
        if let Some(job) = tx.job_opt(id)? {
            if tx.reconciled(job)?.status.is_active() {
                return Ok(true);
            }
        }
    }
    Ok(tx.store().sessions()?.iter().any(|s| s.is_live()))
}

impl Store {
    /// The registered broker, if any.
    pub fn broker(&self) -> Result<Option<Broker>> {
        let path = self.dir().join(FILE);
        match record::read::<Broker>(&path)? {
            Read::Found(b) => Ok(Some(b)),
            Read::Missing => Ok(None),
            Read::Corrupt(detail) => self.with_lock(|_| Err(record::quarantine(&path, detail))),
        }
    }

    /// Record `broker` as the workspace's broker (replacing any other record).
    /// Its directory, removed at teardown, must not hold the workspace or the
    /// state root.
    pub fn register_broker(&self, broker: &Broker) -> Result<()> {
        if let Some(problem) = broker
            .dir
            .as_deref()
            .and_then(|d| self.unsafe_to_remove(Path::new(d)))
        {
            return Err(Error::Invalid(format!(
                "broker directory {}: {problem}",
                broker.dir.as_deref().unwrap_or_default()
            )));
        }
        self.with_lock(|_| record::write(self.dir(), FILE, broker))
    }

    /// Why `dir` must never be removed, if it must not: it is, or contains,
    /// the workspace or the state root.
    fn unsafe_to_remove(&self, dir: &Path) -> Option<String> {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let root = std::fs::canonicalize(self.root().path())
            .unwrap_or_else(|_| self.root().path().to_path_buf());
        if self.workspace().starts_with(&dir) {
            Some(format!(
                "it holds the workspace {}",
                self.workspace().display()
            ))
        } else if root.starts_with(&dir) {
            Some(format!("it holds the bgjobs state root {}", root.display()))
        } else {
            None
        }
    }

    /// Whether anything still needs the broker: a live session or an active job.
    pub fn broker_held(&self) -> Result<bool> {
        self.with_lock(held)
    }

    /// Tear the broker down if nothing holds it any more (`force`: even if
    /// something does). Exactly once: the first caller claims the record under
    /// the lock; others see the claim and do nothing.
    pub fn teardown_broker(&self, force: bool) -> Result<Option<Teardown>> {
        if !self.dir().join(FILE).exists() {
            return Ok(None); // the common case, and cheap
        }
        let me = ProcessIdentity::current();
        // Checked and claimed under one lock: a `run -b` that lands between a
        // look and the claim would otherwise lose the broker it needs.
        let claimed = self.with_lock(|tx| {
            if !force && held(tx)? {
                return Ok(None);
            }
            let path = self.dir().join(FILE);
            let Read::Found(mut broker) = record::read::<Broker>(&path)? else {
                return Ok(None);
            };
            if broker
                .teardown_by
                .is_some_and(|p| p.is_alive() && Some(p) != me)
            {
                return Ok(None);
            }
            broker.teardown_by = me;
            record::write(self.dir(), FILE, &broker)?;
            Ok(Some(broker))
        })?;
        let Some(broker) = claimed else {
            return Ok(None);
        };
        let shutdown = run_shutdown(&broker);
        let process = match tree::terminate_process_tree(&broker.process, KILL_GRACE) {
            Ended::NotRunning => "already gone".to_string(),
            Ended::Stopped => "stopped".to_string(),
            Ended::Killed => "killed".to_string(),
            Ended::Failed(e) => format!("could not be ended: {e}"),
        };
        let mut removed = Vec::new();
        if let Some(path) = broker
            .endpoint
            .as_deref()
            .and_then(|e| e.strip_prefix("unix:"))
        {
            if std::fs::remove_file(path).is_ok() {
                removed.push(path.to_string());
            }
        }
        if let Some(dir) = &broker.dir {
            // Checked again: the record may not have come through `register`.
            if self.unsafe_to_remove(Path::new(dir)).is_none()
                && std::fs::remove_dir_all(dir).is_ok()
            {
                removed.push(dir.clone());
            }
        }
        self.with_lock(|_| {
            let path = self.dir().join(FILE);
            if matches!(record::read::<Broker>(&path)?, Read::Found(b) if b.process == broker.process) {
                std::fs::remove_file(&path).map_err(|e| Error::Io {
                    action: "cannot remove",
                    path: path.clone(),
                    source: e,
                })?;
            }
            Ok(())
        })?;
        Ok(Some(Teardown {
            broker,
            shutdown,
            process,
            removed,
        }))
    }
}

/// Run the broker's shutdown command, ending its tree if it outlives
/// [`SHUTDOWN_TIMEOUT`]: a hung broker never makes a teardown hang.
fn run_shutdown(broker: &Broker) -> String {
    let Some(cmd) = &broker.shutdown_cmd else {
        return "none".into();
    };
    if !broker.process.is_alive() {
        return "skipped: the broker was already gone".into();
    }
    let mut command = Command::new(cmd.program());
    command
        .args(cmd.args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = &broker.dir {
        if Path::new(dir).is_dir() {
            command.current_dir(dir);
        }
    }
    let name = format!("bgjobs-broker-shutdown-{}", std::process::id());
    let (mut child, group) = match tree::spawn(&mut command, &name) {
        Ok(spawned) => spawned,
        Err(e) => return format!("could not start: {e}"),
    };
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return format!("exited ({status})"),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                group.terminate(Duration::ZERO);
                let _ = child.wait();
                return format!(
                    "timed out after {}ms and was ended",
                    SHUTDOWN_TIMEOUT.as_millis()
                );
            }
        }
    }
}
