//! Codex CLI's hooks: Codex runs each hook command as `/bin/bash -c
//! COMMAND` (not a login shell; checked with 0.171.0), and `install codex`
//! writes `'<bgjobs>' hook --agent codex`. So each event is timed exactly
//! so, against the floor of the same shell running the cheapest program,
//! `/bin/true`, with the same payload on stdin: what any hook costs Codex
//! at least (bash starts the program in its own place, as it does bgjobs).
//! `bash -c true` is timed too, as information: `true` is a bash builtin,
//! so it starts no program at all, which no hook command can match; and a
//! login shell (`bash -lc`, which Codex does not use) costs the sourcing of
//! the profile, 100 times a hook on some machines. Target: each event
//! in its common case within 1.5× that floor (the hook's own work, beyond
//! the shell's start, at most half a shell start). Telling an end is timed
//! too, as information: it must record the end told durably (two fsync'd
//! writes today), which is what makes it exactly once across a crash.

use std::cell::Cell;
use std::path::Path;
use std::time::Duration;

use bgjobs_store::Store;
use serde_json::{json, Value};

use crate::fixture::Fixture;
use crate::measure::{self, Probe};
use crate::report::{Row, Target, Unit};

/// The shell Codex runs hooks with.
const SHELL: &str = "/bin/bash";
/// The Codex session of the timed events.
const SESSION: &str = "01a2345f-841a-7a31-924d-195e6096cfdd";
/// Target: each event's median within this many floors.
const MAX_RATIO: f64 = 1.5;

/// Samples, in milliseconds.
pub struct CodexHooks {
    /// `/bin/bash -c true`, a payload on stdin.
    pub floor: Vec<f64>,
    /// `/bin/bash -c true` (a builtin: no program started).
    pub builtin: Vec<f64>,
    pub session_start: Vec<f64>,
    pub prompt: Vec<f64>,
    pub post_quiet: Vec<f64>,
    pub post_tool: Vec<f64>,
    pub stop: Vec<f64>,
    pub session_end: Vec<f64>,
}

/// Time the Codex events in `workspace` (whose store is `store`); `None`
/// where there is no `/bin/bash` (Codex's hooks need it too).
pub fn measure(
    fx: &Fixture,
    workspace: &Path,
    store: &Store,
    warmup: usize,
    runs: usize,
) -> Result<Option<CodexHooks>, String> {
    if !Path::new(SHELL).is_file() {
        return Ok(None);
    }
    eprintln!("bgjobs-bench: Codex hooks ({warmup} warm-up + {runs} runs)…");
    let ws = workspace.to_string_lossy().into_owned();
    let command = format!("'{}' hook --agent codex", fx.bin().display());
    let run = |line: &str, payload: &Value| -> Result<(Duration, String), String> {
        let mut cmd = fx.command(SHELL);
        cmd.args(["-c", line]).current_dir(workspace);
        let (took, out) =
            measure::time_success_with_input(&mut cmd, payload.to_string().as_bytes())?;
        Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let hook = |payload: &Value| run(&command, payload);
    let quiet = |payload: &Value| -> Result<Duration, String> {
        let (took, out) = hook(payload)?;
        if !out.trim().is_empty() {
            return Err(format!("expected nothing to tell, got {:?}", out.trim()));
        }
        Ok(took)
    };
    let prompt = event(&ws, SESSION, "UserPromptSubmit", json!({"prompt": "x"}));
    let stop = event(
        &ws,
        SESSION,
        "Stop",
        json!({"stop_hook_active": false, "last_assistant_message": "done"}),
    );
    let post_quiet = event(
        &ws,
        SESSION,
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"},
               "tool_response": "Cargo.toml\n", "tool_use_id": "call_ls"}),
    );
    let ended = Cell::new(0u32);
    let mut probes = [
        Probe::new("Codex hook floor", || {
            run("/bin/true", &prompt).map(|(took, _)| took)
        }),
        Probe::new("bash builtin", || {
            run("true", &prompt).map(|(took, _)| took)
        }),
        Probe::new("Codex SessionStart", || {
            let start = event(&ws, SESSION, "SessionStart", json!({"source": "startup"}));
            hook(&start).map(|(took, _)| took)
        }),
        Probe::new("Codex UserPromptSubmit", || quiet(&prompt)),
        Probe::new("Codex PostToolUse, nothing to tell", || quiet(&post_quiet)),
        Probe::new("Codex PostToolUse", || {
            let id = super::finished_job(store, SESSION)?;
            let post = event(
                &ws,
                SESSION,
                "PostToolUse",
                json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"},
                       "tool_response": "ok\n", "tool_use_id": format!("call_{id}")}),
            );
            let (took, out) = hook(&post)?;
            if !out.contains("additionalContext") || !out.contains(&format!("job {id} ")) {
                return Err(format!("job {id} was not told: {:?}", out.trim()));
            }
            Ok(took)
        }),
        Probe::new("Codex Stop", || quiet(&stop)),
        Probe::new("Codex SessionEnd", || {
            ended.set(ended.get() + 1);
            let session = format!("01a2345f-0000-7000-8000-{:012}", ended.get());
            hook(&event(
                &ws,
                &session,
                "SessionStart",
                json!({"source": "startup"}),
            ))?;
            let end = event(&ws, &session, "SessionEnd", json!({"reason": "other"}));
            hook(&end).map(|(took, _)| took)
        }),
    ];
    let samples = measure::interleaved(&mut probes, warmup, runs)?;
    let mut samples = samples.into_iter();
    let mut next = || measure::millis(&samples.next().unwrap_or_default());
    Ok(Some(CodexHooks {
        floor: next(),
        builtin: next(),
        session_start: next(),
        prompt: next(),
        post_quiet: next(),
        post_tool: next(),
        stop: next(),
        session_end: next(),
    }))
}

