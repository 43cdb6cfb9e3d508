//! Fidelity: the official `phala` CLI (1.1.18, from npm) works against the simulated cloud.
//!
//! The CLI is installed once into `target/phala-cli`. Without node/npm the test says so and
//! skips, except under CI (`CI=true`), where a missing tool is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use runbook::sim::SimHandle;
use runbook::sim::world::{MUX_COMPOSE, MUX_CVM, OPENCLAW_CVM};
use serde_json::Value;

const CLI_VERSION: &str = "1.1.18";

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("..")
        .join("phala-cli")
}

fn tool_present(name: &str) -> bool {
    std::process::Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The CLI's entry point, installing it on first use. `None` means skip.
fn phala_cli() -> Option<PathBuf> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = cache_dir();
    let bin = dir.join("node_modules").join(".bin").join("phala");
    let installed = dir.join("node_modules").join("phala").join("package.json");
    let version_ok = std::fs::read_to_string(&installed)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|v| v["version"] == CLI_VERSION);
    if bin.exists() && version_ok && tool_present("node") {
        return Some(bin);
    }
    if !tool_present("node") || !tool_present("npm") {
        let msg = "node and npm are needed to run the official phala CLI against the simulator";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}, and CI=true: install nodejs and npm");
        }
        eprintln!("SKIPPED phala CLI fidelity test: {msg}; install them to run it");
        return None;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(format!("phala@{CLI_VERSION}"))
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm install phala@{CLI_VERSION} failed");
    assert!(bin.exists(), "npm installed no {}", bin.display());
    Some(bin)
}

struct Cli {
    bin: PathBuf,
    home: tempfile::TempDir,
    prefix: String,
    key: String,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn new(bin: PathBuf, sim: &SimHandle) -> Cli {
        Cli {
            bin,
            home: tempfile::tempdir().unwrap(),
            prefix: sim.phala_api_prefix(),
            key: sim.api_key().to_string(),
        }
    }

    /// Runs the CLI from a directory without `phala.toml`, with its config dir in a temp dir.
    async fn run(&self, args: &[&str]) -> Run {
        let out = tokio::process::Command::new(&self.bin)
            .args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env("PHALA_CLOUD_DIR", self.home.path().join(".phala-cloud"))
            .env("PHALA_CLOUD_API_PREFIX", &self.prefix)
            .env("PHALA_CLOUD_API_KEY", &self.key)
            .env("PHALA_DISABLE_UPDATE_CHECK", "1")
            .env("CI", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("the phala CLI runs");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!(
            "$ phala {}\n-> exit {}\n{}{}",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        );
        run
    }

    async fn json(&self, args: &[&str]) -> Value {
        let run = self.run(args).await;
        assert_eq!(
            run.code, 0,
            "phala {args:?} failed:\n{}{}",
            run.stdout, run.stderr
        );
        serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("phala {args:?}: stdout is not JSON ({e}):\n{}", run.stdout))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_cli_works_against_the_simulator() {
    let Some(bin) = phala_cli() else { return };
    let sim = common::start_sim().await;
    let cli = Cli::new(bin, &sim);
    let mux = {
        let w = sim.world();
        w.cvm(w.find_by_name(MUX_CVM).unwrap()).clone()
    };

    // cvms get, by UUID, app id and name.
    for id in [mux.vm_uuid.clone(), mux.app_id.clone(), MUX_CVM.to_string()] {
        let v = cli.json(&["cvms", "get", &id, "--json"]).await;
        assert_eq!(v["success"], true, "{v}");
        assert_eq!(v["name"], MUX_CVM);
        assert_eq!(v["app_id"], mux.app_id.as_str());
        assert_eq!(v["vm_uuid"], mux.vm_uuid.as_str());
        assert_eq!(v["status"], "running");
        assert_eq!(
            v["gateway"]["base_domain"],
            sim.world().gateway_domain.as_str()
        );
        assert_eq!(v["compose_hash"], mux.compose_hash.as_str());
        assert_eq!(v["compose_file"]["docker_compose_file"], MUX_COMPOSE);
    }
    let missing = cli.run(&["cvms", "get", "no-such-cvm", "--json"]).await;
    assert_eq!(missing.code, 1);
    let v: Value = serde_json::from_str(missing.stdout.trim()).unwrap();
    assert_eq!(v["success"], false);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("CVM no-such-cvm not found"),
        "{v}"
    );

    // deploy --wait: the env the CLI encrypts must decrypt in the simulator.
    let compose_path = cli.home.path().join("mux-server-compose.yml");
    let new_compose = MUX_COMPOSE.replace("6ee929b1159259b1", "1111111111111111");
    std::fs::write(&compose_path, &new_compose).unwrap();
    let env_path = cli.home.path().join("mux.env");
    std::fs::write(
        &env_path,
        "# deploy env\nMUX_API_KEY=\"from the cli\"\nexport TELEGRAM_BOT_TOKEN=tg:123\nDISCORD_BOT_TOKEN='dc token'\n",
    )
    .unwrap();
    let run = cli
        .run(&[
            "deploy",
            "--cvm-id",
            &mux.app_id,
            "-c",
            compose_path.to_str().unwrap(),
            "-e",
            env_path.to_str().unwrap(),
            "--wait",
        ])
        .await;
    assert_eq!(run.code, 0, "deploy failed:\n{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("CVM updated successfully"),
        "{}",
        run.stdout
    );
    {
        let w = sim.world();
        let cvm = w.cvm(w.find_by_name(MUX_CVM).unwrap());
        assert_eq!(
            cvm.status, "running",
            "--wait returned only once the update finished"
        );
        assert_eq!(cvm.compose.docker_compose_file, new_compose);
        let env: Vec<(&str, &str)> = cvm
            .env
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            env,
            vec![
                ("MUX_API_KEY", "from the cli"),
                ("TELEGRAM_BOT_TOKEN", "tg:123"),
                ("DISCORD_BOT_TOKEN", "dc token"),
            ]
        );
        assert_eq!(
            cvm.compose.allowed_envs,
            vec!["MUX_API_KEY", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"]
        );
        assert_eq!(
            cvm.container("mux-server").unwrap().env["MUX_API_KEY"],
            "from the cli"
        );
    }

    // logs --tail: the last lines of the container's stdout, decoded from base64 JSON lines.
    {
        let mut w = sim.world();
        let r = w.find_by_name(MUX_CVM).unwrap();
        let c = w.cvm_mut(r).container_mut("mux-server").unwrap();
        for i in 1..=8 {
            c.log(0, "stdout", format!("mux line {i} ünïcode"));
        }
    }
    let run = cli
        .run(&[
            "logs",
            "mux-server",
            "--cvm-id",
            &mux.vm_uuid,
            "--tail",
            "5",
        ])
        .await;
    assert_eq!(run.code, 0, "logs failed:\n{}{}", run.stdout, run.stderr);
    let expected: String = (4..=8).map(|i| format!("mux line {i} ünïcode\n")).collect();
    assert_eq!(run.stdout, expected);

    // cvms list --json, through /apps and /status/batch.
    let v = cli.json(&["cvms", "list", "--json"]).await;
    assert_eq!(v["success"], true);
    assert_eq!(v["total"], 2);
    let items = v["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["cvmName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![OPENCLAW_CVM, MUX_CVM]);
    assert!(items.iter().all(|i| i["status"] == "running"), "{v}");
    assert_eq!(items[1]["appId"], mux.app_id.as_str());
}
