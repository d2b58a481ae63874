//! `bgjobs hook` as Claude Code runs it: one event on stdin, shaped as in
//! `claude-code-hooks.md`. Finished jobs are told to their session once
//! (UserPromptSubmit, PostToolUse, SessionStart on resume); the Stop waiter
//! (`hook --rewake`) wakes the session when a job ends and stands down for a
//! newer copy of itself; bad input is refused with one line and exit 1,
//! writing nothing.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use bgjobs_tests::*;

/// Desktop notifications off: the notifier must not talk to D-Bus in tests.
const CONFIG: &str = "desktop = false\n";

// ----- private helpers --------------------------------------------------------

/// Run a hook that must succeed; returns its stdout.
fn hook_ok(env: &TestEnv, session: &str, name: &str, extra: Value) -> String {
    let out = env.hook(&[], &hook_event(env, session, name, extra));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name} for {session}: {}",
        stderr(&out)
    );
    stdout(&out)
}

fn session_start(env: &TestEnv, session: &str, source: &str) -> String {
    hook_ok(env, session, "SessionStart", json!({"source": source}))
}

fn user_prompt(env: &TestEnv, session: &str) -> String {
    hook_ok(
        env,
        session,
        "UserPromptSubmit",
        json!({"prompt": "run the tests"}),
    )
}

fn post_tool_use(env: &TestEnv, session: &str) -> String {
    hook_ok(
        env,
        session,
        "PostToolUse",
        json!({
            "tool_name": "Bash",
            "tool_input": {"command": "bgjobs status", "description": "List jobs"},
            "tool_response": {"stdout": "", "stderr": "", "interrupted": false, "isImage": false},
            "tool_use_id": "toolu_01",
        }),
    )
}

/// The `additionalContext` of a hook's stdout, checking the JSON shape.
fn context(stdout: &str, event_name: &str) -> String {
    let value = parse_json(stdout);
    let specific = &value["hookSpecificOutput"];
    assert_eq!(specific["hookEventName"], event_name, "{value}");
    let text = specific["additionalContext"]
        .as_str()
        .unwrap_or_else(|| panic!("no additionalContext: {value}"))
        .to_string();
    assert!(!text.is_empty(), "empty additionalContext: {value}");
    text
}

/// A SessionStart that says what bgjobs is for, and nothing else.
#[track_caller]
fn assert_taught(stdout: &str) {
    let text = context(stdout, "SessionStart");
    assert!(text.starts_with("bgjobs manages background jobs"), "{text}");
    assert!(
        text.chars().count() <= 600,
        "{} characters: {text}",
        text.len()
    );
    assert!(!text.contains("job 1 "), "{text}");
}

/// "job N " mentioned in a text (the space keeps job 1 from matching 12).
fn mentions(text: &str, id: u64) -> bool {
    text.contains(&format!("job {id} "))
}

/// A `hook --rewake` process started by the test; killed if the test
/// leaves it running.
struct Waiter {
    pid: u32,
    child: Option<std::process::Child>,
}

impl Waiter {
    /// Start `hook --rewake` with a Stop event for `session`, its output
    /// captured. `--limit` bounds it should a test fail half-way.
    fn spawn(env: &TestEnv, session: &str) -> Self {
        Self::spawn_with_limit(env, session, "120s")
    }

    fn spawn_with_limit(env: &TestEnv, session: &str, limit: &str) -> Self {
        let payload = hook_event(
            env,
            session,
            "Stop",
            json!({"stop_hook_active": false, "last_assistant_message": "Done.", "background_tasks": []}),
        );
        let mut cmd = env.hook_cmd(&["--rewake", "--limit", limit], payload.as_bytes());
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn hook --rewake");
        Self {
            pid: child.id(),
            child: Some(child),
        }
    }

    /// Whether it has not exited yet.
    fn running(&mut self) -> bool {
        let child = self.child.as_mut().expect("not finished");
        child.try_wait().expect("try_wait").is_none()
    }

