//! The systems a run or REPL talks to: the real ones, or a simulator started in-process.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::clients::phala::PhalaConfig;
use crate::duration;
use crate::host::connections::Connections;
use crate::host::runtime::runtime;
use crate::secret::Secret;
use crate::sim::{Fault, Sim, SimHandle, SimOptions, world};

pub struct World {
    pub connections: Connections,
    /// Keeps the in-process simulator serving for as long as the run lasts.
    _sim: Option<SimHandle>,
}

/// Connects to the real systems, or starts the simulator on free loopback ports and points
/// every client at it.
pub fn connect(sim: bool, faults: Vec<Fault>) -> Result<World> {
    if !sim {
        if !faults.is_empty() {
            anyhow::bail!("--fault needs --sim: faults are injected into the simulator only");
        }
        return Ok(World {
            connections: Connections::default(),
            _sim: None,
        });
    }
    let mut options = SimOptions {
        faults,
        ..SimOptions::default()
    };
    // Faster (or slower, to watch the spinners) simulated updates.
    for (var, delay) in [
        ("RUNBOOK_SIM_PULL_DELAY", &mut options.pull_delay),
        ("RUNBOOK_SIM_BOOT_DELAY", &mut options.boot_delay),
    ] {
        if let Ok(text) = std::env::var(var) {
            *delay = duration::parse(&text).map_err(|e| anyhow::anyhow!("{var}: {e}"))?;
        }
    }
    let handle = runtime().block_on(Sim::start(options))?;
    let connections = Connections {
        phala: Some(PhalaConfig::new(
            handle.phala_api_prefix(),
            Secret::new(handle.api_key()),
        )),
        defaults: sim_settings(),
        sim: Some(handle.state().clone()),
    };
    Ok(World {
        connections,
        _sim: Some(handle),
    })
}

/// What `setting(NAME)` answers under `--sim` when nothing else sets NAME: the simulated
/// world's CVMs and the example env files shipped in `deploy/`.
fn sim_settings() -> BTreeMap<String, String> {
    [
        ("PHALA_OPENCLAW_CVM_IDS", world::OPENCLAW_CVM),
        ("PHALA_MUX_CVM_IDS", world::MUX_CVM),
        ("OPENCLAW_ENV_FILE", "deploy/openclaw.env.example"),
        ("MUX_ENV_FILE", "deploy/mux.env.example"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
