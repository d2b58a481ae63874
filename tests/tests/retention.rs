//! Retention and bounds: finished jobs beyond the configured count or age go
//! with their logs; queued and running jobs never do; ids are never reused;
//! a log over its bound keeps the newest output.

use std::collections::BTreeSet;
use std::time::Duration;

use bgjobs_tests::*;

/// The ids of finished jobs among the records on disk (a record pruned while
/// this looks is skipped).
fn finished_records(env: &TestEnv) -> Vec<u64> {
    env.record_ids()
        .into_iter()
        .filter(|&id| {
            let Ok(bytes) = std::fs::read(env.job_file(id)) else {
                return false;
            };
            let record: Value = serde_json::from_slice(&bytes).expect("a valid record");
            record["status"] != "queued" && record["status"] != "running"
        })
        .collect()
}

fn assert_still_running(env: &TestEnv, id: u64) {
    assert!(env.job_file(id).exists(), "the running job {id} was pruned");
    assert_eq!(env.status_of(id), "running");
}

#[test]
fn retention_never_removes_a_running_job_and_never_reuses_ids() {
    let env = TestEnv::with_config("keep_finished = 2\n");
    let long = env.start_helper(&[], &["sleep", "300"]);
    env.wait_for_status(long, &["running"]);
    let quick: Vec<u64> = (0..10)
        .map(|_| env.start_helper(&[], &["exit", "0"]))
        .collect();
    let mut seen: BTreeSet<u64> = quick.iter().copied().collect();
    seen.insert(long);
    assert_eq!(seen.len(), 11);

    // Wait until the quick ones are done (some of them may already be pruned).
    wait_until("the quick jobs to end", DEADLINE, || {
        let active: Vec<u64> = env.status_json()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["status"] == "running" || j["status"] == "queued")
            .map(|j| j["id"].as_u64().unwrap())
            .collect();
        (active == vec![long]).then_some(())
    });
    // The automatic bound pruned without being asked, and spared the running job.
    wait_until("auto-prune to bound the finished jobs", DEADLINE, || {
        (finished_records(&env).len() <= 3).then_some(())
    });
    assert_still_running(&env, long);

    // An explicit prune: down to exactly the bound, the newest ones.
    env.run_ok(&["prune"]);
    let kept = finished_records(&env);
    assert_eq!(
        kept,
        quick[8..].to_vec(),
        "keeps the 2 newest finished jobs"
    );
    assert_still_running(&env, long);
    for id in &quick[..8] {
        assert!(
            !env.log_file(*id).exists(),
            "the log of pruned job {id} remains"
        );
    }
    for id in &kept {
        assert!(env.log_file(*id).exists());
    }

    // New ids are higher than every id ever handed out.
    let next = env.start_helper(&[], &["exit", "0"]);
    assert!(next > *seen.last().unwrap(), "id {next} after {seen:?}");
    seen.insert(next);
    env.wait_for_status(next, &["succeeded"]);
    // A job whose end is not delivered yet is never pruned.
    env.wait_delivered(next);

    // Prune every finished job: the running one stays.
    let removed = env.json(&["prune", "--keep", "0", "--json"]);
    assert!(!removed["removed"].as_array().unwrap().is_empty());
    assert_eq!(env.record_ids(), vec![long]);
    assert_still_running(&env, long);

    env.run_ok(&["cancel", &long.to_string()]);
    env.run_ok(&["prune", "--keep", "0"]);
    assert_eq!(env.record_ids(), Vec::<u64>::new());
    let next = env.start_helper(&[], &["exit", "0"]);
    assert!(
        next > *seen.last().unwrap(),
        "id {next} reused after {seen:?}"
    );
    seen.insert(next);
    env.wait_for_status(next, &["succeeded"]);
    // A job whose end is not delivered yet is never pruned.
    env.wait_delivered(next);

    // Even if the index is lost after everything was pruned.
    env.run_ok(&["prune", "--keep", "0"]);
    std::fs::remove_file(env.store_dir().join("index.json")).unwrap();
    let next = env.start_helper(&[], &["exit", "0"]);
    assert!(
        next > *seen.last().unwrap(),
        "id {next} reused after {seen:?}"
    );
}

