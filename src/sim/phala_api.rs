//! The Phala Cloud API face of the simulated world: the routes and the two response shapes
//! (`X-Phala-Version: 2026-01-21` and `2025-10-28`) the official CLI and our client use.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SimState;
use super::world::{ApiError, App, CvmRef, OpKind, SimCvm, UpdateRequest, World, iso8601};

pub(crate) fn router(state: Arc<SimState>) -> Router {
    let api = Router::new()
        .route("/auth/me", get(auth_me))
        .route("/cvms/{id}", get(get_cvm).patch(patch_cvm))
        .route("/cvms/{id}/composition", get(composition))
        .route("/cvms/{id}/compose_file", get(compose_file))
        .route("/cvms/{id}/state", get(cvm_state))
        .route("/cvms/{id}/{action}", post(lifecycle))
        .route("/apps", get(list_apps))
        .route("/status/batch", post(status_batch))
        .fallback(|| async { error(404, json!("Not Found")) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ))
        .with_state(state);
    Router::new().nest("/api/v1", api)
}

/// A FastAPI-style error answer.
pub(crate) fn error(status: u16, detail: Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(json!({ "detail": detail }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, self.detail)
    }
}

async fn require_api_key(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    match req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        None => error(401, json!("Not authenticated")),
        Some(key) if key != state.api_key => error(401, json!("Invalid API key")),
        Some(_) => next.run(req).await,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    V2026,
    Legacy,
}

fn shape(headers: &HeaderMap) -> Result<Shape, ApiError> {
    match headers.get("x-phala-version").and_then(|v| v.to_str().ok()) {
        Some("2026-01-21") => Ok(Shape::V2026),
        // The real default for an absent header is unknown; legacy is the safer guess.
        Some("2025-10-28") | None => Ok(Shape::Legacy),
        Some(other) => Err(ApiError::new(
            400,
            format!("Unsupported API version: {other}"),
        )),
    }
}

/// `http://<host>` of the request, so absolute URLs point back at this simulator.
fn origin(headers: &HeaderMap, state: &SimState) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| state.addr.to_string());
    format!("http://{host}")
}

fn resolve(world: &World, id: &str) -> Result<CvmRef, ApiError> {
    world.resolve(id).ok_or_else(|| {
        ApiError::new(
            404,
            json!({
                "error_code": "ERR-02-001",
                "message": format!("CVM {id} not found"),
                "details": [{"field": "id", "value": id}],
                "suggestions": ["Check the CVM identifier; list your CVMs with `phala cvms list`"],
            }),
        )
    })
}

/// The guest agent's base URL for an app, as the gateway would publish it.
pub(crate) fn guest_agent_url(origin: &str, app_id: &str) -> String {
    format!("{origin}/gateway/{app_id}-8090")
}

pub(crate) fn cvm_v2026(world: &World, r: CvmRef, origin: &str, now_ms: u64) -> Value {
    let app = world.app(r);
    let c = world.cvm(r);
    let domain = &world.gateway_domain;
    json!({
        "id": c.id,
        "name": c.name,
        "app_id": c.app_id,
        "vm_uuid": c.vm_uuid,
        "instance_id": c.instance_id,
        "resource": {
            "instance_type": c.instance_type, "vcpu": c.vcpu,
            "memory_in_gb": c.memory_mb as f64 / 1024.0, "disk_in_gb": c.disk_gb, "gpus": 0,
            "compute_billing_price": "0.058", "billing_period": "hourly",
        },
        "node_info": {
            "object_type": "node", "id": c.node_id, "name": c.node_name, "region": c.region,
            "device_id": hex::encode([c.node_id as u8; 32]), "ppid": null, "status": "online", "version": "0.5.3",
        },
        "os": { "name": "dstack", "version": "0.5.3", "is_dev": false, "os_image_hash": c.os_image_hash },
        "kms_type": "phala",
        "kms_info": {
            "chain_id": null, "dstack_kms_address": null, "dstack_app_address": null,
            "deployer_address": null, "rpc_endpoint": null, "encrypted_env_pubkey": app.env_pubkey(),
        },
        "status": c.status,
        "progress": c.operation.as_ref().map(|op| json!({
            "target": op.target(), "started_at": iso8601(op.started_at_ms), "correlation_id": op.correlation_id,
        })),
        "compose_hash": c.compose_hash,
        "gateway": { "base_domain": domain, "cname": null },
        "services": [],
        "endpoints": endpoints(c, domain),
        "public_logs": c.compose.public_logs,
        "public_sysinfo": c.compose.public_sysinfo,
        "public_tcbinfo": true,
        "gateway_enabled": c.compose.gateway_enabled,
        "secure_time": false,
        "listed": false,
        "storage_fs": "ext4",
        "workspace": {
            "object_type": "workspace", "id": world.workspace.id, "name": world.workspace.name,
            "slug": world.workspace.slug, "avatar_url": null,
        },
        "creator": { "object_type": "user", "id": world.user.id, "username": world.user.username, "avatar_url": null },
        "compose_file": c.compose,
        // Not in the CLI's schema (it drops it); our client reports it when a boot fails.
        "boot_error": c.boot_error,
        "uptime": c.uptime(now_ms),
        "syslog_endpoint": syslog_endpoint(origin, c),
    })
}

