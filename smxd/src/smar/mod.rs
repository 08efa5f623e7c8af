//! smar: the address resolver (README §1.1, §3.9, §3.12, §4.3; DESIGN.md
//! "Address resolution"), `smxd smar -f smx.conf`.
//!
//! SMAR listens on `SMAR_socket` (relative to the queue directory; its
//! directory is created with mode 0770, a stale socket is removed) and
//! answers the SMTP servers and the QMGR ([`crate::proto::SmarRequest`]):
//!
//! - `Rcpt`: may this recipient be accepted from this client? Relaying
//!   rules and local users ([`rcpt`]).
//! - `Route`: where does this recipient go? Aliases ([`aliases`]),
//!   mailertable ([`mailertable`]), MX and A records ([`dns`], [`route`]).
//!
//! Modules: [`maps`] opens the maps declared in `smar { map NAME { } }`;
//! [`tables`] loads everything SMAR looks up (and says which missing files
//! are errors: a missing default `mt` is only a warning, SMAR then routes
//! by MX only; see its header); [`server`] is the process.
//!
//! Map lookups (Berkeley DB, socketmaps) block: each request does them on
//! tokio's blocking pool; DNS lookups are asynchronous.
//!
//! Privilege: runs as the SMAR user (`smar { user = smxm; }`); it reads
//! the maps in the configuration directory and talks DNS.
//!
//! Signals: SIGTERM/SIGINT exit 0; SIGHUP reloads the maps and the
//! mailertable (on failure the old tables stay in use).

pub mod aliases;
pub mod checks;
pub mod conncontrol;
pub mod dns;
pub mod dnsbl;
pub mod greylist;
pub mod mailertable;
pub mod maps;
pub mod policy;
pub mod protect;
pub mod rcpt;
pub mod route;
pub mod server;
pub mod tables;

use crate::proto::{SmarAnswer, SmarRequest};
use dns::Dns;
use rcpt::{RcptQuery, Temporary};
use std::sync::{Arc, RwLock};
use tables::Tables;

/// The resolver: the current tables (replaced on SIGHUP) and DNS.
#[derive(Debug)]
pub struct Smar {
    tables: RwLock<Arc<Tables>>,
    dns: Dns,
    who: String,
    greylist: Option<Arc<greylist::Greylist>>,
    conns: conncontrol::Counter,
}

/// What a request did to SMAR's connection counts (README §3.8 item 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Nothing.
    Nothing,
    /// A session of this client was let in and counted.
    Opened(std::net::Ipv4Addr),
    /// A session of this client ended and was uncounted.
    Closed(std::net::Ipv4Addr),
}

/// The client address connection control counts: IPv4 only.
fn v4(client: Option<std::net::IpAddr>) -> Option<std::net::Ipv4Addr> {
    match client {
        Some(std::net::IpAddr::V4(ip)) => Some(ip),
        _ => None,
    }
}

impl Smar {
    /// A resolver over `tables` and `dns`; `who` prefixes its log lines.
    pub fn new(tables: Tables, dns: Dns, who: &str) -> Smar {
        Smar {
            tables: RwLock::new(Arc::new(tables)),
            dns,
            who: who.to_string(),
            greylist: None,
            conns: conncontrol::Counter::default(),
        }
    }

    /// Uses `g` for greylisting (README §3.9.4).
    pub fn with_greylist(mut self, g: greylist::Greylist) -> Smar {
        self.greylist = Some(Arc::new(g));
        self
    }

