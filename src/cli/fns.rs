//! `runbook fns [NAME] [--definitions DIR]`

use std::path::Path;

use super::{exit, fatal};
use crate::host::catalog::Catalog;
use crate::host::engine::Host;
use crate::host::session::Session;

pub fn fns(name: Option<&str>, definitions: Option<&Path>) -> i32 {
    let host = Host::new(Session::detached(), &Default::default(), None);
    if let Some(dir) = definitions {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fatal(format!("cannot create {}: {e}", dir.display()));
        }
        return match host.engine.definitions().write_to_dir(dir) {
            Ok(()) => {
                eprintln!("wrote Rhai definition files to {}", dir.display());
                exit::OK
            }
            Err(e) => fatal(format!(
                "cannot write definitions to {}: {e}",
                dir.display()
            )),
        };
    }
    let catalog = Catalog::new(&host);
    match name {
        None => {
            print!("{}", catalog.listing());
            exit::OK
        }
        Some(name) => match catalog.describe(name) {
            Some(text) => {
                println!("{text}");
                exit::OK
            }
            None => {
                let hint = catalog
                    .suggest(name)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                fatal(format!(
                    "no host function `{name}`{hint}; `runbook fns` lists them"
                ))
            }
        },
    }
}
