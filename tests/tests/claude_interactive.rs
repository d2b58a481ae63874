#![cfg(unix)]

use bgjobs_tests::{claude, json, poll, proc, wait_until, TestEnv, Value, DEADLINE};
#[path = "../src/claude_tmux.rs"]
mod claude_tmux;

use claude::{Claude, Step};
use claude_tmux::Tui;
use std::time::Duration;

#[test]
#[ignore = "x"]
fn explore() {
    let env = TestEnv::new();
    let claude = Claude::new(&env, &[]);
    let helper = bgjobs_tests::helper_bin().to_string_lossy().into_owned();
    claude.model.script(
        "main",
        vec![
            Step::bash_bg(&format!("{helper} sleep 300"), "job to stop"),
            Step::text("started it"),
        ],
    );
    let tui = Tui::start(&claude, |_| {});
    let dump = |n: &str| std::fs::write(format!("/tmp/explore/{n}.txt"), tui.screen()).unwrap();
    dump("0-start");
    tui.type_line("SCRIPT:main start a job");
    tui.wait_screen("started", DEADLINE, |s| s.contains("started it"));
    std::thread::sleep(Duration::from_secs(1));
    dump("1-started");
    tui.type_line("/tasks");
    std::thread::sleep(Duration::from_secs(2));
    dump("2-tasks");
    tui.keys(&["Enter"]);
    std::thread::sleep(Duration::from_secs(2));
    dump("3-enter");
    tui.keys(&["x"]);
    std::thread::sleep(Duration::from_secs(3));
    dump("4-x");
    std::fs::write("/tmp/explore/status.json", env.status_json().to_string()).unwrap();
    std::fs::write("/tmp/explore/debug.log", tui.debug_log()).unwrap();
    let _ = (
        json!(1),
        poll(Duration::ZERO, || Some(())),
        proc::pid_alive(1),
        DEADLINE,
        Value::Null,
    );
}
