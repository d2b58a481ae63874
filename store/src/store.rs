//! The locked per-workspace store: job records, the id counter and the index
//! of active jobs, all written under one lock, read without one.
//!
//! Layout under `workspaces/<slug>-<hash>/`:
//! `workspace.json` (the workspace path, the highest pruned id), `index.json`
//! (the next id and the ids of jobs that may be active), `jobs/<id>.json`,
//! `logs/<id>.log`, `sessions/`, `lock`, and `summary` (the settled jobs'
//! JSON, a cache for listings of every job: `store/summary.rs`).
//!
//! `index.json` is what keeps `status` fast with thousands of finished jobs:
//! it is always a superset of the active jobs (an id is added before its
//! record is written and removed after its record turns final), so a listing
//! reads the active records plus the newest finished ones, not every file.
//! It is not synced; one left from before a crash of the machine is rebuilt
//! from the records (`store/index.rs`).
//!
//! Here: opening, the lock, creating and changing records. Beside it: the
//! index and its upkeep (`store/index.rs`), listings (`store/listing.rs`)
//! and their summary (`store/summary.rs`), and the rule that a job whose
//! worker is gone is lost (`store/liveness.rs`).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::command::CommandLine;
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::fsio;
use crate::identity::ProcessIdentity;
use crate::job::{default_title, Job, NewJob, Status, MAX_TITLE, SCHEMA_VERSION};
use crate::queue;
use crate::record::{self, Read};
use crate::root::StateRoot;
use crate::time::Timestamp;
use crate::workspace;

mod delivered;
mod index;
mod listing;
mod liveness;
mod summary;
mod told;

pub use delivered::Delivered;
use index::Change;
pub(crate) use index::Index;
pub use listing::{nested_json, ListFilter, Listed, Listing, Warning, JSON_DEPTH, RECENT_FINISHED};
pub use summary::Text;

