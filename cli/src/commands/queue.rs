//! `bgjobs queue`: the workspace's queues, each with its limit and how many
//! of its jobs run and wait.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bgjobs_store::QueueName;
use serde::Serialize;

use crate::admission;
use crate::args::QueueArgs;
use crate::context;
use crate::failure::Outcome;
use crate::jobs::active_jobs;
use crate::output;
use crate::output::say;

/// One queue, as `queue --json` prints it.
#[derive(Serialize)]
struct Queue {
    name: QueueName,
    /// How many of its jobs may run at once; 0 is no limit.
    limit: usize,
    /// Its jobs started and not ended.
    running: usize,
    /// Its jobs waiting for a slot or for other jobs.
    waiting: usize,
}

/// Entry point of `queue`.
pub fn run(workspace: Option<PathBuf>, args: QueueArgs) -> Outcome {
    let store = context::open_store(workspace)?;
    // A look is a chance to start what is due: the counts are then true.
    admission::start_due(&store, false);
    let config = store.config();
    let empty = |name: &QueueName| Queue {
        name: name.clone(),
        limit: config.queue_limit(name),
        running: 0,
        waiting: 0,
    };
    // The default queue and every configured one, then any other in use.
    let mut queues: BTreeMap<QueueName, Queue> = std::iter::once(QueueName::default())
        .chain(config.queues.keys().cloned())
        .map(|name| (name.clone(), empty(&name)))
        .collect();
    for job in active_jobs(&store, None)? {
        let queue = queues
            .entry(job.queue.clone())
            .or_insert_with(|| empty(&job.queue));
        match job.waiting {
            true => queue.waiting += 1,
            false => queue.running += 1,
        }
    }
    let queues: Vec<Queue> = queues.into_values().collect();
    if args.json {
        output::json(&queues)?;
        return Ok(0);
    }
    say!(
        "{:<20}  {:>5}  {:>7}  {:>7}",
        "QUEUE",
        "LIMIT",
        "RUNNING",
        "WAITING"
    )?;
    for q in &queues {
        let limit = match q.limit {
            0 => "-".to_string(),
            n => n.to_string(),
        };
        say!(
            "{:<20}  {:>5}  {:>7}  {:>7}",
            q.name.as_str(),
            limit,
            q.running,
            q.waiting
        )?;
    }
    Ok(0)
}
