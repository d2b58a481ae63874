//! The real Claude Code client, run offline against a scripted fake model.
//!
//! [`FakeModel`] is an HTTP server on 127.0.0.1 that answers the Messages API
//! (`POST /v1/messages`, streamed as server-sent events or as one JSON
//! message; `count_tokens`) and records every request, so a test can read
//! exactly what the model was given. A conversation is bound to a script by
//! a tag `SCRIPT:<name>` in its first user message (the main prompt, or the
//! prompt the model gives a subagent); step `k` of the script answers the
//! request whose history already holds `k` assistant messages. Requests
//! without a tag (titles, summaries) get a short text.
//!
//! [`Claude`] is a throwaway home for the client (onboarding and trust
//! seeded, hooks installed by the real `bgjobs install claude`) and runs
//! `claude -p`. The client binary is `BGJOBS_CLAUDE` (`.ci/claude-test`
//! installs the pinned npm package and sets it); a test that needs it fails
//! when it is missing, never passes without it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::TestEnv;

/// The API key the client is given (any string; the seed approves it).
const API_KEY: &str = "sk-ant-bgjobs-e2e-0123456789abcdefghij";

/// One answer of the scripted model.
#[derive(Clone, Debug)]
pub enum Step {
    /// Call these tools (one assistant message with a `tool_use` block each).
    Tools(Vec<(String, Value)>),
    /// End the turn with this text.
    Text(String),
}

impl Step {
    /// Call one tool.
    pub fn tool(name: &str, input: Value) -> Self {
        Step::Tools(vec![(name.to_string(), input)])
    }

    /// A Bash call in the background.
    pub fn bash_bg(command: &str, description: &str) -> Self {
        Self::tool(
            "Bash",
            json!({"command": command, "description": description, "run_in_background": true}),
        )
    }

    /// A Bash call in the foreground.
    pub fn bash(command: &str) -> Self {
        Self::tool(
            "Bash",
            json!({"command": command, "description": "a command"}),
        )
    }

    /// Start a foreground subagent whose first message is `prompt` (put a
    /// `SCRIPT:` tag in it to script the subagent).
    pub fn foreground_agent(prompt: &str) -> Self {
        Self::tool(
            "Agent",
            json!({"description": "start a long job", "prompt": prompt,
                   "subagent_type": "general-purpose", "run_in_background": false}),
        )
    }

    /// End the turn.
    pub fn text(text: &str) -> Self {
        Step::Text(text.to_string())
    }
}

type Scripts = HashMap<String, Vec<Step>>;

/// The fake model server.
pub struct FakeModel {
    /// Its port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<Value>>>,
    scripts: Arc<Mutex<Scripts>>,
}

impl FakeModel {
    /// Start serving, on a thread per connection, for the life of the test.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake model");
        let port = listener.local_addr().expect("local addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let scripts = Arc::new(Mutex::new(Scripts::new()));
        let (r, s) = (requests.clone(), scripts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &r, &s));
            }
        });
        Self {
            port,
            requests,
            scripts,
        }
    }

    /// Add (or replace) script `name`.
    pub fn script(&self, name: &str, steps: Vec<Step>) {
        self.scripts.lock().unwrap().insert(name.to_string(), steps);
    }

    /// Every scripted `/v1/messages` request so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests of script `name`.
    pub fn requests_of(&self, name: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| script_of(r).as_deref() == Some(name))
            .collect()
    }

    /// The messages of the last request of script `name`, as one JSON
    /// text: the conversation as the model last saw it (without the tools
    /// and the system prompt).
    pub fn last_view(&self, name: &str) -> String {
        self.requests_of(name)
            .last()
            .map(|r| r["messages"].to_string())
            .unwrap_or_default()
    }
}

