//! `runbook repl`: the runbook engine, one input at a time.
//!
//! Variables live in one scope and script functions in one AST that every input is merged
//! into, so what an operator defines stays defined. Errors are shown and the session goes on:
//! during an incident a typo must not cost the state built up so far.

mod input;

use std::collections::BTreeSet;

use console::style;
use rhai::{AST, Dynamic, EvalAltResult, Expr, FnPtr, ParseErrorType, Position, Scope, Stmt};

use super::catalog::Catalog;
use super::diagnostic;
use super::engine::Host;
use super::runtime::interrupt;
use super::scripts::{Script, find_runbook};
use input::{Input, Read};

const ORIGIN: &str = "<repl>";
const PROMPT: &str = "rb> ";
const CONTINUE: &str = "... ";

const COMMANDS: &[(&str, &str)] = &[
    (
        ":help",
        "this list; `:help NAME` describes a function or module",
    ),
    (":funcs", "host functions, and the functions defined here"),
    (":vars", "variables in scope, with their values"),
    (
        ":load",
        "`:load FILE` runs a script or runbook, keeping its functions and variables",
    ),
    (":quit", "leave (or Ctrl-D)"),
];

pub struct Repl {
    host: Host,
    catalog: Catalog,
    scope: Scope<'static>,
    /// Every script function defined so far; statements are dropped after each input.
    functions: AST,
}

/// Whether the loop goes on after a command.
enum Flow {
    Continue,
    Quit,
}

impl Repl {
    pub fn new(host: Host) -> Repl {
        Repl {
            catalog: Catalog::new(&host),
            scope: host.scope(),
            functions: AST::empty(),
            host,
        }
    }

