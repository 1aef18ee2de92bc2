//! `cadenced doctor`'s questions: for each mailbox, the DNS records of its
//! From domain (MX, SPF, DKIM, DMARC) and the MX of its
//! `unsubscribe_address` domain when that differs, asked through a
//! [`Resolve`]; with `--connect`, TLS to its SMTP and IMAP servers. What the
//! answers mean is [`crate::core::doctor`]'s to say: this module only asks,
//! and feeds SPF evaluation the answers it wants, one question at a time.
//!
//! Mailboxes, domains and independent questions are asked concurrently; a
//! question that takes longer than [`QUERY_TIMEOUT`] is "could not check".

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use crate::config::{Config, Delivery, Mailbox};
use crate::core::doctor::checks::{self, History, OneClick, SelectorSource, SpfRecord};
use crate::core::doctor::spf::{self, Answers, Need, Query, Sender};
use crate::core::doctor::{COMMON_SELECTORS, Failure, Finding, Level, Lookup, MxRecord, Provider, normal_name};
use crate::dns::{Answer, DnsError, Resolve};

/// A DNS question unanswered after this long is "could not check".
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// SPF evaluation asks at most this many questions per record and address
/// (the RFC's limits keep real records far below it).
const MAX_QUESTIONS: usize = 120;
/// At most this many of the SMTP server's addresses are evaluated.
const MAX_HOST_ADDRESSES: usize = 4;

/// What doctor found, per mailbox.
#[derive(Debug, Clone)]
pub struct Report {
    pub mailboxes: Vec<MailboxReport>,
}

#[derive(Debug, Clone)]
pub struct MailboxReport {
    pub name: String,
    /// The From address.
    pub from: String,
    pub domains: Vec<DomainReport>,
    /// The sending config, and TLS with `--connect`.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone)]
pub struct DomainReport {
    pub domain: String,
    pub role: Role,
    pub findings: Vec<Finding>,
}

/// Why a domain is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The From address's: it sends.
    From,
    /// The `unsubscribe_address`'s: it receives.
    Unsubscribe,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::From => "from",
            Role::Unsubscribe => "unsubscribe",
        }
    }
}

impl Report {
    /// Every finding, with its mailbox's.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.mailboxes.iter().flat_map(|m| m.domains.iter().flat_map(|d| d.findings.iter()).chain(m.findings.iter()))
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings().filter(|f| f.level == level).count()
    }
}

/// The first send of each mailbox (see [`crate::store::first_sends`]), or
/// why it could not be read.
pub type FirstSends = Result<BTreeMap<String, DateTime<Utc>>, String>;

/// Checks `mailboxes` of `config`: DNS through `resolver`, history from
/// `first_sends`, "new" as of `now`.
pub async fn examine<R: Resolve>(
    resolver: &R,
    config: &Config,
    mailboxes: &[&Mailbox],
    first_sends: &FirstSends,
    now: DateTime<Utc>,
) -> Report {
    let reports = join_all(mailboxes.iter().map(|m| examine_mailbox(resolver, config, m, first_sends, now))).await;
    Report { mailboxes: reports }
}

async fn examine_mailbox<R: Resolve>(
    resolver: &R,
    config: &Config,
    mailbox: &Mailbox,
    first_sends: &FirstSends,
    now: DateTime<Utc>,
) -> MailboxReport {
    let from_domain = ascii_domain(mailbox.from.email.domain());
    let provider = provider(mailbox);
    let inbox_host = mailbox.imap.as_ref().map(|i| i.host.as_str());
    let unsubscribe_domain = mailbox
        .unsubscribe_address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| ascii_domain(d))
        .filter(|d| *d != from_domain);
    let sending = examine_from(resolver, &from_domain, mailbox, provider);
    let receiving = async {
        match &unsubscribe_domain {
            None => None,
            Some(domain) => {
                let mx = lookup(resolver.mx(domain)).await.map(|r| r.into_iter().map(mx_record).collect());
                let finding = checks::mx(domain, &mx, provider, inbox_host);
                Some(DomainReport { domain: domain.clone(), role: Role::Unsubscribe, findings: vec![finding] })
            }
        }
    };
    let (sending, receiving) = tokio::join!(sending, receiving);
    let mut domains = vec![DomainReport { domain: from_domain, role: Role::From, findings: sending }];
    domains.extend(receiving);
    let one_click = match &config.http {
        None => OneClick::NoHttp,
        Some(http) => http.public_url.clone().map_or(OneClick::NoPublicUrl, OneClick::At),
    };
    let history = match first_sends {
        Ok(firsts) => firsts.get(&mailbox.name).map_or(History::Never, |first| History::Since(*first)),
        Err(why) => History::Unknown(why.clone()),
    };
    let findings = checks::sending(mailbox.list_unsubscribe, &one_click, mailbox.daily_limit, &history, now);
    MailboxReport { name: mailbox.name.clone(), from: mailbox.from.to_string(), domains, findings }
}

