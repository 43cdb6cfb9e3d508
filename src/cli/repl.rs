//! `runbook repl`: a session like `run`, with the operator typing the script.

use super::{exit, fatal};
use crate::host::engine::Host;
use crate::host::event::Outcome;
use crate::host::redact::Redactor;
use crate::host::repl::Repl;
use crate::host::runtime::install_ctrl_c_handler;
use crate::host::scripts::find_runbook;
use crate::host::session::{Session, SessionOptions};

pub fn repl(options: SessionOptions, load: Option<&str>, faults: Vec<crate::sim::Fault>) -> i32 {
    let script = match load.map(find_runbook).transpose() {
        Ok(script) => script,
        Err(e) => return fatal(e),
    };
    let session = match Session::new(options, Redactor::global()) {
        Ok(session) => session,
        Err(e) => return fatal(format!("{e:#}")),
    };
    // A loaded runbook finds its stdlib next to it, as it would under `run`.
    let script_dir = script.as_ref().and_then(|s| s.path.as_deref()?.parent());
    let world = match super::world::connect(session.options.sim, faults) {
        Ok(world) => world,
        Err(e) => return fatal(format!("{e:#}")),
    };
    let host = Host::new(session.clone(), &world.connections, script_dir);
    // Mutations typed here are journaled like any run's.
    if let Err(e) = session.begin_run() {
        return fatal(format!("{e:#}"));
    }
    install_ctrl_c_handler();
    let mut repl = Repl::new(host);
    if let Some(script) = &script {
        repl.load(script);
    }
    repl.interact();
    session.finish(Outcome::Ok, exit::OK, None)
}
