//! The retry policy behind `retry(options, || ...)`: exponential backoff with jitter, a
//! deadline, and which error kinds are worth another attempt.

use std::time::Duration;

use rhai::{Dynamic, Map};

use super::duration;
use crate::error::{Error, ErrorKind};

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub delay: Duration,
    pub max_delay: Duration,
    pub factor: f64,
    pub jitter: bool,
    pub deadline: Option<Duration>,
    /// Kinds to retry; `None` retries every error.
    pub on: Option<Vec<ErrorKind>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            factor: 2.0,
            jitter: true,
            deadline: None,
            on: Some(vec![ErrorKind::Transient]),
        }
    }
}

impl RetryPolicy {
    /// Reads `#{attempts, delay, max_delay, factor, jitter, deadline, on}`; unknown keys are
    /// errors so a typo never silently means "use the default".
    pub fn from_map(options: &Map) -> Result<RetryPolicy, Error> {
        let mut policy = RetryPolicy::default();
        let bad =
            |key: &str, why: String| Error::invalid("host", format!("retry option `{key}`: {why}"));
        for (key, value) in options {
            match key.as_str() {
                "attempts" => {
                    let n = value
                        .as_int()
                        .map_err(|t| bad(key, format!("expected an int, got {t}")))?;
                    policy.attempts =
                        u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                            bad(key, format!("must be from 1 to {}, got {n}", u32::MAX))
                        })?;
                }
                "delay" => policy.delay = duration::from_dynamic(value, "retry option `delay`")?,
                "max_delay" => {
                    policy.max_delay = duration::from_dynamic(value, "retry option `max_delay`")?
                }
                "deadline" => {
                    policy.deadline =
                        Some(duration::from_dynamic(value, "retry option `deadline`")?)
                }
                "factor" => {
                    let f = value
                        .as_float()
                        .or_else(|_| value.as_int().map(|i| i as f64))
                        .map_err(|t| bad(key, format!("expected a number, got {t}")))?;
                    if f < 1.0 {
                        return Err(bad(key, format!("must be at least 1.0, got {f}")));
                    }
                    policy.factor = f;
                }
                "jitter" => {
                    policy.jitter = value
                        .as_bool()
                        .map_err(|t| bad(key, format!("expected true or false, got {t}")))?
                }
                "on" => policy.on = parse_kinds(value).map_err(|why| bad(key, why))?,
                _ => {
                    return Err(bad(
                        key,
                        "unknown; expected attempts, delay, max_delay, factor, jitter, deadline or on".into(),
                    ));
                }
            }
        }
        Ok(policy)
    }

    /// The pause before attempt `attempt + 1` (attempt counts from 1).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        crate::backoff::delay(
            self.delay,
            self.factor,
            self.max_delay,
            attempt.saturating_sub(1),
            self.jitter,
        )
    }

    pub fn retries(&self, kind: Option<ErrorKind>) -> bool {
        match (&self.on, kind) {
            (None, _) => true,
            (Some(kinds), Some(kind)) => kinds.contains(&kind),
            (Some(_), None) => false,
        }
    }
}

fn parse_kinds(value: &Dynamic) -> Result<Option<Vec<ErrorKind>>, String> {
    let items: Vec<Dynamic> = if let Some(arr) = value.read_lock::<rhai::Array>() {
        arr.clone()
    } else {
        vec![value.clone()]
    };
    let mut kinds = Vec::new();
    for item in items {
        let text = item
            .into_string()
            .map_err(|t| format!("expected a kind name, got {t}"))?;
        if text == "any" {
            return Ok(None);
        }
        kinds.push(ErrorKind::parse(&text).ok_or_else(|| {
            format!(
                "`{text}` is not an error kind (transient, not_found, auth, conflict, invalid, remote, or \"any\")"
            )
        })?);
    }
    Ok(Some(kinds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(script: &str) -> Map {
        rhai::Engine::new().eval::<Map>(script).unwrap()
    }

    #[test]
    fn reads_options_and_rejects_typos() {
        let p = RetryPolicy::from_map(&map(
            r#"#{attempts: 3, delay: "10ms", on: ["transient", "conflict"]}"#,
        ))
        .unwrap();
        assert_eq!(p.attempts, 3);
        assert!(p.retries(Some(ErrorKind::Conflict)));
        assert!(!p.retries(Some(ErrorKind::Auth)));
        assert!(
            RetryPolicy::from_map(&map(r#"#{on: "any"}"#))
                .unwrap()
                .retries(None)
        );
        let e = RetryPolicy::from_map(&map("#{attemps: 3}")).unwrap_err();
        assert!(e.message.contains("`attemps`"), "{}", e.message);
        let e = RetryPolicy::from_map(&map(r#"#{on: "flaky"}"#)).unwrap_err();
        assert!(e.message.contains("`flaky`"), "{}", e.message);
    }
}