/// The provider of a mailbox's SMTP server (or of its OAuth sign-in).
fn provider(mailbox: &Mailbox) -> Provider {
    let oauth = mailbox.oauth2.as_ref().map(|o| match o.provider {
        crate::config::Provider::Microsoft { .. } => "microsoft",
        crate::config::Provider::Google => "google",
        crate::config::Provider::Custom => "custom",
    });
    let host = match &mailbox.delivery {
        Delivery::Smtp(smtp) => smtp.host.as_str(),
        Delivery::Outbox(_) => "",
    };
    Provider::of(host, oauth)
}

/// A domain as DNS knows it: lowercase, IDNA (punycode) when not ASCII.
fn ascii_domain(domain: &str) -> String {
    let domain = normal_name(domain);
    idna::domain_to_ascii(&domain).unwrap_or(domain)
}

/// MX, SPF (one record, its lookups, whether it authorises the SMTP
/// server), DKIM and DMARC of a From domain.
async fn examine_from<R: Resolve>(resolver: &R, domain: &str, mailbox: &Mailbox, provider: Provider) -> Vec<Finding> {
    let smtp_host = match &mailbox.delivery {
        Delivery::Smtp(smtp) => Some(smtp.host.as_str()),
        Delivery::Outbox(_) => None,
    };
    let inbox_host = mailbox.imap.as_ref().map(|i| i.host.as_str());
    let mx = async { lookup(resolver.mx(domain)).await.map(|r| r.into_iter().map(mx_record).collect::<Vec<_>>()) };
    let from = mailbox.from.email.to_string();
    let spf = examine_spf(resolver, domain, &from, provider, smtp_host);
    let dkim = examine_dkim(resolver, domain, &mailbox.dkim_selectors, provider);
    let dmarc = async {
        let names = checks::dmarc_names(domain);
        let answers = join_all(names.iter().take(4).map(|name| lookup(resolver.txt(name)))).await;
        checks::dmarc(domain, &names.into_iter().zip(answers).collect::<Vec<_>>())
    };
    let (mx, spf, dkim, dmarc) = tokio::join!(mx, spf, dkim, dmarc);
    let mut findings = vec![checks::mx(domain, &mx, provider, inbox_host)];
    findings.extend(spf);
    findings.extend(dkim);
    findings.push(dmarc);
    findings
}

async fn examine_spf<R: Resolve>(
    resolver: &R,
    domain: &str,
    from: &str,
    provider: Provider,
    smtp_host: Option<&str>,
) -> Vec<Finding> {
    let txt = lookup(resolver.txt(domain)).await;
    let term = checks::spf_term(provider, smtp_host);
    let (finding, record) = checks::spf(domain, &txt, &term);
    let mut findings = vec![finding];
    let SpfRecord::One(record) = record else { return findings };
    let mut answers = Answers::default();
    answers.txt.insert(normal_name(domain), txt);
    let count = settle(resolver, &mut answers, |a| spf::count_lookups(a, domain)).await;
    findings.extend(checks::spf_limit(&count));
    if let Some(target) = provider.spf_include() {
        let included = settle(resolver, &mut answers, |a| spf::includes(a, domain, target)).await;
        findings.push(checks::spf_provider(domain, &record, provider, included));
        return findings;
    }
    let Some(host) = smtp_host else {
        findings.push(Finding::warning(
            "spf-host",
            "an outbox mailbox has no SMTP server to check SPF against: whatever sends its .eml files must be \
             authorised by this record",
        ));
        return findings;
    };
    let addresses = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match lookup(resolver.ips(host)).await {
            Ok(found) => found,
            Err(Failure::NoDomain) => {
                findings.push(Finding::warning("spf-host", format!("could not check: {host} does not exist")));
                return findings;
            }
            Err(Failure::Failed(why)) => {
                findings.push(Finding::warning("spf-host", format!("could not check: the addresses of {host}: {why}")));
                return findings;
            }
        },
    };
    let mut results = Vec::new();
    for ip in addresses.into_iter().take(MAX_HOST_ADDRESSES) {
        let sender = Sender { ip, address: from };
        let outcome = settle(resolver, &mut answers, |a| spf::evaluate(a, domain, &sender)).await;
        results.push((ip, outcome));
    }
    findings.push(checks::spf_host(domain, &record, host, &results));
    findings
}