    /// Wait for it to exit (at most `timeout`); its output.
    fn finish(mut self, timeout: Duration) -> Output {
        let started = Instant::now();
        while self.running() {
            if started.elapsed() > timeout {
                panic!("hook --rewake {} still running after {timeout:?}", self.pid);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let child = self.child.take().unwrap();
        child.wait_with_output().expect("collect output")
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Wait until `pid` is the session's registered rewake waiter.
fn wait_for_waiter(env: &TestEnv, session: &str, pid: u32) {
    wait_until(&format!("{pid} to be {session}'s waiter"), DEADLINE, || {
        let s = env.session_record(session)?;
        (s["waiter"]["pid"].as_u64() == Some(u64::from(pid))).then_some(())
    });
}

/// Wait until job `id` ended with `status` and the notifier has handled its
/// end. The notifier hears of the end only once the worker has finished
/// recording it (record and index); waiting for it keeps these tests clear of
/// the moment in between, which
/// `a_job_whose_record_is_final_is_told_by_the_next_hook` covers.
fn wait_end_handled(env: &TestEnv, id: u64, status: &str) {
    env.wait_for_status(id, &[status]);
    wait_until(
        &format!("the notifier to handle job {id}"),
        DEADLINE,
        || (!env.read_record(id)["deliveries"]["notified_at"].is_null()).then_some(()),
    );
}

/// `run -b --session S -- e2e-helper ARGS`, waited until it ends with
/// `status` (and its end is handled); returns its id.
fn finished_job(env: &TestEnv, session: &str, args: &[&str], status: &str) -> u64 {
    let id = env.start_helper(&["--session", session], args);
    wait_end_handled(env, id, status);
    id
}

// ----- tests ------------------------------------------------------------------

/// UserPromptSubmit and PostToolUse hand the session's finished jobs to the
/// model once, sharing one "told" state; other sessions' jobs are not told.
#[test]
fn finished_jobs_are_told_once_on_user_prompt_and_post_tool_use() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    assert_eq!(user_prompt(&env, "S"), "", "nothing to tell yet");

    let first = finished_job(&env, "S", &["print", "all 7 tests passed"], "succeeded");
    let other = finished_job(&env, "T", &["exit", "0"], "succeeded");

    let text = context(&user_prompt(&env, "S"), "UserPromptSubmit");
    assert!(mentions(&text, first), "{text}");
    assert!(
        text.contains("all 7 tests passed"),
        "the output tail: {text}"
    );
    assert!(!mentions(&text, other), "another session's job: {text}");
    assert_eq!(user_prompt(&env, "S"), "", "told twice");
    assert_eq!(post_tool_use(&env, "S"), "", "told again by PostToolUse");

    let second = finished_job(&env, "S", &["exit", "3"], "failed");
    let text = context(&post_tool_use(&env, "S"), "PostToolUse");
    assert!(mentions(&text, second), "{text}");
    assert!(text.contains('3'), "the exit code: {text}");
    assert!(!mentions(&text, first), "told twice: {text}");
    assert_eq!(post_tool_use(&env, "S"), "", "told twice");
    assert_eq!(user_prompt(&env, "S"), "", "told again by UserPromptSubmit");

    // The other session is told of its own job, once.
    let text = context(&user_prompt(&env, "T"), "UserPromptSubmit");
    assert!(mentions(&text, other), "{text}");
    assert!(
        !mentions(&text, first) && !mentions(&text, second),
        "{text}"
    );
    assert_eq!(post_tool_use(&env, "T"), "");
}

/// Readiness (`run --ready`) is news for the owning session, told once, as
/// ends are: the Stop waiter wakes on it; a prompt after that tells nothing
/// more until the job ends; without a waiter the next prompt tells it.
#[test]
fn readiness_is_told_once_and_wakes_the_stop_waiter() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    let gate = env.root.join("gate-1");
    let gate_s = gate.to_string_lossy().into_owned();
    let server = env.start_helper(
        &["--session", "S", "--ready", "^listening on \\d+$"],
        &["serve", "800", "listening on 8080", &gate_s],
    );
    env.wait_for_status(server, &["running"]);
    let waiter = Waiter::spawn(&env, "S");
    wait_for_waiter(&env, "S", waiter.pid);
    let out = waiter.finish(DEADLINE);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let notice = stderr(&out);
    assert!(
        notice.contains(&format!("job {server} ")) && notice.contains("is ready"),
        "{notice}"
    );
    assert_eq!(env.status_of(server), "running", "ready, not ended");
    assert_eq!(user_prompt(&env, "S"), "", "the waiter told it already");
    std::fs::write(&gate, "go").unwrap();
    wait_end_handled(&env, server, "succeeded");
    let text = context(&user_prompt(&env, "S"), "UserPromptSubmit");
    assert!(
        mentions(&text, server) && text.contains("finished"),
        "{text}"
    );

    // No waiter: the next prompt tells readiness, once; the end comes later.
    let gate = env.root.join("gate-2");
    let gate_s = gate.to_string_lossy().into_owned();
    let second = env.start_helper(
        &["--session", "S", "--ready", "listening"],
        &["serve", "0", "listening on 9090", &gate_s],
    );
    wait_until("the job to be ready", DEADLINE, || {
        (!env.read_record(second)["ready_at"].is_null()).then_some(())
    });
    let text = context(&post_tool_use(&env, "S"), "PostToolUse");
    assert!(
        mentions(&text, second) && text.contains("is ready"),
        "{text}"
    );
    assert_eq!(user_prompt(&env, "S"), "", "readiness told twice");
    assert_eq!(user_prompt(&env, "T"), "", "told to another session");
    std::fs::write(&gate, "go").unwrap();
    wait_end_handled(&env, second, "succeeded");
    let text = context(&user_prompt(&env, "S"), "UserPromptSubmit");
    assert!(
        mentions(&text, second) && text.contains("finished"),
        "{text}"
    );
}

/// The Stop waiter: wakes the session (exit 2, a notice on stderr) when a
/// job of its session ends; stands down (exit 0) for a newer copy of
/// itself; exits 0 at once when the session has nothing running.
#[test]
fn rewake_wakes_on_a_job_end_and_stands_down_for_a_newer_waiter() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));

    // Wakes when S's background job ends.
    let flag1 = env.root.join("go-1");
    let job1 = env.start_helper(&["--session", "S"], &["wait-file", flag1.to_str().unwrap()]);
    env.wait_for_status(job1, &["running"]);
    let mut w1 = Waiter::spawn(&env, "S");
    wait_for_waiter(&env, "S", w1.pid);
    std::thread::sleep(Duration::from_millis(300));
    assert!(w1.running(), "the waiter returned with a job still running");
    std::fs::write(&flag1, "go").unwrap();
    let out = w1.finish(DEADLINE);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let notice = stderr(&out);
    assert!(notice.starts_with("Notice, not an error"), "{notice}");
    assert!(mentions(&notice, job1), "{notice}");
    assert_eq!(env.status_of(job1), "succeeded");
    // The waiter told it: the next prompt does not tell it again.
    assert_eq!(user_prompt(&env, "S"), "");

    // A newer waiter for the same session makes the older one stand down.
    let flag2 = env.root.join("go-2");
    let job2 = env.start_helper(&["--session", "S"], &["wait-file", flag2.to_str().unwrap()]);
    env.wait_for_status(job2, &["running"]);
    let mut w2 = Waiter::spawn(&env, "S");
    wait_for_waiter(&env, "S", w2.pid);
    std::thread::sleep(Duration::from_millis(300));
    assert!(w2.running(), "the waiter returned with a job still running");
    let mut w3 = Waiter::spawn(&env, "S");
    wait_for_waiter(&env, "S", w3.pid);
    let started = Instant::now();
    let out = w2.finish(DEADLINE);
    eprintln!("the older waiter stood down after {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(w3.running(), "the newer waiter stood down too");
    assert_eq!(env.status_of(job2), "running");
    std::fs::write(&flag2, "go").unwrap();
    let out = w3.finish(DEADLINE);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let notice = stderr(&out);
    assert!(notice.starts_with("Notice, not an error"), "{notice}");
    assert!(
        mentions(&notice, job2) && !mentions(&notice, job1),
        "{notice}"
    );

    // Nothing running in S (another session's job does not count): exit 0
    // at once.
    let flag3 = env.root.join("go-3");
    let job3 = env.start_helper(&["--session", "T"], &["wait-file", flag3.to_str().unwrap()]);
    env.wait_for_status(job3, &["running"]);
    let started = Instant::now();
    let out = Waiter::spawn(&env, "S").finish(DEADLINE);
    let took = started.elapsed();
    eprintln!("a waiter with nothing to wait for returned after {took:?}");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    std::fs::write(&flag3, "go").unwrap();
    env.wait_for_status(job3, &["succeeded"]);

    // The waiter never outlives its limit (kept below the hook's timeout):
    // when it passes with the job still running, it exits 0 (no wake).
    let flag4 = env.root.join("go-4");
    let job4 = env.start_helper(&["--session", "S"], &["wait-file", flag4.to_str().unwrap()]);
    env.wait_for_status(job4, &["running"]);
    let started = Instant::now();
    let out = Waiter::spawn_with_limit(&env, "S", "1s").finish(DEADLINE);
    let took = started.elapsed();
    eprintln!("a waiter with --limit 1s returned after {took:?}");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        took >= Duration::from_millis(900),
        "returned early: {took:?}"
    );
    assert_eq!(env.status_of(job4), "running");
    std::fs::write(&flag4, "go").unwrap();
    env.wait_for_status(job4, &["succeeded"]);
}

