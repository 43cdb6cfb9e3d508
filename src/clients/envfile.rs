//! Env files (secrets for a deployment) in the dotenv syntax `phala deploy -e FILE` reads.
//!
//! The CLI parses env files with the `dotenv` package's rules (its copy lives in
//! `@phala/cloud`'s `parse_dotenv.ts`), so a file must mean the same here: `KEY=value` or
//! `KEY: value`, an optional `export `, `#` comments, single, double or backtick quotes that may
//! span lines, `\n`/`\r` expanded only inside double quotes, no `$VAR` expansion (which is why
//! this is not `dotenvy`, whose expansion would mangle secrets containing `$`), and for a
//! repeated key the last value wins at the first key's position.
//!
//! Where `dotenv` silently skips or truncates, this parser stops with an error naming the file
//! and line instead, because a silently dropped secret only shows up later as a broken
//! service: lines that are not assignments, unterminated quotes, text after a closing quote,
//! names the CVM would reject, and an unquoted value with a `#` glued to it (dotenv would cut
//! the value there).

use std::path::Path;

use super::phala::envcrypt::is_valid_env_key;
use crate::error::{Error, Result};
use crate::secret::Secret;

const HINT: &str = "env files use dotenv syntax: one KEY=value per line; quote values that contain # or span lines";

/// Reads and parses an env file. Values come back as [`Secret`]s.
pub fn parse_env_file(path: impl AsRef<Path>) -> Result<Vec<(String, Secret)>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid(
            "env-file",
            format!("cannot read env file {}: {e}", path.display()),
        )
        .with_hint("check the path given for the env file")
    })?;
    parse_env_str(&text, &path.display().to_string())
}

