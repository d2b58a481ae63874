//! The real Codex CLI, run offline against a scripted fake model.
//!
//! [`FakeResponses`] is an HTTP server on 127.0.0.1 that answers the
//! Responses API (`POST /v1/responses`, streamed as server-sent events) and
//! records every request, so a test can read exactly what the model was
//! given: tool outputs, hook context (developer messages), a Stop hook's
//! reason (a user message). Any other path gets a 404, logged
//! ([`FakeResponses::not_found`]). A conversation is bound to a script by a
//! tag `SCRIPT:<name>` in its first user message that holds one (the
//! prompt, or the message the model gives a subagent; Codex puts an
//! `<environment_context>` user message before the prompt); step `k` of the
//! script answers the request whose `input` already holds `k` model outputs
//! (`function_call` items and assistant messages). A request without a tag
//! gets a short text.
//!
//! [`Codex`] is a throwaway `HOME` and `CODEX_HOME` whose `config.toml`
//! points the client at the fake, and runs `codex exec` / `codex exec
//! resume`. Hooks go in [`Codex::hooks_path`]; Codex runs a hook only when
//! `config.toml` trusts it: [`trust_hash`] and [`trust_key`] compute the
//! entries exactly as Codex 0.171 does, [`Codex::hooks_list`] asks the real
//! client (`codex app-server`, `hooks/list`) what it makes of them.
//!
//! The client binary is `BGJOBS_CODEX` (`.ci/codex-test` installs the pinned
//! npm package and points it at the native binary inside); a test that needs
//! it fails when it is missing, never passes without it.
//!
//! Facts the harness relies on (Codex 0.171.0, Linux):
//! - the shell tool is `exec_command` (`{"cmd": ...}`; also `login`,
//!   `yield_time_ms`, `workdir`, ...). Its commands run from a snapshot of a
//!   login shell, so `/etc/profile` may reset `PATH`: call `bgjobs` by its
//!   absolute path there, or pass `"login": false` ([`Step::exec_with`]).
//!   Its process group is SIGKILLed when the call returns; only a process
//!   that left it (`setsid`) survives the call and `codex exec`'s exit.
//! - hooks run as `/bin/bash -c COMMAND` (not a login shell, `$SHELL` not
//!   used), children of the `codex` process, each in a session of its own,
//!   with the client's environment (no `CODEX_*` variable is added).
//! - the session id is printed on stderr (`session id: <uuid>`), and is the
//!   `session_id` of every hook payload and `CODEX_SESSION_ID` of the shell
//!   tool (`CODEX_THREAD_ID` there is the thread: a subagent's own id).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::TestEnv;

/// The API key the client is given (any string: the fake checks nothing).
const API_KEY: &str = "sk-bgjobs-e2e-codex";

/// How long one `codex exec` may take before the test fails (bounds a hang;
/// it asserts no speed).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The pinned client version the suite is written against.
pub const CODEX_VERSION: &str = "0.171.0";

/// A fresh id for responses, items and calls: the client keys items by id.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

// ----- the scripted model ----------------------------------------------------

/// One answer of the scripted model.
#[derive(Clone, Debug)]
pub enum Step {
    /// Call one function tool with these arguments. `namespace` is set for
    /// tools declared inside a `namespace` tool (e.g. `multi_agent_v1` for
    /// `spawn_agent`).
    Call {
        namespace: Option<String>,
        name: String,
        arguments: Value,
    },
    /// End the turn with this assistant text.
    Text(String),
    /// Give this answer only after a pause (the model "thinking"), so that
    /// something can happen between two hooks.
    Later(Duration, Box<Step>),
}

impl Step {
    /// A shell tool call: `exec_command` with `{"cmd": cmd}`.
    pub fn exec(cmd: &str) -> Self {
        Self::exec_with(cmd, json!({}))
    }

    /// `exec_command` with `{"cmd": cmd}` plus the fields of `extra` (e.g.
    /// `{"login": false}`, `{"yield_time_ms": 500}`).
    pub fn exec_with(cmd: &str, extra: Value) -> Self {
        let mut arguments = json!({ "cmd": cmd });
        for (k, v) in extra.as_object().expect("extra arguments are an object") {
            arguments[k] = v.clone();
        }
        Self::call("exec_command", arguments)
    }

