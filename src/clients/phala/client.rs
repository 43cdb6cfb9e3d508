//! The typed HTTP client of the Phala Cloud API.
//!
//! Reads are retried on transient failures (5xx, 408, 429, timeouts, dropped connections) with
//! exponential backoff and jitter. Mutations are never blindly repeated: when a PATCH or a
//! lifecycle call fails in a way that may have reached the server, the client reads the CVM
//! first and only sends the call again if the CVM shows no sign of it.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::PhalaConfig;
use super::envcrypt;
use super::errors::{SYSTEM, api_error, transport_error};
use super::ids::cvm_path_segment;
use super::types::{Baseline, Composition, Container, Cvm, CvmSummary, Deployment, LogLine};
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;

/// The response shape the server should use; it shapes `GET /cvms/{id}` by this header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// The CLI's default, used by `cvms get`, `--wait`, `logs`, `cvms list`.
    V2026_01_21,
    /// The legacy shape `phala deploy` always uses (integer `id`, top-level
    /// `encrypted_env_pubkey`).
    V2025_10_28,
}

impl ApiVersion {
    pub fn header_value(self) -> &'static str {
        match self {
            ApiVersion::V2026_01_21 => "2026-01-21",
            ApiVersion::V2025_10_28 => "2025-10-28",
        }
    }
}

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts for one call, the first included.
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (0-based), with jitter so that many clients do
    /// not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        crate::backoff::delay(self.initial_backoff, 2.0, self.max_backoff, attempt, true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Per-request limit (the CLI uses 30 s).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// A Phala Cloud API client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct PhalaClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// For log endpoints, which are not the API and must not see the API key.
    plain: reqwest::Client,
    base_url: String,
    options: ClientOptions,
}

impl std::fmt::Debug for PhalaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhalaClient")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

/// One failed attempt: the error, and how long the server asked us to wait (`Retry-After`).
type Failure = (Error, Option<Duration>);

/// The answer to a mutation: either the server's, or the CVM state that proved a call whose
/// answer was lost had been applied.
enum Outcome {
    Answered(Value),
    Recovered(Box<Cvm>),
}

fn build_error(e: reqwest::Error) -> Error {
    Error::new(
        ErrorKind::Invalid,
        SYSTEM,
        format!("cannot build the HTTP client: {e}"),
    )
}

/// Compose file plus pre-launch script may not exceed this (the CLI refuses beyond it).
pub const MAX_COMPOSE_BYTES: usize = 200 * 1024;

impl PhalaClient {
    pub fn new(config: PhalaConfig) -> Result<PhalaClient> {
        PhalaClient::with_options(config, ClientOptions::default())
    }

