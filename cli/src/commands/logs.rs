//! `bgjobs logs ID [-f] [-n N]`: print a job's log (or its last N lines);
//! follow it until the job ends.

use std::path::{Path, PathBuf};

use crate::args::LogsArgs;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::follow;

/// Entry point of `logs`.
pub fn run(workspace: Option<PathBuf>, args: LogsArgs) -> Outcome {
    let store = context::open_store(workspace)?;
    let job = store.get(args.id)?;
    let path = PathBuf::from(&job.log_path);
    // A queued job has no log yet; a finished one always had one.
    if !job.status.is_active() && !path.exists() && job.started_at.is_some() {
        return Err(Failure::error(format!(
            "the log of job {} is missing: {}",
            job.id,
            path.display()
        )));
    }
    let from = match args.lines {
        Some(n) => bgjobs_store::log::last_lines_start(&path, n)
            .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?,
        None => 0,
    };
    if args.follow {
        follow::follow_from(&store, args.id, from)?;
    } else {
        follow::copy_from(Path::new(&path), from)?;
    }
    // A closed stdout (`bgjobs logs 7 | head`) is a reader that is done.
    Ok(0)
}
