//! The private world a benchmark runs in: a fresh state root, a workspace and
//! a config file in a temp directory, the release binary, and every process
//! started against them — all removed again when the [`Fixture`] is dropped.
//!
//! Nothing here touches the user's real state root: every child gets
//! `BGJOBS_HOME` and `BGJOBS_CONFIG` pointing inside the temp directory, and
//! the variables that would otherwise steer workspace or session resolution
//! (set when the bench itself runs inside an agent's shell) are removed.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bgjobs_store::time::Timestamp;
use bgjobs_store::workspace::{self, WorkspaceHints};
use bgjobs_store::{Config, Created, NewJob, StateRoot, Status, Store};

/// Variables removed from every child's environment: each would make the
/// child resolve another workspace or attach jobs to the caller's session.
/// `CLAUDE_ENV_FILE` too: a SessionStart hook timed by the bench must not
/// append to a file of the agent the bench happens to run under.
const SCRUBBED_ENV: [&str; 5] = [
    "BGJOBS_WORKSPACE",
    "BGJOBS_SESSION_ID",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_ENV_FILE",
];

/// Finished jobs kept: far above any job count the bench creates, so the
/// workers' automatic pruning never shrinks the workspace being measured.
const KEEP_FINISHED: usize = 100_000;

/// A temp directory holding `home/` (the state root), `workspace/` (a git
/// repository as far as resolution is concerned), `config.toml`, and any
/// further workspaces a metric needs ([`Fixture::add_workspace`]).
pub struct Fixture {
    dir: PathBuf,
    home: PathBuf,
    workspace: PathBuf,
    config_path: PathBuf,
    config: Config,
    bin: PathBuf,
    /// Workspaces made by [`Fixture::add_workspace`], so that the clean-up
    /// cancels their jobs too.
    extra: RefCell<Vec<PathBuf>>,
}

impl Fixture {
    /// Create the directories and config file; `bin` is the `bgjobs` binary.
    pub fn create(bin: PathBuf) -> Result<Self, String> {
        Self::create_keeping(bin, KEEP_FINISHED)
    }

    /// [`Fixture::create`] with `keep_finished = keep`, for a workspace held
    /// at its retention bound.
    pub fn create_keeping(bin: PathBuf, keep: usize) -> Result<Self, String> {
        Self::create_with(bin, keep, "")
    }

    /// [`Fixture::create_keeping`] with `extra` appended to `config.toml`
    /// (a `[queues]` table, say).
    pub fn create_with(bin: PathBuf, keep: usize, extra: &str) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Short on purpose: the notifier's socket will live under the state
        // root, and Unix socket paths are limited to ~100 bytes.
        let dir = std::env::temp_dir().join(format!("bgb-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // From here on, Drop removes `dir` even if the rest fails.
        let mut fixture = Self {
            home: dir.join("home"),
            workspace: dir.join("workspace"),
            config_path: dir.join("config.toml"),
            config: Config::default(),
            dir,
            bin,
            extra: RefCell::new(Vec::new()),
        };
        make_repository(&fixture.workspace)?;
        let scratch = fixture.scratch();
        std::fs::create_dir(&scratch)
            .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        std::fs::write(
            &fixture.config_path,
            format!("keep_finished = {keep}\ndesktop = false\n{extra}"),
        )
        .map_err(|e| format!("cannot write {}: {e}", fixture.config_path.display()))?;
        fixture.config = Config::load_from(&fixture.config_path)
            .map_err(|e| format!("the bench's config.toml is rejected: {e}"))?;
        fixture.workspace = resolve(&fixture.workspace)?;
        Ok(fixture)
    }

    /// Another workspace, `<dir>/<name>`, in the same state root: for metrics
    /// that need a workspace of their own size (the hooks' 1,000 jobs) or a
    /// fresh one per round (throughput). Returns its canonical path.
    pub fn add_workspace(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.dir.join(name);
        make_repository(&path)?;
        let path = resolve(&path)?;
        self.extra.borrow_mut().push(path.clone());
        Ok(path)
    }

    /// The bench's own executable, for its hidden modes (contender, stamped
    /// command, relay, sleeper).
    pub fn bench_exe(&self) -> Result<PathBuf, String> {
        std::env::current_exe().map_err(|e| format!("cannot find the bench executable: {e}"))
    }

    /// The state root (`BGJOBS_HOME`).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The canonical workspace directory.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The temp directory holding everything.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A directory on the same file system as the state root, for probes
    /// that must not disturb the store.
    pub fn scratch(&self) -> PathBuf {
        self.dir.join("scratch")
    }

    /// The workspace's store, opened in this process.
    pub fn store(&self) -> Result<Store, String> {
        self.store_at(&self.workspace)
    }

    /// The store of `workspace` (a canonical path from this fixture).
    pub fn store_at(&self, workspace: &Path) -> Result<Store, String> {
        let root = StateRoot::at(self.home.clone()).map_err(|e| e.to_string())?;
        Store::open(&root, workspace.to_path_buf(), self.config.clone())
            .map_err(|e| format!("cannot open the bench store: {e}"))
    }

    /// `program` set up to run inside the fixture: in the workspace, with the
    /// fixture's state root and config, and none of the caller's session.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.workspace)
            .env("BGJOBS_HOME", &self.home)
            .env("BGJOBS_CONFIG", &self.config_path);
        for name in SCRUBBED_ENV {
            cmd.env_remove(name);
        }
        cmd
    }

