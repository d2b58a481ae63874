//! `bgjobs doctor [--json]`: is everything bgjobs relies on in place? One
//! line per check, and a non-zero exit when one fails.

use std::path::{Path, PathBuf};

use bgjobs_notifier::Client;
use bgjobs_store::{fsio, Config, StateRoot};
use serde::Serialize;
use serde_json::Value;

use crate::args::{DoctorArgs, Scope};
use crate::commands::install;
use crate::failure::Outcome;
use crate::output::{self, say};

/// One check's result.
#[derive(Debug, Serialize)]
struct Check {
    /// What was checked.
    name: String,
    /// Whether it holds.
    ok: bool,
    /// What was found, in words.
    detail: String,
}

impl Check {
    fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok,
            detail: detail.into(),
        }
    }
}

/// `doctor --json`.
#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    checks: &'a [Check],
}

/// Entry point of `doctor`.
pub fn run(workspace: Option<PathBuf>, args: DoctorArgs) -> Outcome {
    let mut checks = vec![config()];
    checks.extend(hooks(workspace.clone()));
    let root = StateRoot::from_env();
    match &root {
        Ok(root) => {
            checks.push(permissions(root));
            checks.push(notifier(root));
        }
        Err(e) => checks.push(Check::new("state root", false, e.to_string())),
    }
    checks.push(desktop());
    let ok = checks.iter().all(|c| c.ok);
    if args.json {
        output::json(&Report {
            ok,
            checks: &checks,
        })?;
    } else {
        for c in &checks {
            say!(
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn config() -> Check {
    let path = Config::path().map_or_else(|| "(none)".into(), |p| p.display().to_string());
    match Config::load() {
        Ok(_) => Check::new(
            "config",
            true,
            format!("{path} parses (or is absent: defaults)"),
        ),
        Err(e) => Check::new("config", false, e.to_string()),
    }
}

/// The hooks in each Claude Code settings scope: where any are installed,
/// they must be current and run this binary; somewhere (or as the plugin)
/// they must be installed.
fn hooks(workspace: Option<PathBuf>) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut found = false;
    for (scope, name) in [
        (Scope::User, "user"),
        (Scope::Project, "project"),
        (Scope::Local, "local"),
    ] {
        let label = format!("Claude Code hooks ({name})");
        let path = match install::settings_path(workspace.clone(), scope) {
            Ok(path) => path,
            Err(f) => {
                checks.push(Check::new(label, false, f.message));
                continue;
            }
        };
        match install::read_json(&path) {
            Ok(Some(settings)) => {
                if let Some(check) = scope_hooks(&label, &path, &settings) {
                    found = true;
                    checks.push(check);
                }
            }
            Ok(None) => {}
            Err(f) => checks.push(Check::new(label, false, f.message)),
        }
    }
    let codex = codex_hooks(workspace.clone());
    let codex_found = !codex.is_empty();
    checks.extend(codex);
    if !found {
        let plugin = plugin_installed(workspace);
        checks.push(Check::new(
            "Claude Code hooks",
            plugin || codex_found,
            if plugin {
                "installed as the bgjobs plugin"
            } else if codex_found {
                "not installed (only Codex's are): `bgjobs install claude` adds them"
            } else {
                "not installed in any settings scope, nor as the plugin: run `bgjobs install claude` \
                 (or `bgjobs install codex` for Codex CLI)"
            },
        ));
    }
    checks
}

/// The Codex hooks of each scope where any are installed: current, running
/// this binary, trusted.
fn codex_hooks(workspace: Option<PathBuf>) -> Vec<Check> {
    install::CodexScope::ALL
        .into_iter()
        .filter_map(|(scope, name)| {
            let label = format!("Codex hooks ({name})");
            install::codex_check(workspace.clone(), scope).map(|state| match state {
                Ok(detail) => Check::new(label, true, detail),
                Err(detail) => Check::new(label, false, detail),
            })
        })
        .collect()
}

/// The check of one settings file, if it holds bgjobs hooks.
fn scope_hooks(label: &str, path: &Path, settings: &Value) -> Option<Check> {
    let hooks = settings.get("hooks").and_then(Value::as_object)?;
    let ours: Vec<(&String, &Value)> = hooks
        .iter()
        .flat_map(|(event, groups)| {
            groups
                .as_array()
                .into_iter()
                .flatten()
                .filter(|g| {
                    g.get("hooks")
                        .and_then(Value::as_array)
                        .is_some_and(|l| l.iter().any(install::is_ours))
                })
                .map(move |g| (event, g))
        })
        .collect();
    if ours.is_empty() {
        return None;
    }
    let command = ours
        .iter()
        .filter_map(|(_, g)| g["hooks"].as_array()?.iter().find(|h| install::is_ours(h)))
        .find_map(|h| h.get("command").and_then(Value::as_str))
        .unwrap_or("bgjobs")
        .to_string();
    if !runs_this_binary(&command) {
        return Some(Check::new(
            label,
            false,
            format!(
                "{}: the hooks run `{command}`, which is not this bgjobs: run `bgjobs install claude` again",
                path.display()
            ),
        ));
    }
    let events = install::EVENTS
        .iter()
        .copied()
        .chain([("Stop", None), install::ADOPT]);
    let missing: Vec<&str> = events
        .filter(|(event, matcher)| {
            let want = install::our_group(event, *matcher, &command);
            let adopt_off = *event == install::ADOPT.0 && !ours.iter().any(|(e, _)| *e == event);
            !adopt_off && !ours.iter().any(|(e, g)| e == event && **g == want)
        })
        .map(|(event, _)| event)
        .collect();
    Some(if missing.is_empty() {
        Check::new(
            label,
            true,
            format!("{}: current, running {command}", path.display()),
        )
    } else {
        Check::new(
            label,
            false,
            format!(
                "{}: not current ({}): run `bgjobs install claude` again",
                path.display(),
                missing.join(", ")
            ),
        )
    })
}

/// Whether a hook's `command` starts this very binary.
fn runs_this_binary(command: &str) -> bool {
    let Ok(me) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return false;
    };
    let found = if Path::new(command).is_absolute() {
        Some(PathBuf::from(command))
    } else {
        std::env::var_os("PATH").and_then(|path| {
            let name = format!("{command}{}", std::env::consts::EXE_SUFFIX);
            std::env::split_paths(&path)
                .map(|dir| dir.join(&name))
                .find(|p| p.is_file())
        })
    };
    found.and_then(|p| std::fs::canonicalize(p).ok()) == Some(me)
}

/// Whether Claude Code lists the bgjobs plugin as installed (beside the
/// user's settings: `~/.claude/plugins/installed_plugins.json`).
fn plugin_installed(workspace: Option<PathBuf>) -> bool {
    let Ok(settings) = install::settings_path(workspace, Scope::User) else {
        return false;
    };
    let Some(dir) = settings.parent() else {
        return false;
    };
    let path = dir.join("plugins").join("installed_plugins.json");
    std::fs::read_to_string(path).is_ok_and(|text| text.contains("\"bgjobs@"))
}

fn permissions(root: &StateRoot) -> Check {
    let path = root.path();
    match fsio::owner_only(path) {
        Ok(Some(true)) => Check::new(
            "state root",
            true,
            format!("{} is owner-only", path.display()),
        ),
        Ok(Some(false)) => Check::new(
            "state root",
            false,
            format!(
                "{} is readable or writable by others: chmod 700 it",
                path.display()
            ),
        ),
        Ok(None) => Check::new(
            "state root",
            true,
            format!("{} (access by the profile's ACL)", path.display()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::new(
            "state root",
            true,
            format!("{} does not exist yet (made on first use)", path.display()),
        ),
        Err(e) => Check::new("state root", false, format!("{}: {e}", path.display())),
    }
}

fn notifier(root: &StateRoot) -> Check {
    match Client::connect(root) {
        Ok(_) => Check::new("notifier", true, "running and answering"),
        Err(_) => match crate::notify::connect_or_start(root) {
            Ok(_) => Check::new(
                "notifier",
                true,
                "not running; started on demand, and answers",
            ),
            Err(e) => Check::new("notifier", false, format!("cannot be started: {e}")),
        },
    }
}

fn desktop() -> Check {
    let enabled = Config::load().is_ok_and(|c| c.desktop)
        && std::env::var_os("BGJOBS_DESKTOP").is_none_or(|v| v != "0");
    if !enabled {
        return Check::new(
            "desktop notifications",
            true,
            "off (config or BGJOBS_DESKTOP=0)",
        );
    }
    if !bgjobs_notifier::desktop::AVAILABLE {
        return Check::new(
            "desktop notifications",
            true,
            "not in this build (built without the `desktop` feature); none are shown",
        );
    }
    match bgjobs_notifier::desktop::backend() {
        Ok(detail) => Check::new("desktop notifications", true, detail),
        Err(detail) => Check::new(
            "desktop notifications",
            false,
            format!("{detail} (on a machine without a desktop, set `desktop = false`)"),
        ),
    }
}
