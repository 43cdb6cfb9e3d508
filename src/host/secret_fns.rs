//! The `Secret` type in scripts, and the `secrets::` module that loads secrets.
//!
//! Every secret created here is registered with the session's redactor first, so its value
//! is masked in every sink even after a script reveals it into an ordinary string.

use std::sync::Arc;

use rhai::{Dynamic, Engine, Map};

use super::native::{NativeFn, NativeModule, Ty};
use super::session::Session;
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// Registers `Secret` so that printing, interpolating or concatenating it shows `***`.
pub fn register_type(engine: &mut Engine) {
    engine
        .register_type_with_name::<Secret>("Secret")
        .register_fn("to_string", |s: &mut Secret| s.to_string())
        .register_fn("to_debug", |s: &mut Secret| format!("{s:?}"))
        .register_fn("+", |a: &str, s: Secret| format!("{a}{s}"))
        .register_fn("+", |s: Secret, b: &str| format!("{s}{b}"))
        .register_fn("==", |a: Secret, b: Secret| a == b)
        .register_fn("!=", |a: Secret, b: Secret| a != b)
        .register_fn("is_empty", |s: &mut Secret| s.expose().is_empty());
}

pub fn module(session: &Arc<Session>) -> NativeModule {
    let mut m = NativeModule::new(
        Some("secrets"),
        "Loading secrets. Values are `Secret`s: they print as *** and are masked in every output.",
    );
    let s = session.clone();
    m.add(NativeFn::read(
        "env",
        &[("name", Ty::Str)],
        "Secret",
        "A secret from an environment variable; fails with `not_found` when unset or empty.",
        move |c| {
            let name = c.str(0);
            match std::env::var(&name) {
                Ok(v) if !v.is_empty() => Ok(Dynamic::from(keep(&s, v))),
                _ => Err(Error::new(
                    ErrorKind::NotFound,
                    "secrets",
                    format!("environment variable {name} is not set"),
                )
                .with_hint(format!(
                    "export {name}=... before running, or load it from an env file"
                ))
                .into()),
            }
        },
    ));
    let s = session.clone();
    m.add(NativeFn::read(
        "from_env_file",
        &[("path", Ty::Str)],
        "Map",
        "Reads a dotenv file (`KEY=value` lines) into a map of `Secret`s, keyed by name.\n\
         Errors name the file and line.",
        move |c| {
            let path = c.str(0);
            let mut map = Map::new();
            for (key, value) in read_env_file(&path)? {
                map.insert(key.into(), Dynamic::from(keep(&s, value)));
            }
            Ok(map.into())
        },
    ));
    let s = session.clone();
    m.add(NativeFn::read(
        "wrap",
        &[("value", Ty::Str)],
        "Secret",
        "Marks a string as secret: from now on its value is masked everywhere.",
        move |c| Ok(Dynamic::from(keep(&s, c.str(0)))),
    ));
    m.add(NativeFn::read(
        "reveal",
        &[("secret", Ty::Secret)],
        "String",
        "The plain value of a secret, for the rare API that needs a string. Output stays masked.",
        |c| Ok(c.secret(0).expose().to_string().into()),
    ));
    m
}

fn keep(session: &Session, value: String) -> Secret {
    let secret = Secret::new(value);
    session.redactor.add(&secret);
    secret
}

/// Dotenv pairs from a file, with errors that name the file and the line.
pub fn read_env_file(path: &str) -> Result<Vec<(String, String)>, Error> {
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| Error::invalid("secrets", format!("cannot read env file {path}: {e}")))?;
    let mut pairs = Vec::new();
    for item in iter {
        let (key, value) = item.map_err(|e| match &e {
            // Name the line by number, never by content: the content may be a secret.
            dotenvy::Error::LineParse(line, index) => {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let number = text.lines().position(|l| l.contains(line.as_str()));
                Error::invalid(
                    "secrets",
                    format!(
                        "{path}:{}: not a KEY=value line (at character {})",
                        number.map_or("?".into(), |n| (n + 1).to_string()),
                        index + 1
                    ),
                )
            }
            other => Error::invalid("secrets", format!("{path}: {other}")),
        })?;
        pairs.push((key, value));
    }
    Ok(pairs)
}
