//! The summary `status --all` takes settled jobs from (one file, not one
//! record each): what it prints is the same as from the records, and a
//! record changed, damaged or removed after the summary took it, or a
//! summary that cannot be trusted, changes nothing of what is listed.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bgjobs_tests::*;

/// Give `path` a modification time `ago` in the past, as a record has when
/// it was last written that long ago.
fn backdate(path: &Path, ago: Duration) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

/// Finished jobs, each delivered (so nothing changes their records later).
fn finished(env: &TestEnv, count: usize) -> Vec<u64> {
    let ids: Vec<u64> = (0..count)
        .map(|i| env.start_helper(&[], &["print", &format!("job {i}")]))
        .collect();
    for &id in &ids {
        env.wait_for_status(id, &["succeeded"]);
        env.wait_delivered(id);
    }
    ids
}

/// Make `ids`' records settled, as if they were last written a minute ago.
fn settle(env: &TestEnv, ids: &[u64]) {
    for &id in ids {
        backdate(&env.job_file(id), Duration::from_secs(60));
    }
}

/// A workspace of `count` finished jobs, settled.
fn settled(count: usize) -> (TestEnv, Vec<u64>) {
    let env = TestEnv::new();
    let ids = finished(&env, count);
    settle(&env, &ids);
    (env, ids)
}

fn summary(env: &TestEnv) -> PathBuf {
    env.store_dir().join("summary")
}

fn status_all(env: &TestEnv) -> String {
    env.run_ok(&["status", "--all", "--json"])
}

#[test]
fn status_all_prints_the_same_from_the_summary_as_from_the_records() {
    let env = TestEnv::new();
    let done = finished(&env, 3);
    let running = env.start_helper(&[], &["sleep", "120"]);
    env.wait_for_status(running, &["running"]);
    // A record moved aside, so that the document has a warning too.
    let damaged = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(damaged, &["succeeded"]);
    env.wait_delivered(damaged);
    std::fs::write(env.job_file(damaged), b"{\"v\":1,").unwrap();
    assert_ne!(
        env.run(&["show", &damaged.to_string()]).status.code(),
        Some(0)
    );

    let from_records = status_all(&env);
    assert!(
        !summary(&env).exists(),
        "records written just now are not settled, so nothing is summarised"
    );
    settle(&env, &done);
    let first = status_all(&env);
    assert!(summary(&env).is_file(), "settled jobs were summarised");
    let from_summary = status_all(&env);

    assert_eq!(first, from_records);
    assert_eq!(from_summary, from_records);
    // And it is the layout serde itself writes.
    let value = parse_json(&from_summary);
    assert_eq!(
        serde_json::to_string_pretty(&value).unwrap() + "\n",
        from_summary
    );
    assert_eq!(ids_of(&value), vec![running, done[2], done[1], done[0]]);
    assert_eq!(
        value["warnings"].as_array().map(Vec::len),
        Some(1),
        "{value}"
    );
    // The text table too.
    let table = env.run_ok(&["status", "--all"]);
    for id in [running, done[0], done[1], done[2]] {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id} missing from\n{table}"
        );
    }
}

#[test]
fn a_record_changed_damaged_or_removed_after_the_summary_took_it_is_read_again() {
    let (env, ids) = settled(3);
    status_all(&env);
    assert!(summary(&env).is_file());

    // Changed: a new title.
    let mut record = env.read_record(ids[0]);
    record["title"] = json!("renamed after it was summarised");
    env.write_record(ids[0], &record);
    // Damaged in place, and dated to look settled.
    std::fs::write(env.job_file(ids[1]), b"{\"v\":1,\"id\":").unwrap();
    backdate(&env.job_file(ids[1]), Duration::from_secs(90));

    let status = parse_json(&status_all(&env));
    assert_eq!(ids_of(&status), vec![ids[2], ids[0]], "{status}");
    assert_eq!(
        find_job(&status, ids[0]).unwrap()["title"],
        "renamed after it was summarised"
    );
    let warnings = status["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["path"]
            .as_str()
            .unwrap()
            .contains(&format!("{}.json", ids[1]))),
        "the damaged record is reported: {status}"
    );
    assert!(!env.job_file(ids[1]).exists(), "and moved aside");

    // Removed: a prune takes the jobs away, and the summary gives none back.
    env.run_ok(&["prune", "--keep", "0"]);
    let status = parse_json(&status_all(&env));
    assert_eq!(ids_of(&status), Vec::<u64>::new(), "{status}");
}

