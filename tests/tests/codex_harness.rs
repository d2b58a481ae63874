//! The Codex harness proved against the real Codex CLI (`BGJOBS_CODEX`), run
//! offline against the scripted fake Responses API on 127.0.0.1, with plain
//! logging hooks (not bgjobs): trust decides whether a hook runs, hooks see
//! their payloads, tool output and hook output reach the model, a Stop
//! block continues the turn once, a session resumes. Run by `bash
//! .ci/codex-test` (which installs the pinned client and runs them in a
//! network namespace of their own); ignored by a plain `cargo test`, and
//! failing, not passing, without the client. The trust-hash worked example
//! needs no client and always runs.

#![cfg(unix)]

use std::path::PathBuf;

use bgjobs_tests::codex::{self, assert_ran, logging_hook, read_jsonl, shell_quote, Codex, Step};
use bgjobs_tests::{json, stdout, TestEnv, Value};

const IGNORED: &str = "needs the real Codex CLI: bash .ci/codex-test";

/// Where the logging hook of `event` writes.
fn log_of(env: &TestEnv, event: &str) -> PathBuf {
    env.root.join(format!("hook-{event}.jsonl"))
}

/// One group per event, each with a handler logging its payload.
fn logging_hooks(env: &TestEnv, events: &[(&str, Option<&str>)]) -> Value {
    let mut hooks = json!({});
    for (event, matcher) in events {
        let mut group = json!({"hooks": [{"type": "command",
            "command": logging_hook(&log_of(env, event)), "timeout": 30}]});
        if let Some(m) = matcher {
            group["matcher"] = json!(m);
        }
        hooks[*event] = json!([group]);
    }
    json!({ "hooks": hooks })
}

/// The one payload the hook of `event` logged.
#[track_caller]
fn only_payload(env: &TestEnv, event: &str) -> Value {
    let all = read_jsonl(&log_of(env, event));
    assert_eq!(all.len(), 1, "expected one {event} payload: {all:?}");
    all[0].clone()
}

