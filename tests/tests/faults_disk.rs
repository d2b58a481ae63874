//! Fault injection: disks that fill up, state roots remounted read-only, and
//! a log directory that disappears mid-job. Errors are one clear line, the
//! store stays readable, nothing panics, and once the fault is lifted every
//! job reaches its true end. Each test prints what it tried.
//!
//! The file-system faults need root (to mount a small tmpfs); without it
//! they print why they are skipped.

#![cfg(unix)]

#[cfg(target_os = "linux")]
use std::path::PathBuf;
#[cfg(target_os = "linux")]
use std::process::Command;
#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

use bgjobs_tests::*;

/// Stderr as its non-empty lines.
fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Require the one clear line of a failed command; return it.
#[track_caller]
fn one_error_line(out: &std::process::Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} should fail: {}", stdout(out));
    let text = stderr(out);
    assert!(!text.contains("panicked"), "{what} panicked: {text}");
    let found = lines(&text);
    assert_eq!(found.len(), 1, "{what}: one line on stderr, got: {text:?}");
    found[0].to_string()
}

/// The pid of the live process named by a recorded identity.
#[cfg(target_os = "linux")]
fn live(identity: &Value) -> Option<u32> {
    let pid = identity["pid"].as_u64()? as u32;
    let start = identity["start"].as_u64()?;
    let stat = proc::stat(pid)?;
    (stat.start == start && proc::pid_alive(pid)).then_some(pid)
}

/// A small tmpfs mounted at `<env.root>/fs`, holding a state root at
/// `<env.root>/fs/home`. Dropping it (also when a test fails) kills every
/// process that uses that state root and unmounts it.
#[cfg(target_os = "linux")]
struct Tmpfs {
    dir: PathBuf,
    home: PathBuf,
}

