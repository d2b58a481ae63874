//! Fault injection: workers, commands and the notifier killed outright
//! (SIGKILL, `TerminateProcess`) at random
//! moments of a job's life. Whatever dies, `wait` returns with the exit code
//! of the job's final status, every job ends in a final status, and every end
//! is delivered exactly once. Prints what it tried and how many times.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use bgjobs_store::time::Timestamp;
use bgjobs_store::ProcessIdentity;
use bgjobs_tests::*;

/// The pid of the live process named by a recorded identity
/// (`{"pid", "start"}`): only a process with that very start time is ours.
fn live(identity: &Value) -> Option<u32> {
    let pid = identity["pid"].as_u64()? as u32;
    let start = identity["start"].as_u64()?;
    let found = ProcessIdentity::of(pid)?;
    (found.start == start).then_some(pid)
}

/// Whether `at` came after the natural end of `job`'s `sleep 0.3` (it
/// cannot end sooner than that after it was recorded started).
fn after_its_end(job: &Value, at: SystemTime) -> bool {
    let started: Timestamp = serde_json::from_value(job["started_at"].clone()).unwrap();
    at >= started.0 + Duration::from_millis(300)
}

/// Kill the process named by `identity` outright, if it is still that process.
fn kill(identity: &Value) -> bool {
    live(identity).is_some_and(proc::kill)
}

/// The running notifier's identity, when `notifier status` names one and
/// `notifier/daemon.json` agrees that it is this state root's daemon.
fn notifier_identity(env: &TestEnv) -> Option<Value> {
    let out = env.run(&["notifier", "status", "--json"]);
    if !out.status.success() {
        return None;
    }
    let pid = parse_json(&stdout(&out))["pid"].as_u64()?;
    let text = std::fs::read_to_string(env.home.join("notifier/daemon.json")).ok()?;
    let record: Value = serde_json::from_str(&text).ok()?;
    (record["process"]["pid"].as_u64() == Some(pid)).then(|| record["process"].clone())
}

/// The exit code `wait` must give for a job in this final state.
fn expected_wait_code(job: &Value) -> i32 {
    match job["status"].as_str().unwrap() {
        "succeeded" => 0,
        "failed" => match (job["exit_code"].as_i64(), job["signal"].as_i64()) {
            (_, Some(sig)) => 128 + sig as i32,
            (Some(code), None) if code != 0 => code as i32,
            _ => 1,
        },
        "cancelled" | "lost" | "timed_out" => 125,
        other => panic!("job {} is not final: {other}", job["id"]),
    }
}

const FINAL: &[&str] = &["succeeded", "failed", "cancelled", "lost", "timed_out"];