/// A hook event as Codex sends it: its common fields (a turn, the model,
/// a rollout transcript) plus `extra`.
fn event(cwd: &str, session: &str, name: &str, extra: Value) -> Value {
    let mut value = json!({
        "session_id": session,
        "transcript_path": format!("/tmp/.codex/sessions/2026/12/02/rollout-2026-12-02T01-30-05-{session}.jsonl"),
        "cwd": cwd,
        "hook_event_name": name,
        "model": "gpt-5.1-codex",
        "permission_mode": "bypassPermissions",
    });
    if name != "SessionStart" && name != "SessionEnd" {
        value["turn_id"] = json!("01a2345f-8632-7b70-9fe6-32c0e9f3494a");
    }
    if let (Some(map), Value::Object(more)) = (value.as_object_mut(), extra) {
        map.extend(more);
    }
    value
}

/// The table's rows.
pub fn rows(hooks: CodexHooks) -> Vec<Row> {
    let floor = Row::new(
        "codex_hook_floor",
        "Codex hook floor: `/bin/bash -c /bin/true`, same payload on stdin",
        Unit::Millis,
        hooks.floor,
    );
    let median = floor.stats.median;
    let builtin = Row::new(
        "codex_hook_bash_builtin",
        "`/bin/bash -c true` (a builtin: no program started), same payload (information)",
        Unit::Millis,
        hooks.builtin,
    )
    .against("Codex hook floor", median);
    let row = |key, name: &str, samples| {
        let row = Row::new(
            key,
            format!("Codex `bash -c 'bgjobs hook --agent codex'` {name}"),
            Unit::Millis,
            samples,
        )
        .against("Codex hook floor", median);
        let met = row.ratio.is_some_and(|r| r <= MAX_RATIO);
        row.target(Target::custom(format!("median ≤ {MAX_RATIO}× floor"), met))
    };
    let told = Row::new(
        "codex_hook_post_tool",
        "Codex `bash -c 'bgjobs hook --agent codex'` PostToolUse, one job to tell (information)",
        Unit::Millis,
        hooks.post_tool,
    )
    .against("Codex hook floor", median);
    let rows = [
        row(
            "codex_hook_session_start",
            "SessionStart (startup)",
            hooks.session_start,
        ),
        row(
            "codex_hook_prompt",
            "UserPromptSubmit, nothing to tell",
            hooks.prompt,
        ),
        row(
            "codex_hook_post_quiet",
            "PostToolUse, nothing to tell",
            hooks.post_quiet,
        ),
        told,
        row("codex_hook_stop", "Stop, nothing to tell", hooks.stop),
        row(
            "codex_hook_session_end",
            "SessionEnd, no foreground jobs",
            hooks.session_end,
        ),
    ];
    [floor, builtin].into_iter().chain(rows).collect()
}