/// Bad input: one line on stderr, exit 1 (never 2, which would block or
/// wake), and nothing written — not even the state root.
#[test]
fn malformed_events_are_refused_and_write_nothing() {
    let env = TestEnv::with_config(CONFIG);
    let env_file = env.root.join("claude-env");
    let ws = env.ws.to_string_lossy().into_owned();
    let start = |session: Value| {
        json!({"session_id": session, "transcript_path": "/t.jsonl", "cwd": ws,
               "hook_event_name": "SessionStart", "source": "startup"})
        .to_string()
    };
    let mut huge = format!(
        r#"{{"session_id":"abc","cwd":{},"hook_event_name":"UserPromptSubmit","prompt":""#,
        json!(ws)
    );
    huge.push_str(&"x".repeat(10 * 1024 * 1024));
    huge.push_str("\"}\n");
    let full = start(json!("abc"));
    let cases: Vec<(&str, Vec<&str>, String)> = vec![
        ("empty", vec![], String::new()),
        ("blank", vec![], " \n".into()),
        ("array", vec![], "[]".into()),
        ("empty object", vec![], "{}".into()),
        ("not JSON", vec![], "hello\n".into()),
        ("truncated", vec![], full[..full.len() - 9].to_string()),
        ("10 MiB line", vec![], huge),
        (
            "unknown event",
            vec![],
            json!({"session_id": "abc", "cwd": ws, "hook_event_name": "NoSuchEvent"}).to_string(),
        ),
        (
            "missing session_id",
            vec![],
            json!({"cwd": ws, "hook_event_name": "SessionStart", "source": "startup"}).to_string(),
        ),
        (
            "missing hook_event_name",
            vec![],
            json!({"session_id": "abc", "cwd": ws}).to_string(),
        ),
        ("numeric session_id", vec![], start(json!(5))),
        ("path in session_id", vec![], start(json!("../../etc"))),
        ("--rewake on SessionStart", vec!["--rewake"], full.clone()),
    ];
    for (what, args, payload) in cases {
        let mut cmd = env.hook_cmd(&args, payload.as_bytes());
        cmd.env("CLAUDE_ENV_FILE", &env_file);
        let out = output(cmd);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: stderr {err}");
        assert_eq!(stdout(&out), "", "{what}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err:?}");
        assert!(!err.trim().is_empty(), "{what}: no message");
        assert!(err.len() < 1000, "{what}: {} bytes on stderr", err.len());
        assert!(
            !env.home.exists(),
            "{what}: wrote under the state root: {:?}",
            walk(&env.home)
        );
        assert!(!env_file.exists(), "{what}: wrote CLAUDE_ENV_FILE");
    }

    // Unknown extra fields are not bad input.
    let mut value = parse_json(&full);
    value["model"] = json!("claude-sonnet-5");
    value["something_new"] = json!({"nested": [1, 2]});
    let out = env.hook(&[], &value.to_string());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// SessionStart exports the session id to later Bash commands through
/// CLAUDE_ENV_FILE, keeping what is already there.
#[test]
fn session_start_appends_the_session_id_to_claude_env_file() {
    let env = TestEnv::with_config(CONFIG);
    let session = "6f1c2a9e-3b7d-4c2e-9a51-0d2f8e7b4c13";
    let env_file = env.root.join("claude-env.sh");
    std::fs::write(&env_file, "export FOO=bar\n").unwrap();
    let mut cmd = env.hook_cmd(
        &[],
        hook_event(&env, session, "SessionStart", json!({"source": "startup"})).as_bytes(),
    );
    cmd.env("CLAUDE_ENV_FILE", &env_file);
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_taught(&stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        format!("export FOO=bar\nexport BGJOBS_SESSION_ID={session}\n")
    );
    let record = env
        .session_record(session)
        .expect("the session is recorded");
    assert_eq!(record["source"], "startup", "{record}");
    assert!(record["ended_at"].is_null(), "{record}");

    // As Claude Code does before each Bash command: source the file; a job
    // started then belongs to the session.
    #[cfg(unix)]
    {
        let script = format!(
            ". '{}' && exec '{}' run -b -- '{}' exit 0",
            env_file.display(),
            bgjobs_bin().display(),
            env.helper()
        );
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", &script]).current_dir(&env.ws);
        env.apply(&mut cmd);
        let id = parse_id(&ok(cmd));
        assert_eq!(env.job(id)["session_id"], session);
    }
}

/// SessionStart on resume tells the model what happened while it was away:
/// this session's jobs that finished untold, and those still running.
#[test]
fn session_start_on_resume_reports_finished_and_running_jobs() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "R", "startup"));
    let flag1 = env.root.join("go-1");
    let flag2 = env.root.join("go-2");
    let done = env.start_helper(&["--session", "R"], &["wait-file", flag1.to_str().unwrap()]);
    let running = env.start_helper(&["--session", "R"], &["wait-file", flag2.to_str().unwrap()]);
    let other = finished_job(&env, "T", &["exit", "0"], "succeeded");
    env.wait_for_status(done, &["running"]);
    env.wait_for_status(running, &["running"]);

    // The session ends; one of its background jobs finishes while it is away.
    assert_eq!(
        hook_ok(
            &env,
            "R",
            "SessionEnd",
            json!({"reason": "prompt_input_exit"})
        ),
        ""
    );
    std::fs::write(&flag1, "go").unwrap();
    wait_end_handled(&env, done, "succeeded");
    assert_eq!(env.status_of(running), "running");

    let text = context(&session_start(&env, "R", "resume"), "SessionStart");
    assert!(mentions(&text, done), "the finished job: {text}");
    assert!(text.contains("finished"), "{text}");
    assert!(mentions(&text, running), "the running job: {text}");
    assert!(text.contains("running"), "{text}");
    assert!(!mentions(&text, other), "another session's job: {text}");
    let record = env.session_record("R").unwrap();
    assert!(record["ended_at"].is_null(), "resumed: {record}");
    assert_eq!(record["source"], "resume", "{record}");

    // Told once: the next prompt and the next resume do not repeat it.
    assert_eq!(user_prompt(&env, "R"), "");
    let text = context(&session_start(&env, "R", "resume"), "SessionStart");
    assert!(!mentions(&text, done), "told twice: {text}");
    assert!(mentions(&text, running), "{text}");

    std::fs::write(&flag2, "go").unwrap();
    env.wait_for_status(running, &["succeeded"]);
}

