//! A real desktop notification through a real notification server.
//!
//! Unix: exactly one `Notify` call per finished job, also when the notifier
//! is killed and restarted, and one for a job's readiness (`run --ready`). Needs a D-Bus session bus with
//! `org.freedesktop.Notifications` owned (dunst under Xvfb);
//! `.ci/desktop-test` sets that up and runs this.
//!
//! Windows: a toast shown through WinRT. Wine has no WinRT toasts; there the
//! test says it is skipped, and why.

use bgjobs_tests::*;

#[cfg(unix)]
mod dbus {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// Records every `Notify` call on the session bus.
    struct Monitor {
        child: std::process::Child,
        seen: Arc<Mutex<String>>,
    }

    impl Monitor {
        fn start() -> Self {
            let mut child = Command::new("dbus-monitor")
                .args([
                    "--session",
                    "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-monitor (Debian package dbus-bin / dbus)");
            let seen = Arc::new(Mutex::new(String::new()));
            let out = child.stdout.take().unwrap();
            let sink = seen.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let mut seen = sink.lock().unwrap();
                    seen.push_str(&line);
                    seen.push('\n');
                }
            });
            // dbus-monitor announces itself with a NameAcquired/NameLost signal.
            wait_until("dbus-monitor to attach", DEADLINE, || {
                (!seen.lock().unwrap().is_empty()).then_some(())
            });
            Self { child, seen }
        }

        /// How many Notify calls carried `text`.
        fn count(&self, text: &str) -> usize {
            let seen = self.seen.lock().unwrap();
            seen.split("method call")
                .filter(|call| call.contains(text))
                .count()
        }
    }

    impl Drop for Monitor {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    #[ignore = "needs a D-Bus session bus with a notification server (dunst); run by .ci/desktop-test"]
    fn one_desktop_notification_per_job_even_across_a_restart() {
        let env = TestEnv::with_config("coalesce_window = \"200ms\"\n");
        let monitor = Monitor::start();
        let title = format!("bgjobs-desktop-test-{}", std::process::id());
        let id = env.start_helper(&["--title", &title], &["exit", "3"]);
        env.wait_for_status(id, &["failed"]);
        wait_until("the Notify call", DEADLINE, || {
            (monitor.count(&title) >= 1).then_some(())
        });
        let job = env.job(id);
        assert!(job["deliveries"]["desktop_at"].is_string(), "{job}");
        // Kill the notifier and start a new one: its startup sweep must not show
        // the job again.
        let status = parse_json(&env.run_ok(&["notifier", "status", "--json"]));
        let pid = status["pid"].as_u64().unwrap() as u32;
        assert!(proc::kill(pid));
        wait_until("the notifier to die", DEADLINE, || {
            (!proc::pid_alive(pid)).then_some(())
        });
        env.run_ok(&["notifier", "start"]);
        std::thread::sleep(Duration::from_secs(2)); // ten coalescing windows
        let shown = monitor.count(&title);
        println!(
        "Notify calls carrying {title:?}: {shown} (after a SIGKILL and a restart of the notifier)"
    );
        assert_eq!(shown, 1, "exactly one desktop notification for the job");
        let summary = monitor.seen.lock().unwrap().clone();
        assert!(summary.contains("failed (exit 3)"), "{summary}");
    }

    #[test]
    #[ignore = "needs a D-Bus session bus with a notification server (dunst); run by .ci/desktop-test"]
    fn readiness_is_shown_once_and_the_end_after_it() {
        let env = TestEnv::with_config("coalesce_window = \"200ms\"\n");
        let monitor = Monitor::start();
        let title = format!("bgjobs-ready-test-{}", std::process::id());
        let gate = env.root.join("gate");
        let gate_s = gate.to_string_lossy().into_owned();
        let id = env.start_helper(
            &["--title", &title, "--ready", "^listening"],
            &["serve", "0", "listening on 1", &gate_s],
        );
        wait_until("the readiness Notify call", DEADLINE, || {
            (monitor.count(&title) >= 1).then_some(())
        });
        assert!(monitor.seen.lock().unwrap().contains("running (ready)"));
        assert_eq!(env.status_of(id), "running");
        std::fs::write(&gate, "").unwrap();
        env.wait_for_status(id, &["succeeded"]);
        wait_until("the end's Notify call", DEADLINE, || {
            (monitor.count(&title) >= 2).then_some(())
        });
        std::thread::sleep(Duration::from_secs(1)); // five coalescing windows
        assert_eq!(
            monitor.count(&title),
            2,
            "one for readiness, one for the end"
        );
    }
}

/// A toast through WinRT, shown by the same short-lived child the notifier
/// runs for every notification.
#[cfg(windows)]
#[test]
fn a_toast_is_shown_through_winrt() {
    if proc::skip_under_wine(
        "a_toast_is_shown_through_winrt",
        "Wine implements no WinRT toast notifications (Windows.UI.Notifications)",
    ) {
        return;
    }
    let env = TestEnv::new();
    let out = env.run(&[
        "notifier",
        "show-desktop",
        "bgjobs test",
        "a toast from the e2e tests",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
