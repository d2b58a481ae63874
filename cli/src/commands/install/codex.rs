//! `bgjobs install codex` / `bgjobs uninstall codex`: bgjobs' hooks in a
//! Codex CLI hooks file (`hooks.json`, in Claude Code's layout), and the
//! trust entries in the user's `config.toml` without which Codex skips
//! them. Trust is written for exactly the handlers install adds, by their
//! hash: a handler the user edits later is not trusted silently.
//!
//! A trust key names a handler by its place (group and handler index), so
//! removing a group moves the trust entries of the groups after it down
//! with them: the user's own hooks stay trusted.

use std::path::{Path, PathBuf};

use bgjobs_store::workspace::{self, WorkspaceHints};
use serde_json::{json, Map, Value};
use toml_edit::{DocumentMut, Item, Table};

use super::codex_trust as trust;
use super::{backup, read_file, read_json, write_file, write_json};
use crate::args::{InstallArgs, Scope};
use crate::failure::{Failure, Outcome};
use crate::output::say;

/// The events bgjobs handles for Codex, with the timeout written for each
/// (seconds; SessionEnd's is Codex's maximum). Every hook finishes in
/// milliseconds; the timeout only bounds a hung disk.
pub(crate) const EVENTS: &[(&str, u64)] = &[
    ("SessionStart", 30),
    ("SessionEnd", 3),
    ("UserPromptSubmit", 30),
    ("PostToolUse", 30),
    ("SubagentStart", 30),
    ("SubagentStop", 30),
    ("Stop", 30),
];

/// The arguments after the program in every Codex hook command.
const HOOK_ARGS: &str = " hook --agent codex";

/// Where Codex's hooks of one scope live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodexScope {
    /// `$CODEX_HOME/hooks.json` (default `~/.codex`).
    User,
    /// `<project>/.codex/hooks.json` (Codex reads it in trusted projects).
    Project,
}

