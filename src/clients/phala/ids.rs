//! How a CVM identifier becomes the `{id}` path segment of `/cvms/{id}`.
//!
//! Operators paste whatever they have at hand: a dashed UUID from the dashboard, an app id with
//! or without `app_`, an `instance_…` id, or the CVM name. The official CLI normalises these in
//! one particular way before building the URL, and the server accepts every resulting form, so
//! doing exactly the same keeps `runbook` and `phala` interchangeable in a runbook.

use crate::error::{Error, Result};

/// Normalises an identifier exactly as `phala` 1.1.18 does:
///
/// 1. a UUID v4 (dashes optional, any case) loses its dashes;
/// 2. otherwise exactly 40 hex characters get an `app_` prefix;
/// 3. anything else (`app_…`, `instance_…`, a name, the opaque id) is sent verbatim.
///
/// Case is kept, as the CLI keeps it. A non-v4 UUID is sent with its dashes, and a bare 40-hex
/// *instance* id is taken for an app id: pass `instance_<hex>` for those.
pub fn normalize_cvm_id(id: &str) -> String {
    let id = id.trim();
    if is_uuid_v4(id) {
        id.replace('-', "")
    } else if id.len() == 40 && is_hex(id) {
        format!("app_{id}")
    } else {
        id.to_string()
    }
}

/// Like [`normalize_cvm_id`], but refuses identifiers that could not be a CVM and would
/// otherwise change the meaning of the URL (a `/`, `?`, a space, ...). The CLI does not check
/// this; we do, so a typo fails with a message instead of hitting another endpoint.
pub fn cvm_path_segment(id: &str) -> Result<String> {
    let trimmed = id.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid("phala", "empty CVM identifier").with_hint(
            "pass a CVM name, app id, UUID or instance id; `phala cvms list` shows them",
        ));
    }
    if let Some(bad) = trimmed
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(Error::invalid(
            "phala",
            format!("invalid CVM identifier {trimmed:?}: character {bad:?} is not allowed"),
        )
        .with_hint("a CVM identifier is a name, an app id, a UUID or an instance id"));
    }
    Ok(normalize_cvm_id(trimmed))
}

/// `^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$`, case-insensitive,
/// with each dash independently optional (the CLI's regular expression).
pub fn is_uuid_v4(s: &str) -> bool {
    let groups = [8usize, 4, 4, 4, 12];
    let bytes = s.as_bytes();
    let mut pos = 0;
    for (i, len) in groups.iter().enumerate() {
        if i > 0 && bytes.get(pos) == Some(&b'-') {
            pos += 1;
        }
        let Some(group) = s.get(pos..pos + len) else {
            return false;
        };
        if !is_hex(group) {
            return false;
        }
        if i == 2 && !group.starts_with('4') {
            return false;
        }
        if i == 3
            && !matches!(
                group.as_bytes()[0].to_ascii_lowercase(),
                b'8' | b'9' | b'a' | b'b'
            )
        {
            return false;
        }
        pos += len;
    }
    pos == bytes.len()
}

pub fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX40: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn uuid_v4_loses_its_dashes() {
        assert_eq!(
            normalize_cvm_id("3f2504e0-4f89-41d3-9a0c-0305e82c3301"),
            "3f2504e04f8941d39a0c0305e82c3301"
        );
        assert_eq!(
            normalize_cvm_id("3F2504E04F8941D39A0C0305E82C3301"),
            "3F2504E04F8941D39A0C0305E82C3301"
        );
        // Dashes are independently optional, as in the CLI's regular expression.
        assert_eq!(
            normalize_cvm_id("3f2504e0-4f8941d3-9a0c0305e82c3301"),
            "3f2504e04f8941d39a0c0305e82c3301"
        );
    }

    #[test]
    fn non_v4_uuid_is_sent_verbatim() {
        let v1 = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
        assert_eq!(normalize_cvm_id(v1), v1);
        let bad_variant = "3f2504e0-4f89-41d3-7a0c-0305e82c3301";
        assert_eq!(normalize_cvm_id(bad_variant), bad_variant);
    }

    #[test]
    fn bare_app_id_gets_the_prefix() {
        assert_eq!(normalize_cvm_id(HEX40), format!("app_{HEX40}"));
        assert_eq!(
            normalize_cvm_id(&format!("app_{HEX40}")),
            format!("app_{HEX40}")
        );
    }

    #[test]
    fn other_forms_are_verbatim() {
        assert_eq!(
            normalize_cvm_id(&format!("instance_{HEX40}")),
            format!("instance_{HEX40}")
        );
        assert_eq!(normalize_cvm_id("mux-server-prod"), "mux-server-prod");
        assert_eq!(normalize_cvm_id(&HEX40[..39]), &HEX40[..39]);
    }

    #[test]
    fn path_segment_rejects_url_syntax() {
        let err = cvm_path_segment("abc/../auth/me").unwrap_err();
        assert!(err.message.contains("'/'"), "{}", err.message);
        assert!(cvm_path_segment("  ").is_err());
        assert_eq!(
            cvm_path_segment(" openclaw-prod ").unwrap(),
            "openclaw-prod"
        );
    }
}
