//! Turning Phala Cloud's answers into errors an operator can act on.
//!
//! The API is FastAPI: failures carry `{"detail": …}` where `detail` is a string, a list of
//! validation issues, or a structured `{error_code, message, details, suggestions}` object.
//! The message is chosen the way the official CLI chooses it, and a hint says what the
//! failure usually means and what to run next.

use serde_json::Value;

use crate::error::{Error, ErrorKind};

pub(crate) const SYSTEM: &str = "phala";

/// The error for a non-success HTTP answer. `cvm` is the identifier the call was about, if any.
pub fn api_error(method: &str, path: &str, status: u16, body: &str, cvm: Option<&str>) -> Error {
    let kind = ErrorKind::from_http_status(status);
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let detail = parsed.as_ref().and_then(|v| v.get("detail"));
    let mut message = detail
        .and_then(detail_message)
        .or_else(|| {
            let text = body.trim();
            (!text.is_empty() && parsed.is_none()).then(|| truncate(text, 200))
        })
        .unwrap_or_else(|| reason(status).to_string());
    let request_id = parsed
        .as_ref()
        .and_then(|v| {
            v.get("request_id")
                .or_else(|| v.pointer("/detail/request_id"))
        })
        .and_then(Value::as_str);
    if let Some(id) = request_id {
        message.push_str(&format!(" (request id {id})"));
    }
    let suggestions: Vec<&str> = detail
        .and_then(|d| d.get("suggestions"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let hint = if suggestions.is_empty() {
        default_hint(status, cvm)
    } else {
        suggestions.join("; ")
    };
    Error::new(
        kind,
        SYSTEM,
        format!("{method} {path} failed with {status}: {message}"),
    )
    .with_hint(hint)
    .with_status(status as i64)
}

/// The CLI's choice of message: `detail.message` for an object, the string itself, or a
/// summary of a validation list.
pub fn detail_message(detail: &Value) -> Option<String> {
    match detail {
        Value::String(s) => Some(s.clone()),
        Value::Array(issues) => {
            let describe = |issue: &Value| {
                let msg = issue
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid value");
                let loc = issue
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .map(|p| match p {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .filter(|l| !l.is_empty());
                match loc {
                    Some(loc) => format!("{msg} (at {loc})"),
                    None => msg.to_string(),
                }
            };
            match issues.len() {
                0 => Some("Validation failed".into()),
                1 => Some(format!("Validation failed: {}", describe(&issues[0]))),
                n => Some(format!(
                    "Validation failed ({n} issues): {}",
                    issues.iter().map(describe).collect::<Vec<_>>().join("; ")
                )),
            }
        }
        Value::Object(obj) => {
            let message = obj
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| detail.to_string());
            let mut out = match obj.get("error_code").and_then(Value::as_str) {
                Some(code) => format!("{code}: {message}"),
                None => message,
            };
            let details: Vec<String> = obj
                .get("details")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|d| {
                            if let Some(m) = d.get("message").and_then(Value::as_str) {
                                Some(m.to_string())
                            } else {
                                let field = d.get("field").and_then(Value::as_str)?;
                                let value = d.get("value").map(|v| match v {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                });
                                Some(match value {
                                    Some(v) => format!("{field}={v}"),
                                    None => field.to_string(),
                                })
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !details.is_empty() {
                out.push_str(&format!(" [{}]", details.join(", ")));
            }
            Some(out)
        }
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn default_hint(status: u16, cvm: Option<&str>) -> String {
    match status {
        401 | 403 => "Phala Cloud rejected the API key: check PHALA_CLOUD_API_KEY (or run `phala login`) and that PHALA_CLOUD_API_PREFIX points at the right API".into(),
        404 => match cvm {
            Some(id) => format!("no CVM matches {id:?} for this API key; `phala cvms list` shows the CVMs it can see"),
            None => "the API has no such endpoint; check PHALA_CLOUD_API_PREFIX".into(),
        },
        409 => match cvm {
            Some(id) => format!("another operation is running on the CVM or the request conflicts with its state; wait for it (`phala cvms get {id}`) and try again"),
            None => "the request conflicts with the current state; check it and try again".into(),
        },
        422 => "Phala Cloud rejected the request as invalid; check the compose file and env var names".into(),
        465 => "this CVM uses an on-chain KMS: the compose hash must be registered on-chain first; use `phala deploy` with a wallet key for this update".into(),
        466..=468 => "the on-chain compose-hash check failed; use `phala deploy` for on-chain KMS updates".into(),
        408 | 429 => "Phala Cloud is throttling or timing out requests; it usually clears within a minute, so retry later".into(),
        500..=599 => "Phala Cloud had a server-side failure; this is usually temporary, so retry in a little while".into(),
        _ => "see the message from Phala Cloud above".into(),
    }
}

/// The error for a request that got no HTTP answer at all.
pub fn transport_error(method: &str, path: &str, base_url: &str, err: &reqwest::Error) -> Error {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "lost the connection"
    };
    // The error chain names the cause (refused, reset, closed before the message completed).
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !chain.contains(&text) {
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&text);
        }
        source = e.source();
    }
    Error::new(
        ErrorKind::Transient,
        SYSTEM,
        format!("{method} {path} {what} ({base_url}): {chain}"),
    )
    .with_hint("the network or Phala Cloud is having trouble; if it persists, check connectivity and PHALA_CLOUD_API_PREFIX")
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "unexpected answer",
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_detail() {
        let e = api_error(
            "GET",
            "/cvms/x",
            404,
            r#"{"detail":"CVM not found"}"#,
            Some("x"),
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, "GET /cvms/x failed with 404: CVM not found");
        assert!(e.hint.unwrap().contains("phala cvms list"));
        assert_eq!(e.status, Some(404));
    }

    #[test]
    fn validation_list() {
        let one = r#"{"detail":[{"loc":["body","docker_compose_file"],"msg":"field required","type":"missing"}]}"#;
        let e = api_error("PATCH", "/cvms/x", 422, one, Some("x"));
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.message
                .ends_with("Validation failed: field required (at body.docker_compose_file)"),
            "{}",
            e.message
        );
        let two = r#"{"detail":[{"msg":"a"},{"msg":"b","loc":["q"]}]}"#;
        let e = api_error("PATCH", "/cvms/x", 422, two, None);
        assert!(
            e.message
                .ends_with("Validation failed (2 issues): a; b (at q)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn structured_detail_with_suggestions_and_request_id() {
        let body = r#"{"detail":{"error_code":"ERR-01-004","message":"A CVM with name x already exists","details":[{"field":"name","value":"x"}],"suggestions":["use --cvm-id to update"]},"request_id":"req-9"}"#;
        let e = api_error("POST", "/cvms", 409, body, None);
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(
            e.message.ends_with(
                "ERR-01-004: A CVM with name x already exists [name=x] (request id req-9)"
            ),
            "{}",
            e.message
        );
        assert_eq!(e.hint.as_deref(), Some("use --cvm-id to update"));
    }

    #[test]
    fn transient_statuses_and_plain_bodies() {
        for status in [408, 429, 500, 502, 503] {
            assert_eq!(
                api_error("GET", "/x", status, "", None).kind,
                ErrorKind::Transient
            );
        }
        let e = api_error("GET", "/x", 502, "<html>bad gateway</html>", None);
        assert!(e.message.ends_with("<html>bad gateway</html>"));
        let e = api_error("GET", "/x", 401, r#"{"detail":"Not authenticated"}"#, None);
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.hint.unwrap().contains("PHALA_CLOUD_API_KEY"));
    }
}
