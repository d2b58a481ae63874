//! Hook process time: the wall time of `bgjobs hook` from spawn to exit,
//! with the event on stdin, for the events Claude Code sends on every
//! session and every turn.
//!
//! Hooks run synchronously in the agent's loop — UserPromptSubmit before
//! every prompt, PostToolUse after every tool call — so whatever they cost,
//! the user waits for, over and over; SessionEnd additionally has to fit in
//! Claude Code's 1.5 s budget for all SessionEnd hooks together. They are
//! timed in a workspace that is neither empty nor idle: [`FINISHED`]
//! finished jobs and [`RUNNING`] running background jobs of the session, so
//! that whatever a hook reads (the index, the active jobs, the session) has
//! realistic size.
//!
//! Each event is timed in its common case:
//! - SessionStart (`source: startup`): records the session, a new one per
//!   sample (Claude Code gives each session it starts a new id).
//! - UserPromptSubmit with nothing to tell: the path taken on almost every
//!   prompt.
//! - PostToolUse with one finished job to tell: before each sample (untimed)
//!   a finished job of the session is recorded through the store with
//!   `deliveries.told_at` unset, as the notifier leaves it; the hook claims
//!   it, prints it as `additionalContext` (checked) and marks it told.
//! - SessionEnd of a session with no foreground jobs (a fresh session per
//!   sample, started by an untimed SessionStart), so no reaper is spawned.
//! - PreToolUse on a foreground Bash call: runs before every Bash call and
//!   must answer without opening the store (target ≤ 1.3× its floor).
//! - PreToolUse on a background Bash call, adopted: the rewritten input is
//!   checked in the output (target ≤ 1.5× its floor, as every event).

use std::cell::Cell;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use bgjobs_store::time::Timestamp;
use bgjobs_store::{Created, NewJob, Status, Store};
use serde_json::json;

mod codex;

use crate::fixture::Fixture;
use crate::measure::{self, Probe};
use crate::report::{Row, Target, Unit};

/// Hidden flag: `--sleep SECS`, the command of the running background jobs
/// (the bench itself, so that it exists on every platform).
pub const SLEEP_FLAG: &str = "--sleep";

/// The session that owns the running jobs and is told of finished ones.
const SESSION: &str = "bench-s1";
/// Finished jobs in the hooks' workspace.
pub const FINISHED: usize = 1_000;
/// Running background jobs of [`SESSION`] in it.
pub const RUNNING: usize = 10;

/// Target: each hook event's median within 1.5 process floors (the same
/// payload read by `/bin/true`), measured in the same run.
const MAX_RATIO: f64 = 1.5;

/// Give up waiting for a job to start after this long.
const PATIENCE: Duration = Duration::from_secs(10);

/// Samples, in milliseconds.
pub struct Hooks {
    /// `/bin/true` given the same payload on stdin.
    pub floor: Vec<f64>,
    pub session_start: Vec<f64>,
    pub prompt: Vec<f64>,
    pub post_tool: Vec<f64>,
    pub session_end: Vec<f64>,
    /// `/bin/true` given a PreToolUse payload.
    pub pre_floor: Vec<f64>,
    pub pre_foreground: Vec<f64>,
    pub pre_adopted: Vec<f64>,
    /// Codex CLI's events, where there is `/bin/bash`.
    pub codex: Option<codex::CodexHooks>,
}

/// Ratio targets of the PreToolUse hook to its floor.
const PRE_FOREGROUND_RATIO: f64 = 1.3;
const PRE_ADOPTED_RATIO: f64 = 1.5;

