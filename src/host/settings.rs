//! Settings files: the `KEY=value` files operators already keep next to their scripts (like
//! `.env.rollout-targets`), read by `setting()` without touching the process environment.

use std::collections::BTreeMap;
use std::path::Path;

/// Where `setting(NAME)` looks, first match wins: `--var`, the environment, settings files,
/// then the simulator's defaults. Later pairs win within `vars` and within `files`.
pub fn lookup(
    name: &str,
    vars: &[(String, String)],
    env: impl Fn(&str) -> Option<String>,
    files: &[(String, String)],
    defaults: &BTreeMap<String, String>,
) -> Option<String> {
    let last = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    last(vars)
        .or_else(|| env(name).filter(|v| !v.is_empty()))
        .or_else(|| last(files))
        .or_else(|| defaults.get(name).cloned())
}

/// Reads a settings file with dotenv rules, `$VAR` expansion included, as `source` would.
pub fn load(path: &Path) -> Result<Vec<(String, String)>, String> {
    let shown = path.display();
    let pairs = dotenvy::from_path_iter(path)
        .map_err(|e| format!("cannot read settings file {shown}: {e}"))?;
    pairs
        .map(|pair| {
            pair.map_err(|e| match e {
                dotenvy::Error::LineParse(line, index) => {
                    let text = std::fs::read_to_string(path).unwrap_or_default();
                    let number = text
                        .lines()
                        .position(|l| l.contains(line.as_str()))
                        .map_or(0, |n| n + 1);
                    format!("{shown}:{number}:{}: not a KEY=value line", index + 1)
                }
                other => format!("{shown}: {other}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order_is_vars_env_files_defaults() {
        let pairs = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let vars = pairs(&[("A", "var1"), ("A", "var2")]);
        let files = pairs(&[("A", "f"), ("B", "file1"), ("B", "file2"), ("C", "file")]);
        let defaults: BTreeMap<String, String> = [("C", "default"), ("D", "default")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let env = |name: &str| match name {
            "A" | "B" => Some("env".to_string()),
            "C" => Some(String::new()),
            _ => None,
        };
        let get = |name| lookup(name, &vars, env, &files, &defaults);
        assert_eq!(get("A").as_deref(), Some("var2"));
        assert_eq!(get("B").as_deref(), Some("env"));
        assert_eq!(
            get("C").as_deref(),
            Some("file"),
            "an empty variable does not count"
        );
        assert_eq!(get("D").as_deref(), Some("default"));
        assert_eq!(get("E"), None);
    }

    #[test]
    fn reads_pairs_and_names_the_bad_line() {
        let dir = std::env::temp_dir().join(format!("runbook-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.env");
        std::fs::write(
            &good,
            "# targets\nPHALA_MUX_CVM_IDS=mux-a,mux-b\nexport B=\"x y\"\n",
        )
        .unwrap();
        assert_eq!(
            load(&good).unwrap(),
            vec![
                ("PHALA_MUX_CVM_IDS".to_string(), "mux-a,mux-b".to_string()),
                ("B".to_string(), "x y".to_string())
            ]
        );
        let bad = dir.join("bad.env");
        std::fs::write(&bad, "A=1\nthis is not a setting\n").unwrap();
        let e = load(&bad).unwrap_err();
        assert!(e.ends_with("bad.env:2:6: not a KEY=value line"), "{e}");
        assert!(
            load(&dir.join("missing.env"))
                .unwrap_err()
                .contains("missing.env")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