/// Parses env-file text; `origin` names the file in error messages.
pub fn parse_env_str(src: &str, origin: &str) -> Result<Vec<(String, Secret)>> {
    let text = src.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<(String, Secret)> = Vec::new();
    let err = |line: usize, msg: String| {
        Error::invalid("env-file", format!("{origin}:{line}: {msg}")).with_hint(HINT)
    };

    let mut i = 0;
    while i < lines.len() {
        let lineno = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        if let Some(after) = rest.strip_prefix("export")
            && after.starts_with([' ', '\t'])
        {
            rest = after.trim_start();
        }
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        if key.is_empty() {
            return Err(err(lineno, "expected KEY=value".into()));
        }
        let after_key = rest[key_len..].trim_start_matches([' ', '\t']);
        let value_part = if let Some(v) = after_key.strip_prefix('=') {
            v
        } else if let Some(v) = rest[key_len..]
            .strip_prefix(':')
            .filter(|v| v.starts_with([' ', '\t']) || v.is_empty())
        {
            v
        } else {
            return Err(err(lineno, format!("expected '=' after {key}")));
        };
        if !is_valid_env_key(key) {
            return Err(err(
                lineno,
                format!(
                    "env var name {key:?} is not allowed: names must match ^[A-Za-z_][A-Za-z0-9_]*$"
                ),
            ));
        }
        let value_part = value_part.trim_start_matches([' ', '\t']);
        let value = match value_part.chars().next() {
            Some(q @ ('"' | '\'' | '`')) => {
                // Find the closing quote, possibly on a later line; `\<q>` does not close.
                let mut buf = String::new();
                let mut current = &value_part[1..];
                let mut closed_rest = None;
                loop {
                    let bytes: Vec<char> = current.chars().collect();
                    let mut j = 0;
                    let mut consumed = String::new();
                    while j < bytes.len() {
                        if bytes[j] == '\\' && bytes.get(j + 1) == Some(&q) {
                            consumed.push('\\');
                            consumed.push(q);
                            j += 2;
                        } else if bytes[j] == q {
                            closed_rest = Some(bytes[j + 1..].iter().collect::<String>());
                            break;
                        } else {
                            consumed.push(bytes[j]);
                            j += 1;
                        }
                    }
                    buf.push_str(&consumed);
                    if closed_rest.is_some() {
                        break;
                    }
                    if i >= lines.len() {
                        return Err(err(
                            lineno,
                            format!("the quoted value of {key} is never closed (missing {q})"),
                        ));
                    }
                    buf.push('\n');
                    current = lines[i];
                    i += 1;
                }
                let trailing = closed_rest.unwrap_or_default();
                let trailing = trailing.trim_start();
                if !(trailing.is_empty() || trailing.starts_with('#')) {
                    return Err(err(
                        i,
                        format!("unexpected text after the closing quote of {key}"),
                    ));
                }
                if q == '"' {
                    buf.replace("\\n", "\n").replace("\\r", "\r")
                } else {
                    buf
                }
            }
            _ => {
                let raw = match value_part.find('#') {
                    Some(pos) => {
                        let before = &value_part[..pos];
                        if !before.is_empty() && !before.ends_with([' ', '\t']) {
                            return Err(err(
                                lineno,
                                format!(
                                    "the value of {key} contains '#', which starts a comment here: \
                                     it would be cut after {} characters; put the value in quotes",
                                    before.trim().chars().count()
                                ),
                            ));
                        }
                        before
                    }
                    None => value_part,
                };
                raw.trim().to_string()
            }
        };
        match out.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = Secret::new(value),
            None => out.push((key.to_string(), Secret::new(value))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Vec<(String, String)> {
        parse_env_str(src, "test.env")
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_assignments_comments_and_export() {
        let src = "# comment\n\nA=1\nexport B = two words  \nC=x # trailing comment\r\nD=\n  E: colon form\n";
        assert_eq!(
            parse(src),
            pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "x"),
                ("D", ""),
                ("E", "colon form")
            ])
        );
    }

    #[test]
    fn dollar_signs_are_not_expanded() {
        assert_eq!(
            parse("P=pa$$word${HOME}\n"),
            pairs(&[("P", "pa$$word${HOME}")])
        );
    }

    #[test]
    fn quotes_follow_dotenv() {
        let src = "S='single # not comment'\nD=\"a\\nb\"\nB=`back`\nQ=\"say \\\"hi\\\"\"\nR='no \\n here'\n";
        assert_eq!(
            parse(src),
            pairs(&[
                ("S", "single # not comment"),
                ("D", "a\nb"),
                ("B", "back"),
                // dotenv keeps backslash-escaped quotes as they are.
                ("Q", "say \\\"hi\\\""),
                ("R", "no \\n here"),
            ])
        );
    }

    #[test]
    fn multi_line_quoted_values() {
        let src = "KEY=\"-----BEGIN-----\nabc\n-----END-----\" # pem\nNEXT=1\n";
        assert_eq!(
            parse(src),
            pairs(&[
                ("KEY", "-----BEGIN-----\nabc\n-----END-----"),
                ("NEXT", "1")
            ])
        );
    }

    #[test]
    fn last_value_wins_in_first_position() {
        assert_eq!(parse("A=1\nB=2\nA=3\n"), pairs(&[("A", "3"), ("B", "2")]));
    }

    fn error(src: &str) -> String {
        parse_env_str(src, "deploy.env").unwrap_err().message
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            error("A=1\nnot an assignment\n"),
            "deploy.env:2: expected '=' after not"
        );
        assert!(error("A=1\n=x\n").starts_with("deploy.env:2: expected KEY=value"));
        assert!(
            error("\n\nA=\"open\nB=2\n")
                .starts_with("deploy.env:3: the quoted value of A is never closed")
        );
        assert!(
            error("A=\"x\" y\n")
                .starts_with("deploy.env:1: unexpected text after the closing quote of A")
        );
        assert!(error("my.key=1\n").contains("\"my.key\" is not allowed"));
    }

    #[test]
    fn glued_hash_is_an_error_that_does_not_leak_the_value() {
        let msg = error("TOKEN=abc#def\n");
        assert!(
            msg.starts_with("deploy.env:1: the value of TOKEN contains '#'"),
            "{msg}"
        );
        assert!(msg.contains("after 3 characters"));
        assert!(!msg.contains("abc"));
    }

    #[test]
    fn file_errors_name_the_path() {
        let err = parse_env_file("/nonexistent/dir/x.env").unwrap_err();
        assert!(err.message.contains("/nonexistent/dir/x.env"));
    }
}
