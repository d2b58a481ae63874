//! The job worker: runs one job's command in its own process tree, copies its
//! output to the bounded log, enforces the timeout, and records every step in
//! the store — the final state always before anything else is told.
//!
//! It runs either detached (`bgjobs worker ID`, started by `run -b`) or
//! inside `bgjobs run` itself for an attached job.

mod pump;
mod ready;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgjobs_store::ending::{self, Ending, Exit};
use bgjobs_store::environment::Environment;
use bgjobs_store::log::{self, LogWriter};
use bgjobs_store::store::Locked;
use bgjobs_store::time::Timestamp;
use bgjobs_store::{fsio, retention, tree, Job, ProcessIdentity, Status, Store};

use crate::admission::{self, Starter, Successors};
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::notify::{self, News};
use crate::platform;
use pump::{Echo, Pumps};
use ready::ReadyWatch;

/// Time a command's tree gets between SIGTERM and SIGKILL on timeout or interrupt.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long output still in flight is awaited after the command exits.
const DRAIN_LIMIT: Duration = Duration::from_millis(500);
/// How long an attached `run` whose command died of a signal waits for that
/// signal to reach itself too: one sent to both (a process group, a tree
/// killed pid by pid) means the run was interrupted, whichever saw it first.
const SIGNAL_RACE: Duration = Duration::from_millis(250);

/// How the worker is attached to the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Detached worker: output only to the log.
    Detached,
    /// Inside `bgjobs run`: output also to the terminal, Ctrl-C cancels.
    Attached,
}

/// What ended the wait for the command.
enum Event {
    Exited(std::io::Result<ExitStatus>),
    Interrupted,
}

/// Entry point of `bgjobs worker ID [--admitted]`: the detached worker. When
/// its job's end lets queued jobs start, it runs the first of them itself,
/// and so on while there are any.
pub fn run_detached(workspace: Option<PathBuf>, id: u64, admitted: bool) -> Outcome {
    let store = context::open_store(workspace)?;
    serve(&store, id, admitted)
}

/// The detached worker forked by `run -b` (see `platform::fork_worker`),
/// handed job `id` once it was recorded as its own; its exit code.
pub fn run_forked(store: &Store, id: u64) -> i32 {
    context::become_child(store);
    serve(store, id, false).unwrap_or(1)
}

/// The detached worker's life: job `id`, then the queued jobs its ends let
/// start.
fn serve(store: &Store, id: u64, admitted: bool) -> Outcome {
    // Freeing the files this worker replaces waits until nobody waits on it.
    fsio::deferred::defer();
    let mut job = store.with_lock(|tx| tx.job(id))?;
    let me = ProcessIdentity::current();
    // Admitted from a queue: the admission named its worker under the lock,
    // and a worker whose admission did not get recorded (its launcher died
    // first) must leave the job to the one that did.
    if admitted && job.worker != me {
        return Ok(0);
    }
    let mut reports = Vec::new();
    loop {
        let (ended, successors) = run_job(store, job, Mode::Detached)?;
        if ended.status.is_active() {
            break;
        }
        let next = match successors {
            Some(successors) => successors.report(store, true),
            None => admission::start_due_here(store),
        };
        let Some(next) = next else {
            after_end(store, ended.id, Mode::Detached);
            break;
        };
        // The next job's command starts while the notifier hears of this end.
        let store = store.clone();
        reports.push(std::thread::spawn(move || {
            after_end(&store, ended.id, Mode::Detached)
        }));
        job = next;
    }
    for report in reports {
        let _ = report.join();
    }
    Ok(0)
}

/// Run `job` to its end and return its final record; then tell the notifier
/// (the record is written first, so the store is always ahead of the news).
pub fn execute(store: &Store, job: Job, mode: Mode) -> Result<Job, Failure> {
    let (job, successors) = run_job(store, job, mode)?;
    if !job.status.is_active() {
        // First the jobs that this end lets start (a slot, a dependency),
        // then the news: a start costs a process spawn, a report a reply.
        let detached = mode == Mode::Detached;
        match successors {
            Some(successors) => drop(successors.report(store, detached)),
            None => admission::start_due(store, detached),
        }
        after_end(store, job.id, mode);
    }
    Ok(job)
}

/// Once job `id`'s end is recorded: tell the notifier, then prune (after the
/// report: whoever waits is told first).
fn after_end(store: &Store, id: u64, mode: Mode) {
    notify::report(store, id, mode == Mode::Detached);
    fsio::deferred::release();
    let _ = retention::auto_prune(store);
}

