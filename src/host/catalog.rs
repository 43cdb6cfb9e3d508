//! What functions exist, for `runbook fns`, the REPL's `:help` and Tab completion, and
//! `runbook check`.

use std::collections::BTreeSet;

use super::engine::Host;
use super::native::{Effect, qualified};

/// One host function, described from its declaration.
#[derive(Debug, Clone)]
pub struct FnDoc {
    pub module: Option<String>,
    pub name: String,
    pub signature: String,
    pub effect: Effect,
    pub doc: String,
}

impl FnDoc {
    pub fn qualified(&self) -> String {
        qualified(self.module.as_deref(), &self.name)
    }

    /// The first sentence of the doc.
    pub fn summary(&self) -> String {
        let paragraph = self.doc.split("\n\n").next().unwrap_or_default();
        let joined = paragraph
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        match joined.find(". ") {
            Some(end) => joined[..=end].to_string(),
            None => joined,
        }
    }
}

pub struct Catalog {
    /// Host functions, in declaration order.
    pub fns: Vec<FnDoc>,
    /// Static module names with their one-line description.
    pub modules: Vec<(String, String)>,
    /// Every callable name the engine knows without a namespace, built-ins included.
    pub global_names: BTreeSet<String>,
}

/// Functions that are Rhai syntax rather than registered functions.
const KEYWORD_FUNCTIONS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "eval",
];

impl Catalog {
    pub fn new(host: &Host) -> Catalog {
        let mut fns = Vec::new();
        let mut modules = Vec::new();
        for module in &host.modules {
            if let Some(name) = module.name {
                modules.push((name.to_string(), module.doc.to_string()));
            }
            for f in &module.fns {
                fns.push(FnDoc {
                    module: module.name.map(str::to_string),
                    name: f.name.to_string(),
                    signature: f.signature(module.name),
                    effect: f.effect,
                    doc: f.doc.to_string(),
                });
            }
        }
        let mut global_names: BTreeSet<String> = host
            .engine
            .gen_fn_signatures(true)
            .iter()
            .filter_map(|sig| sig.split('(').next())
            .filter(|name| !name.contains("::"))
            .map(str::to_string)
            .collect();
        global_names.extend(KEYWORD_FUNCTIONS.iter().map(|s| s.to_string()));
        Catalog {
            fns,
            modules,
            global_names,
        }
    }

    /// Host functions called `name` (`retry`, `phala::get`), every overload.
    pub fn lookup(&self, name: &str) -> Vec<&FnDoc> {
        self.fns.iter().filter(|f| f.qualified() == name).collect()
    }

    /// Whether `module::name` is a host function.
    pub fn has_module_fn(&self, module: &str, name: &str) -> bool {
        self.fns
            .iter()
            .any(|f| f.module.as_deref() == Some(module) && f.name == name)
    }

    pub fn is_module(&self, module: &str) -> bool {
        self.modules.iter().any(|(m, _)| m == module)
    }

    /// Names for Tab completion: host functions (qualified), module prefixes and built-ins.
    pub fn completions(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.fns.iter().map(FnDoc::qualified).collect();
        names.extend(self.modules.iter().map(|(m, _)| format!("{m}::")));
        names.extend(self.global_names.iter().cloned());
        names.into_iter().collect()
    }

    /// A similar host or built-in function name, for "did you mean" hints.
    pub fn suggest(&self, wrong: &str) -> Option<String> {
        let candidates = self
            .fns
            .iter()
            .map(FnDoc::qualified)
            .chain(self.global_names.iter().cloned());
        closest(wrong, candidates)
    }

    /// `runbook fns NAME` and `:help NAME`: signatures, effect, full doc.
    pub fn describe(&self, name: &str) -> Option<String> {
        let found = self.lookup(name);
        if found.is_empty() {
            return None;
        }
        let mut text = String::new();
        for f in found {
            text.push_str(&format!("{}  [{}]\n", f.signature, f.effect.as_str()));
            for line in f.doc.lines() {
                text.push_str(&format!("    {line}\n"));
            }
            text.push('\n');
        }
        Some(text.trim_end().to_string())
    }

    /// `runbook fns` and `:funcs`: one line per function, grouped by module.
    pub fn listing(&self) -> String {
        let width = self
            .fns
            .iter()
            .map(|f| f.signature.len())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        let mut current: Option<Option<String>> = None;
        for f in &self.fns {
            if current.as_ref() != Some(&f.module) {
                let title = match &f.module {
                    Some(m) => {
                        let doc = self
                            .modules
                            .iter()
                            .find(|(name, _)| name == m)
                            .map(|(_, d)| d.as_str())
                            .unwrap_or_default();
                        format!("{m}:: {doc}")
                    }
                    None => "core".to_string(),
                };
                text.push_str(&format!("\n{title}\n"));
                current = Some(f.module.clone());
            }
            let mark = match f.effect {
                Effect::Read => "   ",
                Effect::Mutation => " ! ",
            };
            text.push_str(&format!(
                "{mark}{:width$}  {}\n",
                f.signature,
                f.summary(),
                width = width
            ));
        }
        text.push_str("\n ! = mutation: recorded before it runs, not run in --dry-run\n");
        text.trim_start().to_string()
    }
}

/// The candidate nearest to `wrong`, if it is near enough to be what was meant.
pub fn closest(wrong: &str, candidates: impl Iterator<Item = String>) -> Option<String> {
    candidates
        .map(|c| (edit_distance(wrong, &c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::session::Session;

    #[test]
    fn knows_host_and_builtin_functions() {
        let host = Host::new(Session::detached(), &Default::default(), None);
        let catalog = Catalog::new(&host);
        assert!(catalog.has_module_fn("secrets", "env"));
        assert!(!catalog.has_module_fn("secrets", "envv"));
        assert!(catalog.global_names.contains("retry"));
        assert!(catalog.global_names.contains("len"));
        assert_eq!(
            catalog.suggest("secrets::envv").as_deref(),
            Some("secrets::env")
        );
        assert!(catalog.describe("retry").unwrap().contains("attempts"));
        assert!(catalog.completions().contains(&"secrets::".to_string()));
    }
}
