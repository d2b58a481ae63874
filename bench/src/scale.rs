//! Scale: `run -b` and the default `status` in a workspace of 100,000
//! finished jobs against the same calls in one of 1,000, both in one state
//! root whose retention is raised above both (so nothing is pruned), the
//! samples interleaved. Neither call may read every record or list the
//! directory of them: each must cost what it costs at 1,000.

use std::path::Path;

use crate::fixture::Fixture;
use crate::measure::{self, Probe};
use crate::report::{Row, Target, Unit};

/// The small and the big workspace.
pub const SIZES: [usize; 2] = [1_000, 100_000];
/// The target: the big workspace's median within this of the small one's.
const RATIO: f64 = 1.1;

/// Samples, ms: `run -b` and `status --json` in the small and big workspace.
pub struct Scale {
    pub run_b: [Vec<f64>; 2],
    pub status: [Vec<f64>; 2],
}

/// Fill both workspaces and time the calls, interleaved.
pub fn measure(bin: &Path, warmup: usize, runs: usize) -> Result<Scale, String> {
    let fx = Fixture::create_keeping(bin.to_path_buf(), 2 * SIZES[1])?;
    let mut workspaces = Vec::new();
    for size in SIZES {
        let name = format!("scale-{size}");
        let workspace = fx.add_workspace(&name)?;
        eprintln!("bgjobs-bench: scale: recording {size} finished jobs…");
        fx.populate_copies(&workspace, size)?;
        workspaces.push(workspace);
    }
    crate::start_notifier(&fx)?;
    eprintln!("bgjobs-bench: scale ({warmup} warm-up + {runs} runs)…");
    let run_b = |workspace: &Path| -> Result<std::time::Duration, String> {
        let mut run = fx.bgjobs_in(workspace, &["run", "-b", "--", "true"]);
        let (took, out) = measure::time_success(&mut run)?;
        // Untimed: its worker is done before the next sample.
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        measure::time_success(&mut fx.bgjobs_in(workspace, &["wait", &id]))?;
        Ok(took)
    };
    let status = |workspace: &Path| -> Result<std::time::Duration, String> {
        let mut cmd = fx.bgjobs_in(workspace, &["status", "--json"]);
        measure::time_success(&mut cmd).map(|(took, _)| took)
    };
    let (small, big) = (&workspaces[0], &workspaces[1]);
    let mut probes = [
        Probe::new("run -b at 1,000", || run_b(small)),
        Probe::new("run -b at 100,000", || run_b(big)),
        Probe::new("status at 1,000", || status(small)),
        Probe::new("status at 100,000", || status(big)),
    ];
    let samples = measure::interleaved(&mut probes, warmup, runs)?;
    let mut samples = samples.into_iter().map(|s| measure::millis(&s));
    let mut next = || samples.next().unwrap_or_default();
    Ok(Scale {
        run_b: [next(), next()],
        status: [next(), next()],
    })
}

/// The table's rows: each call at 1,000, then at 100,000 against it.
pub fn rows(scale: Scale) -> Vec<Row> {
    let [run_small, run_big] = scale.run_b;
    let [status_small, status_big] = scale.status;
    let mut rows = Vec::new();
    for (keys, call, small, big) in [
        (
            ["scale_run_b_1000", "scale_run_b_100000"],
            "`bgjobs run -b -- true`",
            run_small,
            run_big,
        ),
        (
            ["scale_status_1000", "scale_status_100000"],
            "`bgjobs status --json`",
            status_small,
            status_big,
        ),
    ] {
        let base = Row::new(
            keys[0],
            format!("{call}, 1,000 finished jobs (scale)"),
            Unit::Millis,
            small,
        );
        let median = base.stats.median;
        let row = Row::new(
            keys[1],
            format!("{call}, 100,000 finished jobs"),
            Unit::Millis,
            big,
        )
        .against("the same at 1,000", median);
        let target = Target::ratio_at_most(&row, RATIO);
        rows.extend([base, row.target(target)]);
    }
    rows
}

/// How to read the rows.
pub fn notes(warmup: usize, runs: usize) -> Vec<String> {
    vec![format!(
        "Scale: one state root with `keep_finished = 200,000`, a workspace of 1,000 and one of \
         100,000 finished, delivered jobs (one recorded through the store library, the rest \
         copies of its record renumbered, the index then rebuilt by the store from them); \
         `run -b -- true` (each job waited for, untimed) and `status --json` in both, {warmup} \
         warm-up + {runs} samples interleaved. Target: the 100,000 median ≤ {RATIO}× the 1,000 \
         one."
    )]
}