    pub fn with_options(config: PhalaConfig, options: ClientOptions) -> Result<PhalaClient> {
        let mut headers = HeaderMap::new();
        let mut key = HeaderValue::from_str(config.api_key.expose()).map_err(|_| {
            Error::new(
                ErrorKind::Auth,
                SYSTEM,
                "the Phala Cloud API key contains characters that cannot be sent in a header",
            )
            .with_hint("check PHALA_CLOUD_API_KEY for stray quotes or newlines")
        })?;
        key.set_sensitive(true);
        headers.insert("X-API-Key", key);
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(build_error)?;
        let plain = reqwest::Client::builder()
            .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
            .timeout(options.request_timeout)
            .build()
            .map_err(build_error)?;
        Ok(PhalaClient {
            inner: Arc::new(Inner {
                http,
                plain,
                base_url: config.base_url.trim_end_matches('/').to_string(),
                options,
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    // ---- transport -------------------------------------------------------------------------

    /// Sends one request to the API and returns the body of a 2xx answer.
    async fn send_once(
        &self,
        method: Method,
        path: &str,
        version: ApiVersion,
        body: Option<&Value>,
        cvm: Option<&str>,
    ) -> std::result::Result<String, Failure> {
        let url = format!("{}{}", self.inner.base_url, path);
        let mut req = self
            .inner
            .http
            .request(method.clone(), &url)
            .header("X-Phala-Version", version.header_value());
        if let Some(body) = body {
            req = req.json(body);
        }
        let started = std::time::Instant::now();
        let resp = req.send().await.map_err(|e| {
            (
                transport_error(method.as_str(), path, &self.inner.base_url, &e),
                None,
            )
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.map_err(|e| {
            (
                transport_error(method.as_str(), path, &self.inner.base_url, &e),
                None,
            )
        })?;
        tracing::debug!(target: "phala", %method, path, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "phala api");
        if status.is_success() {
            Ok(text)
        } else {
            Err((
                api_error(method.as_str(), path, status.as_u16(), &text, cvm),
                retry_after,
            ))
        }
    }

    fn pause(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.inner.options.retry.backoff(attempt);
        match retry_after {
            Some(ra) => ra.min(Duration::from_secs(5)).max(backoff),
            None => backoff,
        }
    }

    /// A request that is safe to repeat (a read): retried on transient failures.
    async fn idempotent(
        &self,
        method: Method,
        path: &str,
        version: ApiVersion,
        body: Option<&Value>,
        cvm: Option<&str>,
    ) -> Result<Value> {
        let attempts = self.inner.options.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            match self
                .send_once(method.clone(), path, version, body, cvm)
                .await
            {
                Ok(text) => return parse_json(method.as_str(), path, &text),
                Err((e, retry_after)) if e.is_transient() && attempt + 1 < attempts => {
                    tracing::debug!(target: "phala", error = %e.message, attempt, "retrying");
                    tokio::time::sleep(self.pause(attempt, retry_after)).await;
                    attempt += 1;
                }
                Err((mut e, _)) => {
                    if e.is_transient() && attempts > 1 {
                        e.message.push_str(&format!(" (after {attempts} attempts)"));
                    }
                    return Err(e);
                }
            }
        }
    }

    /// A request that changes the CVM. On a failure that may have reached the server, read the
    /// CVM and let `applied` decide whether the call took effect before sending it again.
    async fn mutation(
        &self,
        method: Method,
        path: &str,
        version: ApiVersion,
        body: Option<&Value>,
        cvm: &str,
        applied: impl Fn(&Cvm) -> bool,
    ) -> Result<Outcome> {
        let attempts = self.inner.options.retry.attempts.max(1);
        let mut attempt = 0;
        loop {
            let (e, retry_after) = match self
                .send_once(method.clone(), path, version, body, Some(cvm))
                .await
            {
                Ok(text) => {
                    return Ok(Outcome::Answered(parse_json(method.as_str(), path, &text)?));
                }
                Err(failure) => failure,
            };
            if !e.is_transient() {
                return Err(e);
            }
            // The call may have been applied even though its answer was lost: look first.
            let state = self.get_cvm(cvm).await.map_err(|ge| {
                let mut err = e.clone();
                err.message.push_str(&format!(
                    "; whether it was applied is unknown, because reading the CVM failed too: {}",
                    ge.message
                ));
                err.hint = Some(format!(
                    "check the CVM with `phala cvms get {cvm} --json` before repeating the operation"
                ));
                err
            })?;
            if applied(&state) {
                tracing::info!(target: "phala", cvm, "the answer was lost but the CVM shows the operation was applied; not repeating it");
                return Ok(Outcome::Recovered(Box::new(state)));
            }
            if attempt + 1 >= attempts {
                let mut err = e;
                err.message.push_str(&format!(
                    " (after {attempts} attempts; the CVM shows no sign of the operation)"
                ));
                return Err(err);
            }
            tracing::debug!(target: "phala", error = %e.message, attempt, "not applied; retrying");
            tokio::time::sleep(self.pause(attempt, retry_after)).await;
            attempt += 1;
        }
    }

    // ---- reads -----------------------------------------------------------------------------

    /// The raw JSON of `GET /cvms/{id}` in the given shape, for fields [`Cvm`] does not carry.
    pub async fn get_cvm_json(&self, id: &str, version: ApiVersion) -> Result<Value> {
        let seg = cvm_path_segment(id)?;
        self.idempotent(
            Method::GET,
            &format!("/cvms/{seg}"),
            version,
            None,
            Some(id),
        )
        .await
    }

    /// One CVM by UUID (with or without dashes), app id (with or without `app_`),
    /// `instance_…` id, opaque id or name.
    pub async fn get_cvm(&self, id: &str) -> Result<Cvm> {
        Cvm::from_json(&self.get_cvm_json(id, ApiVersion::V2026_01_21).await?)
    }

    /// One poll of a CVM: a single attempt, for loops that do their own retrying.
    pub(crate) async fn poll_cvm(&self, id: &str) -> Result<Cvm> {
        let seg = cvm_path_segment(id)?;
        let text = self
            .send_once(
                Method::GET,
                &format!("/cvms/{seg}"),
                ApiVersion::V2026_01_21,
                None,
                Some(id),
            )
            .await
            .map_err(|(e, _)| e)?;
        Cvm::from_json(&parse_json("GET", &format!("/cvms/{seg}"), &text)?)
    }

    /// Every CVM of every app in the workspace, replicas included, with live status.
    pub async fn list_cvms(&self) -> Result<Vec<CvmSummary>> {
        let mut out: Vec<CvmSummary> = Vec::new();
        let mut page = 1u64;
        loop {
            let path = format!("/apps?page={page}&page_size=100");
            let v = self
                .idempotent(Method::GET, &path, ApiVersion::V2026_01_21, None, None)
                .await?;
            let apps = v
                .get("dstack_apps")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Remote,
                        SYSTEM,
                        format!("GET {path}: the answer has no dstack_apps list"),
                    )
                })?;
            for app in apps {
                let mut cvms: Vec<&Value> = app
                    .get("cvms")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                if cvms.is_empty()
                    && let Some(current) = app.get("current_cvm").filter(|c| c.is_object())
                {
                    cvms.push(current);
                }
                for c in cvms {
                    let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
                    out.push(CvmSummary {
                        id: s("id"),
                        name: s("name").unwrap_or_default(),
                        app_id: s("app_id")
                            .or_else(|| {
                                app.get("app_id")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                            })
                            .unwrap_or_default()
                            .trim_start_matches("app_")
                            .to_string(),
                        vm_uuid: s("vm_uuid"),
                        status: s("status").unwrap_or_else(|| "unknown".into()),
                        uptime: None,
                        in_progress: c.get("progress").is_some_and(|p| p.is_object()),
                        base_domain: c
                            .pointer("/gateway/base_domain")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    });
                }
            }
            let total_pages = v.get("total_pages").and_then(Value::as_u64).unwrap_or(1);
            if page >= total_pages || apps.is_empty() {
                break;
            }
            page += 1;
        }
        let uuids: Vec<String> = out.iter().filter_map(|c| c.vm_uuid.clone()).collect();
        for chunk in uuids.chunks(100) {
            let body = json!({ "vm_uuids": chunk });
            // A read, although it is a POST: safe to repeat.
            let statuses = self
                .idempotent(
                    Method::POST,
                    "/status/batch",
                    ApiVersion::V2026_01_21,
                    Some(&body),
                    None,
                )
                .await?;
            for cvm in out.iter_mut() {
                let Some(st) = cvm.vm_uuid.as_ref().and_then(|u| statuses.get(u)) else {
                    continue;
                };
                if let Some(status) = st.get("status").and_then(Value::as_str) {
                    cvm.status = status.to_string();
                }
                cvm.uptime = st.get("uptime").and_then(Value::as_str).map(str::to_string);
                cvm.in_progress = st
                    .get("in_progress")
                    .and_then(Value::as_bool)
                    .unwrap_or(cvm.in_progress);
            }
        }
        Ok(out)
    }

    /// The containers running in a CVM.
    pub async fn composition(&self, id: &str) -> Result<Composition> {
        let seg = cvm_path_segment(id)?;
        let path = format!("/cvms/{seg}/composition");
        let v = self
            .idempotent(Method::GET, &path, ApiVersion::V2026_01_21, None, Some(id))
            .await?;
        let containers = match v.get("containers") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|c| serde_json::from_value::<Container>(c.clone()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Remote,
                        SYSTEM,
                        format!("GET {path}: unexpected container entry: {e}"),
                    )
                })?,
            _ => Vec::new(),
        };
        Ok(Composition {
            is_online: v.get("is_online").and_then(Value::as_bool).unwrap_or(false),
            is_public: v.get("is_public").and_then(Value::as_bool).unwrap_or(false),
            error: v.get("error").and_then(Value::as_str).map(str::to_string),
            docker_compose_file: v
                .get("docker_compose_file")
                .and_then(Value::as_str)
                .map(str::to_string),
            containers,
        })
    }

