//! What DNS said about a name: the answers the lead preflight reads (the
//! resolver that asks is [`crate::dns`]).

/// One MX record. A null MX (RFC 7505) is the single record `0 .`, whose
/// `exchange` is the empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    /// Lowercase, without the trailing dot.
    pub exchange: String,
}

/// Why a lookup has no records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN): dead.
    #[error("no such domain (NXDOMAIN)")]
    NxDomain,
    /// SERVFAIL, a timeout, a refusal, no resolver: unknown, never dead.
    #[error("{0}")]
    Failed(String),
}

/// Records of one type at a name: `Ok(vec![])` when the name exists but has
/// none of that type (NODATA).
pub type Answer<T> = Result<Vec<T>, DnsError>;
