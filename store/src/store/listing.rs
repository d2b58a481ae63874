//! Listings: the active jobs and the newest finished ones (or all of them),
//! with a warning for every record that could not be read.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::DirEntry;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::summary::{self, Entry, Stamp, Summary, Text};
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
    pub jobs: Vec<Listed>,
    /// Records that could not be read.
    pub warnings: Vec<Warning>,
}

/// A job in a [`Listing`]: read from its record, or, in a listing of every
/// job, a settled one whose record is unchanged taken from the summary
/// (`store/summary.rs`), as its text, not parsed.
#[derive(Debug, Clone)]
pub enum Listed {
    /// Read from its record.
    Read(Box<Job>),
    /// Taken from the summary.
    Summarized {
        /// The job's id.
        id: u64,
        /// Its owning session.
        session_id: Option<String>,
        /// The job's JSON, as [`Listed::json`] gives it.
        text: Text,
    },
}

impl Listed {
    /// The job's id.
    pub fn id(&self) -> u64 {
        match self {
            Listed::Read(job) => job.id,
            Listed::Summarized { id, .. } => *id,
        }
    }

    /// The job, parsed from its text if it was taken from the summary.
    pub fn job(&self) -> Result<Cow<'_, Job>> {
        match self {
            Listed::Read(job) => Ok(Cow::Borrowed(&**job)),
            Listed::Summarized { id, text, .. } => serde_json::from_slice(text.bytes())
                .map(Cow::Owned)
                .map_err(|e| Error::Invalid(format!("the summary's text of job {id}: {e}"))),
        }
    }

    /// The job's JSON as it stands in a listing's JSON document (see
    /// [`JSON_DEPTH`]): for a job taken from the summary, its text as it is.
    pub fn json(&self) -> Result<Cow<'_, [u8]>> {
        match self {
            Listed::Read(job) => nested_json(&**job, JSON_DEPTH).map(Cow::Owned),
            Listed::Summarized { text, .. } => Ok(Cow::Borrowed(text.bytes())),
        }
    }
}

/// How deep a job stands in a listing's JSON document, `{"jobs": [job, …],
/// …}`: the nesting at which [`Listed::json`] gives it, so that the
/// document is written around the jobs' texts, never through them.
pub const JSON_DEPTH: usize = 2;

/// `value` as `serde_json::to_vec_pretty` writes it nested `depth` levels
/// deep: every line after the first indented by two spaces a level.
pub fn nested_json<T: Serialize + ?Sized>(value: &T, depth: usize) -> Result<Vec<u8>> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    let indent = 2 * depth;
    let lines = memchr::memchr_iter(b'\n', &text).count();
    let mut out = Vec::with_capacity(text.len() + lines * indent);
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', &text) {
        out.extend_from_slice(&text[start..=newline]);
        out.resize(out.len() + indent, b' ');
        start = newline + 1;
    }
    out.extend_from_slice(&text[start..]);
    Ok(out)
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