/// Set up the workspace, time the four hooks and their floor interleaved,
/// and stop the running jobs again.
pub fn measure(fx: &Fixture, warmup: usize, runs: usize) -> Result<Hooks, String> {
    let workspace = fx.add_workspace("hooks")?;
    eprintln!("bgjobs-bench: hooks: recording {FINISHED} finished jobs, starting {RUNNING}…");
    fx.populate_at(&workspace, FINISHED)?;
    let store = fx.store_at(&workspace)?;
    let running = Running::start(fx, &store)?;
    eprintln!("bgjobs-bench: hooks ({warmup} warm-up + {runs} runs)…");

    let ws = workspace.to_string_lossy().into_owned();
    let hook = |payload: &serde_json::Value| -> Result<(Duration, String), String> {
        let mut cmd = fx.bgjobs_in(&workspace, &["hook"]);
        cmd.env("CLAUDE_PROJECT_DIR", &workspace);
        let (took, out) =
            measure::time_success_with_input(&mut cmd, payload.to_string().as_bytes())?;
        Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let prompt = event(&ws, SESSION, "UserPromptSubmit", json!({ "prompt": "x" }));
    let startup =
        |session: &str| event(&ws, session, "SessionStart", json!({ "source": "startup" }));
    let ended = Cell::new(0u32);
    let started = Cell::new(0u32);
    let bash = |background: bool| {
        event(
            &ws,
            SESSION,
            "PreToolUse",
            json!({
                "permission_mode": "default",
                "tool_name": "Bash",
                "tool_input": {"command": "cargo test --workspace", "description": "Run the tests",
                               "run_in_background": background},
                "tool_use_id": "toolu_01bench",
            }),
        )
    };
    let (foreground, background) = (bash(false), bash(true));
    // The floor: the same payload read by a process that does nothing.
    let floor = |payload: &serde_json::Value| {
        let payload = payload.to_string();
        move || {
            measure::time_success_with_input(&mut fx.floor(), payload.as_bytes()).map(|(t, _)| t)
        }
    };
    let mut probes = [
        Probe::new("hook floor", floor(&prompt)),
        Probe::new("SessionStart", || {
            // Claude Code starts every session (`startup`) under a new id.
            started.set(started.get() + 1);
            let start = startup(&format!("bench-start-{}", started.get()));
            hook(&start).map(|(took, _)| took)
        }),
        Probe::new("UserPromptSubmit", || {
            let (took, out) = hook(&prompt)?;
            if !out.trim().is_empty() {
                return Err(format!("expected nothing to tell, got {:?}", out.trim()));
            }
            Ok(took)
        }),
        Probe::new("PostToolUse", || {
            let id = finished_job(&store, SESSION)?;
            let post = event(
                &ws,
                SESSION,
                "PostToolUse",
                json!({
                    "permission_mode": "default",
                    "tool_name": "Bash",
                    "tool_input": {"command": "cargo test", "description": "Run the tests"},
                    "tool_response": {"stdout": "ok\n", "stderr": "", "interrupted": false,
                                      "isImage": false},
                    "tool_use_id": format!("toolu_{id}"),
                }),
            );
            let (took, out) = hook(&post)?;
            if !out.contains("additionalContext") || !out.contains(&format!("job {id} ")) {
                return Err(format!("job {id} was not told: {:?}", out.trim()));
            }
            Ok(took)
        }),
        Probe::new("SessionEnd", || {
            ended.set(ended.get() + 1);
            let session = format!("bench-end-{}", ended.get());
            hook(&startup(&session))?;
            let end = event(&ws, &session, "SessionEnd", json!({ "reason": "other" }));
            hook(&end).map(|(took, _)| took)
        }),
        Probe::new("PreToolUse floor", floor(&foreground)),
        Probe::new("PreToolUse, foreground", || {
            let (took, out) = hook(&foreground)?;
            if !out.trim().is_empty() {
                return Err(format!("a foreground call was touched: {:?}", out.trim()));
            }
            Ok(took)
        }),
        Probe::new("PreToolUse, adopted", || {
            let (took, out) = hook(&background)?;
            if !out.contains("updatedInput") || !out.contains("--follow") {
                return Err(format!("the call was not adopted: {:?}", out.trim()));
            }
            Ok(took)
        }),
    ];
    let samples = measure::interleaved(&mut probes, warmup, runs)?;
    let codex = codex::measure(fx, &workspace, &store, warmup, runs)?;
    running.check_still_running()?;
    drop(running);
    let mut samples = samples.into_iter();
    let mut next = || measure::millis(&samples.next().unwrap_or_default());
    Ok(Hooks {
        floor: next(),
        session_start: next(),
        prompt: next(),
        post_tool: next(),
        session_end: next(),
        pre_floor: next(),
        pre_foreground: next(),
        pre_adopted: next(),
        codex,
    })
}

/// A hook event as Claude Code sends it: the common fields plus `extra`.
fn event(cwd: &str, session: &str, name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut value = json!({
        "session_id": session,
        "transcript_path": "/tmp/t.jsonl",
        "cwd": cwd,
        "hook_event_name": name,
    });
    if let (Some(map), serde_json::Value::Object(more)) = (value.as_object_mut(), extra) {
        map.extend(more);
    }
    value
}

/// Record a finished job of `session` the session has not been told of,
/// the way the worker and then the notifier leave it; its id.
fn finished_job(store: &Store, session: &str) -> Result<u64, String> {
    let new = NewJob {
        title: Some("cargo test".into()),
        command: vec!["cargo".into(), "test".into()],
        cwd: store.workspace().to_string_lossy().into_owned(),
        background: true,
        session_id: Some(session.into()),
        ..NewJob::default()
    };
    let id = match store.create(new) {
        Ok(Created::New(job)) => job.id,
        Ok(Created::Existing(job)) => return Err(format!("job {} was reused", job.id)),
        Err(e) => return Err(format!("cannot record a finished job: {e}")),
    };
    store
        .update(id, |j| {
            j.status = Status::Running;
            j.started_at = Some(j.created_at);
            j.exit_code = Some(0);
            j.output_tail = "test result: ok. 42 passed\n".into();
            j.finish(Status::Succeeded, None);
            j.deliveries.notified_at = Some(Timestamp::now());
        })
        .map_err(|e| format!("cannot finish job {id}: {e}"))?;
    Ok(id)
}

/// The running background jobs, cancelled however the measuring ends.
struct Running<'a> {
    fx: &'a Fixture,
    store: Store,
    workspace: PathBuf,
    ids: Vec<u64>,
}

