//! `sim::` — steer the simulator from a script (only with `--sim`): inject the known
//! failures, and look inside the simulated world to verify a runbook did what it should.

use std::sync::Arc;

use rhai::{Dynamic, Map};

use crate::error::Error;
use crate::host::native::{NativeFn, NativeModule, Ty};
use crate::host::session::Session;
use crate::secret::Secret;
use crate::sim::{Fault, SimState};

pub fn module(session: &Arc<Session>, sim: Option<Arc<SimState>>) -> NativeModule {
    let mut m = NativeModule::new(
        Some("sim"),
        "The built-in simulator (with --sim): fault injection and a look inside the simulated world.",
    );
    let sim = Arc::new(sim);
    let state = move |sim: &Option<Arc<SimState>>| {
        sim.clone().ok_or_else(|| {
            Error::invalid("sim", "sim:: functions work only against the simulator")
                .with_hint("run with --sim")
        })
    };

    let s = sim.clone();
    m.add(NativeFn::read(
        "fault",
        &[("spec", Ty::Str)],
        "int",
        "Injects a fault; returns its id. Examples: \"phala:get:status=503:times=3\",\n\
         \"phala:patch:drop:after:times=1\", \"phala:slow=2s\", \"cvm=mux-server-prod:pull-fail\",\n\
         \"cvm=openclaw-prod:never-ready\". `runbook sim serve --help` describes the grammar.",
        move |c| {
            let fault: Fault = c
                .str(0)
                .parse()
                .map_err(|e| Error::invalid("sim", format!("{e}")))?;
            let id = state(&s)?.inject(fault)?;
            Ok(Dynamic::from_int(id as i64))
        },
    ));
    let s = sim.clone();
    m.add(NativeFn::read(
        "faults",
        &[],
        "Array",
        "The faults in force, as specs.",
        move |_| {
            let state = state(&s)?;
            let faults: rhai::Array = state
                .faults()
                .list()
                .iter()
                .map(|f| Dynamic::from(f.fault.to_string()))
                .collect();
            Ok(faults.into())
        },
    ));
    let s = sim.clone();
    m.add(NativeFn::read(
        "clear_faults",
        &[],
        "()",
        "Removes every fault.",
        move |_| {
            state(&s)?.faults().clear();
            Ok(Dynamic::UNIT)
        },
    ));
    let (s, session) = (sim.clone(), session.clone());
    m.add(NativeFn::read(
        "env",
        &[("cvm", Ty::Str)],
        "Map",
        "The env a simulated CVM decrypted from its last deployment, as `Secret`s by name.",
        move |c| {
            let state = state(&s)?;
            let world = state.world();
            let id = c.str(0);
            let cvm = world.resolve(&id).ok_or_else(|| {
                Error::new(
                    crate::error::ErrorKind::NotFound,
                    "sim",
                    format!("no simulated CVM {id}"),
                )
            })?;
            let mut map = Map::new();
            for (key, value) in world.cvm(cvm).env_map() {
                let secret = Secret::new(value);
                session.redactor.add(&secret);
                map.insert(key.into(), Dynamic::from(secret));
            }
            Ok(map.into())
        },
    ));
    m
}
