//! Listings: the active jobs and the newest finished ones (or all of them),
//! with a warning for every record that could not be read.

use std::path::Path;

use serde::Serialize;

use super::Store;
use crate::error::{Error, IoContext, Result};
use crate::job::Job;
use crate::record;

/// Something a listing could not read, reported beside the jobs.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    /// The file concerned.
    pub path: String,
    /// What is wrong with it, in words.
    pub message: String,
}

/// What [`Store::list`] returns.
#[derive(Debug, Default)]
pub struct Listing {
    /// Jobs, newest first.
    pub jobs: Vec<Job>,
    /// Records that could not be read.
    pub warnings: Vec<Warning>,
}

/// Which jobs [`Store::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Every finished job, not only the newest ones.
    pub all: bool,
    /// Only this session's jobs.
    pub session: Option<String>,
}

/// A file in the store's directory that says a record lies aside in
/// `jobs/`, so that a default listing reads that directory to report it.
pub const ASIDE_MARKER: &str = "jobs-aside";

/// How many finished jobs a default listing shows.
pub const RECENT_FINISHED: usize = 20;

impl Store {
    /// List jobs, newest first: every active one plus the newest finished ones
    /// (all of them with `filter.all`), optionally of one session only.
    ///
    /// A default listing reads no directory of records: it walks down from
    /// the newest id (every id above the prune cursor has its record, but
    /// for the rare one moved aside or never written), so it costs the same
    /// with 100,000 finished jobs as with 1,000. Records moved aside are
    /// still reported: while any lies in `jobs/` (the marker
    /// [`ASIDE_MARKER`] says so), the directory is read as before.
    pub fn list(&self, filter: &ListFilter) -> Result<Listing> {
        // The index first: if it has to be moved aside, the scan reports it.
        let index = self.index()?;
        let aside = self.dir.join(ASIDE_MARKER).exists();
        // After the active ones, newest first: every record, or the walk.
        let (candidates, mut warnings): (Box<dyn Iterator<Item = u64>>, _) =
            match filter.all || aside {
                true => {
                    let (ids, warnings) = self.scan()?;
                    if aside && !warnings.iter().any(|w| self.in_jobs(w)) {
                        self.clear_aside_marker()?;
                    }
                    (Box::new(ids.into_iter().rev()), warnings)
                }
                false => {
                    let meta = self.meta().unwrap_or_default();
                    let mut kept = meta.kept;
                    kept.sort_unstable();
                    let above = (meta.pruned_through + 1..index.next_id).rev();
                    let warnings = self.aside_in(&self.dir)?;
                    (Box::new(above.chain(kept.into_iter().rev())), warnings)
                }
            };
        let wanted = |job: &Job| filter.session.is_none() || job.session_id == filter.session;
        let mut jobs = std::collections::BTreeMap::new();
        for id in index.active {
            if let Some(job) = self.read_listed(id, &mut warnings)? {
                if job.status.is_active() && wanted(&job) {
                    jobs.insert(id, job);
                }
            }
        }
        let mut finished = 0usize;
        for id in candidates {
            if !filter.all && finished >= RECENT_FINISHED {
                break;
            }
            if jobs.contains_key(&id) {
                continue;
            }
            if let Some(job) = self.read_listed(id, &mut warnings)? {
                if wanted(&job) {
                    finished += usize::from(!job.status.is_active());
                    jobs.insert(id, job);
                }
            }
        }
        Ok(Listing {
            jobs: jobs.into_values().rev().collect(),
            warnings,
        })
    }

    /// Whether `warning` names a file in `jobs/`.
    pub(super) fn in_jobs(&self, warning: &Warning) -> bool {
        Path::new(&warning.path).parent() == Some(self.jobs.as_path())
    }

    /// Remove [`ASIDE_MARKER`] once no record lies aside in `jobs/`: checked
    /// again under the lock, which every move aside of a record holds.
    fn clear_aside_marker(&self) -> Result<()> {
        self.with_lock(|_| {
            if self.aside_in(&self.jobs)?.is_empty() {
                let marker = self.dir.join(ASIDE_MARKER);
                match std::fs::remove_file(&marker) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(e).at("cannot remove", &marker)
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }

    /// Read a job for a listing: a corrupt record becomes a warning, a record
    /// removed meanwhile (pruned) is skipped.
    fn read_listed(&self, id: u64, warnings: &mut Vec<Warning>) -> Result<Option<Job>> {
        match self.get(id) {
            Ok(job) => Ok(Some(job)),
            Err(Error::UnknownJob(_)) => Ok(None),
            Err(e @ Error::Corrupt { .. }) => {
                let path = self.job_path(id).to_string_lossy().into_owned();
                // The `.corrupt-` file may already be listed by the scan.
                warnings.retain(|w| !w.path.starts_with(&path));
                warnings.push(Warning {
                    path,
                    message: e.to_string(),
                });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Ids of all job records (ascending), and warnings for records moved
    /// aside as corrupt.
    pub fn scan(&self) -> Result<(Vec<u64>, Vec<Warning>)> {
        let mut ids = Vec::new();
        let mut warnings = self.aside_in(&self.dir)?;
        for entry in std::fs::read_dir(&self.jobs).at("cannot read", &self.jobs)? {
            let entry = entry.at("cannot read", &self.jobs)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if record::is_quarantined(&name) {
                warnings.push(aside_warning(&entry.path()));
            } else if let Some(id) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok((ids, warnings))
    }

    /// Warnings for the records moved aside in `dir`.
    fn aside_in(&self, dir: &Path) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        for entry in std::fs::read_dir(dir).at("cannot read", dir)? {
            let entry = entry.at("cannot read", dir)?;
            if record::is_quarantined(&entry.file_name().to_string_lossy()) {
                warnings.push(aside_warning(&entry.path()));
            }
        }
        Ok(warnings)
    }
}

fn aside_warning(path: &Path) -> Warning {
    Warning {
        path: path.to_string_lossy().into_owned(),
        message: format!(
            "a corrupt record was moved aside to {}; inspect or delete it",
            path.display()
        ),
    }
}
