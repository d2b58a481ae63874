//! `bgjobs install claude` / `uninstall claude`: merged into a Claude Code
//! settings file (user, project or local scope), idempotent, with a backup;
//! uninstall removes exactly what install added; the hooks installed are the
//! plugin's own `claude-plugin/hooks/hooks.json`.
//!
//! HOME is always a directory of the test: the real user's settings are
//! never touched.

use std::path::{Path, PathBuf};
use std::process::Output;

use bgjobs_tests::codex;
use bgjobs_tests::*;

// ----- private helpers --------------------------------------------------------

/// `bgjobs ARGS` with HOME pointing into the test and this bgjobs on PATH.
fn run(env: &TestEnv, args: &[&str]) -> Output {
    let mut cmd = env.bgjobs(args);
    env.with_user_home(&mut cmd).env("PATH", path_with_bgjobs());
    output(cmd)
}

fn run_ok(env: &TestEnv, args: &[&str]) -> String {
    let out = run(env, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "bgjobs {args:?}: {}",
        stderr(&out)
    );
    stdout(&out)
}

fn user_settings(env: &TestEnv) -> PathBuf {
    env.user_home().join(".claude").join("settings.json")
}

fn backup_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bgjobs-backup");
    PathBuf::from(name)
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_json(&text)
}

/// The plugin's hooks file, parsed.
fn plugin_hooks() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("claude-plugin")
        .join("hooks")
        .join("hooks.json");
    read_json(&path)
}