impl CodexScope {
    /// Both, for `doctor`.
    pub(crate) const ALL: [(CodexScope, &'static str); 2] =
        [(CodexScope::User, "user"), (CodexScope::Project, "project")];

    fn of(scope: Scope) -> Result<Self, Failure> {
        match scope {
            Scope::User => Ok(Self::User),
            Scope::Project => Ok(Self::Project),
            Scope::Local => Err(Failure::usage(
                "--scope local: Codex has user and project hooks only",
            )),
        }
    }
}

/// The files one install touches.
struct Files {
    /// The hooks file written.
    hooks: PathBuf,
    /// The hooks file as Codex names it in trust keys.
    key_file: PathBuf,
    /// The user's `config.toml`, where trust lives.
    config: PathBuf,
    /// The project, for the project scope.
    project: Option<PathBuf>,
}

impl Files {
    fn of(workspace: Option<PathBuf>, scope: CodexScope) -> Result<Self, Failure> {
        let (home, named_home) = codex_home()?;
        let config = home.join("config.toml");
        Ok(match scope {
            CodexScope::User => Self {
                hooks: home.join("hooks.json"),
                key_file: named_home.join("hooks.json"),
                config,
                project: None,
            },
            CodexScope::Project => {
                let project = workspace::resolve(&WorkspaceHints::from_env(workspace)?)?;
                let hooks = project.join(".codex").join("hooks.json");
                Self {
                    key_file: hooks.clone(),
                    hooks,
                    config,
                    project: Some(project),
                }
            }
        })
    }
}

/// Codex's home as found (`CODEX_HOME`, else `.codex` in the home
/// directory), and as Codex names it in trust keys: a `CODEX_HOME` it
/// resolves to its real path, the default it takes as written.
fn codex_home() -> Result<(PathBuf, PathBuf), Failure> {
    if let Some(dir) = std::env::var_os("CODEX_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let named = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        return Ok((dir, named));
    }
    let home = directories::BaseDirs::new()
        .ok_or_else(|| Failure::error("cannot find the home directory"))?;
    let dir = home.home_dir().join(".codex");
    Ok((dir.clone(), dir))
}

/// The command every Codex hook runs: this binary by its absolute path,
/// quoted. Codex runs hooks with the `PATH` it was started with, which need
/// not hold bgjobs, so a bare name is never written.
fn hook_command() -> Result<String, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find the bgjobs executable: {e}")))?;
    let path = crate::platform::path_for_shell(&exe);
    Ok(format!("{}{HOOK_ARGS}", crate::shell::quote_always(&path)))
}

/// Whether a handler is one of ours: `<bgjobs> hook --agent codex`.
fn is_ours(handler: &Value) -> bool {
    let Some(command) = handler.get("command").and_then(Value::as_str) else {
        return false;
    };
    let Some(program) = command.strip_suffix(HOOK_ARGS) else {
        return false;
    };
    let program = program.trim_matches(['\'', '"']);
    let name = program.rsplit(['/', '\\']).next().unwrap_or(program);
    matches!(name, "bgjobs" | "bgjobs.exe")
}

/// Our handler, with its timeout.
fn our_handler(timeout: u64, command: &str) -> Value {
    json!({"type": "command", "command": command, "timeout": timeout})
}

/// `install codex`.
pub fn install(workspace: Option<PathBuf>, args: &InstallArgs) -> Outcome {
    if args.no_adopt {
        return Err(Failure::usage(
            "--no-adopt: Codex runs no tool call in the background, so there is nothing to adopt",
        ));
    }
    let files = Files::of(workspace, CodexScope::of(args.scope)?)?;
    let command = hook_command()?;
    let mut edit = Edit::read(&files)?;
    for &(event, timeout) in EVENTS {
        let handler = our_handler(timeout, &command);
        let wanted = json!({ "hooks": [handler.clone()] });
        let (groups, mut trust) = edit.event(event)?;
        let mut keep = groups.iter().position(|g| *g == wanted);
        // Any other handler of ours (an older install, a copy) goes.
        for g in (0..groups.len()).rev() {
            if Some(g) == keep {
                continue;
            }
            if remove_ours_from_group(groups, g, event, &mut trust) {
                keep = keep.map(|k| if k > g { k - 1 } else { k });
            }
        }
        let g = keep.unwrap_or_else(|| {
            groups.push(wanted);
            groups.len() - 1
        });
        trust.set(event, g, 0, &trust::hash(event, None, &handler));
    }
    if !edit.changed() {
        say!(
            "bgjobs hooks are already installed and trusted in {}",
            files.hooks.display()
        )?;
        return Ok(0);
    }
    edit.write(&files)?;
    say!("installed bgjobs hooks into {}", files.hooks.display())?;
    say!(
        "trusted them in {} ({} entries, for exactly these hooks)",
        files.config.display(),
        EVENTS.len()
    )?;
    say!("note: the hooks run {command} (an absolute path: Codex runs hooks with the PATH it was started with)")?;
    if let Some(project) = &files.project {
        if !edit.project_trusted(project) {
            say!(
                "note: Codex reads {} only in a trusted project: trust {} in Codex",
                files.hooks.display(),
                project.display()
            )?;
        }
    }
    Ok(0)
}

/// `uninstall codex`.
pub fn uninstall(workspace: Option<PathBuf>, args: &InstallArgs) -> Outcome {
    let files = Files::of(workspace, CodexScope::of(args.scope)?)?;
    let mut edit = Edit::read(&files)?;
    let events: Vec<String> = edit.events().keys().cloned().collect();
    for event in events {
        let (groups, mut trust) = edit.event(&event)?;
        for g in (0..groups.len()).rev() {
            remove_ours_from_group(groups, g, &event, &mut trust);
        }
        if groups.is_empty() {
            edit.events().remove(&event);
        }
    }
    if !edit.changed() {
        say!("no bgjobs hooks in {}", files.hooks.display())?;
        return Ok(0);
    }
    edit.write(&files)?;
    say!(
        "removed bgjobs hooks from {} and their trust entries from {}",
        files.hooks.display(),
        files.config.display()
    )?;
    Ok(0)
}

/// Remove our handlers from group `g` of `event`, and the group too if
/// nothing else was in it, keeping trust in step; whether the group went.
fn remove_ours_from_group(
    groups: &mut Vec<Value>,
    g: usize,
    event: &str,
    trust: &mut Trust<'_>,
) -> bool {
    let Some(Value::Array(handlers)) = groups[g].get_mut("hooks") else {
        return false;
    };
    let before = handlers.len();
    for h in (0..handlers.len()).rev() {
        if is_ours(&handlers[h]) {
            handlers.remove(h);
            trust.remove_handler(event, g, h);
        }
    }
    if handlers.is_empty() && before > 0 {
        groups.remove(g);
        trust.remove_group(event, g);
        return true;
    }
    false
}

/// The hooks file and `config.toml` as read, and as changed.
struct Edit {
    original_hooks: Option<Value>,
    hooks: Value,
    original_config: Option<String>,
    config: DocumentMut,
    key_file: PathBuf,
}

impl Edit {
    fn read(files: &Files) -> Result<Self, Failure> {
        let original_hooks = read_json(&files.hooks)?;
        let mut hooks = original_hooks.clone().unwrap_or_else(|| json!({}));
        let root = hooks.as_object_mut().expect("read_json returns objects");
        let events = root
            .entry("hooks")
            .or_insert_with(|| Value::Object(Map::new()));
        if !events.is_object() {
            return Err(Failure::error(format!(
                "{}: \"hooks\" is not an object; nothing changed",
                files.hooks.display()
            )));
        }
        let original_config = match read_file(&files.config)? {
            Some(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
                Failure::error(format!(
                    "{} is not UTF-8; nothing changed",
                    files.config.display()
                ))
            })?),
            None => None,
        };
        let config: DocumentMut = original_config.as_deref().unwrap_or("").parse().map_err(
            |e: toml_edit::TomlError| {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or("").to_string();
                Failure::error(format!(
                    "{} is not valid TOML ({first}); nothing changed",
                    files.config.display()
                ))
            },
        )?;
        for (path, name) in [
            (&["hooks"][..], "hooks"),
            (&["hooks", "state"][..], "hooks.state"),
        ] {
            if !table_at(&config, path).is_none_or(|t| t.is_table_like()) {
                return Err(Failure::error(format!(
                    "{}: {name} is not a table; nothing changed",
                    files.config.display()
                )));
            }
        }
        Ok(Self {
            original_hooks,
            hooks,
            original_config,
            config,
            key_file: files.key_file.clone(),
        })
    }

    /// The hooks file's events.
    fn events(&mut self) -> &mut Map<String, Value> {
        self.hooks["hooks"]
            .as_object_mut()
            .expect("checked in read")
    }

    /// The groups of `event` and the trust to keep in step with them.
    fn event(&mut self, event: &str) -> Result<(&mut Vec<Value>, Trust<'_>), Failure> {
        let groups = self.hooks["hooks"]
            .as_object_mut()
            .expect("checked in read")
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(groups) = groups else {
            return Err(Failure::error(format!(
                "hooks.{event} is not an array; nothing changed"
            )));
        };
        Ok((
            groups,
            Trust {
                config: &mut self.config,
                file: &self.key_file,
            },
        ))
    }

    fn hooks_text(&self) -> Option<Value> {
        let mut hooks = self.hooks.clone();
        let root = hooks.as_object_mut()?;
        if root
            .get("hooks")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            root.remove("hooks");
        }
        (!root.is_empty() || self.original_hooks.is_some()).then_some(hooks)
    }

    fn config_text(&self) -> String {
        let mut config = self.config.clone();
        tidy(&mut config);
        config.to_string()
    }

    fn changed(&self) -> bool {
        let hooks_changed = match (self.hooks_text(), &self.original_hooks) {
            (Some(new), Some(old)) => new != *old,
            (Some(new), None) => !new.as_object().is_some_and(Map::is_empty),
            (None, old) => old.is_some(),
        };
        hooks_changed || self.config_text() != self.original_config.as_deref().unwrap_or("")
    }

    fn project_trusted(&self, project: &Path) -> bool {
        let key = project.display().to_string();
        table_at(&self.config, &["projects"])
            .and_then(|p| p.get(&key))
            .and_then(|p| p.get("trust_level"))
            .and_then(Item::as_str)
            == Some("trusted")
    }

    /// Write what changed, each changed file backed up first.
    fn write(&self, files: &Files) -> Result<(), Failure> {
        if let Some(hooks) = self.hooks_text() {
            if Some(&hooks) != self.original_hooks.as_ref() {
                if self.original_hooks.is_some() {
                    say!("backup: {}", backup(&files.hooks)?.display())?;
                }
                let empty = hooks.as_object().is_some_and(Map::is_empty);
                if empty && self.original_hooks.is_some() {
                    remove_file(&files.hooks)?;
                } else {
                    write_json(&files.hooks, &hooks)?;
                }
            }
        }
        let config = self.config_text();
        if config != self.original_config.as_deref().unwrap_or("") {
            if self.original_config.is_some() {
                say!("backup: {}", backup(&files.config)?.display())?;
            }
            if config.trim().is_empty() && self.original_config.is_some() {
                remove_file(&files.config)?;
            } else {
                write_file(&files.config, config.as_bytes())?;
            }
        }
        Ok(())
    }
}

