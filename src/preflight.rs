//! The lead preflight's I/O: asks DNS about each distinct domain of a set of
//! addresses once, many at a time (a bounded number in flight), and hands
//! what it heard to the pure rules of [`crate::core::verify`]. `verify`,
//! `import --verify` and `enroll --verify` all go through [`verify`].
//!
//! Per domain: its MX records; then, in a second round over every domain at
//! once, whether the mail hosts named have an address (each host asked once,
//! however many domains share it: most lists are mostly a few providers'
//! customers; A first, AAAA only without an A) and whether the domains
//! without MX have one. No SMTP probing: asking a mail server
//! whether a mailbox exists costs the sender's reputation.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use futures_util::StreamExt;
use tracing::warn;

use crate::core::verify::{self, Check, DomainFacts, Verdict};
use crate::dns::{Answer, DnsError, Mx, Resolve};

/// Questions in flight at once.
pub const IN_FLIGHT: usize = 64;

/// The verdicts of a run: one per distinct domain, and the rules that need
/// no lookup (syntax, disposable, role).
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    domains: HashMap<String, Verdict>,
    disposable: BTreeSet<String>,
}

impl Verdicts {
    /// The preflight of `email` (which should be among the addresses the
    /// verdicts were made for: another domain is "unknown").
    pub fn check(&self, email: &str) -> Check {
        match verify::before_dns(email, &self.disposable) {
            Err(settled) => settled,
            Ok(address) => Check {
                verdict: self
                    .domains
                    .get(&address.domain)
                    .cloned()
                    .unwrap_or_else(|| Verdict::Unknown("not looked up".into())),
                role: verify::is_role(&address.local),
            },
        }
    }

    /// How many distinct domains were looked up.
    pub fn domains(&self) -> usize {
        self.domains.len()
    }
}

/// Looks up the domains of `emails` through the config's `dns_servers` (or
/// the system's resolver) on a runtime of its own: for the CLI, which has
/// none. Fails only when there is no resolver to ask.
pub fn verify<'e>(
    emails: impl IntoIterator<Item = &'e str>,
    disposable: &BTreeSet<String>,
    own: &[String],
    servers: &[std::net::SocketAddr],
) -> Result<Verdicts, DnsError> {
    crate::dns::with_resolver(servers, async |resolver| verdicts(resolver, emails, disposable, own).await)
}

/// The verdicts for `emails`, asking `resolver` about each distinct domain
/// that needs asking (a malformed or disposable address needs none). When
/// it says a domain does not exist, it is asked about our own sending
/// domains `own` too: if it says none of them exists either, no NXDOMAIN of
/// this run refuses anyone.
pub async fn verdicts<'e, R: Resolve>(
    resolver: &R,
    emails: impl IntoIterator<Item = &'e str>,
    disposable: &BTreeSet<String>,
    own: &[String],
) -> Verdicts {
    // Each distinct spelling of a domain is read once: a list has many
    // addresses per domain, and only the domain decides what to ask.
    let mut spellings: HashSet<&str> = HashSet::new();
    let mut domains: HashSet<String> = HashSet::new();
    for email in emails {
        let Some((_, spelling)) = email.trim().rsplit_once('@') else { continue };
        if !spellings.insert(spelling) {
            continue;
        }
        if let Ok(domain) = verify::ascii_domain(spelling)
            && !verify::is_disposable(&domain, disposable)
        {
            domains.insert(domain);
        }
    }
    let facts = gather(resolver, domains).await;
    let mut denied = None;
    if facts.iter().any(|(_, f)| verify::says_nxdomain(f)) {
        let answers = futures_util::future::join_all(own.iter().map(|domain| async move {
            let answer = resolver.mx(domain).await;
            (domain.clone(), answer)
        }))
        .await;
        denied = verify::own_domain_denied(&answers).map(str::to_string);
        if let Some(own) = &denied {
            warn!(domain = %own, "DNS says our own sending domain does not exist: its NXDOMAIN answers refuse no lead");
        }
    }
    Verdicts {
        domains: facts
            .into_iter()
            .map(|(domain, facts)| {
                let verdict = verify::judge_domain_with(&domain, &facts, denied.as_deref());
                (domain, verdict)
            })
            .collect(),
        disposable: disposable.clone(),
    }
}

