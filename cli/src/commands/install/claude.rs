//! `bgjobs install claude` / `bgjobs uninstall claude`: bgjobs' hooks in a
//! Claude Code settings file.

use std::path::PathBuf;

use bgjobs_store::workspace::{self, WorkspaceHints};
use serde_json::{json, Map, Value};

use super::{backup, not_object, read_json, write_json};
use crate::args::{HookArgs, InstallArgs, Scope};
use crate::failure::{Failure, Outcome};
use crate::output::say;

/// Events registered with `bgjobs hook`, each with its matcher.
pub(crate) const EVENTS: &[(&str, Option<&str>)] = &[
    ("SessionStart", None),
    ("SessionEnd", None),
    ("UserPromptSubmit", None),
    ("PostToolUse", None),
    ("SubagentStart", None),
    ("SubagentStop", None),
];
/// The adoption hook: before Bash calls (adopting background ones) and the
/// task-stop tool (a deliberate stop cancels the adopted job). Every other
/// tool call goes by without starting bgjobs.
pub(crate) const ADOPT: (&str, Option<&str>) = ("PreToolUse", Some("Bash|TaskStop|KillShell"));
/// Timeout of the Stop waiter's hook, in seconds: its own default limit
/// plus a margin, so the waiter always ends (and wakes) before Claude Code
/// would kill it.
const REWAKE_TIMEOUT: u64 = HookArgs::DEFAULT_LIMIT.as_secs() + 100;

/// The hook group bgjobs adds for `event`, running `command`.
pub(crate) fn our_group(event: &str, matcher: Option<&str>, command: &str) -> Value {
    let hook = if event == "Stop" {
        json!({"type": "command", "command": command, "args": ["hook", "--rewake"], "asyncRewake": true, "timeout": REWAKE_TIMEOUT})
    } else {
        json!({"type": "command", "command": command, "args": ["hook"]})
    };
    match matcher {
        Some(m) => json!({ "matcher": m, "hooks": [hook] }),
        None => json!({ "hooks": [hook] }),
    }
}

/// Whether a hook entry is one of ours: `bgjobs hook`, by bare name or path.
pub(crate) fn is_ours(hook: &Value) -> bool {
    let Some(command) = hook.get("command").and_then(Value::as_str) else {
        return false;
    };
    let name = command.rsplit(['/', '\\']).next().unwrap_or(command);
    matches!(name, "bgjobs" | "bgjobs.exe")
        && hook
            .get("args")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            == Some("hook")
}

/// The command the hooks run: the bare name `bgjobs` when it resolves, on
/// `PATH`, to this very binary; else this binary's absolute path (a hook
/// that cannot find bgjobs fails on every event, in the user's terminal).
pub(crate) fn hook_command() -> Result<(String, Option<String>), Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find the bgjobs executable: {e}")))?;
    // Compared canonical; written as the OS named it (no `\\?\` prefix).
    let me = std::fs::canonicalize(&exe).unwrap_or_else(|_| exe.clone());
    let name = format!("bgjobs{}", std::env::consts::EXE_SUFFIX);
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(&name))
            .find(|candidate| candidate.is_file())
    });
    let absolute = exe.to_string_lossy().into_owned();
    match on_path {
        Some(found) if std::fs::canonicalize(&found).ok().as_ref() == Some(&me) => {
            Ok(("bgjobs".into(), None))
        }
        Some(found) => Ok((
            absolute.clone(),
            Some(format!(
                "`bgjobs` on PATH is {}, not this binary: the hooks run {absolute}",
                found.display()
            )),
        )),
        None => Ok((
            absolute.clone(),
            Some(format!("`bgjobs` is not on PATH: the hooks run {absolute}")),
        )),
    }
}

