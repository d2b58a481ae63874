//! Harness for the end-to-end tests: a private state root and workspace per
//! test, and the real `bgjobs` binary run as a separate process.
//!
//! Every test makes a [`TestEnv`]: a fresh temp directory holding
//!
//! ```text
//! <tmp>/home/         BGJOBS_HOME (created by bgjobs itself, so its mode is bgjobs')
//! <tmp>/ws/.git/      the workspace: a "repository" (resolution walks up to `.git`)
//! <tmp>/config.toml   BGJOBS_CONFIG (absent unless a test writes settings)
//! ```
//!
//! Commands built by [`TestEnv::bgjobs`] run in the workspace with that
//! environment, and with every variable that could point bgjobs elsewhere
//! removed. Job commands are the portable `e2e-helper` binary of this crate
//! ([`TestEnv::helper`]) or, in Unix-only tests, ordinary Unix tools.
//!
//! Dropping the `TestEnv` kills whatever the test started (workers, their
//! commands, helper processes) and removes the temp directory; set
//! `BGJOBS_E2E_KEEP=1` to keep it for a post-mortem.
//!
//! On Linux the test process makes itself a child subreaper and reaps the
//! orphans it inherits (detached workers, the children of killed commands)
//! at once, as init does on an ordinary system. Some containers run a PID 1
//! that reaps only every few seconds; until then a dead process stays a zombie
//! and its process group still "exists" for `kill(2)`, which would make
//! `cancel` wait (or report a kill failure) for no fault of bgjobs.
//!
//! The binaries are found next to the test executable: `cargo build -p bgjobs`
//! (or `cargo test --workspace`) builds `target/<profile>/bgjobs`, and
//! `cargo test -p bgjobs-tests` builds `target/<profile>/e2e-helper`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use serde_json::{json, Value};

/// How long any wait for something the test expects to happen may take
/// before the test fails. Generous: the suite shares a small machine; this
/// bounds a hang, it does not assert speed.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Environment variables that would make bgjobs look somewhere else than the
/// test's own workspace and state root, or pick up a session; removed from
/// every child.
const SCRUBBED: &[&str] = &[
    "BGJOBS_WORKSPACE",
    "BGJOBS_SESSION_ID",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_ENV_FILE",
];

/// A binary built into `target/<profile>/` beside the test executable's `deps/`.
fn built_binary(name: &str, how: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} not found: {how}", path.display());
    path
}

/// The `bgjobs` binary under test.
pub fn bgjobs_bin() -> PathBuf {
    built_binary(
        "bgjobs",
        "run `cargo build -p bgjobs` first (or `cargo test --workspace`, which builds it)",
    )
}

/// The `e2e-helper` binary (see `src/bin/e2e-helper.rs`).
pub fn helper_bin() -> PathBuf {
    built_binary(
        "e2e-helper",
        "run the tests with `cargo test -p bgjobs-tests`",
    )
}

/// Poll `check` until it returns `Some`, for at most `timeout`; panic naming
/// `what` otherwise.
#[track_caller]
pub fn wait_until<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll(timeout, check).unwrap_or_else(|| panic!("gave up after {timeout:?} waiting for {what}"))
}

