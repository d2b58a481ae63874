//! How a job's end is recorded: the rules that turn what its worker saw (an
//! exit status, an interrupt, a timeout, a cancel asked for first) into a
//! final status and reason, and the codes of a command that never started.
//! In one place, with the job model, so that every way a job can end is
//! decided the same way and tested here.

use std::time::Duration;

use crate::job::{Job, Status};
use crate::time::short_duration;

/// How a command exited, as the OS reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code, when it exited.
    pub code: Option<i32>,
    /// The Unix signal that ended it.
    pub signal: Option<i32>,
    /// Whether it counts as success (exit 0).
    pub success: bool,
}

/// What the worker saw at the end of a job's command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ending {
    /// The exit status, unless it could not be read.
    pub exit: Option<Exit>,
    /// `bgjobs run` (attached) was interrupted.
    pub interrupted: bool,
    /// The job's `--timeout` passed, after this long.
    pub timed_out: Option<Duration>,
}

impl Job {
    /// Record how the command ended, with the output's last lines. A cancel
    /// asked for before the end wins over the signal it caused; then an
    /// interrupt, a timeout, the exit status. A job already final keeps its
    /// status.
    pub fn record_end(&mut self, ending: &Ending, tail: String) {
        self.output_tail = tail;
        if let Some(exit) = &ending.exit {
            if self.exit_code.is_none() && self.signal.is_none() {
                self.exit_code = exit.code;
                self.signal = exit.signal;
            }
        }
        let (status, reason) = if let Some(reason) = self.cancel_requested.clone() {
            (Status::Cancelled, Some(reason))
        } else if ending.interrupted {
            (
                Status::Cancelled,
                Some("interrupted: bgjobs run received an interrupt signal".into()),
            )
        } else if let Some(limit) = ending.timed_out {
            (
                Status::TimedOut,
                Some(format!("timed out after {}", short_duration(limit))),
            )
        } else {
            match ending.exit {
                Some(exit) if exit.success => (Status::Succeeded, None),
                Some(_) => (Status::Failed, None),
                None => (
                    Status::Failed,
                    Some("the command's exit status could not be read".into()),
                ),
            }
        };
        self.finish(status, reason);
    }
}

/// Exit code (as a shell would give) and reason for a command that could not
/// start: 127 not found, 126 not executable.
pub fn start_error(program: &str, e: &std::io::Error) -> (i32, String) {
    match e.kind() {
        std::io::ErrorKind::NotFound => (127, format!("command not found: {program}")),
        std::io::ErrorKind::PermissionDenied => (126, format!("permission denied: {program}")),
        _ => (126, format!("cannot execute {program}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandLine;
    use crate::time::Timestamp;

    fn running() -> Job {
        Job {
            v: crate::job::SCHEMA_VERSION,
            id: 1,
            title: "t".into(),
            command: CommandLine::new(vec!["true".into()]).unwrap(),
            cwd: "/".into(),
            background: true,
            session_id: None,
            agent_id: None,
            key: None,
            status: Status::Running,
            exit_code: None,
            signal: None,
            reason: None,
            created_at: Timestamp::now(),
            started_at: Some(Timestamp::now()),
            finished_at: None,
            pid: Some(2),
            log_path: "/l".into(),
            output_tail: String::new(),
            timeout_ms: None,
            worker: None,
            process: None,
            cancel_requested: None,
            deliveries: Default::default(),
            follower: None,
            env: Default::default(),
            restarted_from: None,
            queue: Default::default(),
            after: Vec::new(),
            waiting: false,
            ready_pattern: None,
            ready_at: None,
        }
    }

    fn exited(code: i32) -> Ending {
        Ending {
            exit: Some(Exit {
                code: Some(code),
                signal: None,
                success: code == 0,
            }),
            ..Ending::default()
        }
    }

    fn killed(signal: i32) -> Ending {
        Ending {
            exit: Some(Exit {
                code: None,
                signal: Some(signal),
                success: false,
            }),
            ..Ending::default()
        }
    }

    fn end(mut job: Job, ending: Ending) -> Job {
        job.record_end(&ending, "tail\n".into());
        job
    }

    #[test]
    fn an_exit_is_success_or_failure_with_its_code() {
        let ok = end(running(), exited(0));
        assert_eq!(
            (ok.status, ok.exit_code, ok.wait_code()),
            (Status::Succeeded, Some(0), 0)
        );
        assert_eq!(ok.output_tail, "tail\n");
        assert!(ok.finished_at.is_some());
        let bad = end(running(), exited(3));
        assert_eq!(
            (bad.status, bad.exit_code, bad.wait_code()),
            (Status::Failed, Some(3), 3)
        );
        let sig = end(running(), killed(9));
        assert_eq!(
            (sig.status, sig.signal, sig.wait_code()),
            (Status::Failed, Some(9), 137)
        );
        assert_eq!(sig.outcome(), "failed (signal 9)");
        let unknown = end(running(), Ending::default());
        assert_eq!(unknown.status, Status::Failed);
        assert!(unknown.reason.unwrap().contains("could not be read"));
    }

    #[test]
    fn a_cancel_asked_first_wins_over_the_signal_it_caused() {
        let mut job = running();
        job.cancel_requested = Some("cancelled by bgjobs cancel".into());
        let job = end(job, killed(15));
        assert_eq!(job.status, Status::Cancelled);
        assert_eq!(job.reason.as_deref(), Some("cancelled by bgjobs cancel"));
        assert_eq!((job.signal, job.wait_code()), (Some(15), 125));
    }

    #[test]
    fn an_interrupt_and_a_timeout_have_their_own_status() {
        let interrupted = end(
            running(),
            Ending {
                interrupted: true,
                ..killed(15)
            },
        );
        assert_eq!(interrupted.status, Status::Cancelled);
        assert!(interrupted.reason.unwrap().starts_with("interrupted"));
        let timed_out = Ending {
            timed_out: Some(Duration::from_secs(90)),
            ..killed(15)
        };
        let job = end(running(), timed_out);
        assert_eq!((job.status, job.wait_code()), (Status::TimedOut, 125));
        assert_eq!(job.reason.as_deref(), Some("timed out after 1m30s"));
    }

    #[test]
    fn a_final_job_keeps_its_status() {
        let mut job = running();
        job.finish(Status::Lost, Some("its worker is gone".into()));
        let job = end(job, exited(0));
        assert_eq!(job.status, Status::Lost);
        assert_eq!(job.reason.as_deref(), Some("its worker is gone"));
    }

    #[test]
    fn a_command_that_cannot_start_is_127_or_126() {
        let not_found = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(start_error("nope", &not_found).0, 127);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            start_error("x", &denied),
            (126, "permission denied: x".into())
        );
    }
}
