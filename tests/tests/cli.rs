//! The command-line contract: exit codes, dedupe keys, `logs -f`, `wait`,
//! session filters, the JSON job model, listings, config errors, file modes.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;

use bgjobs_tests::*;

// ----- run -----------------------------------------------------------------

#[test]
fn attached_run_exit_code_and_output_are_the_commands() {
    let env = TestEnv::new();
    let helper = env.helper();

    let out = env.run(&["run", "--", &helper, "exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = env.run(&["run", "--", &helper, "exit", "0"]);
    assert_eq!(out.status.code(), Some(0));
    let out = env.run(&["run", "--", &helper, "print", "to stdout"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "to stdout\n");
    let out = env.run(&["run", "--", &helper, "eprint", "to stderr"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "to stderr\n");
    assert_eq!(stdout(&out), "");

    let status = env.status_json();
    let job = |n: u64| find_job(&status, n).unwrap();
    assert_eq!(job(1)["status"], "failed");
    assert_eq!(job(1)["exit_code"], 7);
    assert_eq!(job(1)["background"], false);
    assert_eq!(job(2)["status"], "succeeded");
    assert_eq!(job(2)["exit_code"], 0);
    // Both streams also went to the log.
    let log = |n: u64| std::fs::read_to_string(env.log_file(n)).unwrap();
    assert_eq!(log(3), "to stdout\n");
    assert_eq!(log(4), "to stderr\n");
    assert_eq!(job(3)["output_tail"], "to stdout");
}

/// Exit codes are recorded as the system reports them, and `run` and `wait`
/// exit with them: on Windows all 32 bits (an NTSTATUS such as
/// 0xC0000005, which `status.code()` and `%ERRORLEVEL%` give as
/// -1073741819), on Unix the low 8 (300 exits as 44).
#[test]
fn exit_codes_are_recorded_as_the_system_reports_them() {
    let env = TestEnv::new();
    let helper = env.helper();
    let (code, reported) = match cfg!(windows) {
        true => ("-1073741819", -1073741819),
        false => ("300", 44),
    };
    let out = env.run(&["run", "--", &helper, "exit", code]);
    assert_eq!(out.status.code(), Some(reported), "{}", stderr(&out));
    let job = env.job(1);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["exit_code"], reported, "{job}");

    let id = env.start_helper(&[], &["exit", code]);
    let out = env.run(&["wait", &id.to_string()]);
    assert_eq!(out.status.code(), Some(reported), "{}", stderr(&out));
    assert_eq!(env.job(id)["exit_code"], reported);
}

#[cfg(unix)]
#[test]
fn command_killed_by_a_signal_exits_128_plus_n() {
    let env = TestEnv::new();
    let out = env.run(&["run", "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(137));
    let job = env.job(1);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["signal"], 9, "{job}");

    let id = env.start(&[], &["sh", "-c", "kill -15 $$"]);
    let out = env.run(&["wait", &id.to_string()]);
    assert_eq!(out.status.code(), Some(143));
    assert_eq!(env.job(id)["signal"], 15);
}

#[test]
fn attached_run_with_timeout_exits_125_and_is_timed_out() {
    let env = TestEnv::new();
    let out = env.run(&[
        "run",
        "--timeout",
        "1s",
        "--",
        &env.helper(),
        "sleep",
        "300",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let job = env.job(1);
    assert_eq!(job["status"], "timed_out", "{job}");
    assert!(!job["reason"].as_str().unwrap_or_default().is_empty());
}

/// Unix: a script without the execute bit. Windows: a `.exe` that is not a
/// program (ERROR_BAD_EXE_FORMAT).
#[test]
fn command_that_cannot_execute_is_126() {
    let env = TestEnv::new();
    let script = env
        .root
        .join(format!("not-executable{}", std::env::consts::EXE_SUFFIX));
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let out = env.run(&["run", "--", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    let job = env.job(1);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["exit_code"], 126);
    assert!(!job["reason"].as_str().unwrap_or_default().is_empty());
}

#[test]
fn background_log_keeps_stdout_and_stderr_in_order() {
    let env = TestEnv::new();
    let (shell, expected) = match cfg!(windows) {
        true => (
            ["cmd", "/C", "echo a&echo b>&2&echo c&echo d>&2"],
            "a\r\nb\r\nc\r\nd\r\n",
        ),
        false => (
            ["sh", "-c", "echo a; echo b >&2; echo c; echo d >&2"],
            "a\nb\nc\nd\n",
        ),
    };
    let id = env.start(&[], &shell);
    env.wait_for_status(id, &["succeeded"]);
    assert_eq!(std::fs::read_to_string(env.log_file(id)).unwrap(), expected);
    assert_eq!(env.run_ok(&["logs", &id.to_string()]), expected);
}

#[test]
fn command_not_found_is_127_and_recorded_failed_with_a_reason() {
    let env = TestEnv::new();
    let missing = env.root.join("no-such-command");
    let missing = missing.to_str().unwrap();

    let out = env.run(&["run", "--", missing, "arg"]);
    assert_eq!(out.status.code(), Some(127));
    let err = stderr(&out);
    assert!(
        err.contains("not found") && err.contains("no-such-command"),
        "{err}"
    );
    let job = env.job(1);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["exit_code"], 127, "{job}");
    assert!(
        job["reason"].as_str().unwrap().contains("not found"),
        "{job}"
    );

    let id = env.start(&[], &[missing]);
    let out = env.run(&["wait", &id.to_string()]);
    assert_eq!(out.status.code(), Some(127));
    let job = env.job(id);
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["reason"].as_str().unwrap().contains("not found"),
        "{job}"
    );
}

#[test]
fn key_reuses_the_active_job_then_starts_a_new_one() {
    let env = TestEnv::new();
    let first = env.start_helper(&["--key", "K"], &["sleep", "300"]);
    let again = env.start_helper(&["--key", "K"], &["sleep", "300"]);
    assert_eq!(again, first, "the same key while active: the same job");
    let as_json = env.json(&[
        "run",
        "-b",
        "--key",
        "K",
        "--json",
        "--",
        &env.helper(),
        "x",
    ]);
    assert_eq!(as_json["id"], first);
    assert_eq!(as_json["key"], "K");
    assert_eq!(env.record_ids(), vec![first], "only one record");

    let other = env.start_helper(&["--key", "L"], &["sleep", "300"]);
    assert_ne!(other, first, "another key: another job");

    env.run_ok(&["cancel", &first.to_string()]);
    let next = env.start_helper(&["--key", "K"], &["sleep", "300"]);
    assert!(
        next > other,
        "after the keyed job ended, the key starts a new job"
    );
    assert_eq!(env.status_of(first), "cancelled");
    env.wait_for_status(next, &["running"]);
    env.run_ok(&["cancel", "--all"]);
}

#[test]
fn concurrent_starts_with_one_key_make_one_job() {
    let env = std::sync::Arc::new(TestEnv::new());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || env.start_helper(&["--key", "once"], &["sleep", "300"]))
        })
        .collect();
    let ids: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    assert_eq!(env.record_ids(), vec![ids[0]]);
    env.run_ok(&["cancel", "--all"]);
}

#[test]
fn enqueue_is_run_in_the_background() {
    let env = TestEnv::new();
    let id = parse_id(&env.run_ok(&["enqueue", "--", &env.helper(), "exit", "0"]));
    let job = env.wait_for_status(id, &["succeeded"]);
    assert_eq!(job["background"], true);
}

// ----- logs, wait ----------------------------------------------------------

#[test]
fn logs_follow_until_the_job_ends() {
    let env = TestEnv::new();
    let gate = env.root.join("gate");
    let id = env.start_helper(&[], &["wait-file", gate.to_str().unwrap()]);

    let mut follow = env.bgjobs(&["logs", "-f", &id.to_string()]);
    follow.stdout(Stdio::piped());
    let mut child = follow.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = tx.send(std::mem::take(&mut line));
        }
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    let first = rx.recv_timeout(DEADLINE).expect("logs -f printed nothing");
    assert_eq!(first, "waiting\n");
    // The job cannot end before the gate opens, so `logs -f` must still be
    // following.
    assert!(
        child.try_wait().unwrap().is_none(),
        "logs -f returned early"
    );
    // `show` of the running job has the output so far.
    let job = env.job(id);
    assert_eq!(job["status"], "running");
    assert_eq!(job["output_tail"], "waiting");

    std::fs::write(&gate, "").unwrap();
    let mut rest: Vec<String> = Vec::new();
    while let Ok(line) = rx.recv_timeout(DEADLINE) {
        rest.push(line);
    }
    let status = wait_until("logs -f to exit after the job ended", DEADLINE, || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    assert_eq!(rest, vec!["done\n".to_string()]);
    assert_eq!(env.status_of(id), "succeeded");
}

#[test]
fn wait_exit_codes_any_and_timeout() {
    let env = TestEnv::new();
    let ok1 = env.start_helper(&[], &["exit", "0"]);
    let ok2 = env.start_helper(&[], &["exit", "0"]);
    let three = env.start_helper(&[], &["exit", "3"]);
    let long = env.start_helper(&[], &["sleep", "300"]);

    let code = |args: &[&str]| env.run(args).status.code();
    let s = |id: u64| id.to_string();
    assert_eq!(code(&["wait", &s(ok1), &s(ok2)]), Some(0));
    assert_eq!(code(&["wait", &s(ok1), &s(three)]), Some(3));
    assert_eq!(code(&["wait", "--any", &s(three), &s(long)]), Some(3));

    let out = env.run(&["wait", "--timeout", "1s", &s(long)]);
    assert_eq!(out.status.code(), Some(124));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert_eq!(
        env.status_of(long),
        "running",
        "wait --timeout ends nothing"
    );

    // With no id, `wait` waits for every active job.
    let out = env.run(&["wait", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(124));
    env.run_ok(&["cancel", &s(long)]);
    assert_eq!(code(&["wait"]), Some(0), "nothing left to wait for");

    let out = env.run(&["wait", "--json", &s(three)]);
    assert_eq!(out.status.code(), Some(3));
    let waited = parse_json(&stdout(&out));
    assert_eq!(ids_of(&waited), vec![three]);
    assert_eq!(waited["timed_out"], false);
}

// ----- sessions, listings, the job model -----------------------------------

#[test]
fn session_filters_and_where_the_session_comes_from() {
    let env = TestEnv::new();
    let helper = env.helper();
    let start = |session_env: Option<(&str, &str)>, opts: &[&str]| {
        let mut args = vec!["run", "-b"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["--", &helper, "sleep", "300"]);
        let mut cmd = env.bgjobs(&args);
        if let Some((k, v)) = session_env {
            cmd.env(k, v);
        }
        parse_id(&ok(cmd))
    };
    let s1 = start(None, &["--session", "s1"]);
    let s2 = start(Some(("BGJOBS_SESSION_ID", "s2")), &[]);
    let s3 = start(Some(("CLAUDE_CODE_SESSION_ID", "s3")), &[]);
    let flag_wins = start(Some(("BGJOBS_SESSION_ID", "s2")), &["--session", "s1"]);
    let none = start(None, &[]);

    let status = env.status_json();
    let session = |id: u64| find_job(&status, id).unwrap()["session_id"].clone();
    assert_eq!(session(s1), "s1");
    assert_eq!(session(s2), "s2");
    assert_eq!(session(s3), "s3");
    assert_eq!(session(flag_wins), "s1");
    assert_eq!(session(none), Value::Null);
    assert_eq!(
        ids_of(&status),
        vec![none, flag_wins, s3, s2, s1],
        "newest first"
    );

    let listed = env.json(&["status", "--session", "s1", "--json"]);
    assert_eq!(ids_of(&listed), vec![flag_wins, s1]);

    let mine = |k: &str, v: &str| {
        let mut cmd = env.bgjobs(&["status", "--mine", "--json"]);
        cmd.env(k, v);
        ids_of(&parse_json(&ok(cmd)))
    };
    assert_eq!(mine("BGJOBS_SESSION_ID", "s2"), vec![s2]);
    assert_eq!(mine("CLAUDE_CODE_SESSION_ID", "s3"), vec![s3]);
    let out = env.run(&["status", "--mine"]);
    assert_eq!(out.status.code(), Some(2), "--mine without a session");

    // `wait --session` only waits for that session's jobs.
    let out = env.run(&["wait", "--session", "s2", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(124), "s2's job is running");
    env.run_ok(&["cancel", "--session", "s1"]);
    let out = env.run(&["wait", "--session", "s1", "--timeout", "30s"]);
    assert_eq!(out.status.code(), Some(0), "s1 has no active job left");
    env.wait_for_status(s2, &["running"]);
    env.run_ok(&["cancel", "--all"]);
}

#[test]
fn status_lists_active_and_recent_finished_newest_first() {
    let env = TestEnv::new();
    let running = env.start_helper(&[], &["sleep", "300"]);
    let finished: Vec<u64> = (0..22)
        .map(|_| env.start_helper(&[], &["exit", "0"]))
        .collect();
    for &id in &finished {
        env.wait_for_status(id, &["succeeded"]);
    }

    let all = env.status_json();
    let mut expected: Vec<u64> = finished.iter().rev().copied().collect();
    expected.push(running);
    assert_eq!(ids_of(&all), expected, "--all: every job, newest first");

    let recent = env.json(&["status", "--json"]);
    let mut expected: Vec<u64> = finished.iter().rev().take(20).copied().collect();
    expected.push(running);
    assert_eq!(
        ids_of(&recent),
        expected,
        "all active plus the 20 newest finished"
    );

    let out = env.run_ok(&["status"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("STATUS"),
        "{header}"
    );
    assert_eq!(lines.count(), 21, "{out}");
    env.run_ok(&["cancel", &running.to_string()]);
}

#[test]
fn show_json_has_the_documented_job_model() {
    let env = TestEnv::new();
    let helper = env.helper();
    let started = env.json(&[
        "run",
        "-b",
        "--json",
        "--title",
        "my title",
        "--key",
        "k1",
        "--session",
        "s",
        "--",
        &helper,
        "print",
        "hello",
    ]);
    let id = started["id"]
        .as_u64()
        .expect("run -b --json prints the job");
    let job = env.wait_for_status(id, &["succeeded"]);

    let documented = [
        "id",
        "title",
        "command",
        "cwd",
        "background",
        "session_id",
        "agent_id",
        "key",
        "status",
        "exit_code",
        "signal",
        "reason",
        "created_at",
        "started_at",
        "finished_at",
        "pid",
        "log_path",
        "output_tail",
    ];
    for field in documented {
        assert!(job.get(field).is_some(), "field {field} missing: {job}");
    }
    assert_eq!(job["id"], id);
    assert_eq!(job["title"], "my title");
    assert_eq!(job["command"], json!([helper, "print", "hello"]));
    assert!(same_path(&job["cwd"], &env.ws), "{job}");
    assert_eq!(job["background"], true);
    assert_eq!(job["session_id"], "s");
    assert_eq!(job["agent_id"], Value::Null);
    assert_eq!(job["key"], "k1");
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["exit_code"], 0);
    assert_eq!(job["signal"], Value::Null);
    assert_eq!(job["reason"], Value::Null);
    for t in ["created_at", "started_at", "finished_at"] {
        let text = job[t].as_str().unwrap_or_else(|| panic!("{t} is a string"));
        assert!(is_rfc3339_utc(text), "{t} = {text}");
    }
    let (c, s, f) = (&job["created_at"], &job["started_at"], &job["finished_at"]);
    assert!(
        c.as_str() <= s.as_str() && s.as_str() <= f.as_str(),
        "{job}"
    );
    assert!(job["pid"].as_u64().is_some());
    assert_eq!(job["log_path"], env.log_file(id).to_str().unwrap());
    assert_eq!(job["output_tail"], "hello");

    // The default title is the command line.
    let id = env.start_helper(&[], &["print", "a b"]);
    let job = env.wait_for_status(id, &["succeeded"]);
    assert_eq!(job["title"], format!("{helper} print 'a b'"));
    assert_eq!(job["key"], Value::Null);
    assert_eq!(job["session_id"], Value::Null);

    // The human `show` names the job and its state.
    let text = env.run_ok(&["show", &id.to_string()]);
    assert!(text.starts_with(&format!("job {id}: succeeded")), "{text}");
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    text.ends_with('Z')
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
}

// ----- config, files -------------------------------------------------------

#[test]
fn config_errors_name_the_key_and_write_nothing() {
    let env = TestEnv::with_config("keep_finished = 5\nkeep_finishd = 6\n");
    let out = env.run(&["run", "-b", "--", &env.helper(), "exit", "0"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("keep_finishd"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!env.home.exists(), "nothing may be written");

    env.write_config("log_max_bytes = 100\n");
    let out = env.run(&["status"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("log_max_bytes"), "{}", stderr(&out));

    env.write_config(
        "keep_finished = 5\nmax_age = \"30d\"\nlog_max_bytes = 65536\ndesktop = false\n\
         coalesce_window = \"2s\"\nidle_timeout = \"1m\"\n",
    );
    env.run_ok(&["status"]);
}

#[cfg(unix)]
#[test]
fn state_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;

    let env = TestEnv::new();
    let id = env.start_helper(&["--session", "s"], &["print", "x"]);
    env.wait_for_status(id, &["succeeded"]);
    env.wait_delivered(id); // no write (and no temp file) in flight
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    let store = env.store_dir();
    let mut dirs = vec![env.home.clone(), env.home.join("workspaces"), store.clone()];
    dirs.extend(["jobs", "logs", "sessions"].map(|d| store.join(d)));
    for dir in dirs {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    let files = walk(&store);
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// A reader that goes away before bgjobs prints (`… | true`) ends the
/// command quietly with exit 0 — no panic — and the job runs as recorded.
/// Each command that keeps SIGPIPE ignored (run, hook) meets the closed pipe
/// as a write error; the listing commands end as any Unix filter does.
#[cfg(unix)]
#[test]
fn a_closed_stdout_is_a_reader_that_is_done_not_a_panic() {
    let env = TestEnv::new();
    let script = format!(
        "{{ sleep .3; '{}' run -b -- sleep .2; echo \"rc=$?\" >&2; }} | true",
        bgjobs_bin().display()
    );
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg(&script).current_dir(&env.ws);
    env.apply(&mut cmd);
    let out = output(cmd);
    let err = stderr(&out);
    assert!(err.contains("rc=0"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let id = ids_of(&env.status_json())[0];
    env.wait_for_status(id, &["succeeded"]);
}

/// Shell completions and the manual page come from the parser's own
/// definitions: every shell gets a script naming the commands, bash loads
/// its script, and the manual page is roff naming them too.
#[test]
fn completions_and_the_manual_page_name_the_commands() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = env.run_ok(&["completions", shell]);
        for word in ["wait", "cancel", "doctor", "--background"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let bad = env.run(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    let page = env.run_ok(&["man"]);
    assert!(
        page.contains(".TH bgjobs"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains("doctor") && page.contains("wait"));
    #[cfg(unix)]
    {
        let script = env.root.join("bgjobs.bash");
        std::fs::write(&script, env.run_ok(&["completions", "bash"])).unwrap();
        let mut bash = std::process::Command::new("bash");
        bash.arg("-c").arg(format!(
            "source '{}' && complete -p bgjobs",
            script.display()
        ));
        let said = ok(bash);
        assert!(said.contains("bgjobs"), "{said}");
    }
}
