//! Encryption of a CVM's environment variables, byte for byte as the official CLI does it.
//!
//! The env never reaches Phala Cloud in clear: it is sealed to the app's X25519 key, and only
//! the CVM (through its KMS) can open it. The format, confirmed against `phala` 1.1.18 and the
//! in-CVM decryptor (`dstack-util`), is
//!
//! `hex( E(32) ‖ iv(12) ‖ AES-256-GCM(key = X25519(e, R), iv, plaintext) ‖ tag(16) )`
//!
//! with no KDF (the raw shared secret is the AES key) and no AAD. The plaintext is
//! `{"env":[{"key":"K","value":"V"},…]}` exactly as `JSON.stringify` writes it.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Limits the in-CVM decryptor enforces; checking them here turns a boot-time failure inside
/// the CVM into an error before anything is sent.
pub const MAX_ITEMS: usize = 1024;
pub const MAX_KEY_BYTES: usize = 255;
pub const MAX_VALUE_BYTES: usize = 128 * 1024;
pub const MAX_TOTAL_BYTES: usize = 1024 * 1024;

const SYSTEM: &str = "phala";

/// Seals `plaintext` to the recipient public key (hex, optional `0x`), with a fresh ephemeral
/// key and IV.
pub fn encrypt(plaintext: &[u8], recipient_pubkey_hex: &str) -> Result<String> {
    let recipient = parse_public_key(recipient_pubkey_hex)?;
    let mut ephemeral = [0u8; 32];
    let mut iv = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut ephemeral);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    encrypt_with(plaintext, recipient, ephemeral, iv)
}

/// The deterministic core of [`encrypt`]: tests pin the ephemeral secret and IV to check the
/// reference test vector.
pub fn encrypt_with(
    plaintext: &[u8],
    recipient_pubkey: [u8; 32],
    ephemeral_secret: [u8; 32],
    iv: [u8; 12],
) -> Result<String> {
    let secret = StaticSecret::from(ephemeral_secret);
    let ephemeral_public = PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&PublicKey::from(recipient_pubkey));
    if !shared.was_contributory() {
        return Err(Error::invalid(
            SYSTEM,
            "the CVM's env encryption public key is a low-order point; refusing to encrypt",
        )
        .with_hint("the encrypted_env_pubkey reported by Phala Cloud looks wrong; check it with `phala cvms get <id> --json`"));
    }
    let cipher = Aes256Gcm::new_from_slice(shared.as_bytes()).expect("32-byte key");
    let sealed = cipher
        .encrypt(Nonce::from_slice(&iv), plaintext)
        .map_err(|_| Error::invalid(SYSTEM, "AES-GCM encryption failed"))?;
    let mut out = Vec::with_capacity(32 + 12 + sealed.len());
    out.extend_from_slice(ephemeral_public.as_bytes());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&sealed);
    Ok(hex::encode(out))
}

/// Opens what [`encrypt`] sealed, given the recipient's secret key. The simulator uses this on
/// every PATCH, exactly as the CVM would.
pub fn decrypt(encrypted_hex: &str, recipient_secret: &[u8; 32]) -> Result<Vec<u8>> {
    let raw = hex::decode(encrypted_hex.trim().trim_start_matches("0x"))
        .map_err(|e| Error::invalid(SYSTEM, format!("encrypted_env is not valid hex: {e}")))?;
    if raw.len() < 32 + 12 + 16 {
        return Err(Error::invalid(
            SYSTEM,
            format!(
                "encrypted_env is too short ({} bytes; at least 60 expected)",
                raw.len()
            ),
        ));
    }
    let mut ephemeral = [0u8; 32];
    ephemeral.copy_from_slice(&raw[..32]);
    let secret = StaticSecret::from(*recipient_secret);
    let shared = secret.diffie_hellman(&PublicKey::from(ephemeral));
    if !shared.was_contributory() {
        return Err(Error::invalid(
            SYSTEM,
            "encrypted_env uses a low-order ephemeral key (all-zero shared secret)",
        ));
    }
    let cipher = Aes256Gcm::new_from_slice(shared.as_bytes()).expect("32-byte key");
    cipher
        .decrypt(Nonce::from_slice(&raw[32..44]), &raw[44..])
        .map_err(|_| {
            Error::invalid(
                SYSTEM,
                "encrypted_env does not decrypt with this app's key (wrong key or corrupted data)",
            )
        })
}

/// The public key, as lowercase hex, of an X25519 secret.
pub fn public_key_hex(secret: &[u8; 32]) -> String {
    hex::encode(PublicKey::from(&StaticSecret::from(*secret)).as_bytes())
}