fn endpoints(c: &SimCvm, domain: &str) -> Value {
    let ports: Vec<u16> = super::compose::parse(&c.compose.docker_compose_file)
        .map(|spec| {
            spec.services
                .iter()
                .flat_map(|s| s.ports.iter())
                .filter_map(|p| p.split(':').next().and_then(|h| h.parse().ok()))
                .filter(|p| *p != 1022)
                .collect()
        })
        .unwrap_or_default();
    Value::Array(
        ports
            .into_iter()
            .map(|p| {
                json!({
                    "app": format!("https://{}-{p}.{domain}", c.app_id),
                    "instance": format!("https://{}-{p}.{domain}", c.instance_id),
                })
            })
            .collect(),
    )
}

fn syslog_endpoint(origin: &str, c: &SimCvm) -> String {
    // The CLI appends `&ch=…`, assuming a query string is already there.
    format!("{}/syslog?token=sim", guest_agent_url(origin, &c.app_id))
}

pub(crate) fn cvm_legacy(world: &World, r: CvmRef, origin: &str) -> Value {
    let app = world.app(r);
    let c = world.cvm(r);
    let domain = &world.gateway_domain;
    json!({
        "id": c.legacy_id,
        "name": c.name,
        "status": c.status,
        "in_progress": c.operation.is_some(),
        "teepod_id": c.node_id,
        "teepod": { "id": c.node_id, "name": c.node_name, "region_identifier": c.region },
        "app_id": c.app_id,
        "vm_uuid": c.vm_uuid,
        "instance_id": c.instance_id,
        "vcpu": c.vcpu,
        "memory": c.memory_mb,
        "disk_size": c.disk_gb,
        "base_image": c.base_image,
        "encrypted_env_pubkey": app.env_pubkey(),
        "listed": false,
        "project_id": null,
        "project_type": null,
        "instance_type": c.instance_type,
        "public_sysinfo": c.compose.public_sysinfo,
        "public_logs": c.compose.public_logs,
        "dapp_dashboard_url": null,
        "syslog_endpoint": syslog_endpoint(origin, c),
        "kms_info": {
            "id": "kms_sim", "slug": "phala-sim", "url": "https://kms.sim.phala.invalid", "version": "0.5.3",
            "chain_id": null, "kms_contract_address": null, "gateway_app_id": null,
        },
        "contract_address": null,
        "deployer_address": null,
        "scheduled_delete_at": null,
        "public_urls": endpoints(c, domain),
        "gateway_domain": domain,
        "machine_info": { "vcpu": c.vcpu, "memory": c.memory_mb, "disk_size": c.disk_gb, "gpu_count": 0 },
        "updated_at": iso8601(c.updated_at_ms),
    })
}