    /// Call a top-level function tool.
    pub fn call(name: &str, arguments: Value) -> Self {
        Step::Call {
            namespace: None,
            name: name.to_string(),
            arguments,
        }
    }

    /// Start a subagent whose first message is `message` (put a `SCRIPT:`
    /// tag in it to script the subagent).
    pub fn spawn_agent(message: &str) -> Self {
        Step::Call {
            namespace: Some("multi_agent_v1".to_string()),
            name: "spawn_agent".to_string(),
            arguments: json!({ "message": message }),
        }
    }

    /// Wait for the last subagent started (its id is filled in from the
    /// `spawn_agent` output the model saw).
    pub fn wait_agent() -> Self {
        Step::Call {
            namespace: Some("multi_agent_v1".to_string()),
            name: "wait_agent".to_string(),
            arguments: json!({ "targets": ["{{agent}}"], "timeout_ms": 60000 }),
        }
    }

    /// End the turn.
    pub fn text(text: &str) -> Self {
        Step::Text(text.to_string())
    }

    /// This step, answered after `pause`.
    pub fn later(pause: Duration, step: Step) -> Self {
        Step::Later(pause, Box::new(step))
    }
}

type Scripts = HashMap<String, Vec<Step>>;

/// What the fake received.
#[derive(Default)]
struct Log {
    /// Every `/v1/responses` body, oldest first.
    requests: Vec<Value>,
    /// `METHOD PATH` of every request answered 404.
    not_found: Vec<String>,
}

/// The fake Responses API server.
pub struct FakeResponses {
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: Arc<Mutex<Log>>,
    scripts: Arc<Mutex<Scripts>>,
}

