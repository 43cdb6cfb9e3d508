//! Where scripts come from: runbooks by path or name, and `import`ed stdlib modules.
//!
//! Files on disk win over the copies embedded in the binary, so an operator edits a runbook
//! and runs it again with no rebuild, and an installed binary still works outside the
//! repository.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// A script's text and where it came from.
#[derive(Debug, Clone)]
pub struct Script {
    /// Shown in messages: a path, or `embedded:runbooks/update.rhai`.
    pub origin: String,
    /// The file on disk, when there is one.
    pub path: Option<PathBuf>,
    pub source: String,
}

impl Script {
    pub fn load(path: &Path) -> Result<Script, String> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Script {
            origin: path.display().to_string(),
            path: Some(path.to_path_buf()),
            source,
        })
    }

    /// The name an operator would call it by: the file stem.
    pub fn name(&self) -> String {
        let base = self.origin.rsplit('/').next().unwrap_or(&self.origin);
        base.strip_suffix(".rhai").unwrap_or(base).to_string()
    }
}

/// Directories listed in `RUNBOOK_PATH` (colon-separated).
fn runbook_path() -> Vec<PathBuf> {
    std::env::var_os("RUNBOOK_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

fn with_extension(name: &str) -> String {
    if name.ends_with(".rhai") {
        name.to_string()
    } else {
        format!("{name}.rhai")
    }
}

/// Finds a runbook: a path as given, else a name in `./runbooks`, then in each `RUNBOOK_PATH`
/// directory, then among the runbooks shipped in the binary.
pub fn find_runbook(name: &str) -> Result<Script, String> {
    let as_given = Path::new(name);
    if as_given.is_file() {
        return Script::load(as_given);
    }
    let file = with_extension(name);
    if Path::new(&file).is_file() {
        return Script::load(Path::new(&file));
    }
    let mut searched = vec![PathBuf::from("runbooks")];
    searched.extend(runbook_path());
    for dir in &searched {
        let candidate = dir.join(&file);
        if candidate.is_file() {
            return Script::load(&candidate);
        }
    }
    let stem = file.trim_end_matches(".rhai");
    if let Some((_, source)) = embedded::RUNBOOKS.iter().find(|(n, _)| *n == stem) {
        return Ok(Script {
            origin: format!("embedded:runbooks/{stem}.rhai"),
            path: None,
            source: source.to_string(),
        });
    }
    let shipped: Vec<&str> = embedded::RUNBOOKS.iter().map(|(n, _)| *n).collect();
    Err(format!(
        "no runbook `{name}`: not a file, not in {}, and not shipped (shipped: {})",
        searched
            .iter()
            .map(|d| format!("{}/", d.display()))
            .collect::<Vec<_>>()
            .join(", "),
        shipped.join(", ")
    ))
}

/// Every shipped runbook and stdlib module, as `(dir, name, source)`.
pub fn embedded() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    let runbooks = embedded::RUNBOOKS.iter().map(|(n, s)| ("runbooks", *n, *s));
    let stdlib = embedded::STDLIB.iter().map(|(n, s)| ("stdlib", *n, *s));
    runbooks.chain(stdlib)
}

/// Resolves `import "name" as alias;` from the stdlib directories on disk, then from the
/// embedded stdlib. Each module is compiled and evaluated once per engine.
pub struct StdlibResolver {
    dirs: Vec<PathBuf>,
    cache: Mutex<HashMap<String, Shared<Module>>>,
}

impl StdlibResolver {
    /// `script_dir` is the directory of the runbook being run, so `runbooks/../stdlib` is
    /// found even when running from elsewhere.
    pub fn new(script_dir: Option<&Path>) -> StdlibResolver {
        let mut dirs = vec![PathBuf::from("stdlib")];
        if let Some(dir) = script_dir {
            dirs.push(dir.join("../stdlib"));
            dirs.push(dir.join("stdlib"));
        }
        dirs.extend(runbook_path());
        StdlibResolver {
            dirs,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The source of stdlib module `name`, from disk or embedded.
    pub fn find(&self, name: &str) -> Option<Script> {
        let file = with_extension(name);
        for dir in &self.dirs {
            let candidate = dir.join(&file);
            if candidate.is_file() {
                return Script::load(&candidate).ok();
            }
        }
        let stem = file.trim_end_matches(".rhai");
        embedded::STDLIB
            .iter()
            .find(|(n, _)| *n == stem)
            .map(|(_, source)| Script {
                origin: format!("embedded:stdlib/{stem}.rhai"),
                path: None,
                source: source.to_string(),
            })
    }
}

impl ModuleResolver for StdlibResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        if let Some(module) = self.cache.lock().expect("module cache").get(path) {
            return Ok(module.clone());
        }
        let script = self
            .find(path)
            .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos)))?;
        let mut ast = engine
            .compile(&script.source)
            .map_err(|e| EvalAltResult::ErrorInModule(script.origin.clone(), e.into(), pos))?;
        ast.set_source(script.origin.as_str());
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| EvalAltResult::ErrorInModule(script.origin.clone(), e, pos))?;
        let module: Shared<Module> = module.into();
        self.cache
            .lock()
            .expect("module cache")
            .insert(path.to_string(), module.clone());
        Ok(module)
    }
}
