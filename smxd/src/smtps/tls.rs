//! TLS configuration of the SMTP server and client (README §3.10 item 21,
//! §3.11, chapter 11; RFC 3207): loading `cert_file`, `key_file`,
//! `CAcert_file` and `CAcert_directory`, the client-certificate policy of
//! the server, and what a finished handshake established ([`TlsInfo`],
//! with the certificate DNs encoded as §3.10 item 21 says).
//!
//! Decisions:
//! - The server asks for a client certificate only when CA certificates
//!   are configured, and never requires one. A certificate that does not
//!   verify does not fail the handshake (sendmail 8 and X go on with
//!   `verify=FAIL`): the handshake only checks that the client holds the
//!   key, the chain is checked afterwards against the CAs, and only a
//!   chain that verifies sets [`TlsInfo::verified`] — the only thing
//!   relaying may depend on.
//! - DNs are written in OpenSSL's "oneline" form (`/C=US/O=.../CN=...`,
//!   `emailAddress=` for PKCS#9 e-mail), the form the seed's access-map
//!   examples use, then encoded with [`smx_maps::kind::encode_dn`].
//! - Only the `ring` provider is used; TLS 1.2 and 1.3 are offered.

use super::backend::TlsInfo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CommonState, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};
use smx_grammar::config::smtps::TlsConf;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A TLS file or setting that cannot be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM object.
    #[error("{path}: {what}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// `cert_file` without `key_file` or the other way round.
    #[error("tls: cert_file and key_file must be given together")]
    Incomplete,
    /// rustls refused the combination (e.g. key does not match the cert).
    #[error("tls: {0}")]
    Rustls(String),
}

fn file_err(path: &Path, what: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

/// The crypto provider smx uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no certificate in PEM format"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err(path, e))
}

/// The CA certificates of `CAcert_file` and `CAcert_directory` (every
/// file there holding PEM certificates; others are skipped).
pub fn load_roots(conf: &TlsConf, base: &Path) -> Result<Option<RootCertStore>, TlsError> {
    if conf.cacert_file.is_none() && conf.cacert_directory.is_none() {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    if let Some(f) = &conf.cacert_file {
        let path = base.join(f);
        for c in load_certs(&path)? {
            roots.add(c).map_err(|e| file_err(&path, e))?;
        }
    }
    if let Some(d) = &conf.cacert_directory {
        let dir = base.join(d);
        let entries = std::fs::read_dir(&dir).map_err(|e| file_err(&dir, e))?;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            // Hash links (c_rehash) and stray files: take what parses.
            if let Ok(certs) = load_certs(p) {
                for c in certs {
                    let _ = roots.add(c);
                }
            }
        }
    }
    if roots.is_empty() {
        return Err(TlsError::File {
            path: base.join(
                conf.cacert_file
                    .as_deref()
                    .or(conf.cacert_directory.as_deref())
                    .unwrap_or(""),
            ),
            what: "no usable CA certificate".to_string(),
        });
    }
    Ok(Some(roots))
}

/// The server side: what STARTTLS needs.
#[derive(Clone)]
pub struct ServerTls {
    /// The acceptor for the handshake.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The verifier of client certificates (when CAs are configured).
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("verifies_clients", &self.client_verifier.is_some())
            .finish()
    }
}

/// Asks for a client certificate, checks that the client holds its key,
/// and leaves the chain to [`ServerTls::info`].
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for RecordingVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl ServerTls {
    /// Loads the server's TLS configuration; `base` is the directory
    /// configuration-relative paths resolve against.
    pub fn load(conf: &TlsConf, base: &Path) -> Result<ServerTls, TlsError> {
        let (Some(cert), Some(key)) = (&conf.cert_file, &conf.key_file) else {
            return Err(TlsError::Incomplete);
        };
        let certs = load_certs(&base.join(cert))?;
        let key = load_key(&base.join(key))?;
        let provider = provider();
        let client_verifier = match load_roots(conf, base)? {
            Some(roots) => Some(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?,
            ),
            None => None,
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let builder = match &client_verifier {
            Some(inner) => builder.with_client_cert_verifier(Arc::new(RecordingVerifier {
                inner: inner.clone(),
            })),
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| {
            TlsError::Rustls(format!(
                "{cert}, {}: {e}",
                conf.key_file.as_deref().unwrap_or("")
            ))
        })?;
        Ok(ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            client_verifier,
        })
    }

    /// What a finished handshake established, the client certificate
    /// checked against the CAs.
    pub fn info(&self, conn: &rustls::ServerConnection) -> TlsInfo {
        let mut info = common_info(conn);
        if let Some(chain) = conn.peer_certificates() {
            if let Some((end, rest)) = chain.split_first() {
                info.verified = self
                    .client_verifier
                    .as_ref()
                    .is_some_and(|v| v.verify_client_cert(end, rest, UnixTime::now()).is_ok());
                if let Some((issuer, subject)) = cert_dns(end) {
                    info.cert_issuer = Some(issuer);
                    info.cert_subject = Some(subject);
                }
            }
        }
        info
    }
}