#[cfg(target_os = "linux")]
impl Tmpfs {
    /// Mount, or say why not.
    fn mount(env: &TestEnv, size: &str) -> Result<Self, String> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root to mount a tmpfs".into());
        }
        let dir = env.root.join("fs");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", stderr(&out).trim()));
        }
        Ok(Self {
            home: dir.join("home"),
            dir,
        })
    }

    /// `mount -o remount,MODE`.
    #[track_caller]
    fn remount(&self, mode: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "remount {mode}: {}",
            stderr(&out).trim()
        );
    }

    /// Bytes still available on the file system.
    fn available(&self) -> u64 {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: statvfs fills the zeroed struct we own; the path is a valid C string.
        unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            assert_eq!(libc::statvfs(path.as_ptr(), &mut st), 0, "statvfs");
            st.f_bavail as u64 * st.f_frsize as u64
        }
    }

    /// `bgjobs ARGS` in the test's workspace, with this state root.
    fn bgjobs(&self, env: &TestEnv, args: &[&str]) -> Command {
        let mut cmd = env.bgjobs(args);
        cmd.env("BGJOBS_HOME", &self.home);
        cmd
    }

    #[track_caller]
    fn run(&self, env: &TestEnv, args: &[&str]) -> std::process::Output {
        output(self.bgjobs(env, args))
    }

    #[track_caller]
    fn json(&self, env: &TestEnv, args: &[&str]) -> Value {
        parse_json(&ok(self.bgjobs(env, args)))
    }

    #[track_caller]
    fn job(&self, env: &TestEnv, id: u64) -> Value {
        self.json(env, &["show", &id.to_string(), "--json"])
    }

    #[track_caller]
    fn wait_for_status(&self, env: &TestEnv, id: u64, statuses: &[&str]) -> Value {
        let what = format!("job {id} to become one of {statuses:?}");
        wait_until(&what, DEADLINE, || {
            let job = self.job(env, id);
            statuses
                .contains(&job["status"].as_str().unwrap_or_default())
                .then_some(job)
        })
    }

    /// The one workspace store under this state root.
    fn store(&self) -> PathBuf {
        let dirs = list_dir(&self.home.join("workspaces"));
        assert_eq!(dirs.len(), 1, "one workspace store: {dirs:?}");
        self.home.join("workspaces").join(&dirs[0])
    }

    /// Every `jobs/*.json` parses; returns their names.
    #[track_caller]
    fn records_parse(&self) -> Vec<String> {
        let jobs = self.store().join("jobs");
        let names = list_dir(&jobs);
        for name in names.iter().filter(|n| n.ends_with(".json")) {
            let bytes = std::fs::read(jobs.join(name)).unwrap();
            let value: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("jobs/{name} does not parse: {e}"));
            assert!(value["id"].is_u64(), "jobs/{name}: {value}");
        }
        names
    }

    /// Every file of the state root with its bytes.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        walk(&self.home)
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap_or_default();
                (p, bytes)
            })
            .collect()
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.home.join("notifier/daemon.log")).unwrap_or_default()
    }

    /// The notifier's pid, when one answers.
    fn notifier_pid(&self, env: &TestEnv) -> Option<u64> {
        let out = self.run(env, &["notifier", "status", "--json"]);
        out.status
            .success()
            .then(|| parse_json(&stdout(&out))["pid"].as_u64())
            .flatten()
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Whatever runs on this state root (workers, the notifier, job
        // commands) holds files on it: kill exactly those, then unmount.
        for _ in 0..50 {
            let found = proc::processes_with_env("BGJOBS_HOME", self.home.as_os_str());
            if found.is_empty() {
                break;
            }
            for pid in found {
                proc::signal(pid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..50 {
            let out = Command::new("umount").arg(&self.dir).output();
            if out.is_ok_and(|o| o.status.success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        eprintln!("{}: lazily unmounted", self.dir.display());
    }
}

/// Mount a tmpfs, or print why the test is skipped and return `None`.
#[cfg(target_os = "linux")]
fn tmpfs_or_skip(env: &TestEnv, size: &str, test: &str) -> Option<Tmpfs> {
    match Tmpfs::mount(env, size) {
        Ok(fs) => Some(fs),
        Err(why) => {
            bgjobs_tests::proc::skipped(test, &why);
            None
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_file_system_delays_the_end_but_loses_nothing() {
    let env = TestEnv::new();
    let Some(fs) = tmpfs_or_skip(&env, "4m", "full file system") else {
        return;
    };
    let helper = env.helper();
    let mut stderrs = String::new();
    let out = fs.run(&env, &["notifier", "start"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let daemon = fs.notifier_pid(&env).expect("the notifier answers");

    // A job that writes far more than the file system holds, once let go.
    let gate = env.root.join("gate");
    let gate_arg = gate.to_str().unwrap();
    let spew = (8u64 << 20).to_string();
    let id = parse_id(&ok(
        fs.bgjobs(&env, &["run", "-b", "--", &helper, "spew", &spew, gate_arg])
    ));
    let job = fs.wait_for_status(&env, id, &["running"]);

    // Fill most of it; the job's output fills the rest.
    let filler = fs.dir.join("filler");
    let room = fs.available();
    let fill = room.saturating_sub(256 << 10);
    std::fs::write(&filler, vec![b'f'; fill as usize]).expect("write the filler");
    std::fs::write(&gate, "go").unwrap();
    wait_until("the command to exit", DEADLINE, || {
        live(&job["process"]).is_none().then_some(())
    });
    let left = fs.available();
    println!(
        "full file system: 4 MiB tmpfs, {} KiB filler, job {id} wrote {} MiB: {} bytes left",
        fill >> 10,
        8,
        left
    );
    assert!(
        left < 64 << 10,
        "the file system is not full: {left} bytes left"
    );

    // The worker cannot record the end: the job stays running, with its
    // worker alive, for as long as the disk is full.
    let records_before = fs.records_parse();
    let until = Instant::now() + Duration::from_secs(2);
    let mut looks = 0;
    while Instant::now() < until {
        let job = fs.job(&env, id);
        assert_eq!(job["status"], "running", "while the disk is full: {job}");
        assert!(live(&job["worker"]).is_some(), "the worker died: {job}");
        looks += 1;
        std::thread::sleep(Duration::from_millis(200));
    }

    // A new job cannot be recorded: one clear line, nothing changed.
    let out = fs.run(&env, &["run", "-b", "--", &helper, "exit", "0"]);
    stderrs += &stderr(&out);
    let line = one_error_line(&out, "run -b on a full disk");
    println!("full file system: `run -b` says: {line}");
    assert!(
        line.to_lowercase().contains("no space"),
        "the error should say the disk is full: {line}"
    );
    assert_eq!(
        fs.records_parse(),
        records_before,
        "a failed run -b left something in jobs/"
    );

    // Reading still works.
    let out = fs.run(&env, &["status", "--all", "--json"]);
    stderrs += &stderr(&out);
    assert!(
        out.status.success(),
        "status on a full disk: {}",
        stderr(&out)
    );
    let status = parse_json(&stdout(&out));
    assert_eq!(find_job(&status, id).unwrap()["status"], "running");
    let out = fs.run(&env, &["status"]);
    stderrs += &stderr(&out);
    assert!(
        out.status.success(),
        "status on a full disk: {}",
        stderr(&out)
    );
    fs.records_parse();

    // Lift the fault: the true end is recorded and delivered.
    let lifted = Instant::now();
    std::fs::remove_file(&filler).unwrap();
    let job = fs.wait_for_status(&env, id, &["succeeded", "failed", "lost"]);
    println!(
        "full file system: job {id} stayed running over {looks} looks while full; \
         {}: {:.1}s after the filler was removed",
        job["status"],
        lifted.elapsed().as_secs_f64()
    );
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["exit_code"], 0, "{job}");
    fs.records_parse();
    wait_until("the delivery of the job's end", DEADLINE, || {
        fs.job(&env, id)["deliveries"]["notified_at"]
            .is_string()
            .then_some(())
    });

    // Everything works again.
    let next = parse_id(&ok(
        fs.bgjobs(&env, &["run", "-b", "--", &helper, "exit", "0"])
    ));
    let out = fs.run(&env, &["wait", &next.to_string(), "--timeout", "60s"]);
    stderrs += &stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert!(!stderrs.contains("panicked"), "{stderrs}");
    let log = fs.daemon_log();
    assert!(!log.contains("panicked"), "the notifier panicked:\n{log}");
    assert_eq!(
        fs.notifier_pid(&env),
        Some(daemon),
        "the notifier died while the disk was full; its log:\n{log}"
    );
}

/// Fill the file system to its last byte.
#[cfg(target_os = "linux")]
fn fill_up(path: &std::path::Path) -> u64 {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("create the filler");
    let mut written = 0u64;
    for chunk in [64 << 10, 4 << 10, 512, 1] {
        let buf = vec![b'f'; chunk];
        while file.write_all(&buf).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = file.sync_all();
    written
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_file_system_still_reads_when_a_worker_died() {
    let env = TestEnv::new();
    let Some(fs) = tmpfs_or_skip(&env, "4m", "full file system, dead worker") else {
        return;
    };
    let helper = env.helper();
    let gate = env.root.join("gate");
    let id = parse_id(&ok(fs.bgjobs(
        &env,
        &[
            "run",
            "-b",
            "--",
            &helper,
            "wait-file",
            gate.to_str().unwrap(),
        ],
    )));
    let job = fs.wait_for_status(&env, id, &["running"]);
    let filler = fs.dir.join("filler");
    let filled = fill_up(&filler);
    // The worker dies (the OOM killer, say) while nothing can be written.
    let worker = live(&job["worker"]).expect("the worker runs");
    assert!(proc::signal(worker, libc::SIGKILL));
    wait_until("the worker to die", DEADLINE, || {
        (!proc::pid_alive(worker)).then_some(())
    });
    println!(
        "full file system, dead worker: {} KiB filler, {} bytes left, worker of job {id} SIGKILLed",
        filled >> 10,
        fs.available()
    );

    // Readers still read, and tell the truth: the job is not running.
    let mut problems = Vec::new();
    for args in [
        vec!["status", "--all", "--json"],
        vec!["status"],
        vec!["show", "1", "--json"],
    ] {
        let out = fs.run(&env, &args);
        let shown = format!("`{}`", args.join(" "));
        assert!(
            !stderr(&out).contains("panicked"),
            "{shown}: {}",
            stderr(&out)
        );
        if !out.status.success() {
            problems.push(format!(
                "{shown} fails on a full disk once a worker died: {}",
                stderr(&out).trim()
            ));
        } else if stdout(&out).contains("running") {
            problems.push(format!("{shown} shows a dead worker's job running"));
        }
    }
    let out = fs.run(&env, &["wait", &id.to_string(), "--timeout", "30s"]);
    if out.status.code() != Some(125) {
        problems.push(format!(
            "`wait {id}` exits {:?} (want 125, lost): {}",
            out.status.code(),
            stderr(&out).trim()
        ));
    }
    for problem in &problems {
        println!("full file system, dead worker: {problem}");
    }

    // Once the fault is lifted the job is recorded lost.
    std::fs::remove_file(&filler).unwrap();
    let job = fs.wait_for_status(&env, id, &["lost"]);
    assert!(job["reason"].is_string(), "{job}");
    std::fs::write(&gate, "go").unwrap();
    assert!(
        problems.is_empty(),
        "while the disk was full and a worker had died:\n{}",
        problems.join("\n")
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_read_only_state_root_refuses_writes_and_still_reads() {
    let env = TestEnv::new();
    let Some(fs) = tmpfs_or_skip(&env, "16m", "read-only state root") else {
        return;
    };
    let helper = env.helper();
    let id = parse_id(&ok(
        fs.bgjobs(&env, &["run", "-b", "--", &helper, "print", "before"])
    ));
    let out = fs.run(&env, &["wait", &id.to_string(), "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait_until("the delivery of the job's end", DEADLINE, || {
        fs.job(&env, id)["deliveries"]["notified_at"]
            .is_string()
            .then_some(())
    });
    // A file open for writing (the notifier's log) blocks a read-only remount.
    let out = fs.run(&env, &["notifier", "stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = fs.snapshot();
    fs.remount("ro");

    let out = fs.run(&env, &["run", "-b", "--", &helper, "exit", "0"]);
    let line = one_error_line(&out, "run -b on a read-only state root");
    println!("read-only state root: `run -b` says: {line}");
    assert!(
        line.to_lowercase().contains("read-only"),
        "the error should say the file system is read-only: {line}"
    );
    let out = fs.run(&env, &["status"]);
    assert!(out.status.success(), "status read-only: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let status = fs.json(&env, &["status", "--all", "--json"]);
    assert_eq!(find_job(&status, id).unwrap()["status"], "succeeded");
    assert_eq!(fs.job(&env, id)["status"], "succeeded");
    let out = fs.run(&env, &["logs", &id.to_string()]);
    assert!(out.status.success(), "logs read-only: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "before");
    let out = fs.run(&env, &["wait", &id.to_string(), "--timeout", "30s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "wait read-only: {}",
        stderr(&out)
    );
    assert!(
        fs.snapshot() == before,
        "something changed on a read-only root"
    );
    println!("read-only state root: status, show, logs and wait work; nothing changed");

    fs.remount("rw");
    let next = parse_id(&ok(
        fs.bgjobs(&env, &["run", "-b", "--", &helper, "print", "after"])
    ));
    let out = fs.run(&env, &["wait", &next.to_string(), "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = fs.run(&env, &["logs", &next.to_string()]);
    assert_eq!(stdout(&out).trim(), "after", "{}", stderr(&out));
    println!("read-only state root: remounted read-write, job {next} ran");
}

#[test]
fn a_log_directory_that_disappears_mid_job() {
    let env = TestEnv::new();
    env.run_ok(&["notifier", "start"]);
    let gate = env.root.join("gate");
    let id = env.start_helper(&[], &["wait-file", gate.to_str().unwrap()]);
    env.wait_for_status(id, &["running"]);
    let logs = env.store_dir().join("logs");
    std::fs::remove_dir_all(&logs).expect("remove logs/");
    std::fs::write(&gate, "go").unwrap();
    let out = env.run(&["wait", &id.to_string(), "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let job = env.wait_delivered(id);
    assert_eq!(job["status"], "succeeded", "{job}");
    env.read_record(id);

    let out = env.run(&["logs", &id.to_string()]);
    let line = one_error_line(&out, "logs of a job whose log vanished");
    println!("log directory removed mid-job: job {id} succeeded; `logs` says: {line}");
    assert!(
        line.contains(&format!("{id}.log")) && line.contains("missing"),
        "the error should name the missing log: {line}"
    );
    env.run_ok(&["status", "--all", "--json"]);
    env.run_ok(&["show", &id.to_string()]);

    // The store recovers: the next job runs and has its log.
    let next = env.start_helper(&[], &["print", "after"]);
    let out = env.run(&["wait", &next.to_string(), "--timeout", "60s"]);
    let job = env.job(next);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the job after the logs/ directory vanished: {job}\n{}",
        stderr(&out)
    );
    let out = env.run(&["logs", &next.to_string()]);
    assert_eq!(stdout(&out).trim(), "after", "{}", stderr(&out));
    let log = std::fs::read_to_string(env.home.join("notifier/daemon.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "the notifier panicked:\n{log}");
}
