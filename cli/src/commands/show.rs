//! `bgjobs show ID`: one job's record and the tail of its output.

use std::path::{Path, PathBuf};

use bgjobs_store::{log, Job};

use crate::args::ShowArgs;
use crate::context;
use crate::failure::Outcome;
use crate::output;

/// Entry point of `show`.
pub fn run(workspace: Option<PathBuf>, args: ShowArgs) -> Outcome {
    let store = context::open_store(workspace)?;
    let mut job = store.get(args.id)?;
    if job.status.is_active() {
        // The record's tail is written at the end; show the live one.
        job.output_tail = log::tail(Path::new(&job.log_path), 20, 4096);
    }
    if args.json {
        output::json(&job)?;
    } else {
        print_human(&job);
    }
    Ok(0)
}

fn print_human(job: &Job) {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!("job {}: {}", job.id, job.outcome());
    println!("title:      {}", job.title);
    println!(
        "command:    {}",
        bgjobs_store::job::command_line(&job.command)
    );
    println!("cwd:        {}", job.cwd);
    println!("background: {}", if job.background { "yes" } else { "no" });
    println!("session:    {}", opt(job.session_id.clone()));
    if let Some(agent) = &job.agent_id {
        println!("agent:      {agent}");
    }
    if let Some(key) = &job.key {
        println!("key:        {key}");
    }
    println!("created:    {}", job.created_at);
    println!("started:    {}", opt(job.started_at.map(|t| t.to_string())));
    println!(
        "finished:   {}",
        opt(job.finished_at.map(|t| t.to_string()))
    );
    println!("time:       {}", output::age_or_duration(job));
    println!("pid:        {}", opt(job.pid.map(|p| p.to_string())));
    if let Some(reason) = &job.reason {
        println!("reason:     {reason}");
    }
    println!("log:        {}", job.log_path);
    if !job.output_tail.is_empty() {
        println!("--- last output ---");
        println!("{}", job.output_tail);
    }
}
