//! Where the API key and endpoint come from: the same places, in the same order, as the
//! official CLI, so an operator logged in with `phala login` needs no extra setup.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;

pub const DEFAULT_API_PREFIX: &str = "https://cloud-api.phala.com/api/v1";

/// How to reach Phala Cloud.
#[derive(Clone, Debug)]
pub struct PhalaConfig {
    /// The whole prefix including `/api/v1`, without a trailing `/`.
    pub base_url: String,
    pub api_key: Secret,
}

impl PhalaConfig {
    pub fn new(base_url: impl Into<String>, api_key: Secret) -> PhalaConfig {
        PhalaConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key,
        }
    }

    /// Resolves the key as the CLI does: `PHALA_CLOUD_API_KEY`, then the current profile's
    /// token in `credentials.json` (in `PHALA_CLOUD_DIR`, else `~/.phala-cloud`). The base URL
    /// is `PHALA_CLOUD_API_PREFIX`, else the profile's `api_prefix`, else the public API.
    pub fn from_env() -> Result<PhalaConfig> {
        PhalaConfig::from_lookup(
            |k| std::env::var(k).ok(),
            std::env::var_os("HOME").map(PathBuf::from),
        )
    }

    /// [`PhalaConfig::from_env`] with the environment and home directory passed in, for tests
    /// and for hosts that keep their own environment.
    pub fn from_lookup(
        env: impl Fn(&str) -> Option<String>,
        home: Option<PathBuf>,
    ) -> Result<PhalaConfig> {
        let nonempty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let path = credentials_path(nonempty("PHALA_CLOUD_DIR"), home);
        let profile = path.as_deref().map(read_profile);

        let base_url = nonempty("PHALA_CLOUD_API_PREFIX")
            .or_else(|| {
                profile
                    .as_ref()
                    .and_then(|p| p.as_ref().ok())
                    .and_then(|p| p.as_ref())
                    .and_then(|p| p.api_prefix.clone())
            })
            .unwrap_or_else(|| DEFAULT_API_PREFIX.to_string());

        if let Some(key) = nonempty("PHALA_CLOUD_API_KEY") {
            return Ok(PhalaConfig::new(base_url, Secret::new(key.trim())));
        }
        let file = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.phala-cloud/credentials.json (no home directory)".into());
        match profile {
            Some(Ok(Some(StoredProfile { token: Some(token), .. }))) => {
                Ok(PhalaConfig::new(base_url, Secret::new(token)))
            }
            Some(Err(e)) => Err(e),
            _ => Err(Error::new(
                ErrorKind::Auth,
                "phala",
                format!("no Phala Cloud API key: PHALA_CLOUD_API_KEY is not set and {file} has no token for the current profile"),
            )
            .with_hint("export PHALA_CLOUD_API_KEY=phak_… or run `phala login`; use --sim to try runbooks without credentials")),
        }
    }
}

/// `$PHALA_CLOUD_DIR/credentials.json`, else `~/.phala-cloud/credentials.json`.
pub fn credentials_path(phala_cloud_dir: Option<String>, home: Option<PathBuf>) -> Option<PathBuf> {
    match phala_cloud_dir {
        Some(dir) => Some(PathBuf::from(dir).join("credentials.json")),
        None => home.map(|h| h.join(".phala-cloud").join("credentials.json")),
    }
}

struct StoredProfile {
    token: Option<String>,
    api_prefix: Option<String>,
}

