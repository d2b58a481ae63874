//! Job control on the clock: how soon a queued job starts once a slot
//! frees, how soon `wait --ready` returns once the ready line is written,
//! and what `run -b --queue` costs when the queue is full.
//!
//! The two delays are measured like the completion latency ([`crate::latency`]),
//! with one system-wide clock read in different processes, and set against
//! the same relay floor, measured interleaved with them:
//!
//! - **slot freed → next started**: queue `one` has a limit of 1. Job A (the
//!   bench's stamped command, blocked on a FIFO) runs; job B waits. The bench
//!   releases A, whose command writes the clock and exits; B's command
//!   ([`START_FLAG`]) writes the clock as its first act. The delay is the
//!   difference: A's worker recording the end, starting B's worker under the
//!   lock, B's worker starting B's command.
//! - **line → `wait --ready` returned**: a job with `--ready '^ready$'` whose
//!   command ([`READY_FLAG`]) blocks on a FIFO, then writes the clock, prints
//!   `ready` and blocks again; `bgjobs wait --ready ID` is connected to the
//!   notifier and asleep. The delay runs to the moment the bench has reaped
//!   `wait`.
//!
//! The cost row times `run -b --queue full -- true` into a queue whose one
//! slot is held, interleaved with a plain `run -b -- true` (whose worker is
//! waited for, untimed, after each sample).

use std::path::Path;
use std::time::{Duration, Instant};

use bgjobs_store::Status;

use crate::fixture::Fixture;
use crate::latency::{self, platform};
use crate::measure::{self, Probe};
use crate::report::{Row, Target, Unit};

/// Hidden flag: `--stamp-start STAMP`, write the clock and exit.
pub const START_FLAG: &str = "--stamp-start";
/// Hidden flag: `--ready-line STAMP GATE HOLD`: after GATE, write the clock,
/// print `ready`, then block on HOLD.
pub const READY_FLAG: &str = "--ready-line";

/// Targets: both delays within 4 relay floors; a job into a full queue no
/// dearer than 1.2 plain `run -b`.
const DELAY_RATIO: f64 = 4.0;
const FULL_QUEUE_RATIO: f64 = 1.2;

/// The queues of this metric's state root.
const QUEUES: &str = "[queues]\none = 1\nfull = 1\n";

/// Samples, in milliseconds.
pub struct Queueing {
    /// The relay floor, interleaved with the two delays.
    pub floor: Vec<f64>,
    /// Spawning the queued job's command from the bench → its first act:
    /// what the command's own start costs, inside the slot row.
    pub start: Vec<f64>,
    /// A's command end → B's command started.
    pub slot: Vec<f64>,
    /// Ready line written → `wait --ready` returned and reaped.
    pub ready: Vec<f64>,
    /// Plain `run -b -- true`.
    pub run_b: Vec<f64>,
    /// `run -b --queue full -- true` into the full queue.
    pub full: Vec<f64>,
}