#[test]
fn prune_older_than_removes_old_finished_jobs_with_their_logs() {
    let env = TestEnv::new();
    let a = env.start_helper(&[], &["print", "a"]);
    let b = env.start_helper(&[], &["print", "b"]);
    let running = env.start_helper(&[], &["sleep", "300"]);
    env.wait_for_status(a, &["succeeded"]);
    env.wait_for_status(b, &["succeeded"]);
    env.wait_for_status(running, &["running"]);

    let removed = env.json(&["prune", "--older-than", "1h", "--json"]);
    assert_eq!(removed["removed"], json!([]));
    assert_eq!(env.record_ids(), vec![a, b, running]);

    let removed = env.json(&["prune", "--older-than", "0s", "--json"]);
    assert_eq!(removed["removed"], json!([a, b]));
    assert_eq!(env.record_ids(), vec![running]);
    assert!(!env.log_file(a).exists() && !env.log_file(b).exists());
    assert_still_running(&env, running);

    let out = env.run(&["prune", "--older-than", "yesterday"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad duration is a usage error"
    );
    assert!(stderr(&out).contains("--older-than"));
}

#[test]
fn max_age_prunes_old_finished_jobs_automatically() {
    let env = TestEnv::with_config("max_age = \"1s\"\n");
    let old = env.start_helper(&[], &["exit", "0"]);
    let running = env.start_helper(&[], &["sleep", "300"]);
    env.wait_for_status(old, &["succeeded"]);
    env.wait_for_status(running, &["running"]);
    // Let `old` age past max_age (a wait, not a timing assertion).
    std::thread::sleep(Duration::from_millis(1500));
    let fresh = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(fresh, &["succeeded"]);
    wait_until("the old job to be pruned automatically", DEADLINE, || {
        (!env.job_file(old).exists()).then_some(())
    });
    assert!(env.job_file(fresh).exists(), "the fresh job was pruned");
    assert_still_running(&env, running);
}

#[test]
fn log_over_its_bound_keeps_the_newest_output() {
    const LIMIT: usize = 65536;
    const LINES: u64 = 20_000;
    let env = TestEnv::with_config(&format!("log_max_bytes = {LIMIT}\n"));
    let id = env.start_helper(&[], &["lines", &LINES.to_string()]);
    env.wait_for_status(id, &["succeeded"]);

    let log = std::fs::read(env.log_file(id)).unwrap();
    assert!(log.len() <= LIMIT, "log is {} bytes", log.len());
    let text = String::from_utf8(log.clone()).expect("utf-8 log");
    let mut lines = text.lines();
    let note = lines.next().unwrap();
    assert!(
        note.starts_with("[bgjobs:") && note.contains("dropped"),
        "first line is the note: {note:?}"
    );
    assert!(
        text.ends_with(&format!("line {LINES}\n")),
        "ends with the last line"
    );

    // The rest is an unbroken run of the newest lines, up to the last one.
    let numbers: Vec<u64> = lines
        .map(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {l:?}"))
        })
        .collect();
    assert!(numbers.len() > 1000, "only {} lines kept", numbers.len());
    let first = numbers[0];
    assert!(
        first > 1000,
        "the oldest output is gone (starts at line {first})"
    );
    let expected: Vec<u64> = (first..=LINES).collect();
    assert_eq!(
        numbers, expected,
        "kept lines are not the contiguous newest ones"
    );

    // The rewritten log is as private as the one it replaced, and no temp
    // file of the rewrite is left.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.log_file(id))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        list_dir(&env.store_dir().join("logs")),
        vec![format!("{id}.log")]
    );

    // `logs` prints the bounded log; the record's tail ends with the last line.
    let out = env.run(&["logs", &id.to_string()]);
    assert_eq!(out.stdout, log);
    let tail = env.job(id)["output_tail"].as_str().unwrap().to_string();
    assert!(tail.ends_with(&format!("line {LINES}")), "{tail:?}");
}

