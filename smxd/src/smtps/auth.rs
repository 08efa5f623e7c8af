//! STARTTLS (RFC 3207) and AUTH (RFC 4954) in the session.
//!
//! STARTTLS: offered after EHLO when `tls { }` is configured and TLS is
//! not yet on; refused in a transaction (`503 5.5.1`) and when already on.
//! After `220 2.0.0` the pipelined plaintext is discarded (`conn.rs`,
//! CVE-2011-0411) and the session starts over (§4.2): no EHLO, no
//! transaction, not authenticated. The §3.10 counters go on across it. A
//! failed handshake ends the connection.
//!
//! AUTH: PLAIN and LOGIN are offered when a password map is configured,
//! only over TLS, and not at all with the `noplaintext` flag (Cyrus
//! SASL's meaning: no mechanism open to passive attack). Asked for
//! without TLS they get `538 5.7.11`; without a password map AUTH is not
//! implemented (`502 5.5.1`). A wrong password gets `535 5.7.8`; the
//! [`MAX_AUTH_FAILURES`]-th failure `421 4.7.0` and the connection closes.
//! A map that fails temporarily gives `454 4.7.0`. Passwords are checked
//! off the executor (hashes are slow by design) and never logged or kept.
//! Success fills [`super::backend::AuthInfo`]; whether the mechanism
//! allows relaying (`trusted_mechs`) is the policy's decision.

use super::backend::{AuthInfo, Backend};
use super::command::READ_LINE_MAX;
use super::conn::{IoStop, Line};
use super::events;
use super::reply::Reply;
use super::sasl::{self, Credentials, Mechanism, SaslError};
use super::session::{Flow, Session};
use tokio::io::{AsyncRead, AsyncWrite};

/// Failed AUTH attempts per session before `421 4.7.0`.
pub const MAX_AUTH_FAILURES: u64 = 3;

/// How one AUTH exchange ended before the password check.
enum Exchange {
    Done(Credentials),
    Refused(Reply),
    Stopped(IoStop),
}