/// Measure `warmup` + `runs` rounds, in a state root of its own (the queue
/// limits are its config). `None` where the stamped commands cannot run
/// (no FIFOs or shared clock: Windows).
pub fn measure(bin: &Path, warmup: usize, runs: usize) -> Result<Option<Queueing>, String> {
    if !platform::SUPPORTED {
        return Ok(None);
    }
    let fx = Fixture::create_with(bin.to_path_buf(), 100_000, QUEUES)?;
    crate::start_notifier(&fx)?;
    eprintln!("bgjobs-bench: job control ({warmup} warm-up + {runs} runs)…");
    let exe = fx.bench_exe()?;
    let exe_s = exe.to_string_lossy().into_owned();
    let store = fx.store()?;
    let n = std::cell::Cell::new(0u32);
    let path = |kind: &str| {
        n.set(n.get() + 1);
        fx.scratch().join(format!("{kind}-{}", n.get()))
    };
    let run_id = |args: &[&str]| -> Result<u64, String> {
        let (_, out) = measure::time_success(&mut fx.bgjobs(args))?;
        let printed = String::from_utf8_lossy(&out.stdout);
        printed
            .trim()
            .parse()
            .map_err(|_| format!("`run -b` printed {:?}, not a job id", printed.trim()))
    };
    let mut probes = [
        Probe::new("relay floor", || {
            let (stamp, gate) = (path("floor.stamp"), path("floor.gate"));
            latency::relay_floor(&fx, &exe, &stamp, &gate)
        }),
        Probe::new("command start floor", || {
            let stamp = path("start.stamp");
            let mut start = fx.command(&exe);
            start.arg(START_FLAG).arg(&stamp);
            let before = platform::monotonic_ns();
            let (_, _) = measure::time_success(&mut start)?;
            let started = read_stamp(&stamp)?;
            latency::tidy(&[&stamp]);
            started
                .checked_sub(before)
                .map(Duration::from_nanos)
                .ok_or_else(|| "the command started before it was spawned".to_string())
        }),
        Probe::new("slot freed → next started", || {
            let (a_stamp, gate, b_stamp) = (path("a.stamp"), path("a.gate"), path("b.stamp"));
            platform::make_gate(&gate)?;
            let (a_s, gate_s, b_s) = (
                a_stamp.to_string_lossy().into_owned(),
                gate.to_string_lossy().into_owned(),
                b_stamp.to_string_lossy().into_owned(),
            );
            let a = run_id(&[
                "run",
                "-b",
                "--queue",
                "one",
                "--",
                &exe_s,
                latency::STAMP_FLAG,
                &a_s,
                &gate_s,
            ])?;
            latency::await_status(&store, a, |j| j.status == Status::Running)?;
            let b = run_id(&[
                "run", "-b", "--queue", "one", "--", &exe_s, START_FLAG, &b_s,
            ])?;
            latency::await_status(&store, b, |j| j.waiting)?;
            std::thread::sleep(latency::SETTLE);
            platform::release(&gate, latency::PATIENCE)?;
            let started = await_stamp(&b_stamp)?;
            let ended = read_stamp(&a_stamp)?;
            // Untimed: both done and delivered before the next sample.
            for id in [a, b] {
                latency::await_status(&store, id, |j| j.deliveries.notified_at.is_some())?;
            }
            latency::tidy(&[&a_stamp, &gate, &b_stamp]);
            started
                .checked_sub(ended)
                .map(Duration::from_nanos)
                .ok_or_else(|| "B started before A ended".to_string())
        }),
        Probe::new("line → wait --ready returned", || {
            let (stamp, gate, hold) = (path("r.stamp"), path("r.gate"), path("r.hold"));
            platform::make_gate(&gate)?;
            platform::make_gate(&hold)?;
            let (stamp_s, gate_s, hold_s) = (
                stamp.to_string_lossy().into_owned(),
                gate.to_string_lossy().into_owned(),
                hold.to_string_lossy().into_owned(),
            );
            let id = run_id(&[
                "run", "-b", "--ready", "^ready$", "--", &exe_s, READY_FLAG, &stamp_s, &gate_s,
                &hold_s,
            ])?;
            latency::await_status(&store, id, |j| j.status == Status::Running)?;
            let id_s = id.to_string();
            let mut wait = fx.bgjobs(&["wait", "--ready", &id_s, "--timeout", "30s"]);
            let mut child = latency::spawn_quiet(&mut wait)?;
            latency::await_subscriber(&fx)?;
            std::thread::sleep(latency::SETTLE);
            let end = latency::release_and_reap(&gate, &mut child)?;
            let took = latency::since_stamp(&stamp, end)?;
            // Untimed: the job ends, and its end is delivered.
            platform::release(&hold, latency::PATIENCE)?;
            latency::await_status(&store, id, |j| j.deliveries.notified_at.is_some())?;
            latency::tidy(&[&stamp, &gate, &hold]);
            Ok(took)
        }),
    ];
    let samples = measure::interleaved(&mut probes, warmup, runs)?;
    let mut samples = samples.into_iter();
    let mut next = || measure::millis(&samples.next().unwrap_or_default());
    let (floor, start, slot, ready) = (next(), next(), next(), next());

    // The full queue: its one slot held by a job blocked on a FIFO.
    let hold = fx.scratch().join("full.gate");
    platform::make_gate(&hold)?;
    let (stamp, hold_s) = (
        fx.scratch()
            .join("full.stamp")
            .to_string_lossy()
            .into_owned(),
        hold.to_string_lossy().into_owned(),
    );
    let holder = run_id(&[
        "run",
        "-b",
        "--queue",
        "full",
        "--",
        &exe_s,
        latency::STAMP_FLAG,
        &stamp,
        &hold_s,
    ])?;
    latency::await_status(&store, holder, |j| j.status == Status::Running)?;
    let mut queued = Vec::new();
    let mut probes = [
        Probe::new("run -b", || {
            let mut run = fx.bgjobs(&["run", "-b", "--", "true"]);
            let (took, out) = measure::time_success(&mut run)?;
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            measure::time_success(&mut fx.bgjobs(&["wait", &id]))?;
            Ok(took)
        }),
        Probe::new("run -b --queue full", || {
            let mut run = fx.bgjobs(&["run", "-b", "--queue", "full", "--", "true"]);
            let (took, out) = measure::time_success(&mut run)?;
            queued.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
            Ok(took)
        }),
    ];
    let samples = measure::interleaved(&mut probes, warmup, runs)?;
    drop(probes);
    let mut samples = samples.into_iter();
    let mut next = || measure::millis(&samples.next().unwrap_or_default());
    let (run_b, full) = (next(), next());
    let mut cancel = vec!["cancel", "--grace", "1s"];
    cancel.extend(queued.iter().map(String::as_str));
    measure::time_success(&mut fx.bgjobs(&cancel))?;
    platform::release(&hold, latency::PATIENCE)?;
    Ok(Some(Queueing {
        floor,
        start,
        slot,
        ready,
        run_b,
        full,
    }))
}

