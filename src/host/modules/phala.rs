//! `phala::` — confidential VMs on Phala Cloud.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rhai::{Dynamic, Map};

use super::{from_script, to_script};
use crate::clients::envfile::parse_env_file;
use crate::clients::phala::{Cvm, Deployment, PhalaClient, PhalaConfig, WaitOptions};
use crate::error::{Error, Result};
use crate::host::duration;
use crate::host::native::{Call, Fail, NativeFn, NativeModule, Ty};
use crate::host::session::Session;
use crate::secret::Secret;

/// The client, created at first use so runbooks that never call Phala need no API key.
struct Phala {
    session: Arc<Session>,
    config: Option<PhalaConfig>,
    client: OnceLock<Result<PhalaClient>>,
}

impl Phala {
    fn client(&self) -> Result<PhalaClient> {
        self.client
            .get_or_init(|| {
                let config = match &self.config {
                    Some(config) => config.clone(),
                    None => PhalaConfig::from_env()?,
                };
                self.session.redactor.add(&config.api_key);
                PhalaClient::new(config)
            })
            .clone()
    }

    fn run<T>(
        &self,
        label: &str,
        work: impl AsyncFnOnce(PhalaClient) -> Result<T>,
    ) -> Result<T, Fail> {
        let client = self.client()?;
        Ok(self.session.wait(label, work(client))??)
    }
}

/// Default time to wait for a CVM to become ready.
const DEFAULT_WAIT: Duration = Duration::from_secs(600);

