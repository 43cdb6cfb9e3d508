//! The state of the simulated world: apps, their CVMs, and the containers inside them.
//!
//! `World → apps → CVMs → containers (+ volumes)`. Time moves lazily: every operation records
//! when its phases end, and [`World::tick`] brings the world up to a given instant. That keeps
//! the world a plain serialisable value (for `--state DIR`) with no background tasks.
//!
//! Later parts of the simulation (mux-server and OpenClaw behaviour, SSH, a registry) hang
//! their state on [`Container`] (`env`, `logs`) and [`Volume`] (`data`), and react to
//! containers starting in [`SimCvm::start_containers`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::compose;
use super::faults::CvmCondition;
use crate::clients::phala::envcrypt;

/// How long the phases of an operation take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From accepting an update to having the new images (the VM restarts and pulls).
    pub pull_delay: Duration,
    /// From having the images (or from a start/restart) to `running`.
    pub boot_delay: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            pull_delay: Duration::from_secs(1),
            boot_delay: Duration::from_secs(2),
        }
    }
}

/// An answer the API should give instead of success.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub detail: Value,
}

impl ApiError {
    pub fn new(status: u16, detail: impl Into<Value>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct World {
    /// The gateway domain every CVM's `<app_id>-<port>.<domain>` names hang off.
    pub gateway_domain: String,
    pub workspace: Workspace,
    pub user: User,
    pub apps: Vec<App>,
    pub next_legacy_id: u64,
    /// Monotonic counter for container ids and correlation ids, so runs are reproducible.
    pub serial: u64,
    /// Set when something changed since the last save.
    #[serde(skip)]
    pub dirty: bool,
}

/// An app: the unit the env encryption key belongs to. Usually one CVM, more with replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    /// 40 hex, without `app_`.
    pub app_id: String,
    pub name: String,
    pub created_at_ms: u64,
    /// The app's X25519 secret (hex). Its public key is the `encrypted_env_pubkey`.
    pub env_secret: String,
    pub cvms: Vec<SimCvm>,
}

impl App {
    pub fn env_secret_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        if let Ok(bytes) = hex::decode(&self.env_secret)
            && bytes.len() == 32
        {
            out.copy_from_slice(&bytes);
        }
        out
    }

    pub fn env_pubkey(&self) -> String {
        envcrypt::public_key_hex(&self.env_secret_bytes())
    }
}

/// The app-compose document a CVM runs; its hash is the CVM's `compose_hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppCompose {
    pub allowed_envs: Vec<String>,
    pub docker_compose_file: String,
    pub features: Vec<String>,
    pub gateway_enabled: bool,
    pub kms_enabled: bool,
    pub manifest_version: u32,
    pub name: String,
    pub pre_launch_script: Option<String>,
    pub public_logs: bool,
    pub public_sysinfo: bool,
    pub runner: String,
    pub salt: String,
}

impl AppCompose {
    /// sha256 of the app-compose JSON, as dstack measures it.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(
            serde_json::to_vec(self).expect("serialisable"),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Update,
    Start,
    Stop,
    Restart,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Update => "update",
            OpKind::Start => "start",
            OpKind::Stop => "stop",
            OpKind::Restart => "restart",
        }
    }
}

/// An operation in flight on a CVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub kind: OpKind,
    pub correlation_id: String,
    pub started_at_ms: u64,
    /// When the images are pulled (updates only; equal to `started_at_ms` otherwise).
    pub pulled_at_ms: u64,
    /// When the CVM reaches its target status.
    pub done_at_ms: u64,
    pub pulled: bool,
    pub never_ready: bool,
    pub pull_fail: bool,
}

impl Operation {
    pub fn target(&self) -> &'static str {
        match self.kind {
            OpKind::Stop => "stopped",
            _ => "running",
        }
    }
}

