//! `bgjobs broker register|status|teardown`: the workspace's shared helper.

use std::path::PathBuf;

use bgjobs_store::broker::Broker;
use serde::Serialize;

use crate::args::BrokerCommand;
use crate::context;
use crate::failure::{Failure, Outcome};
use crate::output;
use crate::output::say;

/// `broker status --json`.
#[derive(Serialize)]
struct StatusJson<'a> {
    broker: Option<&'a Broker>,
    alive: bool,
    held: bool,
}

/// Entry point of `broker`.
pub fn run(workspace: Option<PathBuf>, command: BrokerCommand) -> Outcome {
    let store = context::open_store(workspace)?;
    match command {
        BrokerCommand::Register {
            pid,
            endpoint,
            dir,
            shutdown_cmd,
        } => {
            let broker = Broker::new(pid, endpoint, dir, shutdown_cmd)?;
            store.register_broker(&broker)?;
            say!(
                "registered broker pid {pid} for {}",
                store.workspace().display()
            )?;
            Ok(0)
        }
        BrokerCommand::Status { json } => {
            let broker = store.broker()?;
            let alive = broker.as_ref().is_some_and(|b| b.process.is_alive());
            let held = store.broker_held()?;
            if json {
                output::json(&StatusJson {
                    broker: broker.as_ref(),
                    alive,
                    held,
                })?;
                return Ok(0);
            }
            match broker {
                None => say!("no broker registered for {}", store.workspace().display())?,
                Some(b) => {
                    say!(
                        "pid:       {} ({})",
                        b.process.pid,
                        if alive { "alive" } else { "gone" }
                    )?;
                    say!("endpoint:  {}", b.endpoint.as_deref().unwrap_or("-"))?;
                    say!("dir:       {}", b.dir.as_deref().unwrap_or("-"))?;
                    say!(
                        "shutdown:  {}",
                        b.shutdown_cmd.map_or("-".into(), |c| c.join(" "))
                    )?;
                    say!(
                        "held:      {}",
                        if held {
                            "yes (a live session or an active job)"
                        } else {
                            "no"
                        }
                    )?;
                }
            }
            Ok(0)
        }
        BrokerCommand::Teardown { force } => {
            if store.broker()?.is_none() {
                say!("no broker registered")?;
                return Ok(0);
            }
            if !force && store.broker_held()? {
                return Err(Failure::error(
                    "the broker is still held by a live session or an active job (use --force to tear it down anyway)",
                ));
            }
            match store.teardown_broker(force)? {
                Some(done) => {
                    say!(
                        "broker {} torn down: shutdown command {}; process {}; removed {}",
                        done.broker.process.pid,
                        done.shutdown,
                        done.process,
                        if done.removed.is_empty() {
                            "nothing".into()
                        } else {
                            done.removed.join(", ")
                        }
                    )?;
                    Ok(0)
                }
                None => Err(Failure::error("another process is tearing the broker down")),
            }
        }
    }
}