    /// The tables in use.
    pub fn tables(&self) -> Arc<Tables> {
        match self.tables.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the tables (SIGHUP).
    pub fn replace(&self, tables: Tables) {
        let mut guard = match self.tables.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *guard = Arc::new(tables);
    }

    fn log(&self, msg: impl AsRef<str>) {
        crate::component::log(&self.who, msg);
    }

    /// Releases the connection counts of sessions whose SMTP server went
    /// away without telling their end (it crashed): `held` is how many
    /// sessions per client were counted over its connection and not ended.
    /// Returns how many were released.
    pub fn release(&self, held: &std::collections::HashMap<std::net::Ipv4Addr, u64>) -> u64 {
        let mut n = 0;
        for (ip, k) in held {
            for _ in 0..*k {
                self.conns.disconnect(*ip);
            }
            n += k;
        }
        n
    }

    /// A session counted by connection control ended, or was refused
    /// after it was counted.
    fn uncount(&self, client: Option<std::net::IpAddr>) {
        if let Some(ip) = v4(client) {
            self.conns.disconnect(ip);
        }
    }

    /// Answers one request.
    pub async fn handle(&self, req: SmarRequest) -> SmarAnswer {
        self.handle_counted(req).await.0
    }

    /// Answers one request, and says what it did to the connection counts
    /// (so that `server.rs` can release the sessions of an SMTP server
    /// that goes away, without knowing the counting rules).
    pub async fn handle_counted(&self, req: SmarRequest) -> (SmarAnswer, Counted) {
        match req {
            SmarRequest::Disconnect { client } => {
                self.uncount(client);
                let answer = SmarAnswer::Connect {
                    reply: None,
                    session: Default::default(),
                };
                (answer, v4(client).map_or(Counted::Nothing, Counted::Closed))
            }
            SmarRequest::Connect { server, client } => self.connect(server, client).await,
            other => (self.check(other).await, Counted::Nothing),
        }
    }

    /// `Connect`: connection control (a session let in is counted), then
    /// the access-map checks; a session they refuse is uncounted.
    async fn connect(
        &self,
        server: Option<String>,
        client: Option<std::net::IpAddr>,
    ) -> (SmarAnswer, Counted) {
        let tables = self.tables();
        let refused = |reply| SmarAnswer::Connect {
            reply: Some(reply),
            session: Default::default(),
        };
        let counted = v4(client);
        if let Some(ip) = counted {
            let now = std::time::Instant::now();
            if let Some(r) = self.conns.connect(&tables.conn_limits, ip, now) {
                self.log(format!("connect from {ip}: refused: {r}"));
                return (refused(r), Counted::Nothing);
            }
        }
        let sp = tables.server(server.as_deref());
        match checks::connect(&tables, &self.dns, &sp, client).await {
            Ok((None, session)) => (
                SmarAnswer::Connect {
                    reply: None,
                    session,
                },
                counted.map_or(Counted::Nothing, Counted::Opened),
            ),
            Ok((Some(r), _)) => {
                self.uncount(client);
                self.log(format!("connect from {}: refused: {r}", show(client)));
                (refused(r), Counted::Nothing)
            }
            Err(Temporary(why)) => {
                self.uncount(client);
                self.log(format!(
                    "connect from {}: check failed: {why}",
                    show(client)
                ));
                (refused(rcpt::tempfail()), Counted::Nothing)
            }
        }
    }

    /// The requests that do not touch the connection counts: MAIL and
    /// RCPT checks, routing.
    async fn check(&self, req: SmarRequest) -> SmarAnswer {
        let tables = self.tables();
        match req {
            req @ (SmarRequest::Disconnect { .. } | SmarRequest::Connect { .. }) => {
                Box::pin(self.handle_counted(req)).await.0
            }
            SmarRequest::Mail {
                server,
                client,
                sender,
                session,
            } => {
                let sp = tables.server(server.as_deref());
                match checks::mail(&tables, &self.dns, &sp, &sender, &session).await {
                    Ok(c) => {
                        if !c.reply.is_success() {
                            self.log(format!(
                                "<{sender}> from {}: MAIL refused: {}",
                                show(client),
                                c.reply
                            ));
                        }
                        SmarAnswer::Checked(c)
                    }
                    Err(Temporary(why)) => {
                        self.log(format!("<{sender}>: MAIL check failed: {why}"));
                        SmarAnswer::Checked(crate::proto::Checked::accept(rcpt::tempfail()))
                    }
                }
            }
            SmarRequest::RcptPolicy(q) => {
                let grey = self.greylist.clone();
                let addr = q.address.clone();
                let (client, sender) = (q.client, q.sender.clone());
                // Greylisting writes its database: never inline.
                let inline = tables.inline && grey.is_none();
                let decided = lookup(inline, move || {
                    let sp = tables.server(q.server.as_deref());
                    checks::rcpt(&tables, grey.as_deref(), &sp, &q)
                })
                .await;
                match decided {
                    Ok(Ok(c)) => {
                        // One line per refused recipient, as postmasters
                        // grep for ("relaying denied", unknown users).
                        if !c.reply.is_success() {
                            self.log(format!(
                                "<{addr}> from {}: RCPT refused: {}; from=<{sender}>",
                                show(client),
                                c.reply
                            ));
                        }
                        SmarAnswer::Checked(c)
                    }
                    Ok(Err(Temporary(why))) => {
                        self.log(format!("<{addr}>: RCPT check failed: {why}"));
                        SmarAnswer::Checked(crate::proto::Checked::accept(rcpt::tempfail()))
                    }
                    Err(e) => {
                        self.log(format!("<{addr}>: RCPT check failed: {e}"));
                        SmarAnswer::Checked(crate::proto::Checked::accept(rcpt::tempfail()))
                    }
                }
            }
            SmarRequest::Rcpt {
                client,
                address,
                access,
                lmtp_not_local,
            } => {
                let addr = address.clone();
                let inline = tables.inline;
                let decided = lookup(inline, move || {
                    tables.rcpt_inner(&RcptQuery {
                        client,
                        address: &address,
                        access,
                        lmtp_not_local,
                    })
                })
                .await;
                match decided {
                    Ok(Ok(reply)) => SmarAnswer::Rcpt(reply),
                    Ok(Err(Temporary(why))) => {
                        self.log(format!("<{addr}>: RCPT check failed: {why}"));
                        SmarAnswer::Rcpt(rcpt::tempfail())
                    }
                    Err(e) => {
                        self.log(format!("<{addr}>: RCPT check failed: {e}"));
                        SmarAnswer::Rcpt(rcpt::tempfail())
                    }
                }
            }
            SmarRequest::Route { address } => {
                let addr = address.clone();
                let inline = tables.inline;
                let planned = lookup(inline, move || tables.plan(&address)).await;
                let answer = match planned {
                    Ok(Ok(p)) => {
                        let t = self.tables();
                        let bad = move |ip| mx_bad_ip(&t, ip);
                        route::resolve(&self.dns, p, &bad, &|m| self.log(format!("<{addr}>: {m}")))
                            .await
                    }
                    Ok(Err(reply)) => SmarAnswer::Failed(reply),
                    Err(e) => SmarAnswer::Failed(crate::proto::SmtpReply::new(
                        451,
                        "4.3.0",
                        format!("temporary failure: {e}"),
                    )),
                };
                if let SmarAnswer::Failed(r) = &answer {
                    self.log(format!("<{addr}>: cannot route: {r}"));
                }
                answer
            }
        }
    }
}

/// Runs `f` (map lookups) on the runtime when no map can block
/// ([`Tables::inline`]); else on the blocking pool, so that a slow
/// socketmap server or name service stalls only that request.
async fn lookup<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    if inline {
        Ok(f())
    } else {
        tokio::task::spawn_blocking(f).await
    }
}