/// The VM object lifecycle calls answer with.
fn vm_object(world: &World, r: CvmRef) -> Value {
    let app = world.app(r);
    let c = world.cvm(r);
    json!({
        "id": c.legacy_id,
        "name": c.name,
        "status": c.status,
        "teepod_id": c.node_id,
        "teepod": { "id": c.node_id, "name": c.node_name, "region_identifier": c.region },
        "user_id": 1,
        "app_id": c.app_id,
        "vm_uuid": c.vm_uuid,
        "instance_id": c.instance_id,
        "app_url": format!("https://{}-8090.{}", c.app_id, world.gateway_domain),
        "base_image": c.base_image,
        "vcpu": c.vcpu,
        "memory": c.memory_mb,
        "disk_size": c.disk_gb,
        "manifest_version": c.compose.manifest_version,
        "version": "0.5.3",
        "runner": c.compose.runner,
        "docker_compose_file": c.compose.docker_compose_file,
        "features": c.compose.features,
        "created_at": iso8601(c.created_at_ms),
        "encrypted_env_pubkey": app.env_pubkey(),
    })
}

async fn auth_me(State(state): State<Arc<SimState>>) -> Response {
    let world = state.world();
    Json(json!({
        "user": {
            "id": world.user.id, "username": world.user.username, "email": world.user.email,
            "role": "user", "avatar": "", "email_verified": true, "totp_enabled": false, "has_backup_codes": false,
            "flag_has_password": true,
        },
        "workspace": {
            "id": world.workspace.id, "name": world.workspace.name, "slug": world.workspace.slug,
            "tier": "free", "role": "owner", "avatar": null,
        },
        "credits": { "balance": "100.00", "granted_balance": "0.00", "is_post_paid": false, "outstanding_amount": null },
    }))
    .into_response()
}

async fn get_cvm(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let shape = shape(&headers)?;
    let origin = origin(&headers, &state);
    let now = state.now_ms();
    let world = state.world();
    let r = resolve(&world, &id)?;
    Ok(Json(match shape {
        Shape::V2026 => cvm_v2026(&world, r, &origin, now),
        Shape::Legacy => cvm_legacy(&world, r, &origin),
    })
    .into_response())
}

#[derive(Deserialize)]
struct PatchBody {
    docker_compose_file: Option<String>,
    allowed_envs: Option<Vec<String>>,
    encrypted_env: Option<String>,
    pre_launch_script: Option<String>,
    public_logs: Option<bool>,
    public_sysinfo: Option<bool>,
}

async fn patch_cvm(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: PatchBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(422, json!([{"loc": ["body"], "msg": format!("invalid JSON body: {e}"), "type": "value_error"}]))
    })?;
    let now = state.now_ms();
    let mut world = state.world();
    let r = resolve(&world, &id)?;
    let conditions = state.take_cvm_conditions(&world, r);
    let correlation_id = world.begin_update(
        r,
        UpdateRequest {
            docker_compose_file: body.docker_compose_file,
            allowed_envs: body.allowed_envs,
            encrypted_env: body.encrypted_env,
            pre_launch_script: body.pre_launch_script,
            public_logs: body.public_logs,
            public_sysinfo: body.public_sysinfo,
        },
        &conditions,
        state.timing,
        now,
    )?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "message": "CVM update accepted",
            "correlation_id": correlation_id,
            "status": world.cvm(r).status,
        })),
    )
        .into_response())
}

async fn lifecycle(
    State(state): State<Arc<SimState>>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = match action.as_str() {
        "start" => OpKind::Start,
        "stop" | "shutdown" => OpKind::Stop,
        "restart" => OpKind::Restart,
        _ => return Err(ApiError::new(404, "Not Found")),
    };
    let now = state.now_ms();
    let mut world = state.world();
    let r = resolve(&world, &id)?;
    let conditions = state.take_cvm_conditions(&world, r);
    world.begin_lifecycle(r, kind, &conditions, state.timing, now)?;
    Ok(Json(vm_object(&world, r)).into_response())
}

async fn composition(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let origin = origin(&headers, &state);
    let now = state.now_ms();
    let world = state.world();
    let r = resolve(&world, &id)?;
    let c = world.cvm(r);
    let online = c.status == "running";
    let agent = guest_agent_url(&origin, &c.app_id);
    let containers: Vec<Value> = c
        .containers
        .iter()
        .map(|k| {
            json!({
                "id": k.id,
                "names": [format!("/{}", k.name)],
                "image": k.image,
                "image_id": k.image_id,
                "command": null,
                "created": k.created_ms / 1000,
                "state": k.state,
                "status": k.status_text(now),
                "log_endpoint": c.compose.public_logs.then(|| format!("{agent}/logs/{}", k.name)),
            })
        })
        .collect();
    Ok(Json(json!({
        "is_online": online,
        "is_public": c.compose.public_logs,
        "error": c.boot_error,
        "docker_compose_file": c.compose.docker_compose_file,
        "manifest_version": c.compose.manifest_version,
        "version": "0.5.3",
        "runner": c.compose.runner,
        "features": c.compose.features,
        "containers": containers,
    }))
    .into_response())
}

