//! The locked per-workspace store: job records, the id counter and the index
//! of active jobs, all written under one lock, read without one.
//!
//! Layout under `workspaces/<slug>-<hash>/`:
//! `workspace.json` (the workspace path, the highest pruned id), `index.json`
//! (the next id and the ids of jobs that may be active), `jobs/<id>.json`,
//! `logs/<id>.log`, `sessions/`, `lock`.
//!
//! `index.json` is what keeps `status` fast with thousands of finished jobs:
//! it is always a superset of the active jobs (an id is added before its
//! record is written and removed after its record turns final), so a listing
//! reads the active records plus the newest finished ones, not every file.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::command::CommandLine;
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::fsio;
use crate::identity::ProcessIdentity;
use crate::job::{default_title, Job, NewJob, Status, MAX_TITLE, SCHEMA_VERSION};
use crate::record::{self, Read};
use crate::root::StateRoot;
use crate::time::Timestamp;
use crate::tree;
use crate::workspace;

/// `workspace.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkspaceMeta {
    pub v: u32,
    pub path: String,
    /// Highest id ever pruned, so that ids are never reused even if
    /// `index.json` has to be rebuilt after every record was pruned.
    #[serde(default)]
    pub pruned_through: u64,
}

/// Whether [`Locked::reindex`] adds entries or removes them.
#[derive(Debug, Clone, Copy)]
enum Change {
    Add,
    Remove,
}

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Index {
    pub v: u32,
    pub next_id: u64,
    pub active: Vec<u64>,
    /// Final jobs whose end the notifier has not handled yet.
    #[serde(default)]
    pub undelivered: Vec<u64>,
    /// Final jobs whose owning session has not been told of their end, with
    /// that session, so a hook finds its own without reading other records.
    #[serde(default)]
    pub untold: Vec<Untold>,
}

/// An entry of the index's `untold` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Untold {
    pub id: u64,
    pub session: String,
}

/// Something a listing could not read, reported beside the jobs.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    /// The file concerned.
    pub path: String,
    /// What is wrong with it, in words.
    pub message: String,
}

/// What [`Store::list`] returns.
#[derive(Debug, Default)]
pub struct Listing {
    /// Jobs, newest first.
    pub jobs: Vec<Job>,
    /// Records that could not be read.
    pub warnings: Vec<Warning>,
}

/// Which jobs [`Store::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Every finished job, not only the newest ones.
    pub all: bool,
    /// Only this session's jobs.
    pub session: Option<String>,
}

/// How many finished jobs a default listing shows.
pub const RECENT_FINISHED: usize = 20;

/// The result of [`Store::create`].
#[derive(Debug)]
pub enum Created {
    /// A new job was recorded as queued.
    New(Job),
    /// An active job with the same key exists; nothing was recorded.
    Existing(Job),
}

/// One workspace's store.
#[derive(Debug, Clone)]
pub struct Store {
    root: StateRoot,
    workspace: PathBuf,
    dir: PathBuf,
    jobs: PathBuf,
    logs: PathBuf,
    config: Config,
}

impl Store {
    /// Open the store of `workspace` (a canonical path) under `root`, creating
    /// its directories on first use.
    pub fn open(root: &StateRoot, workspace: PathBuf, config: Config) -> Result<Self> {
        let dir = root.workspaces_dir().join(workspace::dir_name(&workspace));
        let store = Self {
            root: root.clone(),
            jobs: dir.join("jobs"),
            logs: dir.join("logs"),
            dir,
            workspace,
            config,
        };
        if !store.jobs.is_dir() {
            store.init()?;
        }
        Ok(store)
    }

    fn init(&self) -> Result<()> {
        self.root.ensure()?;
        for d in [&self.dir, &self.jobs, &self.logs, &self.sessions_dir()] {
            fsio::create_private_dir_all(d).at("cannot create", d)?;
        }
        self.with_lock(|_| {
            let meta = self.dir.join("workspace.json");
            if !meta.exists() {
                let meta = WorkspaceMeta {
                    v: SCHEMA_VERSION,
                    path: self.workspace.to_string_lossy().into_owned(),
                    pruned_through: 0,
                };
                record::write(&self.dir, "workspace.json", &meta)?;
            }
            Ok(())
        })
    }

    /// The state root this store lives under.
    pub fn root(&self) -> &StateRoot {
        &self.root
    }

    /// The workspace this store belongs to.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The store's directory (`workspaces/<slug>-<hash>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `sessions/`.
    pub fn sessions_dir(&self) -> PathBuf {
        self.dir.join("sessions")
    }

