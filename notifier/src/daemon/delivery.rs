//! Acting on a job's end: wake subscribers, claim and show a desktop
//! notification, record the delivery on the job. The store is the truth: a
//! message only makes the daemon look.

use std::path::Path;
use std::sync::Arc;

use bgjobs_store::time::{short_duration, Timestamp};
use bgjobs_store::{Job, Store};

use super::Shared;
use crate::desktop;
use crate::protocol::Reply;

/// Handle a worker's `job_finished`: re-read the record and deliver only if
/// the store shows a final status. The store work (reads, the delivery's
/// fsyncs, a broker teardown of up to seconds) runs on the blocking pool, so
/// the event loop goes on serving every other connection and wake-up.
pub async fn job_finished(shared: &Arc<Shared>, workspace: &Path, id: u64) -> Reply {
    let (shared, workspace) = (shared.clone(), workspace.to_path_buf());
    let handled = tokio::task::spawn_blocking(move || {
        let reply = finished(&shared, &workspace, id);
        if let Some(store) = store_for(&shared, &workspace) {
            // After the reply: the worker need not wait for a teardown.
            tokio::task::spawn_blocking(move || teardown_broker(&store));
        }
        reply
    });
    handled.await.unwrap_or_else(|e| Reply::Error {
        message: format!("handling the end of job {id} failed: {e}"),
    })
}

/// Handle a worker's `job_ready`: re-read the record and, if it says the job
/// is running and ready, wake the subscribers and record the delivery.
pub async fn job_ready(shared: &Arc<Shared>, workspace: &Path, id: u64) -> Reply {
    let (shared, workspace) = (shared.clone(), workspace.to_path_buf());
    let handled = tokio::task::spawn_blocking(move || {
        let Some(store) = store_for(&shared, &workspace) else {
            return Reply::Error {
                message: format!("no bgjobs workspace at {}", workspace.display()),
            };
        };
        match store.get(id) {
            Ok(job) => {
                deliver_ready(&shared, &store, job);
                Reply::Ok
            }
            Err(e) => Reply::Error {
                message: e.to_string(),
            },
        }
    });
    handled.await.unwrap_or_else(|e| Reply::Error {
        message: format!("handling the readiness of job {id} failed: {e}"),
    })
}

/// [`job_finished`]'s work, off the event loop.
fn finished(shared: &Arc<Shared>, workspace: &Path, id: u64) -> Reply {
    let Some(store) = store_for(shared, workspace) else {
        return Reply::Error {
            message: format!("no bgjobs workspace at {}", workspace.display()),
        };
    };
    match store.get(id) {
        Ok(job) if job.status.is_active() => Reply::Error {
            message: format!("job {id} has not finished; nothing done"),
        },
        Ok(job) => {
            // Waiters first, then the fsyncs that record the delivery.
            deliver(shared, &store, job);
            Reply::Ok
        }
        Err(e) => Reply::Error {
            message: e.to_string(),
        },
    }
}

/// Look at every workspace: deliver what is pending (including jobs found
/// lost just now). Blocking (store reads, fsyncs, broker teardowns): the
/// daemon runs it on the blocking pool. Returns whether to look again soon: a job is still
/// running, or a delivery could not be recorded (on Windows a reader holding
/// the record open can outlast the write's retries) and must be retried
/// rather than left until the daemon's idle exit.
pub fn sweep(shared: &Arc<Shared>) -> bool {
    let stores = match Store::all(&shared.options.root, &shared.options.config) {
        Ok(stores) => stores,
        Err(e) => {
            eprintln!("bgjobs notifier: cannot list workspaces: {e}");
            return false;
        }
    };
    let mut again = false;
    for store in stores {
        if let Some(start_due) = shared.options.start_due {
            start_due(&store);
        }
        let ids = [store.active_ids(), store.undelivered_ids()];
        for id in ids.into_iter().flatten().flatten() {
            match store.get(id) {
                Ok(job) if job.status.is_active() => {
                    again = true;
                    again |= !deliver_ready(shared, &store, job);
                }
                Ok(job) if job.undelivered() => again |= !deliver(shared, &store, job),
                // Listed, yet delivered: by a report just now (the lock waits
                // for its index write), or by a notifier killed between the
                // record of the delivery and the index's, which left the
                // entry behind for good.
                Ok(_) => {
                    if let Err(e) = store.unlist_stale(id) {
                        eprintln!("bgjobs notifier: cannot drop job {id} from the index: {e}");
                    }
                }
                Err(_) => {} // pruned or corrupt: reported by `status`
            }
        }
        teardown_broker(&store);
        shared
            .lock()
            .stores
            .insert(store.workspace().to_path_buf(), store);
    }
    again
}

/// The final clean-up: a broker nothing holds any more is torn down, by
/// whoever sees it first (a worker or the notifier), exactly once.
fn teardown_broker(store: &Store) {
    match store.teardown_broker(false) {
        Ok(Some(done)) => eprintln!(
            "bgjobs notifier: broker {} of {} torn down (shutdown: {}; process: {})",
            done.broker.process.pid,
            store.workspace().display(),
            done.shutdown,
            done.process
        ),
        Ok(None) => {}
        Err(e) => eprintln!(
            "bgjobs notifier: broker teardown in {}: {e}",
            store.workspace().display()
        ),
    }
}

fn store_for(shared: &Shared, workspace: &Path) -> Option<Store> {
    if let Some(store) = shared.lock().stores.get(workspace) {
        return Some(store.clone());
    }
    let options = &shared.options;
    let store = Store::open_existing(
        &options.root,
        workspace.to_path_buf(),
        options.config.clone(),
    )
    .ok()??;
    shared
        .lock()
        .stores
        .insert(workspace.to_path_buf(), store.clone());
    Some(store)
}

