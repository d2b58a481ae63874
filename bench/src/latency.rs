//! Completion latency: from the moment a job's command ends to the moment a
//! `bgjobs wait` that was waiting for it has returned to its caller.
//!
//! This is the delay an agent feels between "the build finished" and "my
//! `wait` came back", and the whole notification path is inside it: the
//! worker reaping its command, draining and syncing the log, recording the
//! end in the store, reporting to the notifier; the notifier re-reading the
//! record and pushing the event; `wait` re-reading the record, printing and
//! exiting; the caller reaping `wait`.
//!
//! Measured honestly, from both ends, with one clock: the job's command is
//! this bench in a hidden mode ([`STAMP_FLAG`]) that blocks on a gate (a
//! FIFO), and once released writes `CLOCK_MONOTONIC` to a file and exits;
//! the bench reads `CLOCK_MONOTONIC` again the moment `child.wait()` on the
//! `bgjobs wait` process returns. `CLOCK_MONOTONIC` is system-wide, so the two
//! readings, in different processes, subtract. The gate is released only
//! once the job is recorded `running` and the `wait` process is connected to
//! the notifier and has had [`SETTLE`] to subscribe and go to sleep, so what
//! is timed is the steady state (a waiter already asleep), not start-up.
//!
//! The floor beside it ([`RELAY_FLAG`]) is the same two hops with nothing of
//! bgjobs in between: the same stamped command, started and reaped by a
//! parent process that then exits, reaped in turn by the bench. No design
//! with a supervising worker and a separate waiter can beat it.

use std::path::Path;
use std::time::Duration;

use crate::fixture::Fixture;
use crate::measure::{self, Probe};
use crate::pueue::Pueue;
use crate::report::{Row, Target, Unit};

/// Hidden flag: `--stamp-exit STAMP GATE`, the job's command.
pub const STAMP_FLAG: &str = "--stamp-exit";
/// Hidden flag: `--relay STAMP GATE`, the floor's parent process.
pub const RELAY_FLAG: &str = "--relay";

/// Target: a `wait` returns within 4 relay floors of the command's end
/// (the same two hops with nothing of bgjobs between), measured in the same
/// run, so waiting through bgjobs costs an agent nothing it notices.
pub const TARGET_RATIO: f64 = 4.0;

/// Time given to the waiter (or the floor's relay) to be asleep before the
/// gate opens. Far more than `bgjobs wait` needs to subscribe and take its
/// first look at the store (about 2 ms).
pub(crate) const SETTLE: Duration = Duration::from_millis(20);

/// Give up on any one step after this long: something is broken.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Samples, in milliseconds.
pub struct Latency {
    /// Relay floor: command end → its parent reaped it and exited → reaped.
    pub floor: Vec<f64>,
    /// Command end → `bgjobs wait ID` has exited and been reaped.
    pub wait: Vec<f64>,
    /// The same for `pueue wait ID`, when pueue is installed: its version
    /// and samples.
    pub pueue: Option<(String, Vec<f64>)>,
}

