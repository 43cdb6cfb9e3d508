//! The systems a run or REPL talks to: the real ones, or a simulator started in-process.

use crate::host::connections::Connections;

pub struct World {
    pub connections: Connections,
}

pub fn connect(sim: bool) -> anyhow::Result<World> {
    if sim {
        anyhow::bail!("--sim is not available yet");
    }
    Ok(World {
        connections: Connections::default(),
    })
}