impl<S: AsyncRead + AsyncWrite + Unpin, B: Backend> Session<'_, S, B> {
    /// STARTTLS is offered now.
    pub(super) fn offers_starttls(&self) -> bool {
        self.security.tls.is_some() && !self.conn.is_tls()
    }

    /// The mechanisms offered now (empty: no AUTH keyword).
    pub(super) fn offered_mechanisms(&self) -> &'static [Mechanism] {
        if self.security.passwords.is_some() && self.conn.is_tls() && !self.no_plaintext() {
            &[Mechanism::Plain, Mechanism::Login]
        } else {
            &[]
        }
    }

    fn no_plaintext(&self) -> bool {
        self.conf
            .auth
            .as_ref()
            .is_some_and(|a| a.flags.has("noplaintext"))
    }

    pub(super) async fn starttls(&mut self) -> Flow {
        let Some(tls) = self.security.tls.clone() else {
            return self.bad_command(Reply::not_implemented());
        };
        if self.conn.is_tls() {
            return self.bad_command(Reply::bad_sequence("TLS already active"));
        }
        if self.info.helo.is_none() {
            return self.bad_command(Reply::bad_sequence("send EHLO first"));
        }
        if self.tx.is_some() {
            return self.bad_command(Reply::bad_sequence("mail transaction in progress"));
        }
        self.send(Reply::ready_tls());
        match self.conn.start_tls(&tls).await {
            Ok(info) => {
                self.info.helo = None;
                self.info.esmtp = false;
                self.info.auth = None;
                self.info.tls = Some(info);
                self.tx = None;
                Flow::Go
            }
            Err(e) => {
                if self.backend.logs(events::REJECT_LEVEL) {
                    let line = format!(
                        "STARTTLS from {}: TLS handshake failed{}",
                        events::peer(&self.info.peer),
                        if e == IoStop::Timeout {
                            " (timeout)"
                        } else {
                            ""
                        }
                    );
                    self.backend.log(events::REJECT_LEVEL, &line);
                }
                self.log.end = Some(events::End::Lost);
                Flow::Close
            }
        }
    }

    pub(super) async fn auth(&mut self, arg: &str) -> Flow {
        if self.security.passwords.is_none() {
            return self.bad_command(Reply::not_implemented());
        }
        if !self.info.esmtp {
            return self.bad_command(Reply::bad_sequence("send EHLO first"));
        }
        if self.info.auth.is_some() {
            return self.bad_command(Reply::bad_sequence("already authenticated"));
        }
        if self.tx.is_some() {
            return self.bad_command(Reply::bad_sequence("mail transaction in progress"));
        }
        let (name, initial) = match arg.split_once(' ') {
            Some((n, i)) => (n, Some(i.trim())),
            None => (arg, None),
        };
        let Some(mech) = Mechanism::from_name(name) else {
            return self.refuse(Reply::auth_unknown_mechanism());
        };
        if mech.is_plaintext() && !self.conn.is_tls() {
            return self.send(Reply::auth_needs_tls());
        }
        if !self.offered_mechanisms().contains(&mech) {
            return self.refuse(Reply::auth_unknown_mechanism());
        }
        let creds = match self.exchange(mech, initial).await {
            Exchange::Done(c) => c,
            Exchange::Refused(r) => return self.auth_failure(r),
            Exchange::Stopped(e) => return self.stopped(e),
        };
        match self.check_password(creds.clone()).await {
            Ok(true) => {
                self.info.auth = Some(AuthInfo {
                    user: creds.user,
                    mechanism: mech.name().to_string(),
                });
                self.send(Reply::auth_ok())
            }
            Ok(false) => self.auth_failure(Reply::auth_failed()),
            Err(()) => self.send(Reply::auth_temp()),
        }
    }

    /// A failed attempt: counted; the last allowed one closes.
    fn auth_failure(&mut self, r: Reply) -> Flow {
        self.counts.auth_failures += 1;
        if self.counts.auth_failures >= MAX_AUTH_FAILURES {
            return self.send(Reply::too_many(
                self.hostname,
                "failed authentication attempts",
            ));
        }
        self.send(r)
    }

    /// Reads one response line of the exchange.
    async fn response(&mut self, challenge: &str) -> Result<Vec<u8>, Exchange> {
        self.send(Reply::challenge(challenge));
        match self.conn.read_line(READ_LINE_MAX).await {
            Ok(Line::Text(t)) => {
                let t = String::from_utf8_lossy(&t).into_owned();
                decode(&t)
            }
            Ok(Line::TooLong | Line::BareNewline) => {
                Err(Exchange::Refused(Reply::auth_bad_encoding()))
            }
            Err(e) => Err(Exchange::Stopped(e)),
        }
    }

    async fn exchange(&mut self, mech: Mechanism, initial: Option<&str>) -> Exchange {
        let initial = match initial.map(decode).transpose() {
            Ok(i) => i,
            Err(e) => return e,
        };
        let r = match mech {
            Mechanism::Plain => {
                let msg = match initial {
                    Some(m) => Ok(m),
                    None => self.response("").await,
                };
                msg.and_then(|m| sasl::plain(&m).map_err(refused))
            }
            Mechanism::Login => {
                let user = match initial {
                    Some(m) => Ok(m),
                    None => self.response(&sasl::encode("Username:")).await,
                };
                match user.and_then(|u| sasl::login_field(&u).map_err(refused)) {
                    Ok(user) => self
                        .response(&sasl::encode("Password:"))
                        .await
                        .and_then(|p| sasl::login_field(&p).map_err(refused))
                        .map(|password| Credentials { user, password }),
                    Err(e) => Err(e),
                }
            }
        };
        match r {
            Ok(c) => Exchange::Done(c),
            Err(e) => e,
        }
    }

    /// Looks the user up (lower-cased) and checks the hash; `Err` is a
    /// temporary failure.
    async fn check_password(&self, creds: Credentials) -> Result<bool, ()> {
        let Some(map) = self.security.passwords.clone() else {
            return Ok(false);
        };
        tokio::task::spawn_blocking(move || {
            let hash = match map.get(&creds.user.to_lowercase()) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    // Same cost as a known user, so that timing does not
                    // tell which user names exist.
                    let _ = smx_maps::kind::passwords::verify(DUMMY_HASH, &creds.password);
                    return Ok(false);
                }
                Err(_) => return Err(()),
            };
            Ok(smx_maps::kind::passwords::verify(&hash, &creds.password).unwrap_or(false))
        })
        .await
        .unwrap_or(Err(()))
    }
}

/// A sha512-crypt hash of a random string, checked for unknown users.
const DUMMY_HASH: &str =
    "$6$smxdummysalt$dS.wOdjlDfTkMyQJatm/5lPOEaylc0k3CXaozWj9J8OAn9I7fOQe8kPTjBst/gHkY.vnwsPULjhX.DGzR3k7P/";

fn decode(line: &str) -> Result<Vec<u8>, Exchange> {
    sasl::decode(line).map_err(refused)
}

fn refused(e: SaslError) -> Exchange {
    Exchange::Refused(match e {
        SaslError::Cancelled => Reply::auth_cancelled(),
        SaslError::Malformed => Reply::auth_bad_encoding(),
    })
}