    /// The last `tail` lines of a container's log, both channels, in order.
    pub async fn log_lines(&self, id: &str, container: &str, tail: usize) -> Result<Vec<LogLine>> {
        let composition = self.composition(id).await?;
        if composition.containers.is_empty() {
            return Err(Error::new(ErrorKind::NotFound, SYSTEM, format!("CVM {id} reports no containers"))
                .with_hint(format!("the app may still be starting or failed to start; check `phala cvms get {id}` and `phala logs --serial --cvm-id {id}`")));
        }
        let Some(found) = composition
            .containers
            .iter()
            .find(|c| c.has_name(container))
        else {
            let names: Vec<&str> = composition.containers.iter().map(Container::name).collect();
            return Err(Error::new(
                ErrorKind::NotFound,
                SYSTEM,
                format!(
                    "container {container:?} not found on CVM {id}; it has: {}",
                    names.join(", ")
                ),
            )
            .with_hint("use the container name from the compose file (container_name)"));
        };
        let Some(endpoint) = found.log_endpoint.as_deref() else {
            return Err(Error::new(
                ErrorKind::Remote,
                SYSTEM,
                format!("container {container:?} on CVM {id} has no log endpoint"),
            )
            .with_hint(
                "logs may be private: enable public logs for the CVM (`public_logs`) to read them",
            ));
        };
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{endpoint}{sep}tail={tail}&lines={tail}");
        let body = self.fetch_log_endpoint(&url).await?;
        decode_log_body(&body)
    }

