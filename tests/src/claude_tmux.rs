//! The real Claude Code client run interactively, in a private tmux server.
//!
//! [`Tui::start`] starts `claude` (no `-p`) in a detached tmux session on a
//! socket of the test's own (under the test's root), with exactly the
//! offline environment of [`Claude::client_command`], and waits until the
//! client's SessionStart hooks have run and its prompt box is on the screen.
//! A test then types into it ([`Tui::type_line`], [`Tui::keys`]) and reads
//! the screen ([`Tui::screen`], [`Tui::wait_screen`]) like a user would; what
//! reaches the model it reads from the fake model, what happened to the jobs
//! from the store.
//!
//! Nothing here needs a terminal of the test's own: tmux gives the client its
//! terminal. Every step is bounded by a timeout, and only what the test
//! started is ended: dropping the [`Tui`] kills its tmux server (and the
//! client, if it outlived it), nothing else.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bgjobs_store::ProcessIdentity;

use crate::claude::Claude;
use crate::{poll, proc, wait_until, DEADLINE};

/// The tools the client may use without asking (as in print mode).
const ALLOWED_TOOLS: &str = "Bash,Agent,TaskStop,ToolSearch,TaskOutput";
/// The tmux session (and window) name.
const SESSION: &str = "main";
/// How long one tmux command may take.
const TMUX_LIMIT: Duration = Duration::from_secs(10);
/// How long the typed text may take to show in the prompt box.
const ECHO_LIMIT: Duration = Duration::from_secs(5);

/// An interactive `claude` in a private tmux server.
pub struct Tui<'a> {
    /// The client's home, environment and fake model.
    pub claude: &'a Claude<'a>,
    /// The client's process (the pane's process: tmux runs `env`, which
    /// execs `claude`).
    pub pid: u32,
    /// The client's debug log (`--debug-file`).
    pub debug_file: PathBuf,
    /// The private tmux server's socket.
    socket: PathBuf,
    /// The client and the tmux server as started (pid and start time), so
    /// that the drop ends these processes and never a later one that got
    /// the same pid.
    started: Vec<ProcessIdentity>,
}

