//! Durable writes per job, counted on the real binary: `fsync` calls traced
//! with `strace` in every process that touches the job from `run -b` to its
//! delivery (the `run` process and the worker it starts, followed with `-f`,
//! and the notifier, attached to). A durable write is the fsync of a file
//! (with, mostly, the fsync of its directory after the rename): the rows
//! count the files synced, and show the directories beside them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::fixture::Fixture;
use crate::measure;
use crate::report::{Row, Target, Unit};

/// The goal: at most this many durable writes per background job.
const TARGET: f64 = 3.0;

/// One traced job: fsync calls of `run` and its worker, and of the notifier.
pub struct Traced {
    /// How the job was started, for the label.
    pub label: &'static str,
    /// Files synced (fsync or fdatasync), all processes together.
    pub files: usize,
    /// Directories synced.
    pub dirs: usize,
}

/// Trace one job without a session and one with, in the fixture's big
/// workspace (notifier up, desktop notifications off). `None` without
/// `strace` (or where it cannot attach).
pub fn measure(fx: &Fixture) -> Result<Option<Vec<Traced>>, String> {
    if Command::new("strace").arg("-V").output().is_err() {
        return Ok(None);
    }
    eprintln!("bgjobs-bench: durable writes per job (strace)…");
    let (_, out) = measure::time_success(&mut fx.bgjobs(&["notifier", "status", "--json"]))?;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`notifier status --json` printed no JSON: {e}"))?;
    let Some(notifier) = status["pid"].as_u64() else {
        return Err(format!("no notifier pid in {status}"));
    };
    let store = fx.store()?;
    // Untraced first: a store's first job also writes its directory's
    // records into being, which no later job pays.
    let (_, out) = measure::time_success(&mut fx.bgjobs(&["run", "-b", "--", "true"]))?;
    let first = String::from_utf8_lossy(&out.stdout).trim().to_string();
    measure::time_success(&mut fx.bgjobs(&["wait", &first]))?;
    let mut traced = Vec::new();
    for (label, extra) in [
        ("`run -b -- true`, no session", &[][..]),
        (
            "`run -b --session S -- true`",
            &["--session", "bench-durable"][..],
        ),
    ] {
        let n_trace = fx.scratch().join("notifier.strace");
        let r_trace = fx.scratch().join("run.strace");
        let mut attached = strace(fx, &n_trace)
            .arg("-p")
            .arg(notifier.to_string())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start strace: {e}"))?;
        if !await_attached(&mut attached)? {
            return Ok(None);
        }
        let mut args = vec!["run", "-b"];
        args.extend_from_slice(extra);
        args.extend(["--", "true"]);
        let mut run = strace(fx, &r_trace);
        run.arg(fx.bin()).args(&args);
        let (_, out) = measure::time_success(&mut run)?;
        let id: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| "`run -b` under strace printed no job id".to_string())?;
        crate::latency::await_status(&store, id, |j| j.deliveries.notified_at.is_some())?;
        // The notifier may still be writing after the delivery is on record.
        std::thread::sleep(Duration::from_millis(200));
        stop(&mut attached);
        let (n_files, n_dirs) = count(&n_trace)?;
        let (r_files, r_dirs) = count(&r_trace)?;
        traced.push(Traced {
            label,
            files: n_files + r_files,
            dirs: n_dirs + r_dirs,
        });
    }
    Ok(Some(traced))
}

/// The table's rows.
pub fn rows(traced: Option<Vec<Traced>>) -> Vec<Row> {
    let Some(traced) = traced else {
        return Vec::new();
    };
    traced
        .into_iter()
        .map(|t| {
            let writes = t.files as f64;
            let row = Row::new(
                "durable_writes",
                format!(
                    "durable writes per job, {}: from `run -b` to delivered (files synced; \
                     directories besides: {})",
                    t.label, t.dirs
                ),
                Unit::Count,
                vec![writes],
            );
            let target = Target::custom(format!("≤ {TARGET}"), writes <= TARGET);
            row.target(target)
        })
        .collect()
}

/// How to read the rows.
pub fn notes(traced: Option<&Vec<Traced>>) -> Vec<String> {
    vec![match traced {
        Some(_) => "Durable writes: `strace -f -y -e trace=fsync,fdatasync` on `bgjobs run -b` \
                    (its worker followed) and attached to the notifier, from the start until the \
                    delivery is on record, desktop notifications off. Each file synced counts \
                    once (its directory's fsync after the rename is shown beside it)."
            .into(),
        None => "Durable writes: not counted (no `strace` on PATH, or it cannot attach).".into(),
    }]
}

fn strace(fx: &Fixture, out: &Path) -> Command {
    let mut cmd = fx.command("strace");
    cmd.args(["-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// Until strace says it attached (it prints nothing with `-qq`, so the
/// trace file appearing is the sign); false when it exited instead.
fn await_attached(child: &mut Child) -> Result<bool, String> {
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(true)
}

/// SIGINT, on which strace detaches and flushes its output.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Files and directories synced in `trace` (`strace -y` names each fd).
fn count(trace: &Path) -> Result<(usize, usize), String> {
    let text = std::fs::read_to_string(trace)
        .map_err(|e| format!("cannot read {}: {e}", trace.display()))?;
    let (mut files, mut dirs) = (0, 0);
    for line in text.lines() {
        if !(line.contains("fsync(") || line.contains("fdatasync(")) || !line.contains("= 0") {
            continue;
        }
        let path = line
            .split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(path, _)| path);
        match path.map(Path::new).is_some_and(Path::is_dir) {
            true => dirs += 1,
            false => files += 1,
        }
    }
    Ok((files, dirs))
}