/// Measure `warmup` + `runs` rounds of the floor and the latency,
/// interleaved. The notifier must be running. `None` where the platform has
/// no shared monotonic clock or FIFOs for the gate (Windows).
pub fn measure(fx: &Fixture, warmup: usize, runs: usize) -> Result<Option<Latency>, String> {
    if !platform::SUPPORTED {
        return Ok(None);
    }
    eprintln!("bgjobs-bench: completion latency ({warmup} warm-up + {runs} runs)…");
    let exe = fx.bench_exe()?;
    let store = fx.store()?;
    let n = std::cell::Cell::new(0u32);
    let paths = |kind: &str| {
        n.set(n.get() + 1);
        let (scratch, n) = (fx.scratch(), n.get());
        (
            scratch.join(format!("{kind}-{n}.stamp")),
            scratch.join(format!("{kind}-{n}.gate")),
        )
    };
    let mut probes = [
        Probe::new("relay floor", || {
            let (stamp, gate) = paths("floor");
            relay_floor(fx, &exe, &stamp, &gate)
        }),
        Probe::new("command end → wait returns", || {
            let (stamp, gate) = paths("job");
            platform::make_gate(&gate)?;
            let id = start_job(fx, &exe, &stamp, &gate)?;
            await_status(&store, id, |j| j.status == bgjobs_store::Status::Running)?;
            let id_text = id.to_string();
            let mut wait = fx.bgjobs(&["wait", &id_text, "--timeout", "30s"]);
            let mut child = spawn_quiet(&mut wait)?;
            await_subscriber(fx)?;
            std::thread::sleep(SETTLE);
            let end = release_and_reap(&gate, &mut child)?;
            let took = since_stamp(&stamp, end)?;
            // Untimed: let the notifier finish with this job (it records the
            // delivery after waking the waiter) so that its write does not
            // land in the next sample.
            await_status(&store, id, |j| j.deliveries.notified_at.is_some())?;
            tidy(&[&stamp, &gate]);
            Ok(took)
        }),
    ];
    let mut samples = measure::interleaved(&mut probes, warmup, runs)?.into_iter();
    let mut next = || measure::millis(&samples.next().unwrap_or_default());
    let (floor, wait) = (next(), next());
    let pueue = match Pueue::find() {
        Some(pueue) => Some((
            pueue.version(),
            crate::pueue::measure(fx, &pueue, warmup, runs)?,
        )),
        None => None,
    };
    Ok(Some(Latency { floor, wait, pueue }))
}

/// The table's rows (none where the metric is not supported); `jobs` is the
/// workspace size, for the label.
pub fn rows(latency: Option<Latency>, jobs: &str) -> Vec<Row> {
    let Some(latency) = latency else {
        return Vec::new();
    };
    let floor = Row::new(
        "latency_floor",
        "relay floor: command end → its parent reaps it and exits → reaped",
        Unit::Millis,
        latency.floor,
    );
    let wait = Row::new(
        "latency_wait",
        format!("command end → `bgjobs wait ID` returned, notifier up ({jobs} jobs)"),
        Unit::Millis,
        latency.wait,
    )
    .against("relay floor", floor.stats.median);
    let target = Target::ratio_at_most(&wait, TARGET_RATIO);
    let mut rows = vec![floor, wait.target(target)];
    if let Some((version, samples)) = latency.pueue {
        let median = rows[0].stats.median;
        rows.push(
            Row::new(
                "latency_pueue",
                format!("for reference, {version}: command end → `pueue wait ID` returned"),
                Unit::Millis,
                samples,
            )
            .against("relay floor", median),
        );
    }
    rows
}

/// How to read the rows.
pub fn notes(latency: Option<&Latency>, warmup: usize, runs: usize) -> Vec<String> {
    let Some(latency) = latency else {
        return vec![
            "Completion latency: not measured on this platform (it needs FIFOs and a \
             system-wide CLOCK_MONOTONIC)."
                .into(),
        ];
    };
    let pueue = match &latency.pueue {
        None => "pueue not installed, so no pueue comparison.".to_string(),
        Some((version, _)) => format!(
            "For reference, {version} (found on PATH) measured the same way right after: a \
             private `pueued` (own config, state and socket in the scratch directory), \
             `pueue add -p -- BENCH --stamp-exit …`, released once `pueue status --json` \
             shows it Running and `pueue wait ID` has had {} ms plus a random pause within \
             its {} s polling cycle (it looks at the daemon's state, then sleeps; nothing is \
             pushed), so its latency is mostly that timer: uniform over the cycle.",
            SETTLE.as_millis(),
            crate::pueue::POLL.as_secs()
        ),
    };
    vec![format!(
        "Completion latency: {warmup} warm-up then {runs} samples, floor and bgjobs \
         interleaved. The job's command is the bench itself, blocked on a FIFO; the bench \
         releases it once the job is recorded `running`, `bgjobs wait ID` is connected to the \
         notifier (`notifier status --json` counts it) and {} ms have passed; the command \
         writes CLOCK_MONOTONIC and exits; the bench reads CLOCK_MONOTONIC when `child.wait()` \
         on `bgjobs wait` returns. The relay floor times the same two hops with nothing of \
         bgjobs between: stamped command → its parent reaps it and exits → the bench reaps \
         that. {pueue}",
        SETTLE.as_millis()
    )]
}

