//! `--state DIR`: the world saved as `DIR/world.json`, so a simulated deployment survives
//! restarts of `runbook sim serve` and can be inspected or edited by hand.

use std::path::{Path, PathBuf};

use super::world::World;
use crate::error::{Error, ErrorKind, Result};

pub const FILE_NAME: &str = "world.json";

pub fn state_file(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Loads the saved world, or `None` when there is none yet.
pub fn load(dir: &Path) -> Result<Option<World>> {
    let path = state_file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::invalid(
                "sim",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let mut world: World = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(
            "sim",
            format!("{} is not a saved simulated world: {e}", path.display()),
        )
        .with_hint(format!(
            "fix the file or delete {} to start from the default world",
            path.display()
        ))
    })?;
    world.dirty = false;
    Ok(Some(world))
}

/// Writes the world atomically (temporary file, then rename), so a crash never leaves half a
/// file behind.
pub fn save(dir: &Path, world: &World) -> Result<()> {
    let io = |e: std::io::Error| {
        Error::new(
            ErrorKind::Remote,
            "sim",
            format!("cannot save the world in {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    let text = serde_json::to_string_pretty(world).expect("the world serialises");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, state_file(dir)).map_err(io)?;
    Ok(())
}
