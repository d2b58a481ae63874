//! Sessions and the shared broker on every platform, Windows included: the
//! "Claude Code process" and the broker are the portable helper program (the
//! Unix-only `broker.rs` drives the same paths with python and Unix sockets,
//! signals and a shutdown command).

use std::process::Stdio;

use bgjobs_tests::proc::{pid_alive, wait_dead};
use bgjobs_tests::*;

/// Desktop notifications off: the notifier must not talk to D-Bus in tests.
const CONFIG: &str = "desktop = false\n";

/// Start a "Claude Code process" for `session`: the helper, which runs
/// `bgjobs hook` (SessionStart on its stdin) as its child and lingers.
fn start_claude(env: &TestEnv, session: &str) -> u32 {
    let payload = env.root.join(format!("start-{session}.json"));
    let event = hook_event(env, session, "SessionStart", json!({"source": "startup"}));
    std::fs::write(&payload, event).unwrap();
    let mut cmd = std::process::Command::new(helper_bin());
    cmd.arg("starter")
        .arg(&env.root) // the gate: already there
        .arg(bgjobs_bin())
        .arg("hook")
        .current_dir(&env.ws);
    env.apply(&mut cmd);
    cmd.stdin(std::fs::File::open(&payload).unwrap())
        .stdout(Stdio::null());
    let pid = env.spawn_tracked(cmd);
    let record = wait_until("the SessionStart hook's record", DEADLINE, || {
        env.workspace_dirs().first()?;
        let path = env
            .store_dir()
            .join("sessions")
            .join(format!("{session}.json"));
        serde_json::from_str::<Value>(&std::fs::read_to_string(path).ok()?).ok()
    });
    assert_eq!(
        record["agent_process"]["pid"].as_u64(),
        Some(u64::from(pid)),
        "the session's agent process is the hook's parent: {record}"
    );
    pid
}

/// Run the SessionEnd hook of `session`, which must succeed.
fn session_end(env: &TestEnv, session: &str) {
    let end = hook_event(env, session, "SessionEnd", json!({"reason": "other"}));
    let payload = env.root.join(format!("end-{session}.json"));
    std::fs::write(&payload, end).unwrap();
    let mut cmd = env.bgjobs(&["hook"]);
    cmd.stdin(std::fs::File::open(&payload).unwrap());
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(0), "SessionEnd: {}", stderr(&out));
}

/// A job whose command is `e2e-helper tree 1` (two processes): their pids.
fn tree_pids(env: &TestEnv, id: u64) -> Vec<u32> {
    wait_until("two processes in the job's tree", DEADLINE, || {
        let log = std::fs::read_to_string(env.log_file(id)).ok()?;
        let pids: Vec<u32> = log
            .lines()
            .filter_map(|l| l.strip_prefix("pid ")?.trim().parse().ok())
            .collect();
        (pids.len() == 2).then_some(pids)
    })
}

