//! End-to-end tests with the real Claude Code client (`BGJOBS_CLAUDE`) run
//! INTERACTIVELY: `claude` in a private tmux server, typed into and read
//! like a user would, offline against the scripted fake model on 127.0.0.1.
//! What reaches the model is read from the requests the fake received, what
//! happened to the jobs from the store. These cover what print mode cannot:
//! an idle session woken by the Stop waiter (`asyncRewake`), a client killed
//! while its waiter waits, and the user's stop from the `/tasks` dialog.
//! Run by `bash .ci/claude-test`; ignored by a plain `cargo test`, and
//! failing, not passing, without the client (or without tmux).

#![cfg(unix)]

// The tmux harness is compiled into this test crate; it reaches the
// library's items as `crate::claude`, `crate::poll`, … through these
// imports (and compiles unchanged as a module of the library itself).
use bgjobs_tests::{claude, count, poll, proc, wait_until, DEADLINE};
#[path = "../src/claude_tmux.rs"]
mod claude_tmux;

use std::path::Path;
use std::time::Duration;

use bgjobs_tests::{TestEnv, Value};
use claude::{Claude, Step};
use claude_tmux::Tui;

/// How long one `claude -p` run may take (bounds a hang).
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// How long the client may take to act on what it was given.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

/// Start the client with `bgjobs` on the Bash tool's `PATH`.
#[track_caller]
fn start<'a>(claude: &'a Claude<'a>) -> Tui<'a> {
    start_with(claude, &[])
}

/// Start the client with `bgjobs` on the Bash tool's `PATH` and the
/// variables `vars`.
#[track_caller]
fn start_with<'a>(claude: &'a Claude<'a>, vars: &[(&str, &str)]) -> Tui<'a> {
    let path = bgjobs_tests::path_with_bgjobs();
    Tui::start(claude, |cmd| {
        cmd.env("PATH", &path);
        for (name, value) in vars {
            cmd.env(name, value);
        }
    })
}

/// Wait for the only job of the workspace to be recorded; return it.
#[track_caller]
fn the_job(tui: &Tui) -> Value {
    let env = tui.claude.env;
    let job = tui.wait_for("the job to be recorded", CLIENT_LIMIT, || {
        env.jobs().first().cloned()
    });
    let all = env.jobs();
    assert_eq!(all.len(), 1, "expected one job: {all:?}");
    job
}

/// Wait until the session's Stop waiter (`hook --rewake`) is running;
/// return its pid.
#[track_caller]
fn wait_for_waiter(tui: &Tui, session: &str) -> u32 {
    tui.wait_for("the Stop waiter to run", CLIENT_LIMIT, || {
        let pid = tui
            .claude
            .env
            .session_record(session)
            .expect("the session record")["waiter"]["pid"]
            .as_u64()? as u32;
        proc::pid_alive(pid).then_some(pid)
    })
}

/// The last message of a request, as JSON text.
fn last_message(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(Value::to_string)
        .unwrap_or_default()
}

/// The requests of script `name` whose last message (what woke the model)
/// holds `needle`.
fn requests_ending_with(claude: &Claude, name: &str, needle: &str) -> usize {
    claude
        .model
        .requests_of(name)
        .iter()
        .filter(|r| last_message(r).contains(needle))
        .count()
}

/// Open the gate file a job waits for.
fn open(gate: &Path) {
    std::fs::write(gate, "").expect("create the gate");
}

/// Wait until the session, idle, is woken with the bgjobs notice of job
/// `id` and answers it (the answer shows on the screen); return the notice.
#[track_caller]
fn wait_woken(tui: &Tui, id: u64, answer: &str) {
    let notice = format!("Background job {id} ");
    tui.wait_for("the idle session to be woken", CLIENT_LIMIT, || {
        (requests_ending_with(tui.claude, "main", &notice) > 0).then_some(())
    });
    tui.wait_screen("the answer to the wake-up", CLIENT_LIMIT, |s| {
        s.contains(answer)
    });
}

