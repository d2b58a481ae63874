//! A damaged record is reported and kept aside, never read as "no job", and
//! never makes bgjobs rewrite or delete the records beside it.

use bgjobs_tests::*;

/// Three finished jobs, then job 2's record torn mid-write.
fn env_with_torn_record() -> (TestEnv, [u64; 3], Vec<u8>) {
    let env = TestEnv::new();
    let ids = [
        env.start_helper(&[], &["print", "one"]),
        env.start_helper(&[], &["print", "two"]),
        env.start_helper(&[], &["print", "three"]),
    ];
    for id in ids {
        env.wait_for_status(id, &["succeeded"]);
        // The notifier records its delivery on the job; let it, so that the
        // only change from here on is the damage this test does.
        env.wait_delivered(id);
    }
    let garbage = br#"{"v":1,"id":2,"title":"torn wri"#.to_vec();
    std::fs::write(env.job_file(ids[1]), &garbage).unwrap();
    (env, ids, garbage)
}

/// The files in `jobs/` moved aside as corrupt copies of `id`'s record.
fn aside(env: &TestEnv, id: u64) -> Vec<String> {
    let prefix = format!("{id}.json.corrupt-");
    list_dir(&env.store_dir().join("jobs"))
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[test]
fn corrupt_record_is_reported_kept_aside_and_harms_nothing_else() {
    let (env, [one, two, three], garbage) = env_with_torn_record();
    let jobs_before = env.snapshot("jobs");
    let logs_before = env.snapshot("logs");

    // Human status: the good jobs, plus a warning on stderr.
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    let listed: Vec<u64> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(listed, vec![three, one], "{table}");
    let warnings = stderr(&out);
    assert!(
        warnings
            .lines()
            .any(|l| l.contains("warning") && l.contains("corrupt")),
        "no warning on stderr: {warnings:?}"
    );

    // JSON status: the same jobs and a non-empty `warnings` array.
    let status = env.status_json();
    assert_eq!(ids_of(&status), vec![three, one]);
    let warnings = status["warnings"].as_array().expect("warnings array");
    assert!(!warnings.is_empty(), "{status}");
    assert!(warnings[0]["message"].as_str().unwrap().contains("corrupt"));

    // The record is kept aside as `<id>.json.corrupt-<millis>`, byte for byte.
    let moved = aside(&env, two);
    assert_eq!(moved.len(), 1, "{moved:?}");
    let millis = moved[0].rsplit('-').next().unwrap();
    assert!(
        !millis.is_empty() && millis.chars().all(|c| c.is_ascii_digit()),
        "{}",
        moved[0]
    );
    let dir = env.store_dir().join("jobs");
    assert_eq!(std::fs::read(dir.join(&moved[0])).unwrap(), garbage);
    assert!(!env.job_file(two).exists());

    // Every other record and every log is untouched.
    let mut jobs_after = env.snapshot("jobs");
    jobs_after.remove(&moved[0]);
    let mut expected = jobs_before.clone();
    expected.remove("2.json");
    assert_eq!(jobs_after, expected, "another record was rewritten");
    assert_eq!(env.snapshot("logs"), logs_before, "a log was changed");

    // `show` of the damaged job says so; it is not "no job".
    let out = env.run(&["show", &two.to_string()]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("corrupt") && err.contains("moved aside"),
        "{err}"
    );
    assert!(!err.contains("no job"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    // Later listings keep reporting it, and still nothing else changes.
    let status = env.status_json();
    assert!(!status["warnings"].as_array().unwrap().is_empty());
    assert_eq!(aside(&env, two).len(), 1);
    assert_eq!(env.snapshot("logs"), logs_before);
}

#[test]
fn corrupt_record_read_first_by_show_is_moved_aside_too() {
    let (env, [one, two, three], garbage) = env_with_torn_record();
    let out = env.run(&["show", &two.to_string(), "--json"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("corrupt"), "{err}");
    assert!(!err.contains("no job"), "{err}");
    let moved = aside(&env, two);
    assert_eq!(moved.len(), 1, "{moved:?}");
    let dir = env.store_dir().join("jobs");
    assert_eq!(std::fs::read(dir.join(&moved[0])).unwrap(), garbage);

    // `wait`, `logs` and `cancel` name the problem the same way.
    for cmd in ["wait", "logs", "cancel"] {
        let out = env.run(&[cmd, &two.to_string()]);
        assert_ne!(out.status.code(), Some(0), "{cmd}");
        assert!(stderr(&out).contains("corrupt"), "{cmd}: {}", stderr(&out));
    }
    // The other jobs are fine, and the next job gets a fresh id.
    assert_eq!(env.status_of(one), "succeeded");
    assert_eq!(env.status_of(three), "succeeded");
    let next = env.start_helper(&[], &["exit", "0"]);
    assert!(next > three, "id {next} reused");
}

/// A default `status` reads only the newest records, never the directory
/// of them all; a record moved aside long ago is still reported by it, and
/// no longer once the user has deleted it.
#[test]
fn a_record_moved_aside_is_reported_by_status_until_it_is_deleted() {
    let (env, [_, two, _], _) = env_with_torn_record();
    assert_ne!(env.run(&["show", &two.to_string()]).status.code(), Some(0));
    let moved = aside(&env, two);
    assert_eq!(moved.len(), 1, "{moved:?}");
    let newer: Vec<u64> = (0..21)
        .map(|_| env.start_helper(&[], &["exit", "0"]))
        .collect();
    for &id in &newer {
        env.wait_for_status(id, &["succeeded"]);
    }
    let status = env.json(&["status", "--json"]);
    assert!(
        !ids_of(&status).contains(&two) && ids_of(&status).len() == 20,
        "the default listing shows the newest 20: {status}"
    );
    let warnings = status["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["path"].as_str().unwrap().contains(&moved[0])),
        "{status}"
    );
    std::fs::remove_file(env.store_dir().join("jobs").join(&moved[0])).unwrap();
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["warnings"], json!([]), "{status}");
    assert_eq!(env.json(&["status", "--json"])["warnings"], json!([]));
}

#[test]
fn corrupt_index_is_rebuilt_without_losing_running_jobs_or_reusing_ids() {
    let env = TestEnv::new();
    let done = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(done, &["succeeded"]);
    let running = env.start_helper(&[], &["sleep", "300"]);
    env.wait_for_status(running, &["running"]);

    std::fs::write(env.store_dir().join("index.json"), b"\0\0garbage").unwrap();
    let status = env.status_json();
    assert_eq!(ids_of(&status), vec![running, done]);
    assert_eq!(find_job(&status, running).unwrap()["status"], "running");
    // The damaged index was kept aside, not deleted.
    let aside: Vec<String> = list_dir(&env.store_dir())
        .into_iter()
        .filter(|n| n.starts_with("index.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");

    // `wait` with no ids still knows the running job is active.
    let out = env.run(&["wait", "--timeout", "1s"]);
    assert_eq!(
        out.status.code(),
        Some(124),
        "the running job was forgotten"
    );
    // Ids go on, the running job is still cancellable.
    let next = env.start_helper(&[], &["exit", "0"]);
    assert!(next > running, "id {next} reused");
    env.run_ok(&["cancel", &running.to_string()]);
    assert_eq!(env.status_of(running), "cancelled");
}

/// Design: a record that fails to parse is moved aside and reported by
/// `status`: by the very `status` that found it, not only by later ones.
#[test]
fn corrupt_index_is_reported_by_the_status_that_finds_it() {
    let env = TestEnv::new();
    let done = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(done, &["succeeded"]);
    env.wait_delivered(done);
    std::fs::write(env.store_dir().join("index.json"), b"\0\0garbage").unwrap();

    let first = env.status_json();
    let second = env.status_json();
    assert!(
        !second["warnings"].as_array().unwrap().is_empty(),
        "a later status reports it: {second}"
    );
    assert!(
        !first["warnings"].as_array().unwrap().is_empty(),
        "the status that moved the damaged index aside did not report it: {first}"
    );
}

/// One damaged record of an active job must not shield the workspace's other
/// jobs: `cancel --all` still ends them (and names the damaged record), and
/// `status` still lists them.
#[test]
fn corrupt_active_record_does_not_stop_cancel_all_from_ending_the_others() {
    let env = TestEnv::new();
    let healthy = env.start_helper(&[], &["sleep", "300"]);
    let damaged = env.start_helper(&[], &["sleep", "300"]);
    env.wait_for_status(healthy, &["running"]);
    env.wait_for_status(damaged, &["running"]);
    std::fs::write(env.job_file(damaged), b"{\"v\":1,\"id\":").unwrap();

    let status = env.status_json();
    assert_eq!(ids_of(&status), vec![healthy]);
    assert!(!status["warnings"].as_array().unwrap().is_empty());

    let out = env.run(&["cancel", "--all"]);
    assert!(
        stderr(&out).contains("corrupt"),
        "the damaged record is named: {}",
        stderr(&out)
    );
    assert_eq!(
        env.status_of(healthy),
        "cancelled",
        "cancel --all left a healthy job running because another record is corrupt \
         (exit {:?}, stderr: {})",
        out.status.code(),
        stderr(&out)
    );
}

/// A writer that crashed mid-write leaves its temp file behind: it is not a
/// record, not reported as corrupt, and the next write replaces it.
#[test]
fn temp_file_left_by_a_crashed_writer_is_harmless() {
    let env = TestEnv::new();
    let first = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(first, &["succeeded"]);
    // A real writer (the notifier recording its delivery) must be done
    // before the test plays a crashed one.
    env.wait_delivered(first);
    let store = env.store_dir();
    for dir in [store.join("jobs"), store.clone()] {
        std::fs::write(dir.join(".tmp-write"), br#"{"v":1,"id":99,"ti"#).unwrap();
    }

    let status = env.status_json();
    assert_eq!(ids_of(&status), vec![first]);
    assert_eq!(status["warnings"], json!([]));

    let next = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(next, &["succeeded"]);
    env.wait_delivered(next); // no write in flight while we look
    assert_eq!(next, first + 1);
    for dir in [store.join("jobs"), store.clone()] {
        assert!(!dir.join(".tmp-write").exists(), "{}", dir.display());
    }
    assert_eq!(env.status_json()["warnings"], json!([]));
}

/// A record that parses as JSON but breaks an invariant of its type — a job
/// whose `command` is `[]`, a broker whose `shutdown_cmd` is `[]` — is
/// corrupt like any other: moved aside and reported, never handed on (a
/// worker given such a job ended in a panic; a notifier start-up sweep over
/// such a broker failed forever).
#[test]
fn records_that_break_their_invariants_are_moved_aside_not_run() {
    let env = TestEnv::with_config("desktop = false\n");
    let queued = env.start_helper(&[], &["exit", "0"]);
    env.wait_delivered(queued);
    let mut record = env.read_record(queued);
    record["command"] = json!([]);
    record["status"] = json!("queued");
    env.write_record(queued, &record);
    let out = env.run(&["worker", &queued.to_string()]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failure, not a panic: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("corrupt"), "{}", stderr(&out));
    assert_eq!(aside(&env, queued).len(), 1);

    let pid = env.spawn_helper(&["sleep", "60"]);
    let broker = env.store_dir().join("broker.json");
    let registered = env.run(&[
        "broker",
        "register",
        "--pid",
        &pid.to_string(),
        "--shutdown-cmd",
        "true",
    ]);
    assert_eq!(registered.status.code(), Some(0), "{}", stderr(&registered));
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&broker).unwrap()).unwrap();
    value["shutdown_cmd"] = json!([]);
    std::fs::write(&broker, value.to_string()).unwrap();
    env.run_ok(&["notifier", "start"]);
    env.run_ok(&["notifier", "status"]);
    let out = env.run(&["broker", "status", "--json"]);
    assert!(
        stderr(&out).contains("corrupt") || stdout(&out).contains("corrupt"),
        "{out:?}"
    );
    assert!(!broker.exists(), "left in place");
    env.run_ok(&["notifier", "stop"]);
}
