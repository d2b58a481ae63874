//! `bgjobs wait`: block until jobs end; the exit code tells how they ended.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::io::IsTerminal;

use bgjobs_store::time::short_duration;
use bgjobs_store::{Job, Store};
use serde::Serialize;

use crate::args::WaitArgs;
use crate::context;
use crate::exit;
use crate::failure::{Failure, Outcome};
use crate::jobs::{self, active_jobs};
use crate::output;
use crate::output::say;
use crate::platform;
use crate::waker::{Interest, Waker};

/// How a wait ended.
pub struct Waited {
    /// The waited jobs as last read (final ones first, in the order they ended).
    pub jobs: Vec<Job>,
    /// Whether the deadline passed before the wait was satisfied.
    pub timed_out: bool,
}

/// `wait --json`.
#[derive(Serialize)]
struct WaitJson<'a> {
    jobs: &'a [Job],
    timed_out: bool,
}

/// Entry point of `wait`.
pub fn run(workspace: Option<PathBuf>, args: WaitArgs) -> Outcome {
    let timeout = args.timeout;
    let store = context::open_store(workspace)?;
    let ids = if args.ids.is_empty() {
        jobs::ids(&active_jobs(&store, args.session.as_deref())?)
    } else {
        let mut ids = Vec::new();
        for id in args.ids {
            store.get(id)?; // an unknown id is a usage error, before any wait
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    };
    let until = Until {
        any: args.any,
        ready: args.ready,
    };
    let waited = watch(&store, &ids, until, timeout.map(|t| Instant::now() + t))?;
    let ended: Vec<&Job> = waited.jobs.iter().filter(|j| until.done(j)).collect();
    if args.json {
        output::json(&WaitJson {
            jobs: &waited.jobs,
            timed_out: waited.timed_out,
        })?;
    } else {
        for job in &ended {
            say!("{}", output::ended_line(job))?;
        }
    }
    if waited.timed_out {
        if !args.json {
            let pending: Vec<String> = waited
                .jobs
                .iter()
                .filter(|j| !until.done(j))
                .map(|j| j.id.to_string())
                .collect();
            eprintln!(
                "bgjobs: timed out waiting for job(s) {}",
                pending.join(", ")
            );
        }
        return Ok(exit::TIMEOUT);
    }
    // A ready job that has not ended counts as success (its `wait_code`).
    Ok(ended
        .iter()
        .map(|j| platform::exit_code(j.wait_code()))
        .find(|&code| code != 0)
        .unwrap_or(0))
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Until {
    /// The first job done is enough.
    pub any: bool,
    /// A job is done once it is ready (`wait --ready`), or has ended.
    pub ready: bool,
}

impl Until {
    /// Whether `job` is done waiting for.
    pub fn done(&self, job: &Job) -> bool {
        !job.status.is_active() || (self.ready && job.ready_at.is_some())
    }
}

/// Wait until every job in `ids` (with `any`: one of them) is done (see
/// [`Until`]), or `deadline` passes. A job waiting in a queue is waited
/// through: `wait` starts nothing itself (what it started would be its
/// child, killed with it), and the subscription keeps the notifier sweeping,
/// which starts what is due if no ending worker did. Woken by the notifier's push; when no notifier answers
/// (or it dies meanwhile) by watching the store. Either way every look reads
/// the store, which also marks jobs whose worker died as lost, so this always
/// ends.
pub fn watch(
    store: &Store,
    ids: &[u64],
    until: Until,
    deadline: Option<Instant>,
) -> Result<Waited, Failure> {
    if ids.is_empty() {
        return Ok(Waited {
            jobs: Vec::new(),
            timed_out: false,
        });
    }
    // Subscribe before the first look, so an end between the two is not missed.
    let mut waker = Waker::subscribe(
        store,
        Interest {
            ids: ids.to_vec(),
            ..Interest::default()
        },
    );
    let mut progress = Progress::new(ids.len());
    let mut ended: Vec<Job> = Vec::new();
    let mut pending: Vec<u64> = ids.to_vec();
    loop {
        let mut still = Vec::new();
        for &id in &pending {
            let job = store.get(id)?;
            if until.done(&job) {
                ended.push(job);
            } else {
                still.push(id);
            }
        }
        pending = still;
        let satisfied = pending.is_empty() || (until.any && !ended.is_empty());
        let late = deadline.is_some_and(|d| Instant::now() >= d);
        if satisfied || late {
            progress.clear();
            let mut jobs = ended;
            for &id in &pending {
                jobs.push(store.get(id)?);
            }
            return Ok(Waited {
                jobs,
                timed_out: !satisfied,
            });
        }
        progress.show();
        let mut limit = Progress::TICK;
        if let Some(d) = deadline {
            limit = limit.min(d.saturating_duration_since(Instant::now()));
        }
        waker.sleep(limit);
    }
}

/// The elapsed time shown while waiting, only when stderr is a terminal.
struct Progress {
    jobs: usize,
    started: Instant,
    shown: bool,
    enabled: bool,
}

impl Progress {
    /// How often the display (and the liveness look) comes round.
    const TICK: Duration = Duration::from_secs(1);

    fn new(jobs: usize) -> Self {
        Self {
            jobs,
            started: Instant::now(),
            shown: false,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self) {
        let elapsed = self.started.elapsed();
        if self.enabled && elapsed >= Self::TICK {
            eprint!(
                "\rwaiting for {} job(s)… {}\x1b[K",
                self.jobs,
                short_duration(elapsed)
            );
            self.shown = true;
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}
