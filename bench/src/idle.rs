//! What the notifier costs while nothing happens: its resident memory and the
//! CPU it uses over an idle window.
//!
//! The notifier is the one long-lived process bgjobs adds to a machine; it
//! sits there for minutes between jobs (until its idle timeout), once per
//! user. Between jobs it should be a sleeping process and nothing more: a few
//! MiB, and no timer waking it up. So it is measured after it has served
//! jobs (the latency metric ran before, so its caches and buffers have been
//! used) and been left alone for [`PRE_IDLE`].
//!
//! Everything is read from `/proc` — which does not wake the daemon — and
//! the only request to it, `notifier status --json` for its pid, is made
//! before the idle time starts: a request is activity. Beside it, a `sleep`
//! process is measured the same way in the same window as the floor.

use std::time::Duration;

use crate::fixture::Fixture;
use crate::report::{Row, Target, Unit};

/// Target: resident memory while idle, median.
pub const RSS_TARGET_MIB: f64 = 4.0;

/// Quiet time before the window: the last request's connection closes and
/// the daemon goes back to sleep.
const PRE_IDLE: Duration = Duration::from_secs(1);

/// What was read.
pub struct Idle {
    /// The idle window.
    pub window: Duration,
    /// Jobs the notifier had delivered before the window.
    pub deliveries: u64,
    /// Its threads.
    pub threads: u64,
    /// Resident memory (MiB), sampled evenly across the window.
    pub rss: Vec<f64>,
    /// The floor's resident memory, sampled alongside.
    pub floor_rss: Vec<f64>,
    /// utime + stime clock ticks over the window.
    pub ticks: f64,
    /// The floor's ticks over the same window.
    pub floor_ticks: f64,
    /// Context switches of all its threads over the window: every wake-up,
    /// however cheap, is one.
    pub wakeups: f64,
    /// Clock ticks per second (`USER_HZ`), for reading `ticks`.
    pub hz: u64,
    /// Where the resident memory is at the end (`RssAnon`, `RssFile`,
    /// `RssShmem`, KiB): binary pages mapped from the file cost less than
    /// heap, and a fix for one is not a fix for the other.
    pub breakdown: Vec<(String, u64)>,
}

/// Measure over `window`, with `samples` memory readings. The notifier must
/// be running. `None` where there is no `/proc`.
pub fn measure(fx: &Fixture, window: Duration, samples: usize) -> Result<Option<Idle>, String> {
    platform::measure(fx, window, samples)
}

/// The table's rows.
pub fn rows(idle: Option<Idle>) -> Vec<Row> {
    let Some(idle) = idle else {
        return Vec::new();
    };
    let secs = idle.window.as_secs();
    let floor_rss = Row::new(
        "idle_floor_rss",
        "idle floor: resident memory of `sleep`",
        Unit::Mebibytes,
        idle.floor_rss,
    );
    let rss = Row::new(
        "notifier_idle_rss",
        format!(
            "notifier resident memory (VmRSS), idle, after {} deliveries",
            idle.deliveries
        ),
        Unit::Mebibytes,
        idle.rss,
    )
    .against("`sleep`", floor_rss.stats.median);
    let rss_target = Target::median_at_most(&rss.stats, RSS_TARGET_MIB, Unit::Mebibytes);
    let ticks = Row::new(
        "notifier_idle_ticks",
        format!(
            "notifier CPU over {secs} s idle (utime+stime, 1/{} s ticks)",
            idle.hz
        ),
        Unit::Count,
        vec![idle.ticks],
    )
    .against("`sleep`", idle.floor_ticks);
    let ticks_target = Target::custom("0 ticks", idle.ticks == 0.0);
    let wakeups = Row::new(
        "notifier_idle_wakeups",
        format!(
            "notifier wake-ups over {secs} s idle (context switches, {} thread(s))",
            idle.threads
        ),
        Unit::Count,
        vec![idle.wakeups],
    );
    vec![
        floor_rss,
        rss.target(rss_target),
        ticks.target(ticks_target),
        wakeups,
    ]
}

/// How to read the rows.
pub fn notes(idle: &Option<Idle>) -> Vec<String> {
    let Some(idle) = idle else {
        return vec!["Notifier idle cost: not measured (no /proc on this platform).".into()];
    };
    vec![format!(
        "Notifier idle: its pid taken with `notifier status --json` (the last request to it), \
         then {} s untouched, then a {} s window read only through /proc: VmRSS from \
         /proc/PID/status {} times across the window, utime+stime from /proc/PID/stat at \
         both ends (one sample: the window), context switches summed over \
         /proc/PID/task/*/status. The floor is a `sleep` process started before the quiet \
         time and read the same way. Memory in MiB (2^20 bytes); the notifier's at the \
         end: {}.",
        PRE_IDLE.as_secs(),
        idle.window.as_secs(),
        idle.rss.len(),
        idle.breakdown
            .iter()
            .map(|(name, kib)| format!("{name} {kib} KiB"))
            .collect::<Vec<_>>()
            .join(", ")
    )]
}