impl FakeResponses {
    /// Start serving, on a thread per connection, for the life of the test.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake model");
        let port = listener.local_addr().expect("local addr").port();
        let log = Arc::new(Mutex::new(Log::default()));
        let scripts = Arc::new(Mutex::new(Scripts::new()));
        let (l, s) = (log.clone(), scripts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (l, s) = (l.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &l, &s));
            }
        });
        Self { port, log, scripts }
    }

    /// The provider's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Add (or replace) script `name`.
    pub fn script(&self, name: &str, steps: Vec<Step>) {
        self.scripts.lock().unwrap().insert(name.to_string(), steps);
    }

    /// Every `/v1/responses` request body so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.log.lock().unwrap().requests.clone()
    }

    /// The requests of script `name` (a subagent's have their own tag).
    pub fn requests_of(&self, name: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| script_of(r).as_deref() == Some(name))
            .collect()
    }

    /// The `input` items of the last request of script `name`: the
    /// conversation as the model last saw it (each request carries the
    /// whole history).
    pub fn last_input(&self, name: &str) -> Vec<Value> {
        self.requests_of(name)
            .last()
            .and_then(|r| r["input"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The last input of script `name` as one JSON text, tools and base
    /// instructions left out.
    pub fn last_view(&self, name: &str) -> String {
        Value::Array(self.last_input(name)).to_string()
    }

    /// How often `needle` occurs in the last input of script `name`: what
    /// the model was told, counted once however many requests repeat it.
    pub fn count_in_last(&self, name: &str, needle: &str) -> usize {
        self.last_input(name)
            .iter()
            .map(|item| item_text(item).matches(needle).count())
            .sum()
    }

    /// How many requests of script `name` hold `needle` in their input.
    pub fn requests_with(&self, name: &str, needle: &str) -> usize {
        self.requests_of(name)
            .iter()
            .filter(|r| r["input"].to_string().contains(needle))
            .count()
    }

    /// The texts of the developer messages in the last input of `name`
    /// (hooks' `additionalContext` arrives as these, after Codex's own).
    pub fn developer_messages(&self, name: &str) -> Vec<String> {
        messages_with_role(&self.last_input(name), "developer")
    }

    /// The texts of the user messages in the last input of `name` (the
    /// prompts, Codex's `<environment_context>`, a Stop hook's reason as
    /// `<hook_prompt ...>REASON</hook_prompt>`, subagent notifications).
    pub fn user_messages(&self, name: &str) -> Vec<String> {
        messages_with_role(&self.last_input(name), "user")
    }

    /// The `output` of every `function_call_output` in the last input of
    /// `name`, in order (for `exec_command` a header — `Process exited with
    /// code N`, ... — then `Output:` and the command's output).
    pub fn tool_outputs(&self, name: &str) -> Vec<String> {
        self.last_input(name)
            .iter()
            .filter(|i| i["type"] == "function_call_output")
            .map(|i| output_text(&i["output"]))
            .collect()
    }

    /// The requests answered 404, as `METHOD PATH`.
    pub fn not_found(&self) -> Vec<String> {
        self.log.lock().unwrap().not_found.clone()
    }
}

/// Texts of the messages with `role` among `items`.
fn messages_with_role(items: &[Value], role: &str) -> Vec<String> {
    items
        .iter()
        .filter(|i| i["type"] == "message" && i["role"] == role)
        .map(|i| text_of(&i["content"]))
        .collect()
}

/// The text of a message's content (input and output text parts).
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A function call output: a string, or content parts.
fn output_text(output: &Value) -> String {
    match output {
        Value::String(s) => s.clone(),
        other => text_of(other),
    }
}

/// The text a model reads in one input item.
fn item_text(item: &Value) -> String {
    match item["type"].as_str() {
        Some("message") => text_of(&item["content"]),
        Some("function_call_output") => output_text(&item["output"]),
        Some("function_call") => item["arguments"].as_str().unwrap_or_default().to_string(),
        _ => item.to_string(),
    }
}

/// The script tag of the first user message that holds one.
fn script_of(body: &Value) -> Option<String> {
    let items = body["input"].as_array()?;
    let text = items
        .iter()
        .filter(|i| i["type"] == "message" && i["role"] == "user")
        .map(|i| text_of(&i["content"]))
        .find(|t| t.contains("SCRIPT:"))?;
    let at = text.find("SCRIPT:")? + "SCRIPT:".len();
    let name: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
        .collect();
    Some(name)
}

/// The step that answers `body`, placeholders filled: `{{agent}}` is the
/// last `agent_id` seen in the tool outputs so far.
fn plan(body: &Value, scripts: &Mutex<Scripts>) -> Step {
    let Some(name) = script_of(body) else {
        return Step::text("bgjobs test session");
    };
    let items = body["input"].as_array().cloned().unwrap_or_default();
    let k = items
        .iter()
        .filter(|i| {
            i["type"] == "function_call" || (i["type"] == "message" && i["role"] == "assistant")
        })
        .count();
    let step = scripts
        .lock()
        .unwrap()
        .get(&name)
        .and_then(|steps| steps.get(k).cloned())
        .unwrap_or_else(|| Step::text("done"));
    let step = match step {
        Step::Later(pause, step) => {
            std::thread::sleep(pause);
            *step
        }
        step => step,
    };
    let agent = items
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .filter_map(|i| serde_json::from_str::<Value>(&output_text(&i["output"])).ok())
        .filter_map(|v| v["agent_id"].as_str().map(str::to_string))
        .next_back()
        .unwrap_or_default();
    match step {
        Step::Call {
            namespace,
            name,
            arguments,
        } => {
            let filled = arguments.to_string().replace("{{agent}}", &agent);
            Step::Call {
                namespace,
                name,
                arguments: serde_json::from_str(&filled).expect("filled arguments"),
            }
        }
        text => text,
    }
}

/// Answer requests on one connection until the client closes it.
fn serve(stream: TcpStream, log: &Mutex<Log>, scripts: &Mutex<Scripts>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let method = words.next().unwrap_or_default().to_string();
        let path = words.next().unwrap_or("/").to_string();
        let (mut length, mut chunked) = (0usize, false);
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
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.to_ascii_lowercase().contains("chunked");
                }
            }
        }
        let body = match read_body(&mut reader, length, chunked) {
            Some(body) => body,
            None => return,
        };
        let path = path.split('?').next().unwrap_or_default().to_string();
        let (status, kind, reply) = if method == "POST" && path.ends_with("/responses") {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let step = plan(&body, scripts);
            log.lock().unwrap().requests.push(body);
            (200, "text/event-stream", sse(&step))
        } else {
            log.lock()
                .unwrap()
                .not_found
                .push(format!("{method} {path}"));
            let error = json!({"error": {"type": "not_found", "message": "not here"}});
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

/// A request body of `length` bytes, or chunked.
fn read_body(reader: &mut impl BufRead, length: usize, chunked: bool) -> Option<Vec<u8>> {
    if !chunked {
        let mut body = vec![0; length];
        return reader.read_exact(&mut body).ok().map(|()| body);
    }
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// One response as server-sent events: created, the item added (and its
/// text streamed), the item done, completed.
fn sse(step: &Step) -> String {
    if let Step::Later(_, step) = step {
        return sse(step); // paused in plan()
    }
    let n = next_id();
    let response_id = format!("resp_e2e{n:08}");
    let (item, added) = match step {
        Step::Text(text) => {
            let id = format!("msg_e2e{n:08}");
            let item = json!({"type": "message", "id": id, "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]});
            let mut added = item.clone();
            added["content"] = json!([]);
            (item, added)
        }
        Step::Call {
            namespace,
            name,
            arguments,
        } => {
            let mut item = json!({"type": "function_call", "id": format!("fc_e2e{n:08}"),
                "call_id": format!("call_e2e{n:08}"), "name": name,
                "arguments": arguments.to_string()});
            if let Some(ns) = namespace {
                item["namespace"] = json!(ns);
            }
            let mut added = item.clone();
            added["arguments"] = json!("");
            (item, added)
        }
        Step::Later(..) => unreachable!("handled above"),
    };
    let mut out = String::new();
    let mut ev = |data: Value| {
        let name = data["type"].as_str().unwrap_or_default().to_string();
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    ev(json!({"type": "response.created", "response": {"id": response_id}}));
    ev(json!({"type": "response.output_item.added", "output_index": 0, "item": added}));
    if let Step::Text(text) = step {
        ev(
            json!({"type": "response.output_text.delta", "item_id": item["id"],
            "output_index": 0, "content_index": 0, "delta": text}),
        );
    }
    ev(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    ev(
        json!({"type": "response.completed", "response": {"id": response_id, "usage": {
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15}}}),
    );
    out
}

// ----- hook trust ------------------------------------------------------------

/// An event name as Codex labels it in trust keys and hashes:
/// `PreToolUse` -> `pre_tool_use`.
pub fn event_label(event: &str) -> String {
    let mut label = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                label.push('_');
            }
            label.push(c.to_ascii_lowercase());
        } else {
            label.push(c);
        }
    }
    label
}

/// Events whose groups' `matcher` Codex ignores (and leaves out of the hash).
const MATCHERLESS: &[&str] = &[
    "PreModelRequest",
    "PostModelRequest",
    "UserPromptSubmit",
    "Stop",
    "Interrupt",
];

/// Events whose timeout Codex clamps to 3 s (default 1 s).
const SHORT: &[&str] = &["SessionEnd", "Interrupt"];

/// The matcher Codex keeps for a group of `event`.
pub fn effective_matcher<'m>(event: &str, matcher: Option<&'m str>) -> Option<&'m str> {
    if MATCHERLESS.contains(&event) {
        None
    } else {
        matcher
    }
}

/// The timeout Codex runs a handler with, in seconds, from its `timeout`
/// field: default 600, at least 1; SessionEnd and Interrupt default 1, at
/// most 3. (`timeoutSec` is not read.)
pub fn effective_timeout(event: &str, timeout: Option<u64>) -> u64 {
    if SHORT.contains(&event) {
        timeout.unwrap_or(1).clamp(1, 3)
    } else {
        timeout.unwrap_or(600).max(1)
    }
}

/// The identity Codex hashes for one command handler (`handler` as written
/// in hooks.json) of a group of `event` with `matcher`, as the compact JSON
/// text with sorted keys:
/// `{"event_name":LABEL,"hooks":[{"async":B,"command":C,"timeout":T,"type":"command"
/// [,"statusMessage":S][,"additionalContextLimit":N]}][,"matcher":M]}`.
pub fn trust_identity(event: &str, matcher: Option<&str>, handler: &Value) -> String {
    let mut hook = json!({
        "type": "command",
        "command": handler["command"].as_str().expect("a command hook has a command"),
        "timeout": effective_timeout(event, handler["timeout"].as_u64()),
        "async": handler["async"].as_bool().unwrap_or(false),
    });
    for key in ["statusMessage", "additionalContextLimit"] {
        if !handler[key].is_null() {
            hook[key] = handler[key].clone();
        }
    }
    let mut identity = json!({ "event_name": event_label(event), "hooks": [hook] });
    if let Some(m) = effective_matcher(event, matcher) {
        identity["matcher"] = json!(m);
    }
    canonical_json(&identity)
}

/// The `trusted_hash` Codex expects for a handler: `sha256:` and the
/// lowercase hex SHA-256 of [`trust_identity`].
pub fn trust_hash(event: &str, matcher: Option<&str>, handler: &Value) -> String {
    format!(
        "sha256:{}",
        hex(&sha256(trust_identity(event, matcher, handler).as_bytes()))
    )
}

/// The `[hooks.state."KEY"]` key of handler `handler` (0-based) in group
/// `group` (0-based, within the event's list) of `event` in `file`: the
/// file's absolute path as Codex sees it (`CODEX_HOME` canonicalized; a
/// default `$HOME/.codex` is taken as written).
pub fn trust_key(file: &Path, event: &str, group: usize, handler: usize) -> String {
    format!(
        "{}:{}:{group}:{handler}",
        file.display(),
        event_label(event)
    )
}

/// `(key, hash)` for every command handler in a hooks document
/// (`{"hooks": {EVENT: [{matcher?, hooks: [...]}]}}`) stored at `file`.
pub fn trust_entries(file: &Path, hooks: &Value) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    let Some(events) = hooks["hooks"].as_object() else {
        return entries;
    };
    for (event, groups) in events {
        for (g, group) in groups.as_array().into_iter().flatten().enumerate() {
            let matcher = group["matcher"].as_str();
            for (h, handler) in group["hooks"].as_array().into_iter().flatten().enumerate() {
                if handler["type"] == "command" {
                    entries.push((
                        trust_key(file, event, g, h),
                        trust_hash(event, matcher, handler),
                    ));
                }
            }
        }
    }
    entries
}