/// Poll `check` until it returns `Some`, for at most `timeout`.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Stdout of a finished process as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a finished process as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One test's private state root, workspace and config.
pub struct TestEnv {
    /// The temp directory holding everything below.
    pub root: PathBuf,
    /// `BGJOBS_HOME`.
    pub home: PathBuf,
    /// The workspace (holds a `.git` directory), canonical.
    pub ws: PathBuf,
    /// `BGJOBS_CONFIG`.
    pub config: PathBuf,
    /// Processes the test started itself, killed and reaped on drop.
    children: Mutex<Vec<Child>>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// A fresh environment with default settings.
    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "bgjobs-e2e-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        #[cfg(target_os = "linux")]
        proc::adopt_orphans();
        let root = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&root).expect("create temp dir");
        // Canonical, so that paths compare equal to what bgjobs reports
        // (macOS: /var is a symlink to /private/var).
        let root = std::fs::canonicalize(&root).expect("canonicalize temp dir");
        let ws = root.join("ws");
        std::fs::create_dir_all(ws.join(".git")).expect("create workspace");
        Self {
            home: root.join("home"),
            config: root.join("config.toml"),
            ws,
            root,
            children: Mutex::new(Vec::new()),
        }
    }

    /// A fresh environment with `config.toml` holding `toml`.
    pub fn with_config(toml: &str) -> Self {
        let env = Self::new();
        env.write_config(toml);
        env
    }

    /// Write `config.toml` (read by every later bgjobs process).
    pub fn write_config(&self, toml: &str) {
        std::fs::write(&self.config, toml).expect("write config.toml");
    }

    /// Apply this environment to any command: state root, config, and no
    /// variable that could redirect bgjobs.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("BGJOBS_HOME", &self.home)
            .env("BGJOBS_CONFIG", &self.config)
            .stdin(Stdio::null());
        for var in SCRUBBED {
            cmd.env_remove(var);
        }
    }

    /// `bgjobs ARGS` to run in the workspace with this environment.
    pub fn bgjobs<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        self.bgjobs_in(&self.ws, args)
    }

    /// `bgjobs ARGS` to run in `dir` with this environment.
    pub fn bgjobs_in<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> Command {
        let mut cmd = Command::new(bgjobs_bin());
        cmd.args(args).current_dir(dir);
        self.apply(&mut cmd);
        cmd
    }

    /// Run `bgjobs ARGS` in the workspace to its end.
    #[track_caller]
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        output(self.bgjobs(args))
    }

    /// Run `bgjobs ARGS`, require exit 0, return stdout.
    #[track_caller]
    pub fn run_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        ok(self.bgjobs(args))
    }

    /// Run `bgjobs ARGS` (which should include `--json`), require exit 0,
    /// parse stdout.
    #[track_caller]
    pub fn json<S: AsRef<OsStr>>(&self, args: &[S]) -> Value {
        parse_json(&self.run_ok(args))
    }

    /// `status --all --json`: `{"workspace", "jobs", "warnings"}`.
    #[track_caller]
    pub fn status_json(&self) -> Value {
        self.json(&["status", "--all", "--json"])
    }

    /// `show ID --json`: the job as bgjobs reports it.
    #[track_caller]
    pub fn job(&self, id: u64) -> Value {
        self.json(&["show", &id.to_string(), "--json"])
    }

    /// The status word of job `id`.
    #[track_caller]
    pub fn status_of(&self, id: u64) -> String {
        self.job(id)["status"]
            .as_str()
            .expect("status is a string")
            .to_string()
    }

    /// Poll `show ID` until the job's status is one of `statuses`; return it.
    #[track_caller]
    pub fn wait_for_status(&self, id: u64, statuses: &[&str]) -> Value {
        let mut last = Value::Null;
        let found = poll(DEADLINE, || {
            last = self.job(id);
            let status = last["status"].as_str().unwrap_or_default();
            statuses.contains(&status).then(|| last.clone())
        });
        found.unwrap_or_else(|| {
            let want = format!("job {id} to become one of {statuses:?}");
            panic!("gave up after {DEADLINE:?} waiting for {want}; last seen: {last}")
        })
    }

    /// Wait until job `id` is `cancelled` because its session ended; return it.
    #[track_caller]
    pub fn wait_cancelled_by_session_end(&self, id: u64) -> Value {
        let job = self.wait_for_status(id, &["cancelled"]);
        let reason = job["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("session ended"), "{job}");
        job
    }

    /// `bgjobs hook ARGS` with `payload` on stdin — from a file, as a pipe
    /// that bgjobs stops reading early would fail the writer — ready to run
    /// (add environment as needed).
    pub fn hook_cmd(&self, args: &[&str], payload: &[u8]) -> Command {
        let file = self.write_temp(payload);
        let mut cmd = self.bgjobs(&[&["hook"], args].concat());
        cmd.stdin(std::fs::File::open(&file).expect("open the hook event"));
        cmd
    }

    /// Write `bytes` to a fresh file under the test's root; its path.
    pub fn write_temp(&self, bytes: &[u8]) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = self
            .root
            .join(format!("temp-{}", N.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&path, bytes).expect("write a temp file");
        path
    }

    /// Run `bgjobs hook ARGS` with `payload` on stdin, from the test process
    /// (the session's "agent process", alive throughout).
    pub fn hook(&self, args: &[&str], payload: &str) -> Output {
        output(self.hook_cmd(args, payload.as_bytes()))
    }

    /// `sessions/<id>.json`, parsed, if present.
    pub fn session_record(&self, session: &str) -> Option<Value> {
        let path = self
            .store_dir()
            .join("sessions")
            .join(format!("{session}.json"));
        std::fs::read_to_string(path).ok().map(|t| parse_json(&t))
    }

    /// `notifier status --json`, when a notifier answers.
    pub fn notifier_status(&self) -> Option<Value> {
        let out = self.run(&["notifier", "status", "--json"]);
        out.status.success().then(|| parse_json(&stdout(&out)))
    }

    /// `notifier start`, then its status.
    #[track_caller]
    pub fn start_notifier(&self) -> Value {
        self.run_ok(&["notifier", "start"]);
        self.notifier_status()
            .expect("the notifier answers after start")
    }

    /// A home directory of the test's own (for `HOME` / `USERPROFILE`).
    pub fn user_home(&self) -> PathBuf {
        let home = self.root.join("userhome");
        std::fs::create_dir_all(&home).expect("create the test's home");
        home
    }

    /// Point `cmd` at the test's home ([`TestEnv::user_home`]), where
    /// `install` finds the user's Claude Code settings and Codex home.
    /// Windows finds a home from the user's profile, not from a variable:
    /// there the configuration directories are named outright
    /// (`CLAUDE_CONFIG_DIR`, `CODEX_HOME`, which the clients honour too).
    pub fn with_user_home<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        let home = self.user_home();
        cmd.env("HOME", &home)
            .env("USERPROFILE", &home)
            .env_remove("CODEX_HOME");
        if cfg!(windows) {
            cmd.env("CLAUDE_CONFIG_DIR", home.join(".claude"))
                .env("CODEX_HOME", home.join(".codex"));
        }
        cmd
    }

    /// `run -b [OPTS] -- CMD`: start a background job, return its id.
    #[track_caller]
    /// Wait until job `id` is final and the notifier has recorded its
    /// delivery on it: from then on nothing but the test writes the store.
    pub fn wait_delivered(&self, id: u64) -> Value {
        // The record says so first; the index entry goes last, after it.
        let what = format!("the notifier's delivery of job {id}");
        wait_until(&what, DEADLINE, || {
            let job = self.read_record(id);
            let pending = self.read_index()["undelivered"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|i| i.as_u64() == Some(id)));
            (job["deliveries"]["notified_at"].is_string() && !pending).then_some(job)
        })
    }

    /// Run `f` holding the workspace lock, as every bgjobs writer does, so
    /// that a hand-made change never interleaves with a real writer's.
    pub fn with_store_lock<T>(&self, f: impl FnOnce() -> T) -> T {
        let root = bgjobs_store::StateRoot::at(self.home.clone()).expect("state root");
        let store =
            bgjobs_store::Store::open(&root, self.ws.clone(), bgjobs_store::Config::default())
                .expect("open the store");
        let mut out = None;
        store
            .with_lock(|_| {
                out = Some(f());
                Ok(())
            })
            .expect("take the workspace lock");
        out.expect("ran under the lock")
    }

    pub fn start(&self, opts: &[&str], cmd: &[&str]) -> u64 {
        let mut args = vec!["run", "-b"];
        args.extend_from_slice(opts);
        args.push("--");
        args.extend_from_slice(cmd);
        parse_id(&self.run_ok(&args))
    }

    /// Like [`start`](Self::start) with the helper binary as the command:
    /// `run -b [OPTS] -- e2e-helper HELPER_ARGS`.
    #[track_caller]
    pub fn start_helper(&self, opts: &[&str], helper_args: &[&str]) -> u64 {
        let helper = helper_bin();
        let mut cmd = vec![helper.to_str().expect("utf-8 helper path")];
        cmd.extend_from_slice(helper_args);
        self.start(opts, &cmd)
    }

    /// Start `bgjobs run -- CMD` attached, as a child of the test (stdout
    /// discarded), and wait until its job is recorded. Returns the pid of
    /// `bgjobs run` and the job id.
    #[track_caller]
    pub fn start_attached(&self, cmd: &[&str]) -> (u32, u64) {
        let known = match self.workspace_dirs().is_empty() {
            true => Vec::new(),
            false => self.record_ids(),
        };
        let mut args = vec!["run", "--"];
        args.extend_from_slice(cmd);
        let mut run = self.bgjobs(&args);
        run.stdout(Stdio::null());
        let pid = self.spawn_tracked(run);
        let id = wait_until("the attached job to be recorded", DEADLINE, || {
            self.workspace_dirs().first()?;
            self.record_ids().into_iter().find(|id| !known.contains(id))
        });
        (pid, id)
    }

    /// Jobs of the workspace from `status --all --json`, oldest first
    /// (none before the store exists).
    pub fn jobs(&self) -> Vec<Value> {
        if self.workspace_dirs().is_empty() {
            return Vec::new();
        }
        let mut jobs: Vec<Value> = self.json(&["status", "--all", "--json"])["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        jobs.sort_by_key(|j| j["id"].as_u64());
        jobs
    }

    /// The helper binary's path as a string, for building job commands.
    pub fn helper(&self) -> String {
        helper_bin().to_string_lossy().into_owned()
    }

    /// Start `e2e-helper ARGS` as a child of the test (killed on drop);
    /// returns its pid.
    pub fn spawn_helper(&self, args: &[&str]) -> u32 {
        let mut cmd = Command::new(helper_bin());
        cmd.args(args);
        self.apply(&mut cmd);
        self.spawn_tracked(cmd)
    }

    /// Spawn `cmd` as a child of the test; it is killed and reaped on drop.
    pub fn spawn_tracked(&self, mut cmd: Command) -> u32 {
        let child = cmd.spawn().expect("spawn child");
        let pid = child.id();
        self.children.lock().unwrap().push(child);
        pid
    }

    /// Take back a child started with [`spawn_tracked`](Self::spawn_tracked)
    /// to wait for it in the test.
    pub fn take_child(&self, pid: u32) -> Child {
        let mut children = self.children.lock().unwrap();
        let at = children
            .iter()
            .position(|c| c.id() == pid)
            .expect("a tracked child");
        children.remove(at)
    }

    // ----- the store on disk -------------------------------------------------

    /// The store directory `<home>/workspaces/<slug>-<hash>/`; there must be
    /// exactly one workspace in the state root.
    #[track_caller]
    pub fn store_dir(&self) -> PathBuf {
        let dirs = self.workspace_dirs();
        assert_eq!(
            dirs.len(),
            1,
            "expected exactly one workspace store under {}: {dirs:?}",
            self.home.display()
        );
        dirs.into_iter().next().unwrap()
    }

    /// Every store directory under `<home>/workspaces/`.
    pub fn workspace_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(self.home.join("workspaces")) {
            Ok(entries) => entries.map(|e| e.expect("read_dir").path()).collect(),
            Err(_) => Vec::new(),
        };
        dirs.sort();
        dirs
    }

    /// `jobs/<id>.json`.
    pub fn job_file(&self, id: u64) -> PathBuf {
        self.store_dir().join("jobs").join(format!("{id}.json"))
    }

    /// `logs/<id>.log`.
    pub fn log_file(&self, id: u64) -> PathBuf {
        self.store_dir().join("logs").join(format!("{id}.log"))
    }

    /// Ids of the records in `jobs/` (files named `<id>.json`), ascending.
    pub fn record_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = list_dir(&self.store_dir().join("jobs"))
            .iter()
            .filter_map(|name| name.strip_suffix(".json")?.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The raw record `jobs/<id>.json`, parsed.
    #[track_caller]
    pub fn read_record(&self, id: u64) -> Value {
        let path = self.job_file(id);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Replace `jobs/<id>.json` by hand (written beside, then renamed in, so
    /// no reader sees a torn file).
    pub fn write_record(&self, id: u64, record: &Value) {
        let text = serde_json::to_string_pretty(record).unwrap() + "\n";
        self.with_store_lock(|| replace_file(&self.job_file(id), text.as_bytes()));
    }

    /// `index.json`, parsed.
    pub fn read_index(&self) -> Value {
        let path = self.store_dir().join("index.json");
        parse_json(&std::fs::read_to_string(path).expect("read index.json"))
    }

    /// Replace `index.json` by hand.
    pub fn write_index(&self, index: &Value) {
        let text = serde_json::to_string_pretty(index).unwrap() + "\n";
        let path = self.store_dir().join("index.json");
        self.with_store_lock(|| replace_file(&path, text.as_bytes()));
    }

    /// Every file under the store directory, relative path -> bytes.
    pub fn snapshot(&self, sub: &str) -> BTreeMap<String, Vec<u8>> {
        let dir = self.store_dir().join(sub);
        list_dir(&dir)
            .into_iter()
            .map(|name| {
                let bytes = std::fs::read(dir.join(&name)).expect("read store file");
                (name, bytes)
            })
            .collect()
    }

    // ----- clean-up ----------------------------------------------------------

    /// Kill everything this environment started: every process whose
    /// environment names this state root (bgjobs commands, workers, job
    /// commands and their children), and the tracked children.
    pub fn kill_all(&self) {
        #[cfg(target_os = "linux")]
        for _ in 0..20 {
            let found = proc::processes_with_env("BGJOBS_HOME", self.home.as_os_str());
            if found.is_empty() {
                break;
            }
            for pid in found {
                proc::signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        #[cfg(not(target_os = "linux"))]
        if self.home.join("workspaces").is_dir() {
            for args in [
                &["cancel", "--all", "--grace", "0s"][..],
                &["notifier", "stop"],
            ] {
                let _ = self
                    .bgjobs(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        for mut child in self.children.lock().unwrap().drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.kill_all();
        if std::env::var_os("BGJOBS_E2E_KEEP").is_some() {
            eprintln!("keeping {}", self.root.display());
            return;
        }
        // A dying worker may still be writing: retry briefly.
        for _ in 0..50 {
            match std::fs::remove_dir_all(&self.root) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return,
            }
        }
    }
}

/// A small deterministic generator (xorshift), so a failing run can be
/// repeated with the seed it prints (`BGJOBS_E2E_SEED`).
pub struct Rng(pub u64);

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}

impl Rng {
    pub fn new() -> Self {
        let seed = std::env::var("BGJOBS_E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `PATH` with the directory of the `bgjobs` under test first: a user who
/// put this very binary on their PATH.
pub fn path_with_bgjobs() -> std::ffi::OsString {
    let dir = bgjobs_bin()
        .parent()
        .expect("bgjobs is in a directory")
        .to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest))).expect("a PATH")
}

/// A hook event as Claude Code sends it, for `env`'s workspace.
pub fn hook_event(env: &TestEnv, session: &str, name: &str, extra: Value) -> String {
    let mut event = json!({
        "session_id": session,
        "transcript_path": format!("/home/u/.claude/projects/p/{session}.jsonl"),
        "cwd": env.ws,
        "permission_mode": "default",
        "hook_event_name": name,
    });
    for (k, v) in extra.as_object().expect("extra fields are an object") {
        event[k] = v.clone();
    }
    event.to_string()
}

/// Run `cmd` to its end, capturing output.
#[track_caller]
pub fn output(mut cmd: Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run `cmd`, require exit 0, return stdout.
#[track_caller]
pub fn ok(cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{shown} failed with {}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Parse JSON output, showing it when it is not JSON.
#[track_caller]
/// A real agent client's binary, named by the variable `var` that its CI
/// script (which installs the pinned client) sets; a test that needs it
/// fails without it, never passes.
pub fn client_bin(var: &str, what: &str, script: &str) -> PathBuf {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "{var} does not name {what} binary: run these tests with `bash {script}`, \
             which installs the pinned client"
        ),
    }
}

/// How often `needle` occurs in `text`.
pub fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

pub fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Parse the id that `run -b` prints.
#[track_caller]
pub fn parse_id(text: &str) -> u64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("expected a job id, got {text:?}"))
}

/// The ids of the jobs in a `status --json` document.
pub fn ids_of(status: &Value) -> Vec<u64> {
    status["jobs"]
        .as_array()
        .expect("jobs array")
        .iter()
        .map(|j| j["id"].as_u64().expect("numeric id"))
        .collect()
}

/// The job with `id` in a `status --json` document.
pub fn find_job(status: &Value, id: u64) -> Option<Value> {
    status["jobs"]
        .as_array()?
        .iter()
        .find(|j| j["id"].as_u64() == Some(id))
        .cloned()
}

/// Whether the path bgjobs printed (`value`, a JSON string) names `expected`;
/// both are canonicalised (Windows prints `C:\x` where the test may hold the
/// verbatim `\\?\C:\x`).
#[track_caller]
pub fn same_path(value: &Value, expected: &Path) -> bool {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a path: {value}"));
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(Path::new(text)) == canon(expected)
}

/// File names in `dir`, sorted (empty if it does not exist).
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("read_dir")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Every file below `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in list_dir(dir) {
        let path = dir.join(name);
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Replace `path` with `bytes` via a sibling temp file and a rename.
fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("e2e-hand-written");
    std::fs::write(&tmp, bytes).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename into place");
}

pub mod claude;
pub mod codex;
pub mod proc;