#[test]
fn a_summary_from_an_earlier_boot_is_not_trusted() {
    let (env, _) = settled(2);
    status_all(&env);
    let text = std::fs::read_to_string(summary(&env)).unwrap();
    let (head, entries) = text.split_once('\n').unwrap();
    assert!(head.contains("\"boot\":"), "{head}");
    // A text that differs from the record, of the same length.
    let forged = entries.replacen("\"exit_code\": 0", "\"exit_code\": 7", 1);
    assert_ne!(forged, entries);

    // Stamped with this boot, the summary is what is listed...
    std::fs::write(summary(&env), format!("{head}\n{forged}")).unwrap();
    let codes = |status: &serde_json::Value| -> Vec<i64> {
        let jobs = status["jobs"].as_array().unwrap();
        jobs.iter()
            .map(|j| j["exit_code"].as_i64().unwrap())
            .collect()
    };
    assert!(codes(&parse_json(&status_all(&env))).contains(&7));

    // ...but not from another boot, or when it cannot be read: then the
    // records are, and the summary is made anew.
    let mut earlier = parse_json(head);
    earlier["boot"] = json!("00000000-0000-0000-0000-000000000000");
    for broken in [
        format!("{earlier}\n{forged}"),
        // Torn within its first entry (those before a tear are still used).
        format!("{head}\n{}", &forged[..20]),
        String::new(),
    ] {
        std::fs::write(summary(&env), &broken).unwrap();
        let status = parse_json(&status_all(&env));
        assert_eq!(codes(&status), vec![0, 0], "{status}");
        let rewritten = std::fs::read_to_string(summary(&env)).unwrap();
        assert!(rewritten.starts_with(head), "{rewritten}");
        assert!(!rewritten.contains("\"exit_code\": 7"));
    }
}

#[test]
fn jobs_settled_later_are_appended_and_a_summary_mostly_dead_is_written_anew() {
    let (env, first) = settled(4);
    let listed = status_all(&env);
    let before = std::fs::read(summary(&env)).unwrap();

    let later = finished(&env, 1);
    settle(&env, &later);
    let status = parse_json(&status_all(&env));
    assert_eq!(
        ids_of(&status),
        vec![later[0], first[3], first[2], first[1], first[0]]
    );
    let after = std::fs::read(summary(&env)).unwrap();
    assert!(
        after.len() > before.len() && after.starts_with(&before),
        "the new job is appended, the rest left as it was"
    );
    assert_eq!(
        status_all(&env).len(),
        listed.len() + find_text_len(&status, later[0])
    );

    // Three of five pruned: more dead than live, so it is written anew.
    env.run_ok(&["prune", "--keep", "2"]);
    let status = parse_json(&status_all(&env));
    assert_eq!(ids_of(&status), vec![later[0], first[3]], "{status}");
    let anew = std::fs::read_to_string(summary(&env)).unwrap();
    // An entry's head: `ID LEN MTIME BYTES SESSION`.
    let is_head = |l: &&str| {
        let fields: Vec<&str> = l.splitn(5, ' ').collect();
        fields.len() == 5 && fields[..4].iter().all(|f| f.parse::<u64>().is_ok())
    };
    let heads: Vec<&str> = anew.lines().filter(is_head).collect();
    assert_eq!(heads.len(), 2, "{heads:?}");
}

/// How many bytes job `id` adds to a `status --all --json` document.
fn find_text_len(status: &serde_json::Value, id: u64) -> usize {
    let job = find_job(status, id).unwrap();
    let text = serde_json::to_string_pretty(&job).unwrap();
    // Nested two levels deep, and one ",\n    " before it.
    text.len() + 4 * text.matches('\n').count() + 6
}

#[test]
fn a_listing_of_one_session_from_the_summary_holds_its_jobs_only() {
    let env = TestEnv::new();
    let mine: Vec<u64> = (0..2)
        .map(|_| env.start_helper(&["--session", "mine"], &["exit", "0"]))
        .collect();
    let other = env.start_helper(&["--session", "other"], &["exit", "0"]);
    let none = env.start_helper(&[], &["exit", "0"]);
    let all = [mine[0], mine[1], other, none];
    for id in all {
        env.wait_for_status(id, &["succeeded"]);
        env.wait_delivered(id);
    }
    settle(&env, &all);
    let listing = || env.run_ok(&["status", "--all", "--json", "--session", "mine"]);
    let from_records = listing();
    assert!(summary(&env).is_file(), "settled jobs were summarised");
    let from_summary = listing();
    assert_eq!(from_summary, from_records);
    assert_eq!(ids_of(&parse_json(&from_summary)), vec![mine[1], mine[0]]);
    let everyone = parse_json(&status_all(&env));
    assert_eq!(ids_of(&everyone), vec![none, other, mine[1], mine[0]]);
}

#[test]
fn a_summary_torn_mid_entry_is_used_up_to_the_tear_and_written_anew() {
    let (env, _) = settled(3);
    let whole = status_all(&env);
    let text = std::fs::read(summary(&env)).unwrap();
    // As an append cut short by a full disk leaves it: the last entry's
    // text ends early.
    std::fs::write(summary(&env), &text[..text.len() - 40]).unwrap();

    assert_eq!(
        status_all(&env),
        whole,
        "the torn job is read from its record"
    );
    assert_eq!(
        std::fs::read(summary(&env)).unwrap(),
        text,
        "and written anew"
    );
}

#[test]
fn a_file_named_like_a_record_but_not_as_bgjobs_names_one_is_no_record() {
    let (env, ids) = settled(2);
    let stray = env
        .store_dir()
        .join("jobs")
        .join(format!("0{}.json", ids[0]));
    std::fs::copy(env.job_file(ids[0]), &stray).unwrap();
    backdate(&stray, Duration::from_secs(60));
    for _ in 0..2 {
        let status = parse_json(&status_all(&env));
        assert_eq!(ids_of(&status), vec![ids[1], ids[0]], "{status}");
    }
}
