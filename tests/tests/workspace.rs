//! Workspace resolution: one workspace however it is reached (subdirectory,
//! symlink, project dir), the nearest repository's top level, and explicit
//! overrides.

use std::path::Path;
use std::process::Command;

use bgjobs_tests::*;

/// `status --all --json` run as `cmd` (a `bgjobs` command without args yet).
fn status_via(mut cmd: Command) -> Value {
    cmd.args(["status", "--all", "--json"]);
    parse_json(&ok(cmd))
}

fn workspace_of(status: &Value) -> &str {
    status["workspace"].as_str().expect("workspace field")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn subdirectories_resolve_to_the_enclosing_repository() {
    let env = TestEnv::new();
    let sub = env.ws.join("a").join("b");
    std::fs::create_dir_all(&sub).unwrap();

    let helper = env.helper();
    let id = parse_id(&ok(
        env.bgjobs_in(&sub, &["run", "-b", "--", &helper, "exit", "0"])
    ));
    env.wait_for_status(id, &["succeeded"]);
    let job = env.job(id);
    assert!(
        same_path(&job["cwd"], &sub),
        "runs where it was started: {job}"
    );

    for dir in [env.ws.clone(), env.ws.join("a"), sub.clone()] {
        let status = status_via(env.bgjobs_in(&dir, &[] as &[&str]));
        assert_eq!(
            workspace_of(&status),
            path_str(&env.ws),
            "from {}",
            dir.display()
        );
        assert_eq!(ids_of(&status), vec![id], "from {}", dir.display());
    }
    assert_eq!(env.workspace_dirs().len(), 1, "one store for the workspace");
    let meta =
        parse_json(&std::fs::read_to_string(env.store_dir().join("workspace.json")).unwrap());
    assert_eq!(meta["path"], path_str(&env.ws));
}

#[cfg(unix)]
#[test]
fn symlinks_resolve_to_the_same_canonical_workspace() {
    use std::os::unix::fs::symlink;

    let env = TestEnv::new();
    let sub = env.ws.join("a").join("b");
    std::fs::create_dir_all(&sub).unwrap();
    let link_ws = env.root.join("link-to-ws");
    let link_a = env.root.join("link-to-a");
    symlink(&env.ws, &link_ws).unwrap();
    symlink(env.ws.join("a"), &link_a).unwrap();

    // A job started through one link is seen from everywhere else.
    let helper = env.helper();
    let id = parse_id(&ok(
        env.bgjobs_in(&link_a, &["run", "-b", "--", &helper, "exit", "0"])
    ));
    env.wait_for_status(id, &["succeeded"]);

    let mut via: Vec<(String, Command)> = Vec::new();
    for dir in [&link_ws, &link_a, &link_ws.join("a").join("b"), &sub] {
        via.push((
            format!("cwd {}", dir.display()),
            env.bgjobs_in(dir, &[] as &[&str]),
        ));
    }
    // Symlinked paths given explicitly, where no chdir resolves them first.
    let mut cmd = env.bgjobs_in(&env.root, &[] as &[&str]);
    cmd.arg("--workspace").arg(&link_ws);
    via.push(("--workspace link".into(), cmd));
    let mut cmd = env.bgjobs_in(&env.root, &[] as &[&str]);
    cmd.env("BGJOBS_WORKSPACE", &link_ws);
    via.push(("BGJOBS_WORKSPACE link".into(), cmd));
    let mut cmd = env.bgjobs_in(&env.root, &[] as &[&str]);
    cmd.env("CLAUDE_PROJECT_DIR", link_a.join("b"));
    via.push(("CLAUDE_PROJECT_DIR link/b".into(), cmd));

    for (how, cmd) in via {
        let status = status_via(cmd);
        assert_eq!(workspace_of(&status), path_str(&env.ws), "via {how}");
        assert_eq!(ids_of(&status), vec![id], "via {how}");
    }
    assert_eq!(env.workspace_dirs().len(), 1, "one store for the workspace");
}

#[test]
fn nested_repositories_and_worktrees_are_their_own_workspaces() {
    let env = TestEnv::new();
    let nested = env.ws.join("vendor").join("lib");
    std::fs::create_dir_all(nested.join(".git")).unwrap();
    std::fs::create_dir_all(nested.join("src")).unwrap();
    // A git worktree or submodule has a `.git` file, not a directory.
    let worktree = env.ws.join("wt");
    std::fs::create_dir_all(worktree.join("src")).unwrap();
    std::fs::write(
        worktree.join(".git"),
        "gitdir: /elsewhere/.git/worktrees/wt\n",
    )
    .unwrap();

    let outer = env.start_helper(&[], &["exit", "0"]);
    env.wait_for_status(outer, &["succeeded"]);

    let status = status_via(env.bgjobs_in(&nested.join("src"), &[] as &[&str]));
    assert_eq!(workspace_of(&status), path_str(&nested));
    assert_eq!(
        ids_of(&status),
        Vec::<u64>::new(),
        "another workspace's jobs"
    );

    let status = status_via(env.bgjobs_in(&worktree.join("src"), &[] as &[&str]));
    assert_eq!(workspace_of(&status), path_str(&worktree));

    // A directory in no repository at all is its own workspace.
    let plain = env.root.join("plain").join("dir");
    std::fs::create_dir_all(&plain).unwrap();
    if !plain.ancestors().any(|d| d.join(".git").exists()) {
        let status = status_via(env.bgjobs_in(&plain, &[] as &[&str]));
        assert_eq!(workspace_of(&status), path_str(&plain));
    }
}

#[test]
fn explicit_workspace_overrides_resolution() {
    let env = TestEnv::new();
    let other = env.root.join("other");
    let third = env.root.join("third");
    std::fs::create_dir_all(other.join("deep")).unwrap();
    std::fs::create_dir_all(&third).unwrap();

    // BGJOBS_WORKSPACE beats the current directory's repository.
    let mut cmd = env.bgjobs(&[] as &[&str]);
    cmd.env("BGJOBS_WORKSPACE", &other);
    assert_eq!(workspace_of(&status_via(cmd)), path_str(&other));

    // It is used as is: no walking up from a subdirectory of it.
    let mut cmd = env.bgjobs(&[] as &[&str]);
    cmd.env("BGJOBS_WORKSPACE", other.join("deep"));
    assert_eq!(
        workspace_of(&status_via(cmd)),
        path_str(&other.join("deep"))
    );

    // --workspace beats BGJOBS_WORKSPACE, and a relative one is from the cwd.
    let mut cmd = env.bgjobs(&["--workspace", "../third"]);
    cmd.env("BGJOBS_WORKSPACE", &other);
    assert_eq!(workspace_of(&status_via(cmd)), path_str(&third));

    // CLAUDE_PROJECT_DIR: its repository's top level, beaten by the explicit one.
    let mut cmd = env.bgjobs_in(&other, &[] as &[&str]);
    cmd.env("CLAUDE_PROJECT_DIR", env.ws.join(".git"));
    assert_eq!(workspace_of(&status_via(cmd)), path_str(&env.ws));
    let mut cmd = env.bgjobs_in(&other, &[] as &[&str]);
    cmd.env("CLAUDE_PROJECT_DIR", &env.ws)
        .env("BGJOBS_WORKSPACE", &third);
    assert_eq!(workspace_of(&status_via(cmd)), path_str(&third));

    // A background job started with --workspace is recorded there, and its
    // worker (started from elsewhere) finds the same store.
    let helper = env.helper();
    let id = parse_id(&ok(env.bgjobs_in(
        &third,
        &[
            "--workspace",
            path_str(&other),
            "run",
            "-b",
            "--",
            &helper,
            "exit",
            "0",
        ],
    )));
    let mut cmd = env.bgjobs(&["--workspace", path_str(&other), "wait", &id.to_string()]);
    cmd.stdout(std::process::Stdio::null());
    assert!(cmd.status().unwrap().success());
    let status = status_via(env.bgjobs(&["--workspace", path_str(&other)]));
    assert_eq!(find_job(&status, id).unwrap()["status"], "succeeded");
    assert_eq!(
        ids_of(&status_via(env.bgjobs(&[] as &[&str]))),
        Vec::<u64>::new()
    );
}

#[test]
fn missing_workspace_is_an_error_that_writes_nothing() {
    let env = TestEnv::new();
    let gone = env.root.join("does-not-exist");
    let out = env.run(&["--workspace", path_str(&gone), "status"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("does-not-exist"), "{err}");
    assert!(!env.home.exists(), "nothing may be written");
}

// ----- the state root and config, as the worker finds them -----------------

/// `BGJOBS_HOME` given as a relative path means the same directory to the
/// detached worker as to the `run` that started it (the worker runs in
/// another directory): the job runs, and no second state root appears.
#[test]
fn relative_state_root_is_the_same_for_the_worker() {
    let env = TestEnv::new();
    let mut cmd = env.bgjobs(&["run", "-b", "--", &env.helper(), "print", "hi"]);
    cmd.env("BGJOBS_HOME", Path::new("..").join("home"));
    let id = parse_id(&ok(cmd));
    let job = env.wait_for_status(id, &["succeeded", "failed", "lost"]);
    assert_eq!(job["status"], "succeeded", "{job}");
    let stray: Vec<String> = walk(&env.home)
        .iter()
        .map(|p| {
            p.strip_prefix(&env.home)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| p.matches("workspaces").count() > 1)
        .collect();
    assert!(
        stray.is_empty(),
        "a second state root inside the first: {stray:?}"
    );
}

/// Likewise `BGJOBS_CONFIG`: the worker applies the same settings (here the
/// log bound) as the command that started the job.
#[test]
fn relative_config_path_is_the_same_for_the_worker() {
    let env = TestEnv::with_config("log_max_bytes = 4096\n");
    let mut cmd = env.bgjobs(&["run", "-b", "--", &env.helper(), "lines", "2000"]);
    cmd.env("BGJOBS_CONFIG", Path::new("..").join("config.toml"));
    let id = parse_id(&ok(cmd));
    env.wait_for_status(id, &["succeeded"]);
    let len = std::fs::metadata(env.log_file(id)).unwrap().len();
    assert!(
        len <= 4096,
        "the worker ignored log_max_bytes: the log is {len} bytes"
    );
}

#[test]
fn same_directory_name_in_two_places_is_two_workspaces() {
    let env = TestEnv::new();
    let a = env.root.join("x").join("proj");
    let b = env.root.join("y").join("proj");
    for dir in [&a, &b] {
        std::fs::create_dir_all(dir.join(".git")).unwrap();
    }
    let helper = env.helper();
    let ja = parse_id(&ok(
        env.bgjobs_in(&a, &["run", "-b", "--", &helper, "exit", "0"])
    ));
    let jb = parse_id(&ok(
        env.bgjobs_in(&b, &["run", "-b", "--", &helper, "exit", "0"])
    ));
    assert_eq!((ja, jb), (1, 1), "ids are per workspace");
    assert_eq!(env.workspace_dirs().len(), 2);
    let sa = status_via(env.bgjobs_in(&a, &[] as &[&str]));
    let sb = status_via(env.bgjobs_in(&b, &[] as &[&str]));
    assert_eq!(workspace_of(&sa), path_str(&a));
    assert_eq!(workspace_of(&sb), path_str(&b));
    assert_eq!(ids_of(&sa), vec![1]);
    assert_eq!(ids_of(&sb), vec![1]);
}

/// A workspace, a state root and a command argument with spaces and
/// non-ASCII characters: every path and the output come through unchanged
/// (Windows: wide-character APIs and quoting of the worker's command line).
#[test]
fn paths_with_spaces_and_non_ascii_characters_work() {
    let env = TestEnv::new();
    let ws = env.root.join("my wörk späce ✓");
    std::fs::create_dir_all(ws.join(".git")).unwrap();
    let ws = std::fs::canonicalize(&ws).unwrap();
    let home = env.root.join("state hömé ✓");
    let bgjobs = |args: &[&str]| {
        let mut cmd = env.bgjobs_in(&ws, args);
        cmd.env("BGJOBS_HOME", &home);
        cmd
    };
    let text = "héllo wörld \"quoted\" ✓";
    let helper = env.helper();
    let id = parse_id(&ok(bgjobs(&["run", "-b", "--", &helper, "print", text])));
    let out = output(bgjobs(&["wait", &id.to_string()]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let logs = ok(bgjobs(&["logs", &id.to_string()]));
    assert_eq!(logs.trim_end(), text);

    let status = parse_json(&ok(bgjobs(&["status", "--all", "--json"])));
    assert_eq!(workspace_of(&status), path_str(&ws));
    let job = find_job(&status, id).unwrap();
    assert_eq!(job["command"][2], text, "{job}");
    assert!(same_path(&job["cwd"], &ws), "{job}");
    let log_path = job["log_path"].as_str().unwrap();
    assert!(
        Path::new(log_path).starts_with(&home),
        "{log_path} is under {}",
        home.display()
    );
    let _ = output(bgjobs(&["notifier", "stop"]));
}

/// Windows: without `BGJOBS_HOME` the state lives in the local application
/// data directory (`%LOCALAPPDATA%\bgjobs`), not the roaming profile.
#[cfg(windows)]
#[test]
fn the_default_state_root_is_local_app_data() {
    let env = TestEnv::new();
    let local = std::env::var_os("LOCALAPPDATA").expect("LOCALAPPDATA is set");
    let helper = env.helper();
    let mut cmd = env.bgjobs(&["run", "-b", "--json", "--", &helper, "exit", "0"]);
    cmd.env_remove("BGJOBS_HOME");
    let job = parse_json(&ok(cmd));
    let log_path = job["log_path"].as_str().unwrap().to_string();
    let expected = Path::new(&local).join("bgjobs");
    // Leave nothing behind in the real profile's directory.
    let mut wait = env.bgjobs(&["wait", &job["id"].to_string()]);
    wait.env_remove("BGJOBS_HOME");
    let _ = output(wait);
    for args in [&["prune", "--keep", "0"][..], &["notifier", "stop"]] {
        let mut cmd = env.bgjobs(args);
        cmd.env_remove("BGJOBS_HOME");
        let _ = output(cmd);
    }
    assert!(
        Path::new(&log_path).starts_with(&expected),
        "{log_path} is not under {}",
        expected.display()
    );
}
