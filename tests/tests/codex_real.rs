//! bgjobs with the real Codex CLI (`BGJOBS_CODEX`), run offline against the
//! scripted fake Responses API: `bgjobs install codex` makes its hooks run
//! (trusted, no bypass flag), a job started in a shell tool call survives
//! the call, a subagent and `codex exec`, its end reaches the model exactly
//! once (on resume, or by blocking a Stop once when it ends mid-turn), and
//! `uninstall codex` leaves the config as it was, byte for byte. Run by
//! `bash .ci/codex-test`; ignored by a plain `cargo test`, and failing, not
//! passing, without the client.

#![cfg(unix)]

use std::time::Duration;

use bgjobs_tests::codex::{assert_ran, shell_quote, Codex, Step};
use bgjobs_tests::{bgjobs_bin, stdout, TestEnv, Value};

const IGNORED: &str = "needs the real Codex CLI: bash .ci/codex-test";

/// This bgjobs, quoted for the shell tool (whose login shell's `PATH` need
/// not hold it).
fn bgjobs() -> String {
    shell_quote(&bgjobs_bin().to_string_lossy())
}

/// A command that starts a background job waiting for `gate`.
fn job_waiting_for(env: &TestEnv, title: &str, gate: &std::path::Path) -> String {
    format!(
        "{} run -b --title {title} -- {} wait-file {}",
        bgjobs(),
        shell_quote(&env.helper()),
        shell_quote(&gate.to_string_lossy())
    )
}

/// The only job of the workspace.
#[track_caller]
fn only_job(env: &TestEnv) -> Value {
    let all = env.jobs();
    assert_eq!(all.len(), 1, "expected one job: {all:?}");
    all[0].clone()
}

