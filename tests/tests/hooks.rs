//! `bgjobs hook` as Claude Code runs it: one event on stdin, shaped as in
//! `claude-code-hooks.md`. Finished jobs are told to their session once
//! (UserPromptSubmit, PostToolUse, SessionStart on resume); the Stop waiter
//! (`hook --rewake`) wakes the session when a job ends and stands down for a
//! newer copy of itself; bad input is refused with one line and exit 1,
//! writing nothing.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use bgjobs_tests::*;

/// Desktop notifications off: the notifier must not talk to D-Bus in tests.
const CONFIG: &str = "desktop = false\n";

// ----- private helpers --------------------------------------------------------

/// A hook event as Claude Code sends it, for this test's workspace.
fn event(env: &TestEnv, session: &str, name: &str, extra: Value) -> String {
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

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Write `bytes` to a fresh file under the test's root; returns its path.
fn write_temp(env: &TestEnv, bytes: &[u8]) -> PathBuf {
    let path = env.root.join(format!("event-{}.json", unique()));
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// `bgjobs hook ARGS` with `payload` on stdin (from a file, as a pipe that
/// bgjobs stops reading early would fail the writer).
fn hook_cmd(env: &TestEnv, args: &[&str], payload: &[u8]) -> std::process::Command {
    let file = write_temp(env, payload);
    let mut cmd = env.bgjobs(&[&["hook"], args].concat());
    cmd.stdin(std::fs::File::open(&file).unwrap());
    cmd
}

/// Run `bgjobs hook ARGS` from the test process (the session's "Claude Code
/// process", alive throughout) with `payload` on stdin.
fn hook(env: &TestEnv, args: &[&str], payload: &str) -> Output {
    output(hook_cmd(env, args, payload.as_bytes()))
}

/// Run a hook that must succeed; returns its stdout.
fn hook_ok(env: &TestEnv, session: &str, name: &str, extra: Value) -> String {
    let out = hook(env, &[], &event(env, session, name, extra));
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
    assert!(!text.is_empty() && text.len() <= 10_000, "{text}");
    text
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
        let payload = event(
            env,
            session,
            "Stop",
            json!({"stop_hook_active": false, "last_assistant_message": "Done.", "background_tasks": []}),
        );
        let mut cmd = hook_cmd(env, &["--rewake", "--limit", "120s"], payload.as_bytes());
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

/// `sessions/<id>.json`, parsed, if present.
fn read_session(env: &TestEnv, session: &str) -> Option<Value> {
    let path = env
        .store_dir()
        .join("sessions")
        .join(format!("{session}.json"));
    std::fs::read_to_string(path).ok().map(|t| parse_json(&t))
}

/// Wait until `pid` is the session's registered rewake waiter.
fn wait_for_waiter(env: &TestEnv, session: &str, pid: u32) {
    wait_until(&format!("{pid} to be {session}'s waiter"), DEADLINE, || {
        let s = read_session(env, session)?;
        (s["waiter"]["pid"].as_u64() == Some(u64::from(pid))).then_some(())
    });
}

/// `run -b --session S -- e2e-helper ARGS`, waited until it ends with
/// `status`; returns its id.
fn finished_job(env: &TestEnv, session: &str, args: &[&str], status: &str) -> u64 {
    let id = env.start_helper(&["--session", session], args);
    env.wait_for_status(id, &[status]);
    id
}

// ----- tests ------------------------------------------------------------------

/// UserPromptSubmit and PostToolUse hand the session's finished jobs to the
/// model once, sharing one "told" state; other sessions' jobs are not told.
#[test]
fn finished_jobs_are_told_once_on_user_prompt_and_post_tool_use() {
    let env = TestEnv::with_config(CONFIG);
    assert_eq!(session_start(&env, "S", "startup"), "");
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

/// The Stop waiter: wakes the session (exit 2, a notice on stderr) when a
/// job of its session ends; stands down (exit 0) for a newer copy of
/// itself; exits 0 at once when the session has nothing running.
#[test]
fn rewake_wakes_on_a_job_end_and_stands_down_for_a_newer_waiter() {
    let env = TestEnv::with_config(CONFIG);
    assert_eq!(session_start(&env, "S", "startup"), "");

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
        let mut cmd = hook_cmd(&env, &args, payload.as_bytes());
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
    let out = hook(&env, &[], &value.to_string());
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
    let mut cmd = hook_cmd(
        &env,
        &[],
        event(&env, session, "SessionStart", json!({"source": "startup"})).as_bytes(),
    );
    cmd.env("CLAUDE_ENV_FILE", &env_file);
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "startup has nothing to tell");
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        format!("export FOO=bar\nexport BGJOBS_SESSION_ID={session}\n")
    );
    let record = read_session(&env, session).expect("the session is recorded");
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
    assert_eq!(session_start(&env, "R", "startup"), "");
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
    env.wait_for_status(done, &["succeeded"]);
    assert_eq!(env.status_of(running), "running");

    let text = context(&session_start(&env, "R", "resume"), "SessionStart");
    assert!(mentions(&text, done), "the finished job: {text}");
    assert!(text.contains("finished"), "{text}");
    assert!(mentions(&text, running), "the running job: {text}");
    assert!(text.contains("running"), "{text}");
    assert!(!mentions(&text, other), "another session's job: {text}");
    let record = read_session(&env, "R").unwrap();
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
