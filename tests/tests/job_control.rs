//! Job control beyond starting a job: `logs -n` (the last lines, and
//! following from there), `run --cwd` and `run --env`, `restart` of a
//! finished and of a running job, queues with limits, `--after`
//! dependencies and `--ready` readiness. Real processes throughout; bad input is
//! one line on stderr, exit 2, nothing recorded.

use std::time::Duration;

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
    std::thread::sleep(Duration::from_millis(300));
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

/// `[queues]` with `q = 2` and six jobs: never more than two run at once
/// (from the jobs' own marks, and sampled from `status`), all succeed, and
/// they start in the order they were queued, two by two. `queue` counts them; `wait`
/// waits through the queueing.
#[test]
fn a_queue_runs_at_most_its_limit_at_once_in_fifo_order() {
    let env = TestEnv::with_config("desktop = false\n[queues]\nq = 2\n");
    let marks = env.root.join("marks");
    let marks_s = marks.to_string_lossy().into_owned();
    // The first two hold their slots until the gate opens, so that the
    // looks below see four waiting however slow the machine.
    let gate = env.root.join("gate");
    let gate_s = gate.to_string_lossy().into_owned();
    let ids: Vec<u64> = (1..=6)
        .map(|i| {
            env.start_helper(
                &["--queue", "q"],
                &["mark", &marks_s, &format!("j{i}"), "400", &gate_s],
            )
        })
        .collect();
    let queues = env.json(&["queue", "--json"]);
    let q = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "q")
        .unwrap_or_else(|| panic!("no queue q: {queues}"));
    assert_eq!(q["limit"], 2, "{queues}");
    assert!(q["running"].as_u64().unwrap() <= 2, "{queues}");
    let waiting = &env.job(ids[5]);
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert_eq!(
        waiting["reason"], "waiting for a slot in queue q",
        "{waiting}"
    );
    assert_eq!(waiting["queue"], "q");
    std::fs::write(&gate, "").unwrap();

    // Sample while they run: at most two of q's jobs running at any look.
    let mut most = 0;
    wait_until("the six jobs to end", Duration::from_secs(60), || {
        let jobs = env.status_json()["jobs"].as_array().unwrap().clone();
        let running = jobs.iter().filter(|j| j["status"] == "running").count();
        most = most.max(running);
        assert!(running <= 2, "{running} running at once: {jobs:?}");
        let done = jobs.iter().filter(|j| j["status"] == "succeeded").count();
        (done == 6).then_some(())
    });
    assert!(most >= 1, "never saw a job running");
    let out = env.run(&["wait", &ids[0].to_string(), &ids[5].to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let marks = std::fs::read_to_string(&marks).unwrap();
    let mut running = 0;
    let mut starts = Vec::new();
    for line in marks.lines() {
        let (name, what) = line.split_once(' ').unwrap();
        match what {
            "start" => {
                running += 1;
                starts.push(name.to_string());
            }
            _ => running -= 1,
        }
        assert!(running <= 2, "three at once by the marks:\n{marks}");
    }
    // FIFO: the oldest two first, then the next two, then the last two
    // (within a pair, two jobs released together race to their first mark).
    let mut waves: Vec<Vec<String>> = starts.chunks(2).map(<[String]>::to_vec).collect();
    for wave in &mut waves {
        wave.sort();
    }
    let fifo: Vec<Vec<String>> = [["j1", "j2"], ["j3", "j4"], ["j5", "j6"]]
        .iter()
        .map(|w| w.iter().map(|n| n.to_string()).collect())
        .collect();
    assert_eq!(waves, fifo, "FIFO:\n{marks}");
}

/// `wait` on a waiting job waits through the queueing; `cancel` of a
/// waiting job records it cancelled and it never starts; and when the
/// worker of the running job is SIGKILLed, the waiting one still starts,
/// with nobody but the notifier looking.
#[test]
fn waiting_jobs_are_cancelled_waited_for_and_started_after_a_worker_dies() {
    let env = TestEnv::with_config("desktop = false\n[queues]\none = 1\n");
    let gate = env.root.join("gate");
    let gate_s = gate.to_string_lossy().into_owned();
    let first = env.start_helper(&["--queue", "one"], &["wait-file", &gate_s]);
    env.wait_for_status(first, &["running"]);
    let never = env.start_helper(&["--queue", "one"], &["print", "must not run"]);
    let next = env.start_helper(&["--queue", "one"], &["print", "second ran"]);
    assert_eq!(env.status_of(never), "queued");
    let out = env.run(&["cancel", &never.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.status_of(never), "cancelled");

    // Kill the running job's worker outright: no end recorded, no report.
    let worker = env.job(first)["worker"]["pid"].as_u64().unwrap() as u32;
    assert!(proc::kill(worker), "kill the worker {worker}");
    // Only the record files are read here (no CLI look that could start
    // it): the notifier's sweep finds the job lost and starts the next.
    let started = wait_until("the waiting job to start", Duration::from_secs(30), || {
        let job = env.read_record(next);
        (job["status"] != "queued").then_some(job)
    });
    assert_ne!(started["status"], "cancelled", "{started}");
    let out = env.run(&["wait", &next.to_string(), &never.to_string()]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "cancelled counts: {}",
        stderr(&out)
    );
    assert_eq!(env.status_of(next), "succeeded");
    assert_eq!(env.status_of(first), "lost");
    assert!(
        env.job(never)["started_at"].is_null(),
        "the cancelled job started"
    );
    assert!(!std::fs::read_to_string(env.log_file(never))
        .unwrap_or_default()
        .contains("must not run"));
    std::fs::write(&gate, "").unwrap();

    // `wait` on a job that waits for a slot waits through it.
    let gate2 = env.root.join("gate2");
    let holder = env.start_helper(
        &["--queue", "one"],
        &["wait-file", &gate2.to_string_lossy()],
    );
    env.wait_for_status(holder, &["running"]);
    let queued = env.start_helper(&["--queue", "one"], &["exit", "4"]);
    let mut wait = env.bgjobs(&["wait", &queued.to_string()]);
    let child = wait.spawn().expect("start wait");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&gate2, "").unwrap();
    let out = proc::wait_output(child, DEADLINE, "wait through the queue");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

/// `--after`: a→b→c with b failing leaves c `skipped` (exit 125, the reason
/// names b and how it ended); a job after a success starts once it ended.
#[test]
fn after_runs_a_chain_and_skips_what_follows_a_failure() {
    let env = TestEnv::new();
    let gate = env.root.join("gate");
    let a = env.start_helper(&[], &["wait-file", &gate.to_string_lossy()]);
    let b = env.start_helper(&["--after", &a.to_string()], &["exit", "3"]);
    let c = env.start_helper(&["--after", &format!("{a},{b}")], &["print", "c ran"]);
    assert_eq!(env.job(b)["reason"], format!("waiting for job {a}"));
    std::fs::write(&gate, "").unwrap();
    let out = env.run(&["wait", &c.to_string()]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    let skipped = env.job(c);
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(skipped["after"], json!([a, b]));
    assert_eq!(
        skipped["reason"],
        format!("job {b} failed (exit 3)"),
        "{skipped}"
    );
    assert!(skipped["started_at"].is_null());
    assert_eq!(env.status_of(a), "succeeded");
    assert_eq!(env.status_of(b), "failed");
    assert_started_after(&env, b, a);
}

/// Job `later` started no sooner than job `earlier` ended.
fn assert_started_after(env: &TestEnv, later: u64, earlier: u64) {
    let (end, start) = (env.job(earlier), env.job(later));
    let (end, start) = (
        end["finished_at"].as_str().unwrap().to_string(),
        start["started_at"].as_str().unwrap().to_string(),
    );
    assert!(
        start >= end,
        "job {later} started at {start}, before job {earlier} ended at {end}"
    );
}

/// Dependencies and queues combine: a job whose dependency succeeded still
/// waits for a slot in its queue.
#[test]
fn a_job_after_another_still_waits_for_a_slot() {
    let env = TestEnv::with_config("desktop = false\n[queues]\none = 1\n");
    let gate = env.root.join("gate");
    let holder = env.start_helper(&["--queue", "one"], &["wait-file", &gate.to_string_lossy()]);
    env.wait_for_status(holder, &["running"]);
    let first = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(first, &["succeeded"]);
    let after = env.start_helper(
        &["--queue", "one", "--after", &first.to_string()],
        &["exit", "0"],
    );
    let job = env.job(after);
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["reason"], "waiting for a slot in queue one", "{job}");
    std::fs::write(&gate, "").unwrap();
    let out = env.run(&["wait", &after.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_started_after(&env, after, holder);
}

/// `--ready REGEX`: `wait --ready` returns 0 while the job still runs,
/// `status` says `running (ready)` and `--json` has the fields; a job that
/// ends before it is ready makes `wait --ready` return as its end would.
#[test]
fn ready_is_recorded_and_ends_wait_ready_before_the_job_ends() {
    let env = TestEnv::new();
    let gate = env.root.join("gate");
    let gate_s = gate.to_string_lossy().into_owned();
    let server = env.start_helper(
        &["--ready", "^listening on [0-9]+$"],
        &["serve", "1000", "listening on 8080", &gate_s],
    );
    let out = env.run(&["wait", "--ready", &server.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("is ready"), "{}", stdout(&out));
    let job = env.job(server);
    assert_eq!(job["status"], "running", "returned before the end: {job}");
    assert!(!job["ready_at"].is_null(), "{job}");
    assert_eq!(job["ready_pattern"], "^listening on [0-9]+$");
    let table = env.run_ok(&["status"]);
    assert!(table.contains("running (ready)"), "{table}");
    std::fs::write(&gate, "").unwrap();
    env.wait_for_status(server, &["succeeded"]);

    // Never ready: wait --ready gives the end's code.
    let never = env.start_helper(&["--ready", "never printed"], &["exit", "3"]);
    let out = env.run(&["wait", "--ready", &never.to_string()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(env.job(never)["ready_at"].is_null());

    // restart keeps the queue and the ready pattern.
    let again = env.json(&["restart", &never.to_string(), "--json"]);
    assert_eq!(again["ready_pattern"], "never printed", "{again}");
    assert_eq!(again["queue"], "default", "{again}");
}

/// Bad input for the new options: one line on stderr, exit 2, no record.
#[test]
fn a_bad_queue_regex_or_dependency_is_refused_and_records_nothing() {
    let env = TestEnv::new();
    let helper = env.helper();
    env.start_helper(&[], &["exit", "0"]); // the store exists, one record
    let before = env.record_ids();
    for (args, names) in [
        (
            vec!["run", "-b", "--queue", "no spaces", "--", &helper, "cwd"],
            "--queue",
        ),
        (
            vec!["run", "-b", "--queue", "", "--", &helper, "cwd"],
            "--queue",
        ),
        (
            vec!["run", "-b", "--ready", "(unclosed", "--", &helper, "cwd"],
            "--ready",
        ),
        (
            vec!["run", "-b", "--after", "999", "--", &helper, "cwd"],
            "--after",
        ),
        (
            vec!["run", "-b", "--after", "x", "--", &helper, "cwd"],
            "--after",
        ),
        (vec!["run", "--queue", "q", "--", &helper, "cwd"], "--queue"),
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let first = stderr(&out).lines().next().unwrap_or_default().to_string();
        assert!(first.contains(names), "{args:?}: {first}");
        assert_eq!(env.record_ids(), before, "{args:?} recorded a job");
    }
}

/// A job that waited runs in its creator's environment, not in that of
/// whoever started it (here the worker of the job that held the slot, which
/// never had the variable). Jobs queued one after another from the same
/// environment share one kept file (a second name for it, no write of its
/// own); one from another environment gets its own.
#[test]
fn a_job_that_waited_runs_in_its_creators_environment() {
    let env = TestEnv::with_config("desktop = false\n[queues]\none = 1\n");
    let gate = env.root.join("gate");
    let holder = env.start_helper(&["--queue", "one"], &["wait-file", &gate.to_string_lossy()]);
    env.wait_for_status(holder, &["running"]);
    let helper = env.helper();
    let queue = |value: &str| {
        let args = [
            "run",
            "-b",
            "--queue",
            "one",
            "--",
            &helper,
            "env",
            "BGJ_CREATOR",
        ];
        let mut run = env.bgjobs(&args);
        run.env("BGJ_CREATOR", value);
        let id = parse_id(&ok(run));
        assert_eq!(env.status_of(id), "queued");
        id
    };
    let (a, b, c) = (
        queue("one shell"),
        queue("one shell"),
        queue("another shell"),
    );
    let kept = |id: u64| env.job_file(id).with_extension("environment");
    let (ka, kb, kc) = (kept(a), kept(b), kept(c));
    assert_eq!(std::fs::read(&ka).unwrap(), std::fs::read(&kb).unwrap());
    assert_ne!(std::fs::read(&ka).unwrap(), std::fs::read(&kc).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let inode = |path: &std::path::Path| std::fs::metadata(path).unwrap().ino();
        assert_eq!(inode(&ka), inode(&kb), "the same environment is one file");
        assert_ne!(
            inode(&kb),
            inode(&kc),
            "another environment is another file"
        );
    }
    std::fs::write(&gate, "").unwrap();
    assert_eq!(log_of(&env, a), "BGJ_CREATOR=one shell\n");
    assert_eq!(log_of(&env, b), "BGJ_CREATOR=one shell\n");
    assert_eq!(log_of(&env, c), "BGJ_CREATOR=another shell\n");
}

/// Retention keeps a finished job that a waiting job comes after: with
/// `keep_finished = 1`, jobs ending meanwhile do not prune it, and the
/// waiting job starts (not skipped) once its slot frees.
#[test]
fn retention_keeps_what_a_waiting_job_comes_after() {
    let env = TestEnv::with_config("desktop = false\nkeep_finished = 1\n[queues]\none = 1\n");
    let gate = env.root.join("gate");
    let holder = env.start_helper(&["--queue", "one"], &["wait-file", &gate.to_string_lossy()]);
    env.wait_for_status(holder, &["running"]);
    let first = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(first, &["succeeded"]);
    let marks = env.root.join("marks");
    let after = env.start_helper(
        &["--queue", "one", "--after", &first.to_string()],
        &["mark", &marks.to_string_lossy(), "after", "0"],
    );
    // Each end prunes down to the bound (these jobs prune each other; a
    // `wait` may find its job gone already: exit 2).
    let mut last = 0;
    for _ in 0..3 {
        last = env.start_helper(&[], &["exit", "0"]);
        let out = env.run(&["wait", &last.to_string()]);
        assert!(matches!(out.status.code(), Some(0 | 2)), "{}", stderr(&out));
    }
    env.wait_delivered(last);
    assert!(
        env.job_file(first).exists(),
        "the job it comes after was pruned"
    );
    std::fs::write(&gate, "").unwrap();
    // It ran (a skipped job never does); its record may be pruned as soon
    // as it ends, with the bound at 1, so its own mark is the evidence.
    wait_until(&format!("job {after} to run"), DEADLINE, || {
        let marks = std::fs::read_to_string(&marks).ok()?;
        marks.contains("after end").then_some(())
    });
}