#[test]
fn workers_commands_and_notifiers_killed_at_random_moments() {
    let env = TestEnv::new();
    let mut rng = Rng::new();
    println!("deaths loop seed {} (BGJOBS_E2E_SEED to repeat)", rng.0);
    env.run_ok(&["notifier", "start"]);

    // victim -> (kills that landed, kills that found the victim gone)
    let mut kills: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    // victim -> final status -> count
    let mut outcomes: BTreeMap<&str, BTreeMap<String, u32>> = BTreeMap::new();
    let mut ids = Vec::new();
    let started = Instant::now();
    let mut rounds = 0u32;
    while rounds < 60 && started.elapsed() < Duration::from_secs(90) {
        rounds += 1;
        let victim = ["worker", "command", "notifier", "none"][rng.below(4) as usize];
        let delay = Duration::from_millis(rng.below(400));
        let id = env.start_helper(&[], &["sleep", "0.3"]);
        ids.push(id);
        // What the job's end must be, given where the kill landed.
        let mut must_be: Option<&str> = Some("succeeded");
        let mut killed_at = None;
        let landed = match victim {
            "worker" => {
                std::thread::sleep(delay);
                let before = env.read_record(id);
                // The worker records the end only after the command exits:
                // killed while the job is queued, or running with its command
                // alive, it can never record it.
                let unfinished = before["status"] == "queued"
                    || (before["status"] == "running" && live(&before["process"]).is_some());
                let landed = kill(&before["worker"]);
                must_be = match (landed, unfinished) {
                    (true, true) => Some("lost"),
                    (true, false) => None, // lost, or succeeded if it was recorded
                    (false, _) => Some("succeeded"),
                };
                landed
            }
            "command" => {
                // From the moment the command is known.
                let process = wait_until("the command's pid", DEADLINE, || {
                    let record = env.read_record(id);
                    let known = !record["process"].is_null() || record["status"] != "running";
                    (known && record["status"] != "queued").then(|| record["process"].clone())
                });
                std::thread::sleep(delay);
                let landed = kill(&process);
                if landed {
                    must_be = Some("failed");
                    killed_at = Some(SystemTime::now());
                }
                landed
            }
            "notifier" => {
                std::thread::sleep(delay);
                notifier_identity(&env).is_some_and(|daemon| kill(&daemon))
            }
            _ => {
                std::thread::sleep(delay);
                false
            }
        };
        if victim != "none" {
            let entry = kills.entry(victim).or_default();
            if landed {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }

        let out = env.run(&["wait", &id.to_string(), "--timeout", "60s"]);
        let what = format!(
            "round {rounds}: job {id}, victim {victim} killed after {delay:?} (landed: {landed})"
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "{what}: wait panicked: {}",
            stderr(&out)
        );
        assert_ne!(
            out.status.code(),
            Some(124),
            "{what}: wait timed out: {}",
            stderr(&out)
        );
        let job = env.job(id);
        let status = job["status"].as_str().unwrap().to_string();
        assert!(FINAL.contains(&status.as_str()), "{what}: {job}");
        assert_eq!(
            out.status.code(),
            Some(expected_wait_code(&job)),
            "{what}: wait's exit code does not match the final status: {job}\n{}",
            stderr(&out)
        );
        if status == "succeeded" && killed_at.is_some_and(|at| after_its_end(&job, at)) {
            // The kill found the command exited but not reaped yet (its pid
            // still names it), so it landed on nothing that could fail.
            must_be = Some("succeeded");
        }
        match must_be {
            Some(want) => assert_eq!(status, want, "{what}: {job}"),
            None => assert!(
                ["lost", "succeeded"].contains(&status.as_str()),
                "{what}: {job}"
            ),
        }
        if status == "failed" {
            // SIGKILL on Unix; `TerminateProcess(.., 1)` on Windows.
            let (field, value, code) = match cfg!(windows) {
                true => ("exit_code", 1, 1),
                false => ("signal", 9, 137),
            };
            assert_eq!(job[field], value, "{what}: {job}");
            assert_eq!(out.status.code(), Some(code), "{what}");
        }
        if status == "lost" {
            assert!(
                job["reason"].is_string(),
                "{what}: a lost job says why: {job}"
            );
        }
        *outcomes
            .entry(victim)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
    let loop_time = started.elapsed();

    // Every end is delivered, by whichever notifier is up now.
    env.run_ok(&["notifier", "start"]);
    for &id in &ids {
        env.wait_delivered(id);
    }
    let undelivered = env.read_index()["undelivered"].clone();
    assert!(
        undelivered.as_array().is_some_and(|a| a.is_empty()),
        "index.json still lists undelivered jobs: {undelivered}"
    );
    // ... and only once: a later look (also after a notifier restart, which
    // sweeps for pending deliveries) finds every record unchanged.
    let notified = |env: &TestEnv| -> Vec<Value> {
        ids.iter()
            .map(|&id| env.read_record(id)["deliveries"].clone())
            .collect()
    };
    let first = notified(&env);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(notified(&env), first, "a delivery was recorded twice");
    env.run_ok(&["notifier", "stop"]);
    env.run_ok(&["notifier", "start"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        notified(&env),
        first,
        "a restarted notifier delivered again"
    );
    let log = std::fs::read_to_string(env.home.join("notifier/daemon.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "the notifier panicked:\n{log}");

    println!(
        "deaths loop: {rounds} jobs in {:.1}s; kills (landed, victim already gone) per victim: {kills:?}",
        loop_time.as_secs_f64()
    );
    println!("final statuses per victim: {outcomes:?}");
    println!(
        "every wait returned with its job's exit code; all {} ends delivered once (unchanged after 2s and a notifier restart)",
        ids.len()
    );
    assert!(rounds >= 10, "too few rounds in the time bound: {rounds}");
}
