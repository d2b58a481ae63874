//! Streaming a job's log to stdout until the job ends: `logs -f` and the
//! follower of `run -b --follow`. The end is pushed by the notifier (polled
//! from the store without one); new output is looked for every
//! [`PAUSE`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use bgjobs_store::{Job, Store};

use crate::failure::Failure;
use crate::waker::{Interest, Waker};

/// How often a followed log is looked at for new output.
const PAUSE: Duration = Duration::from_millis(50);

/// How a follow ended.
pub enum Followed {
    /// The job ended and all of its log was written out.
    Ended(Box<Job>),
    /// Stdout was closed (a reader that went away): nothing more to do.
    Closed,
}

/// Copy job `id`'s log to stdout from its start until the job ends.
pub fn follow(store: &Store, id: u64) -> Result<Followed, Failure> {
    follow_from(store, id, 0)
}

/// [`follow`] from byte `offset` of the log on.
pub fn follow_from(store: &Store, id: u64, offset: u64) -> Result<Followed, Failure> {
    let mut waker = Waker::subscribe(
        store,
        Interest {
            ids: vec![id],
            ..Interest::default()
        },
    );
    let mut offset = offset;
    loop {
        // The status first: a worker drains the log before it records the
        // end, so a copy after seeing the end gets all of it.
        let job = store.get(id)?;
        let Some(next) = copy_from(Path::new(&job.log_path), offset)? else {
            return Ok(Followed::Closed);
        };
        offset = next;
        if !job.status.is_active() {
            return Ok(Followed::Ended(Box::new(job)));
        }
        waker.sleep(PAUSE);
    }
}

/// Copy the log from `offset` to stdout; returns the new offset, or `None`
/// when stdout is closed. A log that shrank was rolled over its bound: start
/// again from its beginning.
pub fn copy_from(path: &Path, offset: u64) -> Result<Option<u64>, Failure> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(offset)),
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
    if bytes.is_empty() {
        return Ok(Some(start));
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(&bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Some(start + bytes.len() as u64)),
        Err(_) => Ok(None),
    }
}
