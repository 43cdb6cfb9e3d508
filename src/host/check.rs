//! `runbook check`: compile scripts without running them, then lint what compiling cannot
//! see. Rhai binds function calls late, so a typo like `phala::gett` or `retyr` only fails
//! when that line runs, maybe at 3 a.m.; the lint finds it now.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use rhai::{ASTNode, Engine, Expr, OptimizationLevel, Position, Stmt};

use super::catalog::{Catalog, closest};
use super::engine::Host;
use super::scripts::{Script, StdlibResolver};

fn unknown(name: &str, similar: Option<String>) -> String {
    match similar {
        Some(similar) => format!("unknown function `{name}` (did you mean `{similar}`?)"),
        None => format!("unknown function `{name}`"),
    }
}

/// One problem, printed as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

pub struct Checker<'a> {
    host: &'a Host,
    catalog: Catalog,
    resolver: &'a StdlibResolver,
}

impl<'a> Checker<'a> {
    pub fn new(host: &'a mut Host, resolver: &'a StdlibResolver) -> Checker<'a> {
        // Unoptimised, so the lint sees every call as written.
        host.engine.set_optimization_level(OptimizationLevel::None);
        let catalog = Catalog::new(host);
        Checker {
            host,
            catalog,
            resolver,
        }
    }

    pub fn check(&self, script: &Script) -> Vec<Problem> {
        let problem = |pos: Position, message: String| Problem {
            file: script.origin.clone(),
            line: pos.line().unwrap_or(0),
            col: pos.position().unwrap_or(0),
            message,
        };
        let ast = match self
            .host
            .engine
            .compile_with_scope(&self.host.scope(), &script.source)
        {
            Ok(ast) => ast,
            Err(e) => return vec![problem(e.position(), e.err_type().to_string())],
        };
        let mut problems = Vec::new();

        // What the script itself defines: functions, variables, parameters, imports.
        let mut script_fns: BTreeSet<String> =
            ast.iter_functions().map(|f| f.name.to_string()).collect();
        for f in ast.iter_functions() {
            // A parameter may hold a closure that is called like a function.
            script_fns.extend(f.params.iter().map(|p| p.to_string()));
        }
        let mut imports: HashMap<String, Option<BTreeSet<String>>> = HashMap::new();
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::Var(x, ..))) => {
                    script_fns.insert(x.0.name.to_string());
                }
                Some(ASTNode::Stmt(Stmt::Import(x, pos))) => {
                    let (target, alias) = &**x;
                    if let Expr::StringConstant(name, _) = target {
                        let fns = self.module_functions(name);
                        if let Err(why) = &fns {
                            problems.push(problem(*pos, why.clone()));
                        }
                        imports.insert(alias.name.to_string(), fns.ok());
                    }
                }
                _ => {}
            }
            true
        });

        ast.walk(&mut |path: &[ASTNode]| {
            let (call, pos) = match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(call, pos))) => (call, *pos),
                Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => (call, *pos),
                _ => return true,
            };
            if call.op_token.is_some() || call.name.starts_with("anon$") {
                return true;
            }
            let name = call.name.as_str();
            if call.namespace.is_empty() {
                if !self.catalog.global_names.contains(name) && !script_fns.contains(name) {
                    let similar = self
                        .catalog
                        .suggest(name)
                        .or_else(|| closest(name, script_fns.iter().cloned()));
                    problems.push(problem(pos, unknown(name, similar)));
                }
                return true;
            }
            let module = call.namespace.root();
            let pos = call.namespace.position();
            let qualified = format!("{module}::{name}");
            let known = match imports.get(module) {
                Some(Some(fns)) if fns.contains(name) => true,
                Some(Some(fns)) => {
                    let similar = closest(&qualified, fns.iter().map(|f| format!("{module}::{f}")));
                    problems.push(problem(pos, unknown(&qualified, similar)));
                    return true;
                }
                Some(None) => true, // already reported as a missing module
                None if self.catalog.is_module(module) => self.catalog.has_module_fn(module, name),
                None => {
                    problems.push(problem(
                        pos,
                        format!("unknown module `{module}` (not a host module, and not imported)"),
                    ));
                    return true;
                }
            };
            if !known {
                problems.push(problem(
                    pos,
                    unknown(&qualified, self.catalog.suggest(&qualified)),
                ));
            }
            true
        });
        problems
    }

    /// The functions a stdlib module defines, or why they cannot be known.
    fn module_functions(&self, name: &str) -> Result<BTreeSet<String>, String> {
        let script = self.resolver.find(name).ok_or_else(|| {
            format!(
                "module `{name}` not found (looked in stdlib/, RUNBOOK_PATH and the shipped stdlib)"
            )
        })?;
        let engine: &Engine = &self.host.engine;
        let ast = engine.compile(&script.source).map_err(|e| {
            format!(
                "module `{name}` does not compile: {}",
                super::diagnostic::parse_error(&script.origin, &e)
            )
        })?;
        Ok(ast.iter_functions().map(|f| f.name.to_string()).collect())
    }
}
