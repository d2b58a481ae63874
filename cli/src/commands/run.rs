//! `bgjobs run` / `bgjobs enqueue`: record a job, then run it attached or
//! hand it to a detached worker.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use bgjobs_store::{fsio, Created, Job, NewJob, ProcessIdentity, Status, Store};

use crate::admission;
use crate::args::RunArgs;
use crate::context;
use crate::exit;
use crate::failure::{Failure, Outcome};
use crate::follow::{self, Followed};
use crate::notify::{self, News};
use crate::output;
use crate::output::say;
use crate::platform;
use crate::worker::{self, Mode};

/// Entry point of `run` (and of `enqueue`, which forces `background`).
pub fn run(workspace: Option<PathBuf>, args: RunArgs, enqueue: bool) -> Outcome {
    let background = args.background || enqueue;
    if args.follow && !background {
        return Err(Failure::usage(
            "--follow is for background jobs: use bgjobs run -b --follow -- CMD",
        ));
    }
    if !background && (args.queue.is_some() || !args.after.is_empty()) {
        return Err(Failure::usage(
            "--queue and --after are for background jobs: use bgjobs run -b --queue NAME -- CMD",
        ));
    }
    if args
        .title
        .as_ref()
        .is_some_and(|t| t.chars().count() > bgjobs_store::job::MAX_TITLE)
    {
        return Err(Failure::usage(format!(
            "--title: longer than {} characters",
            bgjobs_store::job::MAX_TITLE
        )));
    }
    if args.command.is_empty() {
        return Err(Failure::usage(
            "no command given: use bgjobs run [-b] -- CMD [ARGS...]",
        ));
    }
    let timeout_ms = match args.timeout.map(|t| t.as_millis()) {
        Some(0) => return Err(Failure::usage("--timeout: must be more than zero")),
        Some(ms) => Some(u64::try_from(ms).unwrap_or(u64::MAX)),
        None => None,
    };
    let here = std::env::current_dir()
        .map_err(|e| Failure::error(format!("cannot read the current directory: {e}")))?;
    let cwd = match args.cwd {
        Some(dir) => {
            let dir = here.join(dir);
            if !dir.is_dir() {
                return Err(Failure::usage(format!(
                    "--cwd: {} is not a directory",
                    dir.display()
                )));
            }
            dir
        }
        None => here,
    };
    let store = context::open_store(workspace)?;
    let new = NewJob {
        title: args.title,
        command: args.command,
        cwd: cwd.to_string_lossy().into_owned(),
        background,
        agent_id: args
            .agent
            .or_else(|| context::subagent(args.session.as_deref())),
        session_id: context::session(args.session),
        key: args.key,
        timeout_ms,
        follow: args.follow,
        env: args.env.into_iter().collect(),
        restarted_from: None,
        queue: args.queue.unwrap_or_default(),
        after: args.after,
        ready_pattern: args.ready,
    };
    // A job that starts at once gets its worker first, named in its record
    // from the first write; one that waits gets its worker when admitted.
    let forked = (background && !args.follow && !store.holds_back(&new))
        .then(|| fork_worker(&store))
        .flatten();
    let created = match &forked {
        Some((_, worker)) => store.create_for_worker(new, *worker),
        None => store.create(new),
    };
    let created = match created {
        Err(bgjobs_store::Error::UnknownJob(id)) => {
            return Err(Failure::usage(format!(
                "--after: no job {id} in this workspace"
            )))
        }
        created => created?,
    };
    let job = match created {
        Created::Existing(job) => job,
        Created::New(job) if args.follow => start_orphaned(&store, job)?,
        Created::New(job) if job.waiting => start_if_due(&store, job)?,
        Created::New(job) if background => match forked {
            Some((worker, _)) => hand_over(&store, worker, job)?,
            None => start_background(&store, job)?,
        },
        Created::New(job) => return run_attached(&store, job),
    };
    if args.follow {
        if args.adopted {
            stop_with_the_task(&store, job.id);
        }
        return follow(&store, job, args.adopted);
    }
    report(&job, args.json)?;
    Ok(0)
}

