//! STARTTLS (RFC 3207) and AUTH (RFC 4954) of the SMTP server, and the
//! SMTP client's opportunistic STARTTLS (README §3.10 item 21, §3.11).
//!
//! Certificates are made here with rcgen: a CA, a server certificate for
//! 127.0.0.1/localhost, and client certificates with the DN of the seed's
//! example (§3.10 item 21), one signed by the CA and one self-signed.
//!
//! Real peers against the real binary (`smxd -f smx.conf`): swaks `-tls`
//! with `-a PLAIN` / `-a LOGIN`, `openssl s_client -starttls smtp`, and
//! the STARTTLS injection case (CVE-2011-0411) over a raw socket;
//! relaying (issue 6) after AUTH with a trusted mechanism (also for the
//! recipient forms of the open-relay matrix) and by a verified client
//! certificate (`allow_relaying_if_verified`, or
//! `check_access_map_for_relaying` with `certissuer:`/`certsubject:`).
//! In-process (`smtps::serve_secure` with a recording backend): the
//! client-certificate DNs and `verified` in `SessionInfo.tls`, AUTH
//! replies and the failure limit, the `Received:` header; and the smtpc
//! client against that server with and without STARTTLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Smx, TestDir};
use common::{RELAY_MATRIX as MATRIX, RELAY_REMOTE as REMOTE};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use smxd::proto::{Delivery, DeliveryRcpt, NextHop};
use smxd::smtpc::{Client, ClientConf};
use smxd::smtps::address::{ForwardPath, MailParams, RcptParams, ReversePath};
use smxd::smtps::tls::ServerTls;
use smxd::smtps::{Backend, Envelope, Peer, Reply, Security, SessionInfo, Verdict};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Every wait is bounded by this.
const BOUND: Duration = Duration::from_secs(30);

/// The seed's example DN (§3.10 item 21), encoded.
const SEED_DN: &str = "/C=US/ST=California/O=endmail.org/OU=private/CN=\
                       Darth+20Mail+20+28Cert+29/emailAddress=darth+2Bcert@endmail.org";
const CA_DN: &str = "/C=US/O=smx+20test/CN=smx+20test+20CA";

/// sha512-crypt of "secret" (`openssl passwd -6 -salt saltsalt secret`).
const JOE_HASH: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

// ---------------------------------------------------------------------
// Certificates.
// ---------------------------------------------------------------------

struct Pki {
    ca: rcgen::Certificate,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
    rogue_cert: String,
    rogue_key: String,
    /// Signed by the CA, with another subject than the seed's.
    other_cert: String,
    other_key: String,
}

fn seed_dn() -> rcgen::DistinguishedName {
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
    dn
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "smx test");
    dn.push(DnType::CommonName, "smx test CA");
    p.distinguished_name = dn;
    let ca = p.self_signed(&ca_key).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = p.signed_by(&server_key, &ca, &ca_key).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = seed_dn();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = p.signed_by(&client_key, &ca, &ca_key).unwrap();

    let rogue_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = seed_dn();
    let rogue = p.self_signed(&rogue_key).unwrap();

    let other_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "elsewhere.test");
    dn.push(DnType::CommonName, "Someone Else");
    p.distinguished_name = dn;
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let other = p.signed_by(&other_key, &ca, &ca_key).unwrap();

    Pki {
        other_cert: other.pem(),
        other_key: other_key.serialize_pem(),
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client.pem(),
        client_key: client_key.serialize_pem(),
        rogue_cert: rogue.pem(),
        rogue_key: rogue_key.serialize_pem(),
        ca,
    }
}