/// Claude Code starts matching hooks in parallel and one per event: hooks
/// racing for the same finished job tell it exactly once between them.
#[test]
fn racing_hooks_tell_a_finished_job_exactly_once() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    let ids: Vec<u64> = (0..3)
        .map(|i| {
            finished_job(
                &env,
                "S",
                &["exit", &i.to_string()],
                if i == 0 { "succeeded" } else { "failed" },
            )
        })
        .collect();
    let outputs: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let env = &env;
                scope.spawn(move || {
                    if i % 2 == 0 {
                        user_prompt(env, "S")
                    } else {
                        post_tool_use(env, "S")
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut told = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        if out.is_empty() {
            continue;
        }
        let name = if i % 2 == 0 {
            "UserPromptSubmit"
        } else {
            "PostToolUse"
        };
        let text = context(out, name);
        told.extend(ids.iter().copied().filter(|&id| mentions(&text, id)));
    }
    told.sort_unstable();
    assert_eq!(told, ids, "each job told exactly once: {outputs:#?}");
}

/// The hook finds the same workspace as the Bash tool's `bgjobs run`: from
/// the event's `cwd` (a subdirectory) whatever the hook's own directory, and
/// from CLAUDE_PROJECT_DIR when Claude Code sets it.
#[test]
fn hooks_use_the_events_workspace() {
    let env = TestEnv::with_config(CONFIG);
    let sub = env.ws.join("crates").join("app");
    std::fs::create_dir_all(&sub).unwrap();
    let elsewhere = env.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    let job = finished_job(&env, "S", &["exit", "0"], "succeeded");
    // Run from an unrelated directory; the event says where the session is.
    let mut payload = parse_json(&hook_event(
        &env,
        "S",
        "UserPromptSubmit",
        json!({"prompt": "hi"}),
    ));
    payload["cwd"] = json!(sub);
    let file = env.write_temp(payload.to_string().as_bytes());
    let mut cmd = env.bgjobs_in(&elsewhere, &["hook"]);
    cmd.stdin(std::fs::File::open(&file).unwrap());
    let text = context(&ok(cmd), "UserPromptSubmit");
    assert!(mentions(&text, job), "{text}");
    assert_eq!(env.workspace_dirs().len(), 1, "a second store was made");

    // CLAUDE_PROJECT_DIR wins over a cwd outside the project.
    let job2 = finished_job(&env, "S", &["exit", "0"], "succeeded");
    payload["cwd"] = json!(elsewhere);
    let file = env.write_temp(payload.to_string().as_bytes());
    let mut cmd = env.bgjobs_in(&elsewhere, &["hook"]);
    cmd.stdin(std::fs::File::open(&file).unwrap())
        .env("CLAUDE_PROJECT_DIR", &env.ws);
    let text = context(&ok(cmd), "UserPromptSubmit");
    assert!(mentions(&text, job2), "{text}");
    assert_eq!(env.workspace_dirs().len(), 1, "a second store was made");
}

/// SubagentStart / SubagentStop are accepted quietly and recorded on the
/// parent session.
#[test]
fn subagent_events_are_recorded_on_the_session() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    for agent in ["agent-1", "agent-2"] {
        let start = json!({"agent_id": agent, "agent_type": "Explore"});
        assert_eq!(hook_ok(&env, "S", "SubagentStart", start), "");
    }
    let record = env.session_record("S").unwrap();
    assert_eq!(record["agents"], json!(["agent-1", "agent-2"]), "{record}");
    let stop = json!({"stop_hook_active": false, "agent_id": "agent-1", "agent_type": "Explore",
                      "agent_transcript_path": "/t/agent-1.jsonl", "last_assistant_message": "ok"});
    assert_eq!(hook_ok(&env, "S", "SubagentStop", stop), "");
    let record = env.session_record("S").unwrap();
    assert_eq!(
        record["agents"],
        json!(["agent-2"]),
        "a finished subagent leaves the list: {record}"
    );
    assert!(
        record["ended_at"].is_null(),
        "a subagent's end is not the session's: {record}"
    );
    // A plain Stop (without --rewake) does nothing and says nothing.
    assert_eq!(
        hook_ok(&env, "S", "Stop", json!({"stop_hook_active": false})),
        ""
    );
}