/// `keep_finished = N` keeps N finished jobs, not N+1: checked once each
/// job's worker has exited (its automatic prune is then done).
#[test]
fn keep_finished_is_an_exact_bound() {
    let env = TestEnv::with_config("keep_finished = 2\n");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = env.start_helper(&[], &["exit", "0"]);
        env.wait_for_status(id, &["succeeded"]);
        let worker = env.read_record(id)["worker"]["pid"].as_u64().unwrap() as u32;
        wait_until("the worker to exit", DEADLINE, || {
            (!proc::pid_alive(worker)).then_some(())
        });
        ids.push(id);
    }
    assert_eq!(
        env.record_ids(),
        ids[1..].to_vec(),
        "keep_finished = 2 but more finished jobs are kept"
    );
}

/// A queued job (recorded, its command not started yet, its owner alive) is
/// never pruned either.
#[test]
fn prune_never_removes_a_queued_job() {
    let env = TestEnv::new();
    let id = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(id, &["succeeded"]);
    let other = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(other, &["succeeded"]);
    env.wait_delivered(id); // rewritten by hand below
    env.wait_delivered(other);

    // Hand-write job `id` back to queued, owned by a live process.
    let owner = env.spawn_helper(&["sleep", "300"]);
    let start = bgjobs_store::ProcessIdentity::of(owner)
        .expect("the owner runs")
        .start;
    let mut record = env.read_record(id);
    for field in ["exit_code", "finished_at", "started_at", "pid", "process"] {
        record[field] = Value::Null;
    }
    record["status"] = json!("queued");
    record["worker"] = json!({ "pid": owner, "start": start });
    env.write_record(id, &record);
    let mut index = env.read_index();
    index["active"] = json!([id]);
    env.write_index(&index);
    assert_eq!(env.status_of(id), "queued");

    let removed = env.json(&["prune", "--keep", "0", "--older-than", "0s", "--json"]);
    assert_eq!(removed["removed"], json!([other]));
    assert_eq!(env.record_ids(), vec![id]);
    assert_eq!(env.status_of(id), "queued");
}

/// Run one quick job to its end, its worker (and so its automatic prune)
/// gone, reading nothing but its own record.
fn run_to_the_end(env: &TestEnv) -> u64 {
    let id = env.start_helper(&[], &["exit", "0"]);
    let worker = wait_until("the job to end", DEADLINE, || {
        let record = env.read_record(id);
        (record["status"] == "succeeded").then(|| record["worker"]["pid"].as_u64().unwrap() as u32)
    });
    wait_until("the worker to exit", DEADLINE, || {
        (!proc::pid_alive(worker)).then_some(())
    });
    id
}

/// At the bound, a job's end prunes the oldest finished job by reading
/// that record only, not every record kept: a record that is not due is
/// never opened (here: corrupt ones, which any read would move aside).
#[test]
fn pruning_at_the_bound_reads_only_the_records_that_go() {
    let env = TestEnv::with_config("keep_finished = 5\ndesktop = false\n");
    let ids: Vec<u64> = (0..10).map(|_| run_to_the_end(&env)).collect();
    // Every end delivered (the notifier's doing), so every job can go.
    wait_until("every end delivered", DEADLINE, || {
        env.record_ids()
            .into_iter()
            .filter_map(|id| std::fs::read(env.job_file(id)).ok())
            .all(|bytes| {
                let record: Value = serde_json::from_slice(&bytes).expect("a record");
                record["deliveries"]["notified_at"].is_string()
            })
            .then_some(())
    });
    let kept = run_to_the_end(&env);
    let on_disk = env.record_ids();
    assert_eq!(
        on_disk,
        [&ids[6..], &[kept][..]].concat(),
        "the newest five"
    );
    // Records that are not due are damaged behind bgjobs' back.
    for &id in &ids[7..] {
        std::fs::write(env.job_file(id), b"{\"v\":1,\"id\":").unwrap();
    }
    let next = run_to_the_end(&env);
    // Exactly the oldest went; nobody read the damaged ones.
    assert_eq!(
        env.record_ids(),
        [&ids[7..], &[kept, next][..]].concat(),
        "the oldest finished job went"
    );
    let moved_aside = std::fs::read_dir(env.job_file(0).parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .count();
    assert_eq!(moved_aside, 0, "a record that was not due was read");
    // The next look at them reports them, as always.
    let status = env.json(&["status", "--all", "--json"]);
    let warnings = status["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 3, "{status}");
}