impl<'a> Running<'a> {
    /// Start [`RUNNING`] background jobs of [`SESSION`] and wait until each
    /// is recorded `running`.
    fn start(fx: &'a Fixture, store: &Store) -> Result<Self, String> {
        let exe = fx.bench_exe()?;
        let exe = exe.to_string_lossy();
        let mut running = Self {
            fx,
            store: store.clone(),
            workspace: store.workspace().to_path_buf(),
            ids: Vec::new(),
        };
        for _ in 0..RUNNING {
            let mut run = fx.bgjobs_in(
                &running.workspace,
                &[
                    "run",
                    "-b",
                    "--session",
                    SESSION,
                    "--",
                    &exe,
                    SLEEP_FLAG,
                    "600",
                ],
            );
            let (_, out) = measure::time_success(&mut run)?;
            let printed = String::from_utf8_lossy(&out.stdout);
            let id = printed
                .trim()
                .parse()
                .map_err(|_| format!("`run -b` printed {:?}, not a job id", printed.trim()))?;
            running.ids.push(id);
        }
        let start = Instant::now();
        for &id in &running.ids {
            loop {
                crate::interrupt::check()?;
                let job = store
                    .get(id)
                    .map_err(|e| format!("cannot read job {id}: {e}"))?;
                match job.status {
                    Status::Running => break,
                    Status::Queued if start.elapsed() < PATIENCE => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    other => return Err(format!("background job {id} is {other}, not running")),
                }
            }
        }
        Ok(running)
    }

