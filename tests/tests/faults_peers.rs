//! Fault injection: hostile local peers of the notifier. A thousand silent
//! connections, a line that never ends, forged reports: the daemon stays
//! small, keeps serving real clients, and changes nothing it should not.
//! Each test prints what it tried and how many peers were refused or closed.
//!
//! Already covered elsewhere: malformed and oversized messages, a silent
//! client dropped after the first-message timeout, a forged `job_finished`
//! for a running job and repeated reports of a finished one
//! (`tests/notifier.rs`, `raw::*`); a peer with another uid
//! (`raw::a_peer_with_another_uid_is_refused`).

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bgjobs_tests::*;

/// Start the notifier; return its pid and endpoint.
fn start_notifier(env: &TestEnv) -> (u32, String) {
    let status = env.start_notifier();
    (
        status["pid"].as_u64().unwrap() as u32,
        status["endpoint"].as_str().unwrap().to_string(),
    )
}

#[cfg(target_os = "linux")]
mod thousand {
    use std::process::Stdio;
    use std::time::Instant;

    use super::*;

    /// A `/proc/<pid>/status` memory figure (`VmRSS`, `VmHWM`) in KiB.
    fn vm_kib(pid: u32, key: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Raise this process's open-file soft limit to its hard limit; returns it.
    fn raise_nofile() -> libc::rlim_t {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid, owned struct.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
            if limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            }
        }
        limit.rlim_cur
    }

    #[test]
    fn a_thousand_silent_connections_neither_block_nor_bloat_the_notifier() {
        const PEERS: usize = 1000;
        let nofile = raise_nofile();
        if nofile < (PEERS + 100) as libc::rlim_t {
            bgjobs_tests::proc::skipped(
                "a thousand silent peers",
                &format!("open-file limit {nofile} is too low"),
            );
            return;
        }
        let env = TestEnv::new();
        let (pid, endpoint) = start_notifier(&env);
        let gate = env.root.join("gate");
        let id = env.start_helper(&[], &["wait-file", gate.to_str().unwrap()]);
        env.wait_for_status(id, &["running"]);
        let before = vm_kib(pid, "VmRSS").expect("the daemon's VmRSS");

        let opened = Instant::now();
        let mut peers = Vec::new();
        let mut refused = 0;
        for _ in 0..PEERS {
            match UnixStream::connect(&endpoint) {
                Ok(stream) => peers.push(stream),
                Err(_) => refused += 1,
            }
        }
        let open_time = opened.elapsed();

        // While they are all open (and silent), real clients are served.
        let status = env
            .notifier_status()
            .expect("notifier status answers under 1000 peers");
        assert_eq!(status["pid"].as_u64(), Some(pid as u64), "{status}");
        let connections = status["connections"].as_u64().unwrap();
        let mut during = vm_kib(pid, "VmRSS").unwrap();
        let waiter = env.spawn_tracked({
            let mut cmd = env.bgjobs(&["wait", &id.to_string(), "--timeout", "60s"]);
            cmd.stdout(Stdio::null());
            cmd
        });
        std::fs::write(&gate, "go").unwrap();
        let waited = env.take_child(waiter).wait().unwrap();
        during = during.max(vm_kib(pid, "VmRSS").unwrap());
        assert_eq!(waited.code(), Some(0), "wait under 1000 silent peers");
        // Evidence that the peers were all still there meanwhile (the daemon
        // drops silent ones after its first-message timeout, 10 s).
        let still = env.notifier_status().expect("notifier status")["connections"]
            .as_u64()
            .unwrap();
        assert!(
            still > PEERS as u64,
            "the silent peers were dropped before the real clients were served \
             ({still} connections left): this machine is too slow for the check"
        );

        // The daemon drops every silent peer after its first-message timeout.
        for peer in &peers {
            peer.set_nonblocking(true).unwrap();
        }
        let mut closed = vec![false; peers.len()];
        poll(DEADLINE, || {
            for (peer, closed) in peers.iter().zip(closed.iter_mut()) {
                if !*closed {
                    let mut byte = [0u8; 1];
                    *closed = match (&*peer).read(&mut byte) {
                        Ok(0) => true,
                        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                        Ok(_) => panic!("a silent peer was sent something"),
                    };
                }
            }
            closed.iter().all(|&c| c).then_some(())
        });
        let dropped = closed.iter().filter(|&&c| c).count();
        let dropped_in = opened.elapsed();
        drop(peers);
        during = during.max(vm_kib(pid, "VmHWM").unwrap_or(during));

        // Memory after the peers left; then more bursts (closed by the
        // peers themselves this time): a leak grows with every burst.
        let settle = |what: &str| -> u64 {
            wait_until(what, DEADLINE, || {
                let status = env.notifier_status()?;
                (status["connections"].as_u64() == Some(1)).then_some(())
            });
            std::thread::sleep(Duration::from_millis(500));
            vm_kib(pid, "VmRSS").unwrap()
        };
        let mut after = vec![settle("the silent peers to be gone")];
        const BURSTS: usize = 4;
        for burst in 2..=BURSTS + 1 {
            let peers: Vec<UnixStream> = (0..PEERS)
                .filter_map(|_| UnixStream::connect(&endpoint).ok())
                .collect();
            refused += PEERS - peers.len();
            let status = env
                .notifier_status()
                .expect("notifier status under 1000 peers");
            assert!(
                status["connections"].as_u64().unwrap() > peers.len() as u64,
                "burst {burst}: {status}"
            );
            during = during.max(vm_kib(pid, "VmRSS").unwrap());
            drop(peers);
            after.push(settle(&format!("burst {burst} to be gone")));
        }
        during = during.max(vm_kib(pid, "VmHWM").unwrap_or(during));
        let status = env.notifier_status().expect("the daemon serves on");
        assert_eq!(status["pid"].as_u64(), Some(pid as u64), "{status}");
        println!(
            "a thousand silent peers: {} connected in {:.2}s, {refused} refused; daemon counted {connections} \
             connections; status and a real wait served meanwhile; {dropped} silent peers closed by the \
             daemon within {:.1}s; then {BURSTS} more bursts of {PEERS} peers that hung up themselves",
            PEERS - refused,
            open_time.as_secs_f64(),
            dropped_in.as_secs_f64(),
        );
        println!(
            "a thousand silent peers: daemon VmRSS {before} KiB before, peak {during} KiB, \
             after each burst {after:?} KiB"
        );
        assert_eq!(refused, 0, "connections refused");
        assert!(
            connections > PEERS as u64,
            "{connections} connections counted"
        );
        assert_eq!(dropped, PEERS, "silent peers the daemon never closed");
        assert!(during < 64 * 1024, "the daemon grew to {during} KiB");
        let (first, last) = (after[0], after[after.len() - 1]);
        assert!(
            last <= first + 4 * 1024,
            "the daemon grows with every burst of peers (a leak): {after:?} KiB"
        );
    }
}