/// SessionStart teaches the model the tool on startup and clear, not on
/// resume or compact; with adoption off it does not mention adoption.
#[test]
fn session_start_teaches_the_model_on_startup_and_clear_only() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    let text = context(&session_start(&env, "S", "clear"), "SessionStart");
    assert!(text.starts_with("bgjobs manages background jobs"), "{text}");
    assert!(text.contains("adopts"), "{text}");
    assert_eq!(session_start(&env, "S", "resume"), "");
    assert_eq!(session_start(&env, "S", "compact"), "");
    env.write_config("desktop = false\nadopt_background = false\n");
    let text = context(&session_start(&env, "T", "startup"), "SessionStart");
    assert!(
        text.contains("bgjobs run -b") && !text.contains("adopts"),
        "{text}"
    );
}

/// Claude Code runs hooks without `args` through `sh -c`: the session's
/// Claude Code process is then the shell's parent, not the shell.
#[cfg(unix)]
#[test]
fn session_start_through_a_shell_records_the_shells_parent() {
    let env = TestEnv::with_config(CONFIG);
    let payload = env
        .write_temp(hook_event(&env, "S", "SessionStart", json!({"source": "startup"})).as_bytes());
    let done = env.root.join("done");
    // `; true` keeps the shell from exec'ing bgjobs: it stays the parent.
    let script = format!(
        "'{}' hook < '{}'; echo $? > '{}.tmp'; mv '{}.tmp' '{}'; true",
        bgjobs_bin().display(),
        payload.display(),
        done.display(),
        done.display(),
        done.display()
    );
    let python = "import subprocess, sys, time\n\
                  subprocess.run(['sh', '-c', sys.argv[1]])\n\
                  time.sleep(600)\n";
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", python, &script]).current_dir(&env.ws);
    env.apply(&mut cmd);
    let claude = env.spawn_tracked(cmd);
    let code = wait_until("the hook run through sh", DEADLINE, || {
        std::fs::read_to_string(&done).ok()
    });
    assert_eq!(code.trim(), "0");
    let record = env.session_record("S").unwrap();
    assert_eq!(
        record["agent_process"]["pid"].as_u64(),
        Some(u64::from(claude)),
        "the agent process is the shell's parent: {record}"
    );
}