/// Every bgjobs hook entry of a settings document, per event.
fn bgjobs_entries(settings: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    if let Some(hooks) = settings["hooks"].as_object() {
        for (event, groups) in hooks {
            for group in groups.as_array().into_iter().flatten() {
                for hook in group["hooks"].as_array().into_iter().flatten() {
                    let command = hook["command"].as_str().unwrap_or_default();
                    let this =
                        Path::new(command).canonicalize().ok() == bgjobs_bin().canonicalize().ok();
                    if command == "bgjobs" || this {
                        found.push((event.clone(), hook.clone()));
                    }
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// A settings file with settings and hooks of its own, formatted by hand.
const EXISTING: &str = r#"{
    "model": "opus",
    "permissions": { "allow": ["Bash(cargo test:*)"], "deny": [] },
    "env": { "RUST_LOG": "info" },
    "hooks": {
        "Stop": [
            { "hooks": [ { "type": "command", "command": "notify-send 'Claude is done'" } ] }
        ],
        "PreToolUse": [
            { "matcher": "Bash", "hooks": [ { "type": "command", "command": "/usr/local/bin/guard", "timeout": 5 } ] }
        ],
        "SessionStart": [
            { "matcher": "startup", "hooks": [ { "type": "command", "command": "echo hello" } ] }
        ]
    },
    "statusLine": { "type": "command", "command": "~/.claude/statusline.sh" }
}
"#;

// ----- tests ------------------------------------------------------------------

/// Into an absent user settings file: the hooks are exactly the plugin's;
/// a second install changes nothing.
#[test]
fn install_into_empty_user_settings_matches_the_plugin_and_is_idempotent() {
    let env = TestEnv::new();
    let path = user_settings(&env);
    assert!(!path.exists());

    run_ok(&env, &["install", "claude", "--scope", "user"]);
    let once = std::fs::read(&path).expect("settings.json written");
    let settings = read_json(&path);
    assert_eq!(
        settings["hooks"],
        plugin_hooks()["hooks"],
        "installed hooks differ from claude-plugin/hooks/hooks.json"
    );
    assert_eq!(settings, plugin_hooks(), "nothing but the hooks was added");

    run_ok(&env, &["install", "claude", "--scope", "user"]);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        once,
        "a second install changed the file"
    );
    // Installing wrote nothing into the workspace.
    assert!(!env.ws.join(".claude").exists());

    run_ok(&env, &["uninstall", "claude", "--scope", "user"]);
    let after = read_json(&path);
    assert!(bgjobs_entries(&after).is_empty(), "{after}");
    assert!(after.get("hooks").is_none(), "empty hooks left: {after}");
    // Uninstalling again is a no-op.
    let before = std::fs::read(&path).unwrap();
    run_ok(&env, &["uninstall", "claude", "--scope", "user"]);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Into a settings file with settings and hooks of its own: those are kept,
/// a backup of the original is made, a second install changes nothing, and
/// uninstall gives back the original.
#[test]
fn install_merges_with_a_backup_and_uninstall_restores_the_original() {
    let env = TestEnv::new();
    let path = user_settings(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, EXISTING).unwrap();
    let original = parse_json(EXISTING);

    run_ok(&env, &["install", "claude", "--scope", "user"]);
    let backup = backup_of(&path);
    assert_eq!(
        std::fs::read_to_string(&backup).expect("a backup beside the settings"),
        EXISTING,
        "the backup holds the original bytes"
    );
    let merged = read_json(&path);
    for key in ["model", "permissions", "env", "statusLine"] {
        assert_eq!(merged[key], original[key], "{key} was changed");
    }
    // Their own hook groups are all still there, first.
    for (event, groups) in original["hooks"].as_object().unwrap() {
        for (i, group) in groups.as_array().unwrap().iter().enumerate() {
            assert_eq!(&merged["hooks"][event][i], group, "{event}[{i}]");
        }
    }
    // And ours are exactly the plugin's, one per event.
    let ours = bgjobs_entries(&merged);
    assert_eq!(ours, bgjobs_entries(&plugin_hooks()), "{merged}");

    let once = std::fs::read(&path).unwrap();
    run_ok(&env, &["install", "claude", "--scope", "user"]);
    assert_eq!(std::fs::read(&path).unwrap(), once, "second install");
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        EXISTING,
        "the second install overwrote the backup"
    );

    run_ok(&env, &["uninstall", "claude", "--scope", "user"]);
    assert_eq!(read_json(&path), original, "uninstall did not restore it");
}

/// Project and local scopes write the workspace's `.claude/settings.json`
/// and `.claude/settings.local.json` (found from a subdirectory too), and
/// leave the user's settings alone.
#[test]
fn project_and_local_scopes_write_the_workspace_settings() {
    let env = TestEnv::new();
    let sub = env.ws.join("src").join("deep");
    std::fs::create_dir_all(&sub).unwrap();
    let project = env.ws.join(".claude").join("settings.json");
    let local = env.ws.join(".claude").join("settings.local.json");

    for (scope, path) in [("project", &project), ("local", &local)] {
        let mut cmd = env.bgjobs_in(&sub, &["install", "claude", "--scope", scope]);
        env.with_user_home(&mut cmd).env("PATH", path_with_bgjobs());
        ok(cmd);
        let settings = read_json(path);
        assert_eq!(settings["hooks"], plugin_hooks()["hooks"], "{scope}");
    }
    assert!(!user_settings(&env).exists(), "user settings touched");

    run_ok(&env, &["uninstall", "claude", "--scope", "project"]);
    assert!(bgjobs_entries(&read_json(&project)).is_empty());
    assert_eq!(
        read_json(&local)["hooks"],
        plugin_hooks()["hooks"],
        "uninstalling the project scope touched the local one"
    );
    run_ok(&env, &["uninstall", "claude", "--scope", "local"]);
    assert!(bgjobs_entries(&read_json(&local)).is_empty());
}

/// A settings file that is not valid JSON is refused, and left as it was.
#[test]
fn install_refuses_a_broken_settings_file_and_changes_nothing() {
    let env = TestEnv::new();
    let path = user_settings(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let broken = "{ \"model\": \"opus\", \n";
    std::fs::write(&path, broken).unwrap();
    for args in [
        ["install", "claude", "--scope", "user"],
        ["uninstall", "claude", "--scope", "user"],
    ] {
        let out = run(&env, &args);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {}", stdout(&out));
        assert!(!stderr(&out).trim().is_empty(), "{args:?}: no message");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken, "{args:?}");
        assert!(!backup_of(&path).exists(), "{args:?}");
    }
}

/// When the bare name `bgjobs` would not run this binary (not on PATH, or
/// another one first), install writes this binary's absolute path and says
/// so; reinstalling with it on PATH puts the bare name back, and uninstall
/// removes either form.
#[test]
fn install_writes_the_absolute_path_when_bgjobs_on_path_is_not_this_binary() {
    let env = TestEnv::new();
    let path = user_settings(&env);
    let exe = bgjobs_bin().canonicalize().unwrap();
    let elsewhere = env.root.join("otherbin");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(&exe, elsewhere.join(exe.file_name().unwrap())).unwrap();
    for (case, search) in [
        ("not on PATH", env.root.join("empty")),
        ("another bgjobs first", elsewhere),
    ] {
        let mut cmd = env.bgjobs(&["install", "claude"]);
        env.with_user_home(&mut cmd).env("PATH", &search);
        let said = ok(cmd);
        assert!(said.contains("the hooks run"), "{case}: {said}");
        let settings = read_json(&path);
        let entries = bgjobs_entries(&settings);
        assert_eq!(entries.len(), 8, "{case}: {settings}");
        for (event, hook) in &entries {
            let command = Path::new(hook["command"].as_str().unwrap());
            assert!(command.is_absolute(), "{case} {event}: {hook}");
            assert_eq!(command.canonicalize().unwrap(), exe, "{case} {event}");
        }
    }
    run_ok(&env, &["install", "claude"]);
    assert_eq!(
        read_json(&path)["hooks"],
        plugin_hooks()["hooks"],
        "bare name again, no copies"
    );
    run_ok(&env, &["uninstall", "claude"]);
    assert!(bgjobs_entries(&read_json(&path)).is_empty());
}

/// `--no-adopt` leaves out the PreToolUse hook (and takes it out again if an
/// earlier install added it); everything else is as usual.
#[test]
fn install_no_adopt_leaves_out_the_pretooluse_hook() {
    let env = TestEnv::new();
    let path = user_settings(&env);
    run_ok(&env, &["install", "claude"]);
    assert!(read_json(&path)["hooks"]["PreToolUse"].is_array());
    run_ok(&env, &["install", "claude", "--no-adopt"]);
    let settings = read_json(&path);
    assert!(settings["hooks"].get("PreToolUse").is_none(), "{settings}");
    let mut expected = plugin_hooks()["hooks"].clone();
    expected.as_object_mut().unwrap().remove("PreToolUse");
    assert_eq!(settings["hooks"], expected);
    let once = std::fs::read(&path).unwrap();
    run_ok(&env, &["install", "claude", "--no-adopt"]);
    assert_eq!(std::fs::read(&path).unwrap(), once, "idempotent");
}

/// The user scope is Claude Code's configuration directory as Claude Code
/// finds it: `CLAUDE_CONFIG_DIR` when set, else `.claude` in the home.
#[test]
fn the_user_scope_follows_claude_config_dir() {
    let env = TestEnv::new();
    let config_dir = env.root.join("claude-config");
    let mut cmd = env.bgjobs(&["install", "claude"]);
    env.with_user_home(&mut cmd)
        .env("CLAUDE_CONFIG_DIR", &config_dir)
        .env("PATH", path_with_bgjobs());
    ok(cmd);
    let settings = read_json(&config_dir.join("settings.json"));
    assert_eq!(settings["hooks"], plugin_hooks()["hooks"]);
    assert!(!user_settings(&env).exists(), "wrote into the home too");
}

// ----- Codex CLI ---------------------------------------------------------------

fn codex_home(env: &TestEnv) -> PathBuf {
    env.user_home().join(".codex")
}

/// The trust entry Codex needs for handler `g`/`h` of `event` in the user's
/// hooks file, as `config.toml` text.
fn trust_entry(env: &TestEnv, event: &str, g: usize, handler: &Value) -> String {
    let (key, hash) = trust_of(env, event, g, handler);
    format!(
        "[hooks.state.{}]\ntrusted_hash = \"{hash}\"\n",
        Value::from(key)
    )
}

/// The trust key and hash Codex needs for that handler.
fn trust_of(env: &TestEnv, event: &str, g: usize, handler: &Value) -> (String, String) {
    // Codex names a home given as CODEX_HOME (as the tests do on Windows)
    // by its canonical path, the default `~/.codex` as it is.
    let home = if cfg!(windows) {
        std::fs::canonicalize(codex_home(env)).expect("the Codex home exists")
    } else {
        codex_home(env)
    };
    let file = home.join("hooks.json");
    let key = codex::trust_key(&file, event, g, 0);
    (key, codex::trust_hash(event, None, handler))
}

/// The `[hooks.state."KEY"] trusted_hash = "HASH"` entries of a
/// `config.toml`, by key (a key may be written as a basic or a literal
/// TOML string).
fn trust_entries(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut entries = std::collections::BTreeMap::new();
    let mut key = None;
    for line in text.lines() {
        if let Some(quoted) = line
            .strip_prefix("[hooks.state.")
            .and_then(|l| l.strip_suffix(']'))
        {
            key = Some(match quoted.strip_prefix('\'') {
                Some(literal) => literal.trim_end_matches('\'').to_string(),
                None => serde_json::from_str::<String>(quoted).expect("a basic string key"),
            });
        } else if let (Some(k), Some(hash)) = (&key, line.strip_prefix("trusted_hash = ")) {
            entries.insert(k.clone(), hash.trim_matches('"').to_string());
            key = None;
        }
    }
    entries
}

#[test]
fn install_codex_trusts_exactly_its_hooks_and_uninstall_keeps_the_users() {
    let env = TestEnv::new();
    let home = codex_home(&env);
    std::fs::create_dir_all(&home).unwrap();
    let mine = json!({"type": "command", "command": "my-start-hook", "timeout": 5});
    let hooks = home.join("hooks.json");
    let config = home.join("config.toml");
    std::fs::write(
        &hooks,
        json!({"hooks": {"SessionStart": [{"hooks": [mine]}]}}).to_string(),
    )
    .unwrap();
    let original = format!(
        "# mine\nmodel = \"m\"\n\n{}",
        trust_entry(&env, "SessionStart", 0, &mine)
    );
    std::fs::write(&config, &original).unwrap();

    let said = run_ok(&env, &["install", "codex"]);
    assert!(said.contains("trusted them in"), "{said}");
    assert!(backup_of(&config).exists() && backup_of(&hooks).exists());
    let installed = read_json(&hooks);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with(&original),
        "the user's config is kept: {text}"
    );
    let events = installed["hooks"].as_object().unwrap();
    assert_eq!(events.len(), 7, "{installed}");
    for (event, groups) in events {
        // Ours comes after the user's own SessionStart group.
        let g = if event == "SessionStart" { 1 } else { 0 };
        let ours = &groups[g]["hooks"][0];
        let command = ours["command"].as_str().unwrap();
        assert!(command.ends_with(" hook --agent codex"), "{ours}");
        assert!(
            command.starts_with('\''),
            "an absolute, quoted path: {command}"
        );
        let (key, hash) = trust_of(&env, event, g, ours);
        assert_eq!(
            trust_entries(&text).get(&key),
            Some(&hash),
            "{event}: {text}"
        );
    }
    let count = trust_entries(&text).len();
    assert_eq!(
        count, 8,
        "the user's entry and one per hook of ours: {text}"
    );
    // Idempotent.
    let again = run_ok(&env, &["install", "codex"]);
    assert!(again.contains("already installed"), "{again}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);

    // The user adds a group after ours, and trusts it.
    let later = json!({"type": "command", "command": "my-later-hook", "timeout": 5});
    let mut edited = installed.clone();
    edited["hooks"]["SessionStart"]
        .as_array_mut()
        .unwrap()
        .push(json!({"hooks": [later]}));
    std::fs::write(&hooks, edited.to_string()).unwrap();
    let with_later = format!("{text}\n{}", trust_entry(&env, "SessionStart", 2, &later));
    std::fs::write(&config, &with_later).unwrap();

    run_ok(&env, &["uninstall", "codex"]);
    let left = read_json(&hooks);
    assert_eq!(
        left,
        json!({"hooks": {"SessionStart": [{"hooks": [mine]}, {"hooks": [later]}]}}),
        "only ours went"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    // The user's later group moved from place 2 to 1: its trust moved too.
    assert!(text.starts_with(&original), "{text}");
    let expected: std::collections::BTreeMap<String, String> = [
        trust_of(&env, "SessionStart", 0, &mine),
        trust_of(&env, "SessionStart", 1, &later),
    ]
    .into_iter()
    .collect();
    assert_eq!(trust_entries(&text), expected, "{text}");
}

#[test]
fn install_codex_project_scope_writes_the_workspace_hooks_file() {
    let env = TestEnv::new();
    let said = run_ok(&env, &["install", "codex", "--scope", "project"]);
    let hooks = env.ws.join(".codex").join("hooks.json");
    assert!(read_json(&hooks)["hooks"]["Stop"].is_array(), "{said}");
    // Codex reads a project's hooks only when it trusts the project.
    assert!(said.contains("trusted project"), "{said}");
    let config = std::fs::read_to_string(codex_home(&env).join("config.toml")).unwrap();
    assert!(config.contains(":stop:0:0"), "{config}");
    run_ok(&env, &["uninstall", "codex", "--scope", "project"]);
    assert!(!hooks.exists());
    assert!(
        !codex_home(&env).join("config.toml").exists(),
        "it held only ours"
    );
}

#[test]
fn install_codex_refuses_bad_input_and_changes_nothing() {
    let env = TestEnv::new();
    let home = codex_home(&env);
    std::fs::create_dir_all(&home).unwrap();
    let config = home.join("config.toml");
    std::fs::write(&config, "model = \n").unwrap();
    for args in [
        &["install", "codex"][..],
        &["install", "codex", "--scope", "local"],
        &["install", "codex", "--no-adopt"],
    ] {
        let out = run(&env, args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "model = \n");
        assert!(!home.join("hooks.json").exists(), "{args:?}");
    }
}
