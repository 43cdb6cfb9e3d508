//! One value redactor in front of every output sink.
//!
//! Secrets end up inside ordinary strings (interpolated messages, remote output, error
//! texts), so hiding the `Secret` type is not enough: every line that leaves the process is
//! passed through [`Redactor::redact`], which replaces every known secret value with `***`.

use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

use crate::secret::Secret;

/// Values shorter than this are not redacted: masking `1` or `true` everywhere would make
/// output unreadable and protects nothing.
const MIN_SECRET_LEN: usize = 4;

/// A shared set of secret values. Cloning shares the set.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    values: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// The process-wide redactor: every session and the diagnostic log share it, so a secret
    /// loaded anywhere is masked everywhere.
    pub fn global() -> Redactor {
        static GLOBAL: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Redactor::new).clone()
    }

    /// Remembers a secret so that its value is masked from now on.
    pub fn add(&self, secret: &Secret) {
        self.add_value(secret.expose());
    }

    pub fn add_value(&self, value: &str) {
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        let mut inner = self.inner.write().expect("redactor lock");
        if inner.values.iter().any(|v| v == value) {
            return;
        }
        inner.values.push(value.to_string());
        inner.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&inner.values)
            .ok();
    }

    /// The text with every known secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let inner = self.inner.read().expect("redactor lock");
        match &inner.matcher {
            Some(m) => m.replace_all(text, &vec!["***"; inner.values.len()]),
            None => text.to_string(),
        }
    }

    /// Redacts every string inside a JSON value, keys included. Redacting before
    /// serialising matters: a secret containing `"` or `\` would not match once escaped.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k), v);
                }
            }
            _ => {}
        }
    }
}

/// A `tracing` writer that redacts each event before it reaches stderr.
pub struct RedactingStderr(Redactor);

impl RedactingStderr {
    pub fn new(redactor: Redactor) -> RedactingStderr {
        RedactingStderr(redactor)
    }
}

/// Buffers one event; writes it redacted when dropped.
pub struct RedactedLine {
    redactor: Redactor,
    buffer: Vec<u8>,
}

impl std::io::Write for RedactedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedLine {
    fn drop(&mut self) {
        let text = self.redactor.redact(&String::from_utf8_lossy(&self.buffer));
        let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactedLine;

    fn make_writer(&'a self) -> RedactedLine {
        RedactedLine {
            redactor: self.0.clone(),
            buffer: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_known_value_longest_first() {
        let r = Redactor::new();
        r.add_value("hunter2");
        r.add_value("hunter22-extended");
        assert_eq!(r.redact("a hunter22-extended b hunter2 c"), "a *** b *** c");
    }

    #[test]
    fn ignores_tiny_values() {
        let r = Redactor::new();
        r.add_value("ab");
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn redacts_json_before_escaping() {
        let r = Redactor::new();
        r.add_value("qu\"ote\\d");
        let mut v = serde_json::json!({"args": ["x qu\"ote\\d y"], "qu\"ote\\d": 1});
        r.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"args": ["x *** y"], "***": 1}));
    }
}