fn remove_file(path: &Path) -> Result<(), Failure> {
    std::fs::remove_file(path)
        .map_err(|e| Failure::error(format!("cannot remove {}: {e}", path.display())))
}

/// The table-like item at `path` in `doc`, if any.
fn table_at<'d>(doc: &'d DocumentMut, path: &[&str]) -> Option<&'d Item> {
    let mut item = doc.as_item();
    for key in path {
        item = item.get(key)?;
    }
    Some(item)
}

/// Drop the `[hooks.state]` and `[hooks]` tables that removals left empty
/// (and that hold no comment of the user's).
fn tidy(doc: &mut DocumentMut) {
    let Some(hooks) = doc.get_mut("hooks").and_then(Item::as_table_like_mut) else {
        return;
    };
    if hooks
        .get("state")
        .and_then(Item::as_table_like)
        .is_some_and(|s| s.is_empty())
    {
        hooks.remove("state");
    }
    if hooks.is_empty() {
        doc.remove("hooks");
    }
}

/// The `[hooks.state]` entries of one hooks file.
struct Trust<'a> {
    config: &'a mut DocumentMut,
    file: &'a Path,
}

impl Trust<'_> {
    fn state(&mut self) -> &mut Table {
        let hooks = self
            .config
            .entry("hooks")
            .or_insert_with(|| implicit_table().into());
        let hooks = hooks.as_table_like_mut().expect("checked in read");
        let state = hooks
            .entry("state")
            .or_insert_with(|| implicit_table().into());
        if !state.is_table() {
            // An inline table: rewritten as a table of tables, same entries.
            if let Some(inline) = state.as_inline_table().cloned() {
                *state = Item::Table(inline.into_table());
            }
        }
        state.as_table_mut().expect("made a table above")
    }

    /// Trust handler `h` of group `g` of `event` by `hash`.
    fn set(&mut self, event: &str, g: usize, h: usize, hash: &str) {
        let key = trust::key(self.file, event, g, h);
        let state = self.state();
        let current = state
            .get(&key)
            .and_then(|e| e.get("trusted_hash"))
            .and_then(Item::as_str);
        if current != Some(hash) {
            let mut entry = Table::new();
            entry.insert("trusted_hash", toml_edit::value(hash));
            state.insert(&key, Item::Table(entry));
        }
    }

    /// Handler `h` of group `g` is gone: its entry goes, and those of the
    /// handlers after it in the group move down one place.
    fn remove_handler(&mut self, event: &str, g: usize, h: usize) {
        self.shift(event, |(eg, eh)| match (eg == g, eh.cmp(&h)) {
            (true, std::cmp::Ordering::Equal) => None,
            (true, std::cmp::Ordering::Greater) => Some((eg, eh - 1)),
            _ => Some((eg, eh)),
        });
    }

    /// Group `g` is gone: its entries go, and those of the groups after it
    /// move down one place.
    fn remove_group(&mut self, event: &str, g: usize) {
        self.shift(event, |(eg, eh)| match eg.cmp(&g) {
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some((eg - 1, eh)),
            std::cmp::Ordering::Less => Some((eg, eh)),
        });
    }

    /// Re-key this file's entries for `event` by `to` (None: remove).
    fn shift(&mut self, event: &str, to: impl Fn((usize, usize)) -> Option<(usize, usize)>) {
        let prefix = format!("{}:{}:", self.file.display(), trust::event_label(event));
        let file = self.file.to_path_buf();
        let Some(state) = self
            .config
            .get_mut("hooks")
            .and_then(|h| h.get_mut("state"))
            .and_then(Item::as_table_like_mut)
        else {
            return;
        };
        let mut moves = Vec::new();
        for (key, _) in state.iter() {
            let Some((g, h)) = key.strip_prefix(&prefix).and_then(|rest| {
                let (g, h) = rest.split_once(':')?;
                Some((g.parse::<usize>().ok()?, h.parse::<usize>().ok()?))
            }) else {
                continue;
            };
            let new = to((g, h));
            if new != Some((g, h)) {
                moves.push((key.to_string(), new));
            }
        }
        let mut moved = Vec::new();
        for (key, new) in moves {
            if let Some(item) = state.remove(&key) {
                if let Some((g, h)) = new {
                    moved.push((trust::key(&file, event, g, h), item));
                }
            }
        }
        for (key, item) in moved {
            state.insert(&key, item);
        }
    }
}

