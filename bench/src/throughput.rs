//! End-to-end throughput: many `bgjobs run -b -- true` started back to back
//! from one thread, timed until every one of them is recorded `succeeded`.
//!
//! This is the shape of an agent (or a script) fanning out a batch of small
//! jobs: what counts is not one call but how soon the whole batch is done,
//! which takes in everything the store does per job — recording it, handing
//! it to a detached worker, the worker's records, the notifier's delivery —
//! and how all of that holds up when hundreds of workers are alive at once
//! on two cores and share one lock.
//!
//! Each round uses a fresh workspace (so rounds are alike and the other
//! metrics' workspaces are untouched) and is timed from the first spawn
//! until the bench, polling the store's index in-process every
//! [`POLL`], sees no job active any more; every job is then checked to be
//! `succeeded`. The notifier is running throughout, as it would be. The
//! floor is the same number of `/bin/true` run back to back the same way.

use std::time::{Duration, Instant};

use bgjobs_store::Status;

use crate::fixture::Fixture;
use crate::measure;
use crate::report::{Row, Target, Unit};

/// Target: the jobs all done within 4 times as many `/bin/true` run back to
/// back, measured in the same run.
const TARGET_RATIO: f64 = 4.0;

/// How often the bench looks at the index while the batch drains: well
/// below the resolution that matters (seconds), cheap (one small file).
const POLL: Duration = Duration::from_millis(5);

/// Give up on a batch after this long.
const PATIENCE: Duration = Duration::from_secs(300);

/// Samples, in seconds, one per round.
pub struct Throughput {
    /// Jobs per round.
    pub jobs: usize,
    /// `jobs` × `/bin/true`, back to back.
    pub floor: Vec<f64>,
    /// Until the last `run -b` returned.
    pub started: Vec<f64>,
    /// Until every job was recorded `succeeded`.
    pub done: Vec<f64>,
}

/// Run `rounds` rounds of `jobs` jobs, each after its floor.
pub fn measure(fx: &Fixture, jobs: usize, rounds: usize) -> Result<Throughput, String> {
    eprintln!("bgjobs-bench: throughput ({rounds} round(s) of {jobs} jobs)…");
    let mut out = Throughput {
        jobs,
        floor: Vec::new(),
        started: Vec::new(),
        done: Vec::new(),
    };
    for round in 0..rounds {
        let workspace = fx.add_workspace(&format!("throughput-{round}"))?;
        let (floor, started, done) = round_in(fx, &workspace, jobs)?;
        out.floor.push(floor);
        out.started.push(started);
        out.done.push(done);
    }
    Ok(out)
}

/// One round in `workspace` (as it is: fresh, or at its retention bound):
/// `jobs` × `/bin/true`, then `jobs` × `run -b -- true` until all started
/// and until all succeeded (and delivered, untimed); seconds each.
pub fn round_in(
    fx: &Fixture,
    workspace: &std::path::Path,
    jobs: usize,
) -> Result<(f64, f64, f64), String> {
    let start = Instant::now();
    for _ in 0..jobs {
        crate::interrupt::check()?;
        measure::time_success(&mut fx.floor())?;
    }
    let floor = start.elapsed().as_secs_f64();

    let store = fx.store_at(workspace)?;
    let mut ids = Vec::with_capacity(jobs);
    let start = Instant::now();
    for _ in 0..jobs {
        crate::interrupt::check()?;
        let mut run = fx.bgjobs_in(workspace, &["run", "-b", "--", "true"]);
        let (_, printed) = measure::time_success(&mut run)?;
        let printed = String::from_utf8_lossy(&printed.stdout);
        let id: u64 = printed
            .trim()
            .parse()
            .map_err(|_| format!("`run -b` printed {:?}, not a job id", printed.trim()))?;
        ids.push(id);
    }
    let started = start.elapsed().as_secs_f64();
    loop {
        crate::interrupt::check()?;
        let active = store
            .active_ids()
            .map_err(|e| format!("cannot read the index: {e}"))?;
        if active.is_empty() {
            break;
        }
        if start.elapsed() > PATIENCE {
            return Err(format!(
                "{} of {jobs} jobs still active after {PATIENCE:?}",
                active.len()
            ));
        }
        std::thread::sleep(POLL);
    }
    let done = start.elapsed().as_secs_f64();

    // Untimed: every job succeeded, and the notifier has delivered them
    // all, so that its writes do not spill into the next round.
    for &id in &ids {
        let job = store
            .get(id)
            .map_err(|e| format!("cannot read job {id}: {e}"))?;
        if job.status != Status::Succeeded {
            return Err(format!(
                "job {id} ended {} ({})",
                job.outcome(),
                job.reason.unwrap_or_default()
            ));
        }
    }
    let drained = Instant::now();
    while !store
        .undelivered_ids()
        .map_err(|e| format!("cannot read the index: {e}"))?
        .is_empty()
    {
        crate::interrupt::check()?;
        if drained.elapsed() > PATIENCE {
            return Err("the notifier did not deliver the batch".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((floor, started, done))
}

/// The table's rows.
pub fn rows(throughput: Throughput) -> Vec<Row> {
    let jobs = Unit::Count.format(throughput.jobs as f64);
    let floor = Row::new(
        "throughput_floor",
        format!("throughput floor: {jobs} × `/bin/true` back to back"),
        Unit::Seconds,
        throughput.floor,
    );
    let median = floor.stats.median;
    let started = Row::new(
        "throughput_started",
        format!("throughput: {jobs} × `run -b -- true` back to back, all started"),
        Unit::Seconds,
        throughput.started,
    )
    .against("floor", median);
    let done = Row::new(
        "throughput_done",
        format!("throughput: {jobs} × `run -b -- true` back to back, all succeeded"),
        Unit::Seconds,
        throughput.done,
    )
    .against("floor", median);
    let target = Target::ratio_at_most(&done, TARGET_RATIO);
    vec![floor, started, done.target(target)]
}

/// How to read the rows.
pub fn notes(throughput: &Throughput) -> Vec<String> {
    let rounds = throughput.done.len();
    vec![format!(
        "Throughput: {rounds} round(s), no warm-up round (the binary and caches are warm from \
         the metrics before), each in a fresh workspace: {} `bgjobs run -b -- true` started \
         sequentially from one thread, timed from the first spawn until the in-process \
         poll of the index (every {} ms) saw none active; every job was then checked \
         `succeeded`. \"All started\" is until the last `run -b` returned. Between rounds \
         the notifier is let finish its deliveries (untimed). The floor runs as many \
         `/bin/true` the same way, just before.",
        Unit::Count.format(throughput.jobs as f64),
        POLL.as_millis()
    )]
}