/// The table's rows.
pub fn rows(queueing: Option<Queueing>) -> Vec<Row> {
    let Some(q) = queueing else {
        return Vec::new();
    };
    let floor = Row::new(
        "queue_floor",
        "relay floor, interleaved with the rows below",
        Unit::Millis,
        q.floor,
    );
    let median = floor.stats.median;
    let start = Row::new(
        "queue_command_start",
        "for reference: the bench spawns the queued job's command → its first act",
        Unit::Millis,
        q.start,
    )
    .against("relay floor", median);
    let slot = Row::new(
        "queue_slot_start",
        "queue limit 1: running job's command ends → the queued job's command started",
        Unit::Millis,
        q.slot,
    )
    .against("relay floor", median);
    let slot_target = Target::ratio_at_most(&slot, DELAY_RATIO);
    let ready = Row::new(
        "ready_wait",
        "`--ready` line written → `bgjobs wait --ready ID` returned, notifier up",
        Unit::Millis,
        q.ready,
    )
    .against("relay floor", median);
    let ready_target = Target::ratio_at_most(&ready, DELAY_RATIO);
    let run_b = Row::new(
        "queue_run_b",
        "`bgjobs run -b -- true`, interleaved with the row below",
        Unit::Millis,
        q.run_b,
    );
    let full = Row::new(
        "queue_full_run_b",
        "`bgjobs run -b --queue full -- true`, the queue's one slot taken",
        Unit::Millis,
        q.full,
    )
    .against("plain run -b", run_b.stats.median);
    let full_target = Target::ratio_at_most(&full, FULL_QUEUE_RATIO);
    vec![
        floor,
        start,
        slot.target(slot_target),
        ready.target(ready_target),
        run_b,
        full.target(full_target),
    ]
}

/// How to read the rows.
pub fn notes(warmup: usize, runs: usize) -> Vec<String> {
    vec![format!(
        "Job control: {warmup} warm-up then {runs} samples each, in a state root of its own \
         with `[queues] one = 1, full = 1`. Slot → start: job A (a stamped command blocked on \
         a FIFO) runs in queue `one` and job B waits; the bench releases A, whose command \
         writes CLOCK_MONOTONIC and exits, and B's command writes CLOCK_MONOTONIC as its first \
         act. Ready: the job's command, released, writes CLOCK_MONOTONIC, prints the line its \
         `--ready` pattern matches and keeps running; the bench reads the clock when it has \
         reaped `bgjobs wait --ready`. Both against the relay floor measured interleaved with \
         them; beside them, for reference, the queued job's command spawned by the bench          itself, to its first act: the part of the slot row that is the command's own start.          The full-queue row adds a job to a queue whose one slot a blocked job holds \
         (nothing is started), against a plain `run -b` interleaved with it."
    )]
}

/// Poll for `stamp` to hold a clock reading; the reading.
fn await_stamp(stamp: &Path) -> Result<u64, String> {
    let start = Instant::now();
    loop {
        crate::interrupt::check()?;
        if let Ok(value) = read_stamp(stamp) {
            return Ok(value);
        }
        if start.elapsed() > latency::PATIENCE {
            return Err(format!(
                "no stamp at {} after {:?}",
                stamp.display(),
                latency::PATIENCE
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn read_stamp(stamp: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(stamp).map_err(|e| e.to_string())?;
    text.trim()
        .parse()
        .map_err(|_| format!("bad stamp {text:?} in {}", stamp.display()))
}

/// Entry point of the hidden `--stamp-start STAMP` mode. The clock is read
/// first, then written with one `write` to a new file renamed into place, so
/// that a reader never sees half a number.
pub fn start_main(args: &[String]) -> std::process::ExitCode {
    let now = platform::monotonic_ns();
    let result = (|| {
        let [stamp] = args else {
            return Err(format!("usage: {START_FLAG} STAMP"));
        };
        write_stamp(Path::new(stamp), now)
    })();
    latency::exit_with(result)
}

/// Entry point of the hidden `--ready-line STAMP GATE HOLD` mode.
pub fn ready_main(args: &[String]) -> std::process::ExitCode {
    let result = (|| {
        let [stamp, gate, hold] = args else {
            return Err(format!("usage: {READY_FLAG} STAMP GATE HOLD"));
        };
        let mut out = std::fs::File::create(stamp).map_err(|e| format!("{stamp}: {e}"))?;
        platform::await_gate(Path::new(gate))?;
        let now = platform::monotonic_ns();
        std::io::Write::write_all(&mut out, now.to_string().as_bytes())
            .map_err(|e| format!("{stamp}: {e}"))?;
        let mut stdout = std::io::stdout().lock();
        std::io::Write::write_all(&mut stdout, b"ready\n")
            .and_then(|()| std::io::Write::flush(&mut stdout))
            .map_err(|e| format!("stdout: {e}"))?;
        platform::await_gate(Path::new(hold))
    })();
    latency::exit_with(result)
}

fn write_stamp(stamp: &Path, now: u64) -> Result<(), String> {
    let part = stamp.with_extension("part");
    std::fs::write(&part, now.to_string()).map_err(|e| format!("{}: {e}", part.display()))?;
    std::fs::rename(&part, stamp).map_err(|e| format!("{}: {e}", stamp.display()))
}
