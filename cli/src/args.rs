//! Command-line grammar. Every listing command takes `--json`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use bgjobs::hook_event::Client;
use bgjobs_store::QueueName;

/// bgjobs: keeps an agent's background jobs alive, recorded and reported.
///
/// Jobs are recorded per workspace (the git top level of the current
/// directory, or `--workspace`). A job started with `--background` outlives
/// the shell and the session that started it; `status`, `wait` and `logs`
/// work from any session of the workspace.
#[derive(Debug, Parser)]
#[command(name = "bgjobs", version, propagate_version = true)]
pub struct Cli {
    /// Use this workspace instead of the one found from the current directory
    /// (also BGJOBS_WORKSPACE).
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a job: attached (output to the terminal, Ctrl-C cancels, exit code
    /// is the command's) or with -b detached in the background.
    Run(RunArgs),
    /// Start a job in the background (same as `run --background`).
    Enqueue(RunArgs),
    /// List the workspace's jobs: all queued and running ones plus the 20 most
    /// recent finished ones, newest first.
    Status(StatusArgs),
    /// Show one job's record and the tail of its output.
    Show(ShowArgs),
    /// Print a job's log (-n: its last lines); with -f, follow it until the
    /// job ends.
    Logs(LogsArgs),
    /// List the workspace's queues: each one's limit (`[queues]` in
    /// config.toml; 0 is none) and how many of its jobs run and wait.
    Queue(QueueArgs),
    /// Start a job again: a new background job with the same command, cwd,
    /// environment, title, key, timeout, queue and ready pattern (not its
    /// --after jobs), naming the old one in `restarted_from`. A job still
    /// queued or running is cancelled first.
    Restart(RestartArgs),
    /// Wait for jobs to end (with --ready: to be ready). Exit 0 if all
    /// succeeded, the failed job's exit code (128+n for a signal), 124 on
    /// timeout, 125 if one was cancelled, skipped, lost or timed out, 2 for an
    /// unknown job.
    Wait(WaitArgs),
    /// Cancel jobs: end the whole process tree (SIGTERM, grace, SIGKILL) and
    /// record `cancelled`.
    Cancel(CancelArgs),
    /// Remove finished jobs and their logs beyond the retention bound. Queued
    /// and running jobs are never removed.
    Prune(PruneArgs),
    /// Control the notifier daemon, which pushes job completions to `wait`,
    /// hooks and the desktop. Clients start it on demand; it exits when idle.
    #[command(subcommand)]
    Notifier(NotifierCommand),
    /// Hook entry point of Claude Code and Codex CLI: one hook event as JSON
    /// on stdin. Register it with `bgjobs install claude` / `install codex`.
    Hook(HookArgs),
    /// The workspace's shared broker: a helper process that jobs share, torn
    /// down once no live session and no active job holds it.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// Install bgjobs' hooks into Claude Code's settings or Codex CLI's hooks
    /// file (merged, with a backup; for Codex with the trust entries that let
    /// exactly these hooks run).
    Install(InstallArgs),
    /// Remove exactly the hooks `install` added.
    Uninstall(InstallArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell), e.g.
    /// `bgjobs completions bash > ~/.local/share/bash-completion/completions/bgjobs`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `bgjobs man > bgjobs.1`.
    Man,
    /// Check what bgjobs relies on: the config, the hooks in each Claude Code
    /// settings scope and Codex hooks file (installed, current, running this
    /// binary; Codex's trusted), the state
    /// root's permissions, the notifier, desktop notifications. One line per
    /// check; exit 1 when one fails.
    Doctor(DoctorArgs),
    /// Internal: finish a session's end in the background (cancel its
    /// foreground jobs with a grace period, then the broker clean-up).
    #[command(hide = true)]
    ReapSession {
        /// The session that ended.
        session: String,
        /// Jobs to cancel.
        ids: Vec<u64>,
    },
    /// Internal: cancel an adopted job stopped through the agent's task-stop
    /// tool, once the agent has killed its follower.
    #[command(hide = true)]
    StopAdopted {
        /// The job.
        id: u64,
        /// The follower was killed with no stop tool call: cancel only if,
        /// after a short look, neither its session nor its subagent ended.
        #[arg(long)]
        if_deliberate: bool,
    },
    /// Internal: start `bgjobs ARGS…` detached and exit at once, so that it
    /// is left an orphan outside the caller's process tree.
    #[command(hide = true)]
    Detach {
        /// The bgjobs command line to start.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Internal: start a job's detached worker and hand the job over to it,
    /// then exit (the worker is left an orphan; see `run --follow`).
    #[command(hide = true)]
    StartWorker {
        /// The job.
        id: u64,
    },
    /// Internal: the detached worker that runs one job.
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Detach: start a worker in its own session and return at once, printing
    /// the job id.
    #[arg(short, long)]
    pub background: bool,
    /// Title shown in listings (default: the command line).
    #[arg(long, value_name = "T")]
    pub title: Option<String>,
    /// Dedupe key: if an active job with this key exists, print its id and
    /// start nothing.
    #[arg(long, value_name = "K")]
    pub key: Option<String>,
    /// End the command's whole tree after this long and record `timed_out`
    /// (e.g. 90s, 5m, 1h).
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Owning session (default: BGJOBS_SESSION_ID, else the agent's own:
    /// CLAUDE_CODE_SESSION_ID, CODEX_SESSION_ID, CODEX_THREAD_ID).
    #[arg(long, value_name = "S")]
    pub session: Option<String>,
    /// Subagent that owns the job, inside its session.
    #[arg(long, value_name = "A", hide = true)]
    pub agent: Option<String>,
    /// With -b: stay attached to the job without owning it: print its id on
    /// stderr, stream its log to stdout until it ends, and exit with its exit
    /// code (as `wait` does). Killing the follower never cancels the job.
    #[arg(long, conflicts_with = "json")]
    pub follow: bool,
    /// With --follow: the follower stands for an agent's background task
    /// (written by the adoption hook). Killed while its session and subagent
    /// go on, it was stopped on purpose, and the job is cancelled.
    #[arg(long, requires = "follow", hide = true)]
    pub adopted: bool,
    /// Run the command in DIR (default: the current directory). The
    /// workspace is still the one found from where `run` is started.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set KEY=VALUE in the command's environment (repeatable; the last of
    /// one KEY wins).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = env_var)]
    pub env: Vec<(String, String)>,
    /// With -b: run in queue NAME (default: `default`). A queue's limit
    /// (`[queues]` in config.toml, `NAME = N`) caps how many of its jobs run
    /// at once; the rest wait, `queued`, and start oldest first.
    #[arg(long, value_name = "NAME", value_parser = QueueName::new)]
    pub queue: Option<QueueName>,
    /// With -b: start only once every job ID has ended, and only if all of
    /// them succeeded; otherwise the job ends `skipped` (wait: exit 125).
    #[arg(long, value_name = "ID,...", value_delimiter = ',', num_args = 1)]
    pub after: Vec<u64>,
    /// The job is ready once a line of its output (stdout or stderr)
    /// matches REGEX: recorded as `ready_at`, `status` shows `running
    /// (ready)`, `wait --ready` returns, and the owning session is told.
    #[arg(long, value_name = "REGEX", value_parser = ready_pattern)]
    pub ready: Option<String>,
    /// Print the job as JSON.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// A `--ready` pattern: a regex that compiles (the worker compiles it again).
fn ready_pattern(text: &str) -> Result<String, String> {
    match regex::Regex::new(text) {
        Ok(_) => Ok(text.to_string()),
        // The error spans lines (the pattern, a caret, the problem).
        Err(e) => Err(format!(
            "not a valid regex: {}",
            e.to_string()
                .lines()
                .last()
                .map_or("invalid", |l| l.trim_start_matches("error: "))
        )),
    }
}

/// A `KEY=VALUE` option, checked once, here: a name that an environment can
/// hold (not empty, no `=`, no NUL), a value without NUL.
fn env_var(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if key.is_empty() || key.contains('\0') || value.contains('\0') {
        return Err(format!(
            "{text:?}: KEY must not be empty, and neither may hold NUL"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Include every finished job, not only the 20 most recent.
    #[arg(long)]
    pub all: bool,
    /// Only this session's jobs.
    #[arg(long, value_name = "S", conflicts_with = "mine")]
    pub session: Option<String>,
    /// Only the current session's jobs (BGJOBS_SESSION_ID, CLAUDE_CODE_SESSION_ID
    /// or CODEX_THREAD_ID).
    #[arg(long)]
    pub mine: bool,
    /// Print `{"workspace", "jobs", "warnings"}` as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Job id.
    pub id: u64,
    /// Print the job record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Job id.
    pub id: u64,
    /// Follow the log until the job ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines (with -f: then follow from there).
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<u64>,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Print `[{"name", "limit", "running", "waiting"}]` as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The job to run again.
    pub id: u64,
    /// Refuse (exit 2) if the job is still queued or running, instead of
    /// cancelling it first.
    #[arg(long)]
    pub no_cancel: bool,
    /// With a running job: how long its tree gets between SIGTERM and
    /// SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = duration)]
    pub grace: Duration,
    /// Owning session of the new job (default: the caller's, as for `run`).
    #[arg(long, value_name = "S")]
    pub session: Option<String>,
    /// Print the new job as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Jobs to wait for (default: every queued or running job).
    pub ids: Vec<u64>,
    /// Return as soon as each job is ready (its `--ready` pattern matched),
    /// exit 0; a job that ends before it is ready counts as that end.
    #[arg(long, requires = "ids")]
    pub ready: bool,
    /// Return when the first of them ends.
    #[arg(long)]
    pub any: bool,
    /// Give up after this long (exit 124).
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// With no ids: only this session's jobs.
    #[arg(long, value_name = "S")]
    pub session: Option<String>,
    /// Print the jobs as JSON when they end.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Jobs to cancel.
    #[arg(required_unless_present_any = ["session", "all"])]
    pub ids: Vec<u64>,
    /// Cancel every active job of this session.
    #[arg(long, value_name = "S", conflicts_with_all = ["ids", "all"])]
    pub session: Option<String>,
    /// Cancel every active job of the workspace.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// Time between SIGTERM and SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = duration)]
    pub grace: Duration,
    /// Print the cancelled jobs as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Also remove finished jobs that ended longer ago than this.
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub older_than: Option<Duration>,
    /// Keep at most this many finished jobs (default: `keep_finished` from the
    /// config, 1000).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Print the removed ids as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum NotifierCommand {
    /// Run the daemon in the foreground (logs to stderr).
    Run,
    /// Start the daemon detached, unless one is running; print its pid.
    Start,
    /// Ask the running daemon to exit.
    Stop,
    /// Show the daemon's pid, uptime, endpoint, connections and deliveries.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Internal: show one desktop notification (the daemon runs this, so
    /// that the D-Bus client never stays resident in it).
    #[command(hide = true)]
    ShowDesktop {
        /// The notification's summary line.
        summary: String,
        /// Its body.
        body: String,
    },
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The job to run.
    pub id: u64,
    /// Started by a queue's admission, which named this process the job's
    /// worker: run the job only if the record still says so.
    #[arg(long)]
    pub admitted: bool,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// For Stop with `"asyncRewake": true`: if this session has jobs running,
    /// wait for the next one to end, then exit 2 with a notice on stderr,
    /// which wakes the idle session.
    #[arg(long)]
    pub rewake: bool,
    /// With --rewake: give up (exit 0) after this long; keep it below the
    /// hook's timeout.
    #[arg(long, value_name = "DUR", default_value = "3600s", value_parser = duration)]
    pub limit: Duration,
    /// The agent that runs the hook (default: told apart by the event).
    #[arg(long, value_enum, value_name = "AGENT")]
    pub agent: Option<Client>,
}

impl HookArgs {
    /// The Stop waiter's default `--limit` (the `default_value` above, which
    /// clap needs as text); `install` derives the hook's timeout from it.
    pub const DEFAULT_LIMIT: Duration = Duration::from_secs(3600);
}

impl Default for HookArgs {
    /// `bgjobs hook` with no flags.
    fn default() -> Self {
        Self {
            rewake: false,
            limit: Self::DEFAULT_LIMIT,
            agent: None,
        }
    }
}

/// A `DUR` option (`90s`, `5m`, `1h`, `1.5`), parsed once, here.
fn duration(text: &str) -> Result<Duration, String> {
    bgjobs_store::time::parse_duration(text)
}

#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Record the workspace's broker process.
    Register {
        /// The broker's process id.
        #[arg(long)]
        pid: u32,
        /// `unix:PATH` (the socket file is removed at teardown) or `pipe:NAME`.
        #[arg(long, value_name = "ENDPOINT")]
        endpoint: Option<String>,
        /// A directory the broker owns; removed at teardown.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Command run first at teardown (500 ms limit). Put it last: it takes
        /// every remaining argument.
        #[arg(long, value_name = "CMD", num_args = 1.., allow_hyphen_values = true)]
        shutdown_cmd: Option<Vec<String>>,
    },
    /// Show the registered broker, whether it is alive and what holds it.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tear the broker down: shutdown command, then its process tree, its
    /// socket file, its directory and its record. Refuses while a live session
    /// or an active job holds it, unless --force.
    Teardown {
        /// Tear down even if something still holds it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print `{"ok", "checks": [{"name", "ok", "detail"}]}` as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// What to install into.
    #[arg(value_enum)]
    pub target: InstallTarget,
    /// Which settings file. Claude Code: user (~/.claude/settings.json),
    /// project (.claude/settings.json) or local (.claude/settings.local.json).
    /// Codex: user ($CODEX_HOME/hooks.json, default ~/.codex) or project
    /// (.codex/hooks.json); the trust entries go in $CODEX_HOME/config.toml.
    #[arg(long, value_enum, default_value = "user")]
    pub scope: Scope,
    /// Claude Code: leave out the PreToolUse hook that adopts background
    /// Bash calls as bgjobs jobs (and remove it if an earlier install added it).
    #[arg(long)]
    pub no_adopt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InstallTarget {
    /// Claude Code.
    Claude,
    /// OpenAI's Codex CLI.
    Codex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    User,
    Project,
    Local,
}
