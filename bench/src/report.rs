//! The report: one row per metric, printed as a Markdown table and optionally
//! written as JSON with the raw samples, so that runs on different machines
//! or commits can be compared by a script rather than by eye.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::machine::{Machine, Pressure};
use crate::measure::Stats;

/// How a row's values are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds; lower is better.
    Millis,
    /// Operations per second; higher is better.
    PerSecond,
    /// A plain count.
    Count,
    /// Mebibytes (2^20 bytes) of memory; lower is better.
    Mebibytes,
    /// Seconds; lower is better.
    Seconds,
}

impl Unit {
    /// `value` written in this unit.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Millis => format!("{value:.2} ms"),
            Unit::PerSecond => format!("{}/s", thousands(value.round() as u64)),
            Unit::Count => thousands(value.round() as u64),
            Unit::Mebibytes => format!("{value:.2} MiB"),
            Unit::Seconds => format!("{value:.2} s"),
        }
    }
}

/// What a row is measured against: the cheapest comparable thing on the same
/// machine in the same run (a process floor), or a peer tool.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What it is, e.g. `/bin/true`.
    pub name: String,
    /// Its median, in the row's unit.
    pub median: f64,
}

/// A goal and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The goal in words, e.g. `median ≤ 3 ms`.
    pub text: String,
    /// Whether it was met.
    pub met: bool,
}

impl Target {
    /// Median no more than `limit` (in the row's unit).
    pub fn median_at_most(stats: &Stats, limit: f64, unit: Unit) -> Self {
        Self {
            text: format!("median ≤ {}", unit.format(limit).replace(".00", "")),
            met: stats.median <= limit,
        }
    }

    /// Median no more than `max` times the row's baseline (set with
    /// [`Row::against`] first), measured in the same run: a slower or busier
    /// machine moves both alike, so it cannot turn a met target into a
    /// missed one. The absolute figures stay in the table as information.
    pub fn ratio_at_most(row: &Row, max: f64) -> Self {
        let baseline = row.baseline.as_ref().map_or("floor", |b| b.name.as_str());
        Self {
            text: format!("median ≤ {max}× {baseline}"),
            met: row.ratio.is_some_and(|r| r <= max),
        }
    }

    /// Median at least `min` times the row's baseline (for rates, where
    /// higher is better).
    pub fn ratio_at_least(row: &Row, min: f64) -> Self {
        let baseline = row.baseline.as_ref().map_or("floor", |b| b.name.as_str());
        Self {
            text: format!("median ≥ {min}× {baseline}"),
            met: row.ratio.is_some_and(|r| r >= min),
        }
    }

    /// A goal stated in words, met or not as the caller found.
    pub fn custom(text: impl Into<String>, met: bool) -> Self {
        Self {
            text: text.into(),
            met,
        }
    }

    /// Every sample no more than `limit`.
    pub fn all_at_most(stats: &Stats, limit: f64, unit: Unit) -> Self {
        Self {
            text: format!("{} in every round", unit.format(limit)),
            met: stats.max <= limit,
        }
    }
}

/// One metric.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable name for scripts comparing reports (`metric` is for people and
    /// may be reworded).
    pub key: &'static str,
    /// What was measured.
    pub metric: String,
    /// Unit of `stats`, `samples` and `baseline`.
    pub unit: Unit,
    /// Summary of the samples.
    pub stats: Stats,
    /// The samples in the order taken.
    pub samples: Vec<f64>,
    /// What it is compared with.
    pub baseline: Option<Baseline>,
    /// Median over the baseline's median: how many floors this costs (for
    /// times) or what fraction of the uncontended rate survives (for rates).
    pub ratio: Option<f64>,
    /// Target, when the metric has one.
    pub target: Option<Target>,
}

impl Row {
    /// A row for `samples` with no baseline or target yet.
    pub fn new(
        key: &'static str,
        metric: impl Into<String>,
        unit: Unit,
        samples: Vec<f64>,
    ) -> Self {
        Self {
            key,
            metric: metric.into(),
            unit,
            stats: Stats::of(&samples),
            samples,
            baseline: None,
            ratio: None,
            target: None,
        }
    }

    /// Compare with `baseline`.
    pub fn against(mut self, name: impl Into<String>, median: f64) -> Self {
        self.baseline = Some(Baseline {
            name: name.into(),
            median,
        });
        self.ratio = (median > 0.0).then(|| self.stats.median / median);
        self
    }

    /// Set the target.
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }
}

