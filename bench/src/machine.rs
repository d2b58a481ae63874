//! What the numbers were measured on. Process-start and fsync costs vary by
//! an order of magnitude between machines and file systems, so a report
//! without them cannot be compared with another.

use std::path::Path;

use serde::Serialize;

/// The machine and the file system under the state root.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical cores available to the bench.
    pub cores: usize,
    /// OS and kernel release.
    pub kernel: String,
    /// File system type of the state root (every record write fsyncs, so
    /// this decides much of the write cost).
    pub filesystem: String,
    /// Load average when the bench started, where known.
    pub load: Option<String>,
}

impl Machine {
    /// Detect, for a state root at `state_dir`.
    pub fn detect(state_dir: &Path) -> Self {
        Self {
            cpu: cpu_model().unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: kernel().unwrap_or_else(|| std::env::consts::OS.into()),
            filesystem: filesystem(state_dir).unwrap_or_else(|| "unknown".into()),
            load: load(),
        }
    }
}

#[cfg(target_os = "linux")]
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(target_os = "macos")]
fn cpu_model() -> Option<String> {
    command_output("sysctl", &["-n", "machdep.cpu.brand_string"])
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn cpu_model() -> Option<String> {
    std::env::var("PROCESSOR_IDENTIFIER").ok()
}

#[cfg(target_os = "linux")]
fn kernel() -> Option<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    Some(format!("Linux {}", release.trim()))
}

#[cfg(all(unix, not(target_os = "linux")))]
fn kernel() -> Option<String> {
    command_output("uname", &["-sr"])
}

#[cfg(not(unix))]
fn kernel() -> Option<String> {
    Some(std::env::consts::OS.into())
}

/// The type of the mount holding `path`: the longest mount point that is a
/// prefix of it in `/proc/self/mounts`.
#[cfg(target_os = "linux")]
fn filesystem(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let (device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            // Mount points escape spaces as \040.
            let point = point.replace("\\040", " ");
            path.starts_with(&point)
                .then(|| (point.len(), format!("{kind} ({device} on {point})")))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, text)| text)
}

#[cfg(not(target_os = "linux"))]
fn filesystem(_path: &Path) -> Option<String> {
    None
}

#[cfg(target_os = "linux")]
fn load() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(not(target_os = "linux"))]
fn load() -> Option<String> {
    None
}

#[cfg(all(unix, not(target_os = "linux")))]
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Share of the bench's wall time during which other work held it up, from
/// Linux pressure stall information (`/proc/pressure/*`, "some" line): the
/// percentage of time at least one task waited for a CPU or for I/O. Other
/// jobs on a shared machine show up here, and fsync-heavy ones (another
/// test suite writing records) inflate every store write; a run with high
/// I/O pressure is not comparable with a quiet one.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Pressure {
    /// Percent of the time some task was stalled waiting for a CPU.
    pub cpu: Option<f64>,
    /// Percent of the time some task was stalled waiting for I/O.
    pub io: Option<f64>,
}

/// Started when the measuring starts; [`PressureClock::stop`] gives the
/// pressure over the interval.
pub struct PressureClock {
    start: std::time::Instant,
    cpu: Option<u64>,
    io: Option<u64>,
}

impl PressureClock {
    /// Start the interval.
    pub fn start() -> Self {
        Self {
            start: std::time::Instant::now(),
            cpu: stall_total("cpu"),
            io: stall_total("io"),
        }
    }

    /// The pressure since [`PressureClock::start`].
    pub fn stop(&self) -> Pressure {
        let micros = self.start.elapsed().as_micros() as f64;
        let percent = |before: Option<u64>, kind: &str| {
            let stalled = stall_total(kind)?.saturating_sub(before?);
            (micros > 0.0).then(|| stalled as f64 / micros * 100.0)
        };
        Pressure {
            cpu: percent(self.cpu, "cpu"),
            io: percent(self.io, "io"),
        }
    }
}

/// Microseconds some task has been stalled on `kind` since boot.
#[cfg(target_os = "linux")]
fn stall_total(kind: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/pressure/{kind}")).ok()?;
    text.lines()
        .find(|l| l.starts_with("some"))?
        .split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn stall_total(_kind: &str) -> Option<u64> {
    None
}

/// The CPU is taken for quiet once less than this share of it is busy over
/// one window of [`QUIET_WINDOW`].
pub const QUIET_SHARE: f64 = 0.15;
pub const QUIET_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);
/// Longest wait for quiet: a machine busy with other work is measured busy.
pub const QUIET_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Wait until the machine is quiet: the work a section leaves behind (the
/// workers of a thousand jobs finishing, their deliveries, their prunes)
/// must not be measured in the next. Returns how long it waited, and whether
/// it found quiet before [`QUIET_LIMIT`]; where the CPU's busy time cannot be
/// read, one window is waited.
pub fn settle() -> (std::time::Duration, bool) {
    let start = std::time::Instant::now();
    // What the section before left to write back (thousands of records,
    // workspaces removed) would make every fsync of the next one wait.
    flush_to_disk();
    while start.elapsed() < QUIET_LIMIT {
        let Some(before) = cpu_times() else {
            std::thread::sleep(QUIET_WINDOW);
            return (start.elapsed(), true);
        };
        std::thread::sleep(QUIET_WINDOW);
        let Some(after) = cpu_times() else {
            return (start.elapsed(), true);
        };
        let (busy, total) = (after.0 - before.0, after.1 - before.1);
        if total > 0 && (busy as f64) < QUIET_SHARE * total as f64 {
            return (start.elapsed(), true);
        }
    }
    (start.elapsed(), false)
}

/// Write every file system's dirty data to disk (`sync`), where there is
/// such a command.
#[cfg(unix)]
fn flush_to_disk() {
    let _ = std::process::Command::new("sync").status();
}

#[cfg(not(unix))]
fn flush_to_disk() {}

/// Busy and total CPU time of every core since boot, in ticks (the first
/// line of `/proc/stat`; idle is not busy, I/O wait is: a disk still
/// writing back is no quiet machine).
#[cfg(target_os = "linux")]
fn cpu_times() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = text
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = *ticks.get(3)?;
    Some((total - idle, total))
}

#[cfg(not(target_os = "linux"))]
fn cpu_times() -> Option<(u64, u64)> {
    None
}