/// On Windows Claude Code runs a hook through PowerShell or Git Bash (whose
/// `bash.exe` launcher starts the real `bash.exe`): however many shells sit
/// between, the agent is the process above them. The shells here are the
/// helper program under the shells' names (what bgjobs goes by).
#[test]
fn session_start_through_powershell_or_git_bash_records_the_agent() {
    let env = TestEnv::with_config(CONFIG);
    let shells = env.root.join("shells");
    std::fs::create_dir_all(&shells).unwrap();
    let shell = |name: &str| {
        let path = shells.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        // Unix: a hard link, not a copy: a copy is open for writing a moment,
        // and a process another test forks meanwhile would hold it open and
        // make running it fail ("text file busy"). Windows: a copy, since
        // Wine names a process after the first path that mapped its file,
        // and a hard link shares the helper's file (and so its name).
        if cfg!(windows) || std::fs::hard_link(helper_bin(), &path).is_err() {
            std::fs::copy(helper_bin(), &path).unwrap();
        }
        path
    };
    let (powershell, bash) = (shell("powershell"), shell("bash"));
    let chains: [(&str, Vec<&std::path::Path>); 3] = [
        ("exec form", vec![]),
        ("PowerShell", vec![&powershell]),
        ("Git Bash", vec![&bash, &bash]),
    ];
    for (i, (how, chain)) in chains.iter().enumerate() {
        let session = format!("S{i}");
        let payload = hook_event(&env, &session, "SessionStart", json!({"source": "startup"}));
        let mut cmd = match chain.split_first() {
            None => env.bgjobs(&["hook"]),
            Some((first, rest)) => {
                let mut cmd = std::process::Command::new(first);
                for shell in rest {
                    cmd.arg("run").arg(shell);
                }
                cmd.arg("run")
                    .arg(bgjobs_bin())
                    .arg("hook")
                    .current_dir(&env.ws);
                env.apply(&mut cmd);
                cmd
            }
        };
        cmd.stdin(std::fs::File::open(env.write_temp(payload.as_bytes())).unwrap());
        let out = output(cmd);
        assert_eq!(out.status.code(), Some(0), "{how}: {}", stderr(&out));
        let record = env.session_record(&session).unwrap();
        assert_eq!(
            record["agent_process"]["pid"].as_u64(),
            Some(u64::from(std::process::id())),
            "{how}: the agent process is the one above the shells: {record}"
        );
    }
}

