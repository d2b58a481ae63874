//! Sessions and the shared broker, as Claude Code's hooks drive them: a
//! session's end stops its foreground jobs only, keeps its background jobs,
//! and leaves the broker to whoever ends last — a job, or a session whose
//! Claude Code process is gone. A hung broker never makes SessionEnd hang.
//!
//! Real processes throughout: "Claude Code" is a python3 process that runs
//! `bgjobs hook` as its child (so bgjobs records it as the session's agent
//! process) and can be SIGKILLed without a SessionEnd; the broker is a python3
//! process listening on a Unix socket.
#![cfg(unix)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bgjobs_tests::proc::{pid_alive, signal, wait_dead};
use bgjobs_tests::*;

/// Desktop notifications off: the notifier must not talk to D-Bus in tests.
const CONFIG: &str = "desktop = false\n";

// ----- private helpers --------------------------------------------------------

/// The real python3 executable (not a version-manager shim script), so that
/// the pid we spawn is the python process itself from the start.
fn python() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is installed");
        assert!(out.status.success(), "python3: {}", stderr(&out));
        PathBuf::from(stdout(&out).trim())
    })
    .clone()
}

/// Start a "Claude Code process": python3 that runs `bgjobs hook` with a
/// SessionStart event for `session` as its child, then lives on (600 s)
/// until the test kills it. Returns python's pid once the hook has exited 0.
fn start_claude(env: &TestEnv, session: &str) -> u32 {
    let payload = env.write_temp(
        hook_event(env, session, "SessionStart", json!({"source": "startup"})).as_bytes(),
    );
    let mut code_file = payload.clone().into_os_string();
    code_file.push(".code");
    let code_file = PathBuf::from(code_file);
    let script = "import os, subprocess, sys, time\n\
                  r = subprocess.run(sys.argv[3:], stdin=open(sys.argv[1]))\n\
                  open(sys.argv[2] + '.tmp', 'w').write(str(r.returncode))\n\
                  os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n\
                  time.sleep(600)\n";
    let mut cmd = Command::new(python());
    cmd.arg("-c")
        .arg(script)
        .arg(&payload)
        .arg(&code_file)
        .arg(bgjobs_bin())
        .arg("hook")
        .current_dir(&env.ws)
        .stdout(Stdio::null());
    env.apply(&mut cmd);
    let pid = env.spawn_tracked(cmd);
    let code = wait_until("the SessionStart hook run by python", DEADLINE, || {
        std::fs::read_to_string(&code_file).ok()
    });
    assert_eq!(code, "0", "SessionStart from the python parent failed");
    let session = env.session_record(session).expect("the session record");
    assert_eq!(
        session["agent_process"]["pid"].as_u64(),
        Some(u64::from(pid)),
        "the session's agent process is the hook's (non-shell) parent: {session}"
    );
    pid
}

/// Paths of one broker: its socket (outside its directory, so that removing
/// the directory does not remove the socket by accident) and its directory.
struct BrokerPaths {
    socket: PathBuf,
    dir: PathBuf,
    ready: PathBuf,
    child_pid: PathBuf,
}

