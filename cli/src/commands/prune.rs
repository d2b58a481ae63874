//! `bgjobs prune`: remove finished jobs and their logs beyond the bound.

use std::path::PathBuf;

use bgjobs_store::retention::{self, Policy};
use serde_json::json;

use crate::args::PruneArgs;
use crate::context;
use crate::failure::Outcome;
use crate::output;
use crate::output::say;

/// Entry point of `prune`.
pub fn run(workspace: Option<PathBuf>, args: PruneArgs) -> Outcome {
    let older_than = args.older_than;
    let store = context::open_store(workspace)?;
    let mut policy = Policy::configured(&store);
    if let Some(keep) = args.keep {
        policy.keep = keep;
    }
    if older_than.is_some() {
        policy.older_than = older_than;
    }
    let removed = retention::prune(&store, policy)?;
    if args.json {
        output::json(&json!({ "removed": removed }))?;
    } else {
        say!("pruned {} finished job(s)", removed.len())?;
    }
    Ok(0)
}