/// What DNS says about each of `domains`, in two rounds (MX; then the
/// addresses of mail hosts and of MX-less domains, each name once).
async fn gather<R: Resolve>(resolver: &R, domains: HashSet<String>) -> Vec<(String, DomainFacts)> {
    let mx: Vec<(String, Answer<Mx>)> = futures_util::stream::iter(domains)
        .map(|domain| async move {
            let answer = resolver.mx(&domain).await;
            (domain, answer)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let mut names: HashSet<String> = HashSet::new();
    for (domain, answer) in &mx {
        match answer {
            Ok(records) if records.is_empty() => {
                names.insert(domain.clone());
            }
            Ok(records) => names.extend(verify::hosts_to_ask(records)),
            Err(_) => {}
        }
    }
    let ips: HashMap<String, Answer<IpAddr>> = futures_util::stream::iter(names)
        .map(|name| async move {
            let answer = resolver.any_ip(&name).await;
            (name, answer)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let lookup = |name: &str| ips.get(name).cloned().unwrap_or_else(|| Err(DnsError::Failed("not asked".into())));
    mx.into_iter()
        .map(|(domain, mx)| {
            let facts = match &mx {
                Ok(records) if records.is_empty() => DomainFacts { ips: Some(lookup(&domain)), hosts: vec![], mx },
                Ok(records) => {
                    let hosts = verify::hosts_to_ask(records)
                        .into_iter()
                        .map(|host| {
                            let answer = lookup(&host);
                            (host, answer)
                        })
                        .collect();
                    DomainFacts { ips: None, hosts, mx }
                }
                Err(_) => DomainFacts { ips: None, hosts: vec![], mx },
            };
            (domain, facts)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Static;

    #[test]
    fn each_domain_is_judged_from_a_static_table() {
        let mut dns = Static::default();
        dns.mx.insert("acme.test".into(), Ok(vec![Mx { preference: 10, exchange: "mx.shared.test".into() }]));
        dns.mx.insert("beta.test".into(), Ok(vec![Mx { preference: 10, exchange: "mx.shared.test".into() }]));
        dns.ips.insert("mx.shared.test".into(), Ok(vec![IpAddr::from([192, 0, 2, 1])]));
        dns.mx.insert("null.test".into(), Ok(vec![Mx { preference: 0, exchange: String::new() }]));
        dns.ips.insert("aonly.test".into(), Ok(vec![IpAddr::from([192, 0, 2, 2])]));
        dns.mx.insert("broken.test".into(), Err(DnsError::Failed("SERVFAIL".into())));
        dns.mx.insert("ourco.test".into(), Ok(vec![Mx { preference: 10, exchange: "mx.shared.test".into() }]));
        let disposable: BTreeSet<String> = ["burner.test".to_string()].into();
        let emails = [
            "jane@acme.test",
            "info@beta.test",
            "x@null.test",
            "y@aonly.test",
            "z@gone.test",
            "w@broken.test",
            "v@burner.test",
            "not an address",
        ];
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let verdicts = runtime.block_on(verdicts(&dns, emails, &disposable, &["ourco.test".to_string()]));
        assert_eq!(verdicts.domains(), 6, "the disposable and the malformed need no lookup");
        let words: Vec<(&str, bool)> = emails
            .iter()
            .map(|e| {
                let check = verdicts.check(e);
                (check.verdict.word(), check.role)
            })
            .collect();
        assert_eq!(
            words,
            [
                ("ok", false),
                ("ok", true),
                ("dead", false),
                ("ok", false),
                ("dead", false),
                ("unknown", false),
                ("disposable", false),
                ("invalid", false)
            ]
        );
    }

    #[test]
    fn an_nxdomain_refuses_no_one_when_dns_denies_our_own_domain_too() {
        // A resolver that answers NXDOMAIN for any name (no network, a captive one).
        let everything_gone = Static::default();
        let own = ["ourco.test".to_string()];
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let got = runtime.block_on(verdicts(&everything_gone, ["jane@acme.test"], &BTreeSet::new(), &own));
        let check = got.check("jane@acme.test");
        assert_eq!(check.verdict.word(), "unknown", "{check:?}");
        assert!(check.verdict.reason().contains("ourco.test"), "{check:?}");
        // Our own domain exists, or DNS cannot tell about it: the NXDOMAIN stands.
        let mut dns = Static::default();
        dns.ips.insert("ourco.test".into(), Ok(vec![IpAddr::from([192, 0, 2, 9])]));
        let got = runtime.block_on(verdicts(&dns, ["jane@acme.test"], &BTreeSet::new(), &own));
        assert_eq!(got.check("jane@acme.test").verdict.word(), "dead");
        dns.mx.insert("ourco.test".into(), Err(DnsError::Failed("SERVFAIL".into())));
        let got = runtime.block_on(verdicts(&dns, ["jane@acme.test"], &BTreeSet::new(), &own));
        assert_eq!(got.check("jane@acme.test").verdict.word(), "dead");
        // With no mailbox domain to ask, nothing can be checked: the NXDOMAIN stands.
        let got = runtime.block_on(verdicts(&everything_gone, ["jane@acme.test"], &BTreeSet::new(), &[]));
        assert_eq!(got.check("jane@acme.test").verdict.word(), "dead");
    }
}
