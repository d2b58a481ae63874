//! Output shared by commands: JSON printing and the human renderings of jobs.

use std::io::Write;

use bgjobs_store::time::short_duration;
use bgjobs_store::{Job, Status};
use serde::Serialize;

use crate::failure::Failure;

/// `println!` for what a command tells its user, returning a `Result` for
/// `?`: a closed stdout (a reader that went away, `bgjobs run -b | true`)
/// ends the command quietly at `main`'s boundary, never a panic; any other
/// write error is a failure.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Write one line to stdout (see [`say`]).
pub fn write_line(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(write_failure)
}

/// A failed write to stdout: a closed pipe is a reader that is done.
fn write_failure(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::reader_gone()
    } else {
        Failure::error(format!("cannot write output: {e}"))
    }
}

/// Print `value` as one JSON document on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), Failure> {
    stream(|out| {
        serde_json::to_writer_pretty(&mut *out, value)?;
        writeln!(out)
    })
}

/// Write a document to stdout through `write`, in one buffered stream (one
/// write(2) for a small document, not one per line); an error from a
/// closed reader is handled as for [`say`].
pub fn stream(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(write_failure)
}

/// For a finished job how long it ran; for an active one how long it has
/// been running or queued.
pub fn age_or_duration(job: &Job) -> String {
    match (job.duration(), job.status) {
        (Some(d), _) => short_duration(d),
        (None, Status::Queued) => short_duration(job.created_at.elapsed()),
        (None, _) => "-".into(),
    }
}

/// One line that says a job is ready, for `wait --ready` and notices.
pub fn ready_line(job: &Job) -> String {
    let mut line = format!("job {} is ready", job.id);
    if let (Some(start), Some(ready)) = (job.started_at, job.ready_at) {
        line.push_str(&format!(" after {}", short_duration(start.until(ready))));
    }
    line.push_str(&format!(": {}", job.title));
    if let Some(pattern) = &job.ready_pattern {
        line.push_str(&format!(" (output matched {pattern:?})"));
    }
    line
}

/// One line that says how a job ended (or is ready), for `wait` and notices.
pub fn ended_line(job: &Job) -> String {
    if job.status.is_active() && job.ready_at.is_some() {
        return ready_line(job);
    }
    let mut line = format!("job {} {}", job.id, job.outcome());
    if let Some(d) = job.duration() {
        line.push_str(&format!(" after {}", short_duration(d)));
    }
    line.push_str(&format!(": {}", job.title));
    if let Some(reason) = &job.reason {
        line.push_str(&format!(" ({reason})"));
    }
    line
}