    /// The `bgjobs` binary measured.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// `bgjobs ARGS…` inside the fixture.
    pub fn bgjobs(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&self.bin);
        cmd.args(args);
        cmd
    }

    /// `bgjobs ARGS…` run from `workspace` instead of the main one.
    pub fn bgjobs_in(&self, workspace: &Path, args: &[&str]) -> Command {
        let mut cmd = self.bgjobs(args);
        cmd.current_dir(workspace);
        cmd
    }

    /// Record `count` finished jobs in the main workspace; see
    /// [`Fixture::populate_at`].
    pub fn populate(&self, count: usize) -> Result<Duration, String> {
        self.populate_at(&self.workspace, count)
    }

    /// Record `count` finished jobs in `workspace` through the store library,
    /// the way `run` and the worker would (create queued, then finish), so
    /// the records stay right whatever the record format becomes. Returns the
    /// time it took.
    ///
    /// Each is recorded as already delivered by the notifier, as the old jobs
    /// of a long-lived workspace are. Left undelivered, every one of them
    /// would sit in the index's `undelivered` list (making every index read
    /// and write of the measured calls thousands of entries bigger), and the
    /// first notifier to start would spend the measuring time delivering them
    /// all, one fsync'd write each.
    pub fn populate_at(&self, workspace: &Path, count: usize) -> Result<Duration, String> {
        let store = self.store_at(workspace)?;
        let start = Instant::now();
        let cwd = workspace.to_string_lossy().into_owned();
        let mut last_report = Instant::now();
        for n in 0..count {
            crate::interrupt::check()?;
            let new = NewJob {
                title: Some(format!("build step {n}")),
                command: vec!["make".into(), format!("step-{n}")],
                cwd: cwd.clone(),
                background: true,
                ..NewJob::default()
            };
            let job = match store.create(new) {
                Ok(Created::New(job)) => job,
                Ok(Created::Existing(job)) => {
                    return Err(format!("job {} was reused although it has no key", job.id))
                }
                Err(e) => return Err(format!("cannot record job {n}: {e}")),
            };
            store
                .update(job.id, |j| {
                    j.status = Status::Running;
                    j.started_at = Some(j.created_at);
                    j.exit_code = Some(0);
                    j.output_tail = format!("step {n} done\n");
                    j.finish(Status::Succeeded, None);
                    j.deliveries.notified_at = Some(Timestamp::now());
                })
                .map_err(|e| format!("cannot finish job {}: {e}", job.id))?;
            if last_report.elapsed() > Duration::from_secs(5) {
                eprintln!("  … {} of {count} jobs", n + 1);
                last_report = Instant::now();
            }
        }
        Ok(start.elapsed())
    }

    /// Record `count` finished jobs in `workspace` fast, for sizes that
    /// [`Fixture::populate_at`] would take minutes over: one recorded
    /// through the store library, the rest copies of its record, renumbered
    /// and written straight to `jobs/`; then the index is removed, and the
    /// store rebuilds it from the records (as after a crash), untimed here.
    pub fn populate_copies(&self, workspace: &Path, count: usize) -> Result<Duration, String> {
        let start = Instant::now();
        self.populate_at(workspace, 1)?;
        let store = self.store_at(workspace)?;
        let jobs = store.dir().join("jobs");
        let first = jobs.join("1.json");
        let text = std::fs::read_to_string(&first)
            .map_err(|e| format!("cannot read {}: {e}", first.display()))?;
        let template: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", first.display()))?;
        for id in 2..=count {
            crate::interrupt::check()?;
            let mut job = template.clone();
            job["id"] = id.into();
            job["title"] = format!("build step {id}").into();
            job["command"] = serde_json::json!(["make", format!("step-{id}")]);
            job["log_path"] = store
                .log_path(id as u64)
                .to_string_lossy()
                .into_owned()
                .into();
            let path = jobs.join(format!("{id}.json"));
            let bytes = serde_json::to_vec_pretty(&job).map_err(|e| e.to_string())?;
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let index = store.dir().join("index.json");
        std::fs::remove_file(&index)
            .map_err(|e| format!("cannot remove {}: {e}", index.display()))?;
        let listed = store
            .list(&Default::default())
            .map_err(|e| format!("cannot list {}: {e}", workspace.display()))?;
        if listed.jobs.first().map(|j| j.id()) != Some(count as u64) {
            return Err(format!(
                "the newest of {count} copied jobs is not listed first"
            ));
        }
        Ok(start.elapsed())
    }

    /// Wait for every active job of `workspace` (one of this fixture's; the
    /// workers `run -b` started), so that they do not load the CPU during the
    /// next sample.
    pub fn wait_all_in(&self, workspace: &Path) -> Result<(), String> {
        let mut cmd = self.bgjobs_in(workspace, &["wait", "--timeout", "60s"]);
        crate::measure::time_success(&mut cmd).map(|_| ())
    }

    /// End every process started against this fixture. First the polite way
    /// (`bgjobs cancel --all` in every workspace, which ends the jobs' trees
    /// and lets their workers record it, then `bgjobs notifier stop`); then,
    /// where the platform allows, anything still running with this fixture's
    /// state root in its environment.
    fn stop_everything(&self) {
        if self.home.is_dir() {
            let quiet = |mut cmd: Command| {
                let _ = cmd
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            };
            let mut workspaces = vec![self.workspace.clone()];
            workspaces.extend(self.extra.borrow().iter().cloned());
            for workspace in &workspaces {
                quiet(self.bgjobs_in(workspace, &["cancel", "--all", "--grace", "1s"]));
            }
            quiet(self.bgjobs(&["notifier", "stop"]));
        }
        sweep_strays(&self.home);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop_everything();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!(
                    "bgjobs-bench: warning: cannot remove {}: {e}",
                    self.dir.display()
                );
            }
        }
    }
}

