//! Liveness: no job stays `running` for a process that is gone, and a pid that
//! now belongs to another process is never taken for the job's (nor signalled).
//! A background job outlives whatever started it.

use bgjobs_store::ProcessIdentity;
use bgjobs_tests::proc::{kill, pid_alive, wait_dead};
use bgjobs_tests::*;

fn pid_field(value: &Value) -> u32 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("expected a pid, got {value}")) as u32
}

/// A record that names the live process `pid` with a start time that is not
/// that process's: what a record looks like once its pid has been reused.
fn impostor(pid: u32) -> Value {
    json!({ "pid": pid, "start": 12345 })
}

#[test]
fn worker_killed_outright_is_lost_and_its_command_is_stopped() {
    let env = TestEnv::new();
    let id = env.start_helper(&[], &["sleep", "300"]);
    let job = env.wait_for_status(id, &["running"]);
    let command = pid_field(&job["pid"]);
    let worker = pid_field(&env.read_record(id)["worker"]["pid"]);
    assert_ne!(worker, command);
    assert!(pid_alive(worker) && pid_alive(command));

    assert!(kill(worker));
    wait_dead(worker, "the killed worker");

    let status = env.status_json();
    let job = find_job(&status, id).expect("the job is still listed");
    assert_eq!(job["status"], "lost", "{job}");
    let reason = job["reason"].as_str().unwrap_or_default();
    assert!(!reason.is_empty(), "a lost job says why: {job}");
    assert!(!job["finished_at"].is_null(), "{job}");

    let out = env.run(&["wait", &id.to_string()]);
    assert_eq!(out.status.code(), Some(125), "wait on a lost job");

    // Marking it lost asked the unsupervised command to stop.
    wait_dead(command, "the orphaned command");
    // And the record stays lost on later reads.
    assert_eq!(env.status_of(id), "lost");
}

#[test]
fn attached_run_killed_outright_is_lost() {
    let env = TestEnv::new();
    let (run, id) = env.start_attached(&[&env.helper(), "sleep", "300"]);
    let job = env.wait_for_status(id, &["running"]);
    let command = pid_field(&job["pid"]);

    assert!(kill(run));
    let _ = env.take_child(run).wait();

    let job = env.job(id);
    assert_eq!(job["status"], "lost", "{job}");
    assert!(!job["reason"].as_str().unwrap_or_default().is_empty());
    wait_dead(command, "the orphaned command");
}