#[test]
fn a_line_that_never_ends_is_cut_off_at_the_limit() {
    let env = TestEnv::new();
    let (pid, endpoint) = start_notifier(&env);
    let stream = UnixStream::connect(&endpoint).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Write until the daemon closes the connection.
    let mut writer = stream.try_clone().unwrap();
    let spewer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 4096];
        let mut sent = 0u64;
        let error = loop {
            match writer.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(e) => break e,
            }
            if sent > 1 << 30 {
                panic!("the daemon took 1 GiB of one line without closing");
            }
        };
        (sent, error)
    });
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).unwrap();
    let (sent, error) = spewer.join().unwrap();
    let mut rest = Vec::new();
    let _ = (&stream).read_to_end(&mut rest);
    let reply = parse_json(&reply);
    println!(
        "a line that never ends: the daemon replied {reply} and closed after {} KiB were sent \
         (the writer then got: {error})",
        sent >> 10
    );
    assert_eq!(reply["type"], "error", "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("longer than"),
        "{reply}"
    );
    assert!(
        rest.is_empty(),
        "nothing after the error: {}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        sent >= 64 << 10,
        "closed before the limit: {sent} bytes sent"
    );
    // What the daemon did not read sits in the socket buffers: bounded.
    assert!(sent < 16 << 20, "{sent} bytes accepted before the close");
    let status = env.notifier_status().expect("the daemon serves on");
    assert_eq!(status["pid"].as_u64(), Some(pid as u64));
    let id = env.start_helper(&[], &["exit", "0"]);
    let out = env.run(&["wait", &id.to_string(), "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Send one line on a fresh connection; return the reply.
fn ask(endpoint: &str, message: &Value) -> Value {
    let mut stream = UnixStream::connect(endpoint).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(format!("{message}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).unwrap();
    parse_json(&reply)
}

/// Adds to `notifier.rs`' forged report of a running job: reports naming a
/// workspace the daemon does not serve (or a job that does not exist) get
/// an error, and never make the daemon create a store.
#[test]
fn forged_reports_for_unknown_workspaces_create_nothing() {
    let env = TestEnv::new();
    let (pid, endpoint) = start_notifier(&env);
    let id = env.start_helper(&[], &["exit", "0"]);
    env.wait_delivered(id);
    let stores = list_dir(&env.home.join("workspaces"));
    let record = env.read_record(id);
    let elsewhere = env.root.join("elsewhere");
    std::fs::create_dir_all(elsewhere.join(".git")).unwrap();
    let forged = [
        json!({"v": 1, "type": "job_finished", "workspace": elsewhere, "id": 1}),
        json!({"v": 1, "type": "job_finished", "workspace": "/nonexistent/workspace", "id": 1}),
        json!({"v": 1, "type": "job_finished", "workspace": env.root, "id": 1}),
        json!({"v": 1, "type": "job_finished", "workspace": env.ws, "id": 999}),
    ];
    let mut errors = 0;
    for message in &forged {
        let reply = ask(&endpoint, message);
        assert_eq!(reply["type"], "error", "{message} -> {reply}");
        errors += 1;
    }
    assert_eq!(
        list_dir(&env.home.join("workspaces")),
        stores,
        "a forged report created a store"
    );
    assert_eq!(env.read_record(id), record, "a forged report changed a job");
    assert!(!env.job_file(999).exists());
    let status = env.notifier_status().expect("the daemon serves on");
    assert_eq!(status["pid"].as_u64(), Some(pid as u64));
    println!(
        "forged reports: {errors} reports for unknown workspaces or jobs refused with an error; \
         no store created, no record changed"
    );
}