/// `run -b --follow`: stream the job's log until it ends and exit as `wait`
/// would. The follower only watches: the job runs under its own detached
/// worker, so killing the follower leaves it running.
fn follow(store: &Store, job: Job, adopted: bool) -> Outcome {
    let id = job.id;
    if adopted {
        // Its task's output: stopping the task stops the job, a subagent's
        // or session's end does not.
        eprintln!("bgjobs: job {id} runs in the background (bgjobs logs {id}, bgjobs status)");
    } else {
        eprintln!(
            "bgjobs: job {id} runs in the background; stopping this stream leaves it \
             running (bgjobs logs {id}, bgjobs cancel {id})"
        );
    }
    match follow::follow(store, job.id)? {
        Followed::Ended(job) => {
            claim_told(store, &job)?;
            Ok(platform::exit_code(job.wait_code()))
        }
        Followed::Closed => Ok(0),
    }
}

/// An adopted follower that is killed (SIGTERM, SIGINT, SIGHUP) leaves an
/// orphaned `stop-adopted --if-deliberate` behind, which cancels the job
/// unless the kill was its session's or subagent's end; then it exits as
/// the signal would have ended it.
fn stop_with_the_task(store: &Store, id: u64) {
    let args = ["detach", "stop-adopted", &id.to_string(), "--if-deliberate"];
    let Ok(cmd) = context::bgjobs(store, &args) else {
        return;
    };
    let cmd = std::sync::Mutex::new(cmd);
    // Best effort: without a handler, a killed follower leaves the job running.
    let _ = ctrlc::set_handler(move || {
        if let Ok(mut cmd) = cmd.lock() {
            let _ = cmd.status();
        }
        std::process::exit(exit::KILLED);
    });
}

