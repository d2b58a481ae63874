//! Every exit code bgjobs gives, in one place (the contract is in the README
//! and the design): a command's own, a job's as `run` and `wait` pass it on,
//! and the hook's wake-up. A job's own code for `wait` — 0, its exit code,
//! 128+signal, 125 for cancelled, lost or timed out — is a rule of the job
//! model: `Job::wait_code` in the store.

/// Anything else that went wrong.
pub const ERROR: u8 = 1;
/// A usage error or an unknown job.
pub const USAGE: u8 = 2;
/// `hook --rewake`: wakes the idle Claude Code session with the notice on
/// stderr (Claude Code's asyncRewake contract; never used for a failure).
pub const WAKE: i32 = 2;
/// `wait --timeout` passed first.
pub const TIMEOUT: i32 = 124;
/// An attached `run` that was interrupted (as a shell: 128+SIGINT).
pub const INTERRUPTED: i32 = 130;
/// A follower ended by a signal it caught (as a shell: 128+SIGTERM).
pub const KILLED: i32 = 143;
