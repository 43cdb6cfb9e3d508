//! The Phala Cloud client against the simulated cloud, over loopback HTTP.

mod common;

use std::time::Duration;

use common::{assert_mentions, client, fault, start_sim};
use runbook::clients::envfile::parse_env_str;
use runbook::clients::phala::{
    ApiVersion, Baseline, Deployment, PhalaClient, PhalaConfig, WaitOptions, envcrypt,
};
use runbook::error::ErrorKind;
use runbook::secret::Secret;
use runbook::sim::world::{MUX_COMPOSE, MUX_CVM, OPENCLAW_COMPOSE, OPENCLAW_CVM, OpKind};
use runbook::sim::{Sim, SimHandle};
use serde_json::{Value, json};

const WAIT: WaitOptions = WaitOptions {
    timeout: Duration::from_secs(10),
    initial_interval: Duration::from_millis(50),
    max_interval: Duration::from_millis(200),
};

fn mux_env() -> Vec<(String, Secret)> {
    parse_env_str(
        "MUX_API_KEY=\"new shared key\"\nTELEGRAM_BOT_TOKEN=123:abc$def\nDISCORD_BOT_TOKEN='d-token'\n",
        "mux.env",
    )
    .unwrap()
}

fn new_mux_compose() -> String {
    MUX_COMPOSE.replace("6ee929b1159259b1", "0000000000000001")
}

