//! What the dstack gateway exposes for each CVM: `https://<app_id>-<port>.<base_domain>`.
//!
//! On loopback there is no DNS or TLS for those names, so the simulator serves them under
//! `/gateway/<app_id>-<port>/…` (and also for requests whose `Host` is the real gateway name).
//! Port 8090 is the guest agent: container logs and the serial console. Other ports answer
//! 502 until a simulated service (mux-server, OpenClaw) is routed there.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;

use super::SimState;
use super::world::{CvmRef, LogEntry, World};

pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/gateway/{label}/logs/{container}", get(container_logs))
        .route("/gateway/{label}/syslog", get(syslog))
        .route("/gateway/{label}/{*rest}", get(unrouted).post(unrouted))
        .with_state(state)
}

/// Splits `<app_id>-<port>` (an optional `s`/`g` suffix on the port is accepted, as the
/// gateway does for TLS passthrough and gRPC).
pub fn parse_label(label: &str) -> Option<(&str, u16)> {
    let (app, port) = label.rsplit_once('-')?;
    let port = port.trim_end_matches(['s', 'g']).parse().ok()?;
    Some((app, port))
}

fn find_app(world: &World, app_id: &str) -> Option<CvmRef> {
    world
        .refs()
        .find(|r| world.cvm(*r).app_id.eq_ignore_ascii_case(app_id))
}

fn plain(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

fn agent_error(status: StatusCode, msg: &str) -> Response {
    (status, format!("{}\n", serde_json::json!({ "error": msg }))).into_response()
}

/// Keeps the last `tail` entries (`tail` or `lines`; the guest agent defaults to 1000).
fn tail_of<'a>(logs: &'a [LogEntry], q: &HashMap<String, String>) -> &'a [LogEntry] {
    let tail = q
        .get("tail")
        .or_else(|| q.get("lines"))
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(1000);
    &logs[logs.len().saturating_sub(tail)..]
}

/// The CVM whose guest agent (port 8090) a gateway label like `<app_id>-8090` names, or
/// why the gateway cannot reach one.
fn guest_agent(world: &World, label: &str) -> Result<CvmRef, (StatusCode, &'static str)> {
    let Some((app_id, 8090)) = parse_label(label) else {
        return Err((StatusCode::BAD_GATEWAY, "no guest agent on this port"));
    };
    find_app(world, app_id).ok_or((StatusCode::NOT_FOUND, "no such app behind this gateway"))
}

async fn container_logs(
    State(state): State<Arc<SimState>>,
    Path((label, container)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let world = state.world();
    let r = match guest_agent(&world, &label) {
        Ok(r) => r,
        Err((status, why)) => return agent_error(status, why),
    };
    let cvm = world.cvm(r);
    if !cvm.compose.public_logs {
        return agent_error(StatusCode::FORBIDDEN, "logs are not public for this app");
    }
    let Some(c) = cvm.container(&container) else {
        return agent_error(
            StatusCode::NOT_FOUND,
            &format!("No such container: {container}"),
        );
    };
    let entries = tail_of(&c.logs, &q);
    let timestamps = q.contains_key("timestamps");
    let line = |e: &LogEntry| {
        if timestamps {
            format!("{} {}\n", super::world::iso8601(e.ts_ms), e.text)
        } else {
            format!("{}\n", e.text)
        }
    };
    // `text` (as `phala cvms logs` sends) gives raw text; otherwise dstack's JSON lines.
    if q.contains_key("text") {
        return plain(StatusCode::OK, entries.iter().map(line).collect());
    }
    let body: String = entries
        .iter()
        .map(|e| {
            let message = base64::engine::general_purpose::STANDARD.encode(line(e));
            format!(
                "{}\n",
                serde_json::json!({ "channel": e.channel, "message": message })
            )
        })
        .collect();
    plain(StatusCode::OK, body)
}

async fn syslog(
    State(state): State<Arc<SimState>>,
    Path(label): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let world = state.world();
    let r = match guest_agent(&world, &label) {
        Ok(r) => r,
        Err((status, why)) => return agent_error(status, why),
    };
    let cvm = world.cvm(r);
    let body = match q.get("ch").map(String::as_str) {
        Some("stdout") | Some("stderr") => String::new(),
        _ => tail_of(&cvm.serial_log, &q)
            .iter()
            .map(|e| format!("[{}] {}\n", super::world::iso8601(e.ts_ms), e.text))
            .collect(),
    };
    plain(StatusCode::OK, body)
}

async fn unrouted(Path((label, _rest)): Path<(String, String)>) -> Response {
    let port = parse_label(&label).map(|(_, p)| p).unwrap_or(0);
    plain(
        StatusCode::BAD_GATEWAY,
        format!("no simulated service listens on port {port} of this CVM\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(parse_label("abc-8090"), Some(("abc", 8090)));
        assert_eq!(parse_label("abc-443s"), Some(("abc", 443)));
        assert_eq!(parse_label("abc"), None);
    }
}
