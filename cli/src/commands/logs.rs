//! `bgjobs logs ID [-f]`: print a job's log; follow it until the job ends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::args::LogsArgs;
use crate::context;
use crate::failure::{Failure, Outcome};

/// How often a followed log is looked at.
const FOLLOW_PAUSE: Duration = Duration::from_millis(50);

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
    let mut offset = copy_from(&path, 0)?;
    if !args.follow {
        return Ok(0);
    }
    loop {
        let active = store.get(args.id)?.status.is_active();
        offset = copy_from(&path, offset)?;
        if !active {
            return Ok(0);
        }
        std::thread::sleep(FOLLOW_PAUSE);
    }
}

/// Copy the log from `offset` to stdout; returns the new offset. A log that
/// shrank was rolled over its bound: start again from its beginning.
fn copy_from(path: &Path, offset: u64) -> Result<u64, Failure> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(offset),
        Err(e) => {
            return Err(Failure::error(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if len < offset { 0 } else { offset };
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?;
    drop(file);
    let mut out = std::io::stdout().lock();
    if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
        // The reader went away (a closed pipe): nothing more to do.
        std::process::exit(0);
    }
    Ok(start + bytes.len() as u64)
}
