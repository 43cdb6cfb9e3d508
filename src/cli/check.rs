//! `runbook check [PATH ...]`

use std::path::{Path, PathBuf};

use super::{exit, fatal};
use crate::host::check::Checker;
use crate::host::engine::Host;
use crate::host::scripts::{Script, StdlibResolver};
use crate::host::session::Session;

pub fn check(paths: &[PathBuf]) -> i32 {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        ["runbooks", "stdlib"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .collect()
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for path in &paths {
        if let Err(e) = collect(path, &mut files) {
            return fatal(e);
        }
    }
    if files.is_empty() {
        return fatal("nothing to check: no .rhai files found (give files or directories)");
    }
    let mut problems = 0;
    for file in &files {
        let script = match Script::load(file) {
            Ok(script) => script,
            Err(e) => return fatal(e),
        };
        let dir = file.parent();
        let mut host = Host::new(Session::detached(), &Default::default(), dir);
        let resolver = StdlibResolver::new(dir);
        let checker = Checker::new(&mut host, &resolver);
        for problem in checker.check(&script) {
            println!("{problem}");
            problems += 1;
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) in {} file(s) checked", files.len());
        exit::FAILED
    } else {
        eprintln!("{} file(s) checked: ok", files.len());
        exit::OK
    }
}

/// `.rhai` files under `path`, sorted, or `path` itself.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    found.sort();
    for entry in found {
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if entry.extension().is_some_and(|e| e == "rhai") {
            files.push(entry);
        }
    }
    Ok(())
}