/// Answer requests on one connection until the client closes it.
fn serve(stream: TcpStream, requests: &Mutex<Vec<Value>>, scripts: &Mutex<Scripts>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = path.split('?').next().unwrap_or_default();
        let (status, kind, reply) = if path.ends_with("/count_tokens") {
            (
                200,
                "application/json",
                json!({"input_tokens": 100}).to_string(),
            )
        } else if path.ends_with("/v1/messages") {
            let step = plan(&body, scripts);
            if script_of(&body).is_some() {
                requests.lock().unwrap().push(body.clone());
            }
            if body["stream"] == true {
                (200, "text/event-stream", sse(&body, &step))
            } else {
                (200, "application/json", message(&body, &step).to_string())
            }
        } else {
            let error = json!({"type": "error", "error": {"type": "not_found_error", "message": "not here"}});
            (404, "application/json", error.to_string())
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(reply.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

/// Text of a message's content: strings, text blocks and tool results.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b["type"].as_str() {
                Some("text") => b["text"].as_str().unwrap_or_default().to_string(),
                Some("tool_result") => text_of(&b["content"]),
                _ => String::new(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The script tag of a request's first user message.
fn script_of(body: &Value) -> Option<String> {
    let first = body["messages"]
        .as_array()?
        .iter()
        .find(|m| m["role"] == "user")?;
    let text = text_of(&first["content"]);
    let at = text.find("SCRIPT:")? + "SCRIPT:".len();
    let name: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect();
    Some(name)
}

/// The step that answers `body`, placeholders filled: `{{bg}}` is the last
/// background task id seen in the tool results so far.
fn plan(body: &Value, scripts: &Mutex<Scripts>) -> Step {
    let Some(name) = script_of(body) else {
        return Step::text("bgjobs test session");
    };
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let k = messages.iter().filter(|m| m["role"] == "assistant").count();
    let step = scripts
        .lock()
        .unwrap()
        .get(&name)
        .and_then(|steps| steps.get(k).cloned())
        .unwrap_or_else(|| Step::text("done"));
    let seen: String = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .collect();
    let bg = seen
        .rmatch_indices("with ID: ")
        .next()
        .map(|(at, _)| {
            seen[at + 9..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
                .collect::<String>()
        })
        .unwrap_or_default();
    match step {
        Step::Tools(calls) => Step::Tools(
            calls
                .into_iter()
                .map(|(n, input)| {
                    let filled = input.to_string().replace("{{bg}}", &bg);
                    (n, serde_json::from_str(&filled).expect("filled input"))
                })
                .collect(),
        ),
        text => text,
    }
}

/// The content blocks and stop reason of a step.
fn blocks(step: &Step) -> (Vec<Value>, &'static str) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    match step {
        Step::Text(t) => (vec![json!({"type": "text", "text": t})], "end_turn"),
        Step::Tools(calls) => (
            calls
                .iter()
                .map(|(name, input)| {
                    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    json!({"type": "tool_use", "id": format!("toolu_e2e{n:08}"), "name": name, "input": input})
                })
                .collect(),
            "tool_use",
        ),
    }
}

fn usage() -> Value {
    json!({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
}

/// A fresh message id: the client merges messages that share one.
fn message_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("msg_e2e{n:08}")
}

/// A whole (non-streamed) message.
fn message(body: &Value, step: &Step) -> Value {
    let (content, stop) = blocks(step);
    json!({"id": message_id(), "type": "message", "role": "assistant", "model": body["model"],
           "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage()})
}

/// A message as server-sent events.
fn sse(body: &Value, step: &Step) -> String {
    let (content, stop) = blocks(step);
    let mut out = String::new();
    let mut ev =
        |name: &str, data: Value| out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": message_id(), "type": "message", "role": "assistant",
               "model": body["model"], "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage()}}),
    );
    for (i, block) in content.iter().enumerate() {
        if block["type"] == "text" {
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
            );
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": block["text"]}}),
            );
        } else {
            ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
            );
            ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i,
                "delta": {"type": "input_json_delta", "partial_json": block["input"].to_string()}}),
            );
        }
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": i}),
        );
    }
    ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 5}}),
    );
    ev("message_stop", json!({"type": "message_stop"}));
    out
}

/// The Claude Code binary under test: `BGJOBS_CLAUDE`.
pub fn claude_bin() -> PathBuf {
    crate::client_bin("BGJOBS_CLAUDE", "the Claude Code", ".ci/claude-test")
}

