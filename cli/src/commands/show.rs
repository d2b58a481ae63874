//! `bgjobs show ID`: one job's record and the tail of its output.

use std::path::{Path, PathBuf};

use bgjobs_store::{log, Job};

use crate::admission;
use crate::args::ShowArgs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::output;
use crate::output::say;

/// Entry point of `show`.
pub fn run(workspace: Option<PathBuf>, args: ShowArgs) -> Outcome {
    let store = context::open_store(workspace)?;
    admission::start_due(&store, false);
    let mut job = store.get(args.id)?;
    if job.status.is_active() {
        // The record's tail is written at the end; show the live one.
        job.output_tail = log::tail(Path::new(&job.log_path), 20, 4096);
    }
    if args.json {
        output::json(&job)?;
    } else {
        print_human(&job)?;
    }
    Ok(0)
}

fn print_human(job: &Job) -> Result<(), Failure> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    say!("job {}: {}", job.id, job.state())?;
    say!("title:      {}", job.title)?;
    say!(
        "command:    {}",
        bgjobs_store::job::command_line(&job.command)
    )?;
    say!("cwd:        {}", job.cwd)?;
    say!("background: {}", if job.background { "yes" } else { "no" })?;
    say!("session:    {}", opt(job.session_id.clone()))?;
    if let Some(agent) = &job.agent_id {
        say!("agent:      {agent}")?;
    }
    if let Some(key) = &job.key {
        say!("key:        {key}")?;
    }
    if job.queue != bgjobs_store::QueueName::default() {
        say!("queue:      {}", job.queue)?;
    }
    if !job.after.is_empty() {
        let after: Vec<String> = job.after.iter().map(u64::to_string).collect();
        say!("after:      {}", after.join(", "))?;
    }
    if let Some(pattern) = &job.ready_pattern {
        let at = opt(job.ready_at.map(|t| t.to_string()));
        say!("ready:      {at} (pattern {pattern:?})")?;
    }
    if let Some(from) = job.restarted_from {
        say!("restarts:   job {from}")?;
    }
    say!("created:    {}", job.created_at)?;
    say!("started:    {}", opt(job.started_at.map(|t| t.to_string())))?;
    say!(
        "finished:   {}",
        opt(job.finished_at.map(|t| t.to_string()))
    )?;
    say!("time:       {}", output::age_or_duration(job))?;
    say!("pid:        {}", opt(job.pid.map(|p| p.to_string())))?;
    if let Some(reason) = &job.reason {
        say!("reason:     {reason}")?;
    }
    say!("log:        {}", job.log_path)?;
    if !job.output_tail.is_empty() {
        say!("--- last output ---")?;
        say!("{}", job.output_tail)?;
    }
    Ok(())
}