    /// Reads and runs inputs until `:quit`, Ctrl-D or the end of piped input.
    pub fn interact(&mut self) {
        let mut input = Input::new(self.names());
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() { PROMPT } else { CONTINUE };
            let line = match input.read(prompt) {
                Read::Line(line) => line,
                Read::Interrupted => {
                    buffer.clear();
                    continue;
                }
                Read::Eof => {
                    // Run an unfinished block so its error says what is missing.
                    if !buffer.trim().is_empty() {
                        self.eval(&buffer);
                    }
                    break;
                }
            };
            if buffer.is_empty() && line.trim_start().starts_with(':') {
                input.remember(line.trim());
                match self.command(line.trim()) {
                    Flow::Continue => {
                        input.set_names(self.names());
                        continue;
                    }
                    Flow::Quit => break,
                }
            }
            buffer.push_str(&line);
            buffer.push('\n');
            if self.needs_more(&buffer) {
                continue;
            }
            let code = std::mem::take(&mut buffer);
            if !code.trim().is_empty() {
                self.eval(&code);
                input.set_names(self.names());
            }
            // After evaluation, so a secret this input defined is masked in the history too.
            input.remember(&self.host.session.redactor.redact(code.trim_end()));
        }
        let redactor = self.host.session.redactor.clone();
        input.save_history(|entry| redactor.redact(entry));
    }

    /// Runs a script file or runbook, keeping its functions and variables.
    pub fn load(&mut self, script: &Script) {
        self.run(&script.source, &script.origin);
    }

    /// Compiles and runs one input, echoing a value that is not `()`.
    fn eval(&mut self, code: &str) {
        if let Some(value) = self.run(code, ORIGIN)
            && !value.is_unit()
        {
            let shown = format!("=> {}", self.show(value));
            println!("{}", self.host.session.redactor.redact(&shown));
        }
    }

    /// Compiles `code` against the current scope and runs it with every function defined so
    /// far; reports an error and returns `None` when it fails.
    fn run(&mut self, code: &str, origin: &str) -> Option<Dynamic> {
        interrupt().clear();
        let mut ast = match self.host.engine.compile_with_scope(&self.scope, code) {
            Ok(ast) => ast,
            Err(e) => {
                self.error(&diagnostic::parse_error(origin, &e));
                return None;
            }
        };
        ast.set_source(origin);
        self.keep_imports(&ast);
        self.functions += ast;
        let result = self
            .host
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &self.functions);
        self.functions.clear_statements();
        // The Ctrl-C that stopped this input is spent: another one pressed before the prompt
        // is back must not count as the second press that ends the process.
        interrupt().clear();
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(&describe(&e, origin));
                None
            }
        }
    }

    /// Makes each top-level `import "path" as name;` outlast its input. Rhai forgets imports
    /// when an evaluation ends, so the module is also registered with the engine under its
    /// alias, where later inputs (and strict compilation) find it.
    fn keep_imports(&mut self, ast: &AST) {
        for stmt in ast.statements() {
            let Stmt::Import(import, pos) = stmt else {
                continue;
            };
            let (Expr::StringConstant(path, _), alias) = import.as_ref() else {
                continue;
            };
            if alias.name.is_empty() {
                continue;
            }
            let engine = &self.host.engine;
            // A failure is left to the import statement itself to report.
            if let Ok(module) = engine.module_resolver().resolve(engine, None, path, *pos) {
                self.host
                    .engine
                    .register_static_module(alias.name.as_str(), module);
            }
        }
    }

    /// Whether `code` is a block still being typed: it fails to parse only because it ends
    /// too early (an open `{`, `(` or `[`, a dangling operator, an open backtick string).
    fn needs_more(&self, code: &str) -> bool {
        match self.host.engine.compile_with_scope(&self.scope, code) {
            Ok(_) => false,
            Err(e) => ends_too_early(code, e.err_type(), e.position()),
        }
    }

    fn command(&mut self, line: &str) -> Flow {
        let (name, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = arg.trim();
        match name {
            ":quit" | ":q" | ":exit" => return Flow::Quit,
            ":help" | ":h" if arg.is_empty() => self.say(&help()),
            ":help" | ":h" => match self.describe(arg) {
                Some(text) => self.say(&text),
                None => self.error(&self.unknown_name(arg)),
            },
            ":funcs" => self.say(&self.funcs()),
            ":vars" => self.say(&self.vars()),
            ":load" if arg.is_empty() => self.error("usage: :load FILE"),
            ":load" => match find_runbook(arg) {
                Ok(script) => self.load(&script),
                Err(e) => self.error(&e),
            },
            _ => self.error(&format!("unknown command {name}; :help lists them")),
        }
        Flow::Continue
    }

    /// `:help NAME`: a host function, a module, a function defined here, or a Rhai built-in.
    fn describe(&self, name: &str) -> Option<String> {
        if let Some(text) = self.catalog.describe(name) {
            return Some(text);
        }
        let module = name.trim_end_matches("::");
        if let Some((_, doc)) = self.catalog.modules.iter().find(|(m, _)| m == module) {
            let mut text = format!("{module}:: {doc}\n");
            for f in self
                .catalog
                .fns
                .iter()
                .filter(|f| f.module.as_deref() == Some(module))
            {
                text.push_str(&format!("  {}  {}\n", f.signature, f.summary()));
            }
            return Some(text.trim_end().to_string());
        }
        let defined: Vec<String> = self
            .functions
            .iter_functions()
            .filter(|f| f.name == name)
            .map(|f| {
                let doc: Vec<&str> = f.comments.iter().flat_map(|c| c.lines()).collect();
                format!("fn {f}  [defined here]\n{}", doc.join("\n"))
            })
            .collect();
        if !defined.is_empty() {
            return Some(defined.join("\n").trim_end().to_string());
        }
        let prefix = format!("{name}(");
        let builtin: Vec<String> = self
            .host
            .engine
            .gen_fn_signatures(true)
            .into_iter()
            .filter(|sig| sig.starts_with(&prefix))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        (!builtin.is_empty()).then(|| format!("{}\n  [Rhai built-in]", builtin.join("\n")))
    }

    fn unknown_name(&self, name: &str) -> String {
        match self.catalog.suggest(name) {
            Some(similar) => format!("no function `{name}`; did you mean `{similar}`?"),
            None => format!("no function `{name}`; :funcs lists them"),
        }
    }

    fn funcs(&self) -> String {
        let mut text = self.catalog.listing();
        let defined: Vec<String> = self
            .functions
            .iter_functions()
            .map(|f| format!("    fn {f}"))
            .collect();
        if !defined.is_empty() {
            text.push_str(&format!("\ndefined here\n{}\n", defined.join("\n")));
        }
        text.trim_end().to_string()
    }

    /// Each variable's current value; a shadowed one only once.
    fn vars(&self) -> String {
        let mut seen = BTreeSet::new();
        let mut lines: Vec<String> = self
            .scope
            .iter_raw()
            .filter(|(name, ..)| seen.insert(name.to_string()))
            .map(|(name, constant, value)| {
                let kind = if constant { "const" } else { "let" };
                format!("{kind} {name} = {}", self.show(value.clone()))
            })
            .collect();
        lines.reverse();
        lines.join("\n")
    }

    /// A value the way `debug()` shows it, so a `Secret` reads `Secret(***)` even inside an
    /// array or map and strings are quoted.
    fn show(&self, value: Dynamic) -> String {
        let fallback = value.to_string();
        FnPtr::new("to_debug")
            .and_then(|f| f.call::<String>(&self.host.engine, &self.functions, (value,)))
            .unwrap_or(fallback)
    }

    /// Names for Tab completion, with the variables and functions defined so far.
    fn names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.catalog.completions().into_iter().collect();
        names.extend(COMMANDS.iter().map(|(c, _)| c.to_string()));
        names.extend(self.scope.iter_raw().map(|(name, ..)| name.to_string()));
        names.extend(self.functions.iter_functions().map(|f| f.name.to_string()));
        names.into_iter().collect()
    }

    fn say(&self, text: &str) {
        println!("{}", self.host.session.redactor.redact(text));
    }

    fn error(&self, text: &str) {
        let text = self.host.session.redactor.redact(text);
        eprintln!("{}", style(text).red().for_stderr());
    }
}