/// Deliver a final job once: subscribers first (they are waiting), then the
/// record of the delivery, claiming the desktop notification in the same
/// write so that no restart can show it twice. Returns whether the job's
/// delivery is on record.
fn deliver(shared: &Arc<Shared>, store: &Store, job: Job) -> bool {
    if !job.undelivered() {
        return true;
    }
    wake(shared, store.workspace(), &job);
    record(shared, store, job)
}

/// Deliver a job's readiness once: subscribers first, then the record of
/// it, which also claims its desktop notification (shown at most once).
/// Returns whether the delivery is on record.
fn deliver_ready(shared: &Arc<Shared>, store: &Store, job: Job) -> bool {
    if !job.ready_undelivered() {
        return true;
    }
    wake(shared, store.workspace(), &job);
    let mut first = false;
    let recorded = store.update_running(job.id, |j| {
        if j.ready_undelivered() {
            j.deliveries.ready_notified_at = Some(Timestamp::now());
            first = true;
        }
    });
    match recorded {
        Ok(job) => {
            if first && shared.options.desktop.is_some() && job.background {
                queue_desktop(shared, job);
            }
            true
        }
        Err(e) => {
            eprintln!(
                "bgjobs notifier: cannot record the readiness of job {}: {e}",
                job.id
            );
            false
        }
    }
}

/// Record the delivery of `job`, claiming its desktop notification in the
/// same write so that no restart can show it twice. Returns whether it was
/// recorded.
fn record(shared: &Arc<Shared>, store: &Store, job: Job) -> bool {
    let want_desktop = shared.options.desktop.is_some() && job.background;
    match store.record_delivery(job.id, want_desktop) {
        Ok(Some(delivered)) => {
            shared.lock().deliveries += 1;
            if delivered.desktop {
                queue_desktop(shared, delivered.job);
            }
            true
        }
        Ok(None) => true,
        Err(e) => {
            eprintln!(
                "bgjobs notifier: cannot record delivery of job {}: {e}",
                job.id
            );
            false
        }
    }
}

fn wake(shared: &Shared, workspace: &Path, job: &Job) {
    let inner = shared.lock();
    for sub in inner.subscribers.values() {
        let wanted = sub.workspace == workspace
            && if !sub.ids.is_empty() {
                sub.ids.contains(&job.id)
            } else if sub.session.is_some() {
                job.session_id == sub.session
            } else {
                true
            };
        if wanted {
            let _ = sub.tx.try_send(Reply::Event {
                workspace: workspace.to_path_buf(),
                id: job.id,
            });
        }
    }
}

/// Add `job` to the pending desktop batch; the first job of a batch starts
/// the coalescing window, after which one notification shows them all.
fn queue_desktop(shared: &Arc<Shared>, job: Job) {
    let first = {
        let mut inner = shared.lock();
        inner.batch.push(job);
        inner.batch.len() == 1
    };
    if !first {
        return;
    }
    let shared = shared.clone();
    let window = shared.options.config.coalesce_window();
    tokio::spawn(async move {
        tokio::time::sleep(window).await;
        // notify-rust blocks on D-Bus; keep it off the daemon's only thread.
        std::thread::spawn(move || flush_desktop(&shared));
    });
}

/// Show the pending batch now, if any.
pub fn flush_desktop(shared: &Shared) {
    let batch = std::mem::take(&mut shared.lock().batch);
    if batch.is_empty() {
        return;
    }
    let Some(command) = &shared.options.desktop else {
        return;
    };
    let (summary, body) = render(&batch);
    match desktop::show_with(command, &summary, &body) {
        Ok(()) => shared.lock().desktop_shown += 1,
        Err(e) => eprintln!("bgjobs notifier: desktop notification not shown: {e}"),
    }
}

/// A title short enough for a notification (titles default to the command
/// line, which may be huge).
fn short(title: &str) -> String {
    bgjobs_store::job::shorten(title, 120)
}

/// Summary and body of the notification for `jobs` (one or several).
pub fn render(jobs: &[Job]) -> (String, String) {
    let ran = |job: &Job| {
        job.duration()
            .map(|d| format!(" after {}", short_duration(d)))
            .unwrap_or_default()
    };
    match jobs {
        [job] => {
            let summary = format!(
                "bgjobs: {} — {}{}",
                short(&job.title),
                job.state(),
                ran(job)
            );
            let lines: Vec<&str> = job.output_tail.lines().collect();
            let body = lines[lines.len().saturating_sub(5)..].join("\n");
            (summary, body)
        }
        _ => {
            let ready = jobs.iter().filter(|j| j.status.is_active()).count();
            let summary = match ready {
                0 => format!("bgjobs: {} jobs finished", jobs.len()),
                r if r == jobs.len() => format!("bgjobs: {r} jobs ready"),
                _ => format!("bgjobs: {} jobs finished or ready", jobs.len()),
            };
            // A burst of a thousand jobs still makes a readable notification.
            let mut lines: Vec<String> = jobs
                .iter()
                .take(10)
                .map(|job| {
                    format!(
                        "#{} {} — {}{}",
                        job.id,
                        short(&job.title),
                        job.state(),
                        ran(job)
                    )
                })
                .collect();
            if jobs.len() > lines.len() {
                lines.push(format!("and {} more", jobs.len() - lines.len()));
            }
            (summary, lines.join("\n"))
        }
    }
}