/// Parses a recipient public key given as hex, with or without `0x` (as the CLI accepts it).
pub fn parse_public_key(hex_key: &str) -> Result<[u8; 32]> {
    let trimmed = hex_key.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    let bytes = hex::decode(digits).map_err(|e| {
        Error::invalid(
            SYSTEM,
            format!("env encryption public key {trimmed:?} is not hex: {e}"),
        )
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        Error::invalid(
            SYSTEM,
            format!(
                "env encryption public key has {} bytes; an X25519 key has 32",
                b.len()
            ),
        )
    })
}

/// Whether `key` is a name the in-CVM decryptor accepts: `^[A-Za-z_][A-Za-z0-9_]*$`.
pub fn is_valid_env_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(serde::Serialize, serde::Deserialize)]
struct EnvItem {
    key: String,
    value: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct EnvDoc {
    env: Vec<EnvItem>,
}

/// Checks env keys and sizes against the limits the CVM enforces, naming the offending key.
pub fn validate_env(env: &[(String, Secret)]) -> Result<()> {
    if env.len() > MAX_ITEMS {
        return Err(Error::invalid(
            SYSTEM,
            format!(
                "{} env vars given; a CVM accepts at most {MAX_ITEMS}",
                env.len()
            ),
        ));
    }
    let mut total = 0usize;
    for (key, value) in env {
        if !is_valid_env_key(key) {
            return Err(Error::invalid(
                SYSTEM,
                format!(
                    "env var name {key:?} is not allowed: names must match ^[A-Za-z_][A-Za-z0-9_]*$"
                ),
            ));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(Error::invalid(
                SYSTEM,
                format!("env var name {key:?} is longer than {MAX_KEY_BYTES} bytes"),
            ));
        }
        if value.expose().len() > MAX_VALUE_BYTES {
            return Err(Error::invalid(
                SYSTEM,
                format!("the value of env var {key} is larger than 128 KiB"),
            ));
        }
        total += key.len() + value.expose().len();
    }
    if total > MAX_TOTAL_BYTES {
        return Err(Error::invalid(
            SYSTEM,
            "the env is larger than 1 MiB in total",
        ));
    }
    Ok(())
}

/// The plaintext the CLI encrypts: `{"env":[{"key":…,"value":…},…]}` with no spaces, in the
/// given order. It holds every secret in clear, so it is itself a [`Secret`].
pub fn env_plaintext(env: &[(String, Secret)]) -> Secret {
    let doc = EnvDoc {
        env: env
            .iter()
            .map(|(k, v)| EnvItem {
                key: k.clone(),
                value: v.expose().to_string(),
            })
            .collect(),
    };
    Secret::new(serde_json::to_string(&doc).expect("strings serialise"))
}

/// Validates and seals an env for `PATCH /cvms/{id}`'s `encrypted_env`.
pub fn encrypt_env(env: &[(String, Secret)], recipient_pubkey_hex: &str) -> Result<String> {
    validate_env(env)?;
    encrypt(env_plaintext(env).expose().as_bytes(), recipient_pubkey_hex)
}

/// Opens an `encrypted_env` and parses the `{"env":[…]}` document inside, as the CVM does.
pub fn decrypt_env(
    encrypted_hex: &str,
    recipient_secret: &[u8; 32],
) -> Result<Vec<(String, Secret)>> {
    let plain = decrypt(encrypted_hex, recipient_secret)?;
    let doc: EnvDoc = serde_json::from_slice(&plain).map_err(|e| {
        Error::invalid(
            SYSTEM,
            format!("decrypted env is not a {{\"env\":[{{\"key\",\"value\"}}]}} document: {e}"),
        )
    })?;
    let env: Vec<(String, Secret)> = doc
        .env
        .into_iter()
        .map(|item| (item.key, Secret::new(item.value)))
        .collect();
    validate_env(&env)?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    const RECIPIENT_SECRET: &str =
        "7c282bf94b35dc47801dc953bfa0896fc2bd313381d3e8eca4e42f6536d2a96f";
    const RECIPIENT_PUBLIC: &str =
        "b5ee2e67280ef8c9540850e90e6b7ee1b5e7ef011301bde95a2e6f953d04d201";
    const VECTOR1: &str = "f0b4fd8be480349293ab61f0505ebb5bafccdf8a4127de221e6ef3db20e03d29000102030405060708090a0be2471af4f6bd7863eed54f8b12071871c2003a7d64798e1b9040895195480e565a1fda23c8838a012f16ea2f40e70f435636763bd7274defd4f8c18c723d1b07397555c2d53ee87bfa17a84a0e28b63d8b0358128a641f55eb7da0";

    fn vector1_env() -> Vec<(String, Secret)> {
        vec![
            ("FOO".into(), Secret::new("bar")),
            ("SECRET".into(), Secret::new("multi word")),
        ]
    }

    #[test]
    fn recipient_public_key_matches_reference() {
        assert_eq!(public_key_hex(&h32(RECIPIENT_SECRET)), RECIPIENT_PUBLIC);
    }

    #[test]
    fn plaintext_is_what_json_stringify_writes() {
        assert_eq!(
            env_plaintext(&vector1_env()).expose(),
            r#"{"env":[{"key":"FOO","value":"bar"},{"key":"SECRET","value":"multi word"}]}"#
        );
    }

    #[test]
    fn reference_vector_1_encrypts_byte_for_byte() {
        let plain = env_plaintext(&vector1_env());
        let out = encrypt_with(
            plain.expose().as_bytes(),
            h32(RECIPIENT_PUBLIC),
            [0xa0; 32],
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        )
        .unwrap();
        assert_eq!(out, VECTOR1);
        assert_eq!(out.len(), 2 * (60 + plain.expose().len()));
    }

    #[test]
    fn reference_vector_1_decrypts() {
        let env = decrypt_env(VECTOR1, &h32(RECIPIENT_SECRET)).unwrap();
        assert_eq!(env, vector1_env());
    }

    #[test]
    fn reference_vector_2_decrypts() {
        let ct = "0bd18749612f4c8b9dd583c7d6a646b90abd34e3c731a7708d0caf9039095641e1f0948e775f0b7351788db7f246d51806954626dcccb6a60d64665ca3715c6bef75616cab476d27bba04080361200d6a58cec";
        let plain = decrypt(ct, &h32(RECIPIENT_SECRET)).unwrap();
        assert_eq!(plain, br#"[{"key":"","value":""}]"#);
    }

    #[test]
    fn round_trip_with_random_keys_and_0x_prefix() {
        let env = vec![
            ("A".into(), Secret::new("line1\nline2 \"quoted\" ünïcødé")),
            ("_B2".into(), Secret::new("")),
        ];
        let sealed = encrypt_env(&env, &format!("0x{RECIPIENT_PUBLIC}")).unwrap();
        let again = encrypt_env(&env, RECIPIENT_PUBLIC).unwrap();
        assert_ne!(sealed, again, "fresh ephemeral key and IV every time");
        assert_eq!(decrypt_env(&sealed, &h32(RECIPIENT_SECRET)).unwrap(), env);
        assert_eq!(decrypt_env(&again, &h32(RECIPIENT_SECRET)).unwrap(), env);
    }

    #[test]
    fn wrong_key_or_tampering_is_rejected() {
        let mut other = h32(RECIPIENT_SECRET);
        other[1] ^= 1; // (bits 0-2 of byte 0 are cleared by clamping)
        assert!(
            decrypt(VECTOR1, &other)
                .unwrap_err()
                .message
                .contains("does not decrypt")
        );
        let mut tampered = VECTOR1.to_string();
        tampered.replace_range(100..102, "00");
        assert!(decrypt(&tampered, &h32(RECIPIENT_SECRET)).is_err());
        assert!(
            decrypt("abcd", &h32(RECIPIENT_SECRET))
                .unwrap_err()
                .message
                .contains("too short")
        );
    }

    #[test]
    fn low_order_keys_are_rejected() {
        let err = encrypt_with(b"x", [0u8; 32], [0xa0; 32], [0; 12]).unwrap_err();
        assert!(err.message.contains("low-order"));
        let mut forged = vec![0u8; 32];
        forged.extend_from_slice(&[0u8; 12 + 16]);
        let err = decrypt(&hex::encode(forged), &h32(RECIPIENT_SECRET)).unwrap_err();
        assert!(err.message.contains("all-zero"));
    }

    #[test]
    fn bad_keys_and_pubkeys_are_named() {
        let env = vec![("BAD-KEY".into(), Secret::new("v"))];
        let err = encrypt_env(&env, RECIPIENT_PUBLIC).unwrap_err();
        assert!(err.message.contains("\"BAD-KEY\""), "{}", err.message);
        assert!(
            parse_public_key("zz")
                .unwrap_err()
                .message
                .contains("not hex")
        );
        assert!(
            parse_public_key("abcd")
                .unwrap_err()
                .message
                .contains("2 bytes")
        );
    }
}