#[test]
fn pid_alive_with_another_start_time_is_not_the_job() {
    let env = TestEnv::new();
    let a = env.start_helper(&[], &["exit", "0"]);
    let b = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(a, &["succeeded"]);
    env.wait_for_status(b, &["succeeded"]);
    // Rewritten by hand below: let the notifier finish with them first.
    env.wait_delivered(a);
    env.wait_delivered(b);

    // A live process that is not the job's: it got the job's pid by reuse.
    let stranger = env.spawn_helper(&["sleep", "300"]);
    for id in [a, b] {
        let mut record = env.read_record(id);
        record["status"] = json!("running");
        record["exit_code"] = Value::Null;
        record["finished_at"] = Value::Null;
        record["pid"] = json!(stranger);
        record["worker"] = impostor(stranger);
        record["process"] = impostor(stranger);
        env.write_record(id, &record);
    }
    let mut index = env.read_index();
    index["active"] = json!([a, b]);
    env.write_index(&index);

    // `status` finds the worker gone: lost, with a reason.
    let status = env.status_json();
    let job = find_job(&status, a).unwrap();
    assert_eq!(job["status"], "lost", "{job}");
    assert!(!job["reason"].as_str().unwrap_or_default().is_empty());
    assert!(pid_alive(stranger), "the stranger was signalled");

    // `cancel` of the now final job is a no-op that says so, and kills nothing.
    let out = env.run(&["cancel", &a.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("already"), "{}", stdout(&out));
    assert_eq!(env.status_of(a), "lost");

    // `cancel` as the first reader of the other one: found lost, not cancelled.
    let out = env.run(&["cancel", &b.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(env.status_of(b), "lost");

    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        pid_alive(stranger),
        "a process with a reused pid was signalled"
    );
}

/// The worker is alive (its identity is right) but the command's pid now
/// belongs to someone else: `cancel` records `cancelled` and signals no one.
#[test]
fn cancel_never_signals_a_reused_command_pid() {
    let start = |pid| ProcessIdentity::of(pid).expect("a live process").start;
    let env = TestEnv::new();
    let id = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(id, &["succeeded"]);
    env.wait_delivered(id); // rewritten by hand below

    let worker = env.spawn_helper(&["sleep", "300"]);
    let stranger = env.spawn_helper(&["sleep", "300"]);
    let worker_start = start(worker);
    let mut record = env.read_record(id);
    record["status"] = json!("running");
    record["exit_code"] = Value::Null;
    record["finished_at"] = Value::Null;
    record["pid"] = json!(stranger);
    record["worker"] = json!({ "pid": worker, "start": worker_start });
    record["process"] = json!({ "pid": stranger, "start": start(stranger) + 1 });
    env.write_record(id, &record);
    let mut index = env.read_index();
    index["active"] = json!([id]);
    env.write_index(&index);

    assert_eq!(env.status_of(id), "running", "its worker is alive");
    let out = env.run(&["cancel", "--grace", "1s", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let job = env.job(id);
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(
        pid_alive(stranger),
        "a process with a reused pid was signalled"
    );
    assert!(pid_alive(worker));
}

/// `run -b` detaches the worker into its own session, and the command leads
/// its own process group, so that the caller's end does not reach them and
/// cancel reaches the whole tree.
#[cfg(target_os = "linux")]
#[test]
fn background_worker_has_its_own_session_and_command_its_own_group() {
    use bgjobs_tests::proc::stat;

    let env = TestEnv::new();
    let id = env.start_helper(&[], &["sleep", "300"]);
    let job = env.wait_for_status(id, &["running"]);
    let command = pid_field(&job["pid"]);
    let worker = pid_field(&env.read_record(id)["worker"]["pid"]);
    let me = stat(std::process::id()).unwrap();
    let w = stat(worker).expect("worker");
    let c = stat(command).expect("command");
    assert_eq!(w.session, worker, "the worker leads its own session");
    assert_ne!(w.session, me.session);
    assert_eq!(c.pgrp, command, "the command leads its own process group");
    assert_eq!(c.ppid, worker, "the worker supervises the command");
    #[cfg(target_os = "linux")]
    {
        // On Unix `run -b` forks the worker: it must not keep the caller's
        // stdio (a caller capturing the output would wait for the job's end)
        // nor its directory.
        for fd in 0..3 {
            let target = std::fs::read_link(format!("/proc/{worker}/fd/{fd}")).unwrap();
            assert_eq!(
                target,
                std::path::Path::new("/dev/null"),
                "the worker's fd {fd}"
            );
        }
        let cwd = std::fs::read_link(format!("/proc/{worker}/cwd")).unwrap();
        assert_eq!(
            cwd,
            env.store_dir(),
            "the worker runs in the store's directory"
        );
        // It holds the files its job's start replaced (the index `run -b`
        // replaced, the record it replaced itself) only until the command
        // runs: none is left for the job's whole life.
        let held: Vec<_> = std::fs::read_dir(format!("/proc/{worker}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|target| target.to_string_lossy().ends_with(" (deleted)"))
            .collect();
        assert!(held.is_empty(), "the running worker holds {held:?}");
    }
    env.run_ok(&["cancel", &id.to_string()]);
}

/// `run -b` forks the worker before the job is recorded: one whose job is
/// not recorded (an active job already has the key) ends at once, and only
/// the job's own worker stays.
#[cfg(target_os = "linux")]
#[test]
fn a_worker_forked_for_a_job_not_recorded_exits() {
    let env = TestEnv::new();
    let first = env.start_helper(&["--key", "k"], &["sleep", "300"]);
    env.wait_for_status(first, &["running"]);
    let worker = pid_field(&env.read_record(first)["worker"]["pid"]);
    let again = env.start_helper(&["--key", "k"], &["sleep", "300"]);
    assert_eq!(again, first, "the key names the active job");
    let bgjobs = bgjobs_bin();
    wait_until("only the job's worker to be left", DEADLINE, || {
        let workers: Vec<u32> = proc::processes_with_env("BGJOBS_HOME", env.home.as_os_str())
            .into_iter()
            .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == bgjobs))
            .collect();
        (workers == [worker]).then_some(())
    });
    env.run_ok(&["cancel", &first.to_string()]);
}

/// What session-end hooks used to do: kill the process group that started a
/// background job. The job's worker and command are elsewhere and live on.
#[cfg(unix)]
#[test]
fn background_job_survives_its_starters_process_group() {
    use std::os::unix::process::CommandExt;

    let env = TestEnv::new();
    // A "session": a process group holding `bgjobs run -b` and a lingering child.
    let mut session = std::process::Command::new("sh");
    let bgjobs = bgjobs_bin();
    session
        .arg("-c")
        .arg(r#""$0" run -b -- "$1" sleep 300 && exec "$1" sleep 300"#)
        .arg(&bgjobs)
        .arg(env.helper())
        .current_dir(&env.ws)
        .process_group(0)
        .stdout(std::process::Stdio::null());
    env.apply(&mut session);
    let leader = env.spawn_tracked(session);
    let id = wait_until("the job to be recorded", DEADLINE, || {
        env.workspace_dirs()
            .first()
            .and_then(|_| env.record_ids().first().copied())
    });
    let job = env.wait_for_status(id, &["running"]);
    let command = pid_field(&job["pid"]);
    let worker = pid_field(&env.read_record(id)["worker"]["pid"]);

    assert!(proc::signal_group(leader, libc::SIGKILL));
    let _ = env.take_child(leader).wait();
    assert!(
        pid_alive(worker) && pid_alive(command),
        "the job died with its starter"
    );
    assert_eq!(env.status_of(id), "running");
    env.run_ok(&["cancel", &id.to_string()]);
}

/// `wait` itself notices a dead worker: it ends (125) without any other reader.
#[test]
fn wait_ends_when_the_worker_dies() {
    let env = TestEnv::new();
    let id = env.start_helper(&[], &["sleep", "300"]);
    env.wait_for_status(id, &["running"]);
    let worker = pid_field(&env.read_record(id)["worker"]["pid"]);

    let mut waiter = env.bgjobs(&["wait", &id.to_string()]);
    waiter.stdout(std::process::Stdio::null());
    let waiter = env.spawn_tracked(waiter);
    assert!(kill(worker));
    let status = env.take_child(waiter).wait().unwrap();
    assert_eq!(status.code(), Some(125), "{status}");
    let job = env.job(id);
    assert_eq!(job["status"], "lost", "{job}");
}

/// Start a parent process that, once `gate` exists, runs
/// `bgjobs run -b -- e2e-helper wait-file DONE` and then lingers, as an agent
/// would. Returns its pid.
fn spawn_starter(env: &TestEnv, gate: &std::path::Path, done: &std::path::Path) -> u32 {
    let mut starter = std::process::Command::new(helper_bin());
    starter
        .arg("starter")
        .arg(gate)
        .arg(bgjobs_bin())
        .args(["run", "-b", "--"])
        .arg(helper_bin())
        .arg("wait-file")
        .arg(done)
        .current_dir(&env.ws)
        .stdout(std::process::Stdio::null());
    env.apply(&mut starter);
    env.spawn_tracked(starter)
}

/// Once the starter has run `run -b`: the job's id, worker and command.
fn started_job(env: &TestEnv) -> (u64, u32, u32) {
    let id = wait_until("the job to be recorded", DEADLINE, || {
        env.workspace_dirs()
            .first()
            .and_then(|_| env.record_ids().first().copied())
    });
    let job = env.wait_for_status(id, &["running"]);
    let command = pid_field(&job["pid"]);
    let worker = pid_field(&env.read_record(id)["worker"]["pid"]);
    (id, worker, command)
}

/// The job outlived its starter: it is running, every reading command works,
/// and once its command ends `wait` reports success.
fn assert_job_lives_on(env: &TestEnv, id: u64, worker: u32, command: u32, done: &std::path::Path) {
    assert!(
        pid_alive(worker) && pid_alive(command),
        "the job died with its starter"
    );
    let status = env.status_json();
    assert_eq!(find_job(&status, id).unwrap()["status"], "running");
    let show = env.json(&["show", &id.to_string(), "--json"]);
    assert_eq!(show["status"], "running", "{show}");
    wait_until("the job's first output in its log", DEADLINE, || {
        env.run_ok(&["logs", &id.to_string()])
            .contains("waiting")
            .then_some(())
    });

    std::fs::write(done, "go").unwrap();
    let out = env.run(&["wait", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("job {id} succeeded")),
        "{}",
        stdout(&out)
    );
    assert!(env.run_ok(&["logs", &id.to_string()]).contains("done"));
}

/// The process that ran `bgjobs run -b` is killed outright (SIGKILL, or
/// `TerminateProcess`): the background job runs on and is fully readable.
#[test]
fn background_job_survives_its_parent_being_killed() {
    let env = TestEnv::new();
    let (gate, done) = (env.root.join("gate"), env.root.join("done"));
    let starter = spawn_starter(&env, &gate, &done);
    std::fs::write(&gate, "go").unwrap();
    let (id, worker, command) = started_job(&env);

    assert!(kill(starter));
    let _ = env.take_child(starter).wait();
    wait_dead(starter, "the killed starter");
    assert_job_lives_on(&env, id, worker, command, &done);
}

/// Windows: agents run their tools inside a Job Object (Node's libuv makes
/// one that kills every process in it when it closes).
#[cfg(windows)]
mod job_objects {
    use super::*;
    use bgjobs_tests::proc::{skip_under_wine, JobObject};

    /// The starter's Job Object permits breakaway: the worker leaves it, and
    /// terminating that job (as the agent's exit would) leaves the job alive.
    #[test]
    fn background_job_breaks_away_from_a_job_object_that_allows_it() {
        if skip_under_wine(
            "background_job_breaks_away_from_a_job_object_that_allows_it",
            "Wine's QueryInformationJobObject is a stub that reports no limit flags, so \
             bgjobs cannot see that the job allows breakaway (JOB_OBJECT_LIMIT_BREAKAWAY_OK)",
        ) {
            return;
        }
        let env = TestEnv::new();
        let (gate, done) = (env.root.join("gate"), env.root.join("done"));
        let agent_job = JobObject::new(true, true).expect("a Job Object");
        let starter = spawn_starter(&env, &gate, &done);
        agent_job
            .assign(starter)
            .expect("the starter joins the job");
        std::fs::write(&gate, "go").unwrap();
        let (id, worker, command) = started_job(&env);

        agent_job.terminate().expect("terminate the agent's job");
        drop(agent_job);
        wait_dead(starter, "the starter in the terminated job");
        assert_job_lives_on(&env, id, worker, command, &done);
    }

    /// The starter's Job Object forbids breakaway: asking for it would fail
    /// with "access denied", so the worker starts without it and the job runs.
    #[test]
    fn background_job_starts_inside_a_job_object_that_forbids_breakaway() {
        let env = TestEnv::new();
        let (gate, done) = (env.root.join("gate"), env.root.join("done"));
        let agent_job = JobObject::new(false, false).expect("a Job Object");
        let starter = spawn_starter(&env, &gate, &done);
        agent_job
            .assign(starter)
            .expect("the starter joins the job");
        std::fs::write(&gate, "go").unwrap();
        let (id, worker, command) = started_job(&env);

        // Only the starter dies: the job, still inside its Job Object, runs on.
        assert!(kill(starter));
        let _ = env.take_child(starter).wait();
        assert_job_lives_on(&env, id, worker, command, &done);
    }
}
