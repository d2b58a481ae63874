//! Adoption of Claude Code's background Bash calls, hook by hook (the real
//! client is in `claude_real.rs`): PreToolUse rewrites a background call into
//! a `run -b --follow` follower and leaves every other call alone without
//! opening the store; the rewritten command means what the original meant;
//! the follower streams the job and exits with its code, and killing it
//! leaves the job running; the Stop waiter stands down when its client dies.

#![cfg(unix)]

use std::process::{Command, Stdio};
use std::time::Duration;

use bgjobs_tests::*;

const CONFIG: &str = "desktop = false\n";

/// Run `bgjobs hook` with `event` on stdin and `vars` set; its output.
fn hook(env: &TestEnv, event: &str, vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = env.hook_cmd(&[], event.as_bytes());
    cmd.envs(vars.iter().copied());
    output(cmd)
}

/// Open `gate`, let job `id` succeed with nobody told (its follower or its
/// waiter is gone), and check that the next prompt of session `S` tells it.
#[track_caller]
fn ends_untold_then_told_at_the_next_prompt(env: &TestEnv, gate: &std::path::Path, id: u64) {
    std::fs::write(gate, "").unwrap();
    let job = env.wait_for_status(id, &["succeeded"]);
    assert!(
        job["deliveries"]["told_at"].is_null(),
        "told to nobody: {job}"
    );
    let prompt = hook_event(env, "S", "UserPromptSubmit", json!({"prompt": "next"}));
    let said = stdout(&hook(env, &prompt, &[]));
    assert!(
        said.contains(&format!("Background job {id} ")),
        "told by bgjobs: {said}"
    );
}

/// A PreToolUse event for a Bash call.
fn pre_bash(env: &TestEnv, input: Value, extra: Value) -> String {
    let mut fields =
        json!({"tool_name": "Bash", "tool_input": input, "tool_use_id": "toolu_01abc"});
    for (k, v) in extra.as_object().unwrap() {
        fields[k] = v.clone();
    }
    hook_event(env, "S", "PreToolUse", fields)
}

/// The rewritten input of an adopted call, or `None` when the hook left it.
#[track_caller]
fn rewritten(out: &std::process::Output) -> Option<Value> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let text = stdout(out);
    if text.trim().is_empty() {
        return None;
    }
    let value = parse_json(&text);
    let specific = &value["hookSpecificOutput"];
    assert_eq!(specific["hookEventName"], "PreToolUse", "{value}");
    Some(specific["updatedInput"].clone())
}

/// Run `command` as Claude Code's Bash tool would: `bash -c` in `dir`.
fn bash(env: &TestEnv, command: &str) -> std::process::Output {
    let mut cmd = Command::new("/bin/bash");
    cmd.arg("-c").arg(command).current_dir(&env.ws);
    env.apply(&mut cmd);
    cmd.env("SHELL", "/bin/bash")
        .env("ADOPT_TEST_VAR", "from the caller");
    output(cmd)
}

#[test]
fn foreground_and_bgjobs_calls_are_left_alone_without_opening_the_store() {
    let env = TestEnv::with_config(CONFIG);
    for (input, vars) in [
        (
            json!({"command": "cargo test", "description": "Run tests"}),
            vec![],
        ),
        (
            json!({"command": "cargo test", "run_in_background": false}),
            vec![],
        ),
        (
            json!({"command": "bgjobs run -b -- cargo test", "run_in_background": true}),
            vec![],
        ),
        (
            json!({"command": "  /opt/bin/bgjobs status", "run_in_background": true}),
            vec![],
        ),
        (
            json!({"command": "cargo test", "run_in_background": true}),
            vec![("BGJOBS_ADOPT", "0")],
        ),
    ] {
        let out = hook(&env, &pre_bash(&env, input.clone(), json!({})), &vars);
        assert_eq!(rewritten(&out), None, "{input} {vars:?}");
    }
    let other = hook_event(
        &env,
        "S",
        "PreToolUse",
        json!({"tool_name": "Read", "tool_input": {"file_path": "/x"}}),
    );
    assert_eq!(rewritten(&hook(&env, &other, &[])), None);
    assert!(env.workspace_dirs().is_empty(), "the store was opened");

    env.write_config("desktop = false\nadopt_background = false\n");
    let input = json!({"command": "cargo test", "run_in_background": true});
    assert_eq!(
        rewritten(&hook(&env, &pre_bash(&env, input, json!({})), &[])),
        None
    );
}

