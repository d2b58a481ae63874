//! `bgjobs run` / `bgjobs enqueue`: record a job, then run it attached or
//! hand it to a detached worker.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use bgjobs_store::{Created, Job, NewJob, ProcessIdentity, Status, Store};

use crate::args::RunArgs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::output;
use crate::platform;
use crate::worker::{self, Mode, EXIT_INTERRUPTED};

/// Entry point of `run` (and of `enqueue`, which forces `background`).
pub fn run(workspace: Option<PathBuf>, args: RunArgs, enqueue: bool) -> Outcome {
    let background = args.background || enqueue;
    if args.command.is_empty() {
        return Err(Failure::usage(
            "no command given: use bgjobs run [-b] -- CMD [ARGS...]",
        ));
    }
    let timeout_ms = match &args.timeout {
        Some(text) => match context::duration("--timeout", text)?.as_millis() {
            0 => return Err(Failure::usage("--timeout: must be more than zero")),
            ms => Some(ms as u64),
        },
        None => None,
    };
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::error(format!("cannot read the current directory: {e}")))?;
    let store = context::open_store(workspace)?;
    let new = NewJob {
        title: args.title,
        command: args.command,
        cwd: cwd.to_string_lossy().into_owned(),
        background,
        session_id: context::session(args.session),
        agent_id: args.agent,
        key: args.key,
        timeout_ms,
    };
    match store.create(new)? {
        Created::Existing(job) => {
            report(&job, args.json)?;
            Ok(0)
        }
        Created::New(job) if background => start_background(&store, job, args.json),
        Created::New(job) => run_attached(&store, job),
    }
}

fn report(job: &Job, json: bool) -> Result<(), Failure> {
    if json {
        output::json(job)
    } else {
        println!("{}", job.id);
        Ok(())
    }
}

/// Start the detached worker and hand the job over to it before returning, so
/// that the job always has a live owner.
fn start_background(store: &Store, job: Job, json: bool) -> Outcome {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find the bgjobs executable: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--workspace")
        .arg(store.workspace())
        .arg("worker")
        .arg(job.id.to_string())
        .current_dir(store.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    context::pass_env(&mut cmd, store.root());
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
    report(&job, json)?;
    Ok(0)
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
        Status::Cancelled => EXIT_INTERRUPTED,
        _ => platform::exit_code(job.wait_code()),
    })
}
