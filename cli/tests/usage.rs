//! Usage errors of the binary: one line on stderr, exit 2, nothing written.
//! (Also makes `cargo test --workspace` build `target/<profile>/bgjobs`, which
//! the end-to-end tests in `tests/` drive.)

#![allow(clippy::unwrap_used)] // test code: a panic is the test failing

use std::process::Command;

fn bgjobs(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bgjobs"))
        .args(args)
        .env("BGJOBS_HOME", home)
        .env_remove("BGJOBS_WORKSPACE")
        .env_remove("BGJOBS_SESSION_ID")
        .env_remove("CLAUDE_CODE_SESSION_ID")
        .output()
        .expect("run bgjobs")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bgjobs-usage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn run_without_a_command_is_a_usage_error() {
    let home = scratch("nocmd");
    let out = bgjobs(&home, &["run", "-b"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no command"), "{err}");
    assert!(!home.exists(), "nothing may be written on a usage error");
}

#[test]
fn bad_duration_names_the_option() {
    let home = scratch("dur");
    let out = bgjobs(&home, &["run", "--timeout", "soon", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout"));
    assert!(!home.exists());
}

#[test]
fn state_root_that_is_a_file_is_named() {
    let home = scratch("file");
    std::fs::write(&home, "not a directory").unwrap();
    let out = bgjobs(&home, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&*home.to_string_lossy()) && err.contains("not a directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&home).unwrap(), "not a directory");
    std::fs::remove_file(&home).unwrap();
}

#[test]
fn unknown_job_is_exit_2() {
    let home = scratch("unknown");
    for args in [
        &["show", "42"][..],
        &["wait", "42"],
        &["cancel", "42"],
        &["logs", "42"],
    ] {
        let out = bgjobs(&home, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no job 42"),
            "{args:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn unknown_config_key_is_named_and_nothing_runs() {
    let home = scratch("config");
    let config =
        std::env::temp_dir().join(format!("bgjobs-usage-config-{}.toml", std::process::id()));
    std::fs::write(&config, "keep_finished = 10\ndesktop_enabled = false\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bgjobs"))
        .args(["run", "-b", "--", "true"])
        .env("BGJOBS_HOME", &home)
        .env("BGJOBS_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("desktop_enabled"), "{err}");
    assert!(!home.exists(), "nothing may be written with a bad config");
    std::fs::remove_file(&config).unwrap();
}

#[test]
fn every_command_explains_itself() {
    for cmd in [
        "run", "status", "show", "logs", "wait", "cancel", "prune", "notifier", "hook", "broker",
        "install",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bgjobs"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Usage:") && text.lines().count() > 3,
            "{cmd} --help:\n{text}"
        );
    }
}
