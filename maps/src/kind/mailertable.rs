//! The mailertable (sendmail X README §3.9.3 "Mailertable", §4.3.1):
//!
//! ```text
//! LHS ::= [ "." ] hostname | "."
//! RHS ::= [[ port "^" ] ["esmtp:"] hostlist | "lmtp:" | port "^" "lmtp:" hostlist
//! hostlist ::= host [ " " hostlist ]
//! host ::= "[" IPv4-address "]" | hostname
//! ```
//!
//! `.` is the default entry; `.domain` matches subdomains (§3.12.1).
//! `lmtp:` alone delivers over the Unix socket of smtpc's `LMTP_socket`;
//! LMTP over TCP needs a port and hosts (`2001^lmtp:[127.0.0.1]`). A host in
//! brackets is an IPv4 address used as is; a host name is subject to MX
//! lookups.
//!
//! Decisions where the README is silent: ports are 1-65535; spaces after
//! the mailer's colon are tolerated (`esmtp: host`); sendmail 8 mailers
//! (`smtp:`, `relay:`, `local:`, `error:`) and Postfix transport syntax
//! (`[host]:port`) are errors that show the smx spelling.

use std::net::Ipv4Addr;

use super::{hostname, ipv4, looks_like_ipv4, strip_prefix_ci};

/// Where mail for a mailertable domain goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// ESMTP to the hosts, in order, on `port` (default 25).
    Esmtp {
        /// `port^`, if given.
        port: Option<u16>,
        /// At least one host.
        hosts: Vec<Host>,
    },
    /// `lmtp:` alone: LMTP over smtpc's local `LMTP_socket`.
    LmtpLocal,
    /// `port^lmtp:hosts`: LMTP over TCP.
    Lmtp {
        /// The port (required).
        port: u16,
        /// At least one host.
        hosts: Vec<Host>,
    },
}

/// One host of a mailertable RHS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `[A.B.C.D]`: this address, no MX lookup.
    Ip(Ipv4Addr),
    /// A host name, subject to MX lookups (as written; compare
    /// case-insensitively).
    Name(String),
}

/// Checks one mailertable entry.
pub(crate) fn validate(key: &str, value: &str) -> Result<(), String> {
    if key != "." {
        if key.starts_with('[') {
            return Err(format!(
                "mailertable key \"{key}\": keys are domains (\"example.com\", \
                 \".example.com\" or \".\"), not address literals"
            ));
        }
        hostname(key.strip_prefix('.').unwrap_or(key))
            .map_err(|why| format!("mailertable key: {why}"))?;
    }
    parse_mailertable_rhs(value).map(|_| ())
}

/// Parses the RHS of a mailertable entry.
pub fn parse_mailertable_rhs(value: &str) -> Result<Route, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("missing right-hand side; expected esmtp:host, lmtp: \
                    or port^lmtp:[IPv4-address]"
            .to_string());
    }
    let (port, rest) = match value.split_once('^') {
        Some((port, rest)) => (Some(port_number(port)?), rest),
        None => (None, value),
    };
    if let Some(hosts) = strip_prefix_ci(rest, "lmtp:") {
        let hosts = hosts.trim_start();
        return match (port, hosts.is_empty()) {
            (None, true) => Ok(Route::LmtpLocal),
            (None, false) => Err(format!(
                "LMTP over TCP needs a port in front, e.g. 2001^lmtp:{hosts}; \
                 \"lmtp:\" alone uses the local LMTP socket"
            )),
            (Some(port), true) => Err(format!(
                "{port}^lmtp: needs a host, e.g. {port}^lmtp:[127.0.0.1]; \
                 \"lmtp:\" alone (without port) uses the local LMTP socket"
            )),
            (Some(port), false) => Ok(Route::Lmtp {
                port,
                hosts: host_list(hosts)?,
            }),
        };
    }
    let hosts = match strip_prefix_ci(rest, "esmtp:") {
        Some(hosts) => hosts.trim_start(),
        None => {
            foreign_mailer(rest)?;
            rest
        }
    };
    if hosts.is_empty() {
        return Err(
            "esmtp: needs at least one host, e.g. esmtp:[10.1.2.3] or esmtp:mx.example.com"
                .to_string(),
        );
    }
    Ok(Route::Esmtp {
        port,
        hosts: host_list(hosts)?,
    })
}

fn port_number(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "\"{s}^\": the part before '^' must be a port number, e.g. 2525^esmtp:[127.0.0.1]"
        ));
    }
    match s.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("port {s} is out of range (1-65535)")),
    }
}

/// A mailer prefix other than `esmtp:`/`lmtp:`.
fn foreign_mailer(rest: &str) -> Result<(), String> {
    let first = rest.split_whitespace().next().unwrap_or(rest);
    let Some((mailer, after)) = first.split_once(':') else {
        return Ok(());
    };
    if mailer.starts_with('[') {
        // `[host]:port`, Postfix transport style; reported by host().
        return Ok(());
    }
    let lower = mailer.to_ascii_lowercase();
    let hint = match lower.as_str() {
        "smtp" | "relay" | "smtp8" | "dsmtp" => {
            format!("use esmtp: (sendmail 8's {lower}: mailer): esmtp:{after}")
        }
        "local" => "for local delivery use lmtp:".to_string(),
        "error" => "smx mailertables have no error: entries; \
                    reject the domain in the access map instead"
            .to_string(),
        "lmtp" => return Ok(()),
        _ => "smx knows the mailers esmtp: and lmtp:".to_string(),
    };
    Err(format!("unknown mailer \"{mailer}:\"; {hint}"))
}

fn host_list(s: &str) -> Result<Vec<Host>, String> {
    s.split_whitespace().map(host).collect()
}

fn host(s: &str) -> Result<Host, String> {
    if let Some(inner) = s.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return Err(format!("host \"{s}\": '[' without a closing ']'"));
        };
        if let Some(port) = after.strip_prefix(':') {
            return Err(format!(
                "host \"{s}\": the port goes in front: {port}^esmtp:[{addr}]"
            ));
        }
        if !after.is_empty() {
            return Err(format!("host \"{s}\": unexpected text after ']'"));
        }
        if !looks_like_ipv4(addr) {
            return Err(format!(
                "host \"{s}\": brackets hold an IPv4 address; write a host name \
                 without brackets ({addr}), it is subject to MX lookups"
            ));
        }
        return ipv4(addr)
            .map(Host::Ip)
            .map_err(|why| format!("host {s}: {why}"));
    }
    if looks_like_ipv4(s) {
        return Err(format!(
            "host \"{s}\": put an IPv4 address in brackets: [{s}]"
        ));
    }
    if let Some((name, port)) = s.split_once(':') {
        return Err(format!(
            "host \"{s}\": the port goes in front: {port}^esmtp:{name}"
        ));
    }
    if s.contains(',') {
        return Err(format!(
            "host \"{s}\": hosts are separated by spaces, not commas"
        ));
    }
    hostname(s).map_err(|why| format!("host: {why}"))?;
    Ok(Host::Name(s.to_string()))
}
