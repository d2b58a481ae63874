//! `bgjobs`: keeps an agent's background jobs alive, recorded and reported.
//!
//! `main` parses the command line and dispatches to one entry point per
//! command in `commands/`; each returns an exit code or a [`Failure`] that is
//! printed as one line on stderr.

mod admission;
mod args;
mod commands;
mod context;
mod exit;
mod failure;
mod follow;
mod hooks;
mod jobs;
mod notify;
mod output;
mod platform;
mod shell;
mod waker;
mod worker;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    // The notifier daemon lives for minutes; started without the argument
    // parser, whose code would otherwise stay resident all that time.
    if std::env::args_os().skip(1).eq(["notifier", "run"]) {
        return finish(commands::notifier::run(args::NotifierCommand::Run));
    }
    // A hook runs before every tool call and prompt: its usual command lines,
    // exactly as `install` writes them, skip building the whole parser.
    if std::env::args_os().skip(1).eq(["hook"]) {
        return finish(hooks::run(None, args::HookArgs::default()));
    }
    if std::env::args_os().skip(1).eq(["hook", "--agent", "codex"]) {
        let args = args::HookArgs {
            agent: Some(args::Client::Codex),
            ..args::HookArgs::default()
        };
        return finish(hooks::run(None, args));
    }
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Run(_) | Command::Worker(_) | Command::Notifier(_) | Command::Hook(_)
    ) {
        // Like every Unix filter: `bgjobs status | head` ends quietly.
        platform::default_sigpipe();
    }
    let result = match cli.command {
        Command::Run(args) => commands::run::run(cli.workspace, args, false),
        Command::Enqueue(args) => commands::run::run(cli.workspace, args, true),
        Command::Status(args) => commands::status::run(cli.workspace, args),
        Command::Show(args) => commands::show::run(cli.workspace, args),
        Command::Logs(args) => commands::logs::run(cli.workspace, args),
        Command::Queue(args) => commands::queue::run(cli.workspace, args),
        Command::Restart(args) => commands::restart::run(cli.workspace, args),
        Command::Wait(args) => commands::wait::run(cli.workspace, args),
        Command::Cancel(args) => commands::cancel::run(cli.workspace, args),
        Command::Prune(args) => commands::prune::run(cli.workspace, args),
        Command::Notifier(command) => commands::notifier::run(command),
        Command::Hook(args) => hooks::run(cli.workspace, args),
        Command::Broker(command) => commands::broker::run(cli.workspace, command),
        Command::Install(args) => commands::install::install(cli.workspace, args),
        Command::Uninstall(args) => commands::install::uninstall(cli.workspace, args),
        Command::Doctor(args) => commands::doctor::run(cli.workspace, args),
        Command::Completions { shell } => commands::docs::completions(shell),
        Command::Man => commands::docs::man(),
        Command::ReapSession { session, ids } => {
            hooks::session_end::reap(cli.workspace, &session, &ids)
        }
        Command::StartWorker { id } => commands::run::start_worker(cli.workspace, id),
        Command::StopAdopted { id, if_deliberate } => {
            hooks::adopt::stop(cli.workspace, id, if_deliberate)
        }
        Command::Detach { args } => commands::run::detach(cli.workspace, &args),
        Command::Worker(args) => worker::run_detached(cli.workspace, args.id, args.admitted),
    };
    finish(result)
}

/// Exit with the command's code, or print its failure as one line.
fn finish(result: failure::Outcome) -> ExitCode {
    match result {
        Ok(code) => match u8::try_from(code) {
            Ok(byte) => ExitCode::from(byte),
            // A job's 32-bit Windows exit code, passed through whole.
            Err(_) => {
                let _ = std::io::Write::flush(&mut std::io::stdout());
                std::process::exit(code)
            }
        },
        Err(failure) => {
            if !failure.message.is_empty() {
                // Not eprintln!: a closed stderr must not turn into a panic.
                let _ = writeln!(std::io::stderr(), "bgjobs: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