/// `workspace.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct WorkspaceMeta {
    pub v: u32,
    pub path: String,
    /// Highest id ever pruned, so that ids are never reused even if
    /// `index.json` has to be rebuilt after every record was pruned. Also
    /// the automatic prune's cursor: every id up to it is gone, but for
    /// those in `kept`.
    #[serde(default)]
    pub pruned_through: u64,
    /// Jobs at or below `pruned_through` still on disk: active or not yet
    /// delivered when pruning passed them, so pruned later.
    #[serde(default)]
    pub kept: Vec<u64>,
}

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
                    kept: Vec::new(),
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

    /// `workspace.json`, read without the lock: `None` when missing or
    /// unreadable (the locked read moves a corrupt one aside).
    pub(crate) fn meta(&self) -> Option<WorkspaceMeta> {
        match record::read::<WorkspaceMeta>(&self.dir.join("workspace.json")) {
            Ok(Read::Found(meta)) => Some(meta),
            _ => None,
        }
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

    /// Record a new job as `queued`, owned for now by the calling process (a
    /// waiting one by nobody, its creator's environment kept for it); or,
    /// when `new.key` matches an active job, return that job instead. An
    /// `after` job that does not exist is [`Error::UnknownJob`].
    pub fn create(&self, new: NewJob) -> Result<Created> {
        self.create_owned(new, ProcessIdentity::current())
    }

    /// [`Store::create`] for a job whose worker is already running, waiting
    /// to be handed the job (see the CLI's forked worker): it is the job's
    /// owner from the first write, so the job needs no hand-over write. A
    /// job [held back](Store::holds_back) is recorded with no owner, as by
    /// [`Store::create`].
    pub fn create_for_worker(&self, new: NewJob, worker: ProcessIdentity) -> Result<Created> {
        self.create_owned(new, Some(worker))
    }

    /// Whether [`Store::create`] records `new` waiting for its admission (a
    /// background job with dependencies, or in a queue with a limit), so
    /// that nobody starts its worker meanwhile.
    pub fn holds_back(&self, new: &NewJob) -> bool {
        new.background && (!new.after.is_empty() || self.config.queue_limit(&new.queue) > 0)
    }

    /// [`Store::create`] with the job owned by `owner` unless it waits.
    fn create_owned(&self, new: NewJob, owner: Option<ProcessIdentity>) -> Result<Created> {
        // Held back until admitted (see `queue`): no owner meanwhile. An
        // attached job has its caller waiting on it: it counts against its
        // queue's limit, but is never held back.
        let waiting = self.holds_back(&new);
        let Some(command) = CommandLine::new(new.command) else {
            return Err(Error::Invalid("no command given".into()));
        };
        if new
            .title
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TITLE)
        {
            return Err(Error::Invalid(format!(
                "a title longer than {MAX_TITLE} characters"
            )));
        }
        let creator = ProcessIdentity::current();
        let reason = match new.after.first() {
            Some(&id) => Some(queue::waiting_for_job(id)),
            None if waiting => Some(queue::waiting_for_slot(&new.queue)),
            None => None,
        };
        self.with_lock(|tx| {
            for &id in &new.after {
                if tx.job_opt(id)?.is_none() {
                    return Err(self.missing(id));
                }
            }
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
            if waiting {
                self.keep_environment(id, index.waiting.last().copied())?;
            }
            index.active.push(id);
            if waiting {
                index.waiting.push(id);
            }
            let foreground = tx.foreground_list(&mut index);
            if let (false, Some(session)) = (new.background, &new.session_id) {
                foreground.push(index::Untold {
                    id,
                    session: session.clone(),
                });
            }
            tx.write_index(index, fsio::Durability::Durable)?;
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
                reason,
                created_at: Timestamp::now(),
                started_at: None,
                finished_at: None,
                pid: None,
                log_path: self.log_path(id).to_string_lossy().into_owned(),
                output_tail: String::new(),
                timeout_ms: new.timeout_ms,
                worker: if waiting { None } else { owner },
                process: None,
                cancel_requested: None,
                deliveries: Default::default(),
                follower: if new.follow { creator } else { None },
                env: new.env,
                restarted_from: new.restarted_from,
                queue: new.queue,
                after: new.after,
                waiting,
                ready_pattern: new.ready_pattern,
                ready_at: None,
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
            if tx.index_membership(&updated) != tx.index_membership(&job)
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

    /// [`Locked::apply_running`] under the lock, for job `id`.
    pub fn update_running(&self, id: u64, f: impl FnOnce(&mut Job)) -> Result<Job> {
        self.with_lock(|tx| {
            let job = tx.job(id)?;
            tx.apply_running(job, f)
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

    pub(crate) fn job_path(&self, id: u64) -> PathBuf {
        self.jobs.join(format!("{id}.json"))
    }
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
            Read::Found(job) => {
                Err(self.move_aside(&path, format!("it holds job {} instead", job.id)))
            }
            Read::Missing => Ok(None),
            Read::Corrupt(detail) => Err(self.move_aside(&path, detail)),
        }
    }

    /// Move the record at `path` aside (see [`record::quarantine`]), and
    /// leave the marker that has listings report it.
    fn move_aside(&self, path: &Path, detail: String) -> Error {
        self.mark_aside();
        record::quarantine(path, detail)
    }

    /// Leave [`listing::ASIDE_MARKER`], before the record is moved, so
    /// that no listing misses it. Not synced: after a crash of the machine
    /// the index is rebuilt, and its scan leaves the marker again.
    pub(crate) fn mark_aside(&self) {
        let volatile = fsio::Durability::Volatile;
        let _ = fsio::write_atomic_with(&self.store.dir, listing::ASIDE_MARKER, b"", volatile);
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
        self.write_indexed(&job, &updated, fsio::Durability::Durable)?;
        Ok(updated)
    }

    /// Like [`Locked::apply`], written with `durability`: for a change whose
    /// loss in a crash of the machine is harmless (the caller says why).
    pub(crate) fn apply_with(
        &self,
        job: Job,
        durability: fsio::Durability,
        f: impl FnOnce(&mut Job),
    ) -> Result<Job> {
        let mut updated = job.clone();
        f(&mut updated);
        if updated != job {
            self.write_indexed(&job, &updated, durability)?;
        }
        Ok(updated)
    }

    /// Like [`Locked::apply`], for facts about a running job that a crash of
    /// the machine makes void anyway, since the job is lost then: its
    /// readiness, and the delivery and telling of it. Written atomically,
    /// index first, but not synced. A change to or from any other status is
    /// written durably, as `apply` writes it.
    pub fn apply_running(&self, job: Job, f: impl FnOnce(&mut Job)) -> Result<Job> {
        let mut updated = job.clone();
        f(&mut updated);
        let durability = match job.status == Status::Running && updated.status == Status::Running {
            true => fsio::Durability::Volatile,
            false => fsio::Durability::Durable,
        };
        self.apply_with(job, durability, |j| *j = updated)
    }

    /// Write `updated` over `old`, keeping the index a superset. A final
    /// record is never left to a write that a crash could empty: unsynced
    /// is then [`fsio::Durability::Ordered`].
    fn write_indexed(&self, old: &Job, updated: &Job, durability: fsio::Durability) -> Result<()> {
        let (was, now) = (self.index_membership(old), self.index_membership(updated));
        let name = format!("{}.json", updated.id);
        let durability = match durability {
            fsio::Durability::Volatile if !updated.status.is_active() => fsio::Durability::Ordered,
            other => other,
        };
        if was == now {
            return record::write_with(&self.store.jobs, &name, updated, durability);
        }
        self.reindex(updated, Change::Add, durability)?;
        record::write_with(&self.store.jobs, &name, updated, durability)?;
        self.reindex(updated, Change::Remove, durability)
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
