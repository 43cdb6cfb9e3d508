//! `runbook sim serve`: the simulated world as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{exit, fatal};
use crate::duration;
use crate::host::runtime::runtime;
use crate::sim::{DEFAULT_API_KEY, Fault, Sim, SimOptions};

pub struct ServeOptions {
    pub addr: SocketAddr,
    pub state: Option<PathBuf>,
    pub api_key: Option<String>,
    pub pull_delay: String,
    pub boot_delay: String,
    pub faults: Vec<Fault>,
}

pub fn serve(options: ServeOptions) -> i32 {
    let parse =
        |text: &str, what: &str| duration::parse(text).map_err(|e| format!("--{what}: {e}"));
    let (pull_delay, boot_delay) = match (
        parse(&options.pull_delay, "pull-delay"),
        parse(&options.boot_delay, "boot-delay"),
    ) {
        (Ok(pull), Ok(boot)) => (pull, boot),
        (Err(e), _) | (_, Err(e)) => return fatal(e),
    };
    let sim_options = SimOptions {
        addr: Some(options.addr),
        state_dir: options.state.clone(),
        api_key: options.api_key.clone(),
        pull_delay,
        boot_delay,
        faults: options.faults,
    };
    runtime().block_on(async move {
        let handle = match Sim::start(sim_options).await {
            Ok(handle) => handle,
            Err(e) => return fatal(e),
        };
        let key = options.api_key.as_deref().unwrap_or(DEFAULT_API_KEY);
        println!("export PHALA_CLOUD_API_PREFIX={}", handle.phala_api_prefix());
        println!("export PHALA_CLOUD_API_KEY={key}");
        eprintln!(
            "simulated Phala Cloud on {} (gateway at {}/gateway/<app_id>-<port>/, faults at {}/_sim/faults{}); Ctrl-C stops it",
            handle.addr(),
            handle.base_url(),
            handle.base_url(),
            options
                .state
                .as_ref()
                .map(|d| format!(", world saved in {}", d.display()))
                .unwrap_or_default()
        );
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown().await;
        exit::OK
    })
}
