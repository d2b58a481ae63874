//! `run -b` and throughput in a workspace at its retention bound: with
//! `keep_finished = N` and N finished jobs already, every job's end prunes
//! one, which is the steady state of every long-lived workspace. Measured
//! for N = 1,000 (the default) and 10,000, each in a state root of its own
//! (the bound is a setting of the state root's config), against the same
//! floors and targets as the rows below the bound: what retention costs
//! shows as the difference.

use std::path::Path;

use crate::fixture::Fixture;
use crate::measure::{self, Probe};
use crate::report::{Row, Target, Unit};

/// The bounds measured.
pub const BOUNDS: [usize; 2] = [1_000, 10_000];
/// Targets, as for the rows below the bound.
const RUN_B_RATIO: f64 = 1.6;
const THROUGHPUT_RATIO: f64 = 4.0;

/// One bound's samples.
pub struct AtBound {
    /// `keep_finished`, and the finished jobs held.
    pub keep: usize,
    /// The enqueue floor, interleaved with `run -b`, ms.
    pub enqueue_floor: Vec<f64>,
    /// `run -b -- true`, ms.
    pub run_b: Vec<f64>,
    /// Jobs of the throughput round.
    pub jobs: usize,
    /// `jobs` × `/bin/true`, s.
    pub floor: f64,
    /// `jobs` × `run -b -- true` until all succeeded, s.
    pub done: f64,
}

/// Measure every bound (with `bounds` to pick fewer, e.g. in a quick run).
pub fn measure(
    bin: &Path,
    bounds: &[usize],
    warmup: usize,
    runs: usize,
    jobs: usize,
) -> Result<Vec<AtBound>, String> {
    let mut out = Vec::new();
    for &keep in bounds {
        let fx = Fixture::create_keeping(bin.to_path_buf(), keep)?;
        let workspace = fx.add_workspace("at-bound")?;
        eprintln!("bgjobs-bench: at the bound: recording {keep} finished jobs…");
        fx.populate_at(&workspace, keep)?;
        crate::start_notifier(&fx)?;
        // The first end brings the workspace to its bound exactly.
        settle(&fx, &workspace)?;
        eprintln!("bgjobs-bench: at the bound of {keep} ({warmup} warm-up + {runs} runs)…");
        let Some(mut enqueue) = fx.enqueue_floor() else {
            return Ok(out); // no POSIX shell: no enqueue floor to compare with
        };
        let mut probes = [
            Probe::new("enqueue floor", || {
                measure::time_success(&mut enqueue).map(|(took, _)| took)
            }),
            Probe::new("run -b at the bound", || {
                let mut run = fx.bgjobs_in(&workspace, &["run", "-b", "--", "true"]);
                let (took, out) = measure::time_success(&mut run)?;
                // Untimed, as for the rows below the bound: its worker (and
                // its prune) is done before the next sample.
                let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
                measure::time_success(&mut fx.bgjobs_in(&workspace, &["wait", &id]))?;
                Ok(took)
            }),
        ];
        let samples = measure::interleaved(&mut probes, warmup, runs)?;
        let mut samples = samples.into_iter();
        let enqueue_floor = measure::millis(&samples.next().unwrap_or_default());
        let run_b = measure::millis(&samples.next().unwrap_or_default());
        settle(&fx, &workspace)?;
        eprintln!("bgjobs-bench: throughput at the bound of {keep} ({jobs} jobs)…");
        let (floor, _, done) = crate::throughput::round_in(&fx, &workspace, jobs)?;
        out.push(AtBound {
            keep,
            enqueue_floor,
            run_b,
            jobs,
            floor,
            done,
        });
    }
    Ok(out)
}

/// Wait (untimed) until nothing is active in `workspace`.
fn settle(fx: &Fixture, workspace: &Path) -> Result<(), String> {
    let store = fx.store_at(workspace)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !store
        .active_ids()
        .map_err(|e| format!("cannot read the index: {e}"))?
        .is_empty()
    {
        crate::interrupt::check()?;
        if std::time::Instant::now() > deadline {
            return Err("jobs at the bound did not end".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

/// The report keys of one bound's rows: floor, `run -b`, throughput.
fn keys(keep: usize) -> [&'static str; 3] {
    match keep {
        1_000 => [
            "bound_1000_enqueue_floor",
            "bound_1000_run_b",
            "bound_1000_throughput",
        ],
        _ => [
            "bound_10000_enqueue_floor",
            "bound_10000_run_b",
            "bound_10000_throughput",
        ],
    }
}

/// The table's rows.
pub fn rows(bounds: Vec<AtBound>) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in bounds {
        let keep = Unit::Count.format(b.keep as f64);
        let floor = Row::new(
            keys(b.keep)[0],
            format!("enqueue floor, beside the bound of {keep}"),
            Unit::Millis,
            b.enqueue_floor,
        );
        let median = floor.stats.median;
        let run_b = Row::new(
            keys(b.keep)[1],
            format!("`bgjobs run -b -- true` at the retention bound (keep_finished = {keep}, {keep} finished)"),
            Unit::Millis,
            b.run_b,
        )
        .against("enqueue floor", median);
        let target = Target::ratio_at_most(&run_b, RUN_B_RATIO);
        let jobs = Unit::Count.format(b.jobs as f64);
        let done = Row::new(
            keys(b.keep)[2],
            format!("throughput at the bound of {keep}: {jobs} × `run -b -- true`, all succeeded"),
            Unit::Seconds,
            vec![b.done],
        )
        .against(format!("{jobs} × /bin/true"), b.floor);
        let done_target = Target::ratio_at_most(&done, THROUGHPUT_RATIO);
        rows.extend([floor, run_b.target(target), done.target(done_target)]);
    }
    rows
}

/// How to read the rows.
pub fn notes(warmup: usize, runs: usize) -> Vec<String> {
    vec![format!(
        "At the retention bound: for each bound N a state root of its own with \
         `keep_finished = N` and a workspace of N finished, delivered jobs, brought to the \
         bound exactly by a first job; `run -b -- true` then timed {warmup} warm-up + {runs} \
         samples interleaved with the enqueue floor, each job then waited for, untimed, as \
         below the bound (its end prunes one); then one throughput round in the same \
         workspace, back to back, against as many `/bin/true` run just before it."
    )]
}