/// A throwaway home for the real client, with bgjobs' hooks installed.
pub struct Claude<'a> {
    /// The test's bgjobs environment (state root, workspace).
    pub env: &'a TestEnv,
    /// The fake model it talks to.
    pub model: FakeModel,
    /// `HOME` of the client.
    pub home: PathBuf,
    /// The client's debug log of the last run.
    pub debug_file: PathBuf,
}

impl<'a> Claude<'a> {
    /// Seed a home (onboarding done, key approved, workspace trusted) and
    /// install bgjobs' hooks into it with `install_args` (`bgjobs install
    /// claude …`, run as a user would).
    pub fn new(env: &'a TestEnv, install_args: &[&str]) -> Self {
        let home = env.root.join("claude-home");
        std::fs::create_dir_all(home.join(".claude")).expect("create the client's home");
        let key_tail = &API_KEY[API_KEY.len() - 20..];
        let seed = json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
            "projects": {env.ws.to_string_lossy(): {"hasTrustDialogAccepted": true}},
        });
        std::fs::write(home.join(".claude.json"), seed.to_string()).expect("write the seed");
        let mut args = vec!["install", "claude"];
        args.extend_from_slice(install_args);
        let mut install = env.bgjobs(&args);
        install.env("HOME", &home);
        crate::ok(install);
        Self {
            env,
            model: FakeModel::start(),
            debug_file: env.root.join("claude-debug.log"),
            home,
        }
    }

    /// The installed settings.
    pub fn settings(&self) -> Value {
        let text = std::fs::read_to_string(self.home.join(".claude").join("settings.json"))
            .expect("read settings.json");
        serde_json::from_str(&text).expect("settings are JSON")
    }

    /// `claude -p PROMPT ARGS…` in the workspace, ready to spawn, with the
    /// tools the tests use allowed.
    pub fn print_command(&self, prompt: &str, args: &[&str]) -> Command {
        self.print_command_allowing(prompt, "Bash,Agent,TaskStop,ToolSearch,TaskOutput", args)
    }

    /// `claude -p PROMPT ARGS…` with only `tools` allowed (the permission
    /// mode is `default`: anything else needs an approval nobody gives).
    pub fn print_command_allowing(&self, prompt: &str, tools: &str, args: &[&str]) -> Command {
        let mut cmd = self.client_command(&["-p", prompt]);
        cmd.args([
            "--permission-mode",
            "default",
            "--allowedTools",
            tools,
            "--debug-file",
        ])
        .arg(&self.debug_file)
        .args(args);
        cmd
    }

    /// `claude ARGS…` in the workspace, with the client's offline
    /// environment, ready to spawn.
    pub fn client_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(claude_bin());
        cmd.args(args)
            .current_dir(&self.env.ws)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if ["CLAUDE", "ANTHROPIC", "BGJOBS"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                cmd.env_remove(&name);
            }
        }
        cmd.env("HOME", &self.home)
            .env(
                "ANTHROPIC_BASE_URL",
                format!("http://127.0.0.1:{}", self.model.port),
            )
            .env("ANTHROPIC_API_KEY", API_KEY)
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY", "1")
            .env("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1")
            .env("PATH", path_with_bgjobs())
            .env("BGJOBS_HOME", &self.env.home)
            .env("BGJOBS_CONFIG", &self.env.config);
        cmd
    }

    /// Run `claude -p PROMPT ARGS…` to its end (bounded by `limit`).
    #[track_caller]
    pub fn print(&self, prompt: &str, args: &[&str], limit: Duration) -> Output {
        let child = self
            .print_command(prompt, args)
            .spawn()
            .expect("start claude");
        wait_output(child, limit)
    }
}

pub use crate::path_with_bgjobs;

/// Wait for the client to exit within `limit` (see [`crate::proc::wait_output`]).
#[track_caller]
pub fn wait_output(child: Child, limit: Duration) -> Output {
    crate::proc::wait_output(child, limit, "claude")
}
