//! The `Secret` type in scripts, and the `secrets::` module that loads secrets.
//!
//! Every secret created here is registered with the session's redactor first, so its value
//! is masked in every sink even after a script reveals it into an ordinary string.

use std::sync::Arc;

use rhai::{Dynamic, Engine, Map};

use super::native::{NativeFn, NativeModule, Ty};
use super::session::Session;
use crate::clients::envfile::parse_env_file;
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
         The rules are those of `phala deploy -e FILE`, with no `$VAR` expansion; errors name\n\
         the file and line and never show a value.",
        move |c| {
            let path = c.str(0);
            let mut map = Map::new();
            for (key, value) in parse_env_file(&path)? {
                s.redactor.add(&value);
                map.insert(key.into(), Dynamic::from(value));
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