/// Run `job` to its end. Once its command has run, the record of its end
/// also admits the jobs that end lets start (in the same hold of the lock,
/// so that the next one starts sooner), and what that admission did comes
/// back with it; a job that never ran leaves that to the caller.
fn run_job(store: &Store, job: Job, mode: Mode) -> Result<(Job, Option<Successors>), Failure> {
    // A waiting job is started only by its admission, which names its
    // worker first (see `bgjobs_store::queue`).
    if job.status != Status::Queued || job.waiting || job.cancel_requested.is_some() {
        return Ok((job, None));
    }
    // Attached: catch Ctrl-C (and SIGTERM, SIGHUP) before the command starts,
    // so that no interrupt can end us with the job recorded as running. One
    // that comes before the command runs is acted on as soon as it does.
    let (events, event) = mpsc::channel();
    if mode == Mode::Attached {
        let interrupts = events.clone();
        // Best effort: if a handler is already set, Ctrl-C just ends us.
        let _ = ctrlc::set_handler(move || {
            let _ = interrupts.send(Event::Interrupted);
        });
    }
    let id = job.id;
    let log = match LogWriter::open(Path::new(&job.log_path), store.config().log_max_bytes) {
        Ok(log) => log,
        Err(e) => return fail_to_start(store, id, format!("cannot open its log: {e}"), None),
    };
    let log = Arc::new(Mutex::new(log));

    let environment = match store.kept_environment(id) {
        Ok(environment) => environment,
        Err(e) => {
            return fail_to_start(store, id, format!("cannot read its environment: {e}"), None)
        }
    };
    let (reader_out, reader_err, mut cmd) = match prepare(&job, environment.as_ref(), mode) {
        Ok(parts) => parts,
        Err(reason) => return fail_to_start(store, id, reason, None),
    };
    let ready = match ready_watch(store, &job, mode) {
        Ok(ready) => ready,
        Err(reason) => return fail_to_start(store, id, reason, None),
    };
    let name = store.tree_name(id);
    let spawned = tree::spawn(&mut cmd, &name);
    drop(cmd); // closes our copies of the pipes' write ends
    let (mut child, tree) = match spawned {
        Ok(parts) => parts,
        Err(e) => {
            let (code, reason) = ending::start_error(job.command.program(), &e);
            return fail_to_start(store, id, reason, Some(code));
        }
    };

    let me = ProcessIdentity::current();
    let process = ProcessIdentity::of(child.id());
    let job = store.update_ownership(id, |j| {
        if j.status == Status::Queued && !j.waiting {
            j.status = Status::Running;
            j.started_at = Some(Timestamp::now());
            j.pid = Some(child.id());
            j.process = process;
            j.worker = me;
        }
    })?;
    // The command runs: what its start replaced may be freed.
    fsio::deferred::release();
    if job.status != Status::Running || job.cancel_requested.is_some() {
        // Cancelled (or lost) between being recorded and starting.
        tree.terminate(STOP_GRACE);
        let _ = child.wait();
        return Ok((job, None));
    }

    let (mut pumps, done) = Pumps::new();
    let (echo_out, echo_err) = match mode {
        Mode::Attached => (Echo::Stdout, Echo::Stderr),
        Mode::Detached => (Echo::None, Echo::None),
    };
    pumps.start(&done, reader_out, log.clone(), echo_out, ready.clone());
    if let Some(reader_err) = reader_err {
        pumps.start(&done, reader_err, log.clone(), echo_err, ready);
    }
    drop(done);

    let exit_events = events.clone();
    drop(events);
    std::thread::spawn(move || {
        let _ = exit_events.send(Event::Exited(child.wait()));
    });

    let ending = wait_for_end(&event, &tree, job.timeout_ms.map(Duration::from_millis));
    // The log is not synced: the record, written durably next, is what says
    // how the job ended, and an fsync here would delay every waiter.
    pumps.drain(DRAIN_LIMIT);
    let tail = log::tail(Path::new(&job.log_path), 20, 4096);
    let starter = match mode {
        Mode::Detached => Starter::Here,
        Mode::Attached => Starter::Workers,
    };
    let (job, successors) = record_with_patience(
        store,
        id,
        |j| j.record_end(&ending, tail.clone()),
        |tx| admission::admit(tx, starter),
    )?;
    Ok((job, Some(successors)))
}

/// The watch for the job's ready pattern, if it has one: the first match
/// records `ready_at` and tells the notifier.
fn ready_watch(store: &Store, job: &Job, mode: Mode) -> Result<Option<Arc<ReadyWatch>>, String> {
    let Some(pattern) = &job.ready_pattern else {
        return Ok(None);
    };
    let pattern = regex::Regex::new(pattern)
        .map_err(|e| format!("its ready pattern is not a valid regex: {e}"))?;
    let (store, id) = (store.clone(), job.id);
    // Off the pump's thread: the output must keep flowing while the store
    // is written and the notifier told.
    Ok(Some(ReadyWatch::new(pattern, move || {
        let store = store.clone();
        std::thread::spawn(move || {
            let recorded = store.update_running(id, |j| {
                if j.status == Status::Running && j.ready_at.is_none() {
                    j.ready_at = Some(Timestamp::now());
                }
            });
            match recorded {
                Ok(job) if job.ready_at.is_some() => {
                    notify::tell(&store, id, News::Ready, mode == Mode::Detached)
                }
                Ok(_) => {}
                Err(e) => eprintln!("bgjobs: cannot record that job {id} is ready: {e}"),
            }
        });
    })))
}