    /// The settings this store was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The log file of job `id`.
    pub fn log_path(&self, id: u64) -> PathBuf {
        self.logs.join(format!("{id}.log"))
    }

    /// A name for job `id`'s process tree that is unique on this machine (the
    /// Windows Job Object is opened by it).
    pub fn tree_name(&self, id: u64) -> String {
        format!(
            "bgjobs-{:016x}-{id}",
            workspace::fnv1a(self.dir.to_string_lossy().as_bytes())
        )
    }

    /// Run `f` holding the workspace's exclusive lock.
    pub fn with_lock<T>(&self, f: impl FnOnce(&Locked<'_>) -> Result<T>) -> Result<T> {
        let path = self.dir.join("lock");
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        let file = fsio::open_private(&path, &opts).at("cannot open", &path)?;
        let mut lock = fd_lock::RwLock::new(file);
        let _guard = lock.write().at("cannot lock", &path)?;
        f(&Locked { store: self })
    }

    /// Record a new job as `queued`, owned for now by the calling process; or,
    /// when `new.key` matches an active job, return that job instead.
    pub fn create(&self, new: NewJob) -> Result<Created> {
        let Some(command) = CommandLine::new(new.command) else {
            return Err(Error::Invalid("no command given".into()));
        };
        if new
            .title
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TITLE)
        {
            return Err(Error::Invalid(format!(
                "--title: longer than {MAX_TITLE} characters"
            )));
        }
        let creator = ProcessIdentity::current();
        self.with_lock(|tx| {
            let mut index = tx.index()?;
            if let Some(key) = &new.key {
                for &id in &index.active {
                    if let Some(job) = tx.job_opt(id)? {
                        let job = tx.reconciled(job)?;
                        if job.status.is_active() && job.key.as_ref() == Some(key) {
                            return Ok(Created::Existing(job));
                        }
                    }
                }
                index = tx.index()?;
            }
            let id = index.next_id;
            index.next_id += 1;
            index.active.push(id);
            tx.write_index(&index)?;
            let job = Job {
                v: SCHEMA_VERSION,
                id,
                title: new.title.unwrap_or_else(|| default_title(&command)),
                command,
                cwd: new.cwd,
                background: new.background,
                session_id: new.session_id,
                agent_id: new.agent_id,
                key: new.key,
                status: Status::Queued,
                exit_code: None,
                signal: None,
                reason: None,
                created_at: Timestamp::now(),
                started_at: None,
                finished_at: None,
                pid: None,
                log_path: self.log_path(id).to_string_lossy().into_owned(),
                output_tail: String::new(),
                timeout_ms: new.timeout_ms,
                worker: creator,
                process: None,
                cancel_requested: None,
                deliveries: Default::default(),
                follower: if new.follow { creator } else { None },
            };
            tx.write_job(&job)?;
            Ok(Created::New(job))
        })
    }

    /// Open the store of `workspace` only if it already exists (a peer naming
    /// a workspace must not make one appear).
    pub fn open_existing(
        root: &StateRoot,
        workspace: PathBuf,
        config: Config,
    ) -> Result<Option<Self>> {
        let dir = root.workspaces_dir().join(workspace::dir_name(&workspace));
        if !dir.join("jobs").is_dir() {
            return Ok(None);
        }
        Self::open(root, workspace, config).map(Some)
    }

