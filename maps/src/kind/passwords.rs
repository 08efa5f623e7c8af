//! The password map of SMTP AUTH (RFC 4954, README §3.10 item 1): user
//! name → password hash, compiled by `createmap -k passwords`.
//!
//! The seed delegates AUTH to Cyrus SASL and its own password store; smx
//! checks PLAIN and LOGIN (RFC 4616, draft-murchison-sasl-login) itself
//! against this map, so that no plaintext password is ever stored.
//! Supported hashes, in their usual crypt(3)/PHC notation:
//!
//! - sha512-crypt: `$6$[rounds=N$]salt$hash` (`mkpasswd -m sha-512`,
//!   `openssl passwd -6`);
//! - bcrypt: `$2b$`, `$2a$`, `$2y$` (`htpasswd -B`);
//! - argon2: `$argon2id$`, `$argon2i$`, `$argon2d$` (`argon2` tool).
//!
//! Anything else (plaintext, `{SHA}`, MD5-crypt `$1$`, DES crypt) is
//! refused when the map is compiled. User names are looked up
//! lower-cased, as `createmap` folds keys (do not use `-f`: the SMTP server
//! looks user names up in lower case).

/// The hash families [`verify`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// `$6$`: SHA-512 crypt.
    Sha512Crypt,
    /// `$2b$` and its older variants.
    Bcrypt,
    /// `$argon2id$` and siblings (PHC string format).
    Argon2,
}

/// Why a password could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The stored value is not a supported hash.
    #[error("unsupported or malformed password hash ({0})")]
    BadHash(String),
}

/// The scheme of a stored value, if smx supports it.
pub fn scheme(hash: &str) -> Option<HashScheme> {
    if hash.starts_with("$6$") {
        Some(HashScheme::Sha512Crypt)
    } else if ["$2b$", "$2a$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        Some(HashScheme::Bcrypt)
    } else if ["$argon2id$", "$argon2i$", "$argon2d$"]
        .iter()
        .any(|p| hash.starts_with(p))
    {
        Some(HashScheme::Argon2)
    } else {
        None
    }
}

/// Checks one map entry (for `createmap`): the key is a user name, the
/// value a well-formed supported hash.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.contains(|c: char| c.is_control()) {
        return Err(format!("\"{key}\" is not a user name"));
    }
    let value = value.trim();
    match scheme(value) {
        None if value.starts_with("$1$") => Err(format!(
            "{key}: MD5-crypt ($1$) is too weak; use sha512-crypt ($6$), bcrypt ($2b$) or argon2id"
        )),
        None => Err(format!(
            "{key}: the value must be a password hash: sha512-crypt ($6$...), \
             bcrypt ($2b$...) or argon2id ($argon2id$...), never a plaintext password"
        )),
        Some(s) => well_formed(s, value).map_err(|e| format!("{key}: {e}")),
    }
}

fn well_formed(s: HashScheme, hash: &str) -> Result<(), String> {
    match s {
        HashScheme::Sha512Crypt => {
            // $6$[rounds=N$]salt$hash, hash = 86 characters of crypt base64.
            let rest = &hash[3..];
            let parts: Vec<&str> = rest.split('$').collect();
            let hash_part = match parts.as_slice() {
                [r, _salt, h] if r.starts_with("rounds=") => h,
                [_salt, h] => h,
                _ => return Err("malformed sha512-crypt hash".to_string()),
            };
            if hash_part.len() != 86 {
                return Err(
                    "malformed sha512-crypt hash (the hash part is not 86 characters)".into(),
                );
            }
            Ok(())
        }
        HashScheme::Bcrypt => hash
            .parse::<bcrypt::HashParts>()
            .map(|_| ())
            .map_err(|e| format!("malformed bcrypt hash: {e}")),
        HashScheme::Argon2 => argon2::PasswordHash::new(hash)
            .map(|_| ())
            .map_err(|e| format!("malformed argon2 hash: {e}")),
    }
}

/// Whether `password` matches the stored `hash`. Slow by design (the
/// hash's cost); run it off the async executor.
pub fn verify(hash: &str, password: &str) -> Result<bool, PasswordError> {
    let hash = hash.trim();
    match scheme(hash) {
        Some(HashScheme::Sha512Crypt) => Ok(sha_crypt::sha512_check(password, hash).is_ok()),
        Some(HashScheme::Bcrypt) => {
            bcrypt::verify(password, hash).map_err(|e| PasswordError::BadHash(e.to_string()))
        }
        Some(HashScheme::Argon2) => {
            use argon2::PasswordVerifier;
            let parsed = argon2::PasswordHash::new(hash)
                .map_err(|e| PasswordError::BadHash(e.to_string()))?;
            Ok(argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        }
        None => Err(PasswordError::BadHash("unknown scheme".to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sha512_crypt() {
        // openssl passwd -6 -salt saltsalt secret
        let h = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        assert_eq!(validate("joe", h), Ok(()));
        assert_eq!(verify(h, "secret"), Ok(true));
        assert_eq!(verify(h, "Secret"), Ok(false));
    }

    #[test]
    fn bcrypt_and_argon2() {
        let h = bcrypt::hash("secret", 4).unwrap();
        assert_eq!(validate("joe", &h), Ok(()));
        assert_eq!(verify(&h, "secret"), Ok(true));
        assert_eq!(verify(&h, "nope"), Ok(false));
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let h = argon2::Argon2::default()
            .hash_password(b"secret", &salt)
            .unwrap()
            .to_string();
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(validate("joe", &h), Ok(()));
        assert_eq!(verify(&h, "secret"), Ok(true));
        assert_eq!(verify(&h, "nope"), Ok(false));
    }

    #[test]
    fn refused_values() {
        assert!(validate("joe", "secret")
            .unwrap_err()
            .contains("never a plaintext"));
        assert!(validate("joe", "$1$abc$def")
            .unwrap_err()
            .contains("too weak"));
        assert!(validate("joe", "$6$salt$short").is_err());
        assert!(validate("joe", "$2b$04$tooshort").is_err());
        assert!(validate("", "$6$x").is_err());
    }
}