impl<'a> Tui<'a> {
    /// Start `claude --permission-mode default --allowedTools … --debug-file
    /// F` interactively in the workspace; `adjust` may change the client's
    /// command first (add variables, say). Returns once the client has run
    /// its SessionStart hooks and shows its prompt box.
    #[track_caller]
    pub fn start(claude: &'a Claude<'a>, adjust: impl FnOnce(&mut Command)) -> Self {
        let root = &claude.env.root;
        let debug_file = root.join("claude-tui-debug.log");
        let socket = root.join("tmux.sock");
        let conf = root.join("tmux.conf");
        // The pane stays when the client dies, so its last screen can be
        // read; no user or system configuration is loaded.
        std::fs::write(
            &conf,
            "set -g remain-on-exit on\nset -g focus-events on\nset -g history-limit 5000\n",
        )
        .expect("write tmux.conf");

        let mut cmd = claude.client_command(&[]);
        cmd.args([
            "--permission-mode",
            "default",
            "--allowedTools",
            ALLOWED_TOOLS,
        ])
        .arg("--debug-file")
        .arg(&debug_file);
        adjust(&mut cmd);

        // The client's environment: the test's own, changed as the command
        // says. tmux is given exactly this (a new server copies its global
        // environment from the client that starts it), and the pane runs
        // `env` with the command's own changes again, so the client gets
        // them however tmux is configured.
        let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        // (`env` takes its `-u` options before any assignment.)
        let mut pane: Vec<OsString> = vec!["/usr/bin/env".into()];
        let mut sets = Vec::new();
        for (name, value) in cmd.get_envs() {
            match value {
                Some(value) => {
                    vars.insert(name.to_owned(), value.to_owned());
                    sets.push(assignment(name, value));
                }
                None => {
                    vars.remove(name);
                    pane.extend(["-u".into(), name.to_owned()]);
                }
            }
        }
        pane.extend(sets);
        for name in ["TMUX", "TMUX_PANE"] {
            vars.remove(OsStr::new(name));
        }
        pane.push(cmd.get_program().to_owned());
        pane.extend(cmd.get_args().map(OsStr::to_owned));
        let cwd = cmd
            .get_current_dir()
            .unwrap_or(&claude.env.ws)
            .to_path_buf();

        let mut tui = Self {
            claude,
            pid: 0,
            debug_file,
            socket,
            started: Vec::new(),
        };
        let mut new = tui.tmux_command();
        new.env_clear()
            .envs(&vars)
            .arg("-f")
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-s",
                SESSION,
                "-x",
                "200",
                "-y",
                "50",
                "-c",
            ])
            .arg(&cwd)
            .arg("--")
            .args(&pane);
        let out = run_bounded(new, TMUX_LIMIT);
        assert!(out.status.success(), "tmux new-session failed: {out:?}");
        let server = tui.display("#{pid}").parse().ok();
        tui.pid = tui
            .display("#{pane_pid}")
            .parse()
            .expect("the pane's process id");
        tui.started = [Some(tui.pid), server]
            .into_iter()
            .flatten()
            .filter_map(ProcessIdentity::of)
            .collect();

        tui.wait_for_hook("SessionStart");
        tui.wait_screen("the prompt box", DEADLINE, |s| prompt_line(s).is_some());
        tui
    }

    /// Wait until the debug log says a hook of `event` finished (each
    /// configured hook command logs `Hooks: EVENT:… finished`).
    #[track_caller]
    pub fn wait_for_hook(&self, event: &str) {
        let what = format!(
            "the client's {event} hooks (in {})",
            self.debug_file.display()
        );
        self.wait_for(&what, DEADLINE, || {
            let log = std::fs::read_to_string(&self.debug_file).unwrap_or_default();
            log.lines()
                .any(|l| l.contains(&format!("Hooks: {event}")) && l.contains("finished"))
                .then_some(())
        });
    }

    /// The visible screen, as text.
    #[track_caller]
    pub fn screen(&self) -> String {
        let mut cmd = self.tmux_command();
        cmd.args(["capture-pane", "-p", "-t", SESSION]);
        let out = run_bounded(cmd, TMUX_LIMIT);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen, or a note why there is none; never panics.
    fn screen_quietly(&self) -> String {
        let mut cmd = self.tmux_command();
        cmd.args(["capture-pane", "-p", "-t", SESSION]);
        match run_bounded_quietly(cmd, TMUX_LIMIT) {
            Some(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
            Some(out) => format!(
                "(no screen: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            None => "(no screen: tmux did not answer)".to_string(),
        }
    }

    /// Wait until `check` accepts the screen; return that screen. On time
    /// out, fail showing the last screen.
    #[track_caller]
    pub fn wait_screen(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&str) -> bool,
    ) -> String {
        self.wait_for(what, timeout, || {
            let screen = self.screen();
            check(&screen).then_some(screen)
        })
    }

    /// Like [`wait_until`], but a time out shows the client's screen.
    #[track_caller]
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl FnMut() -> Option<T>,
    ) -> T {
        match poll(timeout, check) {
            Some(value) => value,
            None => panic!(
                "gave up after {timeout:?} waiting for {what}; the client's screen:\n{}",
                self.screen_quietly()
            ),
        }
    }

    /// Type `text` into the prompt box and submit it with Enter. The text is
    /// typed again (after clearing the box) when it does not show up: the
    /// client may drop keys while it draws.
    #[track_caller]
    pub fn type_line(&self, text: &str) {
        // Enough of the text to recognise it (the box may wrap the rest).
        let head: String = text.chars().take(40).collect();
        for _ in 0..3 {
            self.keys_literal(text);
            let echoed = poll(ECHO_LIMIT, || {
                let screen = self.screen();
                prompt_line(&screen)
                    .is_some_and(|line| line.contains(&head))
                    .then_some(())
            });
            if echoed.is_some() {
                // Let the box settle (a slash command's menu, say) first.
                std::thread::sleep(Duration::from_millis(300));
                for _ in 0..3 {
                    self.keys(&["Enter"]);
                    // Submitted: the box no longer holds the text.
                    let sent = poll(ECHO_LIMIT, || {
                        let screen = self.screen();
                        (!prompt_line(&screen).is_some_and(|line| line.contains(&head)))
                            .then_some(())
                    });
                    if sent.is_some() {
                        return;
                    }
                }
                panic!(
                    "Enter did not submit {text:?}; the client's screen:\n{}",
                    self.screen_quietly()
                );
            }
            self.clear_prompt();
        }
        panic!(
            "the prompt box never showed {text:?}; the client's screen:\n{}",
            self.screen_quietly()
        );
    }

    /// Empty the prompt box (Ctrl-U deletes to the start of the line, for
    /// each line the text may have).
    fn clear_prompt(&self) {
        for _ in 0..4 {
            self.keys(&["End", "C-u"]);
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Send `text` as typed characters (`send-keys -l`).
    pub fn keys_literal(&self, text: &str) {
        let mut cmd = self.tmux_command();
        cmd.args(["send-keys", "-t", SESSION, "-l", "--", text]);
        let out = run_bounded(cmd, TMUX_LIMIT);
        assert!(out.status.success(), "tmux send-keys failed: {out:?}");
    }

    /// Send tmux key names (`Enter`, `Down`, `Escape`, `x`, …), one by one.
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            let mut cmd = self.tmux_command();
            cmd.args(["send-keys", "-t", SESSION, key]);
            let out = run_bounded(cmd, TMUX_LIMIT);
            assert!(out.status.success(), "tmux send-keys {key} failed: {out:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The client's debug log so far.
    pub fn debug_log(&self) -> String {
        std::fs::read_to_string(&self.debug_file).unwrap_or_default()
    }

    /// `tmux display -p FORMAT` for the pane, retried until tmux answers.
    #[track_caller]
    fn display(&self, format: &str) -> String {
        wait_until(&format!("tmux to tell {format}"), TMUX_LIMIT, || {
            let mut cmd = self.tmux_command();
            cmd.args(["display-message", "-p", "-t", SESSION, format]);
            let out = run_bounded(cmd, TMUX_LIMIT);
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        })
    }

    /// `tmux -S SOCKET`, its output captured, no stdin.
    fn tmux_command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S")
            .arg(&self.socket)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

impl Drop for Tui<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Straight to stderr, shown with the failure.
            let log = self.debug_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- the client's screen ---\n{}\n--- the end of its debug log ({}) ---\n{}",
                self.screen_quietly(),
                self.debug_file.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let mut cmd = self.tmux_command();
        cmd.arg("kill-server");
        let _ = run_bounded_quietly(cmd, TMUX_LIMIT);
        // The client gets SIGHUP from tmux; give it a moment for its
        // SessionEnd hooks, then end what is left of the two (ours).
        let start = Instant::now();
        while self.started.iter().any(ProcessIdentity::is_alive)
            && start.elapsed() < Duration::from_secs(3)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        for process in &self.started {
            if process.is_alive() {
                proc::kill(process.pid);
            }
        }
    }
}

/// The line of the prompt box that holds the cursor's text: the client draws
/// it as `> TEXT` (or `❯ TEXT`) between two rules.
pub fn prompt_line(screen: &str) -> Option<&str> {
    screen.lines().rev().find_map(|line| {
        let t = line.trim_start_matches(['│', ' ']);
        t.strip_prefix('>')
            .or_else(|| t.strip_prefix('❯'))
            .map(|rest| rest.trim_start_matches('\u{a0}'))
    })
}

/// `NAME=VALUE` for `env`.
fn assignment(name: &OsStr, value: &OsStr) -> OsString {
    let mut text = name.to_owned();
    text.push("=");
    text.push(value);
    text
}

/// Run `cmd` to its end within `limit`, else kill it and fail.
#[track_caller]
fn run_bounded(cmd: Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    if which_tmux().is_none() {
        panic!("tmux is not on PATH: the interactive tests drive the client in tmux");
    }
    run_bounded_quietly(cmd, limit)
        .unwrap_or_else(|| panic!("{shown} did not start or finish within {limit:?}"))
}

/// Whether `tmux` is on `PATH`.
fn which_tmux() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("tmux"))
        .find(|p| p.is_file())
}

/// Run `cmd` to its end within `limit`; `None` if it could not be started
/// or had to be killed. Never panics.
fn run_bounded_quietly(mut cmd: Command, limit: Duration) -> Option<Output> {
    let mut child = cmd.spawn().ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
