//! The slice of docker compose the simulated CVM needs to recreate containers after an update:
//! service names, container names, images, environment (with `${VAR}` interpolation from the
//! CVM's decrypted env, as dstack feeds it to compose), ports and named volumes.

use std::collections::BTreeMap;

use serde_json::Value;

/// One service of a compose file, as the simulated Docker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The key under `services:`.
    pub service: String,
    /// `container_name`, else `dstack-<service>-1` (compose's default naming).
    pub container_name: String,
    /// The image reference, uninterpolated.
    pub image: String,
    /// `environment:` entries in order; `None` means "take it from the env" (`- KEY`).
    pub environment: Vec<(String, Option<String>)>,
    /// Published ports as written (`"18891:18891"`, `"1022:22"`).
    pub ports: Vec<String>,
}

/// The services and the top-level named volumes of a compose file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComposeSpec {
    pub services: Vec<ServiceSpec>,
    pub volumes: Vec<String>,
}

/// Reads a compose file. Errors are phrased for a `422` answer or a boot error.
pub fn parse(yaml: &str) -> Result<ComposeSpec, String> {
    let doc: Value = serde_saphyr::from_str(yaml).map_err(|e| format!("invalid YAML: {e}"))?;
    let Some(services) = doc.get("services").and_then(Value::as_object) else {
        return Err("the compose file has no services".into());
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    let mut out = ComposeSpec::default();
    for (name, svc) in services {
        let image = match svc.get("image").and_then(Value::as_str) {
            Some(i) => i.to_string(),
            None if svc.get("build").is_some() => format!("{name}:built-in-cvm"),
            None => return Err(format!("service {name:?} has neither image nor build")),
        };
        let environment = match svc.get("environment") {
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|item| match item.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (item.to_string(), None),
                })
                .collect(),
            _ => Vec::new(),
        };
        let ports = svc
            .get("ports")
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(text).collect())
            .unwrap_or_default();
        out.services.push(ServiceSpec {
            service: name.clone(),
            container_name: svc
                .get("container_name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("dstack-{name}-1")),
            image,
            environment,
            ports,
        });
    }
    out.volumes = doc
        .get("volumes")
        .and_then(Value::as_object)
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    Ok(out)
}

/// Compose-style interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?message}`, `${VAR?message}` and `$$`. `where_` names the place for errors, the way
/// `docker compose` does ("error while interpolating services.x.environment.Y: …").
pub fn interpolate(
    input: &str,
    env: &BTreeMap<String, String>,
    where_: &str,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| {
                format!("error while interpolating {where_}: unterminated ${{ in {input:?}")
            })?;
            let expr = &body[..end];
            rest = &body[end + 1..];
            let (name, op, arg) = split_expr(expr);
            let value = env.get(name);
            let value = match op {
                ":-" => value
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| arg.to_string()),
                "-" => value.cloned().unwrap_or_else(|| arg.to_string()),
                ":?" | "?" => match value {
                    Some(v) if op == "?" || !v.is_empty() => v.clone(),
                    _ => {
                        return Err(format!(
                            "error while interpolating {where_}: required variable {name} is missing a value: {arg}"
                        ));
                    }
                },
                _ => value.cloned().unwrap_or_default(),
            };
            out.push_str(&value);
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(env.get(&after[..len]).map(String::as_str).unwrap_or(""));
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn split_expr(expr: &str) -> (&str, &str, &str) {
    for op in [":-", ":?", "-", "?"] {
        if let Some(pos) = expr.find(op) {
            return (&expr[..pos], op, &expr[pos + op.len()..]);
        }
    }
    (expr, "", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = r#"
services:
  mux:
    image: "example/mux@sha256:abcd"
    container_name: mux-server
    environment:
      MUX_API_KEY: ${MUX_API_KEY:?set MUX_API_KEY}
      MUX_PORT: 18891
    ports: ["18891:18891", "1022:22"]
  side:
    image: busybox
    environment:
      - A=1
      - TOKEN
volumes:
  mux_data: {}
"#;

    #[test]
    fn reads_services_and_volumes() {
        let spec = parse(COMPOSE).unwrap();
        assert_eq!(spec.volumes, vec!["mux_data"]);
        let mux = &spec.services[0];
        assert_eq!(
            (mux.service.as_str(), mux.container_name.as_str()),
            ("mux", "mux-server")
        );
        assert_eq!(mux.image, "example/mux@sha256:abcd");
        assert_eq!(
            mux.environment[1],
            ("MUX_PORT".into(), Some("18891".into()))
        );
        assert_eq!(mux.ports, vec!["18891:18891", "1022:22"]);
        let side = &spec.services[1];
        assert_eq!(side.container_name, "dstack-side-1");
        assert_eq!(
            side.environment,
            vec![("A".into(), Some("1".into())), ("TOKEN".into(), None)]
        );
        assert!(
            parse("services: [")
                .unwrap_err()
                .starts_with("invalid YAML")
        );
        assert!(
            parse("services:\n  x: {}\n")
                .unwrap_err()
                .contains("neither image nor build")
        );
    }

    #[test]
    fn interpolation_follows_compose() {
        let env: BTreeMap<String, String> =
            [("A".into(), "1".into()), ("E".into(), "".into())].into();
        let i = |s: &str| interpolate(s, &env, "x");
        assert_eq!(
            i("$A-${A}-$$A-${B:-d}-${E:-d}-${E-d}").unwrap(),
            "1-1-$A-d-d-"
        );
        assert_eq!(
            i("${B:?set B}").unwrap_err(),
            "error while interpolating x: required variable B is missing a value: set B"
        );
        assert!(i("${E:?need E}").is_err());
        assert_eq!(i("${E?need E}").unwrap(), "");
    }
}