async fn compose_file(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let world = state.world();
    let r = resolve(&world, &id)?;
    Ok(Json(json!(world.cvm(r).compose)).into_response())
}

async fn cvm_state(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = state.now_ms();
    let world = state.world();
    let r = resolve(&world, &id)?;
    let c = world.cvm(r);
    Ok(Json(json!({
        "id": c.id, "instance_id": c.instance_id, "name": c.name, "status": c.status,
        "uptime": c.uptime(now), "boot_progress": c.operation.as_ref().map(|o| o.kind.as_str()),
        "boot_error": c.boot_error,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct AppsQuery {
    page: Option<u64>,
    page_size: Option<u64>,
    search: Option<String>,
}

fn app_json(world: &World, a: usize, app: &App, origin: &str, now: u64) -> Value {
    let cvms: Vec<Value> = (0..app.cvms.len())
        .map(|c| cvm_v2026(world, CvmRef { app: a, cvm: c }, origin, now))
        .collect();
    json!({
        "id": format!("dapp_{}", &app.app_id[..12]),
        "name": app.name,
        "app_id": app.app_id,
        "app_provision_type": null,
        "app_icon_url": null,
        "created_at": iso8601(app.created_at_ms),
        "kms_type": "phala",
        "profile": null,
        "current_cvm": cvms.first().cloned(),
        "cvm_count": cvms.len(),
        "cvms": cvms,
    })
}

async fn list_apps(
    State(state): State<Arc<SimState>>,
    Query(q): Query<AppsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page = q.page.unwrap_or(1).max(1);
    let page_size = q.page_size.unwrap_or(50);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::new(
            422,
            json!([{"loc": ["query", "page_size"], "msg": "Input should be less than or equal to 100", "type": "less_than_equal"}]),
        ));
    }
    let origin = origin(&headers, &state);
    let now = state.now_ms();
    let world = state.world();
    let search = q.search.map(|s| s.to_ascii_lowercase());
    let matching: Vec<(usize, &App)> = world
        .apps
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            search
                .as_ref()
                .is_none_or(|s| a.name.to_ascii_lowercase().contains(s))
        })
        .collect();
    let total = matching.len() as u64;
    let items: Vec<Value> = matching
        .iter()
        .skip(((page - 1) * page_size) as usize)
        .take(page_size as usize)
        .map(|(a, app)| app_json(&world, *a, app, &origin, now))
        .collect();
    Ok(Json(json!({
        "dstack_apps": items,
        "page": page,
        "page_size": page_size,
        "total": total,
        "total_pages": total.div_ceil(page_size),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct BatchBody {
    vm_uuids: Vec<String>,
}

async fn status_batch(
    State(state): State<Arc<SimState>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: BatchBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            422,
            json!([{"loc": ["body", "vm_uuids"], "msg": e.to_string(), "type": "value_error"}]),
        )
    })?;
    let now = state.now_ms();
    let world = state.world();
    let mut out = serde_json::Map::new();
    for uuid in body.vm_uuids {
        let Some(r) = world.refs().find(|r| world.cvm(*r).vm_uuid == uuid) else {
            continue;
        };
        let c = world.cvm(r);
        out.insert(
            uuid.clone(),
            json!({
                "vm_uuid": uuid,
                "status": c.status,
                "uptime": c.uptime(now),
                "in_progress": c.operation.is_some(),
                "boot_progress": c.operation.as_ref().map(|o| o.kind.as_str()),
                "boot_error": c.boot_error,
                "operation_type": c.operation.as_ref().map(|o| o.kind.as_str()),
                "operation_started_at": c.operation.as_ref().map(|o| iso8601(o.started_at_ms)),
                "correlation_id": c.operation.as_ref().map(|o| o.correlation_id.clone()),
            }),
        );
    }
    Ok(Json(Value::Object(out)).into_response())
}