/// Ask once more and wait for the answer: a later request that would repeat
/// an end already told.
#[track_caller]
fn ask_again(tui: &Tui, answer: &str) {
    let before = tui.claude.model.requests_of("main").len();
    tui.type_line("anything else?");
    tui.wait_for("the next request", CLIENT_LIMIT, || {
        (tui.claude.model.requests_of("main").len() > before).then_some(())
    });
    tui.wait_screen("the next answer", CLIENT_LIMIT, |s| s.contains(answer));
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn an_idle_session_is_woken_once_when_a_job_ends() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let gate = env.root.join("gate");
    let command = format!(
        "bgjobs run -b -- {} wait-file {}",
        env.helper(),
        gate.display()
    );
    claude.model.script(
        "main",
        vec![
            Step::bash(&command),
            Step::text("started, now idle"),
            Step::text("heard the end"),
            Step::text("nothing else"),
        ],
    );
    let tui = start(&claude);
    tui.type_line("SCRIPT:main start a job");
    tui.wait_screen("the end of the first turn", CLIENT_LIMIT, |s| {
        s.contains("started, now idle")
    });
    let job = the_job(&tui);
    let id = job["id"].as_u64().unwrap();
    assert_eq!(job["status"], "running", "{job}");
    let session = job["session_id"]
        .as_str()
        .expect("the job's session")
        .to_string();
    let waiter = wait_for_waiter(&tui, &session);
    let notice = format!("Background job {id} ");
    assert_eq!(requests_ending_with(&claude, "main", &notice), 0);

    open(&gate);
    wait_woken(&tui, id, "heard the end");
    let job = env.wait_for_status(id, &["succeeded"]);
    assert!(job["deliveries"]["told_at"].is_string(), "told: {job}");
    proc::wait_dead(waiter, "the waiter that woke the session");
    let view = claude.model.last_view("main");
    assert_eq!(count(&view, &notice), 1, "woken once: {view}");

    // Told once: neither the next prompt nor a later wake-up repeats it.
    ask_again(&tui, "nothing else");
    assert_eq!(
        requests_ending_with(&claude, "main", &notice),
        1,
        "{:#?}",
        claude.model.requests_of("main")
    );
    let view = claude.model.last_view("main");
    assert_eq!(count(&view, &notice), 1, "told again: {view}");
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn a_killed_clients_waiter_stands_down_and_the_end_is_told_on_resume() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let gate = env.root.join("gate");
    let command = format!(
        "bgjobs run -b -- {} wait-file {}",
        env.helper(),
        gate.display()
    );
    claude.model.script(
        "main",
        vec![
            Step::bash(&command),
            Step::text("started, now idle"),
            Step::text("resumed"),
        ],
    );
    let tui = start(&claude);
    tui.type_line("SCRIPT:main start a job");
    tui.wait_screen("the end of the first turn", CLIENT_LIMIT, |s| {
        s.contains("started, now idle")
    });
    let job = the_job(&tui);
    let id = job["id"].as_u64().unwrap();
    let session = job["session_id"]
        .as_str()
        .expect("the job's session")
        .to_string();
    let waiter = wait_for_waiter(&tui, &session);
    let record = &env.session_record(&session).expect("the session record");
    assert_eq!(
        record["agent_process"]["pid"].as_u64(),
        Some(u64::from(tui.pid)),
        "the session's client is the pane's process: {record}"
    );

    // SIGKILL the client (not tmux): no hook of it runs again.
    proc::kill(tui.pid);
    proc::wait_dead(tui.pid, "the killed client");
    tui.wait_for("the waiter to stand down", Duration::from_secs(20), || {
        (!proc::pid_alive(waiter)).then_some(())
    });

    open(&gate);
    let job = env.wait_for_status(id, &["succeeded"]);
    assert!(
        job["deliveries"]["told_at"].is_null(),
        "told to nobody: {job}"
    );
    let notice = format!("Background job {id} ");
    assert_eq!(requests_ending_with(&claude, "main", &notice), 0);

    let out = claude.print("next", &["--resume", &session], RUN_LIMIT);
    assert!(out.status.success(), "claude -p --resume failed: {out:?}");
    let view = claude.model.last_view("main");
    assert_eq!(count(&view, &notice), 1, "told once on resume: {view}");
    assert!(env.job(id)["deliveries"]["told_at"].is_string());
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn stopping_an_adopted_task_from_the_tasks_dialog_cancels_the_job() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let command = format!("{} sleep 300", env.helper());
    claude.model.script(
        "main",
        vec![
            Step::bash_bg(&command, "job to stop"),
            Step::text("started it"),
        ],
    );
    let tui = start(&claude);
    tui.type_line("SCRIPT:main start a job");
    tui.wait_screen("the end of the first turn", CLIENT_LIMIT, |s| {
        s.contains("started it")
    });
    let job = the_job(&tui);
    let id = job["id"].as_u64().unwrap();
    let job = tui.wait_for("the adopted job's command", CLIENT_LIMIT, || {
        let job = env.job(id);
        (job["status"] == "running" && job["pid"].is_u64()).then_some(job)
    });
    let pid = job["pid"].as_u64().unwrap() as u32;

    // The user opens /tasks; with one task it opens on that task (with
    // several, Enter opens the selected one) and `x` stops it.
    tui.type_line("/tasks");
    let screen = tui.wait_screen("the tasks dialog", CLIENT_LIMIT, |s| {
        s.contains("job to stop")
    });
    if !screen.contains("x to stop") {
        tui.keys(&["Enter"]);
        tui.wait_screen("the task's details", CLIENT_LIMIT, |s| {
            s.contains("x to stop")
        });
    }
    tui.keys(&["x"]);
    tui.wait_for("the client to stop the task", CLIENT_LIMIT, || {
        tui.debug_log().contains("kill requested").then_some(())
    });

    let job = env.wait_for_status(id, &["cancelled"]);
    proc::wait_dead(pid, "the stopped job's command");
    assert!(job["finished_at"].is_string(), "{job}");
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn a_subagents_adopted_job_survives_the_subagent_in_an_interactive_session() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let gate = env.root.join("gate");
    let command = format!("{} wait-file {}", env.helper(), gate.display());
    claude.model.script(
        "main",
        vec![
            Step::foreground_agent("SCRIPT:sub go"),
            Step::text("the subagent is done"),
            Step::text("heard the end"),
        ],
    );
    claude.model.script(
        "sub",
        vec![
            Step::bash_bg(&command, "long job of a subagent"),
            Step::text("subagent finished"),
        ],
    );
    // In a terminal the client runs every subagent in the background
    // (`run_in_background: false` is not even offered) unless the fork
    // subagent feature is off.
    let tui = start_with(&claude, &[("CLAUDE_CODE_FORK_SUBAGENT", "0")]);
    tui.type_line("SCRIPT:main delegate");
    tui.wait_screen("the end of the first turn", CLIENT_LIMIT, |s| {
        s.contains("the subagent is done")
    });
    let main_view = claude.model.last_view("main");
    assert!(
        !main_view.contains("Async agent launched"),
        "the subagent ran in the foreground: {main_view}"
    );
    let job = the_job(&tui);
    let id = job["id"].as_u64().unwrap();
    assert!(
        job["agent_id"].is_string(),
        "attributed to the subagent: {job}"
    );
    let session = job["session_id"]
        .as_str()
        .expect("the job's session")
        .to_string();

    // The client ended the subagent's shell, the follower: the job runs on.
    let follower = tui.wait_for("the job's follower", CLIENT_LIMIT, || {
        env.job(id)["follower"]["pid"].as_u64()
    }) as u32;
    tui.wait_for("the client to end the follower", CLIENT_LIMIT, || {
        (!proc::pid_alive(follower)).then_some(())
    });
    let job = env.job(id);
    assert_eq!(job["status"], "running", "outlives the subagent: {job}");
    let sub_view = claude.model.last_view("sub");
    assert!(
        sub_view.contains("keeps running after this subagent's final response"),
        "the subagent was told its command outlives it: {sub_view}"
    );

    wait_for_waiter(&tui, &session);
    open(&gate);
    wait_woken(&tui, id, "heard the end");
    let job = env.wait_for_status(id, &["succeeded"]);
    assert!(job["deliveries"]["told_at"].is_string(), "told: {job}");
    let notice = format!("Background job {id} ");
    let view = claude.model.last_view("main");
    assert_eq!(count(&view, &notice), 1, "woken once: {view}");
    assert_eq!(requests_ending_with(&claude, "main", &notice), 1);
}
