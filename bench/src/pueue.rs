//! The completion latency of pueue, for reference, when `pueue` and `pueued`
//! are on `PATH`: the same stamped command, gate and clocks as
//! [`crate::latency`], with `pueue add` / `pueue wait ID` in place of
//! `bgjobs run -b` / `bgjobs wait ID`.
//!
//! pueue is the nearest existing tool (a per-user daemon running queued
//! shell commands), so it says whether bgjobs' numbers are good for the kind
//! of tool, not only against a floor. It runs with a private config (its
//! state, socket and secret under the fixture's scratch directory, never the
//! user's own daemon), and its daemon is ended with the fixture.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::Fixture;
use crate::latency::{self, platform, PATIENCE, SETTLE, STAMP_FLAG};
use crate::measure::{self, Probe};

/// `pueue` on `PATH`, and `pueued` beside it (or on `PATH`).
pub struct Pueue {
    pub client: PathBuf,
    pub daemon: PathBuf,
}

impl Pueue {
    /// Both binaries, if present.
    pub fn find() -> Option<Self> {
        let client = on_path("pueue")?;
        let beside = client.with_file_name(format!("pueued{}", std::env::consts::EXE_SUFFIX));
        let daemon = if beside.is_file() {
            beside
        } else {
            on_path("pueued")?
        };
        Some(Self { client, daemon })
    }

    /// `pueue --version`, for the report.
    pub fn version(&self) -> String {
        std::process::Command::new(&self.client)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "pueue (version unknown)".into())
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| p.is_file())
}

/// A private `pueued`, shut down and reaped however the measuring ends.
pub struct Daemon<'a> {
    fx: &'a Fixture,
    pueue: &'a Pueue,
    config: PathBuf,
    child: Child,
}