#[test]
fn trust_hash_matches_the_worked_example() {
    // FIPS 180-2 test vectors.
    let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(codex::sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(codex::sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(codex::sha256(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // What codex 0.171.0's hooks/list reported for these hooks.
    let command = "'/usr/local/bin/bgjobs' hook --agent codex";
    let start = json!({"type": "command", "command": command, "timeout": 30});
    assert_eq!(
        codex::trust_identity("SessionStart", Some("startup|resume|clear"), &start),
        r#"{"event_name":"session_start","hooks":[{"async":false,"command":"'/usr/local/bin/bgjobs' hook --agent codex","timeout":30,"type":"command"}],"matcher":"startup|resume|clear"}"#
    );
    assert_eq!(
        codex::trust_hash("SessionStart", Some("startup|resume|clear"), &start),
        "sha256:4d9e16e7a65bb607f914feb674d3c142a41699426e3932b135e6d9e700c25cb2"
    );
    // SessionEnd's timeout is clamped to 3 s before hashing.
    let end = json!({"type": "command", "command": command, "timeout": 10});
    assert_eq!(
        codex::trust_hash("SessionEnd", None, &end),
        "sha256:b599f0fd63b4bc30b02b1763c3e1e2a8db22523a97ea7e04b0ea310c409446d6"
    );
    // Stop ignores its matcher; statusMessage is part of the identity.
    let stop = json!({"type": "command", "command": "x3", "timeout": 5, "statusMessage": "hi"});
    assert_eq!(
        codex::trust_hash("Stop", Some("ignored"), &stop),
        "sha256:a42e7d497c7977c370e96693f5dfc61d1c720e0b20fee36615ec7235860d395d"
    );
    assert_eq!(
        codex::trust_key(
            std::path::Path::new("/h/.codex/hooks.json"),
            "PreToolUse",
            0,
            1
        ),
        "/h/.codex/hooks.json:pre_tool_use:0:1"
    );
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn trust_hashes_match_what_the_client_computes() {
    let _ = IGNORED;
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let hooks = json!({"hooks": {
        "SessionStart": [{"matcher": "", "hooks": [{"type": "command", "command": "a"}]},
                         {"matcher": "startup", "hooks": [
                             {"type": "command", "command": "echo 'q\"uote' \\ é\ttab", "timeout": 0},
                             {"type": "command", "command": "b", "async": true, "timeout": 7}]}],
        "PreToolUse": [{"matcher": "^Bash$", "hooks": [
            {"type": "command", "command": "c", "timeoutSec": 9, "statusMessage": "checking"}]}],
        "PostToolUse": [{"matcher": "*", "hooks": [
            {"type": "command", "command": "d", "additionalContextLimit": 0}]}],
        "UserPromptSubmit": [{"matcher": "ignored", "hooks": [{"type": "command", "command": "e"}]}],
        "Stop": [{"matcher": "ignored", "hooks": [{"type": "command", "command": "f", "timeout": 45}]}],
        "SessionEnd": [{"hooks": [{"type": "command", "command": "g"},
                                  {"type": "command", "command": "h", "timeout": 60}]}],
        "SubagentStart": [{"matcher": "default", "hooks": [{"type": "command", "command": "i"}]}],
        "SubagentStop": [{"hooks": [{"type": "command", "command": "j", "timeout": 2}]}],
    }});
    codex.install_hooks(&hooks, |_, command| command != "j");
    let listed = codex.hooks_list();
    let ours = codex::trust_entries(&codex.hooks_path(), &hooks);
    let theirs: Vec<(String, String, String)> = listed["hooks"]
        .as_array()
        .expect("hooks listed")
        .iter()
        .map(|h| {
            (
                h["key"].as_str().unwrap().to_string(),
                h["currentHash"].as_str().unwrap().to_string(),
                h["trustStatus"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(theirs.len(), ours.len(), "listed: {listed:#}");
    for (key, hash) in &ours {
        let found = theirs
            .iter()
            .find(|(k, _, _)| k == key)
            .unwrap_or_else(|| panic!("{key} not listed: {listed:#}"));
        assert_eq!(&found.1, hash, "hash of {key}: {listed:#}");
        let expected = if key.contains(":subagent_stop:") {
            "untrusted"
        } else {
            "trusted"
        };
        assert_eq!(found.2, expected, "trust of {key}: {listed:#}");
    }
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_trusted_hook_runs_and_sees_its_payload() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let hooks = logging_hooks(
        &env,
        &[
            ("SessionStart", Some("startup|resume|clear")),
            ("UserPromptSubmit", None),
            ("PreToolUse", Some("^Bash$")),
            ("PostToolUse", Some("^Bash$")),
            ("Stop", None),
            ("SessionEnd", None),
        ],
    );
    codex.install_hooks(&hooks, |_, _| true);
    let listed = codex.hooks_list();
    for hook in listed["hooks"].as_array().expect("hooks listed") {
        assert_eq!(hook["trustStatus"], "trusted", "{listed:#}");
    }
    codex.model.script(
        "main",
        vec![Step::exec("echo hi-there"), Step::text("finished")],
    );
    let prompt = "SCRIPT:main run one command";
    let out = codex.exec(prompt);
    assert_ran(&out);
    let session = codex.last_session();
    let sessions = codex.sessions_dir();
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
        "SessionEnd",
    ] {
        let p = only_payload(&env, event);
        assert_eq!(p["hook_event_name"], event, "{p}");
        assert_eq!(p["session_id"], session.as_str(), "{p}");
        assert!(bgjobs_tests::same_path(&p["cwd"], &env.ws), "{p}");
        let transcript = p["transcript_path"].as_str().expect("a transcript path");
        assert!(
            transcript.starts_with(&*sessions.to_string_lossy()) && transcript.contains(&session),
            "{p}"
        );
    }
    assert_eq!(only_payload(&env, "SessionStart")["source"], "startup");
    assert_eq!(only_payload(&env, "UserPromptSubmit")["prompt"], prompt);
    let pre = only_payload(&env, "PreToolUse");
    assert_eq!(pre["tool_name"], "Bash", "{pre}");
    assert_eq!(pre["tool_input"]["command"], "echo hi-there", "{pre}");
    let post = only_payload(&env, "PostToolUse");
    assert_eq!(post["tool_use_id"], pre["tool_use_id"], "{post}");
    assert!(
        post["tool_response"]
            .as_str()
            .is_some_and(|r| r.contains("hi-there")),
        "{post}"
    );
    let stop = only_payload(&env, "Stop");
    assert_eq!(stop["stop_hook_active"], false, "{stop}");
    assert_eq!(stop["last_assistant_message"], "finished", "{stop}");
    assert!(
        codex.model.not_found().is_empty(),
        "{:?}",
        codex.model.not_found()
    );
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn an_untrusted_or_modified_hook_is_skipped() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let command = |name: &str| logging_hook(&log_of(&env, name));
    let hooks = json!({"hooks": {"SessionStart": [
        {"hooks": [{"type": "command", "command": command("trusted")}]},
        {"hooks": [{"type": "command", "command": command("untrusted")}]},
        {"hooks": [{"type": "command", "command": command("modified")}]},
    ]}});
    codex.install_hooks(&hooks, |_, c| c == command("trusted"));
    // A trust entry for what the third handler said before it was edited.
    let before = json!({"type": "command", "command": "true"});
    let key = codex::trust_key(&codex.hooks_path(), "SessionStart", 2, 0);
    let stale = codex::trust_hash("SessionStart", None, &before);
    codex.append_config(&codex::trust_toml(&[(key, stale)]));
    let listed = codex.hooks_list();
    let status: Vec<&str> = listed["hooks"]
        .as_array()
        .expect("hooks listed")
        .iter()
        .map(|h| h["trustStatus"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["trusted", "untrusted", "modified"], "{listed:#}");

    codex.model.script("main", vec![Step::text("hello")]);
    assert_ran(&codex.exec("SCRIPT:main say hello"));
    assert_eq!(read_jsonl(&log_of(&env, "trusted")).len(), 1);
    assert!(!log_of(&env, "untrusted").exists(), "an untrusted hook ran");
    assert!(!log_of(&env, "modified").exists(), "a modified hook ran");
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_tool_call_output_reaches_the_next_request() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    codex.model.script(
        "main",
        vec![
            Step::exec("echo marker-$((6*7)); echo session=$CODEX_SESSION_ID"),
            Step::text("seen it"),
        ],
    );
    let out = codex.exec("SCRIPT:main run a command");
    assert_ran(&out);
    assert!(stdout(&out).contains("seen it"), "{}", stdout(&out));
    let session = codex.last_session();
    let requests = codex.model.requests_of("main");
    assert_eq!(requests.len(), 2, "one request per step");
    // The harness's call matches the tool the client offers.
    let tool = requests[0]["tools"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "exec_command").cloned())
        .expect("an exec_command tool");
    assert_eq!(tool["parameters"]["required"], json!(["cmd"]), "{tool}");
    let outputs = codex.model.tool_outputs("main");
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert!(outputs[0].contains("marker-42"), "{outputs:?}");
    assert!(
        outputs[0].contains(&format!("session={session}")),
        "{outputs:?}"
    );
    assert_eq!(codex.model.count_in_last("main", "marker-42"), 1);
    assert_eq!(codex.model.requests_with("main", "marker-42"), 1);
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn hook_output_reaches_the_model_as_developer_messages() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let say = |event: &str, text: &str| {
        let out =
            json!({"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}});
        format!(
            "cat >/dev/null; printf '%s' {}",
            shell_quote(&out.to_string())
        )
    };
    let hooks = json!({"hooks": {
        "SessionStart": [{"hooks": [{"type": "command", "command": say("SessionStart", "CTX-START")}]}],
        // Plain stdout counts as context on UserPromptSubmit (and SessionStart).
        "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "cat >/dev/null; echo CTX-PROMPT"}]}],
        "PostToolUse": [{"hooks": [{"type": "command", "command": say("PostToolUse", "CTX-TOOL")}]}],
    }});
    codex.install_hooks(&hooks, |_, _| true);
    codex
        .model
        .script("main", vec![Step::exec("echo x"), Step::text("ok")]);
    assert_ran(&codex.exec("SCRIPT:main with context"));
    let developer = codex.model.developer_messages("main");
    for text in ["CTX-START", "CTX-PROMPT", "CTX-TOOL"] {
        assert_eq!(
            developer.iter().filter(|m| m.trim() == text).count(),
            1,
            "{text} once among {developer:?}"
        );
    }
    // The first request already had the start and prompt context.
    let first = &codex.model.requests_of("main")[0];
    assert!(first["input"].to_string().contains("CTX-PROMPT"));
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_stop_hook_block_continues_the_turn_once() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let log = shell_quote(&log_of(&env, "Stop").to_string_lossy());
    let block = shell_quote(r#"{"decision":"block","reason":"REASON-42 look again"}"#);
    let command = format!(
        "payload=$(cat); printf '%s\\n' \"$payload\" >> {log}; \
         if printf '%s' \"$payload\" | grep -q '\"stop_hook_active\": *false'; then printf '%s' {block}; fi"
    );
    let hooks = json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": command}]}]}});
    codex.install_hooks(&hooks, |_, _| true);
    codex.model.script(
        "main",
        vec![Step::text("first answer"), Step::text("second answer")],
    );
    let out = codex.exec("SCRIPT:main answer twice");
    assert_ran(&out);
    assert!(stdout(&out).contains("second answer"), "{}", stdout(&out));
    assert_eq!(codex.model.requests_of("main").len(), 2);
    let reasons: Vec<String> = codex
        .model
        .user_messages("main")
        .into_iter()
        .filter(|m| m.contains("REASON-42"))
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("<hook_prompt"), "{reasons:?}");
    let stops = read_jsonl(&log_of(&env, "Stop"));
    assert_eq!(stops.len(), 2, "{stops:?}");
    assert_eq!(stops[0]["stop_hook_active"], false);
    assert_eq!(stops[0]["last_assistant_message"], "first answer");
    assert_eq!(stops[1]["stop_hook_active"], true);
    assert_eq!(stops[1]["last_assistant_message"], "second answer");
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_session_resumes_with_its_history() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let hooks = logging_hooks(&env, &[("SessionStart", None)]);
    codex.install_hooks(&hooks, |_, _| true);
    codex.model.script(
        "main",
        vec![
            Step::exec("echo first-$((1+1))"),
            Step::text("first done"),
            Step::exec("echo second-$((2+2))"),
            Step::text("second done"),
        ],
    );
    assert_ran(&codex.exec("SCRIPT:main two turns"));
    let session = codex.last_session();
    let out = codex.resume(&session, "go on");
    assert_ran(&out);
    assert!(stdout(&out).contains("second done"), "{}", stdout(&out));
    assert_eq!(codex.last_session(), session);
    let starts = read_jsonl(&log_of(&env, "SessionStart"));
    let sources: Vec<&Value> = starts.iter().map(|p| &p["source"]).collect();
    assert_eq!(sources, [&json!("startup"), &json!("resume")], "{starts:?}");
    assert!(starts.iter().all(|p| p["session_id"] == session.as_str()));
    let outputs = codex.model.tool_outputs("main");
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert!(outputs[0].contains("first-2") && outputs[1].contains("second-4"));
    assert!(codex
        .model
        .user_messages("main")
        .iter()
        .any(|m| m == "go on"));
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_tool_calls_processes_die_with_it_unless_they_left_its_session() {
    use bgjobs_tests::proc;
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let (bg, detached) = (env.root.join("bg.pid"), env.root.join("detached.pid"));
    let (bg_q, detached_q) = (
        shell_quote(&bg.to_string_lossy()),
        shell_quote(&detached.to_string_lossy()),
    );
    let state = |file: &str, name: &str| {
        format!(
            "s=$(ps -o stat= -p $(cat {file})); case \"$s\" in ''|Z*) echo {name}-GONE;; *) echo {name}-ALIVE;; esac"
        )
    };
    codex.model.script(
        "main",
        vec![
            Step::exec(&format!(
                "sleep 300 & echo $! > {bg_q}; \
                 setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {detached_q}; echo started"
            )),
            Step::exec(&format!(
                "{}; {}",
                state(&bg_q, "BG"),
                state(&detached_q, "DETACHED")
            )),
            Step::text("done"),
        ],
    );
    let out = codex.exec("SCRIPT:main start two sleepers");
    assert_ran(&out);
    let pid = |file: &PathBuf| -> u32 {
        std::fs::read_to_string(file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid")
    };
    let (bg, detached) = (pid(&bg), pid(&detached));
    // `codex exec` is gone while the detached sleeper still runs.
    let alive = proc::pid_alive(detached);
    proc::kill(detached);
    assert!(alive, "a setsid process survives the call and the client");
    assert!(!proc::pid_alive(bg), "a plain background process dies");
    let outputs = codex.model.tool_outputs("main");
    assert!(outputs[1].contains("BG-GONE"), "{outputs:?}");
    assert!(outputs[1].contains("DETACHED-ALIVE"), "{outputs:?}");
}
