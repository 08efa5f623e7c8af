//! DNS lookups of SMAR (README §3.9.2 items 4, 5 and 10; RFC 5321 §5.1
//! "Locating the Target Host"; RFC 7505 null MX; PTR for the client's name,
//! §3.12.2) over hickory-resolver.
//!
//! The nameservers are `smar { nameserver = ...; }` (up to four, IPv4, each
//! with an optional port for tests), else those of /etc/resolv.conf.
//! `DNS_timeout` bounds each query; every lookup as a whole is bounded by
//! two attempts of it. Answers are cached by the resolver for their TTL.
//!
//! Errors are sorted for SMTP: a timeout, SERVFAIL or any other failure of
//! the resolver is [`DnsError::Temporary`] (try later, 4xx); NXDOMAIN is
//! [`DnsError::NoDomain`] and an answer without records of the type asked
//! is [`DnsError::NoData`] (both permanent for routing).

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::{ResolveError, ResolveErrorKind};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{Name, TokioAsyncResolver};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Why a DNS lookup gave no records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Try again later: timeout, SERVFAIL, no usable nameserver.
    #[error("temporary DNS failure: {0}")]
    Temporary(String),
    /// NXDOMAIN: the name does not exist.
    #[error("{0}: no such domain")]
    NoDomain(String),
    /// The name exists but has no records of the type asked.
    #[error("{0}: no records")]
    NoData(String),
}

impl DnsError {
    /// A temporary failure.
    pub fn is_temporary(&self) -> bool {
        matches!(self, DnsError::Temporary(_))
    }
}

/// Attempts per query.
const ATTEMPTS: usize = 2;

/// The resolver of SMAR.
pub struct Dns {
    resolver: Result<TokioAsyncResolver, String>,
    limit: Duration,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("ok", &self.resolver.is_ok())
            .field("limit", &self.limit)
            .finish()
    }
}

impl Dns {
    /// A resolver asking `nameservers` (none: /etc/resolv.conf), each
    /// query bounded by `timeout`. When the system configuration cannot be
    /// read every lookup fails temporarily; [`Dns::problem`] says why.
    pub fn new(nameservers: &[SocketAddrV4], timeout: Duration) -> Dns {
        let timeout = timeout.max(Duration::from_millis(100));
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = ATTEMPTS;
        opts.cache_size = 1024;
        opts.ndots = 0;
        opts.use_hosts_file = false;
        opts.edns0 = false;
        let resolver = if nameservers.is_empty() {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok((config, sys)) => {
                    opts.rotate = sys.rotate;
                    let config =
                        ResolverConfig::from_parts(None, vec![], config.name_servers().to_vec());
                    Ok(TokioAsyncResolver::tokio(config, opts))
                }
                Err(e) => Err(format!("cannot read the system's DNS configuration: {e}")),
            }
        } else {
            let mut group = NameServerConfigGroup::new();
            for ns in nameservers {
                group.merge(NameServerConfigGroup::from_ips_clear(
                    &[std::net::IpAddr::V4(*ns.ip())],
                    ns.port(),
                    true,
                ));
            }
            Ok(TokioAsyncResolver::tokio(
                ResolverConfig::from_parts(None, vec![], group),
                opts,
            ))
        };
        Dns {
            resolver,
            limit: timeout * (ATTEMPTS as u32 + 1),
        }
    }

    /// Why every lookup fails, if it does.
    pub fn problem(&self) -> Option<&str> {
        self.resolver.as_ref().err().map(String::as_str)
    }

    fn name(domain: &str) -> Result<Name, DnsError> {
        let fqdn = if domain.ends_with('.') {
            domain.to_string()
        } else {
            format!("{domain}.")
        };
        Name::from_utf8(&fqdn).map_err(|_| DnsError::NoDomain(domain.to_string()))
    }

    fn classify(domain: &str, e: &ResolveError) -> DnsError {
        match e.kind() {
            ResolveErrorKind::NoRecordsFound { response_code, .. } => match *response_code {
                ResponseCode::NXDomain => DnsError::NoDomain(domain.to_string()),
                ResponseCode::NoError => DnsError::NoData(domain.to_string()),
                other => DnsError::Temporary(format!("{domain}: {other}")),
            },
            _ => DnsError::Temporary(format!("{domain}: {e}")),
        }
    }

    fn resolver(&self) -> Result<&TokioAsyncResolver, DnsError> {
        self.resolver
            .as_ref()
            .map_err(|e| DnsError::Temporary(e.clone()))
    }

    /// The MX records of `domain`: (preference, exchange without the
    /// trailing dot; `.` for a null MX).
    pub async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsError> {
        let name = Self::name(domain)?;
        let r = self.resolver()?;
        match tokio::time::timeout(self.limit, r.mx_lookup(name)).await {
            Err(_) => Err(DnsError::Temporary(format!("{domain}: timeout"))),
            Ok(Err(e)) => Err(Self::classify(domain, &e)),
            Ok(Ok(l)) => {
                let v: Vec<(u16, String)> = l
                    .iter()
                    .map(|mx| {
                        let host = mx.exchange().to_utf8();
                        let host = match host.strip_suffix('.') {
                            Some("") | None => host,
                            Some(h) => h.to_string(),
                        };
                        (mx.preference(), host)
                    })
                    .collect();
                if v.is_empty() {
                    Err(DnsError::NoData(domain.to_string()))
                } else {
                    Ok(v)
                }
            }
        }
    }

    /// The PTR names of `ip`, without trailing dots (README §3.12.2
    /// "Connect": the client's host name).
    pub async fn ptr(&self, ip: Ipv4Addr) -> Result<Vec<String>, DnsError> {
        let r = self.resolver()?;
        let what = ip.to_string();
        match tokio::time::timeout(self.limit, r.reverse_lookup(std::net::IpAddr::V4(ip))).await {
            Err(_) => Err(DnsError::Temporary(format!("{what}: timeout"))),
            Ok(Err(e)) => Err(Self::classify(&what, &e)),
            Ok(Ok(l)) => {
                let v: Vec<String> = l
                    .iter()
                    .map(|n| {
                        let n = n.to_utf8();
                        n.strip_suffix('.').map(str::to_string).unwrap_or(n)
                    })
                    .collect();
                if v.is_empty() {
                    Err(DnsError::NoData(what))
                } else {
                    Ok(v)
                }
            }
        }
    }

    /// The A records of `host`.
    pub async fn a(&self, host: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
        let name = Self::name(host)?;
        let r = self.resolver()?;
        match tokio::time::timeout(self.limit, r.ipv4_lookup(name)).await {
            Err(_) => Err(DnsError::Temporary(format!("{host}: timeout"))),
            Ok(Err(e)) => Err(Self::classify(host, &e)),
            Ok(Ok(l)) => {
                let v: Vec<Ipv4Addr> = l.iter().map(|a| a.0).collect();
                if v.is_empty() {
                    Err(DnsError::NoData(host.to_string()))
                } else {
                    Ok(v)
                }
            }
        }
    }
}
