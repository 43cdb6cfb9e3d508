//! What the client hands back: a small, stable view of the API's larger and version-dependent
//! JSON, with the fields a runbook acts on.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One CVM, from `GET /cvms/{id}` (`X-Phala-Version: 2026-01-21`, the shape `phala cvms get`
/// uses). Serialisable so the host can give it to scripts as a map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvm {
    /// The opaque id the API uses for this CVM.
    pub id: String,
    pub name: String,
    /// 40 hex characters, without `app_`.
    pub app_id: String,
    /// Dashed UUID.
    pub vm_uuid: Option<String>,
    pub instance_id: Option<String>,
    /// `running`, `stopped`, or a transitional state while an operation runs.
    pub status: String,
    /// The gateway domain public URLs and SSH host names are built on.
    pub base_domain: Option<String>,
    /// The docker-compose YAML the CVM is configured with.
    pub compose_file: Option<String>,
    pub compose_hash: Option<String>,
    /// Env var names the CVM will accept from the encrypted env.
    pub allowed_envs: Vec<String>,
    /// Set while an operation (update, restart, ...) runs.
    pub progress: Option<Progress>,
    /// The app's X25519 key the env is encrypted to (hex).
    pub env_pubkey: Option<String>,
    /// Non-null means an on-chain KMS, whose update flow needs a wallet.
    pub kms_chain_id: Option<i64>,
    pub public_logs: Option<bool>,
    /// A boot or update failure, when the API reports one.
    pub boot_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub target: Option<String>,
    pub started_at: Option<String>,
    pub correlation_id: Option<String>,
}

impl Cvm {
    /// Builds the view from the v2026-01-21 JSON. Unknown or missing optional members are
    /// tolerated, as the CLI's schema tolerates them.
    pub fn from_json(v: &Value) -> Result<Cvm> {
        let s = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        let required = |key: &str| {
            s(key).ok_or_else(|| {
                Error::new(
                    crate::error::ErrorKind::Remote,
                    "phala",
                    format!("the CVM returned by Phala Cloud has no string field {key:?}"),
                )
            })
        };
        let compose = v.get("compose_file").and_then(|c| match c {
            Value::Object(_) => Some(c.clone()),
            // Some servers send the app-compose as JSON text.
            Value::String(text) => serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .or_else(|| Some(serde_json::json!({ "docker_compose_file": text }))),
            _ => None,
        });
        let kms = v.get("kms_info").filter(|k| k.is_object());
        Ok(Cvm {
            id: required("id")?,
            name: required("name")?,
            app_id: s("app_id")
                .map(|a| a.trim_start_matches("app_").to_string())
                .unwrap_or_default(),
            vm_uuid: s("vm_uuid"),
            instance_id: s("instance_id"),
            status: required("status")?,
            base_domain: v
                .pointer("/gateway/base_domain")
                .and_then(Value::as_str)
                .map(str::to_string),
            compose_file: compose
                .as_ref()
                .and_then(|c| c.get("docker_compose_file"))
                .and_then(Value::as_str)
                .map(str::to_string),
            compose_hash: s("compose_hash"),
            allowed_envs: compose
                .as_ref()
                .and_then(|c| c.get("allowed_envs"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            progress: v
                .get("progress")
                .filter(|p| p.is_object())
                .and_then(|p| serde_json::from_value(p.clone()).ok()),
            env_pubkey: kms
                .and_then(|k| k.get("encrypted_env_pubkey"))
                .and_then(Value::as_str)
                .or_else(|| v.get("encrypted_env_pubkey").and_then(Value::as_str))
                .map(str::to_string),
            kms_chain_id: kms.and_then(|k| k.get("chain_id")).and_then(Value::as_i64),
            public_logs: v.get("public_logs").and_then(Value::as_bool),
            boot_error: s("boot_error"),
        })
    }

    /// `https://<app_id>-<port>.<base_domain>`: how the gateway exposes a container port.
    pub fn public_url(&self, port: u16) -> Result<String> {
        Ok(format!("https://{}", self.gateway_host(port)?))
    }

    /// `<app_id>-1022.<base_domain>`: the sshd inside the app container (compose maps 1022:22).
    pub fn ssh_host_container(&self) -> Result<String> {
        self.gateway_host(1022)
    }

    /// `<app_id>-22.<base_domain>`: the CVM host's own sshd (dev OS images only).
    pub fn ssh_host_vm(&self) -> Result<String> {
        self.gateway_host(22)
    }

    /// `<app_id>-<port>.<base_domain>`, the gateway's name for one port of this CVM.
    pub fn gateway_host(&self, port: u16) -> Result<String> {
        let domain = self.base_domain.as_deref().filter(|d| !d.is_empty()).ok_or_else(|| {
            Error::new(
                crate::error::ErrorKind::Remote,
                "phala",
                format!("CVM {} has no gateway base domain", self.name),
            )
            .with_hint("the CVM may still be provisioning or have the gateway disabled; check `phala cvms get <id> --json`")
        })?;
        if self.app_id.is_empty() {
            return Err(Error::new(
                crate::error::ErrorKind::Remote,
                "phala",
                format!("CVM {} has no app id", self.name),
            ));
        }
        Ok(format!("{}-{}.{}", self.app_id, port, domain))
    }

    /// Whether an operation is running on the CVM.
    pub fn in_progress(&self) -> bool {
        self.progress
            .as_ref()
            .is_some_and(|p| p.target.is_some() || p.correlation_id.is_some())
    }
}

/// One row of `list_cvms`: every CVM of every app in the workspace (replicas included, unlike
/// `phala cvms list`), with the live status from `/status/batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvmSummary {
    pub id: Option<String>,
    pub name: String,
    pub app_id: String,
    pub vm_uuid: Option<String>,
    pub status: String,
    pub uptime: Option<String>,
    pub in_progress: bool,
    pub base_domain: Option<String>,
}

/// `GET /cvms/{id}/composition`: what is actually running inside the CVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Composition {
    pub is_online: bool,
    pub is_public: bool,
    pub error: Option<String>,
    pub docker_compose_file: Option<String>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// Docker names, each with a leading `/`.
    pub names: Vec<String>,
    pub image: Option<String>,
    /// The Docker image (config) id, not the registry manifest digest.
    pub image_id: Option<String>,
    pub state: Option<String>,
    pub status: Option<String>,
    pub created: Option<i64>,
    pub log_endpoint: Option<String>,
}