fn help() -> String {
    let mut text = String::from("Rhai with every runbook function. Commands:\n");
    for (name, what) in COMMANDS {
        text.push_str(&format!("  {name:<7} {what}\n"));
    }
    text.push_str(
        "\nA line with an open block continues on the next (`... `). Tab completes names;\n\
         Ctrl-C clears the line or stops what is running.",
    );
    text
}

/// An error as the operator reads it; Ctrl-C is reported as what it was.
fn describe(error: &EvalAltResult, origin: &str) -> String {
    if diagnostic::is_interrupted(error) {
        return match diagnostic::locate(error, origin) {
            Some(at) => format!("interrupted by Ctrl-C\n  at {at}"),
            None => "interrupted by Ctrl-C".to_string(),
        };
    }
    diagnostic::report(error, origin)
}

/// Whether a parse error is only that `code` ends before its last construct does.
fn ends_too_early(code: &str, error: &ParseErrorType, pos: Position) -> bool {
    use rhai::LexError;
    match error {
        // A backtick string may span lines, and a `\` at the end continues a quoted one.
        ParseErrorType::BadInput(LexError::UnterminatedString) => {
            char_at(code, pos) == Some('`') || code.trim_end().ends_with('\\')
        }
        ParseErrorType::UnexpectedEOF
        | ParseErrorType::MissingToken(..)
        | ParseErrorType::MissingSymbol(..) => pos == end_of(code),
        _ => false,
    }
}

fn char_at(code: &str, pos: Position) -> Option<char> {
    let line = code.split('\n').nth(pos.line()?.checked_sub(1)?)?;
    line.chars().nth(pos.position()?.checked_sub(1)?)
}

/// The position Rhai gives the end of the input.
fn end_of(code: &str) -> Position {
    let lines: Vec<&str> = code.split('\n').collect();
    let last = lines.last().map_or(0, |l| l.chars().count());
    Position::new(lines.len() as u16, last as u16 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::session::Session;

    fn repl() -> Repl {
        Repl::new(Host::new(Session::detached(), &Default::default(), None))
    }

    #[test]
    fn an_open_block_needs_more() {
        let r = repl();
        for open in [
            "fn f() {\n",
            "fn f(a) {\n a + 2\n",
            "let x = 1; if x > 0 {\n",
            "let s = `one\n",
            "[1, 2,\n",
            "1 +\n",
            "print(\"a \\\n",
        ] {
            assert!(r.needs_more(open), "{open:?} needs more");
        }
        for done in [
            "fn f() { 1 }\n",
            "let x = 1;\n",
            "1 +* 2\n",
            "}\n",
            "print(\"abc\n",
            "nope(\n)\n",
            "undefined_var + 1\n",
        ] {
            assert!(!r.needs_more(done), "{done:?} is complete or wrong");
        }
    }

    #[test]
    fn keeps_functions_and_variables_between_inputs() {
        let mut r = repl();
        assert!(r.run("let x = 40;", ORIGIN).is_some());
        assert!(r.run("fn f(a) { a + 2 }", ORIGIN).is_some());
        let value = r.run("f(x)", ORIGIN).unwrap();
        assert_eq!(value.as_int(), Ok(42));
        assert!(r.run("nope()", ORIGIN).is_none());
        assert_eq!(r.run("f(1)", ORIGIN).unwrap().as_int(), Ok(3));
    }

    #[test]
    fn shows_secrets_masked() {
        let mut r = repl();
        r.run(
            r#"let t = secrets::wrap("hunter2-secret"); let a = [t, "x"];"#,
            ORIGIN,
        );
        let vars = r.vars();
        assert!(vars.contains("let t = Secret(***)"), "{vars}");
        assert!(vars.contains(r#"let a = [Secret(***), "x"]"#), "{vars}");
        assert!(!vars.contains("hunter2"), "{vars}");
    }

    #[test]
    fn help_describes_host_builtin_and_defined_functions() {
        let mut r = repl();
        assert!(r.describe("retry").unwrap().contains("attempts"));
        assert!(r.describe("secrets::").unwrap().contains("secrets::wrap"));
        assert!(r.describe("len").unwrap().contains("Rhai built-in"));
        r.run("/// Doubles.\nfn double(x) { x * 2 }", ORIGIN);
        assert!(r.describe("double").unwrap().contains("Doubles."));
        assert!(r.describe("nope").is_none());
    }
}