/// The original failure, on every platform: a session's end killed the
/// background workers it was meant to keep and tore down the broker they
/// still used. Here it stops the foreground tree only, and the broker goes
/// with the last job.
#[test]
fn session_end_keeps_background_jobs_and_the_last_job_ends_the_broker() {
    let env = TestEnv::with_config(CONFIG);
    let helper = env.helper();
    let claude = start_claude(&env, "S");

    // A foreground job (attached `run`, as the agent's shell tool runs it).
    let mut fg_run = env.bgjobs(&["run", "--session", "S", "--", &helper, "tree", "1"]);
    fg_run.stdout(Stdio::null()).stderr(Stdio::null());
    let fg_run = env.spawn_tracked(fg_run);
    let fg = wait_until("the foreground job to be recorded", DEADLINE, || {
        env.record_ids().into_iter().max()
    });
    env.wait_for_status(fg, &["running"]);
    let fg_tree = tree_pids(&env, fg);

    // A background job of the same session.
    let done = env.root.join("bg-done");
    let bg = env.start_helper(&["--session", "S"], &["wait-file", done.to_str().unwrap()]);
    let bg_pid = env.wait_for_status(bg, &["running"])["pid"]
        .as_u64()
        .unwrap() as u32;

    // The workspace's broker: a process tree with a directory of its own.
    let broker_dir = env.root.join("broker-dir");
    std::fs::create_dir_all(&broker_dir).unwrap();
    std::fs::write(broker_dir.join("state"), "broker state\n").unwrap();
    let mut broker = std::process::Command::new(helper_bin());
    broker.args(["tree", "1"]).current_dir(&broker_dir);
    env.apply(&mut broker);
    let broker_out = env.root.join("broker.out");
    broker.stdout(std::fs::File::create(&broker_out).unwrap());
    let broker = env.spawn_tracked(broker);
    let broker_tree: Vec<u32> = wait_until("the broker's tree", DEADLINE, || {
        let text = std::fs::read_to_string(&broker_out).ok()?;
        let pids: Vec<u32> = text
            .lines()
            .filter_map(|l| l.strip_prefix("pid ")?.trim().parse().ok())
            .collect();
        (pids.len() == 2).then_some(pids)
    });
    assert_eq!(broker_tree[0], broker);
    let dir = broker_dir.to_str().unwrap();
    env.run_ok(&[
        "broker",
        "register",
        "--pid",
        &broker.to_string(),
        "--dir",
        dir,
    ]);

    // SessionEnd: the foreground tree ends, recorded cancelled.
    session_end(&env, "S");
    for &pid in &fg_tree {
        wait_dead(pid, "a process of the foreground job");
    }
    env.wait_cancelled_by_session_end(fg);
    let _ = env.take_child(fg_run).wait();

    // The background job and the broker live on: the job still needs it.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(pid_alive(bg_pid), "SessionEnd ended a background job");
    assert_eq!(env.status_of(bg), "running");
    assert!(
        broker_tree.iter().all(|&p| pid_alive(p)),
        "the broker was ended"
    );
    assert!(broker_dir.is_dir());
    let status = env.json(&["broker", "status", "--json"]);
    assert_eq!(status["held"], true, "{status}");
    assert!(pid_alive(claude));

    // The background job ends: with no further hook event, the broker goes,
    // its whole tree and its directory.
    std::fs::write(&done, "go").unwrap();
    env.wait_for_status(bg, &["succeeded"]);
    wait_until("the broker record to be removed", DEADLINE, || {
        env.json(&["broker", "status", "--json"])["broker"]
            .is_null()
            .then_some(())
    });
    for &pid in &broker_tree {
        wait_dead(pid, "a process of the broker");
    }
    assert!(
        !broker_dir.exists(),
        "the broker's directory was not removed"
    );
}

/// The index names each active foreground job with its session, so that a
/// session's end reads only its own; one written by a bgjobs from before
/// that list (no `foreground`) still gets every foreground job stopped.
#[test]
fn session_end_finds_its_foreground_jobs_with_or_without_the_index_list() {
    let env = TestEnv::with_config(CONFIG);
    let helper = env.helper();
    let foreground_of = |session: &str| -> Vec<u64> {
        env.read_index()["foreground"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["session"] == session)
            .filter_map(|u| u["id"].as_u64())
            .collect()
    };
    for (session, drop_list) in [("A", false), ("B", true)] {
        let mut run = env.bgjobs(&["run", "--session", session, "--", &helper, "tree", "1"]);
        run.stdout(Stdio::null()).stderr(Stdio::null());
        let run = env.spawn_tracked(run);
        let id = wait_until("the foreground job to be recorded", DEADLINE, || {
            env.workspace_dirs().first()?; // the first `run` may not have made it yet
            env.record_ids()
                .into_iter()
                .find(|&id| env.read_record(id)["session_id"] == session)
        });
        env.wait_for_status(id, &["running"]);
        let tree = tree_pids(&env, id);
        assert_eq!(foreground_of(session), [id], "{}", env.read_index());
        if drop_list {
            let mut index = env.read_index();
            index.as_object_mut().unwrap().remove("foreground");
            env.write_index(&index);
        }
        session_end(&env, session);
        for &pid in &tree {
            wait_dead(pid, "a process of the foreground job");
        }
        env.wait_cancelled_by_session_end(id);
        let _ = env.take_child(run).wait();
        assert!(foreground_of(session).is_empty(), "{}", env.read_index());
    }
}
