//! `bgjobs doctor`: one line per check, exit 1 when one fails, `--json`.
//! Desktop notifications are off in these tests (`BGJOBS_DESKTOP=0`): the
//! machine's session bus is not what they are about.

use std::process::Output;

use bgjobs_tests::*;

/// `bgjobs ARGS` with the test's home, desktop notifications off, and
/// `path` as `PATH`.
fn run(env: &TestEnv, args: &[&str], path: &std::ffi::OsStr) -> Output {
    let mut cmd = env.bgjobs(args);
    env.with_user_home(&mut cmd)
        .env("BGJOBS_DESKTOP", "0")
        .env("PATH", path);
    output(cmd)
}

/// The checks of `doctor --json`, by name: (ok, detail).
fn checks(env: &TestEnv, path: &std::ffi::OsStr) -> (Option<i32>, Vec<(String, bool, String)>) {
    let out = run(env, &["doctor", "--json"], path);
    let report = parse_json(&stdout(&out));
    let list = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["ok"].as_bool().unwrap(),
                c["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(report["ok"], list.iter().all(|c| c.1), "{report}");
    (out.status.code(), list)
}

fn check<'a>(list: &'a [(String, bool, String)], name: &str) -> &'a (String, bool, String) {
    list.iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no check {name:?}: {list:?}"))
}

#[test]
fn doctor_fails_until_the_hooks_are_installed_then_passes() {
    let env = TestEnv::new();
    let path = path_with_bgjobs();
    let (code, list) = checks(&env, &path);
    assert_eq!(code, Some(1), "{list:?}");
    let hooks = check(&list, "Claude Code hooks");
    assert!(
        !hooks.1 && hooks.2.contains("bgjobs install claude"),
        "{hooks:?}"
    );
    assert!(check(&list, "config").1);
    assert!(check(&list, "notifier").1, "{list:?}");

    let out = run(&env, &["install", "claude"], &path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (code, list) = checks(&env, &path);
    assert_eq!(code, Some(0), "{list:?}");
    assert!(check(&list, "Claude Code hooks (user)").1, "{list:?}");
    assert!(check(&list, "state root").1, "{list:?}");
    // The human form: one line per check, each ok.
    let out = run(&env, &["doctor"], &path);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), list.len(), "{text}");
    assert!(text.lines().all(|l| l.starts_with("ok ")), "{text}");
}

#[test]
fn doctor_names_hooks_that_run_another_binary_or_are_not_current() {
    let env = TestEnv::new();
    // Installed with this bgjobs on PATH: the hooks run the bare name.
    let path = path_with_bgjobs();
    assert_eq!(
        run(&env, &["install", "claude"], &path).status.code(),
        Some(0)
    );
    // Without it on PATH the bare name runs nothing of ours.
    let empty = env.root.join("empty");
    let (code, list) = checks(&env, empty.as_os_str());
    assert_eq!(code, Some(1));
    let user = check(&list, "Claude Code hooks (user)");
    assert!(!user.1 && user.2.contains("not this bgjobs"), "{user:?}");
    assert!(list.iter().all(|c| c.0 != "Claude Code hooks"), "{list:?}");

    // A hook taken out by hand: not current.
    let settings = env.user_home().join(".claude").join("settings.json");
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    value["hooks"].as_object_mut().unwrap().remove("SessionEnd");
    std::fs::write(&settings, value.to_string()).unwrap();
    let (code, list) = checks(&env, &path);
    assert_eq!(code, Some(1));
    let user = check(&list, "Claude Code hooks (user)");
    assert!(!user.1 && user.2.contains("SessionEnd"), "{user:?}");
}

#[test]
fn doctor_fails_on_a_broken_config() {
    let env = TestEnv::with_config("keep_finished = \"many\"\n");
    let (code, list) = checks(&env, &path_with_bgjobs());
    assert_eq!(code, Some(1));
    let config = check(&list, "config");
    assert!(
        !config.1 && config.2.contains("keep_finished"),
        "{config:?}"
    );
}

#[cfg(unix)]
#[test]
fn doctor_fails_on_a_state_root_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    env.run_ok(&["status"]); // makes the state root
    std::fs::set_permissions(&env.home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, list) = checks(&env, &path_with_bgjobs());
    assert_eq!(code, Some(1));
    let root = check(&list, "state root");
    assert!(!root.1 && root.2.contains("chmod 700"), "{root:?}");
}
