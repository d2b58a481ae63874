//! A command's failure: one line for stderr and the exit code that goes with it.

use bgjobs_store::Error;

use crate::exit;

/// What `main` prints and exits with when a command fails.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: exit::USAGE,
            message: message.into(),
        }
    }

    /// Stdout was closed by its reader: nothing more to say, and nothing
    /// went wrong (exit 0, no message).
    pub fn reader_gone() -> Self {
        Self {
            code: 0,
            message: String::new(),
        }
    }

    /// Any other failure (exit 1).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            code: exit::ERROR,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::UnknownJob(_) | Error::Invalid(_) => exit::USAGE,
            _ => exit::ERROR,
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}

/// Result of a command: the exit code on success (a job's own exit code can
/// be any 32-bit value on Windows).
pub type Outcome = Result<i32, Failure>;