/// Everything one run of the bench found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// How much other work held the bench up while it measured.
    pub pressure: Pressure,
    /// The command line that produced it.
    pub command: String,
    /// The `bgjobs` binary measured.
    pub binary: String,
    /// Finished jobs in the workspace before measuring.
    pub jobs: usize,
    /// Seconds it took to record them through the store.
    pub populate_seconds: f64,
    /// Untimed samples before the timed ones.
    pub warmup: usize,
    /// Timed samples per per-call metric.
    pub runs: usize,
    /// Timed contention rounds.
    pub rounds: usize,
    /// The metrics.
    pub rows: Vec<Row>,
    /// Remarks printed under the table.
    pub notes: Vec<String>,
}

impl Report {
    /// The metrics whose target was missed.
    pub fn missed(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.target.as_ref().is_some_and(|t| !t.met))
            .map(|r| r.metric.as_str())
            .collect()
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "## bgjobs benchmark\n");
        let _ = writeln!(out, "- Machine: {}, {} cores, {}", m.cpu, m.cores, m.kernel);
        let _ = writeln!(out, "- State root file system: {}", m.filesystem);
        if let Some(load) = &m.load {
            let _ = writeln!(out, "- Load average at start: {load}");
        }
        let percent = |p: Option<f64>| p.map_or("unknown".into(), |p| format!("{p:.1} %"));
        if self.pressure.cpu.is_some() || self.pressure.io.is_some() {
            let _ = writeln!(
                out,
                "- Stalls while measuring (PSI \"some\"): cpu {}, io {} of the time",
                percent(self.pressure.cpu),
                percent(self.pressure.io)
            );
        }
        let _ = writeln!(out, "- Command: `{}`", self.command);
        let _ = writeln!(out, "- Binary: `{}`", self.binary);
        let _ = writeln!(
            out,
            "- Workspace: {} finished jobs (the big one, recorded through the store in \
             {:.1} s; see the notes for the others); {} warm-up sample(s) per metric, then \
             the timed ones, interleaved\n",
            thousands(self.jobs as u64),
            self.populate_seconds,
            self.warmup
        );
        let _ = writeln!(
            out,
            "| metric | runs | min | median | p90 | floor/peer | ratio | target |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|---|--:|---|");
        for row in &self.rows {
            let u = row.unit;
            let baseline = row.baseline.as_ref().map_or("—".into(), |b| {
                format!("{} {}", b.name, u.format(b.median))
            });
            let ratio = row.ratio.map_or("—".into(), |r| format!("{r:.2}×"));
            let target = row.target.as_ref().map_or("—".into(), |t| {
                format!("{}: **{}**", t.text, if t.met { "met" } else { "missed" })
            });
            // A row without samples says what was not measured.
            let value = |v: f64| {
                if row.stats.n == 0 {
                    "—".to_string()
                } else {
                    u.format(v)
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.metric,
                row.stats.n,
                value(row.stats.min),
                value(row.stats.median),
                value(row.stats.p90),
                baseline,
                ratio,
                target
            );
        }
        let missed = self.missed();
        if missed.is_empty() {
            let _ = writeln!(out, "\n**All targets met.**");
        } else {
            let _ = writeln!(out, "\n**Targets missed: {}.**", missed.join("; "));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    /// Write the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| format!("cannot serialise the report: {e}"))?;
        text.push('\n');
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// `12345` → `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn targets() {
        let s = Stats::of(&[1.0, 2.0, 4.0]);
        assert!(Target::median_at_most(&s, 3.0, Unit::Millis).met);
        assert_eq!(
            Target::median_at_most(&s, 3.0, Unit::Millis).text,
            "median ≤ 3 ms"
        );
        assert!(!Target::all_at_most(&s, 3.0, Unit::Count).met);
        assert_eq!(
            Target::median_at_most(&s, 4.0, Unit::Mebibytes).text,
            "median ≤ 4 MiB"
        );
        let row = Row::new("x", "x", Unit::Millis, vec![1.0, 2.0, 4.0]);
        assert!(
            !Target::ratio_at_most(&row, 5.0).met,
            "no baseline: not met"
        );
        let row = row.against("floor", 0.5);
        assert!(Target::ratio_at_most(&row, 4.0).met);
        assert!(!Target::ratio_at_most(&row, 3.0).met);
        assert_eq!(Target::ratio_at_most(&row, 4.0).text, "median ≤ 4× floor");
        assert!(Target::ratio_at_least(&row, 4.0).met);
        assert!(!Target::ratio_at_least(&row, 5.0).met);
    }
}
