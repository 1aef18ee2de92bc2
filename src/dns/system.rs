//! The real resolver behind [`Resolve`]: hickory-resolver, asking the
//! config's `dns_servers` (UDP, TCP when an answer is truncated) or else the
//! name servers of `/etc/resolv.conf`.
//!
//! Every name is asked fully qualified (a trailing dot: no search list, no
//! hosts file), each question has a short timeout and two tries, and a hard
//! deadline over both, so one slow zone cannot stall a run. The answer is
//! sorted into the three outcomes [`Resolve`] promises: records (an empty list
//! for NODATA), [`DnsError::NxDomain`], or [`DnsError::Failed`] for anything
//! that could not tell (SERVFAIL, REFUSED, a timeout, no server at all).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as NetDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use super::{Answer, DnsError, Mx, Resolve};

/// How long one try of one question may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Tries after the first (one: it covers a lost UDP packet).
const RETRIES: usize = 1;
/// The bound over all tries of one question, whatever the resolver does.
const DEADLINE: Duration = Duration::from_secs(5);

/// Asks real name servers. Cheap to share by reference across concurrent
/// lookups; it caches answers for its lifetime (one run).
#[derive(Clone)]
pub struct SystemResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for SystemResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemResolver").finish_non_exhaustive()
    }
}

impl SystemResolver {
    /// A resolver asking `servers` in turn, or the system's (`/etc/resolv.conf`)
    /// when `servers` is empty. Fails when there is no server to ask.
    /// Must be called inside a tokio runtime.
    pub fn new(servers: &[SocketAddr]) -> Result<SystemResolver, DnsError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if servers.is_empty() {
            // Only the name servers count: the system's search list and retry
            // settings do not (names are asked fully qualified, options below).
            Resolver::builder(provider)
                .map_err(|e| DnsError::Failed(format!("cannot read the system's resolver (/etc/resolv.conf): {e}")))?
        } else {
            let name_servers = servers
                .iter()
                .map(|server| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = server.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = server.port();
                    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
                })
                .collect();
            Resolver::builder_with_config(ResolverConfig::from_parts(None, vec![], name_servers), provider)
        };
        *builder.options_mut() = options();
        let inner = builder.build().map_err(|e| DnsError::Failed(format!("cannot set up the resolver: {e}")))?;
        Ok(SystemResolver { inner })
    }

    /// The records of `kind` at `name`, sorted into the three outcomes.
    async fn lookup(&self, name: &str, kind: RecordType) -> Answer<RData> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let asked = tokio::time::timeout(DEADLINE, self.inner.lookup(fqdn.as_str(), kind)).await;
        match asked {
            Err(_) => Err(DnsError::Failed(format!("{kind} {name}: no answer within {} s", DEADLINE.as_secs()))),
            Ok(Ok(lookup)) => {
                Ok(lookup.answers().iter().filter(|r| r.record_type() == kind).map(|r| r.data.clone()).collect())
            }
            Ok(Err(error)) => outcome(&error).map(|()| Vec::new()).map_err(|reason| match reason {
                DnsError::Failed(why) => DnsError::Failed(format!("{kind} {name}: {why}")),
                nx => nx,
            }),
        }
    }
}

/// The addresses among `records`.
fn addresses(records: Vec<RData>) -> Vec<IpAddr> {
    records
        .into_iter()
        .filter_map(|data| match data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

/// The resolver's settings: short timeouts, few tries, no hosts file.
fn options() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.timeout = TIMEOUT;
    opts.attempts = RETRIES;
    opts.ndots = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts
}

/// A failed lookup as NODATA (`Ok`), NXDOMAIN, or "could not tell".
fn outcome(error: &NetError) -> Result<(), DnsError> {
    match error {
        NetError::Dns(NetDnsError::NoRecordsFound(none)) => match none.response_code {
            ResponseCode::NXDomain => Err(DnsError::NxDomain),
            ResponseCode::NoError => Ok(()),
            code => Err(DnsError::Failed(format!("server answered {code}"))),
        },
        NetError::Dns(NetDnsError::ResponseCode(code)) => Err(DnsError::Failed(format!("server answered {code}"))),
        NetError::Timeout => {
            Err(DnsError::Failed(format!("timed out ({} tries of {} s)", RETRIES + 1, TIMEOUT.as_secs())))
        }
        other => Err(DnsError::Failed(other.to_string())),
    }
}

impl Resolve for SystemResolver {
    async fn mx(&self, name: &str) -> Answer<Mx> {
        let records = self.lookup(name, RecordType::MX).await?;
        Ok(records
            .into_iter()
            .filter_map(|data| match data {
                RData::MX(mx) => Some(Mx {
                    preference: mx.preference,
                    exchange: mx.exchange.to_ascii().trim_end_matches('.').to_ascii_lowercase(),
                }),
                _ => None,
            })
            .collect())
    }

    async fn txt(&self, name: &str) -> Answer<String> {
        let records = self.lookup(name, RecordType::TXT).await?;
        Ok(records
            .into_iter()
            .filter_map(|data| match data {
                RData::TXT(txt) => {
                    Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>())
                }
                _ => None,
            })
            .collect())
    }

    /// Asks A first and AAAA only when there is no A: one question for most
    /// mail hosts instead of two.
    async fn any_ip(&self, name: &str) -> Answer<IpAddr> {
        match self.lookup(name, RecordType::A).await {
            Ok(records) if !records.is_empty() => Ok(addresses(records)),
            Err(DnsError::NxDomain) => Err(DnsError::NxDomain),
            v4 => match self.lookup(name, RecordType::AAAA).await {
                Ok(records) if records.is_empty() => v4.map(addresses),
                v6 => v6.map(addresses),
            },
        }
    }

    /// Asks A and AAAA together. NXDOMAIN from either is NXDOMAIN; an address
    /// from either is an answer even when the other could not tell.
    async fn ips(&self, name: &str) -> Answer<IpAddr> {
        let (v4, v6) = tokio::join!(self.lookup(name, RecordType::A), self.lookup(name, RecordType::AAAA));
        let mut ips = Vec::new();
        let mut failed = None;
        for answer in [v4, v6] {
            match answer {
                Ok(records) => ips.extend(addresses(records)),
                Err(DnsError::NxDomain) => return Err(DnsError::NxDomain),
                Err(failure) => failed = failed.or(Some(failure)),
            }
        }
        match failed {
            Some(failure) if ips.is_empty() => Err(failure),
            _ => Ok(ips),
        }
    }
}