impl<'a> Daemon<'a> {
    /// A private daemon in `<scratch>/pueue-NAME` (config, state, socket and
    /// secret all there, a Unix socket only), holding `finished` finished
    /// `true` tasks, and answering.
    ///
    /// `pueue add` cannot fill it fast: the daemon rewrites its whole state
    /// file (every task, with the client's whole environment) on every
    /// change, so adding the n-th task costs O(n) — about 10 s for the first
    /// 1,000, minutes for 10,000. Instead one real task is added and run, the
    /// daemon is shut down, and its own `state.json` (where it persists its
    /// tasks across restarts) is rewritten with `finished` copies of that
    /// task, renumbered; the restarted daemon then loads them. Copying a
    /// record this very version wrote keeps the format right; the restarted
    /// daemon's `status` is checked to list them all, finished.
    pub fn start(
        fx: &'a Fixture,
        pueue: &'a Pueue,
        name: &str,
        finished: usize,
    ) -> Result<Self, String> {
        let dir = fx.scratch().join(format!("pueue-{name}"));
        for sub in ["data", "run"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let config = dir.join("pueue.yml");
        let text = format!(
            "shared:\n  pueue_directory: {data}\n  runtime_directory: {run}\n  \
             use_unix_socket: true\n  unix_socket_path: {run}/pueue.sock\n",
            data = dir.join("data").display(),
            run = dir.join("run").display()
        );
        std::fs::write(&config, text)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let daemon = Self::spawn(fx, pueue, &dir, config)?;
        if finished == 0 {
            return Ok(daemon);
        }
        let template = daemon.add(&["true"])?;
        daemon.await_done(template)?;
        let config = daemon.config.clone();
        drop(daemon);
        let state_path = dir.join("data").join("state.json");
        let text = std::fs::read(&state_path)
            .map_err(|e| format!("pueued left no {}: {e}", state_path.display()))?;
        let mut state: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not JSON: {e}", state_path.display()))?;
        let task = state["tasks"][template.to_string()].clone();
        if !task.is_object() {
            return Err(format!("{} has no task {template}", state_path.display()));
        }
        let mut tasks = serde_json::Map::with_capacity(finished);
        for id in 0..finished {
            let mut copy = task.clone();
            copy["id"] = id.into();
            tasks.insert(id.to_string(), copy);
        }
        state["tasks"] = serde_json::Value::Object(tasks);
        let text = serde_json::to_vec(&state)
            .map_err(|e| format!("cannot serialise pueue's state: {e}"))?;
        drop(state);
        std::fs::write(&state_path, text)
            .map_err(|e| format!("cannot write {}: {e}", state_path.display()))?;
        let daemon = Self::spawn(fx, pueue, &dir, config)?;
        let done = daemon.finished_tasks()?;
        if done != finished {
            return Err(format!(
                "pueued loaded {done} finished tasks from its state file, not {finished}"
            ));
        }
        Ok(daemon)
    }

    /// Start `pueued -c CONFIG` (output to `DIR/pueued.log`) and wait until
    /// it answers.
    fn spawn(
        fx: &'a Fixture,
        pueue: &'a Pueue,
        dir: &Path,
        config: PathBuf,
    ) -> Result<Self, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("pueued.log"))
            .map_err(|e| format!("cannot create the pueued log: {e}"))?;
        let child = fx
            .command(&pueue.daemon)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(|e| format!("cannot share the pueued log: {e}"))?,
            )
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", pueue.daemon.display()))?;
        let daemon = Daemon {
            fx,
            pueue,
            config,
            child,
        };
        let start = Instant::now();
        while measure::time_success(&mut daemon.client(&["status", "--json"])).is_err() {
            if start.elapsed() > PATIENCE {
                return Err("pueued did not answer".into());
            }
            crate::interrupt::check()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }

    /// `pueue -c CONFIG ARGS…`, inside the fixture (so that its tasks, which
    /// get the client's environment, are swept like every other process).
    pub fn client(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = self.fx.command(&self.pueue.client);
        cmd.arg("-c").arg(&self.config).args(args);
        cmd
    }

    /// `pueue add -- COMMAND…`; the task id.
    pub fn add(&self, command: &[&str]) -> Result<u64, String> {
        self.add_timed(command).map(|(_, id)| id)
    }

    /// `pueue add -p -- COMMAND…`, timed from spawn to exit; the task id.
    pub fn add_timed(&self, command: &[&str]) -> Result<(Duration, u64), String> {
        let mut args = vec!["add", "-p", "--"];
        args.extend_from_slice(command);
        let (took, out) = measure::time_success(&mut self.client(&args))?;
        let printed = String::from_utf8_lossy(&out.stdout);
        let id = printed
            .trim()
            .parse()
            .map_err(|_| format!("`pueue add -p` printed {:?}, not a task id", printed.trim()))?;
        Ok((took, id))
    }

    /// Until task `id` is done, asking for that task alone (`pueue log ID
    /// --json`: the daemon sends only it, so this stays cheap however many
    /// tasks it holds, unlike `status`). A task that failed is an error.
    pub fn await_done(&self, id: u64) -> Result<(), String> {
        let id_text = id.to_string();
        let start = Instant::now();
        loop {
            crate::interrupt::check()?;
            let (_, out) = measure::time_success(&mut self.client(&["log", &id_text, "--json"]))?;
            let log: serde_json::Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| format!("`pueue log --json` printed no JSON: {e}"))?;
            let status = &log[&id_text]["task"]["status"];
            if let Some(done) = status.get("Done") {
                return match done["result"].as_str() {
                    Some("Success") => Ok(()),
                    _ => Err(format!("pueue task {id} ended {}", done["result"])),
                };
            }
            if start.elapsed() > PATIENCE {
                return Err(format!(
                    "pueue task {id} is still {status} after {PATIENCE:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How many tasks `pueue status --json` lists as done.
    fn finished_tasks(&self) -> Result<usize, String> {
        let (_, out) = measure::time_success(&mut self.client(&["status", "--json"]))?;
        let state: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("`pueue status --json` printed no JSON: {e}"))?;
        Ok(state["tasks"].as_object().map_or(0, |tasks| {
            tasks
                .values()
                .filter(|t| t["status"].get("Done").is_some())
                .count()
        }))
    }

    /// The status of task `id` (`Running`, `Done`, …): the key of its
    /// `status` object in `pueue status --json`.
    fn task_status(&self, id: u64) -> Result<String, String> {
        let (_, out) = measure::time_success(&mut self.client(&["status", "--json"]))?;
        let state: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("`pueue status --json` printed no JSON: {e}"))?;
        let status = &state["tasks"][id.to_string()]["status"];
        Ok(match status {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
            _ => String::new(),
        })
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = self
            .client(&["shutdown"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Samples (ms) of command end → `pueue wait ID` returned, `warmup` +
/// `runs` of them.
pub fn measure(
    fx: &Fixture,
    pueue: &Pueue,
    warmup: usize,
    runs: usize,
) -> Result<Vec<f64>, String> {
    eprintln!("bgjobs-bench: pueue for reference ({warmup} warm-up + {runs} runs)…");
    let daemon = Daemon::start(fx, pueue, "latency", 0)?;
    let dir = fx.scratch().join("pueue-latency");
    let exe = fx.bench_exe()?;
    let mut n = 0u32;
    let mut probes = [Probe::new("pueue", || {
        n += 1;
        let stamp = dir.join(format!("pueue-{n}.stamp"));
        let gate = dir.join(format!("pueue-{n}.gate"));
        platform::make_gate(&gate)?;
        let id = add(&daemon, &exe, &stamp, &gate)?;
        let start = Instant::now();
        loop {
            crate::interrupt::check()?;
            match daemon.task_status(id)?.as_str() {
                "Running" => break,
                "Queued" | "Locked" => {}
                other => return Err(format!("pueue task {id} is {other:?}, not running")),
            }
            if start.elapsed() > PATIENCE {
                return Err(format!("pueue task {id} did not start"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let id_text = id.to_string();
        let mut wait = daemon.client(&["wait", &id_text]);
        let mut child = latency::spawn_quiet(&mut wait)?;
        std::thread::sleep(SETTLE + phase());
        let end = latency::release_and_reap(&gate, &mut child)?;
        let took = latency::since_stamp(&stamp, end)?;
        latency::tidy(&[&stamp, &gate]);
        Ok(took)
    })];
    let samples = measure::interleaved(&mut probes, warmup, runs)?;
    drop(probes);
    drop(daemon);
    Ok(measure::millis(
        &samples.into_iter().next().unwrap_or_default(),
    ))
}

/// How long `pueue wait` polls the daemon's state: it looks, then sleeps.
pub const POLL: Duration = Duration::from_secs(2);

/// A pseudo-random pause in `[0, POLL)`, so that the command ends at a
/// random point of `pueue wait`'s polling cycle, as a real job would.
/// Released right after its first look instead, every sample would be the
/// worst case (one full cycle).
fn phase() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // The low bits of the clock are as good as random here; scramble them.
    let mixed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    POLL.mul_f64(mixed as f64 / f64::from(u32::MAX))
}

/// `pueue add -p -- BENCH --stamp-exit STAMP GATE`; the task id. pueue runs
/// commands through the shell; the paths hold no characters it would read.
fn add(daemon: &Daemon<'_>, exe: &Path, stamp: &Path, gate: &Path) -> Result<u64, String> {
    let (exe, stamp, gate) = (
        exe.to_string_lossy(),
        stamp.to_string_lossy(),
        gate.to_string_lossy(),
    );
    daemon.add(&[&exe, STAMP_FLAG, &stamp, &gate])
}