    /// Every existing workspace store under `root`.
    pub fn all(root: &StateRoot, config: &Config) -> Result<Vec<Self>> {
        let dir = root.workspaces_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at("cannot read", &dir),
        };
        let mut stores = Vec::new();
        for entry in entries.flatten() {
            let meta = entry.path().join("workspace.json");
            if let Ok(Read::Found(meta)) = record::read::<WorkspaceMeta>(&meta) {
                if let Some(store) =
                    Self::open_existing(root, PathBuf::from(meta.path), config.clone())?
                {
                    stores.push(store);
                }
            }
        }
        Ok(stores)
    }

    /// Final jobs of `session` that it has not been told of (a superset).
    pub fn untold_ids(&self, session: &str) -> Result<Vec<u64>> {
        Ok(self
            .index()?
            .untold
            .into_iter()
            .filter(|u| u.session == session)
            .map(|u| u.id)
            .collect())
    }

    /// Final jobs whose end the notifier has not handled (a superset).
    pub fn undelivered_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.undelivered)
    }

    /// Change job `id` under the lock. `f` edits the record; it is written only
    /// if it changed. A job that turns final leaves the active index.
    pub fn update(&self, id: u64, f: impl FnOnce(&mut Job)) -> Result<Job> {
        self.with_lock(|tx| {
            let job = tx.job(id)?;
            tx.apply(job, f)
        })
    }

    /// Like [`Store::update`], for facts that a crash of the machine makes
    /// void anyway — which process owns an active job, its pid and start —
    /// written atomically but without fsync (they sit on the path of
    /// `run -b`). A change that makes the job final is still written durably.
    pub fn update_ownership(&self, id: u64, f: impl FnOnce(&mut Job)) -> Result<Job> {
        self.with_lock(|tx| {
            let job = tx.job(id)?;
            let mut updated = job.clone();
            f(&mut updated);
            if updated.status.is_active() != job.status.is_active()
                || updated.deliveries != job.deliveries
            {
                return tx.apply(job, |j| *j = updated);
            }
            if updated != job {
                let name = format!("{}.json", id);
                record::write_with(&self.jobs, &name, &updated, fsio::Durability::Volatile)?;
            }
            Ok(updated)
        })
    }

    /// Read job `id`, marking it `lost` first if its worker is gone.
    pub fn get(&self, id: u64) -> Result<Job> {
        match record::read::<Job>(&self.job_path(id))? {
            Read::Found(job) if job.id == id => self.reconcile(job),
            Read::Found(_) => self.with_lock(|tx| tx.job(id)),
            Read::Missing => Err(self.missing(id)),
            Read::Corrupt(_) => self.with_lock(|tx| tx.job(id)),
        }
    }

    /// Why job `id` has no record: never existed, or moved aside as corrupt.
    fn missing(&self, id: u64) -> Error {
        let prefix = format!("{id}.json.corrupt-");
        let aside = std::fs::read_dir(&self.jobs).ok().and_then(|entries| {
            entries
                .flatten()
                .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        });
        match aside {
            Some(entry) => Error::Corrupt {
                path: self.job_path(id),
                moved_to: entry.path(),
                detail: "it was moved aside earlier".into(),
            },
            None => Error::UnknownJob(id),
        }
    }

    /// `job` as it really is: if it is active and the process responsible for
    /// it is gone, it is marked `lost` (under the lock) and returned so.
    pub fn reconcile(&self, job: Job) -> Result<Job> {
        if !owner_gone(&job) {
            return Ok(job);
        }
        let recorded = self.with_lock(|tx| {
            let job = tx.job(job.id)?;
            tx.reconciled(job)
        });
        match recorded {
            // The store cannot be written (a full disk): say the truth
            // anyway; the next read that can write records it.
            Err(e @ (Error::Io { .. } | Error::BadStateRoot { .. })) => {
                let mut lost = job;
                let reason = format!("{}; not recorded yet: {e}", lost_reason(&lost));
                lost.finish(Status::Lost, Some(reason));
                Ok(lost)
            }
            other => other,
        }
    }

    /// The ids of jobs that may be active (a superset; read them to know).
    pub fn active_ids(&self) -> Result<Vec<u64>> {
        Ok(self.index()?.active)
    }

    /// List jobs, newest first: every active one plus the newest finished ones
    /// (all of them with `filter.all`), optionally of one session only.
    pub fn list(&self, filter: &ListFilter) -> Result<Listing> {
        // The index first: if it has to be moved aside, the scan reports it.
        let active = self.index()?.active;
        let (ids, mut warnings) = self.scan()?;
        let wanted = |job: &Job| filter.session.is_none() || job.session_id == filter.session;
        let mut jobs = std::collections::BTreeMap::new();
        for id in active {
            if let Some(job) = self.read_listed(id, &mut warnings)? {
                if job.status.is_active() && wanted(&job) {
                    jobs.insert(id, job);
                }
            }
        }
        let mut finished = 0usize;
        for &id in ids.iter().rev() {
            if !filter.all && finished >= RECENT_FINISHED {
                break;
            }
            if jobs.contains_key(&id) {
                continue;
            }
            if let Some(job) = self.read_listed(id, &mut warnings)? {
                if wanted(&job) {
                    finished += usize::from(!job.status.is_active());
                    jobs.insert(id, job);
                }
            }
        }
        Ok(Listing {
            jobs: jobs.into_values().rev().collect(),
            warnings,
        })
    }

    /// Read a job for a listing: a corrupt record becomes a warning, a record
    /// removed meanwhile (pruned) is skipped.
    fn read_listed(&self, id: u64, warnings: &mut Vec<Warning>) -> Result<Option<Job>> {
        match self.get(id) {
            Ok(job) => Ok(Some(job)),
            Err(Error::UnknownJob(_)) => Ok(None),
            Err(e @ Error::Corrupt { .. }) => {
                let path = self.job_path(id).to_string_lossy().into_owned();
                // The `.corrupt-` file may already be listed by the scan.
                warnings.retain(|w| !w.path.starts_with(&path));
                warnings.push(Warning {
                    path,
                    message: e.to_string(),
                });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Ids of all job records (ascending), and warnings for records moved
    /// aside as corrupt.
    pub fn scan(&self) -> Result<(Vec<u64>, Vec<Warning>)> {
        let mut ids = Vec::new();
        let mut warnings = Vec::new();
        for dir in [&self.jobs, &self.dir] {
            for entry in std::fs::read_dir(dir).at("cannot read", dir)? {
                let entry = entry.at("cannot read", dir)?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if record::is_quarantined(&name) {
                    warnings.push(Warning {
                        path: entry.path().to_string_lossy().into_owned(),
                        message: format!(
                            "a corrupt record was moved aside to {}; inspect or delete it",
                            entry.path().display()
                        ),
                    });
                } else if let Some(id) = name
                    .strip_suffix(".json")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    if dir == &self.jobs {
                        ids.push(id);
                    }
                }
            }
        }
        ids.sort_unstable();
        Ok((ids, warnings))
    }

    /// `index.json`, rebuilt under the lock if it is missing or corrupt.
    fn index(&self) -> Result<Index> {
        match record::read::<Index>(&self.dir.join("index.json"))? {
            Read::Found(index) => Ok(index),
            _ => self.with_lock(|tx| tx.index()),
        }
    }

    pub(crate) fn job_path(&self, id: u64) -> PathBuf {
        self.jobs.join(format!("{id}.json"))
    }

    pub(crate) fn logs_dir(&self) -> &Path {
        &self.logs
    }
}

/// Why a job whose worker is gone is lost, in words.
fn lost_reason(job: &Job) -> String {
    let worker = job.worker.map(|w| w.pid).unwrap_or_default();
    format!("worker process {worker} is gone without recording an end")
}

/// Whether `job` is active but the process responsible for it has exited.
fn owner_gone(job: &Job) -> bool {
    job.status.is_active() && job.worker.is_some_and(|w| !w.is_alive())
}

/// The store with its lock held: the only way to write.
pub struct Locked<'a> {
    store: &'a Store,
}

