//! `config.toml`: user settings, with defaults for everything. Unknown keys are
//! an error that names the key, so a typo never silently does nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::queue::QueueName;
use crate::time::parse_duration;

/// Settings from `config.toml` (`BGJOBS_CONFIG`, else the platform config dir).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Finished jobs kept per workspace; older ones are pruned with their logs.
    pub keep_finished: usize,
    /// Finished jobs older than this are pruned automatically (`"30d"`); off when unset.
    #[serde(deserialize_with = "some_duration")]
    pub max_age: Option<Duration>,
    /// Bound on each job's log, in bytes; past it the newest output is kept.
    pub log_max_bytes: u64,
    /// Desktop notifications on or off.
    pub desktop: bool,
    /// Jobs finishing within this window share one desktop notification.
    #[serde(deserialize_with = "duration")]
    pub coalesce_window: Duration,
    /// The notifier exits after this long with nothing to do.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Claude Code's background Bash calls run as bgjobs jobs (the
    /// PreToolUse hook adopts them); `BGJOBS_ADOPT=0` also turns it off.
    pub adopt_background: bool,
    /// Queue limits (`[queues]`, `NAME = N`): at most N of a queue's jobs
    /// run at once; 0, and any queue not named, is unlimited.
    pub queues: BTreeMap<QueueName, usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keep_finished: 1000,
            max_age: None,
            log_max_bytes: 16 * 1024 * 1024,
            desktop: true,
            coalesce_window: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(300),
            adopt_background: true,
            queues: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Load from `BGJOBS_CONFIG`, else `<config dir>/bgjobs/config.toml`;
    /// defaults when the file does not exist.
    pub fn load() -> Result<Self> {
        match Self::path() {
            Some(path) => Self::load_from(&path),
            None => Ok(Self::default()),
        }
    }

    /// Where the config file is looked for.
    pub fn path() -> Option<PathBuf> {
        match std::env::var_os("BGJOBS_CONFIG") {
            Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
            _ => directories::ProjectDirs::from("", "", "bgjobs")
                .map(|d| d.config_dir().join("config.toml")),
        }
    }

    /// Load from `path`; defaults when it does not exist.
    pub fn load_from(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(Error::Config {
                    path: path.into(),
                    detail: e.to_string(),
                })
            }
        };
        let bad = |detail: String| Error::Config {
            path: path.into(),
            detail,
        };
        let config: Config = toml::from_str(&text).map_err(|e| {
            // The line names the setting when the message alone does not.
            let line = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| before.lines().count().max(1));
            match line.and_then(|n| Some((n, text.lines().nth(n - 1)?))) {
                Some((n, content)) => {
                    bad(format!("line {n} `{}`: {}", content.trim(), e.message()))
                }
                None => bad(e.message().to_string()),
            }
        })?;
        if config.log_max_bytes < 4096 {
            return Err(bad("log_max_bytes: must be at least 4096".into()));
        }
        Ok(config)
    }

    /// How many of `queue`'s jobs may run at once; 0 is no limit.
    pub fn queue_limit(&self, queue: &QueueName) -> usize {
        self.queues.get(queue).copied().unwrap_or(0)
    }

    /// `max_age`.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// `coalesce_window`.
    pub fn coalesce_window(&self) -> Duration {
        self.coalesce_window
    }

    /// `idle_timeout`.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
}

/// A duration setting, written as text (`"90s"`, `"5m"`), parsed once, here.
fn duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// [`duration`], for an optional setting.
fn some_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let dir = std::env::temp_dir().join(format!("bgjobs-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "keep_finished = 5\nkeep_finishd = 6\n").unwrap();
        let err = Config::load_from(&path).unwrap_err().to_string();
        assert!(err.contains("keep_finishd"), "{err}");
        std::fs::write(&path, "keep_finished = 5\nidle_timeout = \"1m\"\n").unwrap();
        let config = Config::load_from(&path).unwrap();
        assert_eq!(config.keep_finished, 5);
        assert_eq!(config.idle_timeout(), Duration::from_secs(60));
        assert_eq!(config.max_age(), None);
        std::fs::write(&path, "max_age = \"30d\"\nidle_timeout = \"5x\"\n").unwrap();
        let err = Config::load_from(&path).unwrap_err().to_string();
        assert!(err.contains("idle_timeout") && err.contains("5x"), "{err}");
        std::fs::write(&path, "max_age = \"30d\"\n").unwrap();
        let config = Config::load_from(&path).unwrap();
        assert_eq!(config.max_age(), Some(Duration::from_secs(30 * 86400)));
        std::fs::write(&path, "[queues]\ndefault = 0\ntests = 2\n").unwrap();
        let config = Config::load_from(&path).unwrap();
        let tests = QueueName::new("tests").unwrap();
        assert_eq!(config.queue_limit(&tests), 2);
        assert_eq!(config.queue_limit(&QueueName::default()), 0);
        assert_eq!(config.queue_limit(&QueueName::new("other").unwrap()), 0);
        std::fs::write(&path, "[queues]\n\"bad name\" = 2\n").unwrap();
        let err = Config::load_from(&path).unwrap_err().to_string();
        assert!(err.contains("bad name"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
