//! The job record, as stored in `jobs/<id>.json` and printed by `--json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::CommandLine;
use crate::identity::ProcessIdentity;
use crate::queue::QueueName;
use crate::time::Timestamp;

/// Schema version written into every record.
pub const SCHEMA_VERSION: u32 = 1;

/// Exit code of `wait` and `run` for a job cancelled, skipped, lost or timed out.
pub const EXIT_ABORTED: i32 = 125;

/// Where a job is in its life. `queued` and `running` are active; the rest are
/// final and never change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded, its command not started yet.
    Queued,
    /// Its command is running.
    Running,
    /// The command exited with status 0.
    Succeeded,
    /// The command exited non-zero, was killed by a signal, or could not start.
    Failed,
    /// Cancelled by a user, a session's end or an interrupt.
    Cancelled,
    /// Its worker disappeared without recording an end.
    Lost,
    /// Its `--timeout` passed and its process tree was ended.
    TimedOut,
    /// Never started: a job it had to come after (`--after`) did not succeed.
    Skipped,
}

impl Status {
    /// Whether the job is still queued or running.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Queued | Status::Running)
    }

    /// The word used in records and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Lost => "lost",
            Status::TimedOut => "timed_out",
            Status::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job. Field names and meanings are a contract (`shared/design.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Schema version of this record.
    pub v: u32,
    /// Per-workspace id, never reused.
    pub id: u64,
    /// Human title (defaults to the command line).
    pub title: String,
    /// The command and its arguments.
    pub command: CommandLine,
    /// Directory the command runs in.
    pub cwd: String,
    /// Whether the job outlives the session that started it.
    pub background: bool,
    /// Owning session.
    pub session_id: Option<String>,
    /// Subagent inside that session, when known.
    pub agent_id: Option<String>,
    /// Dedupe key: an active job with the same key is reused.
    pub key: Option<String>,
    /// Where the job is in its life.
    pub status: Status,
    /// The command's exit code.
    pub exit_code: Option<i32>,
    /// Unix signal that ended the command.
    pub signal: Option<i32>,
    /// Why it was cancelled, lost, timed out or failed to start.
    pub reason: Option<String>,
    /// When the job was recorded.
    pub created_at: Timestamp,
    /// When its command started.
    pub started_at: Option<Timestamp>,
    /// When it reached a final status.
    pub finished_at: Option<Timestamp>,
    /// The command's process id.
    pub pid: Option<u32>,
    /// The job's log file.
    pub log_path: String,
    /// Last lines of output, bounded.
    pub output_tail: String,
    /// Time limit for the command, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// The process responsible for this job right now: the creating `run`
    /// until the detached worker takes over, then the worker. When it is gone
    /// while the job is active, the job is lost.
    #[serde(default)]
    pub worker: Option<ProcessIdentity>,
    /// The command's process (leader of its process group / Job Object).
    #[serde(default)]
    pub process: Option<ProcessIdentity>,
    /// Set by `cancel` before it signals, so that the worker records
    /// `cancelled` rather than the signal's exit.
    #[serde(default)]
    pub cancel_requested: Option<String>,
    /// What has been told about this job's end, and when.
    #[serde(default)]
    pub deliveries: Deliveries,
    /// A `run -b --follow` process streaming this job to an agent's own task
    /// machinery (an adopted background Bash call). While it is alive the
    /// job's end is its to tell; once it is gone, bgjobs tells the end itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follower: Option<ProcessIdentity>,
    /// Variables set for the command on top of the worker's environment
    /// (`run --env KEY=VALUE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The job this one restarts (`bgjobs restart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_from: Option<u64>,
    /// The queue it runs in (`run -b --queue`), whose limit it counts
    /// against while started and active.
    #[serde(default)]
    pub queue: QueueName,
    /// Jobs that must all have ended, and succeeded, before it starts
    /// (`run -b --after`).
    #[serde(default)]
    pub after: Vec<u64>,
    /// Held back, `queued` with no worker, until its queue has a free slot
    /// and every job in `after` has succeeded (if one ended otherwise, it
    /// ends `skipped`). Having no owner, it cannot be lost; whoever admits
    /// it starts its worker under the lock, so it starts once (see
    /// `Store::start_due`).
    #[serde(default)]
    pub waiting: bool,
    /// Output that means the job is ready (`run --ready REGEX`), matched
    /// against each line of stdout and stderr.
    #[serde(default)]
    pub ready_pattern: Option<String>,
    /// When a line first matched `ready_pattern`.
    #[serde(default)]
    pub ready_at: Option<Timestamp>,
}

/// Deliveries of a finished job, each recorded once it is done so that a
/// notifier that restarts completes what is pending and repeats nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deliveries {
    /// The notifier has handled the end: subscribers woken, desktop shown or
    /// skipped.
    #[serde(default)]
    pub notified_at: Option<Timestamp>,
    /// A desktop notification was claimed for this job (recorded before it is
    /// shown, so that a crash can never show it twice).
    #[serde(default)]
    pub desktop_at: Option<Timestamp>,
    /// The owning session was told (hook context or a wake-up).
    #[serde(default)]
    pub told_at: Option<Timestamp>,
    /// The notifier has handled the job's readiness: waiters woken, desktop
    /// shown or skipped.
    #[serde(default)]
    pub ready_notified_at: Option<Timestamp>,
    /// The owning session was told that the job is ready.
    #[serde(default)]
    pub ready_told_at: Option<Timestamp>,
}

impl Job {
    /// The exit code `wait` reports for this job once final: 0, the command's
    /// code, 128+signal, or 125 for cancelled / lost / timed out.
    pub fn wait_code(&self) -> i32 {
        match self.status {
            Status::Succeeded => 0,
            Status::Failed => match (self.exit_code, self.signal) {
                (_, Some(sig)) => 128 + sig,
                (Some(code), None) if code != 0 => code,
                _ => 1,
            },
            Status::Cancelled | Status::Skipped | Status::Lost | Status::TimedOut => EXIT_ABORTED,
            Status::Queued | Status::Running => 0,
        }
    }

    /// Record a final status, unless the job is already final.
    pub fn finish(&mut self, status: Status, reason: Option<String>) -> bool {
        if !self.status.is_active() {
            return false;
        }
        self.status = status;
        self.waiting = false;
        if reason.is_some() {
            self.reason = reason;
        }
        self.finished_at = Some(Timestamp::now());
        true
    }

    /// How the job stands, in words: `failed (exit 1)`, `failed (signal 9)`,
    /// `succeeded`, `running`...
    pub fn outcome(&self) -> String {
        match (self.status, self.exit_code, self.signal) {
            (Status::Failed, _, Some(sig)) => format!("failed (signal {sig})"),
            (Status::Failed, Some(code), None) => format!("failed (exit {code})"),
            (status, _, _) => status.to_string(),
        }
    }

    /// Whether the job is final but the notifier has not handled its end yet.
    pub fn undelivered(&self) -> bool {
        !self.status.is_active() && self.deliveries.notified_at.is_none()
    }

    /// Whether the job is final, has an owning session, and that session has
    /// not been told of its end yet.
    pub fn untold(&self) -> bool {
        !self.status.is_active() && self.session_id.is_some() && self.deliveries.told_at.is_none()
    }

    /// Whether the job is running and ready, but its owning session has not
    /// been told so (an end, once it comes, is told instead).
    pub fn ready_untold(&self) -> bool {
        self.status == Status::Running
            && self.ready_at.is_some()
            && self.session_id.is_some()
            && self.deliveries.ready_told_at.is_none()
    }

    /// Whether the job is running and ready, but the notifier has not handled
    /// its readiness yet.
    pub fn ready_undelivered(&self) -> bool {
        self.status == Status::Running
            && self.ready_at.is_some()
            && self.deliveries.ready_notified_at.is_none()
    }

    /// How the job stands for a table: its outcome, `running (ready)` once
    /// its ready pattern matched.
    pub fn state(&self) -> String {
        match self.status {
            Status::Running if self.ready_at.is_some() => "running (ready)".into(),
            _ => self.outcome(),
        }
    }

    /// Whether a live follower will tell this job's end itself (see
    /// [`Job::follower`]), so that nobody else may.
    pub fn followed(&self) -> bool {
        self.follower.is_some_and(|f| f.is_alive())
    }

    /// How long the job ran (or has been running).
    pub fn duration(&self) -> Option<std::time::Duration> {
        let start = self.started_at?;
        Some(match self.finished_at {
            Some(end) => start.until(end),
            None => start.elapsed(),
        })
    }
}

/// What `run` knows about a job before it is recorded.
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    /// Title; the command line when `None`.
    pub title: Option<String>,
    /// The command and its arguments (at least one element).
    pub command: Vec<String>,
    /// Where it runs.
    pub cwd: String,
    /// Background flag.
    pub background: bool,
    /// Owning session.
    pub session_id: Option<String>,
    /// Subagent.
    pub agent_id: Option<String>,
    /// Dedupe key.
    pub key: Option<String>,
    /// Time limit.
    pub timeout_ms: Option<u64>,
    /// The creating process follows the job (`run -b --follow`): it becomes
    /// the job's [`Job::follower`].
    pub follow: bool,
    /// Variables for the command.
    pub env: BTreeMap<String, String>,
    /// The job this one restarts.
    pub restarted_from: Option<u64>,
    /// Its queue.
    pub queue: QueueName,
    /// Jobs it comes after (each must exist).
    pub after: Vec<u64>,
    /// Its ready pattern (a valid regex).
    pub ready_pattern: Option<String>,
}

/// Longest title a user may give (`--title`); longer is an error.
pub const MAX_TITLE: usize = 4096;
/// Default titles (the command line) are cut to this many characters.
pub const DEFAULT_TITLE: usize = 200;

/// The default title: the command line, cut to [`DEFAULT_TITLE`] characters.
pub fn default_title(command: &[String]) -> String {
    shorten(&command_line(command), DEFAULT_TITLE)
}

/// `text` cut to `width` characters, with an ellipsis when cut.
pub fn shorten(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Render a command line for a title, quoting arguments that need it.
pub fn command_line(command: &[String]) -> String {
    command
        .iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+\\".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