#[cfg(target_os = "linux")]
mod platform {
    use std::process::{Child, Stdio};
    use std::time::Duration;

    use super::{Idle, PRE_IDLE};
    use crate::fixture::Fixture;
    use crate::measure;

    /// A child killed and reaped however the measuring ends.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    pub fn measure(fx: &Fixture, window: Duration, samples: usize) -> Result<Option<Idle>, String> {
        eprintln!(
            "bgjobs-bench: notifier idle ({} s quiet, then a {} s window)…",
            PRE_IDLE.as_secs(),
            window.as_secs()
        );
        let (_, out) = measure::time_success(&mut fx.bgjobs(&["notifier", "status", "--json"]))?;
        let status: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("`notifier status --json` printed no JSON: {e}"))?;
        let pid = status["pid"]
            .as_u64()
            .ok_or_else(|| format!("`notifier status --json` gave no pid: {status}"))?;
        let deliveries = status["deliveries"].as_u64().unwrap_or(0);
        let floor = fx
            .command("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the `sleep` floor: {e}"))?;
        let floor = Reaped(floor);
        let floor_pid = u64::from(floor.0.id());

        std::thread::sleep(PRE_IDLE);
        let started = Process::read(pid)?;
        let floor_started = Process::read(floor_pid)?;
        let mut rss = Vec::with_capacity(samples);
        let mut floor_rss = Vec::with_capacity(samples);
        let step = window / samples.max(1) as u32;
        for _ in 0..samples.max(1) {
            crate::interrupt::check()?;
            std::thread::sleep(step);
            rss.push(Process::rss_mib(pid)?);
            floor_rss.push(Process::rss_mib(floor_pid)?);
        }
        let ended = Process::read(pid)?;
        let floor_ended = Process::read(floor_pid)?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let breakdown = ["RssAnon:", "RssFile:", "RssShmem:"]
            .iter()
            .filter_map(|name| {
                let kib = status_field(&status, name)?;
                Some((name.trim_end_matches(':').to_string(), kib))
            })
            .collect();
        if ended.start != started.start {
            return Err(format!(
                "the notifier (pid {pid}) was replaced during the window"
            ));
        }
        Ok(Some(Idle {
            window,
            deliveries,
            threads: ended.threads,
            rss,
            floor_rss,
            ticks: ended.ticks.saturating_sub(started.ticks) as f64,
            floor_ticks: floor_ended.ticks.saturating_sub(floor_started.ticks) as f64,
            wakeups: ended.switches.saturating_sub(started.switches) as f64,
            // SAFETY: sysconf has no memory-safety preconditions.
            hz: u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100),
            breakdown,
        }))
    }

    /// A process's counters at one moment.
    struct Process {
        /// Start time (field 22 of stat), to notice a pid reused.
        start: u64,
        /// utime + stime, clock ticks, all threads.
        ticks: u64,
        /// Voluntary + involuntary context switches, all threads.
        switches: u64,
        threads: u64,
    }

    impl Process {
        fn read(pid: u64) -> Result<Self, String> {
            let path = format!("/proc/{pid}/stat");
            let stat =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            // The command name may hold spaces and parentheses: fields are
            // counted from the last ')', which ends it (field 2).
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            let field = |n: usize| -> Result<u64, String> {
                fields
                    .get(n - 3)
                    .and_then(|f| f.parse().ok())
                    .ok_or_else(|| format!("{path}: no field {n}"))
            };
            let mut switches = 0;
            let mut threads = 0;
            let tasks = format!("/proc/{pid}/task");
            for task in std::fs::read_dir(&tasks)
                .map_err(|e| format!("cannot read {tasks}: {e}"))?
                .flatten()
            {
                let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                    continue; // a thread that just ended
                };
                threads += 1;
                switches += status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0)
                    + status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
            }
            Ok(Self {
                start: field(22)?,
                ticks: field(14)? + field(15)?,
                switches,
                threads,
            })
        }

        fn rss_mib(pid: u64) -> Result<f64, String> {
            let path = format!("/proc/{pid}/status");
            let status =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let kib =
                status_field(&status, "VmRSS:").ok_or_else(|| format!("{path} has no VmRSS"))?;
            Ok(kib as f64 / 1024.0)
        }
    }

    /// The number after `name` in a `/proc/*/status` text (`VmRSS:  3456 kB`).
    fn status_field(status: &str, name: &str) -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use std::time::Duration;

    use super::Idle;
    use crate::fixture::Fixture;

    pub fn measure(
        _fx: &Fixture,
        _window: Duration,
        _samples: usize,
    ) -> Result<Option<Idle>, String> {
        Ok(None)
    }
}
