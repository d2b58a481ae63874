//! `cargo run --release -p bgjobs-bench -- [--runs N] [--json PATH] [--quick]`:
//! the performance report of bgjobs.
//!
//! It builds the release binary, records thousands of finished jobs in a
//! private state root, starts the notifier, and measures, each against a
//! floor taken in the same run:
//! - the calls an agent makes most (`run -b`, `status --json`), here;
//! - how soon `bgjobs wait` returns after a job's command ends ([`latency`]);
//! - what the notifier costs while idle, memory and CPU ([`idle`]);
//! - the Claude Code hooks' process time ([`hooks`]);
//! - many processes updating one record at once ([`contention`]);
//! - a batch of jobs started back to back until all are done ([`throughput`]);
//! - queued jobs starting as slots free, readiness, a full queue ([`queueing`]);
//! - the durable writes of one job's life, traced ([`durable`]).
//!
//! The floors are there because these machines are shared and noisy: a
//! ratio to `/bin/true` (or the like) measured alongside means more than an
//! absolute number.
//!
//! Adding a metric: a per-call timing is one more [`measure::Probe`] in
//! [`bench()`] (it is interleaved with the others automatically) and one more
//! [`report::Row`]; anything with its own protocol gets its own module that
//! returns samples, its rows and its notes.

mod bound;
mod contention;
mod durable;
mod fixture;
mod hooks;
mod idle;
mod interrupt;
mod latency;
mod machine;
mod measure;
mod pueue;
mod queueing;
mod report;
mod scale;
mod throughput;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use bgjobs_store::fsio;

use crate::fixture::Fixture;
use crate::machine::{Machine, PressureClock};
use crate::measure::{millis, Probe, Stats};
use crate::pueue::Pueue;
use crate::report::{Report, Row, Target, Unit};

/// Hidden flag: exit at once (the process floor on Windows, which has no
/// `/bin/true`).
pub const NOOP_FLAG: &str = "--noop";

/// Targets on the reference machine (2 cores): an agent's hook or tool call
/// must not be held up noticeably by bgjobs, even on a long-lived workspace.
/// Targets, as ratios to floors measured in the same run: `run -b` against
/// the enqueue floor, `status` at the big size against `/bin/true`.
const RUN_B_RATIO: f64 = 1.6;
const STATUS_RATIO: f64 = 25.0;

/// How long the bench waits for the records it made to settle (see the
/// store's summary).
const RECORDS_SETTLE: Duration = Duration::from_secs(6);

/// The middle workspace size for `run -b` and `status` (the big one is
/// `--jobs`, the small one empty).
const MID_JOBS: usize = 1_000;

/// Contention shape: enough processes to exceed the cores several times over
/// (so the lock is really contended, including by preempted holders).
const CONTENDERS: usize = 8;
const UPDATES_PER_CONTENDER: usize = 500;

const USAGE: &str = "\
usage: cargo run --release -p bgjobs-bench -- [--runs N] [--json PATH] [--quick]
                                                [--markdown PATH] [--jobs N] [--rounds N]

  --runs N     timed samples per metric after the warm-up (default 30; --quick 10)
  --json PATH  also write the report, with every sample, as JSON
  --markdown PATH
               also write the Markdown table (as printed on stdout) to PATH,
               for the README's \"Performance\" section
  --quick      a smaller workspace and fewer runs, for iterating: also a 3 s
               notifier idle window (else 10 s) and 1 throughput round of
               100 jobs (else 3 rounds of 1,000)
  --jobs N     finished jobs in the big workspace (default 10000; --quick
               1000); `run -b` and `status` are also timed in an empty one
               and one of 1,000 (or N/10 when N <= 1,000)
  --rounds N   contention rounds (default 5; --quick 2)
  --only job-control | durable-writes | scale | hooks | wait | throughput
               measure only the job-control rows (queue slot → start, ready
               line → wait --ready, a full queue), only the durable writes
               of one job (strace), only `run -b` and `status` with
               100,000 finished jobs against 1,000, only the hook events,
               only command end → `wait` (in an empty workspace) or only
               throughput, for iterating on them

The private state root is made under the temp directory ($TMPDIR), so its file
system decides the cost of every fsync; TMPDIR=/dev/shm takes fsync out of the
picture for an A/B comparison.

Exit status: 0 when the report was produced (met or missed targets alike),
1 when the bench itself failed, 2 for a usage error.";

/// A section measured on its own (`--only`).
#[derive(Debug, Clone, Copy)]
enum Only {
    JobControl,
    DurableWrites,
    Scale,
    Hooks,
    Wait,
    Throughput,
}

