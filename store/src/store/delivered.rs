//! Recording that the notifier has handled a job's end, once.

use super::Store;
use crate::error::Result;
use crate::fsio::Durability;
use crate::job::Job;
use crate::time::Timestamp;

/// What [`Store::record_delivery`] recorded.
#[derive(Debug)]
pub struct Delivered {
    /// The record afterwards.
    pub job: Job,
    /// The desktop notification was claimed by this delivery: show it.
    pub desktop: bool,
}

impl Store {
    /// Mark job `id`'s end as handled by the notifier, claiming its desktop
    /// notification too when `desktop`; `None` when it was handled already
    /// (a report and a sweep may deliver one end at once). A claim is
    /// written durably, before the notification is shown, so that no crash
    /// can show it twice; a delivery that claims nothing was only wake-ups,
    /// which a repeat after a crash of the machine repeats harmlessly: its
    /// directory is not synced (the file is, so that the end it holds cannot
    /// be lost with it).
    pub fn record_delivery(&self, id: u64, desktop: bool) -> Result<Option<Delivered>> {
        self.with_lock(|tx| {
            let job = tx.job(id)?;
            if job.deliveries.notified_at.is_some() {
                return Ok(None);
            }
            let claim = desktop && job.deliveries.desktop_at.is_none();
            let now = Some(Timestamp::now());
            let durability = match claim {
                true => Durability::Durable,
                false => Durability::Volatile,
            };
            let job = tx.apply_with(job, durability, |j| {
                if claim {
                    j.deliveries.desktop_at = now;
                }
                j.deliveries.notified_at = now;
            })?;
            Ok(Some(Delivered {
                job,
                desktop: claim,
            }))
        })
    }
}
