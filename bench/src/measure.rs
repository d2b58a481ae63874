//! Timing and statistics.
//!
//! Every timed thing is a [`Probe`]: a closure that does one sample and
//! returns the part of it that counts. Probes are run *interleaved* — one
//! sample of each in turn — rather than one metric after the other, so that a
//! burst of load from the other jobs on a shared machine lands on every metric
//! alike instead of skewing whichever one happened to run during it. That is
//! what makes the floor beside each metric a fair yardstick.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// One timed thing, sampled by [`interleaved`].
pub struct Probe<'a> {
    /// Name used in progress messages.
    pub name: &'static str,
    /// Does one sample and returns the time that counts. Untimed work (such as
    /// waiting for a job's worker to finish so it does not load the CPU during
    /// the next sample) belongs inside the closure, after the clock stops.
    pub sample: Box<dyn FnMut() -> Result<Duration, String> + 'a>,
}

impl<'a> Probe<'a> {
    /// A probe named `name` that samples with `sample`.
    pub fn new(name: &'static str, sample: impl FnMut() -> Result<Duration, String> + 'a) -> Self {
        Self {
            name,
            sample: Box::new(sample),
        }
    }
}

/// Run `warmup` untimed then `runs` timed rounds, each round sampling every
/// probe once in order. Returns the timed samples per probe, in probe order.
///
/// The warm-up fills the page cache and the dynamic loader's caches, which a
/// real agent calling bgjobs over and over also has warm.
pub fn interleaved(
    probes: &mut [Probe<'_>],
    warmup: usize,
    runs: usize,
) -> Result<Vec<Vec<Duration>>, String> {
    let mut samples = vec![Vec::with_capacity(runs); probes.len()];
    for round in 0..warmup + runs {
        for (probe, out) in probes.iter_mut().zip(&mut samples) {
            crate::interrupt::check()?;
            let took = (probe.sample)().map_err(|e| format!("{}: {e}", probe.name))?;
            if round >= warmup {
                out.push(took);
            }
        }
    }
    Ok(samples)
}

/// Run `cmd` to its end, capturing its output, and time it from the spawn
/// until it has exited. Capturing (rather than discarding) output is what a
/// caller such as an agent's shell tool does, and the floor is measured the
/// same way, so the pipe's cost cancels out in the ratio.
pub fn time_output(cmd: &mut Command) -> Result<(Duration, Output), String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let took = start.elapsed();
    Ok((took, output))
}

/// Like [`time_output`], but with `input` written to the command's stdin
/// (and stdin then closed), the way an agent hands a hook its event. The
/// write is inside the timed span: the caller pays for it too.
pub fn time_with_input(cmd: &mut Command, input: &[u8]) -> Result<(Duration, Output), String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that exits without reading (the floor) closes the pipe
        // first; that is its right, not an error.
        if let Err(e) = stdin.write_all(input) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("cannot write to {:?}: {e}", cmd.get_program()));
            }
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot wait for {:?}: {e}", cmd.get_program()))?;
    let took = start.elapsed();
    Ok((took, output))
}

/// [`time_with_input`], where a non-zero exit is an error.
pub fn time_success_with_input(
    cmd: &mut Command,
    input: &[u8],
) -> Result<(Duration, Output), String> {
    let (took, output) = time_with_input(cmd, input)?;
    check_success(cmd, took, output)
}

/// Like [`time_output`], but a non-zero exit is an error naming the command
/// and quoting its stderr.
pub fn time_success(cmd: &mut Command) -> Result<(Duration, Output), String> {
    let (took, output) = time_output(cmd)?;
    check_success(cmd, took, output)
}

fn check_success(
    cmd: &Command,
    took: Duration,
    output: Output,
) -> Result<(Duration, Output), String> {
    if !output.status.success() {
        return Err(format!(
            "{} exited with {}: {}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok((took, output))
}

/// `program arg arg…`, for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Summary of a set of samples, in whatever unit they were given.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// Smallest sample.
    pub min: f64,
    /// Median (mean of the two middle samples when `n` is even).
    pub median: f64,
    /// 90th percentile, nearest rank: the smallest sample that at least 90 %
    /// of the samples do not exceed. With 30 runs that is the 27th value, so
    /// it reflects the machine's usual noise rather than one outlier.
    pub p90: f64,
    /// Largest sample.
    pub max: f64,
}

impl Stats {
    /// Statistics of `values`; all zero when there are none.
    pub fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return Self {
                n,
                min: 0.0,
                median: 0.0,
                p90: 0.0,
                max: 0.0,
            };
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let rank = (n * 9).div_ceil(10).max(1);
        Self {
            n,
            min: sorted[0],
            median,
            p90: sorted[rank - 1],
            max: sorted[n - 1],
        }
    }
}

/// Durations as milliseconds.
pub fn millis(samples: &[Duration]) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_one_to_ten() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Stats::of(&values);
        assert_eq!((s.min, s.median, s.p90, s.max), (1.0, 5.5, 9.0, 10.0));
    }

    #[test]
    fn p90_of_thirty_is_the_27th() {
        let values: Vec<f64> = (1..=30).rev().map(f64::from).collect();
        let s = Stats::of(&values);
        assert_eq!((s.median, s.p90), (15.5, 27.0));
    }

    #[test]
    fn stats_of_one_and_none() {
        let s = Stats::of(&[4.0]);
        assert_eq!((s.min, s.median, s.p90), (4.0, 4.0, 4.0));
        assert_eq!(Stats::of(&[]).n, 0);
    }
}
