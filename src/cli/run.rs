//! `runbook run`: compile, start the run record, run, report.

use rhai::EvalAltResult;

use super::{exit, fatal};
use crate::host::diagnostic;
use crate::host::engine::Host;
use crate::host::event::Outcome;
use crate::host::redact::Redactor;
use crate::host::runtime::install_ctrl_c_handler;
use crate::host::scripts::find_runbook;
use crate::host::session::{Session, SessionOptions};
use crate::sim::Fault;

pub fn run(file: &str, mut options: SessionOptions, faults: Vec<Fault>) -> i32 {
    let script = match find_runbook(file) {
        Ok(script) => script,
        Err(e) => return fatal(e),
    };
    options.runbook = script.name();
    options.script = script.origin.clone();
    let session = match Session::new(options, Redactor::global()) {
        Ok(session) => session,
        Err(e) => return fatal(format!("{e:#}")),
    };
    let world = match super::world::connect(session.options.sim, faults) {
        Ok(world) => world,
        Err(e) => return fatal(format!("{e:#}")),
    };
    let script_dir = script.path.as_deref().and_then(|p| p.parent());
    let host = Host::new(session.clone(), &world.connections, script_dir);
    // Compile before anything is recorded or changed: a syntax error changes nothing.
    let mut ast = match host
        .engine
        .compile_with_scope(&host.scope(), &script.source)
    {
        Ok(ast) => ast,
        Err(e) => return fatal(diagnostic::parse_error(&script.origin, &e)),
    };
    ast.set_source(script.origin.as_str());
    if let Err(e) = session.begin_run() {
        return fatal(format!("{e:#}"));
    }
    install_ctrl_c_handler();
    let mut scope = host.scope();
    match host.engine.run_ast_with_scope(&mut scope, &ast) {
        Ok(()) => session.finish(Outcome::Ok, exit::OK, None),
        Err(error) => finish_failed(&session, &error, &script.origin),
    }
}

fn finish_failed(session: &Session, error: &EvalAltResult, origin: &str) -> i32 {
    let code = diagnostic::exit_code(error);
    let outcome = if code == exit::INTERRUPTED {
        Outcome::Interrupted
    } else {
        Outcome::Failed
    };
    let message = diagnostic::report(error, origin);
    session.finish(outcome, code, Some(message))
}
