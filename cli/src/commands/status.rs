//! `bgjobs status`: the workspace's jobs, every session's, newest first.

use std::path::PathBuf;

use std::path::Path;

use bgjobs_store::{Job, ListFilter, Warning};
use serde::Serialize;

use crate::admission;
use crate::args::StatusArgs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::output;
use crate::output::say;

/// `status --json`: a contract for scripts.
#[derive(Serialize)]
struct StatusJson<'a> {
    workspace: &'a Path,
    jobs: &'a [Job],
    warnings: &'a [Warning],
}

/// Entry point of `status`.
pub fn run(workspace: Option<PathBuf>, args: StatusArgs) -> Outcome {
    let session = if args.mine {
        Some(context::session(None).ok_or_else(|| {
            Failure::usage("--mine: no current session (set BGJOBS_SESSION_ID or use --session)")
        })?)
    } else {
        args.session
    };
    let store = context::open_store(workspace)?;
    // A look is a chance to start what is due: the listing is then true.
    admission::start_due(&store, false);
    let listing = store.list(&ListFilter {
        all: args.all,
        session,
    })?;
    if args.json {
        output::json(&StatusJson {
            workspace: store.workspace(),
            jobs: &listing.jobs,
            warnings: &listing.warnings,
        })?;
        return Ok(0);
    }
    for warning in &listing.warnings {
        eprintln!("warning: {}", warning.message);
    }
    if listing.jobs.is_empty() {
        say!("no jobs in {}", store.workspace().display())?;
        return Ok(0);
    }
    let rows: Vec<[String; 5]> = listing
        .jobs
        .iter()
        .map(|job| {
            [
                job.id.to_string(),
                job.state(),
                output::age_or_duration(job),
                job.session_id
                    .as_deref()
                    .map_or("-".into(), |s| s.chars().take(12).collect()),
                job.title.clone(),
            ]
        })
        .collect();
    let header = ["ID", "STATUS", "TIME", "SESSION", "TITLE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 4 {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        say!("{}", text.trim_end())
    };
    line(header)?;
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]])?;
    }
    Ok(0)
}