/// Tricky commands rewritten and run by bash mean exactly what the original
/// meant: same output, same exit code, same cwd and environment.
#[test]
fn a_rewritten_command_behaves_like_the_original() {
    let env = TestEnv::with_config(CONFIG);
    let commands = [
        "echo plain",
        "echo 'single quotes' \"double $ADOPT_TEST_VAR\" && pwd",
        "printf '%s\\n' \"it's\" 'a \"b\"' | tr a-z A-Z; exit 7",
        "cat <<'EOF'\n$HOME is not expanded\n  indented 'quote'\nEOF\necho after",
        "for i in 1 2 3; do\n  echo line $i\ndone >&2\nfalse || echo recovered",
        "x=$(echo sub); echo \"$x\" `echo back`; (exit 3)",
    ];
    for (n, command) in commands.iter().enumerate() {
        let original = bash(&env, command);
        let input = json!({"command": command, "description": format!("case {n}"), "run_in_background": true, "timeout": 5000});
        let event = pre_bash(
            &env,
            input.clone(),
            json!({"tool_use_id": format!("toolu_case{n}")}),
        );
        let updated = rewritten(&hook(&env, &event, &[("SHELL", "/bin/bash")])).expect("adopted");
        // Everything but the command is kept as the model gave it.
        for key in ["description", "run_in_background", "timeout"] {
            assert_eq!(updated[key], input[key], "{key}");
        }
        let adopted = bash(&env, updated["command"].as_str().unwrap());
        assert_eq!(
            adopted.status.code(),
            original.status.code(),
            "exit code of {command:?}"
        );
        // The job's log merges the streams, in order; the original's are apart.
        let merged = format!("{}{}", stdout(&original), stderr(&original));
        let got = stdout(&adopted);
        if stdout(&original).is_empty() || stderr(&original).is_empty() {
            assert_eq!(got, merged, "output of {command:?}");
        } else {
            let mut want: Vec<&str> = merged.lines().collect();
            want.sort();
            let mut lines: Vec<&str> = got.lines().collect();
            lines.sort();
            assert_eq!(lines, want, "output of {command:?}");
        }
        let status = env.status_json();
        let job = status["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["title"] == format!("case {n}"))
            .cloned()
            .expect("the job");
        assert_eq!(job["key"], format!("claude:toolu_case{n}"), "{job}");
        assert_eq!(job["session_id"], "S");
        assert_eq!(job["background"], true);
        assert!(same_path(&job["cwd"], &env.ws), "{job}");
        assert!(
            job["deliveries"]["told_at"].is_string(),
            "the follower told its end: {job}"
        );
    }
}

/// A call inside a subagent is attributed to it; PostToolUse on it, when
/// the client says the command ends with the subagent, says it does not.
#[test]
fn a_subagents_adopted_call_is_attributed_and_its_model_told_it_outlives_it() {
    let env = TestEnv::with_config(CONFIG);
    let gate = env.root.join("gate");
    let command = format!("{} wait-file {}", env.helper(), gate.display());
    let (pid, id, updated) = start_adopted(
        &env,
        &command,
        json!({"agent_id": "agent-7", "agent_type": "general-purpose"}),
    );
    let job = env.wait_for_status(id, &["running"]);
    assert_eq!(job["agent_id"], "agent-7", "{job}");

    let post = hook_event(
        &env,
        "S",
        "PostToolUse",
        json!({
        "tool_name": "Bash", "tool_input": updated, "tool_use_id": "toolu_01abc", "agent_id": "agent-7",
        "tool_response": {"stdout": "", "stderr": "", "interrupted": false, "isImage": false,
                          "backgroundTaskId": "b1a2b3c4d", "backgroundEndsWithFinalResponse": true}}),
    );
    let out = hook(&env, &post, &[]);
    let said = parse_json(&stdout(&out));
    let text = said["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("keeps running after this subagent's final response"),
        "{said}"
    );

    // The client ends the subagent: it kills the follower's tree. The job runs on.
    kill_task(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(env.status_of(id), "running");
    ends_untold_then_told_at_the_next_prompt(&env, &gate, id);
}

/// `run -b --follow`: the id on stderr, the log on stdout, the job's exit
/// code; SIGKILL of the follower leaves the job running.
#[test]
fn run_follow_streams_the_job_and_its_death_leaves_the_job_running() {
    let env = TestEnv::with_config(CONFIG);
    let out = env.run(&[
        "run",
        "-b",
        "--follow",
        "--",
        "/bin/sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\nerr\n");
    assert!(stderr(&out).contains("job 1 "), "{}", stderr(&out));
    let out = env.run(&["run", "--follow", "--", "true"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--follow without -b is a usage error"
    );

    let gate = env.root.join("gate");
    let mut follower = env.bgjobs(&[
        "run",
        "-b",
        "--follow",
        "--",
        &env.helper(),
        "wait-file",
        &gate.to_string_lossy(),
    ]);
    follower.stdout(Stdio::null()).stderr(Stdio::null());
    let pid = env.spawn_tracked(follower);
    let id = wait_until("the followed job", DEADLINE, || {
        ids_of(&env.status_json()).into_iter().find(|&i| i != 1)
    });
    env.wait_for_status(id, &["running"]);
    #[cfg(target_os = "linux")]
    {
        let worker = env.read_record(id)["worker"]["pid"].as_u64().unwrap() as u32;
        assert_ne!(
            proc::stat(worker).map(|s| s.ppid),
            Some(pid),
            "the worker is no child of the follower"
        );
    }
    proc::kill(pid);
    proc::wait_dead(pid, "the follower");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        env.status_of(id),
        "running",
        "killing the follower cancelled the job"
    );
    std::fs::write(&gate, "").unwrap();
    env.wait_for_status(id, &["succeeded"]);
}

/// An attached job whose `bgjobs run` and command get SIGTERM together is
/// always recorded `cancelled`, whichever of the two saw it first.
#[test]
fn sigterm_to_an_attached_run_and_its_command_together_is_always_cancelled() {
    let env = TestEnv::with_config(CONFIG);
    for round in 0..6 {
        let (run, id) = env.start_attached(&["sleep", "300"]);
        let job = env.wait_for_status(id, &["running"]);
        let command = job["pid"].as_u64().unwrap() as u32;
        let (first, second) = if round % 2 == 0 {
            (command, run)
        } else {
            (run, command)
        };
        proc::signal(first, libc::SIGTERM);
        proc::signal(second, libc::SIGTERM);
        let job = env.wait_for_status(id, &["cancelled", "failed"]);
        assert_eq!(job["status"], "cancelled", "round {round}: {job}");
    }
}

/// The Stop waiter stands down when its Claude Code process is gone and
/// leaves the end untold, for the next prompt; in a session nobody attends
/// (print mode) it returns at once.
#[test]
fn the_stop_waiter_stands_down_when_its_client_dies_and_never_holds_print_mode() {
    let env = TestEnv::with_config(CONFIG);
    let gate = env.root.join("gate");
    let id = env.start(
        &["--session", "S"],
        &[&env.helper(), "wait-file", &gate.to_string_lossy()],
    );
    env.wait_for_status(id, &["running"]);
    let stop = hook_event(&env, "S", "Stop", json!({"stop_hook_active": false}));
    let file = env.root.join("stop.json");
    std::fs::write(&file, &stop).unwrap();

    let mut unattended = env.bgjobs(&["hook", "--rewake"]);
    unattended
        .stdin(std::fs::File::open(&file).unwrap())
        .env("CLAUDE_CODE_SESSION_ATTENDED", "0");
    let out = output(unattended);
    assert_eq!(
        out.status.code(),
        Some(0),
        "print mode is not held: {}",
        stderr(&out)
    );

    // The client: a process that starts the waiter as its child, as Claude
    // Code does; then it dies by SIGKILL, leaving the waiter behind.
    let mut client = Command::new(helper_bin());
    client
        .arg("run")
        .arg(bgjobs_bin())
        .args(["hook", "--rewake"])
        .current_dir(&env.ws);
    env.apply(&mut client);
    client.stdin(std::fs::File::open(&file).unwrap());
    let client = env.spawn_tracked(client);
    let waiter = wait_until("the waiter", DEADLINE, || {
        let session = env.store_dir().join("sessions").join("S.json");
        let record: Value = serde_json::from_str(&std::fs::read_to_string(session).ok()?).ok()?;
        record["waiter"]["pid"].as_u64().map(|p| p as u32)
    });
    proc::kill(client);
    proc::wait_dead(waiter, "the waiter of a dead client");
    ends_untold_then_told_at_the_next_prompt(&env, &gate, id);
}

/// Start an adopted call's follower the way the Bash tool does (`bash -c`,
/// in a session of its own); returns the follower shell's pid and the job.
fn start_adopted(env: &TestEnv, command: &str, extra: Value) -> (u32, u64, Value) {
    let input = json!({"command": command, "description": "adopted", "run_in_background": true});
    let updated = rewritten(&hook(env, &pre_bash(env, input, extra), &[])).expect("adopted");
    let known = ids_of(&env.status_json());
    let mut follower = Command::new("setsid");
    follower
        .arg("/bin/bash")
        .arg("-c")
        .arg(updated["command"].as_str().unwrap())
        .current_dir(&env.ws)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    env.apply(&mut follower);
    let pid = env.spawn_tracked(follower);
    let id = wait_until("the adopted job", DEADLINE, || {
        ids_of(&env.status_json())
            .into_iter()
            .find(|i| !known.contains(i))
    });
    env.wait_for_status(id, &["running"]);
    (pid, id, updated)
}

/// Kill a follower's tree as Claude Code does: SIGTERM to its process group
/// (the Bash tool's shell leads one of its own).
fn kill_task(pid: u32) {
    proc::signal_group(pid, libc::SIGTERM);
    proc::wait_dead(pid, "the follower's shell");
}

/// Claude Code kills a background task the same way at a subagent's end, a
/// session's end and a stop from the user's task list (which runs no hook):
/// only with its session and subagent going on is the kill a stop, and the
/// job cancelled (and counted as told: the client says it was stopped).
#[test]
fn a_killed_follower_cancels_its_job_only_while_its_session_and_subagent_go_on() {
    let env = TestEnv::with_config(CONFIG);
    assert_eq!(
        hook(
            &env,
            &hook_event(&env, "S", "SessionStart", json!({"source": "startup"})),
            &[]
        )
        .status
        .code(),
        Some(0)
    );
    let sleeper = format!("{} sleep 300", env.helper());

    // A subagent's end: SubagentStop first, then the kill. The job stays.
    let start = json!({"agent_id": "agent-1", "agent_type": "general-purpose"});
    hook(
        &env,
        &hook_event(&env, "S", "SubagentStart", start.clone()),
        &[],
    );
    let (shell, sub_job, _) = start_adopted(&env, &sleeper, start.clone());
    hook(&env, &hook_event(&env, "S", "SubagentStop", start), &[]);
    kill_task(shell);

    // The user's stop, with the session and the main thread going on.
    let (shell, stopped, _) = start_adopted(&env, &sleeper, json!({"tool_use_id": "toolu_stop"}));
    kill_task(shell);
    let job = env.wait_for_status(stopped, &["cancelled"]);
    assert!(job["reason"].as_str().unwrap().contains("stopped"), "{job}");
    assert!(job["deliveries"]["told_at"].is_string(), "{job}");
    proc::wait_dead(
        job["pid"].as_u64().unwrap() as u32,
        "the stopped job's command",
    );
    assert_eq!(
        env.status_of(sub_job),
        "running",
        "a subagent's end cancelled its job"
    );

    // The session's end: SessionEnd, then the kill. The job stays.
    let (shell, kept, _) = start_adopted(&env, &sleeper, json!({"tool_use_id": "toolu_keep"}));
    hook(
        &env,
        &hook_event(&env, "S", "SessionEnd", json!({"reason": "other"})),
        &[],
    );
    kill_task(shell);
    std::thread::sleep(Duration::from_secs(4)); // past the stop check's look
    assert_eq!(
        env.status_of(kept),
        "running",
        "the session's end cancelled its job"
    );
    assert_eq!(env.status_of(sub_job), "running");
}
