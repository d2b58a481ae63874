//! The notifier: `wait` woken by push, the fallback when the daemon dies,
//! one daemon per state root, and a daemon that hostile or broken clients
//! cannot stop or fool.

use std::process::Stdio;

use bgjobs_tests::*;

/// Wait until the daemon reports `n` open connections (its status request
/// included), i.e. until a waiter has subscribed.
fn wait_for_connections(env: &TestEnv, n: u64) {
    wait_until(&format!("{n} notifier connections"), DEADLINE, || {
        let status = env.notifier_status()?;
        (status["connections"].as_u64() == Some(n)).then_some(())
    });
}

#[test]
fn wait_is_woken_by_the_notifier() {
    let env = TestEnv::new();
    env.start_notifier();
    let gate = env.root.join("gate");
    let id = env.start_helper(&[], &["wait-file", gate.to_str().unwrap()]);
    env.wait_for_status(id, &["running"]);
    let waiter = env.spawn_tracked({
        let mut cmd = env.bgjobs(&["wait", &id.to_string()]);
        cmd.stdout(Stdio::piped());
        cmd
    });
    // The waiter's subscription is open on the daemon: it waits by push.
    wait_for_connections(&env, 2);
    std::fs::write(&gate, "go").unwrap();
    let out = env.take_child(waiter).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("job {id} succeeded")),
        "{}",
        stdout(&out)
    );
    // The waiter is woken before the delivery is recorded (and its fsyncs
    // paid), off the daemon's event loop: the record follows.
    env.wait_delivered(id);
    wait_until("the delivery to be counted", DEADLINE, || {
        (env.notifier_status()?["deliveries"].as_u64()? >= 1).then_some(())
    });
}

#[test]
fn wait_falls_back_to_the_store_when_the_notifier_is_killed() {
    let env = TestEnv::new();
    let pid = env.start_notifier()["pid"].as_u64().unwrap() as u32;
    let gate = env.root.join("gate");
    let id = env.start_helper(&[], &["wait-file", gate.to_str().unwrap()]);
    env.wait_for_status(id, &["running"]);
    let waiter = env.spawn_tracked(env.bgjobs(&["wait", &id.to_string()]));
    wait_for_connections(&env, 2);
    assert!(proc::kill(pid));
    wait_until("the notifier to die", DEADLINE, || {
        (!proc::pid_alive(pid)).then_some(())
    });
    std::fs::write(&gate, "go").unwrap();
    let status = env.take_child(waiter).wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "wait must return once the job ends, notifier or not"
    );
}

#[test]
fn ten_simultaneous_starts_leave_one_daemon() {
    let env = TestEnv::new();
    let starts: Vec<_> = (0..10)
        .map(|_| {
            let mut cmd = env.bgjobs(&["notifier", "start"]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut pids = Vec::new();
    for child in starts {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let pid: u32 = text
            .rsplit("pid ")
            .next()
            .and_then(|p| p.trim().trim_end_matches(')').parse().ok())
            .unwrap_or_else(|| panic!("no pid in {text:?}"));
        pids.push(pid);
    }
    pids.dedup();
    assert_eq!(
        pids.len(),
        1,
        "every start must report the same daemon: {pids:?}"
    );
    println!(
        "10 concurrent `notifier start`: one daemon, pid {}",
        pids[0]
    );
    #[cfg(target_os = "linux")]
    {
        // Daemons that lost the race exit at once; only one stays.
        wait_until("the losers to exit", DEADLINE, || {
            let daemons: Vec<u32> = proc::processes_with_env("BGJOBS_HOME", env.home.as_os_str())
                .into_iter()
                .filter(|&p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).contains("notifier\0run"))
                        .unwrap_or(false)
                })
                .collect();
            (daemons == pids).then_some(())
        });
    }
}

