//! Ending jobs early: `cancel`, an interrupted attached `run`, `--timeout`.
//! Each ends the command's whole process tree and records why.

use bgjobs_tests::*;

fn reason(job: &Value) -> String {
    let reason = job["reason"].as_str().unwrap_or_default().to_string();
    assert!(!reason.is_empty(), "the record says why: {job}");
    reason
}

#[test]
fn timeout_ends_the_job_as_timed_out() {
    let env = TestEnv::new();
    let id = env.start_helper(&["--timeout", "1s"], &["sleep", "300"]);
    let out = env.run(&["wait", &id.to_string()]);
    assert_eq!(out.status.code(), Some(125), "wait on a timed-out job");
    let job = env.job(id);
    assert_eq!(job["status"], "timed_out", "{job}");
    reason(&job);
    let pid = job["pid"].as_u64().unwrap() as u32;
    wait_until("the timed-out command to be gone", DEADLINE, || {
        proc::all_gone(&[pid]).then_some(())
    });
}

/// Start `e2e-helper tree 2` in the background (the command, its child and
/// its grandchild) and read the three pids from the job's log.
fn start_tree(env: &TestEnv, opts: &[&str]) -> (u64, Vec<u32>) {
    let id = env.start_helper(opts, &["tree", "2"]);
    let pids = wait_until("three processes in the job's tree", DEADLINE, || {
        let log = env.run_ok(&["logs", &id.to_string()]);
        let pids: Vec<u32> = log
            .lines()
            .filter_map(|l| l.strip_prefix("pid ")?.trim().parse().ok())
            .collect();
        (pids.len() == 3).then_some(pids)
    });
    for &pid in &pids {
        assert!(proc::pid_alive(pid), "pid {pid} of the tree is not running");
    }
    (id, pids)
}

