//! How host modules reach the world: the real systems, or the simulator started by `--sim`.

use std::collections::BTreeMap;

use std::sync::Arc;

use crate::clients::phala::PhalaConfig;
use crate::sim::SimState;

#[derive(Clone, Default)]
pub struct Connections {
    /// Phala Cloud. `None`: read `PHALA_CLOUD_API_KEY` (or the CLI's credentials file) and
    /// `PHALA_CLOUD_API_PREFIX` at first use, so runbooks that never call Phala need no key.
    pub phala: Option<PhalaConfig>,
    /// Settings that apply when neither `--var` nor the environment sets them: the simulated
    /// world's CVM names and files, so `--sim` needs no configuration.
    pub defaults: BTreeMap<String, String>,
    /// The in-process simulator, for `sim::` functions.
    pub sim: Option<Arc<SimState>>,
}
