//! Liveness: a job whose worker is gone is lost, recorded so under the lock
//! by whichever read finds it; its command, if still running unsupervised,
//! is told to stop.

use super::{Locked, Store};
use crate::error::{Error, Result};
use crate::job::{Job, Status};
use crate::tree;

impl Store {
    /// `job` as it really is: if it is active and the process responsible for
    /// it is gone, it is marked `lost` (under the lock) and returned so.
    pub fn reconcile(&self, job: Job) -> Result<Job> {
        if !owner_gone(&job) {
            return Ok(job);
        }
        let recorded = self.with_lock(|tx| {
            let job = tx.job(job.id)?;
            tx.reconciled(job)
        });
        match recorded {
            // The store cannot be written (a full disk): say the truth
            // anyway; the next read that can write records it.
            Err(e @ (Error::Io { .. } | Error::BadStateRoot { .. })) => {
                let mut lost = job;
                let reason = format!("{}; not recorded yet: {e}", lost_reason(&lost));
                lost.finish(Status::Lost, Some(reason));
                Ok(lost)
            }
            other => other,
        }
    }
}

impl Locked<'_> {
    /// `job`, marked `lost` if it is active and its worker is gone. When its
    /// command is still running, unsupervised, its tree is asked to stop.
    pub fn reconciled(&self, job: Job) -> Result<Job> {
        if !owner_gone(&job) {
            return Ok(job);
        }
        let orphan = job.process.filter(|p| p.is_alive());
        let tree = self.store.tree_name(job.id);
        let reason = match orphan {
            Some(p) => {
                tree::request_stop(&p, &tree);
                format!(
                    "{}; its command (pid {}) was told to stop",
                    lost_reason(&job),
                    p.pid
                )
            }
            None => lost_reason(&job),
        };
        self.apply(job, |j| {
            j.finish(Status::Lost, Some(reason));
        })
    }
}

/// Why a job whose worker is gone is lost, in words.
fn lost_reason(job: &Job) -> String {
    let worker = job.worker.map(|w| w.pid).unwrap_or_default();
    format!("worker process {worker} is gone without recording an end")
}

/// Whether `job` is active but the process responsible for it has exited.
fn owner_gone(job: &Job) -> bool {
    job.status.is_active() && job.worker.is_some_and(|w| !w.is_alive())
}
