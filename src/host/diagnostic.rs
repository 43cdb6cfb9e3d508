//! Errors as an operator reads them: one line saying what failed, where in which file, and
//! which exit code that means.

use rhai::{EvalAltResult, Map, ParseError, Position};

use crate::error::ErrorKind;

/// Exit code for a failed run: 130 interrupted, 1 the runbook failed (a host error, `fail`,
/// `throw`), 2 the script itself is wrong (unknown function, wrong types, ...).
pub fn exit_code(error: &EvalAltResult) -> i32 {
    match error {
        EvalAltResult::ErrorTerminated(..) => 130,
        EvalAltResult::ErrorRuntime(..) => 1,
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => exit_code(inner),
        _ => 2,
    }
}

/// Whether Ctrl-C stopped it, however deep in function calls.
pub fn is_interrupted(error: &EvalAltResult) -> bool {
    match error {
        EvalAltResult::ErrorTerminated(..) => true,
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => is_interrupted(inner),
        _ => false,
    }
}

/// `file:line:col: message` for a syntax error.
pub fn parse_error(origin: &str, error: &ParseError) -> String {
    format!(
        "{origin}:{}: {}",
        position(error.position()),
        error.err_type()
    )
}

fn position(pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!("{line}:{col}"),
        (Some(line), None) => format!("{line}"),
        _ => "?".into(),
    }
}

/// Where an error happened: the innermost source file and position Rhai knows.
pub fn locate(error: &EvalAltResult, origin: &str) -> Option<String> {
    let (source, pos) = innermost(error, origin);
    (!pos.is_none()).then(|| format!("{source}:{}", position(pos)))
}

fn innermost<'a>(error: &'a EvalAltResult, origin: &'a str) -> (&'a str, Position) {
    match error {
        EvalAltResult::ErrorInFunctionCall(_, src, inner, pos) => {
            let src = if src.is_empty() { origin } else { src.as_str() };
            match innermost(inner, src) {
                (_, p) if p.is_none() => (origin, *pos),
                found => found,
            }
        }
        EvalAltResult::ErrorInModule(name, inner, pos) => match innermost(inner, name) {
            (_, p) if p.is_none() => (origin, *pos),
            found => found,
        },
        other => (origin, other.position()),
    }
}

/// The message of an error, with its location when known.
pub fn report(error: &EvalAltResult, origin: &str) -> String {
    let text = describe_error(error);
    match locate(error, origin) {
        Some(at) => format!("{text}\n  at {at}"),
        None => text,
    }
}

/// The `kind` of an error raised by a host function or thrown as `#{kind: ...}`.
pub fn error_kind(error: &EvalAltResult) -> Option<ErrorKind> {
    match error {
        EvalAltResult::ErrorRuntime(value, _) => value
            .read_lock::<Map>()
            .and_then(|m| m.get("kind").and_then(|k| k.clone().into_string().ok()))
            .and_then(|k| ErrorKind::parse(&k)),
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => error_kind(inner),
        _ => None,
    }
}

/// One line for an error: host errors as `system error (kind): message`, others as Rhai says.
pub fn describe_error(error: &EvalAltResult) -> String {
    match error {
        EvalAltResult::ErrorRuntime(value, _) => match value.read_lock::<Map>() {
            Some(map) if map.contains_key("message") => {
                let get = |k: &str| map.get(k).map(|v| v.to_string()).unwrap_or_default();
                let mut line = match (map.get("system"), map.get("kind")) {
                    (Some(system), Some(kind)) => {
                        format!("{system} error ({kind}): {}", get("message"))
                    }
                    _ => get("message"),
                };
                if let Some(hint) = map.get("hint").filter(|h| !h.is_unit()) {
                    line.push_str(&format!("\n  hint: {hint}"));
                }
                line
            }
            _ => value.to_string(),
        },
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => describe_error(inner),
        other => other.to_string(),
    }
}