impl Pki {
    fn write(&self, dir: &Path) {
        for (name, text) in [
            ("ca.pem", self.ca.pem()),
            ("server.pem", self.server_cert.clone()),
            ("server.key", self.server_key.clone()),
            ("client.pem", self.client_cert.clone()),
            ("client.key", self.client_key.clone()),
            ("other.pem", self.other_cert.clone()),
            ("other.key", self.other_key.clone()),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    /// A TLS client trusting our CA, optionally presenting a certificate.
    fn connector(&self, cert: Option<(&str, &str)>) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let b = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match cert {
            Some((c, k)) => b
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(c.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(k.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

use rustls::pki_types::pem::PemObject;

/// `auth.db`: joe → sha512-crypt("secret").
fn password_map(dir: &Path) {
    use smx_maps::db::{Db, DbType, OpenOptions};
    let db = Db::open(&dir.join("auth.db"), &OpenOptions::create(DbType::Hash)).unwrap();
    db.put(b"joe", JOE_HASH.as_bytes(), true).unwrap();
    db.close().unwrap();
}

const SMTPS_TLS: &str = "tls { cert_file = server.pem; key_file = server.key; \
                         CAcert_file = ca.pem; } auth { trusted_mechs = { PLAIN, LOGIN }; }";

fn start_smx(dir: &Path, p: &Pki) -> Smx {
    p.write(dir);
    password_map(dir);
    Smx::start_with(dir, "localhost lmtp:\nexample.test lmtp:\n", "", SMTPS_TLS)
}

/// A peer program, or a loud failure in CI.
fn have(program: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed"
        );
        eprintln!("SKIP: {program} is not installed");
    }
    ok
}

/// Runs a command under `timeout`, returns (success, stdout + stderr).
fn run(program: &str, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("timeout")
        .arg(BOUND.as_secs().to_string())
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn swaks(port: u16, extra: &[&str]) -> (bool, String) {
    let port = port.to_string();
    let mut args = vec![
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--from",
        "sender@example.org",
        "--to",
        "user@example.test",
        "--helo",
        "client.test",
        "--timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    run("swaks", &args, "")
}

// ---------------------------------------------------------------------
// Real binary, real peers.
// ---------------------------------------------------------------------

#[test]
fn swaks_tls_and_auth_against_smxd() {
    if !have("swaks") {
        return;
    }
    let dir = TestDir::new("tls-swaks");
    let p = pki();
    let mut smx = start_smx(&dir.0, &p);

    // Plaintext EHLO: STARTTLS offered, AUTH not (only over TLS).
    let (ok, out) = swaks(smx.port, &["--quit-after", "EHLO"]);
    assert!(ok, "{out}");
    assert!(out.contains("STARTTLS"), "{out}");
    assert!(!out.contains("AUTH PLAIN"), "{out}");

    // AUTH without TLS: the server does not advertise it.
    let (ok, out) = swaks(
        smx.port,
        &[
            "-a",
            "PLAIN",
            "--auth-user",
            "joe",
            "--auth-password",
            "secret",
        ],
    );
    assert!(!ok, "{out}");
    assert!(!out.contains("235 "), "{out}");

    // STARTTLS alone.
    let (ok, out) = swaks(smx.port, &["-tls"]);
    assert!(ok, "{out}");
    assert!(out.contains("220 2.0.0 Ready to start TLS"), "{out}");
    assert!(out.contains("queued as"), "{out}");

    for mech in ["PLAIN", "LOGIN"] {
        let (ok, out) = swaks(
            smx.port,
            &[
                "-tls",
                "-a",
                mech,
                "--auth-user",
                "joe",
                "--auth-password",
                "secret",
            ],
        );
        assert!(ok, "{mech}: {out}");
        assert!(out.contains("AUTH PLAIN LOGIN"), "{out}");
        assert!(out.contains("235 2.7.0 Authentication successful"), "{out}");
        assert!(out.contains("queued as"), "{out}");
    }

    // A wrong password.
    let (ok, out) = swaks(
        smx.port,
        &[
            "-tls",
            "-a",
            "PLAIN",
            "--auth-user",
            "joe",
            "--auth-password",
            "wrong",
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("535 5.7.8"), "{out}");
    // Passwords are never logged.
    assert!(!smx.log().contains("secret") && !smx.log().contains("wrong"));
    assert!(smx.stop());
}

/// Relaying (issue 6): refused to a client that did not authenticate,
/// allowed after AUTH with a mechanism of `trusted_mechs`, refused after
/// AUTH with another mechanism.
#[test]
fn auth_with_a_trusted_mechanism_allows_relaying() {
    if !have("swaks") {
        return;
    }
    let dir = TestDir::new("tls-relay");
    let p = pki();
    p.write(&dir.0);
    password_map(&dir.0);
    let smx = Smx::start_with(
        &dir.0,
        "example.org 9^esmtp:[127.0.0.1]\nremote.test 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\n",
        "",
        "tls { cert_file = server.pem; key_file = server.key; } \
         auth { trusted_mechs = { LOGIN }; }",
    );
    let auth = |mech: &'static str| -> Vec<&'static str> {
        vec![
            "-tls",
            "-a",
            mech,
            "--auth-user",
            "joe",
            "--auth-password",
            "secret",
            "--to",
            "someone@remote.test",
        ]
    };
    let (ok, out) = swaks(smx.port, &["-tls", "--to", "someone@remote.test"]);
    assert!(!ok && out.contains("550 5.7.1"), "without AUTH: {out}");
    let (ok, out) = swaks(smx.port, &auth("PLAIN"));
    assert!(
        !ok && out.contains("550 5.7.1"),
        "PLAIN is not trusted: {out}"
    );
    let (ok, out) = swaks(smx.port, &auth("LOGIN"));
    assert!(
        ok && out.contains("queued as"),
        "LOGIN is trusted: {out}\n{}",
        smx.log()
    );
}

/// The mailertable of the relaying tests: the sender's domain and the
/// remote domain go out by SMTP, `localhost` is local.
/// Greylisting (README §3.9.4) is off for authenticated clients: with
/// `greylisting` on, a new client without AUTH is greylisted (4xx) for a
/// local recipient, while the same client after AUTH is not.
#[test]
fn greylisting_spares_authenticated_clients() {
    if !have("swaks") {
        return;
    }
    let dir = TestDir::new("tls-grey");
    let p = pki();
    p.write(&dir.0);
    password_map(&dir.0);
    let smx = Smx::start_with(
        &dir.0,
        RELAY_MT,
        "smar { greylisting { grey_wait = 1h; } }",
        "flags = { access, greylisting }; \
         tls { cert_file = server.pem; key_file = server.key; } \
         auth { trusted_mechs = { LOGIN }; }",
    );
    let (ok, out) = swaks(smx.port, &["-tls", "--to", "alice@localhost"]);
    assert!(
        !ok && out.contains("is greylisted"),
        "not authenticated: greylisted\n{out}"
    );
    let (ok, out) = swaks(
        smx.port,
        &[
            "-tls",
            "-a",
            "LOGIN",
            "--auth-user",
            "joe",
            "--auth-password",
            "secret",
            "--to",
            "alice@localhost",
        ],
    );
    assert!(
        ok && out.contains("queued as"),
        "authenticated: not greylisted\n{out}"
    );
}

const RELAY_MT: &str =
    "example.org 9^esmtp:[127.0.0.1]\nremote.test 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\n";

/// swaks over STARTTLS to `someone@remote.test`, presenting the client
/// certificate `name`.pem/`name`.key of `dir` (none when `name` is None);
/// stops after RCPT.
fn swaks_cert(dir: &Path, port: u16, name: Option<&str>) -> (bool, String) {
    let cert = name.map(|n| dir.join(format!("{n}.pem")).display().to_string());
    let key = name.map(|n| dir.join(format!("{n}.key")).display().to_string());
    let mut args = vec![
        "-tls",
        "--to",
        "someone@remote.test",
        "--quit-after",
        "RCPT",
    ];
    if let (Some(c), Some(k)) = (&cert, &key) {
        args.extend_from_slice(&["--tls-cert", c, "--tls-key", k]);
    }
    swaks(port, &args)
}

/// An access map `access.db` in `dir` with just `entries` (no client
/// address may relay).
fn cert_access_map(dir: &Path, entries: &[(&str, &str)]) {
    use smx_maps::db::{Db, DbType, OpenOptions};
    let db = Db::open(&dir.join("access.db"), &OpenOptions::create(DbType::Hash)).unwrap();
    for (k, v) in entries {
        db.put(k.as_bytes(), v.as_bytes(), true).unwrap();
    }
    db.close().unwrap();
}

/// Relaying by a verified client certificate (issue 6, README §3.10
/// item 21): (a) `allow_relaying_if_verified`; (b)
/// `check_access_map_for_relaying` with the seed's `certissuer:` `cont`
/// and `certsubject:` `relay` entries.
#[test]
fn client_certificate_relaying() {
    if !have("swaks") {
        return;
    }
    let p = pki();

    // (a) Any certificate signed by the CA relays.
    let dir = TestDir::new("tls-cert-relay");
    p.write(&dir.0);
    let mut smx = Smx::start_with(
        &dir.0,
        RELAY_MT,
        "",
        "tls { cert_file = server.pem; key_file = server.key; CAcert_file = ca.pem; \
         flags = { allow_relaying_if_verified }; }",
    );
    let (ok, out) = swaks_cert(&dir.0, smx.port, None);
    assert!(
        !ok && out.contains("550 5.7.1"),
        "without a certificate: {out}"
    );
    let (ok, out) = swaks_cert(&dir.0, smx.port, Some("client"));
    assert!(
        ok && out.contains("250 2.1.5"),
        "verified certificate: {out}\n{}",
        smx.log()
    );
    let (ok, out) = swaks_cert(&dir.0, smx.port, Some("other"));
    assert!(ok && out.contains("250 2.1.5"), "another CA-signed: {out}");
    assert!(smx.stop());

    // (b) The access map decides: the CA continues, the seed's subject
    // relays, another subject of the same CA does not.
    let dir = TestDir::new("tls-cert-map");
    p.write(&dir.0);
    cert_access_map(
        &dir.0,
        &[
            (&format!("certissuer:{CA_DN}"), "cont"),
            (&format!("certsubject:{SEED_DN}"), "relay"),
        ],
    );
    let mut smx = Smx::start_with(
        &dir.0,
        RELAY_MT,
        "",
        "flags = { access }; tls { cert_file = server.pem; key_file = server.key; \
         CAcert_file = ca.pem; flags = { check_access_map_for_relaying }; }",
    );
    let (ok, out) = swaks_cert(&dir.0, smx.port, Some("client"));
    assert!(
        ok && out.contains("250 2.1.5"),
        "the seed's subject: {out}\n{}",
        smx.log()
    );
    let (ok, out) = swaks_cert(&dir.0, smx.port, Some("other"));
    assert!(!ok && out.contains("550 5.7.1"), "another subject: {out}");
    let (ok, out) = swaks_cert(&dir.0, smx.port, None);
    assert!(
        !ok && out.contains("550 5.7.1"),
        "without a certificate: {out}"
    );
    assert!(smx.stop());
}

/// After AUTH with a trusted mechanism (issue 6) every well-formed remote
/// recipient of the open-relay matrix is accepted.
#[test]
fn auth_relay_matrix() {
    if !have("swaks") {
        return;
    }
    let dir = TestDir::new("tls-auth-matrix");
    let p = pki();
    p.write(&dir.0);
    password_map(&dir.0);
    let mut smx = Smx::start_with(
        &dir.0,
        RELAY_MT,
        "",
        "tls { cert_file = server.pem; key_file = server.key; } \
         auth { trusted_mechs = { LOGIN }; }",
    );
    let (mut tried, mut accepted) = (0, 0);
    for rcpt in MATRIX {
        let (ok, out) = swaks(
            smx.port,
            &[
                "-tls",
                "-a",
                "LOGIN",
                "--auth-user",
                "joe",
                "--auth-password",
                "secret",
                "--to",
                rcpt,
                "--quit-after",
                "RCPT",
            ],
        );
        assert!(out.contains("235 2.7.0"), "<{rcpt}>: {out}");
        tried += 1;
        if ok {
            accepted += 1;
        } else {
            println!("not accepted: <{rcpt}>");
        }
        if REMOTE.contains(rcpt) {
            assert!(
                ok && out.contains("250 2.1.5"),
                "<{rcpt}> after AUTH LOGIN: {out}\n{}",
                smx.log()
            );
        }
    }
    println!("auth relay matrix: tried {tried}, accepted {accepted}");
    assert_eq!(tried, MATRIX.len());
    assert!(accepted >= REMOTE.len());
    assert!(smx.stop());
}

#[test]
fn openssl_s_client_starttls() {
    if !have("openssl") {
        return;
    }
    let dir = TestDir::new("tls-openssl");
    let p = pki();
    let mut smx = start_smx(&dir.0, &p);
    let connect = format!("127.0.0.1:{}", smx.port);
    let ca = dir.0.join("ca.pem");
    let cert = dir.0.join("client.pem");
    let key = dir.0.join("client.key");
    let (_, out) = run(
        "openssl",
        &[
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &connect,
            "-crlf",
            "-quiet",
            "-verify_return_error",
            "-CAfile",
            ca.to_str().unwrap(),
            "-cert",
            cert.to_str().unwrap(),
            "-key",
            key.to_str().unwrap(),
        ],
        "EHLO client.test\nQUIT\n",
    );
    // openssl sent its own EHLO and STARTTLS; ours went over TLS.
    assert!(out.contains("verify return:1"), "{out}");
    assert!(out.contains("221 2.0.0"), "{out}");
    // Our EHLO's reply (stdout, before the 221): AUTH now, no STARTTLS;
    // openssl's own plaintext dialogue went to stderr.
    let ours = out.split("221 2.0.0").next().unwrap();
    assert!(ours.contains("AUTH PLAIN LOGIN"), "{out}");
    assert!(!ours.contains("STARTTLS"), "{out}");
    assert!(smx.stop());
}

/// Reads one reply (all its lines) from a buffered stream.
async fn reply<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(BOUND, r.read_line(&mut line))
            .await
            .expect("reply timeout")
            .unwrap();
        assert!(n > 0, "connection closed after {all:?}");
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

async fn say<S: AsyncRead + AsyncWrite + Unpin>(r: &mut BufReader<S>, line: &str) -> String {
    r.get_mut().write_all(line.as_bytes()).await.unwrap();
    reply(r).await
}

/// CVE-2011-0411: `STARTTLS\r\nRSET\r\n` in one write; the RSET must be
/// thrown away, not answered inside the TLS session.
#[tokio::test]
async fn starttls_injection_is_discarded() {
    let dir = TestDir::new("tls-inject");
    let p = pki();
    let mut smx = start_smx(&dir.0, &p);
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", smx.port))
        .await
        .unwrap();
    let mut r = BufReader::new(tcp);
    assert!(reply(&mut r).await.starts_with("220 "));
    assert!(say(&mut r, "EHLO client.test\r\n")
        .await
        .contains("STARTTLS"));
    let answer = say(&mut r, "STARTTLS\r\nRSET\r\n").await;
    assert_eq!(answer, "220 2.0.0 Ready to start TLS\r\n");
    assert!(r.buffer().is_empty());
    let tcp = r.into_inner();
    let tls = tokio::time::timeout(
        BOUND,
        p.connector(None)
            .connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .unwrap()
    .unwrap();
    let mut r = BufReader::new(tls);
    // The first thing the server says over TLS answers our EHLO.
    let ehlo = say(&mut r, "EHLO client.test\r\n").await;
    assert!(ehlo.starts_with("250-mx.example.test\r\n"), "{ehlo}");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(say(&mut r, "QUIT\r\n").await.starts_with("221 "));
    assert!(smx.stop());
}

#[test]
fn bad_certificate_file_exits_78_naming_it() {
    let dir = TestDir::new("tls-badcert");
    std::fs::write(dir.0.join("server.pem"), "not a certificate\n").unwrap();
    std::fs::write(dir.0.join("server.key"), "not a key\n").unwrap();
    std::fs::write(dir.0.join("mt"), "localhost lmtp:\n").unwrap();
    let conf = dir.0.join("smx.conf");
    std::fs::write(
        &conf,
        format!(
            "queue_directory = queue;\nhostname = mx.example.test;\n\
             smtps {{ tls {{ cert_file = server.pem; key_file = server.key; }} \
             listen_socket {{ type = inet; address = 127.0.0.1; port = {}; }} }}\n",
            common::free_port()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.0.join("queue")).unwrap();
    let out = Command::new("timeout")
        .arg(BOUND.as_secs().to_string())
        .arg(env!("CARGO_BIN_EXE_smxd"))
        .arg("smtps")
        .arg("-f")
        .arg(&conf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("server.pem"), "{err}");
}

// ---------------------------------------------------------------------
// In process: SessionInfo, AUTH replies, Received:.
// ---------------------------------------------------------------------

#[derive(Default)]
struct Recorder {
    infos: Mutex<Vec<SessionInfo>>,
    messages: Mutex<Vec<(Envelope, Vec<u8>)>>,
    logged: Mutex<Vec<String>>,
}

impl Recorder {
    /// The lines logged so far, once one contains `text` (panics after
    /// [`BOUND`]).
    async fn wait_logged(&self, text: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            let lines = self.logged.lock().unwrap().clone();
            if lines.iter().any(|l| l.contains(text)) {
                return lines;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no line with {text:?} in {lines:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Backend for Recorder {
    fn logs(&self, level: u64) -> bool {
        level <= 10
    }
    fn log(&self, _level: u64, line: &str) {
        self.logged.lock().unwrap().push(line.to_string());
    }
    async fn connect(&self, _: &Peer) -> Verdict {
        Verdict::Accept
    }
    async fn mail(&self, _: &SessionInfo, _: &ReversePath, _: &MailParams) -> Verdict {
        Verdict::Accept
    }
    async fn rcpt(&self, s: &SessionInfo, _: &ForwardPath, _: &RcptParams) -> Verdict {
        self.infos.lock().unwrap().push(s.clone());
        Verdict::Accept
    }
    async fn deliver(&self, e: &Envelope, content: Vec<u8>) -> Result<String, Reply> {
        let mut m = self.messages.lock().unwrap();
        m.push((e.clone(), content));
        Ok(format!("Q{}", m.len()))
    }
}

struct Passwords(HashMap<String, String>);

impl smx_maps::Map for Passwords {
    fn get(&self, key: &str) -> Result<Option<String>, smx_maps::MapError> {
        Ok(self.0.get(key).cloned())
    }
}

fn security(dir: &Path, p: &Pki, with_ca: bool) -> Security {
    p.write(dir);
    let text = if with_ca {
        "smtps { tls { cert_file = server.pem; key_file = server.key; CAcert_file = ca.pem; } }"
    } else {
        "smtps { tls { cert_file = server.pem; key_file = server.key; } }"
    };
    let checked = smx_grammar::check_str("t.conf", text);
    let conf = checked.config.unwrap().global.smtps.remove(0).conf;
    let tls = ServerTls::load(conf.tls.as_ref().unwrap(), dir).unwrap();
    let map = HashMap::from([("joe".to_string(), JOE_HASH.to_string())]);
    Security {
        tls: Some(Arc::new(tls)),
        passwords: Some(Arc::new(Passwords(map))),
    }
}

fn smtps_conf() -> smx_grammar::config::SmtpsConf {
    let checked = smx_grammar::check_str("t.conf", "smtps { auth { } }");
    checked.config.unwrap().global.smtps.remove(0).conf
}

/// Serves one session on a fresh loopback port; returns the port.
async fn server(security: Security, backend: Arc<Recorder>) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let conf = smtps_conf();
        while let Ok((s, addr)) = l.accept().await {
            let peer = Peer {
                addr: Some(addr),
                name: None,
            };
            smxd::smtps::serve_secure(s, peer, &conf, "mx.example.test", &*backend, &security)
                .await;
        }
    });
    port
}

/// Connects to `port`, reads the greeting, says EHLO; returns the stream
/// and the EHLO reply.
async fn ehlo_session(port: u16) -> (BufReader<tokio::net::TcpStream>, String) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut r = BufReader::new(tcp);
    reply(&mut r).await;
    let ehlo = say(&mut r, "EHLO client.test\r\n").await;
    (r, ehlo)
}

/// Greeting, EHLO, STARTTLS, handshake (with `cert`), EHLO again.
async fn tls_session(
    port: u16,
    p: &Pki,
    cert: Option<(&str, &str)>,
) -> BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let (mut r, _) = ehlo_session(port).await;
    assert!(say(&mut r, "STARTTLS\r\n").await.starts_with("220 2.0.0"));
    let tls = p
        .connector(cert)
        .connect(ServerName::try_from("localhost").unwrap(), r.into_inner())
        .await
        .unwrap();
    let mut r = BufReader::new(tls);
    say(&mut r, "EHLO client.test\r\n").await;
    r
}

async fn send_one<S: AsyncRead + AsyncWrite + Unpin>(r: &mut BufReader<S>) {
    assert!(say(r, "MAIL FROM:<a@example.org> AUTH=<a@example.org>\r\n")
        .await
        .starts_with("250"));
    assert!(say(r, "RCPT TO:<b@example.test>\r\n")
        .await
        .starts_with("250"));
    assert!(say(r, "DATA\r\n").await.starts_with("354"));
    assert!(say(r, "Subject: t\r\n\r\nhi\r\n.\r\n")
        .await
        .starts_with("250"));
    assert!(say(r, "QUIT\r\n").await.starts_with("221"));
}

#[tokio::test]
async fn verified_client_certificate_and_auth_fill_session_info() {
    let dir = TestDir::new("tls-cert");
    let p = pki();
    let backend = Arc::new(Recorder::default());
    let port = server(security(&dir.0, &p, true), backend.clone()).await;
    let mut r = tls_session(port, &p, Some((&p.client_cert, &p.client_key))).await;
    // PLAIN with an initial response: \0joe\0secret.
    let ok = say(&mut r, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n").await;
    assert_eq!(ok, "235 2.7.0 Authentication successful\r\n");
    let again = say(&mut r, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n").await;
    assert!(again.starts_with("503 5.5.1"), "{again}");
    send_one(&mut r).await;

    let info = backend.infos.lock().unwrap()[0].clone();
    let tls = info.tls.expect("tls info");
    assert!(tls.verified);
    assert!(tls.version.starts_with("TLSv1."), "{}", tls.version);
    assert_eq!(tls.cert_subject.as_deref(), Some(SEED_DN));
    assert_eq!(tls.cert_issuer.as_deref(), Some(CA_DN));
    let auth = info.auth.expect("auth info");
    assert_eq!(
        (auth.user.as_str(), auth.mechanism.as_str()),
        ("joe", "PLAIN")
    );

    // The session's end is logged with what TLS and AUTH established.
    let lines = backend.wait_logged("disconnect from").await;
    let end = lines
        .iter()
        .find(|l| l.contains("disconnect from"))
        .unwrap();
    assert!(
        end.contains(&format!(
            "helo=<client.test> tls={}:{}:verified auth=PLAIN:joe ehlo=2 starttls=1 auth=1/2 \
             mail=1 rcpt=1 data=1 quit=1 commands=8/9",
            tls.version, tls.cipher
        )),
        "{end}"
    );

    let (env, content) = backend.messages.lock().unwrap()[0].clone();
    assert_eq!(env.protocol, "ESMTPSA");
    assert_eq!(env.mail.auth.as_deref(), Some("<a@example.org>"));
    let text = String::from_utf8_lossy(&content);
    assert!(text.contains("with ESMTPSA"), "{text}");
    assert!(
        text.contains(&format!(
            "(version={} cipher={} verify=OK)",
            tls.version, tls.cipher
        )),
        "{text}"
    );
}

#[tokio::test]
async fn unverified_client_certificate_is_recorded_not_trusted() {
    let dir = TestDir::new("tls-rogue");
    let p = pki();
    let backend = Arc::new(Recorder::default());
    let port = server(security(&dir.0, &p, true), backend.clone()).await;
    let mut r = tls_session(port, &p, Some((&p.rogue_cert, &p.rogue_key))).await;
    send_one(&mut r).await;
    let tls = backend.infos.lock().unwrap()[0].tls.clone().unwrap();
    assert!(!tls.verified);
    assert_eq!(tls.cert_subject.as_deref(), Some(SEED_DN));
    let (env, content) = backend.messages.lock().unwrap()[0].clone();
    assert_eq!(env.protocol, "ESMTPS");
    // Not authenticated: AUTH= is not passed on.
    assert_eq!(env.mail.auth, None);
    assert!(String::from_utf8_lossy(&content).contains("verify=FAIL"));
}

#[tokio::test]
async fn auth_replies_and_failure_limit() {
    let dir = TestDir::new("tls-authfail");
    let p = pki();
    let backend = Arc::new(Recorder::default());
    let port = server(security(&dir.0, &p, false), backend.clone()).await;

    // Before STARTTLS: 538, AUTH not advertised.
    let (mut r, ehlo) = ehlo_session(port).await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    let plain = say(&mut r, "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n").await;
    assert!(plain.starts_with("538 5.7.11"), "{plain}");
    drop(r);

    let mut r = tls_session(port, &p, None).await;
    assert!(say(&mut r, "AUTH CRAM-MD5\r\n")
        .await
        .starts_with("504 5.5.4"));
    // LOGIN step by step, wrong password.
    assert_eq!(say(&mut r, "AUTH LOGIN\r\n").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(say(&mut r, "am9l\r\n").await, "334 UGFzc3dvcmQ6\r\n");
    assert!(say(&mut r, "d3Jvbmc=\r\n").await.starts_with("535 5.7.8"));
    // PLAIN, cancelled.
    assert_eq!(say(&mut r, "AUTH PLAIN\r\n").await, "334 \r\n");
    assert!(say(&mut r, "*\r\n").await.starts_with("501 5.0.0"));
    // The third failure closes.
    let last = say(&mut r, "AUTH PLAIN AGpvZQB3cm9uZw==\r\n").await;
    assert!(last.starts_with("421 4.7.0"), "{last}");
    let mut rest = String::new();
    let n = tokio::time::timeout(BOUND, r.read_line(&mut rest))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "{rest}");

    // Each refusal is logged with the mechanism only, never what the
    // client sent with it; an unknown mechanism (504) or a cancel (501) is
    // a syntax error, only counted.
    let lines = backend.wait_logged("421 4.7.0").await;
    let rejects: Vec<&String> = lines.iter().filter(|l| l.starts_with("reject:")).collect();
    let has = |t: &str| rejects.iter().any(|l| l.contains(t));
    assert!(has("538 5.7.11"), "{rejects:#?}");
    assert!(has("535 5.7.8"), "{rejects:#?}");
    assert!(
        rejects
            .iter()
            .any(|l| l.contains("421 4.7.0") && l.ends_with("command=\"AUTH PLAIN\"")),
        "{rejects:#?}"
    );
    assert!(!has("501 5.0.0") && !has("504 5.5.4"), "{rejects:#?}");
    for secret in ["AGpvZQ", "am9l", "d3Jvbmc"] {
        assert!(!lines.iter().any(|l| l.contains(secret)), "{lines:#?}");
    }
}

#[tokio::test]
async fn a_failed_tls_handshake_is_logged() {
    let dir = TestDir::new("tls-handshake-log");
    let p = pki();
    let backend = Arc::new(Recorder::default());
    let port = server(security(&dir.0, &p, false), backend.clone()).await;
    let (mut r, _) = ehlo_session(port).await;
    assert!(say(&mut r, "STARTTLS\r\n").await.starts_with("220 2.0.0"));
    r.get_mut()
        .write_all(b"this is no TLS client hello\r\n")
        .await
        .unwrap();
    let lines = backend.wait_logged("TLS handshake failed").await;
    let line = lines.iter().find(|l| l.contains("handshake")).unwrap();
    assert!(line.starts_with("STARTTLS from [127.0.0.1]:"), "{line}");
    let lines = backend.wait_logged("disconnect from").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("starttls=1 commands=2 lost after STARTTLS")),
        "{lines:#?}"
    );
}

// ---------------------------------------------------------------------
// The SMTP client.
// ---------------------------------------------------------------------

fn client_conf(dir: &Path) -> ClientConf {
    ClientConf {
        helo_name: "client.test".into(),
        io_timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(10),
        smtp_max_rcpts: 100,
        lmtp_max_rcpts: 50,
        cache_entries: 1,
        cache_idle: Duration::from_secs(1),
        queue_dir: dir.to_path_buf(),
    }
}

fn delivery(dir: &Path, port: u16) -> Delivery {
    std::fs::write(dir.join("msg"), b"Subject: test\r\n\r\nhello\r\n").unwrap();
    Delivery {
        id: "S0000000000000001".into(),
        content: "msg".into(),
        sender: "alice@client.test".into(),
        mail_params: String::new(),
        recipients: vec![DeliveryRcpt {
            index: 1,
            address: "bob@example.test".into(),
            params: String::new(),
        }],
        next: NextHop::Hosts {
            lmtp: false,
            addrs: vec![([127, 0, 0, 1], port).into()],
            names: vec!["localhost".into()],
        },
    }
}

#[tokio::test]
async fn smtpc_uses_starttls_when_offered() {
    let dir = TestDir::new("tls-smtpc");
    let p = pki();
    let backend = Arc::new(Recorder::default());
    let port = server(security(&dir.0, &p, false), backend.clone()).await;
    let client = Client::new(client_conf(&dir.0));
    let result = tokio::time::timeout(BOUND, client.deliver(&delivery(&dir.0, port)))
        .await
        .unwrap();
    assert_eq!(result.results[0].1.code, 250, "{result:?}");
    let info = backend.infos.lock().unwrap()[0].clone();
    assert!(info.tls.is_some(), "{info:?}");
    assert_eq!(backend.messages.lock().unwrap()[0].0.protocol, "ESMTPS");
}

#[tokio::test]
async fn smtpc_stays_plaintext_when_not_offered() {
    let dir = TestDir::new("tls-smtpc-plain");
    let backend = Arc::new(Recorder::default());
    let port = server(Security::default(), backend.clone()).await;
    let client = Client::new(client_conf(&dir.0));
    let result = tokio::time::timeout(BOUND, client.deliver(&delivery(&dir.0, port)))
        .await
        .unwrap();
    assert_eq!(result.results[0].1.code, 250, "{result:?}");
    assert_eq!(backend.infos.lock().unwrap()[0].tls, None);
    assert_eq!(backend.messages.lock().unwrap()[0].0.protocol, "ESMTP");
}

/// A server that offers STARTTLS and then breaks the handshake (closes
/// after its 220): the client reconnects and delivers in plaintext
/// without trying STARTTLS again. Returns the port and the command lines
/// per connection.
async fn broken_tls_server() -> (u16, Arc<Mutex<Vec<Vec<String>>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let n = {
                let mut v = log.lock().unwrap();
                v.push(Vec::new());
                v.len() - 1
            };
            let mut r = BufReader::new(s);
            r.get_mut()
                .write_all(b"220 broken.test ESMTP\r\n")
                .await
                .unwrap();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        r.get_mut().write_all(b"250 2.0.0 ok\r\n").await.unwrap();
                    }
                    continue;
                }
                let cmd = line.trim_end().to_ascii_uppercase();
                log.lock().unwrap()[n].push(cmd.clone());
                let answer: &[u8] = match cmd.split(' ').next().unwrap_or("") {
                    "EHLO" => b"250-broken.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                    "STARTTLS" => {
                        r.get_mut()
                            .write_all(b"220 2.0.0 go ahead\r\n")
                            .await
                            .unwrap();
                        break;
                    }
                    "DATA" => {
                        in_data = true;
                        b"354 go\r\n"
                    }
                    "QUIT" => {
                        r.get_mut().write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                r.get_mut().write_all(answer).await.unwrap();
            }
        }
    });
    (port, seen)
}

#[tokio::test]
async fn smtpc_falls_back_to_plaintext_when_tls_fails() {
    let dir = TestDir::new("tls-smtpc-fallback");
    let (port, seen) = broken_tls_server().await;
    let client = Client::new(client_conf(&dir.0));
    let result = tokio::time::timeout(BOUND, client.deliver(&delivery(&dir.0, port)))
        .await
        .unwrap();
    assert_eq!(result.results[0].1.code, 250, "{result:?}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], ["EHLO CLIENT.TEST", "STARTTLS"], "{seen:?}");
    assert!(!seen[1].iter().any(|c| c == "STARTTLS"), "{seen:?}");
    assert!(
        seen[1].iter().any(|c| c.starts_with("MAIL FROM:")),
        "{seen:?}"
    );
}