/// TOML tables trusting `entries`, to append to config.toml.
pub fn trust_toml(entries: &[(String, String)]) -> String {
    entries
        .iter()
        .map(|(key, hash)| {
            format!(
                "\n[hooks.state.{}]\ntrusted_hash = \"{hash}\"\n",
                Value::String(key.clone())
            )
        })
        .collect()
}

/// Compact JSON with every object's keys sorted (bytewise), strings escaped
/// as serde_json does (as Codex does).
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        canonical_json(&map[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (FIPS 180-4), std only: the tests add no dependency for one hash.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

// ----- the client ------------------------------------------------------------

/// The Codex binary under test: `BGJOBS_CODEX` (the native binary of the
/// npm package, so a hook's parent is the client itself, not node).
pub fn codex_bin() -> PathBuf {
    crate::client_bin("BGJOBS_CODEX", "the Codex CLI", ".ci/codex-test")
}

/// A throwaway home for the real client, talking to its own fake model.
pub struct Codex<'a> {
    /// The test's bgjobs environment (state root, workspace).
    pub env: &'a TestEnv,
    /// The fake model it talks to.
    pub model: FakeResponses,
    /// `HOME` of the client.
    pub home: PathBuf,
    /// `CODEX_HOME` (`$HOME/.codex`), canonical.
    pub codex_home: PathBuf,
    /// Stderr of the last run, for [`Codex::last_session`].
    last_stderr: Mutex<String>,
}

impl<'a> Codex<'a> {
    /// A home with a `config.toml` pointing at a fresh fake model, and no
    /// hooks.
    pub fn new(env: &'a TestEnv) -> Self {
        let home = env.root.join("codex-home");
        let codex_home = home.join(".codex");
        std::fs::create_dir_all(&codex_home).expect("create the client's home");
        let codex_home = std::fs::canonicalize(&codex_home).expect("canonical CODEX_HOME");
        let codex = Self {
            env,
            model: FakeResponses::start(),
            home,
            codex_home,
            last_stderr: Mutex::new(String::new()),
        };
        std::fs::write(codex.config_path(), codex.base_config()).expect("write config.toml");
        codex
    }

    /// The config the harness starts with: the fake provider, no approvals,
    /// no sandbox, no update check, no analytics (without that `codex exec`
    /// lingers about 5 s at exit offline). Top-level keys come first, so
    /// text appended after it lands in tables.
    pub fn base_config(&self) -> String {
        format!(
            "model = \"gpt-5.1-codex\"\n\
             model_provider = \"fake\"\n\
             approval_policy = \"never\"\n\
             sandbox_mode = \"danger-full-access\"\n\
             check_for_update_on_startup = false\n\
             \n\
             [analytics]\n\
             enabled = false\n\
             \n\
             [model_providers.fake]\n\
             name = \"fake\"\n\
             base_url = \"{}\"\n\
             wire_api = \"responses\"\n\
             env_key = \"FAKE_API_KEY\"\n",
            self.model.base_url()
        )
    }

    /// `$CODEX_HOME/config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.codex_home.join("config.toml")
    }

    /// `$CODEX_HOME/hooks.json` (the user-level hooks file).
    pub fn hooks_path(&self) -> PathBuf {
        self.codex_home.join("hooks.json")
    }

    /// `$CODEX_HOME/sessions` (the transcripts, `YYYY/MM/DD/rollout-*-<id>.jsonl`).
    pub fn sessions_dir(&self) -> PathBuf {
        self.codex_home.join("sessions")
    }

    /// Write `hooks` as hooks.json (no trust given).
    pub fn write_hooks(&self, hooks: &Value) {
        let text = serde_json::to_string_pretty(hooks).unwrap() + "\n";
        std::fs::write(self.hooks_path(), text).expect("write hooks.json");
    }

    /// Append text to config.toml.
    pub fn append_config(&self, text: &str) {
        let mut config = std::fs::read_to_string(self.config_path()).expect("read config.toml");
        config.push_str(text);
        std::fs::write(self.config_path(), config).expect("write config.toml");
    }

    /// Write `hooks` as hooks.json and trust the handlers for which `trust`
    /// says yes (given the event and the handler's command), as a user who
    /// reviewed them would.
    pub fn install_hooks(&self, hooks: &Value, trust: impl Fn(&str, &str) -> bool) {
        self.write_hooks(hooks);
        let entries: Vec<(String, String)> = trust_entries(&self.hooks_path(), hooks)
            .into_iter()
            .filter(|(key, _)| {
                let (event, command) = self.handler_at(hooks, key);
                trust(&event, &command)
            })
            .collect();
        self.append_config(&trust_toml(&entries));
    }

    /// The event and command of the handler a trust key names.
    fn handler_at(&self, hooks: &Value, key: &str) -> (String, String) {
        let rest = key
            .strip_prefix(&format!("{}:", self.hooks_path().display()))
            .expect("a key of hooks.json");
        let parts: Vec<&str> = rest.split(':').collect();
        let (label, g, h) = (parts[0], parts[1], parts[2]);
        let events = hooks["hooks"].as_object().expect("hooks object");
        let event = events
            .keys()
            .find(|e| event_label(e) == label)
            .expect("event of the key");
        let g: usize = g.parse().unwrap();
        let h: usize = h.parse().unwrap();
        let command = hooks["hooks"][event][g]["hooks"][h]["command"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (event.clone(), command)
    }

    /// Run `bgjobs install codex ARGS` as the client's user would (HOME and
    /// CODEX_HOME of this client).
    pub fn install(&self, args: &[&str]) -> String {
        let mut all = vec!["install", "codex"];
        all.extend_from_slice(args);
        let mut cmd = self.env.bgjobs(&all);
        cmd.env("HOME", &self.home)
            .env("CODEX_HOME", &self.codex_home);
        crate::ok(cmd)
    }

    /// `codex ARGS…` in the workspace, with the client's offline
    /// environment (inherited `CODEX*`, `OPENAI*`, `BGJOBS*`, `CLAUDE*`
    /// variables dropped; the test's bgjobs state root set), ready to spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(codex_bin());
        cmd.args(args)
            .current_dir(&self.env.ws)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if ["CODEX", "OPENAI", "BGJOBS", "CLAUDE"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                cmd.env_remove(&name);
            }
        }
        cmd.env("HOME", &self.home)
            .env("CODEX_HOME", &self.codex_home)
            .env("FAKE_API_KEY", API_KEY)
            .env("PATH", crate::path_with_bgjobs())
            .env("BGJOBS_HOME", &self.env.home)
            .env("BGJOBS_CONFIG", &self.env.config);
        cmd
    }

    /// `codex exec --skip-git-repo-check ARGS… PROMPT`, ready to spawn.
    pub fn exec_command(&self, prompt: &str, args: &[&str]) -> Command {
        let mut all = vec!["exec", "--skip-git-repo-check"];
        all.extend_from_slice(args);
        all.push(prompt);
        self.command(&all)
    }

    /// Run `codex exec PROMPT` to its end (bounded by [`RUN_LIMIT`]).
    #[track_caller]
    pub fn exec(&self, prompt: &str) -> Output {
        self.run(self.exec_command(prompt, &[]))
    }

    /// Run `codex exec resume SESSION PROMPT` to its end.
    #[track_caller]
    pub fn resume(&self, session: &str, prompt: &str) -> Output {
        self.run(self.command(&["exec", "--skip-git-repo-check", "resume", session, prompt]))
    }

    /// Run a prepared client command to its end, keeping its stderr for
    /// [`Codex::last_session`].
    #[track_caller]
    pub fn run(&self, mut cmd: Command) -> Output {
        let child = cmd.spawn().expect("start codex");
        let out = wait_output(child, RUN_LIMIT);
        *self.last_stderr.lock().unwrap() = String::from_utf8_lossy(&out.stderr).into_owned();
        out
    }

    /// The session (thread) id of the last run, from its stderr.
    #[track_caller]
    pub fn last_session(&self) -> String {
        let stderr = self.last_stderr.lock().unwrap().clone();
        session_of(&stderr).unwrap_or_else(|| panic!("no session id in stderr: {stderr}"))
    }

    /// What the real client makes of the hooks configured for the
    /// workspace: `codex app-server`'s `hooks/list` answer for it
    /// (`{"cwd", "hooks": [{"key", "eventName", "command", "matcher",
    /// "timeoutSec", "currentHash", "trustStatus", ...}], "warnings",
    /// "errors"}`).
    #[track_caller]
    pub fn hooks_list(&self) -> Value {
        let mut cmd = self.command(&["app-server"]);
        cmd.stdin(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start codex app-server");
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel::<Value>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(message) = serde_json::from_str::<Value>(&line) {
                    if tx.send(message).is_err() {
                        return;
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let answer = |id: u64| -> Value {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(m) if m["id"] == id => return m,
                    Ok(_) => continue,
                    Err(_) => panic!("codex app-server gave no answer to request {id}"),
                }
            }
        };
        let mut send = |m: Value| {
            writeln!(stdin, "{m}").expect("write to app-server");
            stdin.flush().expect("flush app-server stdin");
        };
        send(json!({"id": 1, "method": "initialize",
                    "params": {"clientInfo": {"name": "bgjobs-e2e", "version": "0"}}}));
        answer(1);
        send(json!({"method": "initialized"}));
        send(json!({"id": 2, "method": "hooks/list",
                    "params": {"cwds": [self.env.ws.to_string_lossy()]}}));
        let reply = answer(2);
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        let entry = reply["result"]["data"][0].clone();
        assert!(entry.is_object(), "hooks/list failed: {reply}");
        entry
    }
}

