//! `phala::` from runbooks: the binary against a simulator over loopback, dry runs, the
//! shipped update runbook, faults from the command line, and `runbook sim serve`.

mod common;

use std::io::BufRead;

use common::{Workspace, stderr, stdout};
use runbook::sim::world::{MUX_CVM, OPENCLAW_CVM};

const ENV_SECRET: &str = "replace-with-master-key";

/// Runs the binary against a simulator started in this test process, without `--sim`, as a
/// user would against real Phala Cloud.
fn against(ws: &Workspace, sim: &runbook::sim::SimHandle) -> assert_cmd::Command {
    let mut cmd = ws.runbook();
    cmd.env("PHALA_CLOUD_API_PREFIX", sim.phala_api_prefix())
        .env("PHALA_CLOUD_API_KEY", sim.api_key())
        .env("PHALA_CLOUD_DIR", ws.path());
    cmd
}

/// `runbook run update --sim ARGS...` with quick simulated updates.
fn update_on_sim(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.runbook()
        .args(["run", "update", "--sim"])
        .args(args)
        .env("RUNBOOK_SIM_PULL_DELAY", "100ms")
        .env("RUNBOOK_SIM_BOOT_DELAY", "200ms")
        .output()
        .unwrap()
}

fn rollout_script(ws: &Workspace) -> std::path::PathBuf {
    ws.script(
        "rollout.rhai",
        &format!(
            r#"
            let d = phala::deploy("{OPENCLAW_CVM}", "deploy/docker-compose.yml", "deploy/openclaw.env.example");
            let cvm = phala::wait_ready(d, "30s");
            print(`status ${{cvm.status}}`);
            phala::restart("{MUX_CVM}");
            "#
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_plan_and_changes_nothing() {
    let sim = common::start_sim().await;
    let ws = Workspace::new();
    let script = rollout_script(&ws);
    let output = against(&ws, &sim)
        .args(["run", script.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("Plan: 2 change(s) not made (dry run)"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "1. phala::deploy(\"{OPENCLAW_CVM}\", \"deploy/docker-compose.yml\", \"deploy/openclaw.env.example\")"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("2. phala::restart(\"{MUX_CVM}\")")),
        "{err}"
    );
    assert_eq!(stdout(&output), "status running\n", "reads still run");
    {
        let world = sim.world();
        for name in [OPENCLAW_CVM, MUX_CVM] {
            let cvm = world.cvm(world.find_by_name(name).unwrap());
            assert!(
                cvm.history.is_empty(),
                "{name} was changed: {:?}",
                cvm.history
            );
        }
    }
    let events = ws.events();
    let mutations: Vec<_> = events.iter().filter(|e| e["event"] == "mutation").collect();
    assert_eq!(mutations.len(), 2);
    assert!(mutations.iter().all(|m| m["dry_run"] == true));
    assert!(!events.iter().any(|e| e["event"] == "mutation_finished"));
    assert_eq!(events.last().unwrap()["plan"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_is_recorded_applied_once_and_its_env_stays_hidden() {
    let sim = common::start_sim().await;
    let ws = Workspace::new();
    let script = rollout_script(&ws);
    let output = against(&ws, &sim)
        .args(["run", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    {
        let world = sim.world();
        let openclaw = world.cvm(world.find_by_name(OPENCLAW_CVM).unwrap());
        assert_eq!(openclaw.history.len(), 1, "exactly one update");
        assert_eq!(
            openclaw.env_map()["MASTER_KEY"],
            ENV_SECRET,
            "the env decrypted"
        );
        let mux = world.cvm(world.find_by_name(MUX_CVM).unwrap());
        assert_eq!(mux.history.len(), 1, "one restart");
    }
    let events = ws.events();
    let position = |kind: &str, function: &str| {
        events
            .iter()
            .position(|e| e["event"] == kind && e["function"] == function)
            .unwrap_or_else(|| panic!("no {kind} for {function}"))
    };
    assert!(position("mutation", "phala::deploy") < position("mutation_finished", "phala::deploy"));
    let all = format!("{}{}{}", stdout(&output), stderr(&output), ws.records());
    assert!(!all.contains(ENV_SECRET), "an env value leaked: {all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_reach_scripts_as_catchable_maps() {
    let sim = common::start_sim().await;
    let ws = Workspace::new();
    let script = ws.script(
        "missing.rhai",
        r#"
        try { phala::get("no-such-cvm"); } catch (e) { print(`${e.kind} ${e.system} ${e.status}`); }
        phala::get("no-such-cvm");
        "#,
    );
    let output = against(&ws, &sim)
        .args(["run", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "not_found phala 404\n");
    assert!(
        stderr(&output).contains("no-such-cvm"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn without_credentials_phala_fails_with_an_auth_error_naming_where_to_put_them() {
    let ws = Workspace::new();
    let script = ws.script("get.rhai", "phala::get(\"openclaw-prod\");");
    let output = ws
        .runbook()
        .args(["run", script.to_str().unwrap()])
        .env_remove("PHALA_CLOUD_API_KEY")
        .env("PHALA_CLOUD_DIR", ws.path().join("nothing-here"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("(auth)"), "{err}");
    assert!(err.contains("PHALA_CLOUD_API_KEY"), "{err}");
}

#[test]
fn the_update_runbook_runs_on_the_simulator() {
    let ws = Workspace::new();
    let output = update_on_sim(&ws, &[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    for step in [
        "Preflight",
        "Roll out OpenClaw",
        "Roll out mux-server",
        "Verify runtime",
    ] {
        assert!(err.contains(&format!("✓ {step}")), "{step}: {err}");
    }
    assert!(
        err.contains("mux-server-prod: 1 container(s) running"),
        "{err}"
    );
    assert!(!format!("{err}{}", ws.records()).contains(ENV_SECRET));
}

#[test]
fn a_fault_from_the_command_line_fails_the_update_with_a_clear_error() {
    let ws = Workspace::new();
    let output = update_on_sim(&ws, &["--fault", &format!("cvm={MUX_CVM}:pull-fail")]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("✓ Roll out OpenClaw"), "{err}");
    assert!(err.contains("✗ Roll out mux-server"), "{err}");
    assert!(err.contains("failed to pull image"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let last = ws.events().pop().unwrap();
    assert_eq!(last["stopped_at"], "Roll out mux-server");

    ws.runbook()
        .args(["run", "update", "--sim", "--fault", "phala:bogus"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bogus"));
}

#[test]
fn the_preflight_refuses_a_mux_role_on_a_cvm_without_mux_in_its_name() {
    let ws = Workspace::new();
    let output = update_on_sim(
        &ws,
        &["--var", &format!("PHALA_MUX_CVM_IDS={OPENCLAW_CVM}")],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("does not contain \"mux\""), "{err}");
    assert!(
        !err.contains("phala::deploy"),
        "nothing was deployed: {err}"
    );
}

#[test]
fn scripts_inject_faults_and_transient_errors_are_retried() {
    let ws = Workspace::new();
    let script = ws.script(
        "flaky.rhai",
        r#"
        sim::fault("phala:get:status=503:times=2");
        print(phala::get("openclaw-prod").status);
        sim::fault("phala:get:status=409:times=1");
        try { phala::get("openclaw-prod"); } catch (e) { print(e.kind); }
        "#,
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap(), "--sim"])
        .assert()
        .success()
        .stdout("running\nconflict\n");
}

#[test]
fn sim_serve_prints_its_environment_and_stops_on_ctrl_c() {
    let ws = Workspace::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let state = ws.path().join("state");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args([
            "sim",
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--state",
        ])
        .arg(&state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let prefix = lines.next().unwrap().unwrap();
    let key = lines.next().unwrap().unwrap();
    assert_eq!(
        prefix,
        format!("export PHALA_CLOUD_API_PREFIX=http://127.0.0.1:{port}/api/v1")
    );
    let key = key.strip_prefix("export PHALA_CLOUD_API_KEY=").unwrap();
    let script = ws.script(
        "status.rhai",
        "print(phala::get(\"mux-server-prod\").name);",
    );
    ws.runbook()
        .args(["run", script.to_str().unwrap()])
        .env(
            "PHALA_CLOUD_API_PREFIX",
            format!("http://127.0.0.1:{port}/api/v1"),
        )
        .env("PHALA_CLOUD_API_KEY", key)
        .assert()
        .success()
        .stdout("mux-server-prod\n");
    common::interrupt(&child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(state.join("world.json").is_file(), "the world was saved");
}

#[test]
fn settings_come_from_vars_then_environment_then_env_files_then_the_simulator() {
    let ws = Workspace::new();
    let file = ws.script(
        "targets.env",
        "PHALA_MUX_CVM_IDS=from-file\nONLY_IN_FILE=file-value\n",
    );
    let script = ws.script(
        "settings.rhai",
        r#"
        print(setting("PHALA_MUX_CVM_IDS"));
        print(setting("ONLY_IN_FILE"));
        print(setting("PHALA_OPENCLAW_CVM_IDS"));
        print(setting("UNSET_ANYWHERE", "fallback"));
        setting("UNSET_ANYWHERE");
        "#,
    );
    let output = ws
        .runbook()
        .args(["run", script.to_str().unwrap(), "--sim", "--env-file"])
        .arg(&file)
        .env_remove("PHALA_MUX_CVM_IDS")
        .env_remove("ONLY_IN_FILE")
        .env_remove("PHALA_OPENCLAW_CVM_IDS")
        .env_remove("UNSET_ANYWHERE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        format!("from-file\nfile-value\n{OPENCLAW_CVM}\nfallback\n")
    );
    assert!(stderr(&output).contains("setting UNSET_ANYWHERE is not set"));

    let output = ws
        .runbook()
        .args(["run", script.to_str().unwrap(), "--sim", "--env-file"])
        .arg(&file)
        .args(["--var", "PHALA_MUX_CVM_IDS=from-var"])
        .env("ONLY_IN_FILE", "from-environment")
        .output()
        .unwrap();
    assert!(
        stdout(&output).starts_with("from-var\nfrom-environment\n"),
        "{}",
        stdout(&output)
    );

    let bad = ws.script("bad.env", "A=1\nnot a setting\n");
    ws.runbook()
        .args(["run", "hello", "--env-file"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bad.env:2:"));
}

#[test]
fn plain_string_env_values_given_to_deploy_are_treated_as_secrets() {
    let ws = Workspace::new();
    let script = ws.script(
        "map.rhai",
        &format!(
            r#"
            let env = #{{ MUX_API_KEY: "plain-mux-key-123", TELEGRAM_BOT_TOKEN: "plain-tg-token-456" }};
            let d = phala::deploy("{MUX_CVM}", "deploy/mux-server-compose.yml", env);
            phala::wait_ready(d, "30s");
            print(sim::env("{MUX_CVM}").len());
            "#
        ),
    );
    for dry_run in [true, false] {
        let mut cmd = ws.runbook();
        cmd.args(["run", script.to_str().unwrap(), "--sim"])
            .env("RUNBOOK_SIM_PULL_DELAY", "50ms")
            .env("RUNBOOK_SIM_BOOT_DELAY", "50ms");
        if dry_run {
            cmd.arg("--dry-run");
        }
        let output = cmd.output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let all = format!("{}{}{}", stdout(&output), stderr(&output), ws.records());
        assert!(all.contains("MUX_API_KEY: \"***\""), "{all}");
        for value in ["plain-mux-key-123", "plain-tg-token-456"] {
            assert!(
                !all.contains(value),
                "{value} leaked (dry run: {dry_run}): {all}"
            );
        }
    }
}

#[test]
fn a_deploy_with_a_missing_compose_file_fails_before_anything_is_recorded() {
    let ws = Workspace::new();
    let script = ws.script(
        "missing.rhai",
        &format!(r#"phala::deploy("{MUX_CVM}", "no/such/compose.yml", "deploy/mux.env.example");"#),
    );
    let output = ws
        .runbook()
        .args(["run", script.to_str().unwrap(), "--sim"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read compose file no/such/compose.yml"));
    assert!(!ws.events().iter().any(|e| e["event"] == "mutation"));
}

#[test]
fn a_simulated_update_too_fast_to_observe_is_refused() {
    let ws = Workspace::new();
    ws.runbook()
        .args(["run", "update", "--sim"])
        .env("RUNBOOK_SIM_PULL_DELAY", "0s")
        .env("RUNBOOK_SIM_BOOT_DELAY", "0s")
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "an update must take at least 10ms",
        ));
}
