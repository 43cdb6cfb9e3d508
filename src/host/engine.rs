//! Builds the Rhai engine that runs runbooks: the same for `run`, `repl` and `check`.

use std::path::Path;
use std::sync::Arc;

use rhai::{Dynamic, Engine, Map, Scope};

use super::connections::Connections;
use super::modules;
use super::native::NativeModule;
use super::runtime::interrupt;
use super::scripts::StdlibResolver;
use super::session::Session;
use super::{core_fns, secret_fns};

/// An engine wired to a session, with the declarations of every host function.
pub struct Host {
    pub engine: Engine,
    pub session: Arc<Session>,
    pub modules: Vec<NativeModule>,
}

impl Host {
    /// `script_dir` is where the runbook lives, for finding its stdlib.
    pub fn new(
        session: Arc<Session>,
        connections: &Connections,
        script_dir: Option<&Path>,
    ) -> Host {
        let modules = vec![
            core_fns::module(&session, &connections.defaults),
            secret_fns::module(&session),
            modules::phala::module(&session, connections.phala.clone()),
            modules::sim::module(&session, connections.sim.clone()),
        ];
        let mut engine = Engine::new();
        engine.set_strict_variables(true);
        // Rhai's defaults are tuned for untrusted one-liners; runbooks nest deeper.
        engine.set_max_expr_depths(256, 128);
        engine.set_module_resolver(StdlibResolver::new(script_dir));
        secret_fns::register_type(&mut engine);
        for module in &modules {
            let rhai_module = module.to_rhai(&session);
            match module.name {
                Some(name) => {
                    engine.register_static_module(name, rhai_module.into());
                }
                None => {
                    engine.register_global_module(rhai_module.into());
                }
            }
        }
        let s = session.clone();
        engine.on_print(move |text| s.print(text));
        let s = session.clone();
        engine.on_debug(move |text, source, pos| {
            let at = match (source, pos.line()) {
                (Some(src), Some(line)) => format!("{src}:{line}: "),
                (None, Some(line)) => format!("line {line}: "),
                _ => String::new(),
            };
            s.log("debug", &format!("{at}{text}"));
        });
        engine.on_progress(|_| {
            interrupt()
                .is_set()
                .then(|| Dynamic::from("interrupted by Ctrl-C"))
        });
        Host {
            engine,
            session,
            modules,
        }
    }

    /// The scope every script starts with: `vars`, the `--var KEY=VALUE` pairs.
    pub fn scope(&self) -> Scope<'static> {
        let mut scope = Scope::new();
        scope.push_constant("vars", vars_map(&self.session.options.vars));
        scope
    }
}

pub fn vars_map(vars: &[(String, String)]) -> Map {
    vars.iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
        .collect()
}
