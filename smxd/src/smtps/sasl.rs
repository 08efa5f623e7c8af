//! The SASL mechanisms smx checks itself, without I/O: PLAIN (RFC 4616)
//! and LOGIN (draft-murchison-sasl-login), base64 as RFC 4954 §4 frames
//! them. The password check against the map is `auth.rs`'s.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A supported mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// The de-facto LOGIN mechanism.
    Login,
}

impl Mechanism {
    /// The mechanism named `s` (case-insensitive), if smx offers it.
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            _ => None,
        }
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }

    /// Both send the password in the clear (inside TLS).
    pub fn is_plaintext(self) -> bool {
        true
    }
}

/// A client response that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslError {
    /// `*`: the client gave up (RFC 4954 §4).
    Cancelled,
    /// Not base64, not UTF-8, or not the mechanism's format.
    Malformed,
}

/// Decodes one base64 response line (`=` is the empty initial response).
pub fn decode(line: &str) -> Result<Vec<u8>, SaslError> {
    let line = line.trim();
    if line == "*" {
        return Err(SaslError::Cancelled);
    }
    if line == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| SaslError::Malformed)
}

/// Base64 of a challenge.
pub fn encode(s: &str) -> String {
    STANDARD.encode(s)
}

/// The credentials a mechanism yielded.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity.
    pub user: String,
    /// The password; never logged.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// PLAIN: `[authzid] NUL authcid NUL passwd`. An authorization identity
/// other than the authentication identity is refused (smx has no proxy
/// authorization), reported as `Malformed`.
pub fn plain(msg: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authz), Some(authc), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| SaslError::Malformed)
    };
    let (authz, user, password) = (text(authz)?, text(authc)?, text(pass)?);
    if user.is_empty() || (!authz.is_empty() && authz != user) {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials { user, password })
}

/// One LOGIN field (user name or password): UTF-8 text.
pub fn login_field(msg: &[u8]) -> Result<String, SaslError> {
    std::str::from_utf8(msg)
        .map(str::to_string)
        .map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        assert_eq!(
            decode("AGpvZQBzZWNyZXQ=").and_then(|m| plain(&m)),
            Ok(Credentials {
                user: "joe".into(),
                password: "secret".into()
            })
        );
        assert_eq!(plain(b"joe\0joe\0pw").map(|c| c.user), Ok("joe".into()));
        assert_eq!(plain(b"admin\0joe\0pw"), Err(SaslError::Malformed));
        assert_eq!(plain(b"\0\0pw"), Err(SaslError::Malformed));
        assert_eq!(plain(b"joe\0pw"), Err(SaslError::Malformed));
        assert_eq!(plain(b"\0joe\0pw\0x"), Err(SaslError::Malformed));
        assert_eq!(decode("*"), Err(SaslError::Cancelled));
        assert_eq!(decode("!!"), Err(SaslError::Malformed));
        assert_eq!(decode("="), Ok(vec![]));
        assert!(!format!("{:?}", plain(b"\0joe\0hunter2")).contains("hunter2"));
    }
}
