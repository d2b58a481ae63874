//! Contention: many processes changing one job record at once.
//!
//! This is the failure the store exists to prevent — concurrent writers each
//! reading the record, changing it and writing it back, so that one's write
//! silently undoes another's. Each contender does `per_process` read-modify-
//! write updates through `Store::update`, incrementing a counter kept in the
//! record's `title`; with correct locking the final counter is exactly the
//! number of updates, and any shortfall is a lost update.
//!
//! The contenders are separate processes (the bench re-executed in a hidden
//! mode), because that is how agents, hooks and workers really collide: an
//! in-process thread test would share one file descriptor table and could not
//! catch a lock that only works within a process.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bgjobs_store::{Config, Created, NewJob, StateRoot, Status, Store};

use crate::fixture::Fixture;

/// Hidden command-line flag that turns the bench into one contender.
pub const CONTENDER_FLAG: &str = "--contender";

/// What the contender prints once its store is open and it is ready to go.
const READY: &str = "ready";

/// One round of contention.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// From the release of the barrier until the last contender exited.
    pub wall: Duration,
    /// Updates attempted (processes × per process).
    pub expected: u64,
    /// Lost updates: `expected` minus the final counter.
    pub lost: u64,
}

impl Round {
    /// Updates per second over the round's wall time.
    pub fn rate(&self) -> f64 {
        self.expected as f64 / self.wall.as_secs_f64()
    }
}

/// Run one round: a fresh job, `processes` contenders each doing
/// `per_process` updates, all released together.
pub fn round(fx: &Fixture, processes: usize, per_process: usize) -> Result<Round, String> {
    let store = fx.store()?;
    let id = target_job(fx, &store)?;
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the bench executable: {e}"))?;

    let mut contenders = Vec::with_capacity(processes);
    for _ in 0..processes {
        let mut cmd = fx.command(&exe);
        cmd.arg(CONTENDER_FLAG)
            .arg(fx.home())
            .arg(fx.workspace())
            .arg(id.to_string())
            .arg(per_process.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start a contender: {e}"))?;
        contenders.push(Contender::new(child)?);
    }
    // The barrier: every contender has started and opened the store before
    // any is let go, so process start-up is not part of the measured time
    // and they really do collide.
    for c in &mut contenders {
        c.await_ready()?;
    }
    let start = Instant::now();
    for c in &mut contenders {
        c.release()?;
    }
    for c in &mut contenders {
        c.finish()?;
    }
    let wall = start.elapsed();

    let job = store
        .get(id)
        .map_err(|e| format!("cannot read job {id} back: {e}"))?;
    let counter: u64 = job
        .title
        .parse()
        .map_err(|_| format!("job {id}'s counter is damaged: {:?}", job.title))?;
    let expected = (processes * per_process) as u64;
    Ok(Round {
        wall,
        expected,
        lost: expected.saturating_sub(counter),
    })
}

/// A finished job whose title is the counter `0`. Finished, so nothing treats
/// it as active: no `wait` waits for it and no liveness check marks it lost.
fn target_job(fx: &Fixture, store: &Store) -> Result<u64, String> {
    let new = NewJob {
        title: Some("0".into()),
        command: vec!["contention".into()],
        cwd: fx.workspace().to_string_lossy().into_owned(),
        ..NewJob::default()
    };
    let id = match store.create(new) {
        Ok(Created::New(job)) => job.id,
        Ok(Created::Existing(job)) => job.id,
        Err(e) => return Err(format!("cannot record the contention job: {e}")),
    };
    store
        .update(id, |j| {
            j.finish(Status::Succeeded, None);
        })
        .map_err(|e| format!("cannot finish the contention job: {e}"))?;
    Ok(id)
}

/// A running contender and the pipes of the barrier.
struct Contender {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Contender {
    fn new(mut child: Child) -> Result<Self, String> {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("a contender has no pipes".into());
        };
        Ok(Self {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
        })
    }

    fn await_ready(&mut self) -> Result<(), String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("cannot read from a contender: {e}"))?;
        if line.trim() != READY {
            return Err(format!(
                "contender {} did not get ready (it said {:?})",
                self.child.id(),
                line.trim()
            ));
        }
        Ok(())
    }

    /// Let it go: one short write to the pipe it is blocked reading, so the
    /// contenders are released within microseconds of each other.
    fn release(&mut self) -> Result<(), String> {
        let mut stdin = self.stdin.take().ok_or("contender released twice")?;
        stdin
            .write_all(b"go\n")
            .map_err(|e| format!("cannot release a contender: {e}"))
    }

    fn finish(&mut self) -> Result<(), String> {
        let status = self
            .child
            .wait()
            .map_err(|e| format!("cannot wait for a contender: {e}"))?;
        if !status.success() {
            return Err(format!("a contender failed ({status})"));
        }
        Ok(())
    }
}

impl Drop for Contender {
    fn drop(&mut self) {
        // Only reached early on an error: do not leave it blocked on stdin.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Entry point of the hidden contender mode:
/// `bgjobs-bench --contender HOME WORKSPACE JOB_ID N`.
pub fn contender_main(args: &[String]) -> ExitCode {
    match contend(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bgjobs-bench contender: {e}");
            ExitCode::FAILURE
        }
    }
}

fn contend(args: &[String]) -> Result<(), String> {
    let [home, workspace, id, n] = args else {
        return Err(format!(
            "usage: {CONTENDER_FLAG} HOME WORKSPACE JOB_ID N (got {} arguments)",
            args.len()
        ));
    };
    let id: u64 = id.parse().map_err(|_| format!("bad job id {id:?}"))?;
    let n: usize = n.parse().map_err(|_| format!("bad count {n:?}"))?;
    let root = StateRoot::at(PathBuf::from(home)).map_err(|e| e.to_string())?;
    let store = Store::open(&root, PathBuf::from(workspace), Config::default())
        .map_err(|e| format!("cannot open the store: {e}"))?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot signal readiness: {e}"))?;
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .map_err(|e| format!("cannot wait for the start: {e}"))?;

    for _ in 0..n {
        let mut damaged = None;
        store
            .update(id, |j| match j.title.parse::<u64>() {
                Ok(count) => j.title = (count + 1).to_string(),
                Err(_) => damaged = Some(j.title.clone()),
            })
            .map_err(|e| format!("update of job {id} failed: {e}"))?;
        if let Some(title) = damaged {
            return Err(format!("job {id}'s counter is damaged: {title:?}"));
        }
    }
    Ok(())
}