/// Windows: while the daemon serves, its pipe name cannot be taken over by a
/// second server (the first instance is created with
/// `FILE_FLAG_FIRST_PIPE_INSTANCE`), and a second daemon bows out at once.
#[cfg(windows)]
#[test]
fn a_second_server_cannot_take_over_the_pipe_name() {
    let env = TestEnv::new();
    let status = env.start_notifier();
    let out = env.run(&["notifier", "run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
    let now = env
        .notifier_status()
        .expect("the first daemon still answers");
    assert_eq!(now["pid"], status["pid"]);

    if proc::skip_under_wine(
        "a_second_server_cannot_take_over_the_pipe_name (its FILE_FLAG_FIRST_PIPE_INSTANCE part)",
        "Wine lets a second server create the pipe with FILE_FLAG_FIRST_PIPE_INSTANCE \
         while the name is taken (Windows refuses it with ERROR_ACCESS_DENIED)",
    ) {
        return;
    }
    let pipe = status["endpoint"].as_str().unwrap();
    assert!(pipe.starts_with(r"\\.\pipe\bgjobs-"), "{pipe}");
    let err = proc::create_first_pipe_instance(pipe).expect_err("the pipe name is taken");
    assert_eq!(
        err.raw_os_error(),
        Some(5),
        "ERROR_ACCESS_DENIED expected: {err}"
    );
}

/// Windows: the pipe's DACL is protected (nothing inherited) and allows the
/// current user and SYSTEM only: no Everyone, no other user, no group.
#[cfg(windows)]
#[test]
fn the_pipe_admits_only_the_current_user() {
    let env = TestEnv::new();
    let status = env.start_notifier();
    let pipe = status["endpoint"].as_str().unwrap();
    let dacl = proc::pipe_dacl(pipe).expect("read the pipe's DACL");
    let user = proc::current_user_sid().expect("the current user's SID");

    let aces = dacl
        .strip_prefix("D:P")
        .unwrap_or_else(|| panic!("the DACL is not protected: {dacl}"));
    let mut trustees: Vec<&str> = aces
        .split_terminator(')')
        .map(|ace| {
            assert!(ace.starts_with("(A;"), "not an allow ACE: {ace} in {dacl}");
            ace.rsplit(';').next().unwrap()
        })
        .collect();
    trustees.sort_unstable();
    let mut expected = vec![user.as_str(), "SY"];
    expected.sort_unstable();
    assert_eq!(trustees, expected, "{dacl}");
}

#[test]
fn idle_notifier_exits() {
    let env = TestEnv::with_config("idle_timeout = \"1s\"\n");
    env.start_notifier();
    // Every status request is activity that restarts the idle period, so
    // look rarely.
    let start = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3));
        if env.notifier_status().is_none() {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the idle notifier never exited");
    }
}

mod raw {
    //! Speaking the wire protocol directly, as a broken or hostile peer would:
    //! through the Unix socket, or the named pipe opened as a file.

    use std::io::{BufRead, BufReader, Read, Write};
    #[cfg(unix)]
    use std::os::unix::net::UnixStream;
    #[cfg(unix)]
    use std::time::Duration;

    use super::*;

    #[cfg(unix)]
    type Peer = UnixStream;
    #[cfg(windows)]
    type Peer = std::fs::File;

