//! `bgjobs-store`: the per-workspace job store of bgjobs.
//!
//! Everything here is synchronous and needs no daemon: workspace resolution
//! ([`workspace`]), the state root ([`root`]), the locked store of job records
//! ([`store`], [`job`]), queues and dependencies ([`queue`]), process
//! identity and liveness ([`identity`]), process trees ([`tree`]), bounded
//! logs ([`log`]), retention ([`retention`]) and settings ([`config`]). The store is the truth; everything else in bgjobs
//! (the notifier, hooks, `wait`) reads it and acts on what it says.

pub mod boot;
pub mod broker;
pub mod command;
pub mod config;
pub mod ending;
pub mod environment;
pub mod error;
pub mod fsio;
pub mod identity;
pub mod job;
pub mod log;
pub mod queue;
mod record;
pub mod retention;
pub mod root;
pub mod session;
pub mod store;
pub mod time;
pub mod tree;
pub mod workspace;

pub use command::CommandLine;
pub use config::Config;
pub use error::{Error, Result};
pub use identity::ProcessIdentity;
pub use job::{Deliveries, Job, NewJob, Status};
pub use queue::QueueName;
pub use root::StateRoot;
pub use store::{nested_json, Created, ListFilter, Listed, Listing, Store, Warning, JSON_DEPTH};