/// How long a worker keeps trying to record its job's end when the store
/// cannot be written (a full disk, a read-only remount).
const RECORD_PATIENCE: Duration = Duration::from_secs(600);

/// Record the end, retrying while the store refuses writes: the worker is
/// the only one who knows how the command ended, and while it lives the job
/// stays `running` rather than turning `lost`. Once the fault is lifted the
/// true end is recorded, and `then` runs once it is, the lock still held.
fn record_with_patience<T>(
    store: &Store,
    id: u64,
    f: impl Fn(&mut Job),
    then: impl Fn(&Locked<'_>) -> T,
) -> Result<(Job, T), Failure> {
    let deadline = Instant::now() + RECORD_PATIENCE;
    let mut pause = Duration::from_millis(50);
    loop {
        let recorded = store.with_lock(|tx| {
            let job = tx.apply(tx.job(id)?, &f)?;
            Ok((job, then(tx)))
        });
        match recorded {
            Ok(done) => return Ok(done),
            Err(
                e @ (bgjobs_store::Error::Io { .. } | bgjobs_store::Error::BadStateRoot { .. }),
            ) if Instant::now() < deadline => {
                eprintln!("bgjobs worker: cannot record the end of job {id} yet: {e}; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Build the command, in `environment` when the job kept one, with its
/// output going into pipes: one merged pipe when detached (keeps the order
/// of stdout and stderr), two when attached (each echoed to its own
/// terminal stream).
fn prepare(
    job: &Job,
    environment: Option<&Environment>,
    mode: Mode,
) -> Result<(std::io::PipeReader, Option<std::io::PipeReader>, Command), String> {
    if !Path::new(&job.cwd).is_dir() {
        return Err(format!("working directory {} does not exist", job.cwd));
    }
    let mut cmd = Command::new(job.command.program());
    // A job that waited runs in its creator's environment, not in that of
    // whoever admitted it (see `bgjobs_store::environment`).
    if let Some(environment) = environment {
        cmd.env_clear().envs(environment);
    }
    cmd.args(job.command.args())
        .current_dir(&job.cwd)
        .envs(&job.env)
        .env("BGJOBS_JOB_ID", job.id.to_string());
    let pipe = |e: std::io::Error| format!("cannot create a pipe: {e}");
    let (reader_out, writer_out) = std::io::pipe().map_err(pipe)?;
    match mode {
        Mode::Detached => {
            let writer_err = writer_out.try_clone().map_err(pipe)?;
            cmd.stdin(Stdio::null())
                .stdout(writer_out)
                .stderr(writer_err);
            Ok((reader_out, None, cmd))
        }
        Mode::Attached => {
            let (reader_err, writer_err) = std::io::pipe().map_err(pipe)?;
            cmd.stdin(Stdio::inherit())
                .stdout(writer_out)
                .stderr(writer_err);
            Ok((reader_out, Some(reader_err), cmd))
        }
    }
}

/// Record that the command could not start; the admission of the jobs this
/// end lets start is left to the caller.
fn fail_to_start(
    store: &Store,
    id: u64,
    reason: String,
    code: Option<i32>,
) -> Result<(Job, Option<Successors>), Failure> {
    let job = store.update(id, |j| {
        if j.finish(Status::Failed, Some(reason)) {
            j.exit_code = code;
        }
    })?;
    Ok((job, None))
}

/// Wait for the command's exit, an interrupt, or the timeout; on the last
/// two, end the tree and still wait for the exit.
fn wait_for_end(
    event: &mpsc::Receiver<Event>,
    tree: &tree::Tree,
    timeout: Option<Duration>,
) -> Ending {
    let deadline = timeout.map(|t| Instant::now() + t);
    let first = match deadline {
        Some(at) => event
            .recv_timeout(at.saturating_duration_since(Instant::now()))
            .ok(),
        None => event.recv().ok(),
    };
    let mut ending = Ending::default();
    match first {
        Some(Event::Exited(status)) => {
            ending.exit = status.ok().map(exit_of);
            // Only an attached run has an interrupt handler, and so a sender
            // left: a detached worker's channel is closed by now.
            if ending.exit.is_some_and(|e| e.signal.is_some()) {
                ending.interrupted =
                    matches!(event.recv_timeout(SIGNAL_RACE), Ok(Event::Interrupted));
            }
            return ending;
        }
        Some(Event::Interrupted) => ending.interrupted = true,
        None => ending.timed_out = timeout,
    }
    tree.terminate(STOP_GRACE);
    while let Ok(e) = event.recv() {
        if let Event::Exited(status) = e {
            ending.exit = status.ok().map(exit_of);
            break;
        }
    }
    ending
}

/// An exit status as the job model records it.
fn exit_of(status: ExitStatus) -> Exit {
    Exit {
        code: status.code(),
        signal: platform::signal_of(&status),
        success: status.success(),
    }
}
