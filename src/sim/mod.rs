//! The simulated world: the same wire protocols as the real systems, served on 127.0.0.1.
//!
//! [`Sim::start`] serves, on one loopback port:
//! - `/api/v1/…`: the Phala Cloud API ([`phala_api`]), so `PHALA_CLOUD_API_PREFIX` can point
//!   the official CLI or [`crate::clients::phala::PhalaClient`] at it;
//! - `/gateway/<app_id>-<port>/…`: what the dstack gateway exposes ([`gateway`]);
//! - `/_sim/…`: controls for another process (`control.rs`): `GET/POST/DELETE /_sim/faults`,
//!   `DELETE /_sim/faults/{id}`, `GET /_sim/world`, `POST /_sim/clock` (`{"advance_ms": n}`).
//!
//! Faults ([`faults`]) are applied in front of the routes, so a dropped connection really
//! drops the TCP connection, and `after` faults let the request take effect before the answer
//! is lost.

pub mod compose;
mod control;
pub mod faults;
pub mod gateway;
pub mod persist;
pub mod phala_api;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tower::ServiceExt;

pub use faults::{CvmCondition, Effect, Fault, FaultParseError, FaultSet, Scope};
pub use world::{Timing, World};

use crate::error::{Error, ErrorKind, Result};

/// The shortest simulated update: long enough to be observed by a waiter.
pub const MIN_UPDATE_TIME: Duration = Duration::from_millis(10);

/// How to start the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Where to listen; `None` means 127.0.0.1 on a free port.
    pub addr: Option<SocketAddr>,
    /// Keep the world in `DIR/world.json` (loaded on start, saved on every change).
    pub state_dir: Option<PathBuf>,
    /// The API key the API accepts; `None` means [`DEFAULT_API_KEY`].
    pub api_key: Option<String>,
    /// From accepting an update to having pulled the new images.
    pub pull_delay: Duration,
    /// From having the images (or a start/restart) to `running`.
    pub boot_delay: Duration,
    /// Faults in force from the start.
    pub faults: Vec<Fault>,
}

/// The key the simulator accepts unless told otherwise. It is not a secret: the simulated
/// world holds nothing real.
pub const DEFAULT_API_KEY: &str = "phak_simulator_local_key";

impl Default for SimOptions {
    fn default() -> Self {
        let timing = Timing::default();
        SimOptions {
            addr: None,
            state_dir: None,
            api_key: None,
            pull_delay: timing.pull_delay,
            boot_delay: timing.boot_delay,
            faults: Vec::new(),
        }
    }
}

/// The simulator's clock: wall time plus an offset that tests and scripts can advance.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: AtomicU64,
}

