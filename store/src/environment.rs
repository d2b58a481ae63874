//! The environment a held-back job will run with: the one its creator had.
//!
//! A job that starts at once inherits it through its worker, which its
//! creator starts. A job that waits in a queue is started by whoever admits
//! it (the notifier, another job's worker, a `status` typed in another
//! shell), whose environment is not its creator's: so the creator's is
//! kept beside the record, `jobs/<id>.environment`, and the worker runs the
//! command in it. Variables whose name or value is not UTF-8 are not kept.

use std::collections::BTreeMap;

use crate::error::{IoContext, Result};
use crate::fsio;
use crate::store::Store;

/// Environment variables, by name.
pub type Environment = BTreeMap<String, String>;

impl Store {
    /// Where job `id`'s kept environment lives.
    fn environment_file(&self, id: u64) -> std::path::PathBuf {
        self.job_path(id).with_extension("environment")
    }

    /// Keep the calling process's environment for job `id` (lock held, before
    /// the record is written, durably: a job must never run in another's).
    /// The file is synced, its directory not: the record, written next in
    /// the same directory, syncs that directory, and so makes both names
    /// durable at once, the environment's first.
    ///
    /// Jobs queued one after another mostly come from the same shell: when
    /// `previous` (the newest waiting job) kept the very same environment,
    /// job `id` gets a second name for that file, whose content is synced
    /// already, and no fsync of its own.
    pub(crate) fn keep_environment(&self, id: u64, previous: Option<u64>) -> Result<()> {
        let environment: Environment = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let bytes =
            serde_json::to_vec(&environment).map_err(|e| crate::Error::Invalid(e.to_string()))?;
        let path = self.environment_file(id);
        if let Some(previous) = previous.map(|p| self.environment_file(p)) {
            // A name left by a crash (an id given out again) is replaced below.
            if std::fs::read(&previous).is_ok_and(|kept| kept == bytes)
                && std::fs::hard_link(&previous, &path).is_ok()
            {
                return Ok(());
            }
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let dir = path.parent().map(std::path::Path::to_path_buf);
        match (dir, name) {
            (Some(dir), Some(name)) => {
                fsio::write_atomic_with(&dir, &name, &bytes, fsio::Durability::Ordered)
            }
            _ => Ok(()),
        }
    }

    /// Job `id`'s kept environment, if it has one (an unreadable one is an
    /// error: the command must not run in the wrong environment).
    pub fn kept_environment(&self, id: u64) -> Result<Option<Environment>> {
        let path = self.environment_file(id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| crate::Error::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at("cannot read", &path),
        }
    }

    /// Forget job `id`'s kept environment (its command has started, or the
    /// job is pruned).
    pub fn forget_environment(&self, id: u64) {
        let _ = std::fs::remove_file(self.environment_file(id));
    }
}