pub fn module(session: &Arc<Session>, config: Option<PhalaConfig>) -> NativeModule {
    let phala = Arc::new(Phala {
        session: session.clone(),
        config,
        client: OnceLock::new(),
    });
    let mut m = NativeModule::new(Some("phala"), "Phala Cloud: confidential VMs (CVMs).");

    let p = phala.clone();
    m.add(NativeFn::read(
        "get",
        &[("id", Ty::Str)],
        "Map",
        "A CVM by UUID (with or without dashes), app id (with or without `app_`), `instance_` id\n\
         or name, as the official CLI resolves them.\n\
         Fields: `id`, `name`, `app_id`, `vm_uuid`, `instance_id`, `status`, `base_domain`,\n\
         `compose_file` (YAML), `compose_hash`, `allowed_envs`, `progress`, `public_logs`, `boot_error`.",
        move |c| {
            let id = c.str(0);
            let cvm = p.run(&format!("reading CVM {id}"), async |client| client.get_cvm(&id).await)?;
            Ok(to_script(&cvm)?)
        },
    ));
    let p = phala.clone();
    m.add(NativeFn::read(
        "list",
        &[],
        "Array",
        "Every CVM of the workspace: `name`, `app_id`, `vm_uuid`, `status`, `in_progress`, `base_domain`.",
        move |_| {
            let cvms = p.run("listing CVMs", async |client| client.list_cvms().await)?;
            Ok(to_script(&cvms)?)
        },
    ));
    let p = phala.clone();
    m.add(NativeFn::read(
        "containers",
        &[("id", Ty::Str)],
        "Array",
        "The containers running in a CVM: `names`, `image`, `image_id`, `state`, `status`.",
        move |c| {
            let id = c.str(0);
            let composition = p.run(&format!("reading containers of {id}"), async |client| {
                client.composition(&id).await
            })?;
            Ok(to_script(&composition.containers)?)
        },
    ));
    for (params, doc) in [
        (
            &[("id", Ty::Str), ("container", Ty::Str)][..],
            "The last 100 lines a container wrote to stdout.",
        ),
        (
            &[("id", Ty::Str), ("container", Ty::Str), ("tail", Ty::Int)][..],
            "The last `tail` lines a container wrote to stdout.",
        ),
    ] {
        let p = phala.clone();
        m.add(NativeFn::read("logs", params, "String", doc, move |c| {
            let (id, container) = (c.str(0), c.str(1));
            let tail = if c.args.len() > 2 { c.int(2) } else { 100 };
            let tail = usize::try_from(tail).map_err(|_| {
                Error::invalid("phala", format!("logs: tail must be positive, got {tail}"))
            })?;
            let text = p.run(&format!("reading logs of {container}"), async |client| {
                client.logs(&id, &container, tail).await
            })?;
            Ok(text.into())
        }));
    }

    for (params, doc) in [
        (
            &[("id", Ty::Str), ("compose", Ty::Str), ("env_file", Ty::Str)][..],
            "Updates a CVM with a compose file and a dotenv env file (paths), as\n\
             `phala deploy --cvm-id ID -c COMPOSE -e ENV_FILE` does: the env is encrypted to the\n\
             app's key. Returns a deployment to pass to `phala::wait_ready`.",
        ),
        (
            &[("id", Ty::Str), ("compose", Ty::Str), ("env", Ty::Map)][..],
            "Updates a CVM with a compose file (path) and an env map of `Secret`s or strings,\n\
             e.g. from `secrets::from_env_file`. An empty map leaves the CVM's env unchanged.",
        ),
    ] {
        let (p, prepared) = (phala.clone(), phala.clone());
        m.add(
            NativeFn::mutation("deploy", params, "Map", doc, move |c| {
                let DeployInputs { id, compose, env } = deploy_inputs(&p.session, c)?;
                let deployment = p.run(&format!("deploying {id}"), async |client| {
                    client.deploy(&id, &compose, &env).await
                })?;
                Ok(deployment_map(&deployment, false)?)
            })
            .prepare(move |c| {
                let inputs = deploy_inputs(&prepared.session, c)?;
                Ok(planned_deployment(&inputs.id))
            }),
        );
    }
    for (name, doc) in [
        (
            "start",
            "Starts a stopped CVM. Returns a deployment for `phala::wait_ready`.",
        ),
        (
            "stop",
            "Stops a CVM. Returns a deployment for `phala::wait_status(d, \"stopped\", ...)`.",
        ),
        (
            "restart",
            "Restarts a CVM. Returns a deployment for `phala::wait_ready`.",
        ),
    ] {
        let p = phala.clone();
        m.add(
            NativeFn::mutation(name, &[("id", Ty::Str)], "Map", doc, move |c| {
                let id = c.str(0);
                let deployment = p.run(&format!("{name} {id}"), async |client| match name {
                    "start" => client.start(&id).await,
                    "stop" => client.stop(&id).await,
                    _ => client.restart(&id).await,
                })?;
                Ok(deployment_map(&deployment, false)?)
            })
            .prepare(|c| Ok(planned_deployment(&c.str(0)))),
        );
    }

    for (params, doc) in [
        (
            &[("deployment", Ty::Map)][..],
            "Waits (up to 10 minutes) until the deployment has been observed and the CVM is running.\n\
             Unlike `phala deploy --wait`, a stale `running` from before the update does not count.\n\
             Returns the CVM. After a dry-run deployment it returns the CVM at once.",
        ),
        (
            &[("deployment", Ty::Map), ("timeout", Ty::Any)][..],
            "Like `wait_ready(deployment)` with a timeout: milliseconds or a string like \"5m\".",
        ),
    ] {
        let p = phala.clone();
        m.add(NativeFn::read("wait_ready", params, "Map", doc, move |c| {
            wait(&p, c, "running")
        }));
    }
    let p = phala.clone();
    m.add(NativeFn::read(
        "wait_status",
        &[
            ("deployment", Ty::Map),
            ("status", Ty::Str),
            ("timeout", Ty::Any),
        ],
        "Map",
        "Waits until the deployment has been observed and the CVM has `status` (e.g. \"stopped\").",
        move |c| {
            let status = c.str(1);
            wait(&p, c, &status)
        },
    ));

    m.add(NativeFn::read(
        "public_url",
        &[("cvm", Ty::Map), ("port", Ty::Int)],
        "String",
        "`https://<app_id>-<port>.<base_domain>`: a port of the CVM through the gateway.",
        |c| {
            let port = u16::try_from(c.int(1)).map_err(|_| {
                Error::invalid("phala", format!("public_url: {} is not a port", c.int(1)))
            })?;
            Ok(cvm_arg(c)?.public_url(port)?.into())
        },
    ));
    m.add(NativeFn::read(
        "ssh_host",
        &[("cvm", Ty::Map)],
        "String",
        "`<app_id>-1022.<base_domain>`: SSH into the app container (through the gateway, port 443).",
        |c| Ok(cvm_arg(c)?.ssh_host_container()?.into()),
    ));
    m.add(NativeFn::read(
        "ssh_host_vm",
        &[("cvm", Ty::Map)],
        "String",
        "`<app_id>-22.<base_domain>`: SSH into the VM host (through the gateway, port 443).",
        |c| Ok(cvm_arg(c)?.ssh_host_vm()?.into()),
    ));
    m
}