/// What a listing reads after the active jobs.
enum Rest {
    /// Every record, with its stamp, and the summary being read.
    Every(summary::Loading, Vec<(u64, Option<Stamp>)>),
    /// Ids newest first, until [`RECENT_FINISHED`] finished jobs are found.
    Newest(Box<dyn Iterator<Item = u64>>),
}

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
    ///
    /// A listing of every job reads the directory, and takes each settled
    /// job whose record is unchanged from the summary (`store/summary.rs`)
    /// rather than from its record.
    pub fn list(&self, filter: &ListFilter) -> Result<Listing> {
        // The index first: if it has to be moved aside, the scan reports it.
        let index = self.index()?;
        let aside = self.dir.join(ASIDE_MARKER).exists();
        let wanted = |session: Option<&str>| {
            filter.session.is_none() || session == filter.session.as_deref()
        };
        // Records moved aside first: a record found damaged below replaces
        // the warning for its `.corrupt-` file with its own.
        let mut warnings = self.aside_in(&self.dir)?;
        // What comes after the active jobs, read before them (see above).
        let rest = if filter.all {
            // The summary is read while the directory is: both take time at
            // 10,000 jobs.
            let summary = Summary::load_beside(self);
            let mut records = Vec::new();
            self.scan_with(|id, entry| records.push((id, entry)), &mut warnings)?;
            Rest::Every(summary, summary::stamps(records))
        } else if aside {
            let mut ids = Vec::new();
            self.scan_with(|id, _| ids.push(id), &mut warnings)?;
            ids.sort_unstable();
            Rest::Newest(Box::new(ids.into_iter().rev()))
        } else {
            let meta = self.meta().unwrap_or_default();
            let mut kept = meta.kept;
            kept.sort_unstable();
            let above = (meta.pruned_through + 1..index.next_id).rev();
            Rest::Newest(Box::new(above.chain(kept.into_iter().rev())))
        };
        let mut jobs = BTreeMap::new();
        for &id in &index.active {
            if let Some(job) = self.read_listed(id, &mut warnings)? {
                if job.status.is_active() && wanted(job.session_id.as_deref()) {
                    jobs.insert(id, Listed::Read(Box::new(job)));
                }
            }
        }
        match rest {
            Rest::Every(summary, stamps) => {
                let (summary, active) = (summary.join(), &index.active);
                self.list_every(summary, stamps, active, &wanted, &mut jobs, &mut warnings)?;
            }
            Rest::Newest(candidates) => {
                let mut finished = 0usize;
                for id in candidates {
                    if finished >= RECENT_FINISHED {
                        break;
                    }
                    if jobs.contains_key(&id) {
                        continue;
                    }
                    if let Some(job) = self.read_listed(id, &mut warnings)? {
                        if wanted(job.session_id.as_deref()) {
                            finished += usize::from(!job.status.is_active());
                            jobs.insert(id, Listed::Read(Box::new(job)));
                        }
                    }
                }
            }
        }
        if aside && !warnings.iter().any(|w| self.in_jobs(w)) {
            self.clear_aside_marker()?;
        }
        Ok(Listing {
            jobs: jobs.into_values().rev().collect(),
            warnings,
        })
    }

    /// Add every job not listed yet to `jobs`, of the records with these
    /// `stamps`: from the summary where its record is unchanged, else from
    /// its record. Settled jobs the summary lacks are added to it, but for
    /// those the index holds `active`.
    fn list_every(
        &self,
        mut summary: Summary,
        mut stamps: Vec<(u64, Option<Stamp>)>,
        active: &[u64],
        wanted: &dyn Fn(Option<&str>) -> bool,
        jobs: &mut BTreeMap<u64, Listed>,
        warnings: &mut Vec<Warning>,
    ) -> Result<()> {
        // After the stamps, before the records: a record read now is at
        // least as new as its stamp says, so an entry is never newer than
        // its stamp's file.
        let now = SystemTime::now();
        let mut live = HashMap::with_capacity(stamps.len());
        let mut fresh = Vec::new();
        // Newest first, as the warnings of damaged records come.
        stamps.sort_unstable_by_key(|&(id, _)| std::cmp::Reverse(id));
        for (id, stamp) in stamps {
            let cached = summary.entries.remove(&id);
            match cached.filter(|e| Some(e.stamp) == stamp) {
                Some(entry) => {
                    if !jobs.contains_key(&id) && wanted(entry.session.as_deref()) {
                        jobs.insert(
                            id,
                            Listed::Summarized {
                                id,
                                session_id: entry.session.clone(),
                                text: entry.text.clone(),
                            },
                        );
                    }
                    live.insert(id, entry);
                }
                None => {
                    let listed = match jobs.remove(&id) {
                        Some(Listed::Read(job)) => Some(*job),
                        _ => self.read_listed(id, warnings)?,
                    };
                    let Some(job) = listed else { continue };
                    // Never a job the index holds active: what a read of
                    // it says (lost, say) may not be on record yet.
                    let entry = stamp.filter(|_| !active.contains(&id));
                    if let Some(entry) = entry.and_then(|s| Entry::of(&job, s, now)) {
                        if live.insert(id, entry).is_none() {
                            fresh.push(id);
                        }
                    }
                    if wanted(job.session_id.as_deref()) {
                        jobs.insert(id, Listed::Read(Box::new(job)));
                    }
                }
            }
        }
        if let Some(how) = summary.update_needed(live.len(), fresh.len()) {
            // A summary that cannot be written only costs the next listing
            // the records' reads.
            let _ = self.with_lock(|_| summary.update(self, how, &live, &fresh));
        }
        Ok(())
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
        self.scan_with(|id, _| ids.push(id), &mut warnings)?;
        ids.sort_unstable();
        Ok((ids, warnings))
    }

    /// Call `each` for every record in `jobs/` (in no order), and add a
    /// warning for every record moved aside there.
    fn scan_with(
        &self,
        mut each: impl FnMut(u64, DirEntry),
        warnings: &mut Vec<Warning>,
    ) -> Result<()> {
        for entry in std::fs::read_dir(&self.jobs).at("cannot read", &self.jobs)? {
            let entry = entry.at("cannot read", &self.jobs)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if record::is_quarantined(&name) {
                warnings.push(aside_warning(&entry.path()));
            } else if let Some(id) = record_id(&name) {
                each(id, entry);
            }
        }
        Ok(())
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

/// The id of the record named `name`, `<id>.json` as bgjobs names it (not
/// `07.json`, which is no record of job 7).
fn record_id(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    let id = digits.parse::<u64>().ok()?;
    (id.to_string() == digits).then_some(id)
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