impl SimClock {
    pub fn now_ms(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        wall + self.offset_ms.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

/// Everything the running simulator shares between requests.
#[derive(Debug)]
pub struct SimState {
    world: Mutex<World>,
    faults: Mutex<FaultSet>,
    pub clock: SimClock,
    pub api_key: String,
    pub timing: Timing,
    pub addr: SocketAddr,
    state_dir: Option<PathBuf>,
}

impl SimState {
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The world, brought up to now. Do not hold the guard across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        w.tick(self.now_ms());
        w
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultSet> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a fault; a CVM fault must name an existing CVM.
    pub fn inject(&self, fault: Fault) -> Result<u64> {
        if let Fault::Cvm { selector, .. } = &fault
            && self.world().resolve(selector).is_none()
        {
            return Err(Error::new(
                ErrorKind::NotFound,
                "sim",
                format!("fault {fault}: no CVM matches {selector:?}"),
            )
            .with_hint(
                "name a CVM of the simulated world (e.g. openclaw-prod or mux-server-prod)",
            ));
        }
        tracing::info!(target: "sim", %fault, "fault injected");
        Ok(self.faults().add(fault))
    }

    /// Takes the CVM faults that apply to an operation starting on `r`.
    pub(crate) fn take_cvm_conditions(&self, world: &World, r: world::CvmRef) -> Vec<CvmCondition> {
        self.faults()
            .take_cvm_conditions(|sel| world.resolve(sel) == Some(r))
    }

    fn save_if_dirty(&self) {
        let Some(dir) = &self.state_dir else {
            return;
        };
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        if !w.dirty {
            return;
        }
        match persist::save(dir, &w) {
            Ok(()) => w.dirty = false,
            Err(e) => tracing::warn!(target: "sim", "{e}"),
        }
    }
}

/// The simulator. See the module docs.
pub struct Sim;

impl Sim {
    /// Binds, loads or creates the world, and serves until [`SimHandle::shutdown`] (or drop).
    pub async fn start(options: SimOptions) -> Result<SimHandle> {
        // A waiter must see an update happen; one that is over before the answer to the
        // PATCH arrives looks exactly like one that never started.
        let update_time = options.pull_delay.saturating_add(options.boot_delay);
        if update_time < MIN_UPDATE_TIME {
            return Err(Error::invalid(
                "sim",
                format!(
                    "an update must take at least {}ms (pull delay plus boot delay); got {}ms",
                    MIN_UPDATE_TIME.as_millis(),
                    update_time.as_millis()
                ),
            ));
        }
        let addr = options
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::new(
                ErrorKind::Invalid,
                "sim",
                format!("cannot listen on {addr}: {e}"),
            )
            .with_hint("pick another address or port, or stop whatever uses it")
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Invalid, "sim", e.to_string()))?;
        let clock = SimClock::default();
        let world = match &options.state_dir {
            Some(dir) => persist::load(dir)?,
            None => None,
        }
        .unwrap_or_else(|| World::default_world(clock.now_ms()));
        let state = Arc::new(SimState {
            world: Mutex::new(world),
            faults: Mutex::new(FaultSet::default()),
            clock,
            api_key: options
                .api_key
                .clone()
                .unwrap_or_else(|| DEFAULT_API_KEY.to_string()),
            timing: Timing {
                pull_delay: options.pull_delay,
                boot_delay: options.boot_delay,
            },
            addr,
            state_dir: options.state_dir.clone(),
        });
        for fault in options.faults {
            state.inject(fault)?;
        }
        state.save_if_dirty();
        let router = phala_api::router(state.clone())
            .merge(gateway::router(state.clone()))
            .merge(control::router(state.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(serve(listener, router, state.clone(), stop_rx));
        tracing::info!(target: "sim", %addr, "simulated Phala Cloud listening");
        Ok(SimHandle {
            state,
            addr,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    state: Arc<SimState>,
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The value for `PHALA_CLOUD_API_PREFIX`.
    pub fn phala_api_prefix(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.state.api_key
    }

    /// The world, brought up to now. Do not hold the guard across an `.await`.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.state.world()
    }

    /// The shared state, for code that extends the simulation.
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    pub fn inject(&self, fault: Fault) -> Result<u64> {
        self.state.inject(fault)
    }

    /// The faults in force, in their text form.
    pub fn faults(&self) -> Vec<String> {
        self.state
            .faults()
            .list()
            .iter()
            .map(|f| f.fault.to_string())
            .collect()
    }

    pub fn clear_faults(&self) {
        self.state.faults().clear();
    }

    /// Moves the simulated clock forward (operations finish sooner).
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by);
    }

    /// Stops serving, saves the world (with `--state`), and waits for the server to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.state.save_if_dirty();
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The accept loop. Each connection is served by hyper directly (rather than `axum::serve`)
/// so that a fault can close a connection without writing any answer.
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    state: Arc<SimState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let router = router.clone();
                let state = state.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(req, router.clone(), state.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Returned by the per-request service to make hyper close the connection unanswered.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a simulated fault")
    }
}

impl std::error::Error for DropConnection {}

async fn handle(
    req: Request<hyper::body::Incoming>,
    router: Router,
    state: Arc<SimState>,
) -> std::result::Result<Response<Body>, DropConnection> {
    let req = route_gateway_host(req, &state);
    let path = req.uri().path().to_string();
    let scoped = if let Some(rest) = path.strip_prefix("/api/v1") {
        Some((Scope::Phala, rest.to_string()))
    } else {
        path.strip_prefix("/gateway/").map(|rest| {
            let sub = rest
                .find('/')
                .map(|i| rest[i..].to_string())
                .unwrap_or_default();
            (Scope::Gateway, sub)
        })
    };
    let decision = match &scoped {
        Some((scope, sub)) => state.faults().decide(*scope, req.method().as_str(), sub),
        None => faults::Decision::default(),
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let failure = decision.failure;
    if let Some((effect, false)) = failure {
        return fault_answer(effect);
    }
    let response = match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    state.save_if_dirty();
    match failure {
        Some((effect, true)) => fault_answer(effect),
        _ => Ok(response),
    }
}

/// Requests addressed to `<app_id>-<port>.<gateway domain>` go to `/gateway/<label>/…`, so a
/// client that resolves the gateway names to this simulator reaches the right service.
fn route_gateway_host(
    mut req: Request<hyper::body::Incoming>,
    state: &SimState,
) -> Request<hyper::body::Incoming> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
    let Some(host) = host else { return req };
    let domain = state
        .world
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .gateway_domain
        .to_ascii_lowercase();
    let Some(label) = host.strip_suffix(&format!(".{domain}")) else {
        return req;
    };
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if let Ok(uri) = format!("/gateway/{label}{pq}").parse() {
        *req.uri_mut() = uri;
    }
    req
}

fn fault_answer(effect: Effect) -> std::result::Result<Response<Body>, DropConnection> {
    let status = match effect {
        Effect::Drop => return Err(DropConnection),
        Effect::Slow(_) => unreachable!("slow is a delay, not a failure"),
        Effect::Status(s) => s,
    };
    let detail = match status {
        409 => json!({
            "error_code": "ERR-03-005",
            "message": "The CVM is busy with another operation (simulated fault)",
            "suggestions": ["Wait for the current operation to finish, then try again"],
        }),
        429 => json!("Too many requests (simulated fault)"),
        s => json!(format!(
            "{} (simulated fault)",
            StatusCode::from_u16(s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error")
        )),
    };
    let mut response = phala_api::error(status, detail);
    if status == 429 {
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    Ok(response)
}
