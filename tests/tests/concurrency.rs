//! Many writers at once: every job is recorded once, under its own id, and
//! the store is never torn, never half-written and never left with temp files.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bgjobs_tests::*;

const PROCESSES: usize = 16;
const JOBS_EACH: usize = 50;

#[test]
fn sixteen_processes_start_800_jobs_without_losing_one() {
    let env = Arc::new(TestEnv::with_config("keep_finished = 100000\n"));
    let helper = env.helper();

    // A reader polls `status` all along: no read may fail or see a torn record.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (env, stop) = (env.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) || reads == 0 {
                // The default listing: the index, every active record (the
                // ones being rewritten) and the newest finished ones.
                let status = env.json(&["status", "--json"]);
                assert_eq!(status["warnings"], json!([]), "a reader saw a bad record");
                reads += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            reads
        })
    };

    // 16 writers in parallel, each starting 50 background jobs in a row.
    let writers: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let (env, helper) = (env.clone(), helper.clone());
            std::thread::spawn(move || {
                (0..JOBS_EACH)
                    .map(|_| env.start(&[], &[&helper, "exit", "0"]))
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let printed: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer thread"))
        .collect();
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader thread");

    let distinct: BTreeSet<u64> = printed.iter().copied().collect();
    assert_eq!(printed.len(), PROCESSES * JOBS_EACH);
    assert_eq!(distinct.len(), printed.len(), "an id was handed out twice");

    // Wait for all of them; every one must succeed.
    let out = output(env.bgjobs(&["wait", "--timeout", "120s"]));
    assert_eq!(out.status.code(), Some(0), "wait: {}", stderr(&out));

    let status = env.status_json();
    let jobs = status["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), PROCESSES * JOBS_EACH);
    let listed: BTreeSet<u64> = ids_of(&status).into_iter().collect();
    assert_eq!(listed, distinct, "status lists other ids than run printed");
    for job in jobs {
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["exit_code"], 0, "{job}");
    }
    assert_eq!(status["warnings"], json!([]));

    // The notifier records its deliveries on the jobs: wait for the last
    // one, so that no write is in flight while the store is inspected.
    wait_until("the notifier's deliveries", DEADLINE, || {
        (env.read_index()["undelivered"] == json!([])).then_some(())
    });

    // Exactly one record per job, the active index empty, no temp file and
    // no record moved aside anywhere in the store.
    let records: BTreeSet<u64> = env.record_ids().into_iter().collect();
    assert_eq!(records, distinct);
    assert_eq!(env.read_index()["active"], json!([]));
    // A temp file may belong to a write still in flight on a loaded machine
    // (it is gone a moment later); one left by a crashed writer stays.
    let names = || -> Vec<(String, std::path::PathBuf)> {
        walk(&env.store_dir())
            .into_iter()
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
            .collect()
    };
    wait_until("no write in flight", DEADLINE, || {
        let temp = |n: &str| n == ".tmp-write" || n.ends_with(".bgjobs-tmp");
        names().iter().all(|(n, _)| !temp(n)).then_some(())
    });
    for (name, path) in names() {
        assert!(
            !name.contains(".corrupt-"),
            "moved aside: {}",
            path.display()
        );
    }
}

/// Windows refuses to rename over a file that another program (an editor, a
/// virus scanner, a script reading the store) holds open without delete
/// sharing. Writers retry the rename briefly, so a `run -b` and a job's end
/// both land while a reader holds the very file they replace.
#[cfg(windows)]
#[test]
fn writes_wait_out_a_reader_holding_the_file_open() {
    use std::os::windows::fs::OpenOptionsExt;
    use std::path::Path;
    use std::time::Duration;

    /// Share read access only: no `FILE_SHARE_DELETE`, so no rename over it.
    const FILE_SHARE_READ: u32 = 0x1;
    const HOLD: Duration = Duration::from_millis(400);

    /// Open `path` as such a reader does and keep it open for `HOLD`, on a
    /// thread; returns once the file is held.
    fn hold(path: &Path) -> std::thread::JoinHandle<()> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .share_mode(FILE_SHARE_READ)
            .open(path)
            .unwrap_or_else(|e| panic!("hold {}: {e}", path.display()));
        // The hold is real: a plain rename over the file is refused.
        let probe = path.with_extension("probe");
        std::fs::write(&probe, b"{}").expect("write probe");
        let refused = std::fs::rename(&probe, path);
        let _ = std::fs::remove_file(&probe);
        assert!(refused.is_err(), "a rename over a held file succeeded");
        std::thread::spawn(move || {
            std::thread::sleep(HOLD);
            drop(file);
        })
    }

    let env = TestEnv::new();
    let gate = env.root.join("gate");
    let id = env.start_helper(&[], &["wait-file", gate.to_str().unwrap()]);
    env.wait_for_status(id, &["running"]);

    // `run -b` rewrites the index (and its record) while the index is held.
    let reader = hold(&env.store_dir().join("index.json"));
    let second = env.start_helper(&[], &["exit", "0"]);
    reader.join().expect("reader thread");

    // The worker records the job's end while its record is held.
    let reader = hold(&env.job_file(id));
    std::fs::write(&gate, b"").expect("open the gate");
    reader.join().expect("reader thread");

    for job in [id, second] {
        let out = output(env.bgjobs(&["wait", &job.to_string(), "--timeout", "60s"]));
        assert_eq!(out.status.code(), Some(0), "wait {job}: {}", stderr(&out));
        assert_eq!(env.status_of(job), "succeeded");
    }
    let status = env.status_json();
    assert_eq!(status["warnings"], json!([]));
    for path in walk(&env.store_dir()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains(".corrupt-"),
            "moved aside: {}",
            path.display()
        );
    }
}