/// Fail with the client's output unless its run succeeded.
#[track_caller]
pub fn assert_ran(out: &Output) {
    assert!(
        out.status.success(),
        "codex exec failed with {}\nstdout: {}\nstderr: {}",
        out.status,
        crate::stdout(out),
        crate::stderr(out)
    );
}

/// The session id in a `codex exec` stderr (`session id: <uuid>`) or in
/// `--json` output (`{"type":"thread.started","thread_id":...}`).
pub fn session_of(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        if let Some(id) = line.trim().strip_prefix("session id: ") {
            return Some(id.trim().to_string());
        }
        let event: Value = serde_json::from_str(line).ok()?;
        (event["type"] == "thread.started")
            .then(|| event["thread_id"].as_str().map(str::to_string))?
    })
}

/// A hook command that appends its payload, one JSON line, to `file`.
pub fn logging_hook(file: &Path) -> String {
    let file = shell_quote(&file.to_string_lossy());
    format!("cat >> {file}; echo >> {file}")
}

/// `text` single-quoted for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The JSON lines of `file` (none when it does not exist).
pub fn read_jsonl(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Wait for a client to exit within `limit` (see [`crate::proc::wait_output`]).
#[track_caller]
pub fn wait_output(child: Child, limit: Duration) -> Output {
    crate::proc::wait_output(child, limit, "codex")
}