/// A job whose record says it ended is told by the very next hook: no
/// reader may see the end in the record but not in what the hooks consult.
/// (The end is polled in the record itself, as `show`, `status` and `wait`'s
/// fallback read it, so that the next hook follows it as closely as any of
/// them could.)
#[test]
fn a_job_whose_record_is_final_is_told_by_the_next_hook() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    for round in 0..80 {
        let id = env.start_helper(&["--session", "S"], &["exit", "0"]);
        let path = env.job_file(id);
        wait_until(&format!("job {id}'s record to be final"), DEADLINE, || {
            let record: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            (record["status"] == "succeeded").then_some(())
        });
        let out = post_tool_use(&env, "S");
        assert!(
            !out.is_empty() && mentions(&context(&out, "PostToolUse"), id),
            "round {round}: job {id} is final in its record but the next hook \
             did not tell it (printed {out:?}); index: {}",
            env.read_index()
        );
    }
}

/// Once told, a job leaves the index's list of untold ends, so that later
/// hooks stay the "one small read" they are meant to be.
#[test]
fn told_jobs_leave_the_untold_index() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    let ids: Vec<u64> = (0..3)
        .map(|_| finished_job(&env, "S", &["exit", "0"], "succeeded"))
        .collect();
    let text = context(&user_prompt(&env, "S"), "UserPromptSubmit");
    assert!(ids.iter().all(|&id| mentions(&text, id)), "{text}");
    for &id in &ids {
        assert!(!env.read_record(id)["deliveries"]["told_at"].is_null());
    }
    let index = env.read_index();
    let listed: Vec<u64> = index["untold"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["id"].as_u64())
        .collect();
    assert!(
        ids.iter().all(|id| !listed.contains(id)),
        "told jobs {ids:?} are still listed as untold: {index}"
    );
}

/// Claude Code caps `additionalContext` at 10,000 characters: what bgjobs
/// hands over stays under it however many jobs there are and however long
/// their titles, on UserPromptSubmit and on SessionStart (resume).
#[test]
fn context_stays_under_claude_codes_cap() {
    const CAP: usize = 10_000;
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    let title = |i: usize| format!("job {i}: {}", "long title ".repeat(80));
    let flag = env.root.join("go");
    let mut running = Vec::new();
    let mut finished = Vec::new();
    for i in 0..12 {
        let t = title(i);
        running.push(env.start_helper(
            &["--session", "S", "--title", &t],
            &["wait-file", flag.to_str().unwrap()],
        ));
        finished.push(env.start_helper(&["--session", "S", "--title", &t], &["exit", "0"]));
    }
    for &id in &finished {
        wait_end_handled(&env, id, "succeeded");
    }
    for &id in &running {
        env.wait_for_status(id, &["running"]);
    }

    let text = context(&session_start(&env, "S", "resume"), "SessionStart");
    let chars = text.chars().count();
    eprintln!("SessionStart resume context: {chars} characters");
    let resume_chars = chars;

    // Newly finished ones, on UserPromptSubmit.
    std::fs::write(&flag, "go").unwrap();
    for &id in &running {
        wait_end_handled(&env, id, "succeeded");
    }
    let text = context(&user_prompt(&env, "S"), "UserPromptSubmit");
    let chars = text.chars().count();
    eprintln!("UserPromptSubmit context: {chars} characters");
    assert!(
        resume_chars <= CAP && chars <= CAP,
        "additionalContext over {CAP} characters: SessionStart {resume_chars}, \
         UserPromptSubmit {chars}"
    );
}

/// A job that ends because its worker died (found `lost`) has ended too:
/// the waiter wakes the session for it like for any other end.
#[test]
fn rewake_wakes_when_a_job_is_found_lost() {
    let env = TestEnv::with_config(CONFIG);
    assert_taught(&session_start(&env, "S", "startup"));
    let id = env.start_helper(&["--session", "S"], &["sleep", "300"]);
    env.wait_for_status(id, &["running"]);
    let worker = env.read_record(id)["worker"]["pid"]
        .as_u64()
        .expect("worker pid") as u32;
    let mut waiter = Waiter::spawn(&env, "S");
    wait_for_waiter(&env, "S", waiter.pid);
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiter.running());

    assert!(proc::kill(worker));
    let out = waiter.finish(DEADLINE);
    let status = env.job(id);
    assert_eq!(status["status"], "lost", "{status}");
    assert_eq!(
        out.status.code(),
        Some(2),
        "the waiter did not wake the session for the lost job; stderr: {:?}; \
         told_at: {}",
        stderr(&out),
        env.read_record(id)["deliveries"]["told_at"]
    );
    let notice = stderr(&out);
    assert!(notice.starts_with("Notice, not an error"), "{notice}");
    assert!(mentions(&notice, id), "{notice}");
}