impl BrokerPaths {
    fn new(env: &TestEnv) -> Self {
        let dir = env.root.join("broker-dir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("state"), "broker state\n").unwrap();
        Self {
            socket: env.root.join("broker.sock"),
            dir,
            ready: env.root.join("broker.ready"),
            child_pid: env.root.join("broker-child.pid"),
        }
    }
}

/// Start a broker: python3 listening on `paths.socket`, with a child process
/// of its own (`sleep 300`) so that it is a tree. `hung`: it ignores SIGTERM
/// and accepts connections without ever replying; otherwise it answers "ok".
/// Returns (broker pid, its child's pid) once it listens.
fn start_broker(env: &TestEnv, paths: &BrokerPaths, hung: bool) -> (u32, u32) {
    let script = "import os, signal, socket, subprocess, sys\n\
                  hung = sys.argv[4] == 'hung'\n\
                  if hung: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
                  child = subprocess.Popen(['sleep', '300'])\n\
                  open(sys.argv[3], 'w').write(str(child.pid))\n\
                  s = socket.socket(socket.AF_UNIX)\n\
                  s.bind(sys.argv[1])\n\
                  s.listen(8)\n\
                  open(sys.argv[2], 'w').close()\n\
                  conns = []\n\
                  while True:\n\
                  \x20   c, _ = s.accept()\n\
                  \x20   if hung: conns.append(c)\n\
                  \x20   else: c.sendall(b'ok\\n'); c.close()\n";
    let mut cmd = Command::new(python());
    cmd.arg("-c")
        .arg(script)
        .arg(&paths.socket)
        .arg(&paths.ready)
        .arg(&paths.child_pid)
        .arg(if hung { "hung" } else { "normal" })
        .current_dir(&paths.dir)
        .stdout(Stdio::null());
    env.apply(&mut cmd);
    let pid = env.spawn_tracked(cmd);
    wait_until("the broker to listen", DEADLINE, || {
        paths.ready.exists().then_some(())
    });
    let child: u32 = std::fs::read_to_string(&paths.child_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(pid) && pid_alive(child));
    assert!(paths.socket.exists());
    (pid, child)
}

/// `broker register` for a started broker.
fn register(env: &TestEnv, pid: u32, paths: &BrokerPaths, shutdown: &[&str]) {
    let pid = pid.to_string();
    let endpoint = format!("unix:{}", paths.socket.display());
    let dir = paths.dir.to_string_lossy().into_owned();
    let mut args = vec![
        "broker",
        "register",
        "--pid",
        &pid,
        "--endpoint",
        &endpoint,
        "--dir",
        &dir,
    ];
    if !shutdown.is_empty() {
        args.push("--shutdown-cmd");
        args.extend_from_slice(shutdown);
    }
    env.run_ok(&args);
}

fn broker_status(env: &TestEnv) -> Value {
    env.json(&["broker", "status", "--json"])
}

/// Wait until the broker has been torn down completely: process tree gone,
/// socket file and directory removed, no record.
fn assert_torn_down(env: &TestEnv, pid: u32, child: u32, paths: &BrokerPaths) {
    wait_until("the broker record to be removed", DEADLINE, || {
        broker_status(env)["broker"].is_null().then_some(())
    });
    wait_dead(pid, "the broker");
    wait_dead(child, "the broker's child");
    assert!(
        !paths.socket.exists(),
        "the broker's socket file {} was not removed",
        paths.socket.display()
    );
    assert!(
        !paths.dir.exists(),
        "the broker's directory {} was not removed",
        paths.dir.display()
    );
    assert!(!env.store_dir().join("broker.json").exists());
    let status = broker_status(env);
    assert_eq!(status["alive"], false, "{status}");
}

/// The broker is registered, alive and held.
fn assert_broker_kept(env: &TestEnv, pid: u32, child: u32, paths: &BrokerPaths, when: &str) {
    assert!(pid_alive(pid), "{when}: the broker process was ended");
    assert!(pid_alive(child), "{when}: the broker's child was ended");
    assert!(paths.socket.exists(), "{when}: the socket file was removed");
    assert!(
        paths.dir.is_dir(),
        "{when}: the broker's directory was removed"
    );
    let status = broker_status(env);
    assert_eq!(
        status["broker"]["process"]["pid"].as_u64(),
        Some(u64::from(pid)),
        "{when}: {status}"
    );
    assert_eq!(status["alive"], true, "{when}: {status}");
    assert_eq!(status["held"], true, "{when}: {status}");
}

/// Wait until no detached `bgjobs reap-session` of this test runs any more,
/// so that what it would have done (or not done) is visible.
fn wait_reapers_done(env: &TestEnv) {
    #[cfg(target_os = "linux")]
    wait_until("the session reaper to finish", DEADLINE, || {
        let reapers = proc::processes_with_env("BGJOBS_HOME", env.home.as_os_str())
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == b"reap-session"))
            })
            .count();
        (reapers == 0).then_some(())
    });
    #[cfg(not(target_os = "linux"))]
    {
        let _ = env;
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn session_end(env: &TestEnv, session: &str) -> Duration {
    let started = Instant::now();
    let out = env.hook(
        &[],
        &hook_event(env, session, "SessionEnd", json!({"reason": "other"})),
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "SessionEnd: {}", stderr(&out));
    assert_eq!(stdout(&out), "", "SessionEnd prints nothing");
    took
}

fn pid_of(job: &Value) -> u32 {
    job["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("job without pid: {job}")) as u32
}

// ----- tests ------------------------------------------------------------------

/// The original failure: a session's end killed the detached workers it was
/// meant to keep and tore down the broker that they still used.
#[test]
fn session_end_stops_foreground_keeps_background_and_the_last_job_tears_the_broker_down() {
    let env = TestEnv::with_config(CONFIG);
    let claude = start_claude(&env, "S");
    let helper = env.helper();

    // A foreground job: `bgjobs run` attached, as Claude Code's Bash tool
    // runs it; a tree of three processes whose pids the shell writes down.
    let pids_dir = env.root.join("fg-pids");
    std::fs::create_dir_all(&pids_dir).unwrap();
    let script = format!(
        "'{h}' sleep 300 & echo $! > '{d}/a'; '{h}' sleep 300 & echo $! > '{d}/b'; wait",
        h = helper,
        d = pids_dir.display()
    );
    let mut cmd = env.bgjobs(&["run", "--session", "S", "--", "sh", "-c", &script]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let fg_run = env.spawn_tracked(cmd);
    let fg = wait_until("the foreground job to be recorded", DEADLINE, || {
        env.workspace_dirs()
            .first()
            .and_then(|_| env.record_ids().first().copied())
    });
    let job = env.wait_for_status(fg, &["running"]);
    assert_eq!(job["background"], false, "{job}");
    let mut tree = vec![pid_of(&job)];
    for name in ["a", "b"] {
        let pid = wait_until("the foreground tree to start", DEADLINE, || {
            std::fs::read_to_string(pids_dir.join(name))
                .ok()?
                .trim()
                .parse::<u32>()
                .ok()
        });
        tree.push(pid);
    }
    assert!(tree.iter().all(|&p| pid_alive(p)), "{tree:?}");

    // A background job of the same session.
    let flag = env.root.join("bg-go");
    let bg = env.start_helper(&["--session", "S"], &["wait-file", flag.to_str().unwrap()]);
    let bg_job = env.wait_for_status(bg, &["running"]);
    assert_eq!(bg_job["session_id"], "S", "{bg_job}");
    let bg_pid = pid_of(&bg_job);

    let paths = BrokerPaths::new(&env);
    let (broker, broker_child) = start_broker(&env, &paths, false);
    register(&env, broker, &paths, &[]);
    assert_broker_kept(&env, broker, broker_child, &paths, "after register");

    let took = session_end(&env, "S");
    eprintln!("SessionEnd returned after {took:?}");
    let session = env.session_record("S").expect("the session record");
    assert!(!session["ended_at"].is_null(), "{session}");
    assert_eq!(session["end_reason"], "other", "{session}");

    // The foreground job: its whole tree ended, recorded cancelled.
    for &pid in &tree {
        wait_dead(pid, "a process of the foreground job");
    }
    env.wait_cancelled_by_session_end(fg);
    let status = env.take_child(fg_run).wait().unwrap();
    eprintln!("the attached `bgjobs run` exited with {status}");
    wait_reapers_done(&env);

    // The background job: untouched, and visible from another session.
    assert!(pid_alive(bg_pid), "SessionEnd ended a background job");
    assert_eq!(env.status_of(bg), "running");
    let mut cmd = env.bgjobs(&["status", "--json"]);
    cmd.env("BGJOBS_SESSION_ID", "T");
    let listing = parse_json(&ok(cmd));
    let seen = find_job(&listing, bg).expect("session T sees S's background job");
    assert_eq!(seen["status"], "running", "{seen}");
    assert_eq!(seen["session_id"], "S", "{seen}");

    // The broker: kept, since a job still needs it.
    assert_broker_kept(&env, broker, broker_child, &paths, "after SessionEnd");
    assert!(pid_alive(claude));

    // The background job ends: with no further hook event, the broker goes.
    std::fs::write(&flag, "go").unwrap();
    env.wait_for_status(bg, &["succeeded"]);
    assert_torn_down(&env, broker, broker_child, &paths);
    assert_eq!(env.status_of(fg), "cancelled");
}

/// The broker belongs to the workspace, not to one session: one session's
/// end leaves it to the other; a session whose Claude Code process died
/// without SessionEnd no longer holds it.
#[test]
fn broker_outlives_one_session_and_goes_with_the_last_job_after_a_crashed_session() {
    let env = TestEnv::with_config(CONFIG);
    // Session A's Claude Code is the test process; B's is a python process.
    let out = env.hook(
        &[],
        &hook_event(&env, "A", "SessionStart", json!({"source": "startup"})),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let claude_b = start_claude(&env, "B");

    let flag_a = env.root.join("a-go");
    let job_a = env.start_helper(
        &["--session", "A"],
        &["wait-file", flag_a.to_str().unwrap()],
    );
    env.wait_for_status(job_a, &["running"]);

    let paths = BrokerPaths::new(&env);
    let (broker, broker_child) = start_broker(&env, &paths, false);
    register(&env, broker, &paths, &[]);

    // A ends: B is live and A's background job runs: the broker stays.
    session_end(&env, "A");
    wait_reapers_done(&env);
    assert_broker_kept(&env, broker, broker_child, &paths, "after A's SessionEnd");
    assert_eq!(env.status_of(job_a), "running");

    // A's job ends: only B's live session holds the broker now. The
    // notifier handles the end (and looks at the broker): it stays.
    std::fs::write(&flag_a, "go").unwrap();
    env.wait_for_status(job_a, &["succeeded"]);
    wait_until("the notifier to handle A's job", DEADLINE, || {
        (!env.read_record(job_a)["deliveries"]["notified_at"].is_null()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_broker_kept(&env, broker, broker_child, &paths, "with B live, no job");

    // B starts a job, then B's Claude Code dies without SessionEnd.
    let flag_b = env.root.join("b-go");
    let job_b = env.start_helper(
        &["--session", "B"],
        &["wait-file", flag_b.to_str().unwrap()],
    );
    env.wait_for_status(job_b, &["running"]);
    assert!(signal(claude_b, libc::SIGKILL));
    let _ = env.take_child(claude_b).wait();
    wait_dead(claude_b, "B's Claude Code process");
    assert_broker_kept(
        &env,
        broker,
        broker_child,
        &paths,
        "B crashed, B's job runs",
    );
    let session = env.session_record("B").expect("the session record");
    assert!(
        session["ended_at"].is_null(),
        "no SessionEnd was sent: {session}"
    );

    // The last job ends: nothing holds the broker any more.
    std::fs::write(&flag_b, "go").unwrap();
    env.wait_for_status(job_b, &["succeeded"]);
    assert_torn_down(&env, broker, broker_child, &paths);
}

/// A broker that accepts connections but never answers, ignores SIGTERM and
/// whose shutdown command hangs: SessionEnd returns at once anyway, and the
/// teardown that follows ends all of it.
#[test]
fn hung_broker_and_hung_shutdown_command_do_not_hold_up_session_end() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    let env = TestEnv::with_config(CONFIG);
    let out = env.hook(
        &[],
        &hook_event(&env, "S", "SessionStart", json!({"source": "startup"})),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let paths = BrokerPaths::new(&env);
    let (broker, broker_child) = start_broker(&env, &paths, true);
    // It accepts and never replies.
    let mut client = UnixStream::connect(&paths.socket).expect("connect to the broker");
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = client.read(&mut buf);
    assert!(
        read.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "the hung broker answered: {read:?}"
    );

    let shutdown_pid = env.root.join("shutdown.pid");
    let shutdown = format!("echo $$ > '{}'; exec sleep 300", shutdown_pid.display());
    register(&env, broker, &paths, &["sh", "-c", &shutdown]);
    assert_broker_kept(&env, broker, broker_child, &paths, "after register");

    let took = session_end(&env, "S");
    eprintln!("SessionEnd with a hung broker returned after {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "SessionEnd took {took:?} with a hung broker"
    );

    // The teardown ran the shutdown command, ended it when it hung, then
    // killed the broker that ignores SIGTERM.
    let sleeper = wait_until("the shutdown command to run", DEADLINE, || {
        std::fs::read_to_string(&shutdown_pid)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    });
    assert_torn_down(&env, broker, broker_child, &paths);
    wait_dead(sleeper, "the hung shutdown command's sleep");
    drop(client);
}

/// A foreground tree that ignores SIGTERM: SessionEnd still returns at
/// once; the detached reaper kills it after its grace period and records it
/// cancelled.
#[test]
fn session_end_kills_a_foreground_tree_that_ignores_sigterm() {
    let env = TestEnv::with_config(CONFIG);
    let out = env.hook(
        &[],
        &hook_event(&env, "S", "SessionStart", json!({"source": "startup"})),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pid_file = env.root.join("child.pid");
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > '{}'; sleep 300; wait",
        pid_file.display()
    );
    let mut cmd = env.bgjobs(&["run", "--session", "S", "--", "sh", "-c", &script]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    env.spawn_tracked(cmd);
    let id = wait_until("the foreground job to be recorded", DEADLINE, || {
        env.workspace_dirs()
            .first()
            .and_then(|_| env.record_ids().first().copied())
    });
    let shell = pid_of(&env.wait_for_status(id, &["running"]));
    let child: u32 = wait_until("the tree to start", DEADLINE, || {
        std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
    });

    let took = session_end(&env, "S");
    assert!(took < Duration::from_secs(10), "SessionEnd took {took:?}");
    let started = Instant::now();
    wait_dead(shell, "the foreground shell ignoring SIGTERM");
    wait_dead(child, "its child ignoring SIGTERM");
    eprintln!(
        "SessionEnd returned after {took:?}; the tree was gone {:?} later",
        started.elapsed()
    );
    env.wait_cancelled_by_session_end(id);
}

/// `broker teardown` by hand: refused while something holds the broker,
/// done with `--force`; the shutdown command runs exactly once even when
/// several teardowns race.
#[test]
fn broker_teardown_refuses_while_held_and_runs_once_when_raced() {
    let env = TestEnv::with_config(CONFIG);
    let out = env.hook(
        &[],
        &hook_event(&env, "S", "SessionStart", json!({"source": "startup"})),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let paths = BrokerPaths::new(&env);
    let (broker, broker_child) = start_broker(&env, &paths, false);
    let log = env.root.join("shutdowns");
    let shutdown = format!("echo shutdown >> '{}'", log.display());
    register(&env, broker, &paths, &["sh", "-c", &shutdown]);

    // Held by the live session S (the test process is its Claude Code).
    let out = env.run(&["broker", "teardown"]);
    assert_ne!(out.status.code(), Some(0), "teardown of a held broker");
    assert_eq!(
        stderr(&out).trim_end().lines().count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_broker_kept(
        &env,
        broker,
        broker_child,
        &paths,
        "after a refused teardown",
    );
    assert!(
        !log.exists(),
        "the shutdown command ran on a refused teardown"
    );

    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| env.run(&["broker", "teardown", "--force"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let done = outputs
        .iter()
        .filter(|o| o.status.success() && stdout(o).contains("torn down"))
        .count();
    assert_eq!(done, 1, "exactly one teardown did it: {outputs:#?}");
    assert_torn_down(&env, broker, broker_child, &paths);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap_or_default(),
        "shutdown\n",
        "the shutdown command runs exactly once"
    );
    // Nothing left to tear down: says so, succeeds.
    let out = env.run(&["broker", "teardown", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A broker record whose pid now belongs to another process (same pid,
/// other start time): the teardown signals no one and runs no shutdown
/// command, but still removes the socket, the directory and the record.
#[cfg(target_os = "linux")]
#[test]
fn broker_teardown_never_signals_a_reused_pid() {
    let env = TestEnv::with_config(CONFIG);
    let paths = BrokerPaths::new(&env);
    let (broker, broker_child) = start_broker(&env, &paths, false);
    let marker = env.root.join("shutdown-ran");
    let shutdown = format!("touch '{}'", marker.display());
    register(&env, broker, &paths, &["sh", "-c", &shutdown]);

    let path = env.store_dir().join("broker.json");
    let mut record = parse_json(&std::fs::read_to_string(&path).unwrap());
    let start = record["process"]["start"].as_u64().expect("a start time");
    record["process"]["start"] = json!(start + 1);
    let tmp = path.with_extension("e2e-hand-written");
    std::fs::write(&tmp, record.to_string()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();

    let status = broker_status(&env);
    assert_eq!(status["alive"], false, "another process's pid: {status}");
    assert_eq!(status["held"], false, "{status}");
    let out = env.run(&["broker", "teardown"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        pid_alive(broker),
        "a process with the broker's reused pid was signalled"
    );
    assert!(pid_alive(broker_child));
    assert!(
        !marker.exists(),
        "the shutdown command ran for a broker that is gone"
    );
    assert!(!paths.socket.exists() && !paths.dir.exists());
    assert!(broker_status(&env)["broker"].is_null());
}

/// `broker register` checks what it records: a running pid, an endpoint of
/// a known kind, a directory that exists and is not the root or HOME.
#[test]
fn broker_register_refuses_bad_input_and_records_nothing() {
    let env = TestEnv::with_config(CONFIG);
    let paths = BrokerPaths::new(&env);
    let (broker, _) = start_broker(&env, &paths, false);
    let pid = broker.to_string();
    let dir = paths.dir.to_string_lossy().into_owned();
    let home = env.root.join("userhome");
    std::fs::create_dir_all(&home).unwrap();
    let home_str = home.to_string_lossy().into_owned();
    let missing = env.root.join("no-such-dir").to_string_lossy().into_owned();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("dead pid", vec!["--pid", "999999999"]),
        (
            "endpoint scheme",
            vec!["--pid", &pid, "--endpoint", "tcp:127.0.0.1:1"],
        ),
        ("root dir", vec!["--pid", &pid, "--dir", "/"]),
        ("HOME dir", vec!["--pid", &pid, "--dir", &home_str]),
        ("missing dir", vec!["--pid", &pid, "--dir", &missing]),
        (
            "empty shutdown",
            vec!["--pid", &pid, "--dir", &dir, "--shutdown-cmd"],
        ),
    ];
    // A status first, so the store exists and "records nothing" is checked
    // against it.
    assert!(broker_status(&env)["broker"].is_null());
    for (what, args) in cases {
        let mut cmd = env.bgjobs(&[&["broker", "register"][..], &args].concat());
        cmd.env("HOME", &home);
        let out = output(cmd);
        assert_ne!(out.status.code(), Some(0), "{what}: accepted");
        assert!(!stderr(&out).trim().is_empty(), "{what}: no message");
        assert!(
            !env.store_dir().join("broker.json").exists(),
            "{what}: recorded"
        );
    }
}

/// Whatever `--dir` a broker was registered with, its teardown never
/// deletes the workspace or the state root (nor a directory holding them):
/// a mistaken `--dir .` must not wipe the repository.
#[test]
fn broker_teardown_never_deletes_the_workspace_or_the_state_root() {
    let mut deleted = Vec::new();
    for which in ["workspace", "state root", "their parent"] {
        let env = TestEnv::with_config(CONFIG);
        std::fs::write(env.ws.join("precious.txt"), "source code\n").unwrap();
        // The store exists before the broker is registered.
        assert!(broker_status(&env)["broker"].is_null());
        let dir = match which {
            "workspace" => env.ws.clone(),
            "state root" => env.home.clone(),
            _ => env.root.clone(),
        };
        let mut cmd = Command::new("sleep");
        cmd.arg("300");
        env.apply(&mut cmd);
        let pid = env.spawn_tracked(cmd).to_string();
        let dir_arg = dir.to_string_lossy().into_owned();
        let out = env.run(&["broker", "register", "--pid", &pid, "--dir", &dir_arg]);
        if out.status.success() {
            let out = env.run(&["broker", "teardown", "--force"]);
            eprintln!(
                "--dir {which}: registered; teardown: {}{}",
                stdout(&out),
                stderr(&out)
            );
        } else {
            assert!(!stderr(&out).trim().is_empty(), "{which}: no message");
        }
        if !(env.ws.join("precious.txt").is_file() && env.ws.join(".git").is_dir()) {
            deleted.push(format!("--dir {which}: the workspace was deleted"));
        }
        if !env.home.join("workspaces").is_dir() {
            deleted.push(format!("--dir {which}: the state root was deleted"));
        }
    }
    assert!(deleted.is_empty(), "{deleted:#?}");
}

/// The last clean-up checks what holds the broker and claims it under one
/// lock: a job that becomes active while a teardown waits for the lock (a
/// `run -b` landing between a look and a claim) keeps its broker.
#[test]
fn a_job_that_lands_while_a_teardown_waits_keeps_the_broker() {
    let env = TestEnv::with_config("desktop = false\n");
    let finished = env.start_helper(&[], &["exit", "0"]);
    env.wait_delivered(finished);
    // No notifier: its sweep would tear the idle broker down before the race.
    env.run_ok(&["notifier", "stop"]);
    let broker = env.spawn_helper(&["sleep", "60"]);
    env.run_ok(&["broker", "register", "--pid", &broker.to_string()]);

    let root = bgjobs_store::StateRoot::at(env.home.clone()).unwrap();
    let store =
        bgjobs_store::Store::open(&root, env.ws.clone(), bgjobs_store::Config::default()).unwrap();
    let mut teardown = None;
    store
        .with_lock(|tx| {
            // Nothing holds the broker yet: the final clean-up of a session's
            // end (`reap-session`, as a worker's or the notifier's) starts and
            // waits for the lock.
            let mut cmd = env.bgjobs(&["reap-session", "S"]);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            teardown = Some(cmd.spawn().expect("start the teardown"));
            std::thread::sleep(Duration::from_millis(500));
            // Meanwhile a job becomes active, as a `run -b` would make one.
            let job = tx.job(finished)?;
            tx.apply(job, |j| {
                j.status = bgjobs_store::Status::Running;
                j.finished_at = None;
                j.worker = bgjobs_store::ProcessIdentity::current();
            })?;
            Ok(())
        })
        .unwrap();
    let status = teardown.unwrap().wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        pid_alive(broker),
        "the broker was torn down under an active job"
    );
    assert!(broker_status(&env)["broker"].is_object());
}
