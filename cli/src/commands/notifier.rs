//! `bgjobs notifier run|start|stop|status`.

use std::io;
use std::time::{Duration, Instant};

use bgjobs_notifier::daemon::{self, Exit, Options};
use bgjobs_notifier::{desktop, Client, Reply, Request};
use bgjobs_store::{Config, StateRoot};

use crate::args::NotifierCommand;
use crate::failure::{Failure, Outcome};
use crate::notify::connect_or_start;
use crate::output;
use crate::output::say;

/// Entry point of `notifier`.
pub fn run(command: NotifierCommand) -> Outcome {
    let root = StateRoot::from_env()?;
    match command {
        NotifierCommand::Run => run_foreground(root),
        NotifierCommand::Start => start(&root),
        NotifierCommand::Stop => stop(&root),
        NotifierCommand::Status { json } => status(&root, json),
        NotifierCommand::ShowDesktop { summary, body } => match desktop::show(&summary, &body) {
            Ok(()) => Ok(0),
            Err(e) => Err(Failure::error(format!(
                "desktop notification not shown: {e}"
            ))),
        },
    }
}

fn run_foreground(root: StateRoot) -> Outcome {
    let config = Config::load()?;
    let enabled = config.desktop
        && desktop::AVAILABLE
        && std::env::var("BGJOBS_DESKTOP").map_or(true, |v| v != "0");
    let desktop = match std::env::current_exe() {
        Ok(exe) if enabled => Some(vec![
            exe.into_os_string(),
            "notifier".into(),
            "show-desktop".into(),
        ]),
        _ => None,
    };
    match daemon::run(Options {
        root,
        config,
        desktop,
        start_due: Some(crate::admission::start_due_in_sweep),
    }) {
        Ok(Exit::Stopped) => Ok(0),
        Ok(Exit::AlreadyRunning) => {
            eprintln!("bgjobs: a notifier is already running for this state root");
            Ok(0)
        }
        Err(e) => Err(Failure::error(format!("notifier: {e}"))),
    }
}

fn hello(client: &mut Client) -> io::Result<u32> {
    match client.request(&Request::Hello {
        pid: Some(std::process::id()),
    })? {
        Reply::Hello { pid: Some(pid) } => Ok(pid),
        other => Err(io::Error::other(format!("unexpected reply {other:?}"))),
    }
}

fn start(root: &StateRoot) -> Outcome {
    if let Ok(pid) = Client::connect(root).and_then(|mut c| hello(&mut c)) {
        say!("notifier already running (pid {pid})")?;
        return Ok(0);
    }
    let pid = connect_or_start(root)
        .and_then(|mut c| hello(&mut c))
        .map_err(|e| Failure::error(format!("cannot start the notifier: {e}")))?;
    say!("notifier running (pid {pid})")?;
    Ok(0)
}

fn stop(root: &StateRoot) -> Outcome {
    let Ok(mut client) = Client::connect(root) else {
        say!("notifier is not running")?;
        return Ok(0);
    };
    let daemon = hello(&mut client)
        .ok()
        .and_then(bgjobs_store::ProcessIdentity::of);
    client
        .request(&Request::Shutdown)
        .map_err(|e| Failure::error(format!("the notifier did not stop: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    // Stopped means gone, lock released: a `start` right after must not
    // find the old daemon still holding it.
    while Client::connect(root).is_ok() || daemon.is_some_and(|d| d.is_alive()) {
        if Instant::now() >= deadline {
            return Err(Failure::error(
                "the notifier acknowledged but is still answering",
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    say!("notifier stopped")?;
    Ok(0)
}

fn status(root: &StateRoot, json: bool) -> Outcome {
    let reply = Client::connect(root).and_then(|mut c| c.request(&Request::Status));
    let status = match reply {
        Ok(Reply::StatusReply { status }) => status,
        _ => {
            if json {
                output::json(&serde_json::json!({ "running": false }))?;
            } else {
                say!("notifier is not running")?;
            }
            return Ok(1);
        }
    };
    if json {
        output::json(&status)?;
    } else {
        say!("pid:          {}", status.pid)?;
        say!(
            "uptime:       {}",
            bgjobs_store::time::short_duration(Duration::from_secs(status.uptime_secs))
        )?;
        say!("endpoint:     {}", status.endpoint)?;
        say!("connections:  {}", status.connections)?;
        say!("deliveries:   {}", status.deliveries)?;
        say!("desktop:      {} shown", status.desktop_shown)?;
    }
    Ok(0)
}
