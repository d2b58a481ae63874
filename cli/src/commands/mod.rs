//! One module per command, each with a documented `run` entry point.

pub mod broker;
pub mod cancel;
pub mod docs;
pub mod doctor;
pub mod install;
pub mod logs;
pub mod notifier;
pub mod prune;
pub mod queue;
pub mod restart;
pub mod run;
pub mod show;
pub mod status;
pub mod wait;