impl Locked<'_> {
    /// The store.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Read job `id`; a corrupt record is moved aside and reported.
    pub fn job(&self, id: u64) -> Result<Job> {
        self.job_opt(id)?.ok_or_else(|| self.store.missing(id))
    }

    /// Read job `id`, `None` if it has no record.
    pub fn job_opt(&self, id: u64) -> Result<Option<Job>> {
        let path = self.store.job_path(id);
        match record::read::<Job>(&path)? {
            Read::Found(job) if job.id == id => Ok(Some(job)),
            // A record under another job's name cannot be trusted as either.
            Read::Found(job) => Err(record::quarantine(
                &path,
                format!("it holds job {} instead", job.id),
            )),
            Read::Missing => Ok(None),
            Read::Corrupt(detail) => Err(record::quarantine(&path, detail)),
        }
    }

    /// Write a job record.
    pub fn write_job(&self, job: &Job) -> Result<()> {
        record::write(&self.store.jobs, &format!("{}.json", job.id), job)
    }

    /// Apply `f` to `job` and write it if it changed, keeping the index right.
    pub fn apply(&self, job: Job, f: impl FnOnce(&mut Job)) -> Result<Job> {
        let mut updated = job.clone();
        f(&mut updated);
        if updated == job {
            return Ok(updated);
        }
        // Readers take no lock, so the index must never miss what a record
        // says: entries are added before the record is written and removed
        // after. The index stays a superset; readers check the record.
        let indexed = self.index_membership(&job) != self.index_membership(&updated);
        if indexed {
            self.reindex(&updated, Change::Add)?;
        }
        self.write_job(&updated)?;
        if indexed {
            self.reindex(&updated, Change::Remove)?;
        }
        Ok(updated)
    }

    /// Which index lists `job` belongs in: active, undelivered, untold.
    fn index_membership(&self, job: &Job) -> (bool, bool, bool) {
        (job.status.is_active(), job.undelivered(), job.untold())
    }

    /// `job`, marked `lost` if it is active and its worker is gone. When its
    /// command is still running, unsupervised, its tree is asked to stop.
    pub fn reconciled(&self, job: Job) -> Result<Job> {
        if !owner_gone(&job) {
            return Ok(job);
        }
        let orphan = job.process.filter(|p| p.is_alive());
        let tree = self.store.tree_name(job.id);
        let reason = match orphan {
            Some(p) => {
                tree::request_stop(&p, &tree);
                format!(
                    "{}; its command (pid {}) was told to stop",
                    lost_reason(&job),
                    p.pid
                )
            }
            None => lost_reason(&job),
        };
        self.apply(job, |j| {
            j.finish(Status::Lost, Some(reason));
        })
    }

    /// Bring the index in line with `job`: active jobs in `active`, final ones
    /// not yet handled by the notifier in `undelivered`, final ones not yet
    /// told to their session in `untold` — only adding entries, or only
    /// removing them.
    fn reindex(&self, job: &Job, change: Change) -> Result<()> {
        let mut index = self.index()?;
        let before = index.clone();
        let (active, undelivered, untold) = self.index_membership(job);
        let set = |list: &mut Vec<u64>, member: bool| match (member, change) {
            (true, Change::Add) if !list.contains(&job.id) => list.push(job.id),
            (false, Change::Remove) => list.retain(|&a| a != job.id),
            _ => {}
        };
        set(&mut index.active, active);
        set(&mut index.undelivered, undelivered);
        match (untold, &job.session_id, change) {
            (true, Some(session), Change::Add) if !index.untold.iter().any(|u| u.id == job.id) => {
                index.untold.push(Untold {
                    id: job.id,
                    session: session.clone(),
                });
            }
            (false, _, Change::Remove) => index.untold.retain(|u| u.id != job.id),
            _ => {}
        }
        if index != before {
            // Added entries must survive a crash (the index is a superset of
            // what records say); a removed one that comes back after a crash
            // is only a stale hint, which readers check against the record.
            let durability = match change {
                Change::Add => fsio::Durability::Durable,
                Change::Remove => fsio::Durability::Volatile,
            };
            record::write_with(&self.store.dir, "index.json", &index, durability)?;
        }
        Ok(())
    }

    /// `index.json`; if missing or corrupt, rebuilt from the records (the
    /// corrupt one is moved aside first).
    pub(crate) fn index(&self) -> Result<Index> {
        let path = self.store.dir.join("index.json");
        match record::read::<Index>(&path)? {
            Read::Found(index) => return Ok(index),
            Read::Corrupt(detail) => {
                // Reported by `status` through the `.corrupt-` file it leaves.
                let _ = record::quarantine(&path, detail);
            }
            Read::Missing => {}
        }
        let (ids, _) = self.store.scan()?;
        let mut high = self.meta()?.map(|m| m.pruned_through).unwrap_or(0);
        let mut active = Vec::new();
        let mut undelivered = Vec::new();
        let mut untold = Vec::new();
        for entry in std::fs::read_dir(&self.store.jobs)
            .at("cannot read", &self.store.jobs)?
            .flatten()
        {
            let name = entry.file_name();
            let digits: String = name
                .to_string_lossy()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            high = high.max(digits.parse().unwrap_or(0));
        }
        for id in ids {
            if let Ok(Some(job)) = self.job_opt(id) {
                if job.status.is_active() {
                    active.push(id);
                } else {
                    if job.undelivered() {
                        undelivered.push(id);
                    }
                    if let (true, Some(session)) = (job.untold(), job.session_id) {
                        untold.push(Untold { id, session });
                    }
                }
            }
        }
        let index = Index {
            v: SCHEMA_VERSION,
            next_id: high + 1,
            active,
            undelivered,
            untold,
        };
        self.write_index(&index)?;
        Ok(index)
    }

    pub(crate) fn write_index(&self, index: &Index) -> Result<()> {
        record::write(&self.store.dir, "index.json", index)
    }

    pub(crate) fn meta(&self) -> Result<Option<WorkspaceMeta>> {
        let path = self.store.dir.join("workspace.json");
        match record::read::<WorkspaceMeta>(&path)? {
            Read::Found(meta) => Ok(Some(meta)),
            Read::Missing => Ok(None),
            Read::Corrupt(detail) => Err(record::quarantine(&path, detail)),
        }
    }

    pub(crate) fn write_meta(&self, meta: &WorkspaceMeta) -> Result<()> {
        record::write(&self.store.dir, "workspace.json", meta)
    }
}