    /// The jobs must have lived through every hook (SessionEnd of other
    /// sessions, telling): otherwise the workspace changed under the timing.
    fn check_still_running(&self) -> Result<(), String> {
        for &id in &self.ids {
            let job = self
                .store
                .get(id)
                .map_err(|e| format!("cannot read job {id}: {e}"))?;
            if job.status != Status::Running {
                return Err(format!(
                    "background job {id} is {}, not running",
                    job.status
                ));
            }
        }
        Ok(())
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let ids: Vec<String> = self.ids.iter().map(u64::to_string).collect();
        let mut args = vec!["cancel", "--grace", "1s"];
        args.extend(ids.iter().map(String::as_str));
        let _ = self
            .fx
            .bgjobs_in(&self.workspace, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The table's rows.
pub fn rows(hooks: Hooks) -> Vec<Row> {
    let floor = Row::new(
        "hook_floor",
        "hook floor: `/bin/true`, same payload on stdin",
        Unit::Millis,
        hooks.floor,
    );
    let median = floor.stats.median;
    let row = |key, name: &str, samples| {
        let row = Row::new(
            key,
            format!(
                "`bgjobs hook` {name} ({RUNNING} running, {} finished)",
                Unit::Count.format(FINISHED as f64)
            ),
            Unit::Millis,
            samples,
        )
        .against("hook floor", median);
        let target = Target::ratio_at_most(&row, MAX_RATIO);
        row.target(target)
    };
    let start = row(
        "hook_session_start",
        "SessionStart (startup)",
        hooks.session_start,
    );
    let prompt = row(
        "hook_prompt",
        "UserPromptSubmit, nothing to tell",
        hooks.prompt,
    );
    let post = row(
        "hook_post_tool",
        "PostToolUse, one job to tell",
        hooks.post_tool,
    );
    let end = row(
        "hook_session_end",
        "SessionEnd, no foreground jobs",
        hooks.session_end,
    );
    let pre_floor = Row::new(
        "hook_pre_floor",
        "hook floor: `/bin/true`, a PreToolUse payload on stdin",
        Unit::Millis,
        hooks.pre_floor,
    );
    let pre_median = pre_floor.stats.median;
    let pre = |key, name: &str, samples, max: f64| {
        let row = Row::new(
            key,
            format!("`bgjobs hook` PreToolUse, {name}"),
            Unit::Millis,
            samples,
        )
        .against("PreToolUse floor", pre_median);
        let met = row.ratio.is_some_and(|r| r <= max);
        row.target(Target::custom(format!("median ≤ {max}× floor"), met))
    };
    let fg = pre(
        "hook_pre_foreground",
        "foreground Bash call (left alone)",
        hooks.pre_foreground,
        PRE_FOREGROUND_RATIO,
    );
    let adopted = pre(
        "hook_pre_adopted",
        "background Bash call (adopted)",
        hooks.pre_adopted,
        PRE_ADOPTED_RATIO,
    );
    let mut rows = vec![floor, start, prompt, post, end, pre_floor, fg, adopted];
    rows.extend(hooks.codex.map(codex::rows).into_iter().flatten());
    rows
}

/// How to read the rows.
pub fn notes(warmup: usize, runs: usize) -> Vec<String> {
    vec![
        format!(
            "Hooks: {warmup} warm-up then {runs} samples each, interleaved with their floor, in a \
         workspace of their own holding {} finished jobs and {RUNNING} running \
         background jobs of session `{SESSION}` (the bench in a sleep mode, cancelled \
         afterwards). Wall time from spawn to exit with the event JSON written to stdin, \
         `CLAUDE_PROJECT_DIR` set to the workspace. SessionStart: a new session per \
         sample, as Claude Code starts each. PostToolUse: before each sample \
         (untimed) one finished job of `{SESSION}` is recorded through the store with \
         `told_at` unset; the hook's stdout is checked to tell it. SessionEnd: a fresh \
         session per sample, started by an untimed SessionStart, with no foreground jobs.",
            Unit::Count.format(FINISHED as f64)
        ),
        format!(
        "Codex hooks: as Codex 0.171 runs them, `/bin/bash -c \"'<bgjobs>' hook --agent codex\"` \
         with a Codex payload (a `turn_id`, a rollout transcript) on stdin, in the same \
         workspace, interleaved with the floor `/bin/bash -c /bin/true` given the same payload; \
         {warmup} warm-up then {runs} samples each; `bash -c true` (a builtin, no program started) is shown for comparison. PostToolUse tells one finished job, \
         recorded untimed before each sample; Stop has nothing to tell; SessionEnd ends a \
         fresh session per sample."
    ),
    ]
}

/// Entry point of the hidden `--sleep SECS` mode.
pub fn sleep_main(args: &[String]) -> ExitCode {
    match args.first().and_then(|s| s.parse::<u64>().ok()) {
        Some(secs) => {
            std::thread::sleep(Duration::from_secs(secs));
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("bgjobs-bench: usage: {SLEEP_FLAG} SECS");
            ExitCode::from(2)
        }
    }
}
