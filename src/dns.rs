//! DNS lookups for `doctor` and `verify`: the few questions they ask (MX, TXT,
//! A/AAAA), each answered as records, "no such name" or "could not tell".
//!
//! A timeout, SERVFAIL or refusal is [`DnsError::Failed`]: it never makes an
//! address dead (only [`DnsError::NxDomain`] or what the records say can).
//! The resolver behind [`Resolve`] is [`SystemResolver`] (the system's or the
//! config's `dns_servers`); unit tests give a [`Static`] table instead.

mod system;

use std::collections::BTreeMap;
use std::net::IpAddr;

pub use system::SystemResolver;

pub use crate::model::{Answer, DnsError, Mx};

/// Runs `ask` with the resolver of `servers` (the system's when empty) on a
/// runtime of its own, for a command that has none. Fails only when there is
/// no runtime or no resolver to ask.
pub fn with_resolver<T>(
    servers: &[std::net::SocketAddr],
    ask: impl AsyncFnOnce(&SystemResolver) -> T,
) -> Result<T, DnsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DnsError::Failed(format!("cannot start the DNS runtime: {e}")))?;
    runtime.block_on(async {
        let resolver = SystemResolver::new(servers)?;
        Ok(ask(&resolver).await)
    })
}

/// The questions `doctor` and `verify` ask. Names are given without a
/// trailing dot and are asked as fully qualified (no search domains).
#[allow(async_fn_in_trait)]
pub trait Resolve {
    async fn mx(&self, name: &str) -> Answer<Mx>;
    /// Each TXT record with its character-strings joined, as SPF, DKIM and
    /// DMARC read them.
    async fn txt(&self, name: &str) -> Answer<String>;
    /// The A and AAAA records.
    async fn ips(&self, name: &str) -> Answer<IpAddr>;
    /// Whether `name` has an address, for a check that needs one, not all:
    /// its A records, else its AAAA records (a resolver may save the second
    /// question when the first has an answer).
    async fn any_ip(&self, name: &str) -> Answer<IpAddr> {
        self.ips(name).await
    }
}

/// A fixed table of answers, for tests of what is made of them.
#[derive(Debug, Default, Clone)]
pub struct Static {
    pub mx: BTreeMap<String, Answer<Mx>>,
    pub txt: BTreeMap<String, Answer<String>>,
    pub ips: BTreeMap<String, Answer<IpAddr>>,
}

impl Static {
    /// A name in none of the tables does not exist; a name in some exists,
    /// with no records of the other types.
    fn answer<T: Clone>(&self, table: &BTreeMap<String, Answer<T>>, name: &str) -> Answer<T> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match table.get(&name) {
            Some(answer) => answer.clone(),
            None if self.mx.contains_key(&name) || self.txt.contains_key(&name) || self.ips.contains_key(&name) => {
                Ok(Vec::new())
            }
            None => Err(DnsError::NxDomain),
        }
    }
}

impl Resolve for Static {
    async fn mx(&self, name: &str) -> Answer<Mx> {
        self.answer(&self.mx, name)
    }
    async fn txt(&self, name: &str) -> Answer<String> {
        self.answer(&self.txt, name)
    }
    async fn ips(&self, name: &str) -> Answer<IpAddr> {
        self.answer(&self.ips, name)
    }
}