/// Runs a pure SPF step until it has every answer it needs, asking each
/// question it names. Past [`MAX_QUESTIONS`] a question is answered "could
/// not tell" without asking, which ends any evaluation.
async fn settle<R: Resolve, T>(resolver: &R, answers: &mut Answers, step: impl Fn(&Answers) -> Result<T, Need>) -> T {
    let mut asked = 0;
    loop {
        let query = match step(answers) {
            Ok(done) => return done,
            Err(Need(query)) => query,
        };
        asked += 1;
        let give_up = asked > MAX_QUESTIONS;
        let stopped = Failure::Failed(format!("doctor stopped after {MAX_QUESTIONS} lookups"));
        match query {
            Query::Txt(name) => {
                let answer = if give_up { Err(stopped) } else { lookup(resolver.txt(&name)).await };
                answers.txt.insert(name, answer);
            }
            Query::Ips(name) => {
                let answer = if give_up { Err(stopped) } else { lookup(resolver.ips(&name)).await };
                answers.ips.insert(name, answer);
            }
            Query::Mx(name) => {
                let answer = if give_up { Err(stopped) } else { lookup(resolver.mx(&name)).await };
                answers.mx.insert(name, answer.map(|r| r.into_iter().map(mx_record).collect()));
            }
        }
    }
}

/// The DKIM key at each selector: the mailbox's, else its provider's, else
/// the common ones on a guess.
async fn examine_dkim<R: Resolve>(
    resolver: &R,
    domain: &str,
    configured: &[String],
    provider: Provider,
) -> Vec<Finding> {
    let (selectors, source): (Vec<&str>, _) = if !configured.is_empty() {
        (configured.iter().map(String::as_str).collect(), SelectorSource::Configured)
    } else if !provider.dkim_selectors().is_empty() {
        (provider.dkim_selectors().to_vec(), SelectorSource::Provider(provider))
    } else {
        (COMMON_SELECTORS.to_vec(), SelectorSource::Guess)
    };
    let names: Vec<String> = selectors.iter().map(|s| format!("{s}._domainkey.{domain}")).collect();
    let answers = join_all(names.iter().map(|name| lookup(resolver.txt(name)))).await;
    let findings: Vec<Finding> =
        selectors.iter().zip(&answers).filter_map(|(s, answer)| checks::dkim(domain, s, answer, source)).collect();
    if findings.is_empty() && source == SelectorSource::Guess {
        if let Some(Err(Failure::Failed(why))) = answers.iter().find(|a| matches!(a, Err(Failure::Failed(_)))) {
            return vec![Finding::warning("dkim", format!("could not check the DKIM selectors of {domain}: {why}"))];
        }
        return vec![checks::dkim_none_found(domain, &selectors)];
    }
    findings
}

/// One DNS answer as the core reads it, "could not check" past the timeout.
async fn lookup<T>(question: impl Future<Output = Answer<T>>) -> Lookup<T> {
    match tokio::time::timeout(QUERY_TIMEOUT, question).await {
        Err(_) => Err(Failure::Failed(format!("no answer in {} s", QUERY_TIMEOUT.as_secs()))),
        Ok(Ok(records)) => Ok(records),
        Ok(Err(DnsError::NxDomain)) => Err(Failure::NoDomain),
        Ok(Err(DnsError::Failed(why))) => Err(Failure::Failed(why)),
    }
}

fn mx_record(mx: crate::dns::Mx) -> MxRecord {
    MxRecord { preference: mx.preference, exchange: mx.exchange }
}

/// `--connect`: TLS to the mailbox's SMTP and IMAP servers (no login, no
/// mail), both at once.
pub fn connect(mailbox: &Mailbox) -> Vec<Finding> {
    let smtp = || match &mailbox.delivery {
        Delivery::Outbox(dir) => {
            Finding::ok("smtp-tls", format!("an outbox mailbox ({}): no SMTP server to connect to", dir.display()))
        }
        Delivery::Smtp(settings) => tls_finding("smtp-tls", crate::send::probe_tls(settings, &mailbox.from)),
    };
    let imap = || {
        mailbox
            .imap
            .as_ref()
            .map(|settings| tls_finding("imap-tls", crate::imap::probe_tls(settings).map_err(|e| e.to_string())))
    };
    std::thread::scope(|scope| {
        let imap = scope.spawn(imap);
        let mut findings = vec![smtp()];
        match imap.join() {
            Ok(found) => findings.extend(found),
            Err(_) => findings.push(Finding::warning("imap-tls", "could not check: the IMAP probe failed")),
        }
        findings
    })
}

fn tls_finding(check: &'static str, result: Result<String, String>) -> Finding {
    match result {
        Ok(how) if how.ends_with("no TLS") => {
            Finding::warning(check, format!("{how}: the password and the mail cross the network in clear"))
        }
        Ok(how) => Finding::ok(check, how),
        Err(why) => Finding::error(check, why),
    }
}

#[cfg(test)]
mod tests;
