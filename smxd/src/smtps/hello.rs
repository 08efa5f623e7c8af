//! EHLO and HELO (RFC 5321 §4.1.1.1): the EHLO keywords this server offers
//! (STARTTLS and AUTH as `auth.rs` decides).
//!
//! EHLO/HELO may be repeated; each one resets the transaction (§4.1.4).
//! With `strict_ehlo_checks` the argument must be a domain or an address
//! literal; without it any word is taken (it is only logged and put into
//! `Received:`).

use super::address::is_helo_domain;
use super::backend::Backend;
use super::reply::Reply;
use super::session::{Flow, Session};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin, B: Backend> Session<'_, S, B> {
    pub(super) fn hello(&mut self, domain: String, esmtp: bool) -> Flow {
        if self.conf.flags.has("strict_ehlo_checks") && !is_helo_domain(&domain) {
            let verb = if esmtp { "EHLO" } else { "HELO" };
            return self.bad_command(Reply::syntax(&format!(
                "{verb} hostname (a domain or an address literal)"
            )));
        }
        self.tx = None;
        self.info.helo = Some(domain);
        self.info.esmtp = esmtp;
        if !esmtp {
            return self.send(Reply::helo(self.hostname));
        }
        let mut kw = vec!["PIPELINING".to_string()];
        kw.push(if self.conf.max_message_size > 0 {
            format!("SIZE {}", self.conf.max_message_size)
        } else {
            "SIZE".to_string()
        });
        if self.conf.flags.has("8bitmime") {
            kw.push("8BITMIME".to_string());
        }
        kw.extend(
            ["ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8", "CHUNKING"]
                .iter()
                .map(|s| s.to_string()),
        );
        if self.offers_starttls() {
            kw.push("STARTTLS".to_string());
        }
        let mechs = self.offered_mechanisms();
        if !mechs.is_empty() {
            let names: Vec<&str> = mechs.iter().map(|m| m.name()).collect();
            kw.push(format!("AUTH {}", names.join(" ")));
        }
        self.send(Reply::ehlo(self.hostname, kw))
    }
}
