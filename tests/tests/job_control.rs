//! Job control beyond starting a job: `logs -n` (the last lines, and
//! following from there), `run --cwd` and `run --env`, `restart` of a
//! finished and of a running job. Real processes throughout; bad input is
//! one line on stderr, exit 2, nothing recorded.

use bgjobs_tests::*;

/// A job's whole log, once it has ended.
fn log_of(env: &TestEnv, id: u64) -> String {
    env.wait_for_status(id, &["succeeded", "failed", "cancelled"]);
    env.run_ok(&["logs", &id.to_string()])
}

#[test]
fn logs_n_prints_the_last_lines_and_follows_from_there() {
    let env = TestEnv::new();
    let id = env.start_helper(&[], &["lines", "10"]);
    let all = log_of(&env, id);
    assert_eq!(all.lines().count(), 10, "{all}");
    let id_s = id.to_string();
    assert_eq!(
        env.run_ok(&["logs", &id_s, "-n", "3"]),
        "line 8\nline 9\nline 10\n"
    );
    assert_eq!(env.run_ok(&["logs", &id_s, "-n", "0"]), "");
    assert_eq!(env.run_ok(&["logs", &id_s, "--lines", "99"]), all);

    // -f -n: the last lines so far, then what comes until the end.
    let gate = env.root.join("gate");
    let waiting = env.start_helper(&[], &["wait-file", &gate.to_string_lossy()]);
    wait_until("the job to print", DEADLINE, || {
        std::fs::read_to_string(env.log_file(waiting))
            .ok()
            .filter(|l| l.contains("waiting"))
    });
    let mut follow = env.bgjobs(&["logs", "-f", "-n", "1", &waiting.to_string()]);
    follow.stdout(std::process::Stdio::piped());
    let child = follow.spawn().expect("start logs -f");
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&gate, "").unwrap();
    let out = child.wait_with_output().expect("logs -f ends with the job");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "waiting\ndone\n");

    let out = env.run(&["logs", &id_s, "-n", "many"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn run_cwd_and_env_set_the_commands_directory_and_environment() {
    let env = TestEnv::new();
    let dir = env.root.join("elsewhere");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = std::fs::canonicalize(&dir).unwrap();
    let helper = env.helper();
    let id = env.start(
        &[
            "--cwd",
            &dir.to_string_lossy(),
            "--env",
            "BGJ_A=1",
            "--env",
            "BGJ_B=x=y",
            "--env",
            "BGJ_A=2",
            "--env",
            "BGJ_EMPTY=",
        ],
        &[&helper, "env", "BGJ_A", "BGJ_B", "BGJ_EMPTY"],
    );
    assert_eq!(log_of(&env, id), "BGJ_A=2\nBGJ_B=x=y\nBGJ_EMPTY=\n");
    let job = env.job(id);
    assert!(same_path(&job["cwd"], &dir), "{job}");
    assert_eq!(
        job["env"],
        json!({"BGJ_A": "2", "BGJ_B": "x=y", "BGJ_EMPTY": ""})
    );
    let id = env.start(&["--cwd", &dir.to_string_lossy()], &[&helper, "cwd"]);
    assert_eq!(std::fs::canonicalize(log_of(&env, id).trim()).unwrap(), dir);

    // Bad input: the first line says what is wrong, exit 2, nothing recorded.
    let before = env.record_ids();
    let missing = env.root.join("no-such-dir");
    for args in [
        vec![
            "run",
            "-b",
            "--cwd",
            &*missing.to_string_lossy(),
            "--",
            &helper,
            "cwd",
        ],
        vec!["run", "-b", "--env", "NOEQUALS", "--", &helper, "cwd"],
        vec!["run", "-b", "--env", "=value", "--", &helper, "cwd"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let first = stderr(&out).lines().next().unwrap_or_default().to_string();
        assert!(
            first.contains("--cwd") || first.contains("--env"),
            "{first}"
        );
        assert_eq!(env.record_ids(), before, "{args:?} recorded a job");
    }
}

#[test]
fn restart_runs_a_finished_job_again_and_cancels_a_running_one_first() {
    let env = TestEnv::new();
    let dir = env.root.join("d");
    std::fs::create_dir_all(&dir).unwrap();
    let helper = env.helper();
    let first = env.start(
        &[
            "--title",
            "the env",
            "--key",
            "k1",
            "--cwd",
            &dir.to_string_lossy(),
            "--env",
            "BGJ_R=yes",
        ],
        &[&helper, "env", "BGJ_R"],
    );
    assert_eq!(log_of(&env, first), "BGJ_R=yes\n");
    let again: Value = env.json(&["restart", &first.to_string(), "--json", "--session", "S2"]);
    let again_id = again["id"].as_u64().unwrap();
    assert_ne!(again_id, first);
    assert_eq!(again["restarted_from"], first, "{again}");
    assert_eq!(again["session_id"], "S2");
    for field in ["title", "command", "cwd", "key", "env"] {
        assert_eq!(again[field], env.job(first)[field], "{field}");
    }
    assert_eq!(log_of(&env, again_id), "BGJ_R=yes\n");

    // A running job: cancelled first (its tree ended, recorded), then run anew.
    let gate = env.root.join("gate");
    let running = env.start_helper(&[], &["wait-file", &gate.to_string_lossy()]);
    env.wait_for_status(running, &["running"]);
    let pid = env.job(running)["pid"].as_u64().unwrap() as u32;
    let out = env.run(&["restart", &running.to_string(), "--no-cancel"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        env.status_of(running),
        "running",
        "--no-cancel refused, changed nothing"
    );
    let renewed: u64 = env
        .run_ok(&["restart", &running.to_string(), "--grace", "1s"])
        .trim()
        .parse()
        .unwrap();
    let old = env.job(running);
    assert_eq!(old["status"], "cancelled", "{old}");
    assert_eq!(old["reason"], "restarted", "{old}");
    proc::wait_dead(pid, "the restarted job's old command");
    env.wait_for_status(renewed, &["running"]);
    std::fs::write(&gate, "").unwrap();
    env.wait_for_status(renewed, &["succeeded"]);
    assert_eq!(env.job(renewed)["restarted_from"], running);

    let out = env.run(&["restart", "999"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