/// `install claude`.
pub fn install(workspace: Option<PathBuf>, args: InstallArgs) -> Outcome {
    let path = settings_path(workspace, args.scope)?;
    let (command, note) = hook_command()?;
    let original = read_json(&path)?;
    let mut settings = original
        .clone()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let hooks = settings
        .as_object_mut()
        .ok_or_else(|| not_object(&path))?
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    let hooks = hooks
        .as_object_mut()
        .ok_or_else(|| Failure::error(format!("{}: \"hooks\" is not an object", path.display())))?;
    let events = EVENTS.iter().copied().chain([("Stop", None), ADOPT]);
    for (event, matcher) in events {
        let wanted = !(args.no_adopt && event == ADOPT.0);
        if !wanted && !hooks.contains_key(event) {
            continue;
        }
        let group = our_group(event, matcher, &command);
        let entry = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let groups = entry.as_array_mut().ok_or_else(|| {
            Failure::error(format!("{}: hooks.{event} is not an array", path.display()))
        })?;
        let ours = groups.iter().filter(|g| holds_ours(g)).count();
        if wanted && ours == 1 && groups.contains(&group) {
            continue; // installed as it should be
        }
        remove_ours(groups);
        if wanted {
            groups.push(group);
        } else if groups.is_empty() {
            hooks.remove(event);
        }
    }
    if let Some(note) = &note {
        say!("note: {note}")?;
    }
    if Some(&settings) == original.as_ref() {
        say!("bgjobs hooks are already installed in {}", path.display())?;
        return Ok(0);
    }
    if original.is_some() {
        say!("backup: {}", backup(&path)?.display())?;
    }
    write_json(&path, &settings)?;
    say!("installed bgjobs hooks into {}", path.display())?;
    Ok(0)
}

/// Claude Code's configuration directory, as Claude Code finds it:
/// `CLAUDE_CONFIG_DIR`, else `.claude` in the home directory.
fn claude_config_dir() -> Result<PathBuf, Failure> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = directories::BaseDirs::new()
        .ok_or_else(|| Failure::error("cannot find the home directory"))?;
    Ok(home.home_dir().join(".claude"))
}

/// Whether a hook group holds one of our entries.
fn holds_ours(group: &Value) -> bool {
    group
        .get("hooks")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(is_ours))
}

/// Remove our entries from an event's groups; a group that held nothing
/// but ours goes with them.
fn remove_ours(groups: &mut Vec<Value>) {
    groups.retain_mut(|group| {
        let Some(Value::Array(list)) = group.get_mut("hooks") else {
            return true;
        };
        let before = list.len();
        list.retain(|h| !is_ours(h));
        !(list.is_empty() && before > 0)
    });
}

/// `uninstall claude`.
pub fn uninstall(workspace: Option<PathBuf>, args: InstallArgs) -> Outcome {
    let path = settings_path(workspace, args.scope)?;
    let Some(mut settings) = read_json(&path)? else {
        say!("nothing to uninstall: {} does not exist", path.display())?;
        return Ok(0);
    };
    let original = settings.clone();
    let root = settings.as_object_mut().ok_or_else(|| not_object(&path))?;
    if let Some(Value::Object(hooks)) = root.get_mut("hooks") {
        for groups in hooks.values_mut() {
            if let Value::Array(groups) = groups {
                remove_ours(groups);
            }
        }
        hooks.retain(|_, groups| !matches!(groups, Value::Array(g) if g.is_empty()));
        if hooks.is_empty() {
            root.remove("hooks");
        }
    }
    if settings == original {
        say!("no bgjobs hooks in {}", path.display())?;
        return Ok(0);
    }
    write_json(&path, &settings)?;
    say!("removed bgjobs hooks from {}", path.display())?;
    Ok(0)
}

pub(crate) fn settings_path(workspace: Option<PathBuf>, scope: Scope) -> Result<PathBuf, Failure> {
    if scope == Scope::User {
        return Ok(claude_config_dir()?.join("settings.json"));
    }
    let project = workspace::resolve(&WorkspaceHints::from_env(workspace)?)?;
    let file = if scope == Scope::Project {
        "settings.json"
    } else {
        "settings.local.json"
    };
    Ok(project.join(".claude").join(file))
}