fn updates(sim: &SimHandle, name: &str) -> usize {
    let w = sim.world();
    let r = w.find_by_name(name).unwrap();
    w.cvm(r)
        .history
        .iter()
        .filter(|h| h.kind == OpKind::Update)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_cvm_by_every_identifier_form() {
    let sim = start_sim().await;
    let c = client(&sim);
    let (uuid, app_id, instance_id, id) = {
        let w = sim.world();
        let cvm = w.cvm(w.find_by_name(MUX_CVM).unwrap()).clone();
        (cvm.vm_uuid, cvm.app_id, cvm.instance_id, cvm.id)
    };
    for form in [
        MUX_CVM.to_string(),
        uuid.clone(),
        uuid.replace('-', ""),
        app_id.clone(),
        format!("app_{app_id}"),
        format!("instance_{instance_id}"),
        id.clone(),
    ] {
        let cvm = c
            .get_cvm(&form)
            .await
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(cvm.name, MUX_CVM, "{form}");
        assert_eq!(cvm.app_id, app_id);
        assert_eq!(cvm.vm_uuid.as_deref(), Some(uuid.as_str()));
        assert_eq!(cvm.id, id);
    }
    let cvm = c.get_cvm(MUX_CVM).await.unwrap();
    assert_eq!(cvm.status, "running");
    assert_eq!(cvm.compose_file.as_deref(), Some(MUX_COMPOSE));
    assert_eq!(cvm.compose_hash.as_ref().map(String::len), Some(64));
    let domain = cvm.base_domain.clone().unwrap();
    assert_eq!(
        cvm.public_url(18891).unwrap(),
        format!("https://{app_id}-18891.{domain}")
    );
    assert_eq!(
        cvm.ssh_host_container().unwrap(),
        format!("{app_id}-1022.{domain}")
    );
    assert_eq!(cvm.ssh_host_vm().unwrap(), format!("{app_id}-22.{domain}"));
    let map = serde_json::to_value(&cvm).unwrap();
    assert_eq!(map["name"], MUX_CVM, "Cvm serialises as a map for scripts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_cvm_bad_identifier_and_bad_key_are_clear() {
    let sim = start_sim().await;
    let c = client(&sim);
    let err = c.get_cvm("no-such-cvm").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_mentions(&err.message, "CVM no-such-cvm not found");
    assert!(err.hint.unwrap().contains("phala cvms list"));

    let err = c.get_cvm("a/b").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);

    let wrong = PhalaClient::new(PhalaConfig::new(
        sim.phala_api_prefix(),
        Secret::new("phak_wrong"),
    ))
    .unwrap();
    let err = wrong.get_cvm(MUX_CVM).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_mentions(&err.message, "Invalid API key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_composition_and_logs() {
    let sim = start_sim().await;
    let c = client(&sim);
    let list = c.list_cvms().await.unwrap();
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec![OPENCLAW_CVM, MUX_CVM]);
    assert!(
        list.iter()
            .all(|s| s.status == "running" && !s.in_progress && s.uptime.is_some())
    );

    let comp = c.composition(MUX_CVM).await.unwrap();
    assert!(comp.is_online);
    assert_eq!(comp.containers.len(), 1);
    assert_eq!(comp.containers[0].name(), "mux-server");
    assert!(
        comp.containers[0]
            .log_endpoint
            .as_deref()
            .unwrap()
            .starts_with(&sim.base_url())
    );

    {
        let mut w = sim.world();
        let r = w.find_by_name(MUX_CVM).unwrap();
        let container = w.cvm_mut(r).container_mut("mux-server").unwrap();
        for i in 0..10 {
            container.log(0, "stdout", format!("line {i}"));
        }
        container.log(0, "stderr", "an error line");
    }
    let text = c.logs(MUX_CVM, "mux-server", 5).await.unwrap();
    assert_eq!(text, "line 6\nline 7\nline 8\nline 9\n");
    let lines = c.log_lines(MUX_CVM, "/mux-server", 1).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].channel.as_str(), lines[0].text.as_str()),
        ("stderr", "an error line\n")
    );

    let err = c.logs(MUX_CVM, "openclaw", 5).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_mentions(&err.message, "it has: mux-server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_encrypts_the_env_and_waits_for_the_new_deployment() {
    let sim = start_sim().await;
    let c = client(&sim);
    let before = c.get_cvm(MUX_CVM).await.unwrap();
    let compose = new_mux_compose();
    let env = mux_env();
    let dep = c.deploy(MUX_CVM, &compose, &env).await.unwrap();
    assert!(dep.correlation_id.is_some());
    assert!(!dep.recovered);
    assert_eq!(dep.before.compose_hash, before.compose_hash);

    // The status leaves `running` as soon as the update is accepted.
    let now = c.get_cvm(MUX_CVM).await.unwrap();
    assert_eq!(now.status, "updating");
    assert_eq!(
        now.progress.as_ref().unwrap().correlation_id,
        dep.correlation_id
    );

    let mut seen = Vec::new();
    let ready = c
        .wait_ready(MUX_CVM, &dep, WAIT, |cvm| seen.push(cvm.status.clone()))
        .await
        .unwrap();
    assert_eq!(ready.status, "running");
    assert!(ready.progress.is_none());
    assert_ne!(ready.compose_hash, before.compose_hash);
    assert_eq!(ready.compose_file.as_deref(), Some(compose.as_str()));
    assert_eq!(
        ready.allowed_envs,
        vec!["MUX_API_KEY", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"]
    );
    assert!(seen.iter().any(|s| s != "running"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("running"));

    let w = sim.world();
    let cvm = w.cvm(w.find_by_name(MUX_CVM).unwrap());
    let decrypted: Vec<(String, String)> = cvm
        .env
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    assert_eq!(
        decrypted,
        vec![
            ("MUX_API_KEY".to_string(), "new shared key".to_string()),
            ("TELEGRAM_BOT_TOKEN".to_string(), "123:abc$def".to_string()),
            ("DISCORD_BOT_TOKEN".to_string(), "d-token".to_string()),
        ]
    );
    let container = cvm.container("mux-server").unwrap();
    assert_eq!(container.state, "running");
    assert!(container.image.contains("@sha256:0000000000000001"));
    assert_eq!(container.env["MUX_API_KEY"], "new shared key");
    assert_eq!(
        cvm.history
            .iter()
            .filter(|h| h.kind == OpKind::Update)
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_running_is_never_taken_for_readiness() {
    let sim = start_sim().await;
    let c = client(&sim);
    let cvm = c.get_cvm(OPENCLAW_CVM).await.unwrap();
    // A deployment the server never acted on: the CVM keeps reporting the old `running`.
    let dep = Deployment {
        cvm: OPENCLAW_CVM.into(),
        correlation_id: Some("never-sent".into()),
        before: Baseline::of(&cvm),
        recovered: false,
    };
    let err = wait_error(&c, OPENCLAW_CVM, &dep, 700).await;
    assert_eq!(err.kind, ErrorKind::Remote);
    assert_mentions(&err.message, "showed no sign of the operation");
    assert_mentions(&err.message, "last status seen: \"running\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_never_becomes_ready_times_out_with_the_last_status() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault(&format!("cvm={MUX_CVM}:never-ready:times=1")))
        .unwrap();
    let dep = c
        .deploy(MUX_CVM, &new_mux_compose(), &mux_env())
        .await
        .unwrap();
    let err = wait_error(&c, MUX_CVM, &dep, 1500).await;
    assert_eq!(err.kind, ErrorKind::Remote);
    assert_mentions(&err.message, "was not running after 1.5s");
    assert_mentions(&err.message, "last status seen: \"starting\"");
    assert!(err.hint.unwrap().contains("phala logs"));
    assert!(sim.faults().is_empty(), "times=1 consumed the fault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_fails_to_pull_ends_the_wait_with_the_boot_error() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault(&format!("cvm={OPENCLAW_CVM}:pull-fail")))
        .unwrap();
    let dep = c.deploy(OPENCLAW_CVM, OPENCLAW_COMPOSE, &[]).await.unwrap();
    let err = c
        .wait_ready(OPENCLAW_CVM, &dep, WAIT, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Remote);
    assert!(
        err.message
            .contains("status \"error\": failed to pull image ghcr.io/openclaw/openclaw@sha256:"),
        "{}",
        err.message
    );
    let comp = c.composition(OPENCLAW_CVM).await.unwrap();
    assert!(comp.error.unwrap().contains("failed to pull image"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_variable_fails_the_boot_like_compose() {
    let sim = start_sim().await;
    let c = client(&sim);
    let env: Vec<(String, Secret)> = vec![("MUX_API_KEY".into(), Secret::new("k"))];
    let dep = c.deploy(MUX_CVM, MUX_COMPOSE, &env).await.unwrap();
    let err = c.wait_ready(MUX_CVM, &dep, WAIT, |_| {}).await.unwrap_err();
    assert_mentions(
        &err.message,
        "required variable TELEGRAM_BOT_TOKEN is missing a value: set TELEGRAM_BOT_TOKEN",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_stop_start_restart() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault("phala:post:path=/cvms/*/stop:status=503:times=1"))
        .unwrap();
    let dep = c.stop(OPENCLAW_CVM).await.unwrap();
    assert!(!dep.recovered);
    let stopped = c
        .wait_status(OPENCLAW_CVM, &dep, "stopped", WAIT, |_| {})
        .await
        .unwrap();
    assert_eq!(stopped.status, "stopped");
    {
        let w = sim.world();
        assert_eq!(
            w.cvm(w.find_by_name(OPENCLAW_CVM).unwrap()).containers[0].state,
            "exited"
        );
    }

    let dep = c.start(OPENCLAW_CVM).await.unwrap();
    assert_eq!(
        c.wait_ready(OPENCLAW_CVM, &dep, WAIT, |_| {})
            .await
            .unwrap()
            .status,
        "running"
    );

    let dep = c.restart(OPENCLAW_CVM).await.unwrap();
    assert_eq!(c.get_cvm(OPENCLAW_CVM).await.unwrap().status, "restarting");
    assert_eq!(
        c.wait_ready(OPENCLAW_CVM, &dep, WAIT, |_| {})
            .await
            .unwrap()
            .status,
        "running"
    );
    let w = sim.world();
    let kinds: Vec<OpKind> = w
        .cvm(w.find_by_name(OPENCLAW_CVM).unwrap())
        .history
        .iter()
        .map(|h| h.kind)
        .collect();
    assert_eq!(kinds, vec![OpKind::Stop, OpKind::Start, OpKind::Restart]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_cvm_answers_conflict() {
    let sim = start_sim().await;
    let c = client(&sim);
    c.deploy(MUX_CVM, &new_mux_compose(), &mux_env())
        .await
        .unwrap();
    let err = c.restart(MUX_CVM).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(
        err.message
            .contains("is busy: an update operation is in progress"),
        "{}",
        err.message
    );
    assert!(err.hint.unwrap().contains("Wait for the current operation"));
}

// ---- faults ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_read_failures_are_retried() {
    let sim = start_sim().await;
    let c = client(&sim);
    for text in [
        "phala:get:status=503:times=2",
        "phala:get:status=500:times=1",
        "phala:get:status=429:times=1",
        "phala:get:drop:times=2",
    ] {
        sim.inject(fault(text)).unwrap();
        let cvm = c
            .get_cvm(MUX_CVM)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(cvm.name, MUX_CVM);
        assert!(sim.faults().is_empty(), "{text} was consumed by retries");
    }
    sim.inject(fault("gateway:status=502:times=1")).unwrap();
    sim.inject(fault("gateway:drop:times=1")).unwrap();
    c.logs(MUX_CVM, "mux-server", 3).await.unwrap();
    assert!(sim.faults().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failures_end_with_a_clear_error() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault("phala:get:status=503")).unwrap();
    let err = c.get_cvm(MUX_CVM).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_eq!(err.status, Some(503));
    assert!(
        err.message
            .contains("Service Unavailable (simulated fault) (after 4 attempts)"),
        "{}",
        err.message
    );
    sim.clear_faults();

    sim.inject(fault("phala:get:drop")).unwrap();
    let err = c.get_cvm(MUX_CVM).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert_mentions(&err.message, "GET /cvms/mux-server-prod");
    sim.clear_faults();

    sim.inject(fault("phala:get:path=/cvms/*:status=409:times=1"))
        .unwrap();
    let err = c.get_cvm(MUX_CVM).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "409 is not retried");
    assert_mentions(&err.message, "ERR-03-005");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_are_waited_for_or_timed_out_and_retried() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault("phala:get:slow=300ms:times=1")).unwrap();
    let started = std::time::Instant::now();
    c.get_cvm(MUX_CVM).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Longer than the client's 2 s request timeout: the first attempt times out, the retry works.
    sim.inject(fault("phala:get:slow=3s:times=1")).unwrap();
    c.get_cvm(MUX_CVM).await.unwrap();

    // A PATCH that times out is checked against the CVM before it is sent again.
    sim.inject(fault("phala:patch:slow=3s:times=1")).unwrap();
    let dep = c
        .deploy(MUX_CVM, &new_mux_compose(), &mux_env())
        .await
        .unwrap();
    assert!(dep.correlation_id.is_some());
    assert_eq!(updates(&sim, MUX_CVM), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_lost_before_reaching_the_cloud_is_sent_again() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault("phala:patch:drop:times=1")).unwrap();
    let dep = c
        .deploy(MUX_CVM, &new_mux_compose(), &mux_env())
        .await
        .unwrap();
    assert!(!dep.recovered);
    assert!(dep.correlation_id.is_some());
    assert_eq!(updates(&sim, MUX_CVM), 1);

    c.wait_ready(MUX_CVM, &dep, WAIT, |_| {}).await.unwrap();
    for (i, text) in [
        "phala:patch:status=503:times=1",
        "phala:patch:status=429:times=1",
    ]
    .into_iter()
    .enumerate()
    {
        sim.inject(fault(text)).unwrap();
        let compose = MUX_COMPOSE.replace("6ee929b1159259b1", &format!("{:016x}", i + 100));
        let dep = c.deploy(MUX_CVM, &compose, &mux_env()).await.unwrap();
        assert!(!dep.recovered, "{text}");
        assert_eq!(updates(&sim, MUX_CVM), i + 2, "{text}");
        assert!(sim.faults().is_empty());
        c.wait_ready(MUX_CVM, &dep, WAIT, |_| {}).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_applied_but_unanswered_is_not_repeated() {
    let sim = start_sim().await;
    let c = client(&sim);
    for (i, text) in [
        "phala:patch:drop:after:times=1",
        "phala:patch:status=502:after:times=1",
    ]
    .into_iter()
    .enumerate()
    {
        sim.inject(fault(text)).unwrap();
        let compose = MUX_COMPOSE.replace("6ee929b1159259b1", &format!("{:016x}", i + 7));
        let dep = c
            .deploy(MUX_CVM, &compose, &mux_env())
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(dep.recovered, "{text}");
        assert_eq!(
            updates(&sim, MUX_CVM),
            i + 1,
            "{text}: the PATCH was applied exactly once"
        );
        let world_corr = {
            let w = sim.world();
            w.cvm(w.find_by_name(MUX_CVM).unwrap())
                .history
                .last()
                .unwrap()
                .correlation_id
                .clone()
        };
        assert_eq!(dep.correlation_id.as_deref(), Some(world_corr.as_str()));
        let ready = c.wait_ready(MUX_CVM, &dep, WAIT, |_| {}).await.unwrap();
        assert_eq!(ready.compose_file.as_deref(), Some(compose.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_rejected_with_conflict_or_validation_is_not_retried() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault("phala:patch:status=409:times=2")).unwrap();
    let err = c
        .deploy(MUX_CVM, &new_mux_compose(), &mux_env())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(updates(&sim, MUX_CVM), 0);
    assert_eq!(sim.faults().len(), 1, "only one PATCH was sent");
    sim.clear_faults();

    let err = c
        .deploy(MUX_CVM, "services: [", &mux_env())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert_mentions(&err.message, "Validation failed: invalid YAML");
    assert_mentions(&err.message, "(at body.docker_compose_file)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifecycle_call_applied_but_unanswered_is_not_repeated() {
    let sim = start_sim().await;
    let c = client(&sim);
    sim.inject(fault("phala:post:path=/cvms/*/restart:drop:after:times=1"))
        .unwrap();
    let dep = c.restart(OPENCLAW_CVM).await.unwrap();
    assert!(dep.recovered);
    c.wait_ready(OPENCLAW_CVM, &dep, WAIT, |_| {})
        .await
        .unwrap();
    let w = sim.world();
    assert_eq!(
        w.cvm(w.find_by_name(OPENCLAW_CVM).unwrap()).history.len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_that_fail_transiently_do_not_end_the_wait() {
    let sim = start_sim().await;
    let c = client(&sim);
    let dep = c.deploy(OPENCLAW_CVM, OPENCLAW_COMPOSE, &[]).await.unwrap();
    sim.inject(fault("phala:get:status=503:times=3")).unwrap();
    sim.inject(fault("phala:get:drop:skip=1:times=1")).unwrap();
    let ready = c
        .wait_ready(OPENCLAW_CVM, &dep, WAIT, |_| {})
        .await
        .unwrap();
    assert_eq!(ready.status, "running");
}

// ---- the simulator's own contract -----------------------------------------------------------

async fn raw(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    version: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{}", sim.phala_api_prefix(), path))
        .header("X-API-Key", sim.api_key())
        .header("X-Phala-Version", version);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_response_shapes_publish_the_app_key() {
    let sim = start_sim().await;
    let (s, legacy) = raw(
        &sim,
        reqwest::Method::GET,
        &format!("/cvms/{MUX_CVM}"),
        "2025-10-28",
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (_, v2026) = raw(
        &sim,
        reqwest::Method::GET,
        &format!("/cvms/{MUX_CVM}"),
        "2026-01-21",
        None,
    )
    .await;
    assert!(legacy["id"].is_u64());
    assert!(v2026["id"].is_string());
    let key = legacy["encrypted_env_pubkey"].as_str().unwrap();
    assert_eq!(
        v2026["kms_info"]["encrypted_env_pubkey"].as_str(),
        Some(key)
    );
    assert_eq!(key.len(), 64);
    assert!(legacy["syslog_endpoint"].as_str().unwrap().contains('?'));
    let (s, body) = raw(
        &sim,
        reqwest::Method::GET,
        "/apps?page_size=500",
        "2026-01-21",
        None,
    )
    .await;
    assert_eq!(s, 422);
    assert!(body["detail"][0]["msg"].as_str().unwrap().contains("100"));
    let (s, me) = raw(&sim, reqwest::Method::GET, "/auth/me", "2026-01-21", None).await;
    assert_eq!(s, 200);
    assert_eq!(me["workspace"]["slug"], "sim");
    let (s, _) = raw(&sim, reqwest::Method::GET, "/cvms/x", "1999-01-01", None).await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_checks_the_env_against_allowed_envs_and_the_app_key() {
    let sim = start_sim().await;
    let c = client(&sim);
    let key = c.get_cvm(MUX_CVM).await.unwrap().env_pubkey.unwrap();
    let env = vec![
        ("MUX_API_KEY".to_string(), Secret::new("a")),
        ("SNEAKY".to_string(), Secret::new("b")),
    ];
    let sealed = envcrypt::encrypt_env(&env, &key).unwrap();
    let body = json!({"docker_compose_file": MUX_COMPOSE, "allowed_envs": ["MUX_API_KEY"], "encrypted_env": sealed});
    let (s, v) = raw(
        &sim,
        reqwest::Method::PATCH,
        &format!("/cvms/{MUX_CVM}"),
        "2025-10-28",
        Some(body),
    )
    .await;
    assert_eq!(s, 422);
    assert!(
        v["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("SNEAKY is not in allowed_envs"),
        "{v}"
    );

    // Sealed to another app's key: the mux app cannot open it.
    let other = c.get_cvm(OPENCLAW_CVM).await.unwrap().env_pubkey.unwrap();
    let sealed = envcrypt::encrypt_env(&env, &other).unwrap();
    let body = json!({"docker_compose_file": MUX_COMPOSE, "allowed_envs": ["MUX_API_KEY", "SNEAKY"], "encrypted_env": sealed});
    let (s, v) = raw(
        &sim,
        reqwest::Method::PATCH,
        &format!("/cvms/{MUX_CVM}"),
        "2025-10-28",
        Some(body),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["detail"].as_str().unwrap().contains("does not decrypt"),
        "{v}"
    );
    assert_eq!(updates(&sim, MUX_CVM), 0);

    // Without an API key nothing is served.
    let resp = reqwest::get(format!("{}/cvms/{MUX_CVM}", sim.phala_api_prefix()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["detail"], "Not authenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_can_be_steered_over_http() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let url = format!("{}/_sim/faults", sim.base_url());
    let resp = http
        .post(&url)
        .body("phala:get:status=42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("\"status=42\""),
        "{err}"
    );

    let resp = http
        .post(&url)
        .json(&json!({"fault": "phala:get:status=503:times=9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let listed: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["fault"], "phala:get:status=503:times=9");
    let err = client(&sim).get_cvm(MUX_CVM).await.unwrap_err();
    assert_eq!(err.status, Some(503));

    assert_eq!(
        http.delete(&url).send().await.unwrap().status().as_u16(),
        204
    );
    client(&sim).get_cvm(MUX_CVM).await.unwrap();

    let resp = http
        .post(&url)
        .body("cvm=nobody-here:never-ready")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    let world: Value = http
        .get(format!("{}/_sim/world", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(world["apps"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_world_persists_in_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let options = || runbook::sim::SimOptions {
        state_dir: Some(dir.path().to_path_buf()),
        ..common::fast_options()
    };
    let sim = Sim::start(options()).await.unwrap();
    let c = client(&sim);
    let dep = c
        .deploy(MUX_CVM, &new_mux_compose(), &mux_env())
        .await
        .unwrap();
    let ready = c.wait_ready(MUX_CVM, &dep, WAIT, |_| {}).await.unwrap();
    sim.shutdown().await;
    assert!(dir.path().join("world.json").exists());

    let sim = Sim::start(options()).await.unwrap();
    let again = client(&sim).get_cvm(MUX_CVM).await.unwrap();
    assert_eq!(again.compose_hash, ready.compose_hash);
    {
        let w = sim.world();
        let cvm = w.cvm(w.find_by_name(MUX_CVM).unwrap());
        assert_eq!(cvm.env_value("MUX_API_KEY"), Some("new shared key"));
    }

    std::fs::write(dir.path().join("world.json"), "{ broken").unwrap();
    let err = Sim::start(options())
        .await
        .err()
        .expect("a broken state file is refused");
    assert!(
        err.message
            .contains("world.json is not a saved simulated world"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_version_header_shapes_get_cvm_json() {
    let sim = start_sim().await;
    let c = client(&sim);
    let legacy = c
        .get_cvm_json(MUX_CVM, ApiVersion::V2025_10_28)
        .await
        .unwrap();
    assert!(legacy["id"].is_u64());
    let current = c
        .get_cvm_json(MUX_CVM, ApiVersion::V2026_01_21)
        .await
        .unwrap();
    assert!(current["gateway"]["base_domain"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_names_route_to_the_guest_agent() {
    let sim = start_sim().await;
    let (app_id, domain) = {
        let w = sim.world();
        let cvm = w.cvm(w.find_by_name(MUX_CVM).unwrap());
        (cvm.app_id.clone(), w.gateway_domain.clone())
    };
    let resp = reqwest::Client::new()
        .get(format!("{}/logs/mux-server?tail=1", sim.base_url()))
        .header("Host", format!("{app_id}-8090.{domain}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let lines = runbook::clients::phala::decode_log_body(&resp.text().await.unwrap()).unwrap();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].text.contains("mux-server"), "{lines:?}");

    let resp = reqwest::get(format!("{}/gateway/{app_id}-18891/health", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        502,
        "no simulated service on that port yet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_clock_can_be_advanced() {
    let sim = Sim::start(runbook::sim::SimOptions {
        pull_delay: Duration::from_secs(600),
        boot_delay: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(&sim);
    let dep = c
        .deploy(MUX_CVM, &new_mux_compose(), &mux_env())
        .await
        .unwrap();
    assert_eq!(c.get_cvm(MUX_CVM).await.unwrap().status, "updating");
    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/clock", sim.base_url()))
        .json(&json!({"advance_ms": 1_200_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let ready = c.wait_ready(MUX_CVM, &dep, WAIT, |_| {}).await.unwrap();
    assert_eq!(ready.status, "running");
}

/// Waits for a deployment that is expected to time out after `timeout_ms`; the error.
async fn wait_error(
    c: &PhalaClient,
    cvm: &str,
    dep: &Deployment,
    timeout_ms: u64,
) -> runbook::error::Error {
    let options = WaitOptions {
        timeout: Duration::from_millis(timeout_ms),
        ..WAIT
    };
    c.wait_ready(cvm, dep, options, |_| {}).await.unwrap_err()
}
