//! `/_sim/…`: how another process steers a running simulator (faults, the world, the clock).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde_json::json;

use super::{Fault, SimState};

pub(super) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route(
            "/_sim/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sim/faults/{id}", delete(remove_fault))
        .route("/_sim/world", get(get_world))
        .route("/_sim/clock", post(advance_clock))
        .with_state(state)
}

async fn list_faults(State(state): State<Arc<SimState>>) -> impl IntoResponse {
    let faults = state.faults();
    Json(
        faults
            .list()
            .iter()
            .map(|f| json!({ "id": f.id, "fault": f.fault.to_string(), "fired": f.fired }))
            .collect::<Vec<_>>(),
    )
}

/// Accepts `{"fault": "<text>"}` or the bare text.
async fn add_fault(State(state): State<Arc<SimState>>, body: String) -> axum::response::Response {
    let text = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("fault").and_then(|f| f.as_str()).map(str::to_string))
        .unwrap_or(body);
    let fault: Fault = match text.parse() {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": e.to_string() })),
            )
                .into_response();
        }
    };
    match state.inject(fault.clone()) {
        Ok(id) => (
            StatusCode::CREATED,
            Json(json!({ "id": id, "fault": fault.to_string() })),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e.message }))).into_response(),
    }
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    state.faults().clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(State(state): State<Arc<SimState>>, Path(id): Path<u64>) -> StatusCode {
    if state.faults().remove(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn get_world(State(state): State<Arc<SimState>>) -> impl IntoResponse {
    Json(serde_json::to_value(&*state.world()).expect("the world serialises"))
}

async fn advance_clock(
    State(state): State<Arc<SimState>>,
    Json(body): Json<serde_json::Value>,
) -> axum::response::Response {
    match body.get("advance_ms").and_then(|v| v.as_u64()) {
        Some(ms) => {
            state.clock.advance(Duration::from_millis(ms));
            StatusCode::NO_CONTENT.into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "expected {\"advance_ms\": <whole number>}" })),
        )
            .into_response(),
    }
}