fn show(client: Option<std::net::IpAddr>) -> String {
    client.map_or_else(|| "(local)".to_string(), |c| c.to_string())
}

/// Runs the component until SIGTERM; returns the exit code.
pub fn main(config: &std::path::Path) -> i32 {
    server::main(config)
}

/// The `mxbadip:` check (README §3.9.3): an address found by MX/A lookups
/// whose access-map entry (A.B.C.D, A.B.C, A.B, A) is `reject` or
/// `error:` is not used; the entry's reply is what the recipient gets when
/// no other address is left. A failing map lookup does not refuse.
fn mx_bad_ip(tables: &Tables, ip: std::net::Ipv4Addr) -> Option<crate::proto::SmtpReply> {
    use smx_maps::kind::{parse_access_rhs, AccessAction};
    let map = tables.access.as_ref()?;
    let keys = smx_maps::lookup::ipv4_keys(ip);
    let found =
        smx_maps::lookup::probe(map.as_ref(), "mxbadip", keys.iter().map(String::as_str)).ok()?;
    let rhs = parse_access_rhs("mxbadip:", found.value()?).ok()?;
    match rhs.action {
        AccessAction::Reject => Some(crate::proto::SmtpReply::new(
            550,
            "5.7.0",
            format!("bad IP address {ip} in MX/A list"),
        )),
        AccessAction::Error { code, status, text } => {
            Some(crate::proto::SmtpReply::new(code, &status, text))
        }
        _ => None,
    }
}