/// Cancel reaches every process the command started, not just the command
/// (process group on Unix, Job Object on Windows; no `taskkill`).
#[test]
fn cancel_ends_the_command_and_every_process_it_started() {
    let env = TestEnv::new();
    let (id, pids) = start_tree(&env, &[]);
    let out = env.run(&["cancel", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_until("the whole tree to be gone", DEADLINE, || {
        proc::all_gone(&pids).then_some(())
    });
    let job = env.job(id);
    assert_eq!(job["status"], "cancelled", "{job}");
    reason(&job);
    assert!(!job["finished_at"].is_null());
}

/// A timeout ends the whole tree too.
#[test]
fn timeout_ends_every_process_the_command_started() {
    let env = TestEnv::new();
    let (id, pids) = start_tree(&env, &["--timeout", "3s"]);
    let out = env.run(&["wait", &id.to_string()]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(env.status_of(id), "timed_out");
    wait_until("the whole tree to be gone", DEADLINE, || {
        proc::all_gone(&pids).then_some(())
    });
}

#[test]
fn cancel_by_id_session_and_all() {
    let env = TestEnv::new();
    let a1 = env.start_helper(&["--session", "s1"], &["sleep", "300"]);
    let a2 = env.start_helper(&["--session", "s1"], &["sleep", "300"]);
    let b = env.start_helper(&["--session", "s2"], &["sleep", "300"]);
    let c = env.start_helper(&[], &["sleep", "300"]);
    for id in [a1, a2, b, c] {
        env.wait_for_status(id, &["running"]);
    }

    // An unknown id among them: a usage error, and nothing is cancelled.
    let out = env.run(&["cancel", &c.to_string(), "999"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(env.status_of(c), "running");

    let cancelled = env.json(&["cancel", "--session", "s1", "--json"]);
    let mut ids = ids_of(&json!({ "jobs": cancelled }));
    ids.sort_unstable();
    assert_eq!(ids, vec![a1, a2]);
    for id in [a1, a2] {
        let job = env.job(id);
        assert_eq!(job["status"], "cancelled", "{job}");
        reason(&job);
    }
    assert_eq!(env.status_of(b), "running", "another session's job");
    assert_eq!(env.status_of(c), "running");

    env.run_ok(&["cancel", &c.to_string()]);
    assert_eq!(env.status_of(c), "cancelled");
    assert_eq!(env.status_of(b), "running");

    env.run_ok(&["cancel", "--all"]);
    assert_eq!(env.status_of(b), "cancelled");
    let out = env.run(&["wait", &b.to_string()]);
    assert_eq!(out.status.code(), Some(125), "wait on a cancelled job");

    // Cancelling a job that already ended changes nothing and says so.
    let before = std::fs::read(env.job_file(a1)).unwrap();
    let out = env.run(&["cancel", &a1.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("already"), "{}", stdout(&out));
    assert_eq!(std::fs::read(env.job_file(a1)).unwrap(), before);
}

#[cfg(target_os = "linux")]
mod tree {
    use super::*;
    use bgjobs_tests::proc::{group_members, pid_alive};

    /// Start `sh -c SCRIPT` in the background and wait until its process
    /// group has `n` live members; returns (id, pgid, members).
    fn start_tree(env: &TestEnv, script: &str, n: usize) -> (u64, u32, Vec<u32>) {
        let id = env.start(&[], &["sh", "-c", script]);
        let job = env.wait_for_status(id, &["running"]);
        let pgid = job["pid"].as_u64().unwrap() as u32;
        let members = wait_until(&format!("{n} processes in group {pgid}"), DEADLINE, || {
            let m = group_members(pgid);
            (m.len() >= n).then_some(m)
        });
        (id, pgid, members)
    }

    fn assert_tree_gone(pgid: u32, members: &[u32]) {
        for &pid in members {
            assert!(!pid_alive(pid), "pid {pid} of the tree survived the cancel");
        }
        assert_eq!(group_members(pgid), Vec::<u32>::new());
    }

    #[test]
    fn cancel_ends_the_whole_tree_including_grandchildren() {
        let env = TestEnv::new();
        let (id, pgid, members) = start_tree(&env, "sleep 300 & sleep 300; wait", 3);
        let out = env.run(&["cancel", &id.to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_tree_gone(pgid, &members);
        let job = env.job(id);
        assert_eq!(job["status"], "cancelled", "{job}");
        reason(&job);
        assert!(!job["finished_at"].is_null());
    }

    #[test]
    fn cancel_kills_a_tree_that_ignores_sigterm() {
        let env = TestEnv::new();
        // An ignored signal stays ignored across fork and exec: the whole
        // tree shrugs off SIGTERM and needs SIGKILL after the grace period.
        let (id, pgid, members) = start_tree(&env, "trap '' TERM; sleep 300 & sleep 300; wait", 3);
        let out = env.run(&["cancel", "--grace", "1s", &id.to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_tree_gone(pgid, &members);
        assert_eq!(env.status_of(id), "cancelled");
    }

    /// Start `bgjobs run -- e2e-helper sleep 300` attached, as a child of the
    /// test; wait until it runs and handles `sig`. Returns (run pid, id, command pid).
    fn attached_sleep(env: &TestEnv, sig: i32) -> (u32, u64, u32) {
        let (run, id) = env.start_attached(&[&env.helper(), "sleep", "300"]);
        let job = env.wait_for_status(id, &["running"]);
        let command = job["pid"].as_u64().unwrap() as u32;
        // Sent once `run` handles it, not before (that window is not what
        // these tests are about).
        wait_until(
            &format!("bgjobs run to handle signal {sig}"),
            DEADLINE,
            || proc::catches(run, sig).then_some(()),
        );
        (run, id, command)
    }

    /// A closed terminal (SIGHUP) or a plain `kill` (SIGTERM) ends an attached
    /// run like Ctrl-C does: the job is cancelled and its command does not
    /// outlive it.
    #[test]
    fn hangup_or_terminate_of_an_attached_run_cancels_it() {
        let env = TestEnv::new();
        for sig in [libc::SIGHUP, libc::SIGTERM] {
            let (run, id, command) = attached_sleep(&env, sig);
            assert!(proc::signal(run, sig));
            let status = env.take_child(run).wait().unwrap();
            assert!(!status.success(), "signal {sig}: {status}");
            let job = env.job(id);
            assert_eq!(job["status"], "cancelled", "signal {sig}: {job}");
            assert!(
                !pid_alive(command),
                "signal {sig}: the command outlived run"
            );
        }
    }

    #[test]
    fn interrupted_attached_run_exits_130_and_is_cancelled() {
        let env = TestEnv::new();
        // As a terminal's Ctrl-C would: SIGINT to `bgjobs run` (the command
        // is in its own process group).
        let (run, id, command) = attached_sleep(&env, libc::SIGINT);
        assert!(proc::signal(run, libc::SIGINT));
        let status = env.take_child(run).wait().unwrap();
        assert_eq!(status.code(), Some(130), "{status}");

        let job = env.job(id);
        assert_eq!(job["status"], "cancelled", "{job}");
        reason(&job);
        assert!(!pid_alive(command), "the command outlived the interrupt");
    }
}