/// One sample of the relay floor: the stamped command, blocked on `gate`,
/// run by a relay parent; released, then reaped through the relay.
pub(crate) fn relay_floor(
    fx: &Fixture,
    exe: &Path,
    stamp: &Path,
    gate: &Path,
) -> Result<Duration, String> {
    platform::make_gate(gate)?;
    let mut relay = fx.command(exe);
    relay.arg(RELAY_FLAG).arg(stamp).arg(gate);
    let mut child = spawn_quiet(&mut relay)?;
    std::thread::sleep(SETTLE);
    let end = release_and_reap(gate, &mut child)?;
    let took = since_stamp(stamp, end)?;
    tidy(&[stamp, gate]);
    Ok(took)
}

/// `bgjobs run -b -- BENCH --stamp-exit STAMP GATE`; the job's id.
fn start_job(fx: &Fixture, exe: &Path, stamp: &Path, gate: &Path) -> Result<u64, String> {
    let exe = exe.to_string_lossy();
    let stamp = stamp.to_string_lossy();
    let gate = gate.to_string_lossy();
    let mut run = fx.bgjobs(&["run", "-b", "--", &exe, STAMP_FLAG, &stamp, &gate]);
    let (_, out) = measure::time_success(&mut run)?;
    let printed = String::from_utf8_lossy(&out.stdout);
    printed
        .trim()
        .parse()
        .map_err(|_| format!("`run -b` printed {:?}, not a job id", printed.trim()))
}