/// A Codex event: a turn, a rollout transcript, no Claude Code fields.
fn codex_event(env: &TestEnv, session: &str, name: &str, extra: Value) -> String {
    let mut event = json!({
        "session_id": session,
        "turn_id": "01a2345f-8632-7b70-9fe6-32c0e9f3494a",
        "transcript_path": format!("/home/u/.codex/sessions/2026/12/02/rollout-2026-12-02T01-30-05-{session}.jsonl"),
        "cwd": env.ws,
        "hook_event_name": name,
        "model": "gpt-5.1-codex",
        "permission_mode": "bypassPermissions",
    });
    for (k, v) in extra.as_object().expect("extra fields are an object") {
        event[k] = v.clone();
    }
    event.to_string()
}

#[test]
fn codex_events_get_codexs_handling_and_never_claude_codes() {
    let env = TestEnv::with_config(CONFIG);
    // A background Bash call in Claude Code's shape but from Codex (told
    // apart by its payload, and by the flag install writes): not adopted.
    let bash = json!({"tool_name": "Bash", "tool_use_id": "call_1",
        "tool_input": {"command": "sleep 60", "run_in_background": true}});
    for args in [&[][..], &["--agent", "codex"]] {
        let out = env.hook(args, &codex_event(&env, "C", "PreToolUse", bash.clone()));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "",
            "{args:?}: Codex's calls are never rewritten"
        );
    }
    // The same call from Claude Code is adopted, even if its payload grew
    // a turn id, when install said whose hook it is.
    let mut claude = bash.clone();
    claude["turn_id"] = json!("t1");
    let claude = hook_event(&env, "K", "PreToolUse", claude);
    let out = env.hook(&["--agent", "claude"], &claude);
    assert!(stdout(&out).contains("updatedInput"), "{}", stdout(&out));
    // Claude Code's asyncRewake waiter is refused for Codex, in one line.
    let stop = codex_event(&env, "C", "Stop", json!({"stop_hook_active": false}));
    let out = env.hook(&["--rewake"], &stop);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    // SessionStart teaches Codex's way; Stop tells an untold end by
    // blocking once, and not while the turn already goes on for a hook.
    let start = env.hook(
        &[],
        &codex_event(&env, "C", "SessionStart", json!({"source": "startup"})),
    );
    let taught = context(&stdout(&start), "SessionStart");
    assert!(taught.contains("killed when the call returns"), "{taught}");
    let id = finished_job(&env, "C", &["exit", "0"], "succeeded");
    let active = codex_event(&env, "C", "Stop", json!({"stop_hook_active": true}));
    assert_eq!(
        stdout(&env.hook(&[], &active)),
        "",
        "a turn that goes on for a hook"
    );
    let out = env.hook(&[], &stop);
    let answer = parse_json(&stdout(&out));
    assert_eq!(answer["decision"], "block", "{answer}");
    assert!(mentions(answer["reason"].as_str().unwrap(), id), "{answer}");
    assert_eq!(stdout(&env.hook(&[], &stop)), "", "told once");
}

/// `index.json` is not synced: a crash of the machine may leave an older
/// one, from an earlier boot, that misses what happened since. Simulated
/// here at its worst (the index as the store's first write left it): the
/// records still say everything, so the untold end is told, once, the
/// running job is still active, and no id is given out twice.
#[test]
fn an_index_left_from_before_a_crash_of_the_machine_is_rebuilt_from_the_records() {
    let env = TestEnv::with_config(CONFIG);
    let ended = finished_job(&env, "S", &["print", "built"], "succeeded");
    let running = env.start_helper(&["--session", "S"], &["sleep", "300"]);
    env.wait_for_status(running, &["running"]);
    let now = env.read_index();
    if now["boot"].is_null()
        && proc::skip_under_wine(
            "an_index_left_from_before_a_crash_of_the_machine_is_rebuilt_from_the_records",
            "Wine gives no boot identifier, so the index is synced there, never rebuilt",
        )
    {
        return;
    }
    assert!(
        now["boot"].is_string(),
        "the index names the boot it was written in: {now}"
    );
    env.write_index(&json!({
        "v": 1, "next_id": 1, "active": [], "undelivered": [], "untold": [],
        "boot": "an-earlier-boot",
    }));

    let text = context(&user_prompt(&env, "S"), "UserPromptSubmit");
    assert!(mentions(&text, ended), "{text}");
    assert_eq!(user_prompt(&env, "S"), "", "told twice");
    let rebuilt = env.read_index();
    assert_eq!(rebuilt["boot"], now["boot"], "{rebuilt}");
    assert!(
        !list_dir(&env.store_dir())
            .iter()
            .any(|n| n.starts_with("index.json.corrupt-")),
        "an index from an earlier boot is not corrupt"
    );
    let status = env.status_json();
    assert_eq!(find_job(&status, running).unwrap()["status"], "running");
    let next = env.start_helper(&[], &["exit", "0"]);
    assert!(next > running, "id {next} reused");
    env.run_ok(&["cancel", &running.to_string()]);
}
