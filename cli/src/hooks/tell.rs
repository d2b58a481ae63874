//! Telling a session that its jobs ended or are ready: claimed exactly once
//! under the lock, written as plain facts (imperative text can trip prompt-injection
//! defences), under Claude Code's 10,000-character cap.

use bgjobs_store::job::shorten;
use bgjobs_store::time::short_duration;
use bgjobs_store::{Job, Store};

use crate::failure::{Failure, Outcome};
use bgjobs::hook_event::Event;

/// Room kept below Claude Code's 10,000-character cap.
pub const MAX_TEXT: usize = 9_000;
/// Output lines quoted per job, and their width.
const TAIL_LINES: usize = 5;
const TAIL_WIDTH: usize = 200;

/// UserPromptSubmit / PostToolUse: hand this session's untold ends to the
/// model, once, after `first` (a note about this very call). Prints nothing
/// when there is nothing to say.
pub fn run(store: &Store, event: &Event, first: Option<String>) -> Outcome {
    let jobs = claim_untold(store, &event.session_id)?;
    let mut parts: Vec<String> = first.into_iter().collect();
    if !jobs.is_empty() {
        parts.push(describe(&jobs));
    }
    if !parts.is_empty() {
        let printed = super::print_context(&event.hook_event_name, &parts.join("\n"));
        undo_if_unread(store, &jobs, printed)?;
    }
    Ok(0)
}

/// `printed`, the telling of `jobs`, failed (the agent closed the pipe):
/// nobody read them, so they are left for a later hook to tell.
pub fn undo_if_unread(
    store: &Store,
    jobs: &[Job],
    printed: Result<(), Failure>,
) -> Result<(), Failure> {
    if let Err(failure) = printed {
        unclaim(store, jobs)?;
        return Err(failure);
    }
    Ok(())
}

/// The session's finished jobs it has not been told of, then its running
/// jobs it has not been told are ready, marked told now. Two hooks racing
/// each get a disjoint share. A job whose follower is alive is left to it:
/// the follower's own exit tells the agent.
pub fn claim_untold(store: &Store, session: &str) -> Result<Vec<Job>, Failure> {
    let (ended, ready) = store.untold_news(session)?; // the common case: one small read
    let mine = |job: &Job| !job.followed() && job.session_id.as_deref() == Some(session);
    let mut claimed = store.claim_told(&ended, mine)?;
    claimed.extend(store.claim_ready_told(&ready, mine)?);
    Ok(claimed)
}

/// Undo [`claim_untold`] for `jobs`: nobody received them after all (the
/// agent died before it could be told), so a later hook tells them.
pub fn unclaim(store: &Store, jobs: &[Job]) -> Result<(), Failure> {
    Ok(store.unclaim_told(jobs)?)
}

/// Plain facts about ended (or ready) jobs, bounded.
pub fn describe(jobs: &[Job]) -> String {
    let mut text = String::new();
    for (i, job) in jobs.iter().enumerate() {
        let block = describe_one(job);
        if text.len() + block.len() > MAX_TEXT {
            text.push_str(&format!(
                "{} more background job(s) of this session finished or are ready; `bgjobs status` lists them.\n",
                jobs.len() - i
            ));
            break;
        }
        text.push_str(&block);
    }
    text.trim_end().to_string()
}

/// Longest title quoted in context (titles default to the command line,
/// which may be huge).
const TITLE_WIDTH: usize = 200;

fn describe_one(job: &Job) -> String {
    if job.status.is_active() {
        return describe_ready(job);
    }
    let mut line = format!(
        "Background job {} `{}` finished: {}",
        job.id,
        shorten(&job.title, TITLE_WIDTH),
        job.outcome()
    );
    if let Some(d) = job.duration() {
        line.push_str(&format!(" after {}", short_duration(d)));
    }
    if let Some(reason) = &job.reason {
        line.push_str(&format!(" ({reason})"));
    }
    line.push_str(&format!(". Full log: `bgjobs logs {}`.\n", job.id));
    let lines: Vec<&str> = job.output_tail.lines().collect();
    let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    if !tail.is_empty() {
        line.push_str("Last output:\n");
        for l in tail {
            let l: String = l.chars().take(TAIL_WIDTH).collect();
            line.push_str(&format!("    {l}\n"));
        }
    }
    line
}

/// A running job's readiness.
fn describe_ready(job: &Job) -> String {
    let mut line = format!(
        "Background job {} `{}` is ready",
        job.id,
        shorten(&job.title, TITLE_WIDTH)
    );
    if let Some(pattern) = &job.ready_pattern {
        let pattern: String = pattern.chars().take(TAIL_WIDTH).collect();
        line.push_str(&format!(": a line of its output matched `{pattern}`"));
    }
    if let (Some(start), Some(ready)) = (job.started_at, job.ready_at) {
        line.push_str(&format!(" after {}", short_duration(start.until(ready))));
    }
    line.push_str(&format!(
        ". It is still running; its end will be told too. Log: `bgjobs logs {}`.\n",
        job.id
    ));
    line
}

/// One line per active job of `session`, for SessionStart, within `room`
/// characters.
pub fn describe_running(jobs: &[Job], room: usize) -> String {
    let mut text = String::new();
    for (i, job) in jobs.iter().enumerate() {
        let kind = if job.background {
            "Background"
        } else {
            "Foreground"
        };
        let line = format!(
            "{kind} job {} `{}` is {} ({}).\n",
            job.id,
            shorten(&job.title, TITLE_WIDTH),
            job.state(),
            crate::output::age_or_duration(job)
        );
        if text.len() + line.len() > room.saturating_sub(100) {
            text.push_str(&format!(
                "{} more job(s) of this session are running; `bgjobs status` lists them.",
                jobs.len() - i
            ));
            break;
        }
        text.push_str(&line);
    }
    text.trim_end().to_string()
}