/// The command line.
#[derive(Debug)]
struct Options {
    runs: usize,
    jobs: usize,
    rounds: usize,
    warmup: usize,
    /// The notifier's idle window.
    idle_window: Duration,
    /// Jobs per throughput round, and rounds.
    throughput_jobs: usize,
    throughput_rounds: usize,
    /// The retention bounds measured (`--quick`: only the default's).
    bounds: &'static [usize],
    json: Option<PathBuf>,
    markdown: Option<PathBuf>,
    /// `--only SECTION`: that section alone.
    only: Option<Only>,
    /// The arguments as given, for the report.
    given: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut quick = false;
        let (mut runs, mut jobs, mut rounds, mut json) = (None, None, None, None);
        let mut markdown = None;
        let mut only = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            let count = |name: &str, text: String| match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name}: expected a positive number, got {text:?}")),
            };
            match arg.as_str() {
                "--quick" => quick = true,
                "--runs" => runs = Some(count("--runs", value("--runs")?)?),
                "--jobs" => jobs = Some(count("--jobs", value("--jobs")?)?),
                "--rounds" => rounds = Some(count("--rounds", value("--rounds")?)?),
                "--json" => json = Some(PathBuf::from(value("--json")?)),
                "--markdown" => markdown = Some(PathBuf::from(value("--markdown")?)),
                "--only" => {
                    only = Some(match value("--only")?.as_str() {
                        "job-control" => Only::JobControl,
                        "durable-writes" => Only::DurableWrites,
                        "scale" => Only::Scale,
                        "hooks" => Only::Hooks,
                        "wait" => Only::Wait,
                        "throughput" => Only::Throughput,
                        other => return Err(format!("--only: unknown metric {other:?}")),
                    })
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Self {
            runs: runs.unwrap_or(if quick { 10 } else { 30 }),
            jobs: jobs.unwrap_or(if quick { 1_000 } else { 10_000 }),
            rounds: rounds.unwrap_or(if quick { 2 } else { 5 }),
            warmup: if quick { 1 } else { 3 },
            idle_window: Duration::from_secs(if quick { 3 } else { 10 }),
            throughput_jobs: if quick { 100 } else { 1_000 },
            throughput_rounds: if quick { 1 } else { 3 },
            bounds: if quick {
                &bound::BOUNDS[..1]
            } else {
                &bound::BOUNDS[..]
            },
            json,
            markdown,
            only,
            given: args.to_vec(),
        })
    }

    /// The middle workspace size: 1,000, or a tenth of a small `--jobs`.
    fn mid_jobs(&self) -> usize {
        if self.jobs > MID_JOBS {
            MID_JOBS
        } else {
            (self.jobs / 10).max(1)
        }
    }

    /// How to reproduce this run.
    fn command_line(&self) -> String {
        let mut text = "cargo run --release -p bgjobs-bench --".to_string();
        for arg in &self.given {
            text.push(' ');
            text.push_str(arg);
        }
        text
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(contention::CONTENDER_FLAG) => return contention::contender_main(&args[2..]),
        Some(NOOP_FLAG) => return ExitCode::SUCCESS,
        Some(latency::STAMP_FLAG) => return latency::stamp_main(&args[2..]),
        Some(latency::RELAY_FLAG) => return latency::relay_main(&args[2..]),
        Some(hooks::SLEEP_FLAG) => return hooks::sleep_main(&args[2..]),
        Some(queueing::START_FLAG) => return queueing::start_main(&args[2..]),
        Some(queueing::READY_FLAG) => return queueing::ready_main(&args[2..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let options = match Options::parse(&args[1..]) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bgjobs-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&options) {
        Ok(report) => {
            let markdown = report.markdown();
            print!("{markdown}");
            if let Some(path) = &options.markdown {
                if let Err(e) = std::fs::write(path, &markdown) {
                    eprintln!("bgjobs-bench: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("bgjobs-bench: wrote {}", path.display());
            }
            if let Some(path) = &options.json {
                if let Err(e) = report.write_json(path) {
                    eprintln!("bgjobs-bench: {e}");
                    return ExitCode::FAILURE;
                }
                eprintln!("bgjobs-bench: wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(_) if interrupt::requested() => {
            eprintln!("bgjobs-bench: interrupted; its processes and files are cleaned up");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("bgjobs-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Build, prepare, measure. The fixture is dropped (processes ended, files
/// removed) on every way out of here, error or not.
fn bench(options: &Options) -> Result<Report, String> {
    interrupt::install();
    let bin = build_release()?;
    let fx = Fixture::create(bin.clone())?;
    let machine = Machine::detect(fx.dir());
    if let Some(only) = options.only {
        let pressure = PressureClock::start();
        let (notes, rows) = match only {
            Only::Scale => {
                let scale = scale::measure(&bin, options.warmup, options.runs)?;
                (
                    scale::notes(options.warmup, options.runs),
                    scale::rows(scale),
                )
            }
            Only::DurableWrites => {
                start_notifier(&fx)?;
                let durable = durable::measure(&fx)?;
                (durable::notes(durable.as_ref()), durable::rows(durable))
            }
            Only::Hooks => {
                start_notifier(&fx)?;
                let hooks = hooks::measure(&fx, options.warmup, options.runs)?;
                (
                    hooks::notes(options.warmup, options.runs),
                    hooks::rows(hooks),
                )
            }
            Only::Wait => {
                start_notifier(&fx)?;
                let latency = latency::measure(&fx, options.warmup, options.runs)?;
                (
                    latency::notes(latency.as_ref(), options.warmup, options.runs),
                    latency::rows(latency, "0"),
                )
            }
            Only::Throughput => {
                start_notifier(&fx)?;
                let throughput =
                    throughput::measure(&fx, options.throughput_jobs, options.throughput_rounds)?;
                (throughput::notes(&throughput), throughput::rows(throughput))
            }
            Only::JobControl => {
                let queueing = queueing::measure(&bin, options.warmup, options.runs)?;
                let notes = match queueing {
                    Some(_) => queueing::notes(options.warmup, options.runs),
                    None => vec!["Job control: not measured on this platform.".into()],
                };
                (notes, queueing::rows(queueing))
            }
        };
        return Ok(Report {
            machine,
            pressure: pressure.stop(),
            command: options.command_line(),
            binary: bin.display().to_string(),
            jobs: 0,
            populate_seconds: 0.0,
            warmup: options.warmup,
            runs: options.runs,
            rounds: 0,
            rows,
            notes,
        });
    }

    eprintln!("bgjobs-bench: recording {} finished jobs…", options.jobs);
    let populated = fx.populate(options.jobs)?;
    check_listing(&fx, fx.workspace(), options.jobs)?;
    let mid = options.mid_jobs();
    let workspaces = Workspaces {
        empty: fx.add_workspace("calls-empty")?,
        mid: fx.add_workspace("calls-mid")?,
    };
    fx.populate_at(&workspaces.mid, mid)?;
    check_listing(&fx, &workspaces.mid, mid)?;
    start_notifier(&fx)?;
    // `status --all` takes a finished job from the store's summary once its
    // record has been unchanged for 5 s: let the jobs just recorded settle,
    // as the old jobs of a long-lived workspace are.
    std::thread::sleep(RECORDS_SETTLE);

    let pueue = Pueue::find();
    let peers = match &pueue {
        Some(pueue) => Some(Peers::start(&fx, pueue, mid, options.jobs)?),
        None => None,
    };

    let pressure = PressureClock::start();
    let calls = time_calls(&fx, &workspaces, peers.as_ref(), options)?;
    let peers_note = peers.as_ref().map(|p| p.note());
    // Their daemons end here: nothing of pueue runs during the rest.
    drop(peers);
    let latency = latency::measure(&fx, options.warmup, options.runs)?;
    // Right after the latency metric: the notifier has just served jobs.
    let idle = idle::measure(&fx, options.idle_window, options.runs)?;
    let hooks = hooks::measure(&fx, options.warmup, options.runs)?;
    let contention = time_contention(&fx, options.rounds)?;
    let mut waits = Settled::default();
    waits.settle("throughput");
    let throughput = throughput::measure(&fx, options.throughput_jobs, options.throughput_rounds)?;
    waits.settle("the retention bound");
    let at_bound = bound::measure(
        &bin,
        options.bounds,
        options.warmup,
        options.runs,
        options.throughput_jobs,
    )?;
    waits.settle("job control");
    let queueing = queueing::measure(&bin, options.warmup, options.runs)?;
    let durable = durable::measure(&fx)?;
    waits.settle("scale");
    let scale = scale::measure(&bin, options.warmup, options.runs)?;
    let pressure = pressure.stop();

    let jobs = format_count(options.jobs);
    let (mut rows, contention_rows) = rows(&fx, options, calls, contention);
    let mut notes = notes(options);
    notes.push(match (&pueue, peers_note) {
        (Some(pueue), Some(note)) => format!(
            "Peer: {} (`pueue`/`pueued` found on PATH). {note}",
            pueue.version()
        ),
        _ => "Peer: pueue is not installed (no `pueue`/`pueued` pair on PATH), so the pueue \
              rows are not measured."
            .into(),
    });
    notes.extend(latency::notes(
        latency.as_ref(),
        options.warmup,
        options.runs,
    ));
    notes.extend(idle::notes(&idle));
    notes.extend(hooks::notes(options.warmup, options.runs));
    notes.extend(throughput::notes(&throughput));
    notes.extend(bound::notes(options.warmup, options.runs));
    if queueing.is_some() {
        notes.extend(queueing::notes(options.warmup, options.runs));
    }
    notes.extend(durable::notes(durable.as_ref()));
    notes.extend(scale::notes(options.warmup, options.runs));
    notes.push(waits.note());
    rows.extend(latency::rows(latency, &jobs));
    rows.extend(idle::rows(idle));
    rows.extend(hooks::rows(hooks));
    rows.extend(throughput::rows(throughput));
    rows.extend(bound::rows(at_bound));
    rows.extend(queueing::rows(queueing));
    rows.extend(durable::rows(durable));
    rows.extend(scale::rows(scale));
    rows.extend(contention_rows);

    Ok(Report {
        machine,
        pressure,
        command: options.command_line(),
        binary: bin.display().to_string(),
        jobs: options.jobs,
        populate_seconds: populated.as_secs_f64(),
        warmup: options.warmup,
        runs: options.runs,
        rounds: options.rounds,
        rows,
        notes,
    })
}

/// The waits for a quiet machine before the sections that follow work
/// with a long tail (see [`machine::settle`]).
#[derive(Default)]
struct Settled {
    waits: Vec<(&'static str, Duration, bool)>,
}

impl Settled {
    /// Wait for quiet before `section`.
    fn settle(&mut self, section: &'static str) {
        let (waited, quiet) = machine::settle();
        self.waits.push((section, waited, quiet));
    }

    /// What the waits were, for the notes.
    fn note(&self) -> String {
        let waits: Vec<String> = self
            .waits
            .iter()
            .map(|(section, waited, quiet)| {
                let found = if *quiet { "" } else { ", never quiet" };
                format!("{section} {:.1} s{found}", waited.as_secs_f64())
            })
            .collect();
        format!(
            "Before each section with a long tail of work behind it, the bench writes the \
             dirty data back (`sync`), then waits until under {:.0} % of the CPU is busy or \
             waiting for I/O over {} ms (at most {} s): {}.",
            machine::QUIET_SHARE * 100.0,
            machine::QUIET_WINDOW.as_millis(),
            machine::QUIET_LIMIT.as_secs(),
            waits.join(", ")
        )
    }
}

/// The workspaces besides the big one (`--jobs` finished jobs) that `run -b`
/// and `status` are timed in.
struct Workspaces {
    /// No jobs at first (each `run -b` sample adds one).
    empty: PathBuf,
    /// [`Options::mid_jobs`] finished jobs.
    mid: PathBuf,
}

/// Private pueue daemons with as many finished tasks as the bgjobs
/// workspaces hold: none, the middle size and the big size.
struct Peers<'a> {
    version: String,
    empty: pueue::Daemon<'a>,
    mid: pueue::Daemon<'a>,
    full: pueue::Daemon<'a>,
    /// How long preparing them took.
    took: Duration,
}

impl<'a> Peers<'a> {
    fn start(fx: &'a Fixture, pueue: &'a Pueue, mid: usize, full: usize) -> Result<Self, String> {
        eprintln!(
            "bgjobs-bench: preparing pueue daemons with 0, {} and {} finished tasks…",
            format_count(mid),
            format_count(full)
        );
        let start = Instant::now();
        let empty = pueue::Daemon::start(fx, pueue, "0", 0)?;
        let mid = pueue::Daemon::start(fx, pueue, "mid", mid)?;
        let full = pueue::Daemon::start(fx, pueue, "full", full)?;
        Ok(Self {
            version: pueue.version(),
            empty,
            mid,
            full,
            took: start.elapsed(),
        })
    }

    fn note(&self) -> String {
        format!(
            "Three private `pueued` (each its own config, state and Unix socket in the scratch \
             directory; never the user's daemon) hold 0, the middle and the big number of \
             finished tasks, like the bgjobs workspaces; filled by running one `true` task, \
             shutting the daemon down, writing its `state.json` with that task's record copied \
             and renumbered, and restarting it (checked: `status` lists them all, done) — \
             `pueue add` in a loop is O(n) per task, as the daemon rewrites its whole state \
             file on every change. Ready in {:.1} s. `pueue add` samples are timed spawn to \
             exit, then (untimed) `pueue log ID --json` is polled until the task is done, as \
             `run -b` samples wait for their worker. `pueue status --json` always lists every \
             task, so its like is `bgjobs status --all --json`; `bgjobs status --json` (what an \
             agent calls) lists the active jobs and the 20 most recent finished ones. Ratio of \
             a pueue row: pueue's median ÷ bgjobs' counterpart's. The {} daemons are shut down \
             right after these metrics.",
            self.took.as_secs_f64(),
            self.version
        )
    }
}

/// Samples of the per-call metrics, in milliseconds; the pueue ones empty
/// when it is not installed, the enqueue floor empty without a POSIX shell.
struct Calls {
    floor: Vec<f64>,
    enqueue_floor: Vec<f64>,
    version: Vec<f64>,
    write: Vec<f64>,
    /// `run -b` in the empty, middle and big workspace.
    run_b: [Vec<f64>; 3],
    /// `status --json` in the middle and big workspace.
    status: [Vec<f64>; 2],
    /// `status --all --json` in the middle and big workspace.
    status_all: [Vec<f64>; 2],
    /// `pueue add` with 0, middle and big numbers of finished tasks.
    pueue_add: [Vec<f64>; 3],
    /// `pueue status --json`, middle and big.
    pueue_status: [Vec<f64>; 2],
}

/// Time the calls an agent makes, interleaved, with their floors and peers.
fn time_calls(
    fx: &Fixture,
    workspaces: &Workspaces,
    peers: Option<&Peers<'_>>,
    options: &Options,
) -> Result<Calls, String> {
    eprintln!(
        "bgjobs-bench: timing ({} warm-up + {} runs each)…",
        options.warmup, options.runs
    );
    let record = sample_record(fx)?;
    let scratch = fx.scratch();
    let sized: [&Path; 3] = [&workspaces.empty, &workspaces.mid, fx.workspace()];
    let run_b = |workspace: &Path| {
        let (took, out) =
            measure::time_success(&mut fx.bgjobs_in(workspace, &["run", "-b", "--", "true"]))?;
        let printed = String::from_utf8_lossy(&out.stdout);
        if printed.trim().parse::<u64>().is_err() {
            return Err(format!("expected a job id, got {:?}", printed.trim()));
        }
        fx.wait_all_in(workspace)?;
        Ok(took)
    };
    let status = |workspace: &Path, args: &[&str]| {
        measure::time_success(&mut fx.bgjobs_in(workspace, args)).map(|(took, _)| took)
    };
    let pueue_add = |daemon: &pueue::Daemon<'_>| {
        let (took, id) = daemon.add_timed(&["true"])?;
        daemon.await_done(id)?;
        Ok(took)
    };
    let pueue_status = |daemon: &pueue::Daemon<'_>| {
        measure::time_success(&mut daemon.client(&["status", "--json"])).map(|(took, _)| took)
    };

    let mut probes = vec![
        Probe::new("floor", || {
            measure::time_success(&mut fx.floor()).map(|(took, _)| took)
        }),
        Probe::new("bgjobs --version", || {
            measure::time_success(&mut fx.bgjobs(&["--version"])).map(|(took, _)| took)
        }),
        Probe::new("record write", || {
            let start = Instant::now();
            fsio::write_atomic(&scratch, "record.json", &record)
                .map_err(|e| format!("cannot write a record: {e}"))?;
            Ok(start.elapsed())
        }),
        Probe::new("run -b (empty)", || run_b(sized[0])),
        Probe::new("run -b (middle)", || run_b(sized[1])),
        Probe::new("run -b (big)", || run_b(sized[2])),
        Probe::new("status --json (middle)", || {
            status(sized[1], &["status", "--json"])
        }),
        Probe::new("status --json (big)", || {
            status(sized[2], &["status", "--json"])
        }),
        Probe::new("status --all --json (middle)", || {
            status(sized[1], &["status", "--all", "--json"])
        }),
        Probe::new("status --all --json (big)", || {
            status(sized[2], &["status", "--all", "--json"])
        }),
    ];
    let has_enqueue_floor = fx.enqueue_floor().is_some();
    if has_enqueue_floor {
        probes.push(Probe::new("enqueue floor", || {
            let mut cmd = fx.enqueue_floor().ok_or("no POSIX shell")?;
            measure::time_success(&mut cmd).map(|(took, _)| took)
        }));
    }
    if let Some(peers) = peers {
        probes.push(Probe::new("pueue add (empty)", || pueue_add(&peers.empty)));
        probes.push(Probe::new("pueue add (middle)", || pueue_add(&peers.mid)));
        probes.push(Probe::new("pueue add (big)", || pueue_add(&peers.full)));
        probes.push(Probe::new("pueue status --json (middle)", || {
            pueue_status(&peers.mid)
        }));
        probes.push(Probe::new("pueue status --json (big)", || {
            pueue_status(&peers.full)
        }));
    }
    let samples = measure::interleaved(&mut probes, options.warmup, options.runs)?;
    drop(probes);
    let mut samples = samples.into_iter().map(|s| millis(&s));
    let mut next = || samples.next().unwrap_or_default();
    let floor = next();
    let version = next();
    let write = next();
    let run_b = [next(), next(), next()];
    let status = [next(), next()];
    let status_all = [next(), next()];
    let enqueue_floor = if has_enqueue_floor {
        next()
    } else {
        Vec::new()
    };
    let (pueue_add, pueue_status) = if peers.is_some() {
        ([next(), next(), next()], [next(), next()])
    } else {
        Default::default()
    };
    Ok(Calls {
        floor,
        enqueue_floor,
        version,
        write,
        run_b,
        status,
        status_all,
        pueue_add,
        pueue_status,
    })
}

/// Samples of the contention rounds.
struct Contention {
    /// Updates per second with all contenders.
    rates: Vec<f64>,
    /// Updates per second of one process alone.
    alone: Vec<f64>,
    /// Wall time of a contended round, milliseconds.
    walls: Vec<f64>,
    /// Lost updates per round (contended and alone together).
    lost: Vec<f64>,
}

/// One warm-up round, then `rounds` rounds, each of one process alone and
/// then all contenders, so both see the same disk and load conditions.
fn time_contention(fx: &Fixture, rounds: usize) -> Result<Contention, String> {
    eprintln!(
        "bgjobs-bench: contention ({CONTENDERS} × {UPDATES_PER_CONTENDER}, 1 warm-up + {rounds} rounds)…"
    );
    let mut out = Contention {
        rates: Vec::new(),
        alone: Vec::new(),
        walls: Vec::new(),
        lost: Vec::new(),
    };
    for round in 0..=rounds {
        interrupt::check()?;
        let peer = contention::round(fx, 1, UPDATES_PER_CONTENDER)?;
        let contended = contention::round(fx, CONTENDERS, UPDATES_PER_CONTENDER)?;
        if round == 0 {
            continue;
        }
        out.alone.push(peer.rate());
        out.rates.push(contended.rate());
        out.walls.push(contended.wall.as_secs_f64() * 1e3);
        out.lost.push((contended.lost + peer.lost) as f64);
    }
    Ok(out)
}

/// The table's rows, with their floors and targets: the per-call ones, and
/// the contention ones (kept apart so that they can close the table).
fn rows(
    fx: &Fixture,
    options: &Options,
    calls: Calls,
    contention: Contention,
) -> (Vec<Row>, Vec<Row>) {
    let sizes = [0, options.mid_jobs(), options.jobs].map(format_count);
    let floor_name = fx.floor_name();
    let floor = Row::new(
        "floor",
        format!("process floor: `{floor_name}`"),
        Unit::Millis,
        calls.floor,
    );
    let floor_median = floor.stats.median;
    let mut out = vec![floor];
    // `run -b` is measured against the enqueue floor where there is one.
    let (enqueue_name, enqueue_median) = if calls.enqueue_floor.is_empty() {
        (floor_name.clone(), floor_median)
    } else {
        let row = Row::new(
            "enqueue_floor",
            format!("enqueue floor: `sh -c '{}'`", fixture::ENQUEUE_FLOOR_SCRIPT),
            Unit::Millis,
            calls.enqueue_floor,
        )
        .against(&floor_name, floor_median);
        let median = row.stats.median;
        out.push(row);
        ("enqueue floor".to_string(), median)
    };
    out.push(
        Row::new(
            "bgjobs_version",
            "binary floor: `bgjobs --version`",
            Unit::Millis,
            calls.version,
        )
        .against(&floor_name, floor_median),
    );
    out.push(Row::new(
        "record_write",
        "store floor: one fsync'd record write, in-process",
        Unit::Millis,
        calls.write,
    ));

    let pueue_measured = !calls.pueue_add[0].is_empty();
    const RUN_B_KEYS: [&str; 3] = ["run_b_0", "run_b_mid", "run_b"];
    const PUEUE_ADD_KEYS: [&str; 3] = ["pueue_add_0", "pueue_add_mid", "pueue_add"];
    let [run_b0, run_b1, run_b2] = calls.run_b;
    let [add0, add1, add2] = calls.pueue_add;
    let mut run_b_medians = [0.0; 3];
    for (i, (samples, add)) in [(run_b0, add0), (run_b1, add1), (run_b2, add2)]
        .into_iter()
        .enumerate()
    {
        let mut row = Row::new(
            RUN_B_KEYS[i],
            format!("`bgjobs run -b -- true` ({} finished jobs)", sizes[i]),
            Unit::Millis,
            samples,
        )
        .against(&enqueue_name, enqueue_median);
        run_b_medians[i] = row.stats.median;
        let target = Target::ratio_at_most(&row, RUN_B_RATIO);
        row = row.target(target);
        out.push(row);
        if pueue_measured {
            let add = Row::new(
                PUEUE_ADD_KEYS[i],
                format!("peer: `pueue add -p -- true` ({} finished tasks)", sizes[i]),
                Unit::Millis,
                add,
            )
            .against(format!("bgjobs run -b ({})", sizes[i]), run_b_medians[i]);
            // pueue slower than bgjobs: a ratio above 1.
            let faster = add.ratio.is_some_and(|r| r > 1.0);
            out.push(add.target(Target::custom("bgjobs run -b faster (ratio > 1×)", faster)));
        }
    }

    const STATUS_KEYS: [&str; 2] = ["status_json_mid", "status_json"];
    const STATUS_ALL_KEYS: [&str; 2] = ["status_all_json_mid", "status_all_json"];
    const PUEUE_STATUS_KEYS: [&str; 2] = ["pueue_status_json_mid", "pueue_status_json"];
    let [status1, status2] = calls.status;
    let [all1, all2] = calls.status_all;
    let [pueue1, pueue2] = calls.pueue_status;
    for (i, (status, all, pueue)) in [(status1, all1, pueue1), (status2, all2, pueue2)]
        .into_iter()
        .enumerate()
    {
        let size = &sizes[i + 1];
        let pueue_median = pueue_measured.then(|| Stats::of(&pueue).median);
        let mut row = Row::new(
            STATUS_KEYS[i],
            format!("`bgjobs status --json` ({size} jobs; active + 20 most recent)"),
            Unit::Millis,
            status,
        )
        .against(&floor_name, floor_median);
        if i == 1 {
            let ratio = Target::ratio_at_most(&row, STATUS_RATIO);
            let target = match pueue_median {
                Some(pueue) => Target::custom(
                    format!("{} and < pueue status --json ({size})", ratio.text),
                    ratio.met && row.stats.median < pueue,
                ),
                None => Target::custom(
                    format!("{} (pueue absent: not compared)", ratio.text),
                    ratio.met,
                ),
            };
            row = row.target(target);
        }
        out.push(row);
        let mut all = Row::new(
            STATUS_ALL_KEYS[i],
            format!("`bgjobs status --all --json` ({size} jobs; every job)"),
            Unit::Millis,
            all,
        )
        .against(&floor_name, floor_median);
        if i == 1 {
            let target = Target::ratio_at_most(&all, STATUS_RATIO);
            all = all.target(target);
        }
        let all_median = all.stats.median;
        out.push(all);
        if pueue_measured {
            out.push(
                Row::new(
                    PUEUE_STATUS_KEYS[i],
                    format!("peer: `pueue status --json` ({size} finished tasks; every task)"),
                    Unit::Millis,
                    pueue,
                )
                .against(format!("bgjobs status --all ({size})"), all_median),
            );
        }
    }
    if !pueue_measured {
        out.push(Row::new(
            "pueue_absent",
            "peer: pueue — not on PATH (`pueue` + `pueued`), not measured",
            Unit::Millis,
            Vec::new(),
        ));
    }

    let alone = Row::new("contention_alone", "", Unit::PerSecond, contention.alone);
    let rate = Row::new(
        "contention_rate",
        format!("contention: updates/s, {CONTENDERS} processes × {UPDATES_PER_CONTENDER}"),
        Unit::PerSecond,
        contention.rates,
    )
    .against("1 process alone", alone.stats.median);
    let rate_target = Target::ratio_at_least(&rate, 1.0);
    let rate = rate.target(rate_target);
    let wall = Row::new(
        "contention_wall",
        format!(
            "contention: wall time of {} updates",
            format_count(CONTENDERS * UPDATES_PER_CONTENDER)
        ),
        Unit::Millis,
        contention.walls,
    );
    let lost = Row::new(
        "contention_lost",
        "contention: lost updates",
        Unit::Count,
        contention.lost,
    );
    let lost_target = Target::all_at_most(&lost.stats, 0.0, Unit::Count);

    (out, vec![rate, wall, lost.target(lost_target)])
}

/// How to read the table.
fn notes(options: &Options) -> Vec<String> {
    vec![
        format!(
            "Per-call metrics: {} warm-up then {} timed samples each, interleaved round by \
             round (floor, --version, record write, run -b ×3, status ×4, enqueue floor, \
             pueue ×5) so machine noise hits all alike. Times are wall clock from spawn to \
             exit, output captured. Workspaces: one of {} finished jobs, one of {} and one \
             empty at first, all in the same state root.",
            options.warmup,
            options.runs,
            format_count(options.jobs),
            format_count(options.mid_jobs())
        ),
        "`run -b`: after each sample its worker is waited for (`bgjobs wait`, untimed), so \
         no worker loads the CPU during the next sample; each sample adds one job (so the \
         \"0\" workspace ends with warm-up + runs jobs). Its ratio is to the enqueue floor, \
         `sh -c 'nohup true >/dev/null 2>&1 &'`: a shell that starts a detached process and \
         returns, the least any background launch costs."
            .into(),
        "Floors: `/bin/true` is the cost of any process; `bgjobs --version` adds loading and \
         starting the bgjobs binary; the store floor is one `fsio::write_atomic` of a \
         job-sized record (temp file, write, fsync, rename, directory fsync), the unit every \
         durable store write pays — `run -b` pays it once (the record on create)."
            .into(),
        format!(
            "Contention: {} rounds after 1 warm-up round (fewer than the other metrics: each \
             round is {} fsync'd record writes). Each round, {CONTENDERS} processes started \
             and opened the store, then were released together and each did \
             {UPDATES_PER_CONTENDER} `Store::update` read-modify-writes of one record's \
             counter; peer = 1 process doing {UPDATES_PER_CONTENDER} alone, same round. For \
             the rate, min is the slowest round. Lost updates counts both.",
            options.rounds,
            format_count(CONTENDERS * UPDATES_PER_CONTENDER)
        ),
        "Ratio: median ÷ floor/peer median.".into(),
    ]
}

/// `cargo build --release -p bgjobs` in the workspace, then the binary's path.
/// Building here (rather than trusting whatever binary is lying around) means
/// the numbers always belong to the checked-out source. On glibc Linux it is
/// the static build the README recommends installing (`crt-static`, for the
/// host triple named explicitly so that proc-macros stay dynamic): every
/// hook is a process start, and a static binary skips the dynamic loader.
fn build_release() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the bench crate has no parent directory")?
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(&cargo);
    build
        .args(["build", "--release", "-p", "bgjobs"])
        .current_dir(&root);
    let static_host = host_triple().filter(|t| t.ends_with("-linux-gnu"));
    if let Some(host) = &static_host {
        build
            .args(["--target", host])
            .env("RUSTFLAGS", "-C target-feature=+crt-static");
    }
    eprintln!("bgjobs-bench: {build:?}");
    let status = build
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if !status.success() {
        return Err(format!("cargo build --release -p bgjobs failed ({status})"));
    }
    let mut target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    };
    if let Some(host) = &static_host {
        target = target.join(host);
    }
    let bin = target
        .join("release")
        .join(format!("bgjobs{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        return Err(format!("the build left no binary at {}", bin.display()));
    }
    Ok(bin)
}

/// The host's target triple, as `rustc -vV` names it.
fn host_triple() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
}

/// `bgjobs notifier start`, before anything is measured: workers would start
/// it on demand anyway, but then the first sample would pay for it, and the
/// latency and idle metrics need a daemon whose pid is known.
fn start_notifier(fx: &Fixture) -> Result<(), String> {
    measure::time_success(&mut fx.bgjobs(&["notifier", "start"])).map(drop)
}

/// Make sure the CLI sees the recorded jobs (same state root, same workspace
/// resolution) before timing it: otherwise `status` would be timed over an
/// empty workspace and look splendid.
fn check_listing(fx: &Fixture, workspace: &Path, jobs: usize) -> Result<(), String> {
    let (_, out) = measure::time_success(&mut fx.bgjobs_in(workspace, &["status", "--json"]))?;
    let value: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`bgjobs status --json` printed no JSON: {e}"))?;
    let newest = value["jobs"][0]["id"].as_u64();
    if newest != Some(jobs as u64) {
        return Err(format!(
            "`bgjobs status --json` does not see the recorded jobs (newest id {newest:?}, \
             expected {jobs}); is the workspace resolved differently?"
        ));
    }
    Ok(())
}

/// A job record as the store writes it, to time the store's write primitive
/// with a realistic size.
fn sample_record(fx: &Fixture) -> Result<Vec<u8>, String> {
    let store = fx.store()?;
    let job = store
        .get(1)
        .map_err(|e| format!("cannot read job 1 back: {e}"))?;
    serde_json::to_vec_pretty(&job).map_err(|e| format!("cannot serialise job 1: {e}"))
}

/// `10000` → `10,000`.
fn format_count(n: usize) -> String {
    Unit::Count.format(n as f64)
}