impl Container {
    /// The first name without its leading `/`.
    pub fn name(&self) -> &str {
        self.names
            .first()
            .map(|n| n.trim_start_matches('/'))
            .unwrap_or(&self.id)
    }

    /// Whether `name` is one of this container's names, with or without `/` (as `phala logs`).
    pub fn has_name(&self, name: &str) -> bool {
        let bare = name.trim_start_matches('/');
        self.names.iter().any(|n| n.trim_start_matches('/') == bare)
    }
}

/// One line of a container log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub channel: String,
    pub text: String,
}

/// What the CVM looked like before an operation, so the waiter can tell the operation's own
/// effect from a stale `running`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub status: String,
    pub compose_hash: Option<String>,
    pub compose_file: Option<String>,
    pub progress_correlation_id: Option<String>,
}

impl Baseline {
    pub fn of(cvm: &Cvm) -> Baseline {
        Baseline {
            status: cvm.status.clone(),
            compose_hash: cvm.compose_hash.clone(),
            compose_file: cvm.compose_file.clone(),
            progress_correlation_id: cvm.progress.as_ref().and_then(|p| p.correlation_id.clone()),
        }
    }
}

/// An accepted update (or lifecycle operation), to be passed to
/// [`PhalaClient::wait_ready`](super::PhalaClient::wait_ready).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The identifier the operation was sent to (as given by the caller).
    pub cvm: String,
    /// The server's id for the operation. `None` only when the answer was lost and the update
    /// was recognised from the CVM's state instead (see `recovered`).
    pub correlation_id: Option<String>,
    /// The CVM as it was before the operation.
    pub before: Baseline,
    /// The operation's answer was lost (dropped connection, 5xx) but the CVM's state showed it
    /// had been applied, so it was not sent again.
    pub recovered: bool,
}

/// How long and how eagerly to wait for a CVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up after this long (the CLI's fixed value is 300 s).
    pub timeout: Duration,
    /// First pause between polls; doubles up to `max_interval`.
    pub initial_interval: Duration,
    /// Cap on the pause between polls, so readiness is noticed within about this long.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(300),
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
        }
    }
}

impl WaitOptions {
    pub fn with_timeout(timeout: Duration) -> WaitOptions {
        WaitOptions {
            timeout,
            ..WaitOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "id": "cvm_1", "name": "mux-server-prod", "app_id": "ab".repeat(20),
            "vm_uuid": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "status": "running",
            "resource": {}, "gateway": {"base_domain": "dstack-x.phala.network", "cname": null},
            "compose_hash": "cd".repeat(32),
            "kms_info": {"chain_id": null, "encrypted_env_pubkey": "ee".repeat(32)},
            "progress": null,
            "compose_file": {"docker_compose_file": "services: {}\n", "allowed_envs": ["A", "B"]}
        })
    }

    #[test]
    fn parses_the_fields_runbooks_use() {
        let cvm = Cvm::from_json(&sample()).unwrap();
        assert_eq!(cvm.name, "mux-server-prod");
        assert_eq!(cvm.compose_file.as_deref(), Some("services: {}\n"));
        assert_eq!(cvm.allowed_envs, vec!["A", "B"]);
        assert_eq!(cvm.env_pubkey.as_deref(), Some("ee".repeat(32).as_str()));
        assert!(!cvm.in_progress());
        let app = "ab".repeat(20);
        assert_eq!(
            cvm.public_url(18891).unwrap(),
            format!("https://{app}-18891.dstack-x.phala.network")
        );
        assert_eq!(
            cvm.ssh_host_container().unwrap(),
            format!("{app}-1022.dstack-x.phala.network")
        );
        assert_eq!(
            cvm.ssh_host_vm().unwrap(),
            format!("{app}-22.dstack-x.phala.network")
        );
    }

    #[test]
    fn compose_file_as_text_and_missing_domain() {
        let mut v = sample();
        v["compose_file"] = json!("{\"docker_compose_file\":\"x: 1\\n\"}");
        v["gateway"] = json!({});
        let cvm = Cvm::from_json(&v).unwrap();
        assert_eq!(cvm.compose_file.as_deref(), Some("x: 1\n"));
        let err = cvm.public_url(80).unwrap_err();
        assert!(err.message.contains("no gateway base domain"));
        v.as_object_mut().unwrap().remove("status");
        assert!(
            Cvm::from_json(&v)
                .unwrap_err()
                .message
                .contains("\"status\"")
        );
    }
}