fn implicit_table() -> Table {
    let mut table = Table::new();
    table.set_implicit(true);
    table
}

/// For `doctor`: the state of bgjobs' Codex hooks in `scope`. `None` when
/// none are installed there; else whether they are current, run this
/// binary and are trusted, in words.
pub(crate) fn check(
    workspace: Option<PathBuf>,
    scope: CodexScope,
) -> Option<Result<String, String>> {
    let files = match Files::of(workspace, scope) {
        Ok(files) => files,
        Err(f) => return Some(Err(f.message)),
    };
    let edit = match Edit::read(&files) {
        Ok(edit) => edit,
        Err(f) => return Some(Err(f.message)),
    };
    let events = edit.hooks["hooks"].as_object()?;
    let installed = events
        .values()
        .flat_map(|g| g.as_array().into_iter().flatten())
        .any(|g| {
            g["hooks"]
                .as_array()
                .is_some_and(|hs| hs.iter().any(is_ours))
        });
    if !installed {
        return None;
    }
    let command = match hook_command() {
        Ok(command) => command,
        Err(f) => return Some(Err(f.message)),
    };
    let state = table_at(&edit.config, &["hooks", "state"]);
    let mut problems = Vec::new();
    for &(event, timeout) in EVENTS {
        let handler = our_handler(timeout, &command);
        let wanted = json!({ "hooks": [handler.clone()] });
        let Some(g) = events
            .get(event)
            .and_then(Value::as_array)
            .and_then(|groups| groups.iter().position(|g| *g == wanted))
        else {
            problems.push(format!("{event} missing or not running this binary"));
            continue;
        };
        let key = trust::key(&files.key_file, event, g, 0);
        let trusted = state
            .and_then(|s| s.get(&key))
            .and_then(|e| e.get("trusted_hash"))
            .and_then(Item::as_str);
        if trusted != Some(trust::hash(event, None, &handler).as_str()) {
            problems.push(format!("{event} not trusted"));
        }
    }
    Some(if problems.is_empty() {
        Ok(format!(
            "{}: current and trusted, running {command}",
            files.hooks.display()
        ))
    } else {
        Err(format!(
            "{}: {}: run `bgjobs install codex{}` again",
            files.hooks.display(),
            problems.join(", "),
            if scope == CodexScope::Project {
                " --scope project"
            } else {
                ""
            }
        ))
    })
}
