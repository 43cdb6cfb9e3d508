//! Settings files: the `KEY=value` files operators already keep next to their scripts (like
//! `.env.rollout-targets`), read by `setting()` without touching the process environment.

use std::path::Path;

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