    /// A container's stdout, as text: the stdout lines among the last `tail` lines of the log
    /// (the guest agent counts both channels, as `phala logs --tail` does).
    pub async fn logs(&self, id: &str, container: &str, tail: usize) -> Result<String> {
        Ok(self
            .log_lines(id, container, tail)
            .await?
            .into_iter()
            .filter(|l| l.channel == "stdout")
            .map(|l| l.text)
            .collect())
    }

    /// GETs a log endpoint. It is served by the CVM's guest agent through the gateway, not by
    /// the API, so the API key is deliberately not sent there.
    async fn fetch_log_endpoint(&self, url: &str) -> Result<String> {
        let attempts = self.inner.options.retry.attempts.max(1);
        let path = url.split('?').next().unwrap_or(url).to_string();
        let mut attempt = 0;
        loop {
            let result: std::result::Result<String, Error> = async {
                let resp = self
                    .inner
                    .plain
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| transport_error("GET", &path, "log endpoint", &e))?;
                let status = resp.status();
                let text = resp
                    .text()
                    .await
                    .map_err(|e| transport_error("GET", &path, "log endpoint", &e))?;
                if status == StatusCode::OK {
                    Ok(text)
                } else {
                    Err(api_error("GET", &path, status.as_u16(), &text, None))
                }
            }
            .await;
            match result {
                Ok(text) => return Ok(text),
                Err(e) if e.is_transient() && attempt + 1 < attempts => {
                    tokio::time::sleep(self.pause(attempt, None)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    // ---- mutations -------------------------------------------------------------------------

    /// `POST /cvms/{id}/start`.
    pub async fn start(&self, id: &str) -> Result<Deployment> {
        self.lifecycle(id, "start", None).await
    }

    /// `POST /cvms/{id}/stop`.
    pub async fn stop(&self, id: &str) -> Result<Deployment> {
        self.lifecycle(id, "stop", None).await
    }

    /// `POST /cvms/{id}/restart` with `{"force": false}`.
    pub async fn restart(&self, id: &str) -> Result<Deployment> {
        self.lifecycle(id, "restart", Some(json!({ "force": false })))
            .await
    }

    async fn lifecycle(&self, id: &str, action: &str, body: Option<Value>) -> Result<Deployment> {
        let before = Baseline::of(&self.get_cvm(id).await?);
        let seg = cvm_path_segment(id)?;
        let path = format!("/cvms/{seg}/{action}");
        let outcome = self
            .mutation(
                Method::POST,
                &path,
                ApiVersion::V2026_01_21,
                body.as_ref(),
                id,
                |cvm| changed_since(cvm, &before),
            )
            .await?;
        Ok(Deployment {
            cvm: id.to_string(),
            correlation_id: match &outcome {
                Outcome::Answered(v) => v
                    .get("correlation_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                Outcome::Recovered(cvm) => {
                    cvm.progress.as_ref().and_then(|p| p.correlation_id.clone())
                }
            },
            recovered: matches!(outcome, Outcome::Recovered(_)),
            before,
        })
    }

    /// Updates an existing CVM with a new compose file and env, as `phala deploy --cvm-id`
    /// does: the env is encrypted to the app's key and its names sent as `allowed_envs`. An
    /// empty `env` leaves the CVM's env alone (the CLI then sends neither field).
    pub async fn deploy(
        &self,
        id: &str,
        compose_yaml: &str,
        env: &[(String, Secret)],
    ) -> Result<Deployment> {
        if compose_yaml.trim().is_empty() {
            return Err(Error::invalid(SYSTEM, "the compose file is empty"));
        }
        if compose_yaml.len() > MAX_COMPOSE_BYTES {
            return Err(Error::invalid(
                SYSTEM,
                format!(
                    "the compose file is {} KiB; Phala Cloud accepts at most 200 KiB",
                    compose_yaml.len() / 1024
                ),
            ));
        }
        envcrypt::validate_env(env)?;
        let cvm = self.get_cvm(id).await?;
        let before = Baseline::of(&cvm);
        let mut body = json!({ "docker_compose_file": compose_yaml });
        if !env.is_empty() {
            if cvm.kms_chain_id.is_some() {
                return Err(Error::invalid(
                    SYSTEM,
                    format!(
                        "CVM {} uses an on-chain KMS, whose updates need an on-chain transaction",
                        cvm.name
                    ),
                )
                .with_hint("deploy this CVM with `phala deploy --cvm-id <id> --private-key …`"));
            }
            let pubkey = match cvm.env_pubkey.clone() {
                Some(k) => k,
                None => self
                    .get_cvm_json(id, ApiVersion::V2025_10_28)
                    .await?
                    .get("encrypted_env_pubkey")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::new(ErrorKind::Remote, SYSTEM, format!("CVM {} reports no encrypted_env_pubkey, which centralized KMS requires", cvm.name))
                    })?,
            };
            let encrypted = envcrypt::encrypt_env(env, &pubkey)?;
            body["allowed_envs"] = json!(env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>());
            body["encrypted_env"] = json!(encrypted);
        }
        let seg = cvm_path_segment(id)?;
        let path = format!("/cvms/{seg}");
        let outcome = self
            .mutation(
                Method::PATCH,
                &path,
                ApiVersion::V2025_10_28,
                Some(&body),
                id,
                |now| {
                    now.compose_file.as_deref() == Some(compose_yaml)
                        && (before.compose_file.as_deref() != Some(compose_yaml)
                            || changed_since(now, &before))
                },
            )
            .await?;
        let (correlation_id, recovered) = match outcome {
            Outcome::Answered(v) => {
                let id = v
                    .get("correlation_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if id.is_none() {
                    tracing::warn!(target: "phala", "the update was accepted without a correlation id");
                }
                (id, false)
            }
            Outcome::Recovered(cvm) => (cvm.progress.clone().and_then(|p| p.correlation_id), true),
        };
        Ok(Deployment {
            cvm: id.to_string(),
            correlation_id,
            before,
            recovered,
        })
    }
}

/// Whether the CVM shows an effect of some operation since `before`: another status, another
/// compose hash, or a new operation in progress.
pub(crate) fn changed_since(cvm: &Cvm, before: &Baseline) -> bool {
    let new_progress = cvm
        .progress
        .as_ref()
        .and_then(|p| p.correlation_id.as_ref())
        .is_some_and(|id| Some(id) != before.progress_correlation_id.as_ref());
    cvm.status != before.status || cvm.compose_hash != before.compose_hash || new_progress
}

fn parse_json(method: &str, path: &str, text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| {
        Error::new(
            ErrorKind::Remote,
            SYSTEM,
            format!("{method} {path}: the answer is not JSON: {e}"),
        )
        .with_hint("PHALA_CLOUD_API_PREFIX may point at something other than the Phala Cloud API")
    })
}

/// Decodes a guest-agent log body as the CLI does: JSON lines of
/// `{"channel","message":<base64>}` when it starts with `{`, plain stdout text otherwise.
pub fn decode_log_body(body: &str) -> Result<Vec<LogLine>> {
    use base64::Engine;
    if !body.trim_start().starts_with('{') {
        return Ok(if body.is_empty() {
            Vec::new()
        } else {
            vec![LogLine {
                channel: "stdout".into(),
                text: body.to_string(),
            }]
        });
    }
    let mut out = Vec::new();
    for (n, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            Error::new(
                ErrorKind::Remote,
                SYSTEM,
                format!("log line {} is not JSON: {e}", n + 1),
            )
        })?;
        if let Some(err) = v.get("error").and_then(Value::as_str) {
            return Err(Error::new(
                ErrorKind::Remote,
                SYSTEM,
                format!("the log endpoint reported: {err}"),
            ));
        }
        let channel = v
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or("stdout")
            .to_string();
        let message = v.get("message").and_then(Value::as_str).unwrap_or("");
        let looks_base64 = !message.is_empty()
            && message.len().is_multiple_of(4)
            && message
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        let text = if looks_base64 {
            match base64::engine::general_purpose::STANDARD.decode(message) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => message.to_string(),
            }
        } else {
            message.to_string()
        };
        out.push(LogLine { channel, text });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_body_json_lines_and_plain_text() {
        let body = "{\"channel\":\"stdout\",\"message\":\"aGVsbG8K\"}\n{\"channel\":\"stderr\",\"message\":\"b29wcwo=\"}\n{\"channel\":\"stdout\",\"message\":\"not base64!\"}\n";
        let lines = decode_log_body(body).unwrap();
        assert_eq!(
            lines[0],
            LogLine {
                channel: "stdout".into(),
                text: "hello\n".into()
            }
        );
        assert_eq!(
            lines[1],
            LogLine {
                channel: "stderr".into(),
                text: "oops\n".into()
            }
        );
        assert_eq!(lines[2].text, "not base64!");
        assert_eq!(
            decode_log_body("plain\ntext\n").unwrap()[0].text,
            "plain\ntext\n"
        );
        let err = decode_log_body("{\"error\":\"container not found\"}\n").unwrap_err();
        assert!(err.message.contains("container not found"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        assert!(p.backoff(0) <= Duration::from_millis(100));
        assert!(p.backoff(0) >= Duration::from_millis(50));
        assert!(p.backoff(10) <= Duration::from_millis(300));
        assert!(p.backoff(10) >= Duration::from_millis(150));
    }
}