    pub fn endpoint(env: &TestEnv) -> String {
        env.notifier_status().expect("notifier up")["endpoint"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn connect(env: &TestEnv) -> Peer {
        connect_to(&endpoint(env))
    }

    #[cfg(unix)]
    fn connect_to(endpoint: &str) -> Peer {
        let stream = UnixStream::connect(endpoint).expect("connect to the notifier socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    }

    /// A pipe has no read timeout: a hang is bounded by the test runner.
    /// While every instance is busy (ERROR_PIPE_BUSY, 231), try again, as
    /// bgjobs' own clients do.
    #[cfg(windows)]
    fn connect_to(endpoint: &str) -> Peer {
        wait_until("a free instance of the notifier pipe", DEADLINE, || {
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(endpoint)
            {
                Err(e) if e.raw_os_error() == Some(231) => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    None
                }
                opened => Some(opened.expect("connect to the notifier pipe")),
            }
        })
    }

    /// Send `bytes`, read every line until the daemon closes the connection.
    pub fn exchange(endpoint: &str, bytes: &[u8]) -> Vec<String> {
        let stream = connect_to(endpoint);
        // The daemon may close before reading all of an oversized line.
        #[cfg(unix)]
        {
            let _ = (&stream).write_all(bytes);
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        // A pipe cannot be half-closed (every message here ends the
        // exchange), and a write the daemon stops reading may block: write
        // from a thread of its own, read here.
        #[cfg(windows)]
        {
            let mut writer = stream.try_clone().expect("clone the pipe handle");
            let bytes = bytes.to_vec();
            std::thread::spawn(move || {
                let _ = writer.write_all(&bytes);
            });
        }
        let mut text = String::new();
        let _ = BufReader::new(&stream).read_to_string(&mut text);
        text.lines().map(str::to_string).collect()
    }

    /// Send one line and read one reply line, keeping the connection open.
    pub fn request(stream: &mut Peer, line: &str) -> Value {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(&*stream).read_line(&mut reply).unwrap();
        parse_json(&reply)
    }

    #[test]
    fn malformed_and_oversized_messages_get_an_error_and_harm_nobody() {
        let env = TestEnv::new();
        let pid = env.start_notifier()["pid"].as_u64().unwrap();
        let oversized = format!(
            "{{\"v\":1,\"type\":\"hello\",\"pad\":\"{}\"}}\n",
            "x".repeat(70 * 1024)
        );
        let bad: Vec<Vec<u8>> = vec![
            b"not json at all\n".to_vec(),
            b"{\"v\":1,\"type\":\"launch\"}\n".to_vec(),
            b"{\"type\":\"hello\"}\n".to_vec(),
            b"{\"v\":99,\"type\":\"hello\"}\n".to_vec(),
            b"[1,2,3]\n".to_vec(),
            b"{\"v\":1,\"type\":\"event\",\"workspace\":\"/\",\"job\":{}}\n".to_vec(),
            oversized.into_bytes(),
            vec![b'{'; 80 * 1024],
        ];
        let endpoint = endpoint(&env);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let bad = bad.clone();
                let endpoint = endpoint.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let lines = exchange(&endpoint, &bad[(t + i) % bad.len()]);
                        assert_eq!(lines.len(), 1, "one error reply, then the close: {lines:?}");
                        let reply = parse_json(&lines[0]);
                        assert_eq!(reply["type"], "error", "{reply}");
                        assert_eq!(reply["v"], 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        println!("200 malformed or oversized messages from 4 clients: 200 error replies");
        let status = env.notifier_status().expect("the daemon still answers");
        assert_eq!(
            status["pid"].as_u64().unwrap(),
            pid,
            "the same daemon serves on"
        );
        let id = env.start_helper(&[], &["exit", "0"]);
        let out = env.run(&["wait", &id.to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }

    #[test]
    fn a_silent_client_is_dropped_and_others_are_served() {
        let env = TestEnv::new();
        env.start_notifier();
        let silent = connect(&env);
        let mut talker = connect(&env);
        let reply = request(&mut talker, r#"{"v":1,"type":"hello"}"#);
        assert_eq!(reply["type"], "hello");
        // The silent one is closed by the daemon after its first-message timeout.
        let mut buf = [0u8; 16];
        #[cfg(unix)]
        silent
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let n = (&silent).read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the daemon closes a connection that says nothing");
    }

    #[test]
    fn a_forged_job_finished_changes_nothing() {
        let env = TestEnv::new();
        env.start_notifier();
        let gate = env.root.join("gate");
        let id = env.start_helper(&[], &["wait-file", gate.to_str().unwrap()]);
        env.wait_for_status(id, &["running"]);
        let mut stream = connect(&env);
        let forged = json!({"v": 1, "type": "job_finished", "workspace": env.ws, "id": id});
        let reply = request(&mut stream, &forged.to_string());
        assert_eq!(reply["type"], "error", "{reply}");
        let job = env.job(id);
        assert_eq!(job["status"], "running");
        assert!(job["deliveries"]["notified_at"].is_null(), "{job}");
        // Once it really ends, a repeated report is delivered only once.
        std::fs::write(&gate, "go").unwrap();
        env.wait_for_status(id, &["succeeded"]);
        wait_until("the delivery", DEADLINE, || {
            env.job(id)["deliveries"]["notified_at"]
                .as_str()
                .map(str::to_string)
        });
        // The daemon counts a delivery just after recording it.
        let before = wait_until("the delivery to be counted", DEADLINE, || {
            let count = env.notifier_status()?["deliveries"].as_u64()?;
            (count >= 1).then_some(count)
        });
        let first = env.job(id)["deliveries"].clone();
        for _ in 0..3 {
            assert_eq!(request(&mut stream, &forged.to_string())["type"], "ok");
        }
        assert_eq!(
            env.notifier_status().unwrap()["deliveries"]
                .as_u64()
                .unwrap(),
            before
        );
        assert_eq!(
            env.job(id)["deliveries"],
            first,
            "a delivery is recorded once"
        );
    }

    /// Run as another user by `a_peer_with_another_uid_is_refused`: connect
    /// to the socket named by BGJOBS_PEER_PROBE and print what the daemon says.
    #[cfg(unix)]
    #[test]
    fn peer_probe() {
        let Some(path) = std::env::var_os("BGJOBS_PEER_PROBE") else {
            return; // only meaningful as the other user's process
        };
        let mut stream = UnixStream::connect(path).expect("connect as the other user");
        let _ = stream.write_all(b"{\"v\":1,\"type\":\"status\"}\n");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        println!("PEER-REPLY {}", text.trim());
    }

    #[cfg(unix)]
    #[test]
    fn a_peer_with_another_uid_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            proc::skipped(
                "a peer with another uid",
                "needs root to run a client as another user (nobody)",
            );
            return;
        }
        let env = TestEnv::new();
        let endpoint = env.start_notifier()["endpoint"]
            .as_str()
            .unwrap()
            .to_string();
        // Open the way to the socket, so that only the daemon's own check is
        // left to refuse the peer.
        let mut dir = std::path::PathBuf::from(&endpoint);
        std::fs::set_permissions(&endpoint, std::fs::Permissions::from_mode(0o777)).unwrap();
        while dir.pop() && dir.starts_with(&env.root) {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "raw::peer_probe",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("BGJOBS_PEER_PROBE", &endpoint)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let text = stdout(&out);
        let reply = text
            .lines()
            .find_map(|l| l.split_once("PEER-REPLY ").map(|(_, reply)| reply))
            .unwrap_or_else(|| panic!("the probe did not run: {text} {}", stderr(&out)));
        let reply = parse_json(reply);
        assert_eq!(reply["type"], "error", "{reply}");
        assert!(
            reply["message"].as_str().unwrap().contains("refused"),
            "{reply}"
        );
        println!("peer with uid 65534: refused");
        assert!(
            env.notifier_status().is_some(),
            "the daemon serves its own user on"
        );
    }
}

#[test]
fn notifier_stop_stops_it() {
    let env = TestEnv::new();
    env.start_notifier();
    let out = env.run_ok(&["notifier", "stop"]);
    assert!(out.contains("stopped"), "{out}");
    assert!(env.notifier_status().is_none());
}

/// A notifier killed after recording a delivery but before updating the
/// index leaves the job listed undelivered; the next notifier's sweep finds
/// the record delivered and drops the entry, delivering nothing again.
#[test]
fn a_delivery_left_listed_by_a_killed_notifier_is_unlisted() {
    let env = TestEnv::new();
    env.start_notifier();
    let id = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(id, &["succeeded"]);
    let delivered = env.wait_delivered(id)["deliveries"].clone();
    env.run_ok(&["notifier", "stop"]);
    let mut index = env.read_index();
    index["undelivered"] = json!([id]);
    env.write_index(&index);
    env.start_notifier();
    env.wait_delivered(id);
    assert_eq!(
        env.read_record(id)["deliveries"],
        delivered,
        "delivered again"
    );
}

/// The notifier's blocking work runs off its event loop: while a broker
/// teardown in one workspace is still running its shutdown command (it has
/// 500 ms), a `wait` in another workspace is woken by the push — it used to
/// wait for the teardown to finish.
#[cfg(unix)]
#[test]
fn a_wait_is_woken_while_another_workspaces_broker_teardown_runs() {
    let env = TestEnv::with_config("desktop = false\n");
    env.start_notifier();
    let other = env.root.join("other");
    std::fs::create_dir_all(other.join(".git")).unwrap();
    let (gate_a, gate_b) = (env.root.join("gate-a"), env.root.join("gate-b"));
    let marker = env.root.join("shutdown-pid");

    // This workspace: a broker whose shutdown command records its pid and
    // hangs, held by job A only.
    let a = env.start_helper(&[], &["wait-file", gate_a.to_str().unwrap()]);
    env.wait_for_status(a, &["running"]);
    let broker = env.spawn_helper(&["sleep", "60"]);
    let shutdown = format!("echo $$ > {}; exec sleep 30", marker.display());
    env.run_ok(&[
        "broker",
        "register",
        "--pid",
        &broker.to_string(),
        "--shutdown-cmd",
        "sh",
        "-c",
        &shutdown,
    ]);

    // The other workspace: job B, and a `wait` for it, subscribed.
    let mut run = env.bgjobs_in(
        &other,
        &[
            "run",
            "-b",
            "--",
            &env.helper(),
            "wait-file",
            gate_b.to_str().unwrap(),
        ],
    );
    let b = parse_id(&ok({
        run.stdin(Stdio::null());
        run
    }));
    let waiter = env.spawn_tracked({
        let mut cmd = env.bgjobs_in(&other, &["wait", &b.to_string()]);
        cmd.stdout(Stdio::piped());
        cmd
    });
    wait_for_connections(&env, 2);

    // A ends: the notifier tears the broker down; its shutdown command runs.
    std::fs::write(&gate_a, "").unwrap();
    let pid: u32 = wait_until("the broker's shutdown command", DEADLINE, || {
        std::fs::read_to_string(&marker).ok()?.trim().parse().ok()
    });
    // B ends meanwhile: its `wait` returns while the teardown still runs.
    std::fs::write(&gate_b, "").unwrap();
    let out = env.take_child(waiter).wait_with_output().unwrap();
    let still_running = proc::pid_alive(pid);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(still_running, "the wait returned only after the teardown");
    wait_until("the teardown to end", DEADLINE, || {
        (!proc::pid_alive(pid)).then_some(())
    });
}

/// `notifier stop` returns once the daemon is gone (its lock released), so
/// a `start` right after always gets a daemon; and a client that meets a
/// daemon on its way out starts another.
#[test]
fn stop_then_start_at_once_always_gets_a_notifier() {
    let env = TestEnv::new();
    for round in 0..20 {
        let first = env.start_notifier()["pid"].as_u64().expect("a pid");
        env.run_ok(&["notifier", "stop"]);
        assert!(
            !proc::pid_alive(first as u32),
            "round {round}: stop returned, the daemon lives"
        );
        let second = env.start_notifier()["pid"].as_u64().expect("a pid");
        assert_ne!(first, second, "round {round}");
        env.run_ok(&["notifier", "stop"]);
    }
}