/// Poll the store (in-process, cheap) until job `id` satisfies `done`.
pub(crate) fn await_status(
    store: &bgjobs_store::Store,
    id: u64,
    done: impl Fn(&bgjobs_store::Job) -> bool,
) -> Result<(), String> {
    let start = std::time::Instant::now();
    loop {
        crate::interrupt::check()?;
        let job = store
            .get(id)
            .map_err(|e| format!("cannot read job {id}: {e}"))?;
        if done(&job) {
            return Ok(());
        }
        if !job.status.is_active() && job.status != bgjobs_store::Status::Succeeded {
            return Err(format!(
                "job {id} ended {} ({})",
                job.outcome(),
                job.reason.unwrap_or_default()
            ));
        }
        if start.elapsed() > PATIENCE {
            return Err(format!(
                "job {id} is still {} after {PATIENCE:?}",
                job.status
            ));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Until the notifier counts a connection besides the status request itself:
/// the `wait` has connected (it subscribes on that connection right away).
pub(crate) fn await_subscriber(fx: &Fixture) -> Result<(), String> {
    let start = std::time::Instant::now();
    loop {
        crate::interrupt::check()?;
        let (_, out) = measure::time_success(&mut fx.bgjobs(&["notifier", "status", "--json"]))?;
        let status: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("`notifier status --json` printed no JSON: {e}"))?;
        if status["connections"].as_u64().unwrap_or(0) >= 2 {
            return Ok(());
        }
        if start.elapsed() > PATIENCE {
            return Err(format!(
                "`bgjobs wait` did not connect to the notifier within {PATIENCE:?} \
                 (status: {status})"
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Spawn with output captured into pipes that are read only after the exit
/// (a few lines fit in the pipe buffer), so reading them is never timed.
pub(crate) fn spawn_quiet(cmd: &mut std::process::Command) -> Result<std::process::Child, String> {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", measure::describe(cmd)))
}

/// Open the gate, then reap `child`; `CLOCK_MONOTONIC` (ns) the moment the
/// reaping returned. A child that failed is an error, with its stderr.
pub(crate) fn release_and_reap(
    gate: &Path,
    child: &mut std::process::Child,
) -> Result<u64, String> {
    let released = platform::release(gate, PATIENCE);
    if let Err(e) = released {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for the waiter: {e}"))?;
    let end = platform::monotonic_ns();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut err);
        }
        return Err(format!("the waiter exited with {status}: {}", err.trim()));
    }
    Ok(end)
}

/// `end` minus the time the stamped command wrote to `stamp`.
pub(crate) fn since_stamp(stamp: &Path, end: u64) -> Result<Duration, String> {
    let text = std::fs::read_to_string(stamp)
        .map_err(|e| format!("the command left no stamp at {}: {e}", stamp.display()))?;
    let stamped: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("bad stamp {text:?} in {}", stamp.display()))?;
    end.checked_sub(stamped)
        .map(Duration::from_nanos)
        .ok_or_else(|| format!("stamp {stamped} is after the end {end}"))
}

pub(crate) fn tidy(paths: &[&Path]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// Entry point of the hidden `--stamp-exit STAMP GATE` mode: open STAMP,
/// block until GATE is released, write `CLOCK_MONOTONIC` (ns) and exit 0.
/// The file is opened before the gate so that only one `write` lies between
/// the reading of the clock and the exit.
pub fn stamp_main(args: &[String]) -> std::process::ExitCode {
    let result = (|| {
        let [stamp, gate] = args else {
            return Err(format!("usage: {STAMP_FLAG} STAMP GATE"));
        };
        let mut out = std::fs::File::create(stamp).map_err(|e| format!("{stamp}: {e}"))?;
        platform::await_gate(Path::new(gate))?;
        let now = platform::monotonic_ns();
        std::io::Write::write_all(&mut out, now.to_string().as_bytes())
            .map_err(|e| format!("{stamp}: {e}"))
    })();
    exit_with(result)
}

/// Entry point of the hidden `--relay STAMP GATE` mode: run the stamped
/// command as a child, reap it, exit with its status.
pub fn relay_main(args: &[String]) -> std::process::ExitCode {
    let result = (|| {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let status = std::process::Command::new(exe)
            .arg(STAMP_FLAG)
            .args(args)
            .status()
            .map_err(|e| format!("cannot start the stamped command: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the stamped command exited with {status}"))
        }
    })();
    exit_with(result)
}

pub(crate) fn exit_with(result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bgjobs-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(unix)]
pub(crate) mod platform {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;
    use std::time::{Duration, Instant};

    pub const SUPPORTED: bool = true;

    /// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process on the
    /// machine, so readings taken in different processes subtract.
    pub fn monotonic_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// A FIFO at `path`: the command blocks opening it, using no CPU at all
    /// while the bench gets everything else ready.
    pub fn make_gate(path: &Path) -> Result<(), String> {
        let mut bytes = path.as_os_str().as_bytes().to_vec();
        bytes.push(0);
        // SAFETY: a NUL-terminated path we own.
        let rc = unsafe { libc::mkfifo(bytes.as_ptr().cast(), 0o600) };
        if rc != 0 {
            return Err(format!(
                "cannot make the gate {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// The command's side: block until the bench has opened and closed the
    /// FIFO (open waits for a writer; the read then sees the end of file).
    pub fn await_gate(path: &Path) -> Result<(), String> {
        let mut gate = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut sink = Vec::new();
        gate.read_to_end(&mut sink)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(())
    }

    /// The bench's side: open the FIFO for writing and close it. A
    /// non-blocking open fails (ENXIO) until the command has it open for
    /// reading, so this also waits for the command to be at the gate.
    pub fn release(path: &Path, patience: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
            {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    if start.elapsed() > patience {
                        return Err(format!(
                            "the command never reached its gate {}",
                            path.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(format!("cannot open the gate {}: {e}", path.display())),
            }
        }
    }
}

/// Windows: no FIFO and no clock shared by processes that std exposes; the
/// metric is left out of the report.
#[cfg(not(unix))]
pub(crate) mod platform {
    use std::path::Path;
    use std::time::Duration;

    pub const SUPPORTED: bool = false;

    pub fn monotonic_ns() -> u64 {
        0
    }

    pub fn make_gate(_path: &Path) -> Result<(), String> {
        Err("not supported on this platform".into())
    }

    pub fn await_gate(_path: &Path) -> Result<(), String> {
        Err("not supported on this platform".into())
    }

    pub fn release(_path: &Path, _patience: Duration) -> Result<(), String> {
        Err("not supported on this platform".into())
    }
}
