//! End-to-end tests with the real Claude Code client (`BGJOBS_CLAUDE`), run
//! offline against a scripted fake model on 127.0.0.1: what reaches the
//! model is read from the requests the fake received, what happened to the
//! jobs from the store. Run by `bash .ci/claude-test` (which installs the
//! pinned client and runs them in a network namespace of their own); ignored
//! by a plain `cargo test`, and failing, not passing, without the client.

#![cfg(unix)]

use std::time::Duration;

use bgjobs_tests::claude::{Claude, Step};
use bgjobs_tests::{count, json, proc, wait_until, TestEnv, Value, DEADLINE};

/// How long one `claude -p` run may take before the test fails (bounds a
/// hang; it asserts no speed).
const RUN_LIMIT: Duration = Duration::from_secs(120);
const IGNORED: &str = "needs the real Claude Code client: bash .ci/claude-test";

/// The only job of the workspace.
#[track_caller]
fn only_job(env: &TestEnv) -> Value {
    let all = env.jobs();
    assert_eq!(all.len(), 1, "expected one job: {all:?}");
    all[0].clone()
}

/// The client's output file of the (last) background task in `view`.
fn task_output_file(view: &str) -> String {
    let at = view
        .rfind("Output is being written to: ")
        .expect("a background task")
        + 28;
    view[at..].split(". ").next().unwrap().to_string()
}

/// A print run whose model starts an adopted job waiting for `gate`, then
/// hangs in a foreground call; once it hangs, the client gets `signal`.
/// Returns the job's id and session once the client is gone.
fn adopt_then_signal(
    env: &TestEnv,
    claude: &Claude,
    gate: &std::path::Path,
    signal: i32,
) -> (u64, String) {
    let started = env.root.join("started");
    let command = format!("{} wait-file {}", env.helper(), gate.display());
    claude.model.script(
        "main",
        vec![
            Step::bash_bg(&command, "job of a client that goes away"),
            Step::bash(&format!(
                "touch {} && {} sleep 300",
                started.display(),
                env.helper()
            )),
            Step::text("resumed"),
        ],
    );
    let child = claude
        .print_command("SCRIPT:main start and hang", &[])
        .spawn()
        .expect("start claude");
    let pid = child.id();
    wait_until("the client's second call", DEADLINE, || {
        started.exists().then_some(())
    });
    let job = only_job(env);
    proc::signal(pid, signal);
    let _ = bgjobs_tests::claude::wait_output(child, RUN_LIMIT);
    (
        job["id"].as_u64().unwrap(),
        job["session_id"].as_str().unwrap().to_string(),
    )
}

