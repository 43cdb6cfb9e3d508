//! `runbook sim serve`: the simulated world as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{exit, fatal, parse_duration, parse_fault};
use crate::host::runtime::runtime;
use crate::sim::{DEFAULT_API_KEY, Fault, Sim, SimOptions};

#[derive(Args)]
pub struct ServeOptions {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// Keep the world in DIR/world.json across restarts.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// The API key to accept (default: the simulator's fixed key).
    #[arg(long)]
    api_key: Option<String>,
    /// Time to pull images after an update.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pull_delay: Duration,
    /// Time from images to running.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    boot_delay: Duration,
    /// A fault in force from the start (repeatable).
    #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
    faults: Vec<Fault>,
}

pub fn serve(options: ServeOptions) -> i32 {
    let key = options
        .api_key
        .clone()
        .unwrap_or_else(|| DEFAULT_API_KEY.into());
    let saved_in = options
        .state
        .as_ref()
        .map(|d| format!(", world saved in {}", d.display()))
        .unwrap_or_default();
    let sim_options = SimOptions {
        addr: Some(options.addr),
        state_dir: options.state,
        api_key: options.api_key,
        pull_delay: options.pull_delay,
        boot_delay: options.boot_delay,
        faults: options.faults,
    };
    runtime().block_on(async move {
        let handle = match Sim::start(sim_options).await {
            Ok(handle) => handle,
            Err(e) => return fatal(e),
        };
        println!("export PHALA_CLOUD_API_PREFIX={}", handle.phala_api_prefix());
        println!("export PHALA_CLOUD_API_KEY={key}");
        let base = handle.base_url();
        eprintln!(
            "simulated Phala Cloud on {} (gateway at {base}/gateway/<app_id>-<port>/, faults at {base}/_sim/faults{saved_in}); Ctrl-C stops it",
            handle.addr(),
        );
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown().await;
        exit::OK
    })
}