/// What happened to a CVM, oldest first: lets tests assert that an update was applied once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub kind: OpKind,
    pub correlation_id: String,
    pub at_ms: u64,
    /// `running`, `stopped`, `error: …`, or `None` while in flight.
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvVar {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimCvm {
    /// The integer id of the legacy API shape.
    pub legacy_id: u64,
    /// The opaque id of the v2026-01-21 shape.
    pub id: String,
    pub name: String,
    pub app_id: String,
    /// Dashed UUID v4.
    pub vm_uuid: String,
    /// 40 hex, without `instance_`.
    pub instance_id: String,
    pub status: String,
    pub compose: AppCompose,
    pub compose_hash: String,
    /// The decrypted env, as the CVM sees it after the last accepted PATCH.
    pub env: Vec<EnvVar>,
    pub encrypted_env: Option<String>,
    pub containers: Vec<Container>,
    pub volumes: BTreeMap<String, Volume>,
    pub operation: Option<Operation>,
    pub boot_error: Option<String>,
    /// When the CVM last reached `running` (for `uptime`).
    pub running_since_ms: Option<u64>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    pub vcpu: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
    pub instance_type: String,
    pub node_id: u64,
    pub node_name: String,
    pub region: String,
    pub base_image: String,
    pub os_image_hash: String,
    /// The VM's serial console.
    pub serial_log: Vec<LogEntry>,
    pub history: Vec<OperationRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// 64 hex, as Docker.
    pub id: String,
    pub name: String,
    /// The compose service it was created from.
    pub service: String,
    /// The image reference after interpolation.
    pub image: String,
    /// `sha256:<hex>` (the image config id, not the manifest digest).
    pub image_id: String,
    /// Docker's state: `created`, `running`, `restarting`, `exited`.
    pub state: String,
    pub created_ms: u64,
    pub started_at_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub restart_count: u32,
    /// The environment after compose interpolation.
    pub env: BTreeMap<String, String>,
    pub ports: Vec<String>,
    pub logs: Vec<LogEntry>,
}

/// Containers keep at most this many log lines.
pub const MAX_LOG_LINES: usize = 5000;

impl Container {
    pub fn log(&mut self, now_ms: u64, channel: &str, text: impl Into<String>) {
        push_log(&mut self.logs, now_ms, channel, text.into());
    }

    /// Docker's human status: `Up 3 minutes`, `Exited (1) 2 seconds ago`, `Created`.
    pub fn status_text(&self, now_ms: u64) -> String {
        match self.state.as_str() {
            "running" => format!(
                "Up {}",
                human_duration(now_ms.saturating_sub(self.started_at_ms.unwrap_or(now_ms)))
            ),
            "exited" => format!("Exited ({}) ", self.exit_code.unwrap_or(0)) + "recently",
            "restarting" => format!("Restarting ({})", self.exit_code.unwrap_or(1)),
            _ => "Created".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub ts_ms: u64,
    /// `stdout` or `stderr`.
    pub channel: String,
    pub text: String,
}

fn push_log(logs: &mut Vec<LogEntry>, ts_ms: u64, channel: &str, text: String) {
    logs.push(LogEntry {
        ts_ms,
        channel: channel.to_string(),
        text,
    });
    if logs.len() > MAX_LOG_LINES {
        let excess = logs.len() - MAX_LOG_LINES;
        logs.drain(..excess);
    }
}

/// A named Docker volume; survives updates and restarts, removed only on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created_ms: u64,
    /// Free-form contents for the services that use it (e.g. a mux database).
    pub data: BTreeMap<String, Value>,
}

/// Where a CVM lives in the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CvmRef {
    pub app: usize,
    pub cvm: usize,
}

/// The body of a PATCH, already decoded.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    pub docker_compose_file: Option<String>,
    pub allowed_envs: Option<Vec<String>>,
    pub encrypted_env: Option<String>,
    pub pre_launch_script: Option<String>,
    pub public_logs: Option<bool>,
    pub public_sysinfo: Option<bool>,
}

/// The default world's compose files, shipped in `deploy/`.
pub const OPENCLAW_COMPOSE: &str = include_str!("../../deploy/docker-compose.yml");
pub const MUX_COMPOSE: &str = include_str!("../../deploy/mux-server-compose.yml");
pub const OPENCLAW_ENV_EXAMPLE: &str = include_str!("../../deploy/openclaw.env.example");
pub const MUX_ENV_EXAMPLE: &str = include_str!("../../deploy/mux.env.example");