/// Entry point of the hidden `detach ARGS…` (`--workspace` passed on).
pub fn detach(workspace: Option<PathBuf>, args: &[String]) -> Outcome {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find the bgjobs executable: {e}")))?;
    let mut cmd = Command::new(exe);
    if let Some(workspace) = workspace {
        cmd.arg("--workspace").arg(workspace);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    platform::spawn_detached(&mut cmd)
        .map_err(|e| Failure::error(format!("cannot start bgjobs {}: {e}", args.join(" "))))?;
    Ok(0)
}

/// The follower has seen the end and is about to exit with it, which is how
/// the agent's own task machinery learns it: the end counts as told — but
/// only if the job is this follower's and its session's agent is still
/// there to receive it.
fn claim_told(store: &Store, job: &Job) -> Result<(), Failure> {
    let (Some(session), Some(me)) = (&job.session_id, ProcessIdentity::current()) else {
        return Ok(());
    };
    if job.follower != Some(me) || !job.untold() {
        return Ok(());
    }
    let listening = store
        .session(session)?
        .is_none_or(|s| s.agent_process.is_none_or(|p| p.is_alive()));
    if listening {
        store.claim_told(&[job.id], |j| j.follower == Some(me))?;
    }
    Ok(())
}

/// Print a started job: its id, or (`--json`) its record.
pub fn report(job: &Job, json: bool) -> Result<(), Failure> {
    if json {
        output::json(job)
    } else {
        say!("{}", job.id)?;
        Ok(())
    }
}

/// A job recorded waiting: start it if it is due already; if it still
/// waits, make sure a notifier is up to start it once it is (a worker that
/// dies without a word frees its slot only for whoever looks).
pub fn start_if_due(store: &Store, job: Job) -> Result<Job, Failure> {
    admission::start_due(store, true);
    let job = store.get(job.id)?;
    if job.waiting {
        notify::tell(store, job.id, News::Queued, true);
    }
    Ok(job)
}

/// Start the worker through a short-lived `start-worker` process, so that
/// it is not a child of this one. A follower stays alive, and Claude Code
/// ends a background task by signalling every process below it, pid by
/// pid, whatever its session: a worker that is an orphan is not below it.
fn start_orphaned(store: &Store, job: Job) -> Result<Job, Failure> {
    let mut cmd = context::bgjobs(store, &["start-worker", &job.id.to_string()])?;
    let started = cmd.stderr(Stdio::inherit()).status();
    let now = store.get(job.id)?;
    if now.status == Status::Queued && !now.waiting && now.worker == job.worker {
        // The starter failed (or was killed) before handing the job over:
        // start the worker here rather than leave the job waiting.
        if let Err(e) = started {
            eprintln!("bgjobs: cannot start the worker through start-worker: {e}");
        }
        return start_background(store, now);
    }
    Ok(now)
}

/// Entry point of the hidden `start-worker ID` (see [`start_orphaned`]).
pub fn start_worker(workspace: Option<PathBuf>, id: u64) -> Outcome {
    let store = context::open_store(workspace)?;
    let job = store.get(id)?;
    match job.status {
        // Its worker, if it is due, is started by this process too, which
        // exits right after: the worker is orphaned as well.
        Status::Queued if job.waiting => {
            start_if_due(&store, job)?;
        }
        // Still the creating `run`'s (our parent's) to hand over: once it
        // has another owner (admitted meanwhile), it is not ours to start.
        Status::Queued if job.worker == ProcessIdentity::parent_of(std::process::id()) => {
            start_background(&store, job)?;
        }
        _ => {}
    }
    Ok(0)
}

/// Fork the detached worker of a job about to be recorded, where this
/// platform can (see `platform::fork_worker`); `None` to start one once it
/// is. Called before anything starts a thread.
fn fork_worker(store: &Store) -> Option<(platform::Forked, ProcessIdentity)> {
    let child = store.clone();
    // The creation replaces the index: the copy keeps the old one open, so
    // that freeing it is the worker's wait, not this command's.
    let index = store.open_index();
    let forked = platform::fork_worker(move |id| {
        if let Some(index) = index {
            fsio::deferred::keep(index);
        }
        worker::run_forked(&child, id)
    })
    .ok()
    .flatten()?;
    // Dropped unidentified, it ends without a job.
    let identity = ProcessIdentity::of(forked.pid())?;
    Some((forked, identity))
}

/// Hand `job`, recorded as the forked worker's, to that worker. If it died
/// since its fork, a worker is started the usual way and takes the job over.
fn hand_over(store: &Store, worker: platform::Forked, job: Job) -> Result<Job, Failure> {
    match worker.hand_over(job.id) {
        Ok(()) => Ok(job),
        Err(_) => start_background(store, job),
    }
}

/// Start the detached worker and hand the job over to it before returning, so
/// that the job always has a live owner.
pub fn start_background(store: &Store, job: Job) -> Result<Job, Failure> {
    let mut cmd = context::bgjobs(store, &["worker", &job.id.to_string()])?;
    let child = match platform::spawn_detached(&mut cmd) {
        Ok(child) => child,
        Err(e) => {
            let reason = format!("cannot start the worker: {e}");
            store.update(job.id, |j| {
                j.finish(Status::Failed, Some(reason.clone()));
            })?;
            return Err(Failure::error(reason));
        }
    };
    let creator = job.worker;
    let job = match ProcessIdentity::of(child.id()) {
        Some(worker) => store.update_ownership(job.id, |j| {
            if j.status.is_active() && j.worker == creator {
                j.worker = Some(worker);
            }
        })?,
        // Already gone: it recorded its end, or the job is lost, truthfully.
        None => job,
    };
    Ok(job)
}

/// Run the job in this process, output to the terminal and the log.
fn run_attached(store: &Store, job: Job) -> Outcome {
    let job = worker::execute(store, job, Mode::Attached)?;
    Ok(match job.status {
        Status::Failed if job.started_at.is_none() => {
            eprintln!(
                "bgjobs: {}",
                job.reason
                    .as_deref()
                    .unwrap_or("the command could not start")
            );
            job.exit_code.map_or(1, platform::exit_code)
        }
        Status::Cancelled => exit::INTERRUPTED,
        _ => platform::exit_code(job.wait_code()),
    })
}
