//! `bgjobs status`: the workspace's jobs, every session's, newest first.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use bgjobs_store::ListFilter;

use crate::admission;
use crate::args::StatusArgs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::output;
use crate::output::say;

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
        let texts = listing
            .jobs
            .iter()
            .map(|listed| listed.json())
            .collect::<Result<Vec<_>, _>>()?;
        let warnings = bgjobs_store::nested_json(&listing.warnings, 1)?;
        output::stream(|out| write_json(out, store.workspace(), &texts, &warnings))?;
        return Ok(0);
    }
    // A summary's text that does not parse (edited by hand) is read from
    // its record instead.
    let jobs = listing
        .jobs
        .iter()
        .map(|listed| {
            listed
                .job()
                .or_else(|_| store.get(listed.id()).map(Cow::Owned))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for warning in &listing.warnings {
        eprintln!("warning: {}", warning.message);
    }
    if jobs.is_empty() {
        say!("no jobs in {}", store.workspace().display())?;
        return Ok(0);
    }
    let rows: Vec<[String; 5]> = jobs
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

/// `status --json`, a contract for scripts: `{"workspace", "jobs",
/// "warnings"}`, exactly as `serde_json::to_writer_pretty` writes it, but
/// around the jobs' texts (nested [`bgjobs_store::JSON_DEPTH`] deep) as
/// they are, so that the jobs a listing took from the summary are copied,
/// never parsed and written again.
fn write_json(
    out: &mut dyn Write,
    workspace: &Path,
    texts: &[Cow<'_, [u8]>],
    warnings: &[u8],
) -> std::io::Result<()> {
    let workspace = serde_json::to_string(workspace)?;
    write!(out, "{{\n  \"workspace\": {workspace},\n  \"jobs\": [")?;
    for (i, text) in texts.iter().enumerate() {
        out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        out.write_all(text)?;
    }
    if !texts.is_empty() {
        out.write_all(b"\n  ")?;
    }
    out.write_all(b"],\n  \"warnings\": ")?;
    out.write_all(warnings)?;
    out.write_all(b"\n}\n")
}