/// Make `path` a git repository as far as workspace resolution is concerned.
fn make_repository(path: &Path) -> Result<(), String> {
    let git = path.join(".git");
    std::fs::create_dir_all(&git).map_err(|e| format!("cannot create {}: {e}", git.display()))
}

/// Resolve `path` the way the CLI does (canonical path, git top level), so
/// that jobs written in-process land in the store the CLI will open.
fn resolve(path: &Path) -> Result<PathBuf, String> {
    workspace::resolve(&WorkspaceHints {
        explicit: None,
        project_dir: None,
        cwd: path.to_path_buf(),
    })
    .map_err(|e| format!("cannot resolve the bench workspace {}: {e}", path.display()))
}

/// Kill every process whose environment names `home` as its state root:
/// workers, their commands, and any daemon the CLI started on demand. The
/// temp path is unique to this run, so nothing else can match.
#[cfg(target_os = "linux")]
fn sweep_strays(home: &Path) {
    use std::os::unix::ffi::OsStrExt;

    let mut needle = b"BGJOBS_HOME=".to_vec();
    needle.extend_from_slice(home.as_os_str().as_bytes());
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Unreadable for other users' processes, which are not ours anyway.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|&b| b == 0)
            .any(|var| var == needle.as_slice())
        {
            eprintln!("bgjobs-bench: killing leftover process {pid}");
            let Ok(pid) = libc::pid_t::try_from(pid) else {
                continue;
            };
            // SAFETY: plain syscall; the pid was just seen with our marker.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Elsewhere `cancel --all` is all there is.
#[cfg(not(target_os = "linux"))]
fn sweep_strays(_home: &Path) {}

impl Fixture {
    /// The process floor: the cheapest process the OS can start and reap,
    /// with the same environment, directory and output capture as the
    /// measured commands.
    pub fn floor(&self) -> Command {
        floor_command(self)
    }

    /// What [`Fixture::floor`] runs, for the report.
    pub fn floor_name(&self) -> String {
        crate::measure::describe(&self.floor())
    }

    /// The enqueue floor: the cheapest way to start a detached background
    /// process and return, `sh -c 'nohup true >/dev/null 2>&1 &'`, what any
    /// "run it in the background" must at least pay. `None` where there is
    /// no POSIX shell.
    pub fn enqueue_floor(&self) -> Option<Command> {
        enqueue_floor_command(self)
    }
}

/// The shell script of the enqueue floor.
pub const ENQUEUE_FLOOR_SCRIPT: &str = "nohup true >/dev/null 2>&1 &";

#[cfg(unix)]
fn enqueue_floor_command(fx: &Fixture) -> Option<Command> {
    let mut cmd = fx.command("sh");
    cmd.arg("-c").arg(ENQUEUE_FLOOR_SCRIPT);
    Some(cmd)
}

#[cfg(not(unix))]
fn enqueue_floor_command(_fx: &Fixture) -> Option<Command> {
    None
}

#[cfg(unix)]
fn floor_command(fx: &Fixture) -> Command {
    fx.command("/bin/true")
}

/// Windows has no `true`; the bench's own executable in its no-op mode is the
/// nearest equivalent (a small Rust program that exits at once).
#[cfg(not(unix))]
fn floor_command(fx: &Fixture) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("bgjobs-bench"));
    let mut cmd = fx.command(exe);
    cmd.arg(crate::NOOP_FLAG);
    cmd
}