/// Install into the client's home and check that the client trusts every
/// hook bgjobs added, as it reports them itself.
#[track_caller]
fn install(codex: &Codex) {
    let said = codex.install(&[]);
    assert!(said.contains("trusted them in"), "{said}");
    let listed = codex.hooks_list();
    let hooks = listed["hooks"].as_array().expect("hooks listed");
    assert_eq!(hooks.len(), 7, "{listed:#}");
    for hook in hooks {
        assert_eq!(hook["trustStatus"], "trusted", "{listed:#}");
        assert!(
            hook["command"]
                .as_str()
                .is_some_and(|c| c.ends_with(" hook --agent codex")),
            "{hook}"
        );
    }
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn install_makes_the_hooks_run_and_uninstall_restores_the_config_byte_for_byte() {
    let _ = IGNORED;
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let original = std::fs::read(codex.config_path()).expect("read config.toml");
    install(&codex);
    // Idempotent: a second install changes nothing.
    let installed = std::fs::read(codex.config_path()).unwrap();
    let again = codex.install(&[]);
    assert!(again.contains("already installed"), "{again}");
    assert_eq!(std::fs::read(codex.config_path()).unwrap(), installed);

    codex.model.script("main", vec![Step::text("hello")]);
    let out = codex.exec("SCRIPT:main say hello");
    assert_ran(&out);
    let session = codex.last_session();
    // SessionStart ran: the model was taught, once, and the session is
    // recorded with the codex process as its agent.
    let taught = codex
        .model
        .developer_messages("main")
        .iter()
        .filter(|m| m.contains("bgjobs run -b -- CMD"))
        .count();
    assert_eq!(taught, 1, "{:?}", codex.model.developer_messages("main"));
    let record = env
        .session_record(&session)
        .expect("the session is recorded");
    assert!(record["agent_process"]["pid"].is_u64(), "{record}");
    // SessionEnd ran within Codex's 3 s bound: the session is ended.
    assert_eq!(record["end_reason"], "other", "{record}");
    assert!(record["ended_at"].is_string(), "{record}");

    let said = bgjobs_tests::ok({
        let mut cmd = env.bgjobs(&["uninstall", "codex"]);
        cmd.env("HOME", &codex.home)
            .env("CODEX_HOME", &codex.codex_home);
        cmd
    });
    assert!(said.contains("removed bgjobs hooks"), "{said}");
    assert_eq!(
        std::fs::read(codex.config_path()).unwrap(),
        original,
        "config.toml is not as it was"
    );
    assert!(
        !codex.hooks_path().exists(),
        "hooks.json was not there before"
    );
    // And the hooks are gone: nothing is taught any more.
    codex.model.script("after", vec![Step::text("hello again")]);
    assert_ran(&codex.exec("SCRIPT:after say hello"));
    assert!(
        codex
            .model
            .developer_messages("after")
            .iter()
            .all(|m| !m.contains("bgjobs run -b")),
        "{:?}",
        codex.model.developer_messages("after")
    );
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_job_from_a_tool_call_survives_codex_exec_and_is_told_once_on_resume() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    install(&codex);
    let gate = env.root.join("gate");
    codex.model.script(
        "main",
        vec![
            Step::exec(&job_waiting_for(&env, "survivor", &gate)),
            Step::text("started it"),
            Step::text("heard of it"),
            Step::text("nothing new"),
        ],
    );
    assert_ran(&codex.exec("SCRIPT:main start a long job"));
    let session = codex.last_session();
    // The tool call, the turn and codex exec are over; the job is not.
    let job = only_job(&env);
    assert_eq!(job["session_id"], session.as_str(), "{job}");
    assert_eq!(job["status"], "running", "{job}");
    assert_eq!(job["background"], true, "{job}");

    std::fs::write(&gate, "").unwrap();
    let id = job["id"].as_u64().unwrap();
    env.wait_for_status(id, &["succeeded"]);

    assert_ran(&codex.resume(&session, "back again"));
    let notice = format!("Background job {id} ");
    assert_eq!(
        codex.model.count_in_last("main", &notice),
        1,
        "{}",
        codex.model.last_view("main")
    );
    assert!(env.job(id)["deliveries"]["told_at"].is_string());
    // A second resume tells nothing again.
    assert_ran(&codex.resume(&session, "and again"));
    assert_eq!(
        codex.model.count_in_last("main", &notice),
        1,
        "{}",
        codex.model.last_view("main")
    );
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn stop_blocks_once_for_a_job_that_ended_mid_turn() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    install(&codex);
    let command = format!(
        "{} run -b --title quick -- {} sleep 1",
        bgjobs(),
        shell_quote(&env.helper())
    );
    codex.model.script(
        "main",
        vec![
            Step::exec(&command),
            // The job ends while the model "thinks" about its last answer.
            Step::later(Duration::from_secs(3), Step::text("all done")),
            Step::text("noted the end"),
        ],
    );
    let out = codex.exec("SCRIPT:main start a quick job and finish");
    assert_ran(&out);
    let id = only_job(&env)["id"].as_u64().unwrap();
    let notice = format!("Background job {id} ");
    // The Stop hook's reason came back as a user message, once; the turn
    // went on for it once and then ended.
    let told: Vec<String> = codex
        .model
        .user_messages("main")
        .into_iter()
        .filter(|m| m.contains(&notice))
        .collect();
    assert_eq!(told.len(), 1, "{}", codex.model.last_view("main"));
    assert!(told[0].contains("<hook_prompt"), "{told:?}");
    assert_eq!(codex.model.requests_of("main").len(), 3);
    assert_eq!(codex.model.count_in_last("main", &notice), 1);
    assert!(stdout(&out).contains("noted the end"), "{}", stdout(&out));
    assert!(env.job(id)["deliveries"]["told_at"].is_string());
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_subagents_job_is_the_sessions_attributed_to_the_subagent_and_outlives_it() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    install(&codex);
    let gate = env.root.join("gate");
    codex.model.script(
        "main",
        vec![
            Step::spawn_agent("SCRIPT:sub start the job"),
            Step::wait_agent(),
            Step::text("the subagent is done"),
        ],
    );
    codex.model.script(
        "sub",
        vec![
            Step::exec(&job_waiting_for(&env, "of-a-subagent", &gate)),
            Step::text("subagent finished"),
        ],
    );
    assert_ran(&codex.exec("SCRIPT:main hand a job to a subagent"));
    let session = codex.last_session();
    let job = only_job(&env);
    assert_eq!(job["session_id"], session.as_str(), "{job}");
    let agent = job["agent_id"]
        .as_str()
        .expect("attributed to the subagent");
    assert_ne!(agent, session, "{job}");
    // The subagent's hooks named the same agent; it has stopped.
    let record = env.session_record(&session).expect("session record");
    assert!(
        record["agents"].as_array().is_some_and(|a| a.is_empty()),
        "{record}"
    );
    assert_eq!(job["status"], "running", "{job}");
    std::fs::write(&gate, "").unwrap();
    env.wait_for_status(job["id"].as_u64().unwrap(), &["succeeded"]);
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn a_codex_session_never_gets_claude_codes_adoption_or_waiter() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    install(&codex);
    // A command left in the background of a call dies with it (Codex's own
    // behaviour); bgjobs does not rewrite it, and records no job for it.
    let marker = env.root.join("marker");
    let command = format!(
        "({} sleep 2; touch {}) > /dev/null 2>&1 &",
        shell_quote(&env.helper()),
        shell_quote(&marker.to_string_lossy())
    );
    codex
        .model
        .script("main", vec![Step::exec(&command), Step::text("left it")]);
    assert_ran(&codex.exec("SCRIPT:main leave something in the background"));
    let session = codex.last_session();
    assert!(env.jobs().is_empty(), "{:?}", env.jobs());
    let record = env.session_record(&session).expect("session record");
    assert!(record["waiter"].is_null(), "no Stop waiter: {record}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!marker.exists(), "the call's background process lived on");
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn an_end_between_two_tool_calls_is_told_once_after_the_second() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    install(&codex);
    let command = format!(
        "{} run -b --title between -- {} sleep 0.5",
        bgjobs(),
        shell_quote(&env.helper())
    );
    codex.model.script(
        "main",
        vec![
            Step::exec(&command),
            Step::exec("sleep 2"),
            Step::text("saw it"),
        ],
    );
    assert_ran(&codex.exec("SCRIPT:main start a job, then do something else"));
    let id = only_job(&env)["id"].as_u64().unwrap();
    let notice = format!("Background job {id} ");
    // Told by the second call's PostToolUse, as context; the Stop that
    // followed had nothing left to tell.
    let told: Vec<String> = codex
        .model
        .developer_messages("main")
        .into_iter()
        .filter(|m| m.contains(&notice))
        .collect();
    assert_eq!(told.len(), 1, "{}", codex.model.last_view("main"));
    assert_eq!(codex.model.count_in_last("main", &notice), 1);
    assert_eq!(codex.model.requests_of("main").len(), 3, "no Stop block");
}

#[test]
#[ignore = "needs the real Codex CLI: bash .ci/codex-test"]
fn the_project_scope_is_trusted_as_the_client_names_it() {
    let env = TestEnv::new();
    let codex = Codex::new(&env);
    let ws = std::fs::canonicalize(&env.ws).unwrap();
    codex.append_config(&format!(
        "\n[projects.{}]\ntrust_level = \"trusted\"\n",
        Value::from(ws.to_string_lossy())
    ));
    let said = codex.install(&["--scope", "project"]);
    assert!(
        !said.contains("trusted project"),
        "the project is trusted: {said}"
    );
    let listed = codex.hooks_list();
    let hooks = listed["hooks"].as_array().expect("hooks listed");
    assert_eq!(hooks.len(), 7, "{listed:#}");
    for hook in hooks {
        assert_eq!(hook["trustStatus"], "trusted", "{listed:#}");
        assert_eq!(hook["source"], "project", "{hook}");
    }
    codex.model.script("main", vec![Step::text("hello")]);
    assert_ran(&codex.exec("SCRIPT:main say hello"));
    let session = codex.last_session();
    assert!(
        env.session_record(&session).is_some(),
        "the project's hooks ran"
    );
}