/// The current profile of a CLI credentials file; `Ok(None)` when there is no usable file (the
/// CLI ignores those too), an error when the file exists but cannot be read as JSON.
fn read_profile(path: &Path) -> Result<Option<StoredProfile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Auth,
                "phala",
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        Error::new(
            ErrorKind::Auth,
            "phala",
            format!("{} is not valid JSON: {e}", path.display()),
        )
        .with_hint("run `phala login` again to rewrite it, or set PHALA_CLOUD_API_KEY")
    })?;
    let str_of = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if doc.get("schema_version").and_then(Value::as_i64) != Some(1) {
        return Ok(None);
    }
    let Some(current) = str_of(doc.get("current_profile")) else {
        return Ok(None);
    };
    let Some(profiles) = doc.get("profiles").and_then(Value::as_object) else {
        return Ok(None);
    };
    // As the CLI: the profile by name, else the one whose workspace slug or name matches.
    let profile = profiles.get(&current).or_else(|| {
        profiles
            .values()
            .find(|p| {
                p.pointer("/workspace/slug").and_then(Value::as_str) == Some(current.as_str())
            })
            .or_else(|| {
                profiles.values().find(|p| {
                    p.pointer("/workspace/name").and_then(Value::as_str) == Some(current.as_str())
                })
            })
    });
    Ok(profile.map(|p| StoredProfile {
        token: str_of(p.get("token")),
        api_prefix: str_of(p.get("api_prefix")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn write_credentials(dir: &Path, body: &str) {
        std::fs::write(dir.join("credentials.json"), body).unwrap();
    }

    const FILE: &str = r#"{"schema_version":1,"current_profile":"work",
        "profiles":{"work":{"token":"phak_from_file","api_prefix":"https://file.example/api/v1",
        "workspace":{"name":"Work","slug":"work-slug"}}}}"#;

    #[test]
    fn env_key_wins_and_prefix_falls_back_to_profile() {
        let dir = tempfile::tempdir().unwrap();
        write_credentials(dir.path(), FILE);
        let d = dir.path().to_str().unwrap();
        let cfg = PhalaConfig::from_lookup(
            lookup(&[("PHALA_CLOUD_DIR", d), ("PHALA_CLOUD_API_KEY", "phak_env")]),
            None,
        )
        .unwrap();
        assert_eq!(cfg.api_key.expose(), "phak_env");
        assert_eq!(cfg.base_url, "https://file.example/api/v1");

        let cfg = PhalaConfig::from_lookup(
            lookup(&[
                ("PHALA_CLOUD_DIR", d),
                ("PHALA_CLOUD_API_PREFIX", "http://127.0.0.1:9/api/v1/"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(cfg.api_key.expose(), "phak_from_file");
        assert_eq!(cfg.base_url, "http://127.0.0.1:9/api/v1");
    }

    #[test]
    fn home_directory_and_workspace_slug_profiles() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".phala-cloud")).unwrap();
        write_credentials(
            &home.path().join(".phala-cloud"),
            &FILE.replace(
                "\"current_profile\":\"work\"",
                "\"current_profile\":\"work-slug\"",
            ),
        );
        let cfg = PhalaConfig::from_lookup(lookup(&[]), Some(home.path().to_path_buf())).unwrap();
        assert_eq!(cfg.api_key.expose(), "phak_from_file");
    }

    #[test]
    fn no_key_names_both_places() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let err = PhalaConfig::from_lookup(lookup(&[("PHALA_CLOUD_DIR", d)]), None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Auth);
        assert!(err.message.contains("PHALA_CLOUD_API_KEY"));
        assert!(err.message.contains(&format!("{d}/credentials.json")));
        let ok = PhalaConfig::from_lookup(lookup(&[("PHALA_CLOUD_API_KEY", "k")]), None).unwrap();
        assert_eq!(ok.base_url, DEFAULT_API_PREFIX);
    }

    #[test]
    fn broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_credentials(dir.path(), "{not json");
        let d = dir.path().to_str().unwrap();
        let err = PhalaConfig::from_lookup(lookup(&[("PHALA_CLOUD_DIR", d)]), None).unwrap_err();
        assert!(err.message.contains("is not valid JSON"), "{}", err.message);
        // With a key in the environment the broken file does not matter, as in the CLI.
        assert!(
            PhalaConfig::from_lookup(
                lookup(&[("PHALA_CLOUD_DIR", d), ("PHALA_CLOUD_API_KEY", "k")]),
                None
            )
            .is_ok()
        );
    }
}
