//! `bgjobs completions SHELL` and `bgjobs man`: shell completions and the
//! manual page, generated from the same clap definitions as the parser, so
//! they never disagree with it.

use std::io::Write;

use clap::CommandFactory;

use crate::args::Cli;
use crate::failure::{Failure, Outcome};

/// Entry point of `completions`.
pub fn completions(shell: clap_complete::Shell) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bgjobs", &mut script);
    write_out(&script)
}

/// Entry point of `man`.
pub fn man() -> Outcome {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Failure::error(format!("cannot render the manual page: {e}")))?;
    write_out(&page)
}

fn write_out(bytes: &[u8]) -> Outcome {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Failure::error(format!("cannot write output: {e}"))),
    }
}
