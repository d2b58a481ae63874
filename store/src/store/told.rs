//! Telling a session of an end (or that a job is ready), exactly once: a
//! claim marks jobs told under the lock, so two hooks (or a hook and a
//! follower) racing for the same end get disjoint shares, and a claim nobody
//! could receive is undone.

use super::{Locked, Store};
use crate::error::Result;
use crate::job::Job;
use crate::time::Timestamp;

impl Store {
    /// Of the jobs `ids`, those still untold that `may_claim` accepts (read
    /// under the lock), marked told now and returned. A job that is gone or
    /// unreadable is skipped: a scan reports it.
    pub fn claim_told(&self, ids: &[u64], may_claim: impl Fn(&Job) -> bool) -> Result<Vec<Job>> {
        self.claim(ids, Job::untold, may_claim, |tx, job| {
            tx.apply(job, |j| j.deliveries.told_at = Some(Timestamp::now()))
        })
    }

    /// Like [`Store::claim_told`], for readiness: of the jobs `ids`, those
    /// running, ready and not told so, marked told of their readiness now.
    pub fn claim_ready_told(
        &self,
        ids: &[u64],
        may_claim: impl Fn(&Job) -> bool,
    ) -> Result<Vec<Job>> {
        self.claim(ids, Job::ready_untold, may_claim, |tx, job| {
            tx.apply_running(job, |j| j.deliveries.ready_told_at = Some(Timestamp::now()))
        })
    }

    /// The jobs of `ids` that are `owed` and that `may_claim` accepts,
    /// `mark`ed under one lock.
    fn claim(
        &self,
        ids: &[u64],
        owed: impl Fn(&Job) -> bool,
        may_claim: impl Fn(&Job) -> bool,
        mark: impl Fn(&Locked<'_>, Job) -> Result<Job>,
    ) -> Result<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with_lock(|tx| {
            let mut claimed = Vec::new();
            for &id in ids {
                let Ok(Some(job)) = tx.job_opt(id) else {
                    continue;
                };
                if owed(&job) && may_claim(&job) {
                    claimed.push(mark(tx, job)?);
                }
            }
            Ok(claimed)
        })
    }

    /// Undo a [`Store::claim_told`] or [`Store::claim_ready_told`] whose
    /// receiver turned out to be gone, so that a later hook tells these
    /// jobs. A job told again since (by a later claim) is left as it is.
    pub fn unclaim_told(&self, jobs: &[Job]) -> Result<()> {
        self.with_lock(|tx| {
            for job in jobs {
                let Ok(Some(current)) = tx.job_opt(job.id) else {
                    continue;
                };
                let (told, now) = (&job.deliveries, &current.deliveries);
                if told.told_at.is_some() {
                    if now.told_at == told.told_at {
                        tx.apply(current, |j| j.deliveries.told_at = None)?;
                    }
                } else if told.ready_told_at.is_some() && now.ready_told_at == told.ready_told_at {
                    tx.apply_running(current, |j| j.deliveries.ready_told_at = None)?;
                }
            }
            Ok(())
        })
    }
}