/// Names of the default world's CVMs. Only the mux one contains `mux`.
pub const OPENCLAW_CVM: &str = "openclaw-prod";
pub const MUX_CVM: &str = "mux-server-prod";

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

fn uuid_v4_from(bytes: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl World {
    /// An empty world with a workspace and a gateway domain.
    pub fn empty() -> World {
        World {
            gateway_domain: "dstack-sim.phala.invalid".into(),
            workspace: Workspace {
                id: "ws_sim".into(),
                name: "Simulated workspace".into(),
                slug: "sim".into(),
            },
            user: User {
                id: "user_sim".into(),
                username: "operator".into(),
                email: "operator@example.invalid".into(),
            },
            apps: Vec::new(),
            next_legacy_id: 1001,
            serial: 0,
            dirty: true,
        }
    }

    /// The default world: one running CVM for OpenClaw and one for mux-server, with the
    /// repository's compose files and the example env files.
    pub fn default_world(now_ms: u64) -> World {
        let mut w = World::empty();
        let parse = |text: &str, name: &str| {
            crate::clients::envfile::parse_env_str(text, name)
                .expect("example env files parse")
                .into_iter()
                .map(|(k, v)| (k, v.expose().to_string()))
                .collect::<Vec<_>>()
        };
        w.add_app(
            OPENCLAW_CVM,
            OPENCLAW_COMPOSE,
            &parse(OPENCLAW_ENV_EXAMPLE, "openclaw.env.example"),
            now_ms,
        )
        .expect("the OpenClaw compose file is valid");
        w.add_app(
            MUX_CVM,
            MUX_COMPOSE,
            &parse(MUX_ENV_EXAMPLE, "mux.env.example"),
            now_ms,
        )
        .expect("the mux compose file is valid");
        w
    }

    /// Adds an app with one running CVM. Ids derive from the name, so a world built the same
    /// way always has the same ids.
    pub fn add_app(
        &mut self,
        name: &str,
        compose_yaml: &str,
        env: &[(String, String)],
        now_ms: u64,
    ) -> Result<CvmRef, String> {
        if self.find_by_name(name).is_some() {
            return Err(format!("a CVM named {name:?} already exists"));
        }
        let app_id = hex::encode(&digest(&["app", name])[..20]);
        let env_secret = hex::encode(digest(&["env-key", &app_id]));
        let legacy_id = self.next_legacy_id;
        self.next_legacy_id += 1;
        let compose = AppCompose {
            allowed_envs: env.iter().map(|(k, _)| k.clone()).collect(),
            docker_compose_file: compose_yaml.to_string(),
            features: vec!["kms".into(), "tproxy-net".into()],
            gateway_enabled: true,
            kms_enabled: true,
            manifest_version: 2,
            name: name.to_string(),
            pre_launch_script: None,
            public_logs: true,
            public_sysinfo: true,
            runner: "docker-compose".into(),
            salt: hex::encode(&digest(&["salt", name])[..16]),
        };
        let mut cvm = SimCvm {
            legacy_id,
            id: format!("cvm_{}", hex::encode(&digest(&["id", name])[..12])),
            name: name.to_string(),
            app_id: app_id.clone(),
            vm_uuid: uuid_v4_from(&digest(&["vm", name])),
            instance_id: hex::encode(&digest(&["instance", name])[..20]),
            status: "running".into(),
            compose_hash: compose.hash(),
            compose,
            env: env
                .iter()
                .map(|(k, v)| EnvVar {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            encrypted_env: None,
            containers: Vec::new(),
            volumes: BTreeMap::new(),
            operation: None,
            boot_error: None,
            running_since_ms: Some(now_ms),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            vcpu: 2,
            memory_mb: 4096,
            disk_gb: 40,
            instance_type: "tdx.medium".into(),
            node_id: 7,
            node_name: "sim-node-7".into(),
            region: "sim-1".into(),
            base_image: "dstack-0.5.3".into(),
            os_image_hash: hex::encode(digest(&["os", "dstack-0.5.3"])),
            serial_log: Vec::new(),
            history: Vec::new(),
        };
        cvm.serial(now_ms, "dstack OS booted");
        cvm.start_containers(&mut self.serial, now_ms)?;
        for c in cvm.containers.iter_mut() {
            c.state = "running".into();
            c.started_at_ms = Some(now_ms);
        }
        self.apps.push(App {
            app_id,
            name: name.to_string(),
            created_at_ms: now_ms,
            env_secret,
            cvms: vec![cvm],
        });
        self.dirty = true;
        Ok(CvmRef {
            app: self.apps.len() - 1,
            cvm: 0,
        })
    }

    pub fn find_by_name(&self, name: &str) -> Option<CvmRef> {
        self.refs().find(|r| self.cvm(*r).name == name)
    }

    /// Every CVM in the world.
    pub fn refs(&self) -> impl Iterator<Item = CvmRef> + '_ {
        self.apps
            .iter()
            .enumerate()
            .flat_map(|(a, app)| (0..app.cvms.len()).map(move |c| CvmRef { app: a, cvm: c }))
    }

    pub fn cvm(&self, r: CvmRef) -> &SimCvm {
        &self.apps[r.app].cvms[r.cvm]
    }

    pub fn cvm_mut(&mut self, r: CvmRef) -> &mut SimCvm {
        &mut self.apps[r.app].cvms[r.cvm]
    }

    pub fn app(&self, r: CvmRef) -> &App {
        &self.apps[r.app]
    }

    /// Finds a CVM by any identifier the API accepts: UUID with or without dashes, app id
    /// with or without `app_` (the app's first CVM), `instance_<hex>` or bare instance id, the
    /// opaque id, the legacy integer id, or the name. Hex comparisons ignore case.
    pub fn resolve(&self, id: &str) -> Option<CvmRef> {
        let id = id.trim();
        let lower = id.to_ascii_lowercase();
        let dashless = lower.replace('-', "");
        if dashless.len() == 32
            && dashless.bytes().all(|b| b.is_ascii_hexdigit())
            && let Some(r) = self
                .refs()
                .find(|r| self.cvm(*r).vm_uuid.replace('-', "") == dashless)
        {
            return Some(r);
        }
        let hex40 = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(app) = lower.strip_prefix("app_").filter(|s| hex40(s)) {
            return self.refs().find(|r| self.cvm(*r).app_id == app);
        }
        if let Some(inst) = lower.strip_prefix("instance_").filter(|s| hex40(s)) {
            return self.refs().find(|r| self.cvm(*r).instance_id == inst);
        }
        if hex40(&lower) {
            if let Some(r) = self.refs().find(|r| self.cvm(*r).app_id == lower) {
                return Some(r);
            }
            if let Some(r) = self.refs().find(|r| self.cvm(*r).instance_id == lower) {
                return Some(r);
            }
        }
        if let Ok(n) = id.parse::<u64>()
            && let Some(r) = self.refs().find(|r| self.cvm(*r).legacy_id == n)
        {
            return Some(r);
        }
        self.refs().find(|r| {
            let c = self.cvm(*r);
            c.id == id || c.name == id
        })
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// A correlation id shaped like the real ones (a UUID), unique within this world.
    pub fn new_correlation_id(&mut self, now_ms: u64) -> String {
        let n = self.next_serial();
        uuid_v4_from(&digest(&[
            "correlation",
            &n.to_string(),
            &now_ms.to_string(),
        ]))
    }

    /// Brings every CVM up to `now_ms`.
    pub fn tick(&mut self, now_ms: u64) {
        let mut serial = self.serial;
        let mut changed = false;
        for app in self.apps.iter_mut() {
            for cvm in app.cvms.iter_mut() {
                changed |= cvm.advance(&mut serial, now_ms);
            }
        }
        self.serial = serial;
        self.dirty |= changed;
    }

    /// Accepts a PATCH: decrypts and checks the env, stores the new compose and env, and
    /// starts the update. Returns the correlation id.
    pub fn begin_update(
        &mut self,
        r: CvmRef,
        req: UpdateRequest,
        conditions: &[CvmCondition],
        timing: Timing,
        now_ms: u64,
    ) -> Result<String, ApiError> {
        self.tick(now_ms);
        let secret = self.app(r).env_secret_bytes();
        let cvm = self.cvm(r);
        busy_check(cvm)?;
        let compose_text = req
            .docker_compose_file
            .clone()
            .unwrap_or_else(|| cvm.compose.docker_compose_file.clone());
        compose::parse(&compose_text).map_err(|e| {
            ApiError::new(
                422,
                json!([{"loc": ["body", "docker_compose_file"], "msg": e, "type": "value_error"}]),
            )
        })?;
        let allowed = req
            .allowed_envs
            .clone()
            .unwrap_or_else(|| cvm.compose.allowed_envs.clone());
        let env = match &req.encrypted_env {
            Some(hex_env) => {
                let env = envcrypt::decrypt_env(hex_env, &secret).map_err(|e| {
                    ApiError::new(400, format!("encrypted_env rejected: {}", e.message))
                })?;
                if let Some((bad, _)) = env.iter().find(|(k, _)| !allowed.contains(k)) {
                    return Err(ApiError::new(
                        422,
                        json!([{"loc": ["body", "encrypted_env"], "msg": format!("env var {bad} is not in allowed_envs"), "type": "value_error"}]),
                    ));
                }
                Some(
                    env.into_iter()
                        .map(|(key, value)| EnvVar {
                            key,
                            value: value.expose().to_string(),
                        })
                        .collect::<Vec<_>>(),
                )
            }
            None => None,
        };
        let correlation_id = self.new_correlation_id(now_ms);
        let cvm = self.cvm_mut(r);
        cvm.compose.docker_compose_file = compose_text;
        cvm.compose.allowed_envs = allowed;
        if let Some(p) = req.pre_launch_script {
            cvm.compose.pre_launch_script = Some(p);
        }
        if let Some(b) = req.public_logs {
            cvm.compose.public_logs = b;
        }
        if let Some(b) = req.public_sysinfo {
            cvm.compose.public_sysinfo = b;
        }
        cvm.compose_hash = cvm.compose.hash();
        if let Some(env) = env {
            cvm.env = env;
            cvm.encrypted_env = req.encrypted_env;
        }
        cvm.updated_at_ms = now_ms;
        cvm.begin(OpKind::Update, &correlation_id, conditions, timing, now_ms);
        self.dirty = true;
        Ok(correlation_id)
    }

    /// Starts a lifecycle operation (start, stop, restart).
    pub fn begin_lifecycle(
        &mut self,
        r: CvmRef,
        kind: OpKind,
        conditions: &[CvmCondition],
        timing: Timing,
        now_ms: u64,
    ) -> Result<String, ApiError> {
        self.tick(now_ms);
        busy_check(self.cvm(r))?;
        let correlation_id = self.new_correlation_id(now_ms);
        let cvm = self.cvm_mut(r);
        let kind = match (kind, cvm.status.as_str()) {
            (OpKind::Restart, "stopped") => OpKind::Start,
            (k, _) => k,
        };
        cvm.begin(kind, &correlation_id, conditions, timing, now_ms);
        cvm.updated_at_ms = now_ms;
        self.dirty = true;
        Ok(correlation_id)
    }
}

fn busy_check(cvm: &SimCvm) -> Result<(), ApiError> {
    match &cvm.operation {
        Some(op) => Err(ApiError::new(
            409,
            json!({
                "error_code": "ERR-03-005",
                "message": format!("CVM {} is busy: an {} operation is in progress", cvm.name, op.kind.as_str()),
                "details": [{"field": "correlation_id", "value": op.correlation_id}],
                "suggestions": ["Wait for the current operation to finish, then try again"],
            }),
        )),
        None => Ok(()),
    }
}

impl SimCvm {
    pub fn serial(&mut self, now_ms: u64, text: impl Into<String>) {
        push_log(&mut self.serial_log, now_ms, "serial", text.into());
    }

    pub fn env_map(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }

    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    pub fn container(&self, name: &str) -> Option<&Container> {
        let bare = name.trim_start_matches('/');
        self.containers.iter().find(|c| c.name == bare)
    }

    pub fn container_mut(&mut self, name: &str) -> Option<&mut Container> {
        let bare = name.trim_start_matches('/');
        self.containers.iter_mut().find(|c| c.name == bare)
    }

    fn begin(
        &mut self,
        kind: OpKind,
        correlation_id: &str,
        conditions: &[CvmCondition],
        timing: Timing,
        now_ms: u64,
    ) {
        // Saturating: an absurd delay means "never", not an overflow.
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let pulled_at_ms = if kind == OpKind::Update {
            now_ms.saturating_add(ms(timing.pull_delay))
        } else {
            now_ms
        };
        let done_at_ms = match kind {
            OpKind::Stop => now_ms.saturating_add(ms(timing.boot_delay) / 2),
            _ => pulled_at_ms.saturating_add(ms(timing.boot_delay)),
        };
        let booting = kind != OpKind::Stop;
        self.operation = Some(Operation {
            kind,
            correlation_id: correlation_id.to_string(),
            started_at_ms: now_ms,
            pulled_at_ms,
            done_at_ms,
            pulled: kind != OpKind::Update,
            never_ready: booting && conditions.contains(&CvmCondition::NeverReady),
            pull_fail: booting && conditions.contains(&CvmCondition::PullFail),
        });
        self.boot_error = None;
        self.status = match kind {
            OpKind::Update => "updating",
            OpKind::Start => "starting",
            OpKind::Stop => "stopping",
            OpKind::Restart => "restarting",
        }
        .into();
        self.history.push(OperationRecord {
            kind,
            correlation_id: correlation_id.to_string(),
            at_ms: now_ms,
            outcome: None,
        });
        self.serial(
            now_ms,
            format!(
                "{} requested (correlation id {correlation_id})",
                kind.as_str()
            ),
        );
        if matches!(kind, OpKind::Stop | OpKind::Restart) {
            self.stop_containers(now_ms, 0);
        }
    }

    fn finish(&mut self, now_ms: u64, outcome: String) {
        if let Some(op) = self.operation.take()
            && let Some(rec) = self
                .history
                .iter_mut()
                .rev()
                .find(|h| h.correlation_id == op.correlation_id)
        {
            rec.outcome = Some(outcome);
        }
        self.updated_at_ms = now_ms;
    }

    fn fail(&mut self, now_ms: u64, error: String) {
        self.status = "error".into();
        self.running_since_ms = None;
        self.serial(now_ms, format!("boot failed: {error}"));
        self.boot_error = Some(error.clone());
        self.finish(now_ms, format!("error: {error}"));
    }

    fn stop_containers(&mut self, now_ms: u64, exit_code: i32) {
        for c in self.containers.iter_mut().filter(|c| c.state != "exited") {
            c.state = "exited".into();
            c.exit_code = Some(exit_code);
            c.log(
                now_ms,
                "stdout",
                format!("{} received SIGTERM, shutting down", c.service),
            );
        }
        self.running_since_ms = None;
    }

    /// Moves the operation in flight along; returns whether anything changed.
    fn advance(&mut self, serial: &mut u64, now_ms: u64) -> bool {
        let Some(op) = self.operation.clone() else {
            return false;
        };
        let mut changed = false;
        if !op.pulled && now_ms >= op.pulled_at_ms {
            changed = true;
            if op.pull_fail {
                let image = compose::parse(&self.compose.docker_compose_file)
                    .ok()
                    .and_then(|s| s.services.first().map(|s| s.image.clone()))
                    .unwrap_or_default();
                self.stop_containers(op.pulled_at_ms, 137);
                self.containers.clear();
                self.fail(
                    op.pulled_at_ms,
                    format!("failed to pull image {image}: manifest unknown: manifest unknown"),
                );
                return true;
            }
            self.stop_containers(op.pulled_at_ms, 0);
            self.serial(op.pulled_at_ms, "images pulled; creating containers");
            if let Err(e) = self.start_containers(serial, op.pulled_at_ms) {
                self.containers.clear();
                self.fail(op.pulled_at_ms, e);
                return true;
            }
            self.status = "starting".into();
            if let Some(o) = self.operation.as_mut() {
                o.pulled = true;
            }
        }
        if now_ms >= op.done_at_ms && self.operation.as_ref().is_some_and(|o| o.pulled) {
            if op.never_ready {
                for c in self
                    .containers
                    .iter_mut()
                    .filter(|c| c.state != "restarting")
                {
                    c.state = "restarting".into();
                    c.exit_code = Some(1);
                    c.log(
                        op.done_at_ms,
                        "stderr",
                        "health check failed: service did not become ready",
                    );
                    changed = true;
                }
                return changed;
            }
            changed = true;
            if op.kind == OpKind::Stop {
                self.status = "stopped".into();
                self.serial(op.done_at_ms, "VM stopped");
                self.finish(op.done_at_ms, "stopped".into());
            } else {
                if op.kind != OpKind::Update
                    && self.containers.is_empty()
                    && let Err(e) = self.start_containers(serial, op.done_at_ms)
                {
                    self.fail(op.done_at_ms, e);
                    return true;
                }
                for c in self.containers.iter_mut() {
                    if c.state != "running" {
                        c.state = "running".into();
                        c.exit_code = None;
                        if c.started_at_ms.is_some() {
                            c.restart_count += 1;
                        }
                        c.started_at_ms = Some(op.done_at_ms);
                        c.log(
                            op.done_at_ms,
                            "stdout",
                            format!("{} started from {}", c.service, c.image),
                        );
                    }
                }
                self.status = "running".into();
                self.running_since_ms = Some(op.done_at_ms);
                self.serial(op.done_at_ms, "app is running");
                self.finish(op.done_at_ms, "running".into());
            }
        }
        changed
    }

    /// Recreates the containers from the current compose file and env, in state `created`.
    /// A compose interpolation failure (a required variable without a value) is returned as
    /// the boot error `docker compose` would print.
    pub fn start_containers(&mut self, serial: &mut u64, now_ms: u64) -> Result<(), String> {
        let spec = compose::parse(&self.compose.docker_compose_file)?;
        let env = self.env_map();
        let mut containers = Vec::new();
        for svc in &spec.services {
            let image =
                compose::interpolate(&svc.image, &env, &format!("services.{}.image", svc.service))?;
            let mut cenv = BTreeMap::new();
            for (key, value) in &svc.environment {
                let value = match value {
                    Some(v) => compose::interpolate(
                        v,
                        &env,
                        &format!("services.{}.environment.{key}", svc.service),
                    )?,
                    None => match env.get(key) {
                        Some(v) => v.clone(),
                        None => continue,
                    },
                };
                cenv.insert(key.clone(), value);
            }
            *serial += 1;
            let id = hex::encode(digest(&[
                "container",
                &self.vm_uuid,
                &svc.service,
                &serial.to_string(),
            ]));
            let mut c = Container {
                id,
                name: svc.container_name.clone(),
                service: svc.service.clone(),
                image_id: format!("sha256:{}", hex::encode(digest(&["image", &image]))),
                image,
                state: "created".into(),
                created_ms: now_ms,
                started_at_ms: None,
                exit_code: None,
                restart_count: 0,
                env: cenv,
                ports: svc.ports.clone(),
                logs: Vec::new(),
            };
            c.log(
                now_ms,
                "stdout",
                format!("{} starting ({})", c.service, c.image),
            );
            containers.push(c);
        }
        for v in spec.volumes {
            self.volumes.entry(v.clone()).or_insert_with(|| Volume {
                name: v,
                created_ms: now_ms,
                data: BTreeMap::new(),
            });
        }
        self.containers = containers;
        Ok(())
    }

    pub fn uptime(&self, now_ms: u64) -> Option<String> {
        self.running_since_ms
            .filter(|_| self.status == "running")
            .map(|since| human_duration(now_ms.saturating_sub(since)))
    }
}

/// `45 seconds`, `3 minutes`, `2 hours`, `4 days`, as Docker and uptime displays say it.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} seconds"),
        60..=3599 => format!("{} minutes", s / 60),
        3600..=86399 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

/// RFC 3339 UTC for a unix time in milliseconds.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(T0), "2026-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn default_world_matches_the_roles() {
        let w = World::default_world(T0);
        let names: Vec<&str> = w.refs().map(|r| w.cvm(r).name.as_str()).collect();
        assert_eq!(names, vec![OPENCLAW_CVM, MUX_CVM]);
        assert_eq!(names.iter().filter(|n| n.contains("mux")).count(), 1);
        let mux = w.cvm(w.find_by_name(MUX_CVM).unwrap());
        assert_eq!(mux.status, "running");
        let c = mux.container("mux-server").expect("mux-server container");
        assert_eq!(c.state, "running");
        assert!(c.image.contains("@sha256:"));
        assert!(mux.volumes.contains_key("mux_data"));
        assert_eq!(
            c.env.get("MUX_API_KEY").map(String::as_str),
            mux.env_value("MUX_API_KEY")
        );
        let oc = w.cvm(w.find_by_name(OPENCLAW_CVM).unwrap());
        assert!(oc.container("openclaw").is_some());
    }

    #[test]
    fn every_id_form_resolves() {
        let w = World::default_world(T0);
        let r = w.find_by_name(MUX_CVM).unwrap();
        let c = w.cvm(r).clone();
        for form in [
            c.vm_uuid.clone(),
            c.vm_uuid.replace('-', ""),
            c.vm_uuid.to_uppercase(),
            c.app_id.clone(),
            format!("app_{}", c.app_id),
            format!("instance_{}", c.instance_id),
            c.instance_id.clone(),
            c.id.clone(),
            c.legacy_id.to_string(),
            c.name.clone(),
        ] {
            assert_eq!(w.resolve(&form), Some(r), "{form}");
        }
        assert_eq!(w.resolve("nope-cvm"), None);
    }

    #[test]
    fn an_update_goes_through_its_phases() {
        let mut w = World::default_world(T0);
        let r = w.find_by_name(OPENCLAW_CVM).unwrap();
        let timing = Timing {
            pull_delay: Duration::from_millis(100),
            boot_delay: Duration::from_millis(200),
        };
        let old_hash = w.cvm(r).compose_hash.clone();
        let new_compose = OPENCLAW_COMPOSE.replace("18789", "18790");
        let req = UpdateRequest {
            docker_compose_file: Some(new_compose.clone()),
            ..Default::default()
        };
        let corr = w
            .begin_update(r, req.clone(), &[], timing, T0 + 10)
            .unwrap();
        assert_eq!(w.cvm(r).status, "updating");
        assert_ne!(w.cvm(r).compose_hash, old_hash);
        assert_eq!(
            w.begin_update(r, req, &[], timing, T0 + 20)
                .unwrap_err()
                .status,
            409
        );
        w.tick(T0 + 120);
        assert_eq!(w.cvm(r).status, "starting");
        w.tick(T0 + 400);
        let cvm = w.cvm(r);
        assert_eq!(cvm.status, "running");
        assert!(cvm.operation.is_none());
        assert_eq!(cvm.history.last().unwrap().correlation_id, corr);
        assert_eq!(
            cvm.history.last().unwrap().outcome.as_deref(),
            Some("running")
        );
        assert!(cvm.containers.iter().all(|c| c.state == "running"));
    }

    #[test]
    fn pull_failures_and_missing_required_env_end_in_error() {
        let mut w = World::default_world(T0);
        let r = w.find_by_name(MUX_CVM).unwrap();
        let timing = Timing {
            pull_delay: Duration::from_millis(10),
            boot_delay: Duration::from_millis(10),
        };
        w.begin_update(
            r,
            UpdateRequest::default(),
            &[CvmCondition::PullFail],
            timing,
            T0,
        )
        .unwrap();
        w.tick(T0 + 100);
        assert_eq!(w.cvm(r).status, "error");
        assert!(
            w.cvm(r)
                .boot_error
                .as_deref()
                .unwrap()
                .contains("failed to pull image")
        );

        // An env without MUX_API_KEY makes compose refuse to create the container.
        w.cvm_mut(r).env.retain(|e| e.key != "MUX_API_KEY");
        w.begin_update(r, UpdateRequest::default(), &[], timing, T0 + 200)
            .unwrap();
        w.tick(T0 + 300);
        let err = w.cvm(r).boot_error.clone().unwrap();
        assert!(
            err.contains("required variable MUX_API_KEY is missing a value"),
            "{err}"
        );
    }
}
