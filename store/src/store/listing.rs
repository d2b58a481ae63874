//! Listings: the active jobs and the newest finished ones (or all of them),
//! with a warning for every record that could not be read.

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

/// How many finished jobs a default listing shows.
pub const RECENT_FINISHED: usize = 20;

impl Store {
    /// List jobs, newest first: every active one plus the newest finished ones
    /// (all of them with `filter.all`), optionally of one session only.
    pub fn list(&self, filter: &ListFilter) -> Result<Listing> {
        // The index first: if it has to be moved aside, the scan reports it.
        let active = self.index()?.active;
        let (ids, mut warnings) = self.scan()?;
        let wanted = |job: &Job| filter.session.is_none() || job.session_id == filter.session;
        let mut jobs = std::collections::BTreeMap::new();
        for id in active {
            if let Some(job) = self.read_listed(id, &mut warnings)? {
                if job.status.is_active() && wanted(&job) {
                    jobs.insert(id, job);
                }
            }
        }
        let mut finished = 0usize;
        for &id in ids.iter().rev() {
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
        let mut warnings = Vec::new();
        for dir in [&self.jobs, &self.dir] {
            for entry in std::fs::read_dir(dir).at("cannot read", dir)? {
                let entry = entry.at("cannot read", dir)?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if record::is_quarantined(&name) {
                    warnings.push(Warning {
                        path: entry.path().to_string_lossy().into_owned(),
                        message: format!(
                            "a corrupt record was moved aside to {}; inspect or delete it",
                            entry.path().display()
                        ),
                    });
                } else if let Some(id) = name
                    .strip_suffix(".json")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    if dir == &self.jobs {
                        ids.push(id);
                    }
                }
            }
        }
        ids.sort_unstable();
        Ok((ids, warnings))
    }
}
