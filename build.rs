//! Embeds the shipped `runbooks/` and `stdlib/` so an installed binary works anywhere.

use std::fmt::Write;
use std::{env, fs, path::PathBuf};

fn main() {
    let mut code = String::new();
    for dir in ["runbooks", "stdlib"] {
        println!("cargo:rerun-if-changed={dir}");
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|n| n.strip_suffix(".rhai").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        writeln!(
            code,
            "pub const {}: &[(&str, &str)] = &[",
            dir.to_uppercase()
        )
        .unwrap();
        for name in names {
            writeln!(
                code,
                "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{dir}/{name}.rhai\"))),"
            )
            .unwrap();
        }
        code.push_str("];\n");
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("embedded.rs");
    fs::write(out, code).unwrap();
}
