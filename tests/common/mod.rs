//! Shared helpers for tests that run the `runbook` binary.
#![allow(dead_code, unused_imports)]

mod sim;
pub use sim::*;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// A scratch directory with its own runs directory; the binary runs from the repository root
/// so shipped runbooks and stdlib are found by name.
pub struct Workspace {
    pub dir: TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    /// Writes a script into the workspace and returns its path.
    pub fn script(&self, name: &str, source: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, source).expect("write script");
        path
    }

    pub fn runbook(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runbook"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RUNBOOK_RUNS_DIR", self.runs_dir())
            .env("NO_COLOR", "1")
            .env_remove("RUNBOOK_PATH")
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// Every run record written so far, oldest first, concatenated.
    pub fn records(&self) -> String {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.runs_dir())
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        paths.sort(); // run ids sort by start time
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// The events of the only run record, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.records()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends Ctrl-C (SIGINT) to a child process, as a terminal would.
pub fn interrupt(child: &std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
}