/// Resume `session` and check that the model hears of job `id` once.
#[track_caller]
fn told_once_on_resume(claude: &Claude, session: &str, id: u64) {
    let out = claude.print("back again", &["--resume", session], RUN_LIMIT);
    assert!(out.status.success(), "{out:?}");
    let view = claude.model.last_view("main");
    assert_eq!(count(&view, &format!("Background job {id} ")), 1, "{view}");
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn main_thread_background_bash_is_adopted_and_told_once() {
    let _ = IGNORED;
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let command =
        "echo 'adopted: it'\"'\"'s quoted' | tr a-z A-Z && cat <<'EOF'\nline two\nEOF\nexit 3";
    claude.model.script(
        "main",
        vec![
            Step::bash_bg(command, "adopted demo"),
            Step::text("started it"),
            Step::text("noted the end"),
        ],
    );
    let out = claude.print("SCRIPT:main start the demo", &[], RUN_LIMIT);
    assert!(out.status.success(), "claude -p failed: {out:?}");

    let job = only_job(&env);
    assert_eq!(job["title"], "adopted demo", "{job}");
    assert_eq!(job["background"], true, "{job}");
    assert!(
        job["key"]
            .as_str()
            .unwrap_or_default()
            .starts_with("claude:toolu_"),
        "{job}"
    );
    assert!(job["session_id"].is_string(), "{job}");
    let job = env.wait_for_status(job["id"].as_u64().unwrap(), &["failed"]);
    assert_eq!(job["exit_code"], 3, "the original's exit code: {job}");
    let log = env.run_ok(&["logs", &job["id"].to_string()]);
    assert_eq!(
        log, "ADOPTED: IT'S QUOTED\nline two\n",
        "same pipes, quoting, here-document"
    );

    // The client learnt the end through its own task machinery, which
    // counts as told: no bgjobs notice repeats it.
    assert!(job["deliveries"]["told_at"].is_string(), "{job}");
    let view = claude.model.last_view("main");
    assert!(
        view.contains("failed with exit code 3"),
        "the client saw the end: {view}"
    );
    assert_eq!(count(&view, "Background job 1 "), 0, "told twice: {view}");
    // What the model reads as the task's output is the job's output.
    let output = task_output_file(&view);
    let text = std::fs::read_to_string(&output).expect("read the task's output file");
    assert!(text.contains("ADOPTED: IT'S QUOTED\nline two\n"), "{text}");

    // SessionStart taught the model the tool, once per session.
    let first = claude.model.requests_of("main")[0].to_string();
    assert_eq!(count(&first, "bgjobs run -b -- CMD"), 1, "{first}");
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn a_foreground_subagents_adopted_job_outlives_it_and_is_told_once_on_resume() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let gate = env.root.join("gate");
    let command = format!("{} wait-file {}", env.helper(), gate.display());
    claude.model.script(
        "main",
        vec![
            Step::foreground_agent("SCRIPT:sub go"),
            Step::text("the subagent is done"),
            Step::text("resumed"),
        ],
    );
    claude.model.script(
        "sub",
        vec![
            Step::bash_bg(&command, "long job of a subagent"),
            Step::bash(&format!(
                "bgjobs run -b --title typed -- {} sleep 1",
                env.helper()
            )),
            Step::text("subagent finished"),
        ],
    );
    let out = claude.print("SCRIPT:main delegate", &[], RUN_LIMIT);
    assert!(out.status.success(), "claude -p failed: {out:?}");

    // The subagent ended, and then the session: the job runs on.
    let all = env.jobs();
    assert_eq!(all.len(), 2, "{all:?}");
    let (job, typed) = (all[0].clone(), all[1].clone());
    let id = job["id"].as_u64().unwrap();
    assert_eq!(job["status"], "running", "{job}");
    assert!(
        job["agent_id"].is_string(),
        "attributed to the subagent: {job}"
    );
    // A job the subagent started with `bgjobs run -b` is its too.
    assert_eq!(typed["title"], "typed", "{typed}");
    assert_eq!(typed["agent_id"], job["agent_id"], "{typed}");
    let session = job["session_id"].as_str().unwrap().to_string();
    let sub_view = claude.model.last_view("sub");
    assert!(
        sub_view.contains("keeps running after this subagent's final response"),
        "the subagent was told its command outlives it: {sub_view}"
    );

    std::fs::write(&gate, "").unwrap();
    let job = env.wait_for_status(id, &["succeeded"]);
    assert!(
        job["deliveries"]["told_at"].is_null(),
        "told to nobody: {job}"
    );

    let out = claude.print("what happened?", &["--resume", &session], RUN_LIMIT);
    assert!(out.status.success(), "claude -p --resume failed: {out:?}");
    let view = claude.model.last_view("main");
    assert_eq!(
        count(&view, &format!("Background job {id} ")),
        1,
        "told once on resume: {view}"
    );
    assert!(env.job(id)["deliveries"]["told_at"].is_string());
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn stopping_the_task_cancels_the_adopted_job() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let command = format!("{} sleep 300", env.helper());
    claude.model.script(
        "main",
        vec![
            Step::bash_bg(&command, "job to stop"),
            Step::bash("true"),
            Step::tool("ToolSearch", json!({"query": "select:TaskStop"})),
            Step::tool("TaskStop", json!({"task_id": "{{bg}}"})),
            Step::text("stopped it"),
        ],
    );
    let out = claude.print("SCRIPT:main start then stop", &[], RUN_LIMIT);
    assert!(out.status.success(), "claude -p failed: {out:?}");
    let job = only_job(&env);
    let job = env.wait_for_status(job["id"].as_u64().unwrap(), &["cancelled"]);
    assert!(
        job["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("task-stop"),
        "{job}"
    );
    let pid = job["pid"].as_u64().unwrap() as u32;
    proc::wait_dead(pid, "the stopped job's command");
    let view = claude.model.last_view("main");
    assert!(view.contains("Successfully stopped task"), "{view}");
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn print_mode_is_not_held_by_a_running_job_and_hears_of_it_on_resume() {
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
            Step::text("started"),
            Step::text("resumed"),
        ],
    );
    let child = claude
        .print_command("SCRIPT:main start a job", &[])
        .spawn()
        .expect("start claude");
    // Held, it would wait for the job: the gate is only opened after.
    let out = bgjobs_tests::claude::wait_output(child, RUN_LIMIT);
    assert!(out.status.success(), "claude -p failed: {out:?}");
    let job = only_job(&env);
    let id = job["id"].as_u64().unwrap();
    assert_eq!(job["status"], "running", "{job}");
    let session = job["session_id"].as_str().unwrap().to_string();

    std::fs::write(&gate, "").unwrap();
    env.wait_for_status(id, &["succeeded"]);
    told_once_on_resume(&claude, &session, id);
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn a_killed_clients_result_is_told_on_resume() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let gate = env.root.join("gate");
    // SIGKILL: no hook of the client runs again, its shells are orphaned.
    let (id, session) = adopt_then_signal(&env, &claude, &gate, libc::SIGKILL);
    std::fs::write(&gate, "").unwrap();
    let job = env.wait_for_status(id, &["succeeded"]);
    // Its follower saw the end, but its client was gone: nobody was told.
    wait_until("the follower to exit", DEADLINE, || {
        let job = env.job(id);
        (job["follower"].is_object() && !proc::pid_alive(job["follower"]["pid"].as_u64()? as u32))
            .then_some(())
    });
    assert!(env.job(id)["deliveries"]["told_at"].is_null(), "{job}");
    told_once_on_resume(&claude, &session, id);
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn the_repository_is_a_plugin_marketplace_the_client_installs_from() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &["--scope", "project"]);
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for args in [
        vec!["plugin", "marketplace", "add", repo.to_str().unwrap()],
        vec!["plugin", "install", "bgjobs@bgjobs"],
    ] {
        let mut cmd = claude.client_command(&args);
        let out = bgjobs_tests::claude::wait_output(cmd.spawn().unwrap(), RUN_LIMIT);
        assert!(out.status.success(), "claude {args:?}: {out:?}");
    }
    let cache = claude
        .home
        .join(".claude")
        .join("plugins")
        .join("cache")
        .join("bgjobs")
        .join("bgjobs");
    let version = std::fs::read_dir(&cache)
        .expect("the plugin is installed")
        .flatten()
        .next()
        .unwrap()
        .path();
    let hooks: Value = serde_json::from_str(
        &std::fs::read_to_string(version.join("hooks").join("hooks.json")).unwrap(),
    )
    .unwrap();
    assert!(hooks["hooks"]["PreToolUse"].is_array(), "{hooks}");
    assert!(version
        .join("skills")
        .join("bgjobs")
        .join("SKILL.md")
        .is_file());
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn sigterm_to_claude_p_ends_the_session_not_its_adopted_job() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let gate = env.root.join("gate");
    // SIGTERM: the client kills its background shells and ends the session.
    let (id, session) = adopt_then_signal(&env, &claude, &gate, libc::SIGTERM);
    std::thread::sleep(Duration::from_secs(4)); // past the stop check's look
    assert_eq!(
        env.status_of(id),
        "running",
        "the session's end cancelled the job"
    );
    std::fs::write(&gate, "").unwrap();
    env.wait_for_status(id, &["succeeded"]);
    told_once_on_resume(&claude, &session, id);
}

#[test]
#[ignore = "needs the real Claude Code client: bash .ci/claude-test"]
fn adoption_grants_no_permission_the_users_rules_refuse() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let command = format!("{} sleep 1", env.helper());
    claude.model.script(
        "main",
        vec![
            Step::bash_bg(&command, "needs approval"),
            Step::text("refused"),
        ],
    );
    let mut cmd = claude.print_command_allowing("SCRIPT:main try", "Read", &[]);
    let out = bgjobs_tests::claude::wait_output(cmd.spawn().unwrap(), RUN_LIMIT);
    assert!(out.status.success(), "{out:?}");
    assert!(
        env.status_json()["jobs"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a refused call ran"
    );
    let view = claude.model.last_view("main");
    assert!(!view.contains("Command running in background"), "{view}");
}
