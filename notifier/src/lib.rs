//! `bgjobs-notifier`: pushes job completions to whoever waits.
//!
//! Workers report a job's end over a local socket (Unix) or named pipe
//! (Windows) to a per-user daemon ([`daemon`]), which re-reads the store,
//! wakes subscribers such as `bgjobs wait` ([`client`]), shows a desktop
//! notification ([`desktop`]) and records each delivery on the job. The wire
//! format is in [`protocol`], the endpoint in [`endpoint`]. Nothing depends on
//! the daemon being up: the store stays the truth.

pub mod client;
pub mod daemon;
pub mod desktop;
pub mod endpoint;
pub mod protocol;

pub use client::Client;
pub use protocol::{Reply, Request};