/// Version and cipher of a connection.
pub fn common_info(conn: &CommonState) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_string(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| {
            let s = s.suite();
            s.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{s:?}"))
        })
        .unwrap_or_else(|| "unknown".to_string());
    TlsInfo {
        version,
        cipher,
        ..TlsInfo::default()
    }
}

/// The issuer and subject DNs of a certificate, oneline form, encoded
/// for access-map keys (§3.10 item 21).
pub fn cert_dns(der: &CertificateDer<'_>) -> Option<(String, String)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some((
        smx_maps::kind::encode_dn(&oneline(cert.issuer())),
        smx_maps::kind::encode_dn(&oneline(cert.subject())),
    ))
}

/// OpenSSL's `X509_NAME_oneline` form: `/C=US/ST=.../CN=...`.
pub fn oneline(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    for rdn in name.iter() {
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let dotted = oid.to_id_string();
            let key = match short_name(&dotted) {
                Some(k) => k.to_string(),
                None => x509_parser::objects::oid2sn(oid, registry)
                    .map(str::to_string)
                    .unwrap_or(dotted),
            };
            let value = attr
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| String::from_utf8_lossy(attr.attr_value().data).into_owned());
            out.push('/');
            out.push_str(&key);
            out.push('=');
            out.push_str(&value);
        }
    }
    out
}

/// OpenSSL's short names of the usual DN attributes.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.42" => "GN",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// The client side: opportunistic STARTTLS (RFC 3207, §3.11 item 4).
#[derive(Clone)]
pub struct ClientTls {
    /// The connector for the handshake.
    pub connector: tokio_rustls::TlsConnector,
    verifier: Option<Arc<rustls::client::WebPkiServerVerifier>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("verifies_servers", &self.verifier.is_some())
            .finish()
    }
}

/// Accepts any server certificate during the handshake (opportunistic
/// TLS), still checking the handshake signatures; the chain is checked
/// afterwards when CAs are configured.
#[derive(Debug)]
struct AnyServer {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ClientTls {
    /// The client's TLS configuration; without `tls { }` the client still
    /// encrypts when the server offers STARTTLS, without verifying.
    pub fn load(conf: Option<&TlsConf>, base: &Path) -> Result<ClientTls, TlsError> {
        let provider = provider();
        let roots = match conf {
            Some(c) => load_roots(c, base)?,
            None => None,
        };
        let verifier = match roots {
            Some(r) => Some(
                rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(r),
                    provider.clone(),
                )
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?,
            ),
            None => None,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer { provider }));
        let config = match conf.and_then(|c| c.cert_file.as_ref().zip(c.key_file.as_ref())) {
            Some((cert, key)) => builder
                .with_client_auth_cert(load_certs(&base.join(cert))?, load_key(&base.join(key))?)
                .map_err(|e| TlsError::Rustls(format!("{cert}, {key}: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            verifier,
        })
    }

    /// What the handshake established; `verified` when CAs are configured
    /// and the server's chain verifies for `host`.
    pub fn info(&self, conn: &rustls::ClientConnection, host: &str) -> TlsInfo {
        let mut info = common_info(conn);
        if let (Some(v), Some((end, rest))) = (
            &self.verifier,
            conn.peer_certificates().and_then(|c| c.split_first()),
        ) {
            info.verified = ServerName::try_from(host.to_string())
                .map(|name| {
                    v.verify_server_cert(end, rest, &name, &[], UnixTime::now())
                        .is_ok()
                })
                .unwrap_or(false);
            if let Some((issuer, subject)) = cert_dns(end) {
                info.cert_issuer = Some(issuer);
                info.cert_subject = Some(subject);
            }
        }
        info
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The seed's example DN (§3.10 item 21), from a real certificate.
    #[test]
    fn seed_dn_example() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::StateOrProvinceName, "California");
        dn.push(rcgen::DnType::OrganizationName, "endmail.org");
        dn.push(rcgen::DnType::OrganizationalUnitName, "private");
        dn.push(rcgen::DnType::CommonName, "Darth Mail (Cert)");
        dn.push(
            rcgen::DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
            rcgen::DnValue::Ia5String("darth+cert@endmail.org".try_into().unwrap()),
        );
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (issuer, subject) = cert_dns(cert.der()).unwrap();
        let want = "/C=US/ST=California/O=endmail.org/OU=private/CN=\
                    Darth+20Mail+20+28Cert+29/emailAddress=darth+2Bcert@endmail.org";
        assert_eq!(subject, want);
        assert_eq!(issuer, want);
    }
}