/// What a `deploy` call was given, each part read and checked.
struct DeployInputs {
    id: String,
    compose: String,
    env: Vec<(String, Secret)>,
}

fn deploy_inputs(session: &Session, c: &mut Call) -> Result<DeployInputs, Fail> {
    let id = c.str(0);
    let compose_path = c.str(1);
    let compose = std::fs::read_to_string(&compose_path).map_err(|e| {
        Error::invalid(
            "phala",
            format!("cannot read compose file {compose_path}: {e}"),
        )
    })?;
    let env = if c.arg(2).is_map() {
        env_from_map(&c.map(2))?
    } else {
        parse_env_file(c.str(2))?
    };
    for (_, value) in &env {
        session.redactor.add(value);
    }
    Ok(DeployInputs { id, compose, env })
}

fn env_from_map(map: &Map) -> Result<Vec<(String, Secret)>> {
    map.iter()
        .map(|(key, value)| {
            let secret = if let Some(secret) = value.clone().try_cast::<Secret>() {
                secret
            } else if value.is_string() {
                Secret::new(value.to_string())
            } else {
                return Err(Error::invalid(
                    "phala",
                    format!(
                        "env value for {key} must be a Secret or a string, got {}",
                        value.type_name()
                    ),
                ));
            };
            Ok((key.to_string(), secret))
        })
        .collect()
}

fn deployment_map(deployment: &Deployment, planned: bool) -> Result<Dynamic> {
    let mut map: Map = to_script(deployment)?.cast();
    map.insert("planned".into(), planned.into());
    Ok(map.into())
}

/// What `deploy` returns in a dry run: enough for `wait_ready` to know nothing happened.
fn planned_deployment(id: &str) -> Dynamic {
    let mut map = Map::new();
    map.insert("cvm".into(), id.into());
    map.insert("planned".into(), true.into());
    map.into()
}

fn wait(p: &Phala, c: &mut Call, status: &str) -> Result<Dynamic, Fail> {
    let map = c.map(0);
    let timeout = match c.args.len() {
        1 => DEFAULT_WAIT,
        n => duration::from_dynamic(c.arg(n - 1), "wait timeout")?,
    };
    let cvm = map.get("cvm").map(|v| v.to_string()).unwrap_or_default();
    if map.get("planned").and_then(|v| v.as_bool().ok()) == Some(true) {
        let now = p.run(&format!("reading CVM {cvm}"), async |client| {
            client.get_cvm(&cvm).await
        })?;
        return Ok(to_script(&now)?);
    }
    let deployment: Deployment =
        from_script(&Dynamic::from(map), "a deployment from phala::deploy")?;
    let client = p.client()?;
    let ready = p.session.wait_with(
        &format!("waiting for {cvm} to be {status}"),
        |show| async move {
            client
                .wait_status(
                    &cvm,
                    &deployment,
                    status,
                    WaitOptions::with_timeout(timeout),
                    |now| show(&now.status),
                )
                .await
        },
    )??;
    Ok(to_script(&ready)?)
}

fn cvm_arg(c: &Call) -> Result<Cvm> {
    from_script(c.arg(0), "a CVM from phala::get")
}
