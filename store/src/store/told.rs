//! Telling a session of an end, exactly once: a claim marks jobs told under
//! the lock, so two hooks (or a hook and a follower) racing for the same end
//! get disjoint shares, and a claim nobody could receive is undone.

use super::Store;
use crate::error::Result;
use crate::job::Job;
use crate::time::Timestamp;

impl Store {
    /// Of the jobs `ids`, those still untold that `may_claim` accepts (read
    /// under the lock), marked told now and returned. A job that is gone or
    /// unreadable is skipped: a scan reports it.
    pub fn claim_told(&self, ids: &[u64], may_claim: impl Fn(&Job) -> bool) -> Result<Vec<Job>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with_lock(|tx| {
            let mut claimed = Vec::new();
            for &id in ids {
                let Ok(Some(job)) = tx.job_opt(id) else {
                    continue;
                };
                if job.untold() && may_claim(&job) {
                    claimed.push(tx.apply(job, |j| j.deliveries.told_at = Some(Timestamp::now()))?);
                }
            }
            Ok(claimed)
        })
    }

    /// Undo a [`Store::claim_told`] whose receiver turned out to be gone, so
    /// that a later hook tells these jobs. A job told again since (by a
    /// later claim) is left as it is.
    pub fn unclaim_told(&self, jobs: &[Job]) -> Result<()> {
        self.with_lock(|tx| {
            for job in jobs {
                if let Ok(Some(current)) = tx.job_opt(job.id) {
                    if current.deliveries.told_at == job.deliveries.told_at {
                        tx.apply(current, |j| j.deliveries.told_at = None)?;
                    }
                }
            }
            Ok(())
        })
    }
}
