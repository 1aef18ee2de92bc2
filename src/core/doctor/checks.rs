//! PURE: from DNS answers and config values to [`Finding`]s, one function per
//! check, each with the record to publish when one would fix it.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::spf::{self, Count, Outcome};
use super::{Failure, Finding, Lookup, MxRecord, Provider, Publish, dkim, dmarc};

/// A mailbox is new in its first four weeks of sending.
pub const NEW_MAILBOX_DAYS: i64 = 28;
/// More than this many emails a day is too many for a new mailbox.
pub const NEW_MAILBOX_DAILY: u32 = 50;

fn could_not(check: &'static str, what: &str, why: &str) -> Finding {
    Finding::warning(check, format!("could not check {what}: {why}"))
}

/// `example.com` as Microsoft names its inbound host: `example-com`.
fn dashed(domain: &str) -> String {
    domain.replace('.', "-")
}

/// The MX record to publish for a domain whose mail `provider` (or
/// `inbox_host`, the mailbox's IMAP server) receives.
fn mx_to_publish(domain: &str, provider: Provider, inbox_host: Option<&str>) -> Publish {
    let value = match provider {
        Provider::Microsoft => format!("0 {}.mail.protection.outlook.com.", dashed(domain)),
        Provider::Google => "1 smtp.google.com.".to_string(),
        Provider::Other => match inbox_host {
            Some(host) => format!("10 {host}."),
            None => "10 <your mail server's host name>".to_string(),
        },
    };
    Publish { name: domain.to_string(), kind: "MX".into(), value }
}

/// MX: present, and not a null MX (RFC 7505).
pub fn mx(domain: &str, lookup: &Lookup<MxRecord>, provider: Provider, inbox_host: Option<&str>) -> Finding {
    let records = match lookup {
        Ok(records) => records,
        Err(Failure::NoDomain) => {
            return Finding::error("mx", format!("{domain} does not exist (NXDOMAIN): no mail can reach it"));
        }
        Err(Failure::Failed(why)) => return could_not("mx", "MX", why),
    };
    if records.iter().any(|r| r.exchange.is_empty()) {
        return Finding::error(
            "mx",
            format!(
                "null MX (RFC 7505): {domain} says it receives no mail, so replies, bounces and unsubscribe \
                 requests to it are refused, and many receivers refuse mail from it; replace it"
            ),
        )
        .publish(mx_to_publish(domain, provider, inbox_host));
    }
    if records.is_empty() {
        return Finding::error(
            "mx",
            format!("no MX record: replies, bounces and unsubscribe requests to {domain} may not arrive"),
        )
        .publish(mx_to_publish(domain, provider, inbox_host));
    }
    let mut sorted = records.clone();
    sorted.sort_by(|a, b| a.preference.cmp(&b.preference).then_with(|| a.exchange.cmp(&b.exchange)));
    let list: Vec<String> = sorted.iter().take(5).map(|r| format!("{} {}", r.preference, r.exchange)).collect();
    Finding::ok("mx", format!("MX {}", list.join(", ")))
}

/// The SPF term that authorises a mailbox's SMTP server.
pub fn spf_term(provider: Provider, smtp_host: Option<&str>) -> String {
    if let Some(include) = provider.spf_include() {
        return format!("include:{include}");
    }
    match smtp_host.map(|h| (h, h.parse::<IpAddr>())) {
        Some((_, Ok(IpAddr::V4(ip)))) => format!("ip4:{ip}"),
        Some((_, Ok(IpAddr::V6(ip)))) => format!("ip6:{ip}"),
        Some((host, Err(_))) => format!("a:{host}"),
        None => "a".to_string(),
    }
}

/// The SPF record of a domain, if there is exactly one that parses: what
/// the other SPF checks go on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpfRecord {
    One(String),
    /// None, several, broken or not known: nothing more to check.
    Unusable,
}

/// SPF: exactly one `v=spf1` record, and it parses.
pub fn spf(domain: &str, lookup: &Lookup<String>, term: &str) -> (Finding, SpfRecord) {
    let txts = match lookup {
        Ok(txts) => txts.as_slice(),
        Err(Failure::NoDomain) => &[],
        Err(Failure::Failed(why)) => return (could_not("spf", "SPF", why), SpfRecord::Unusable),
    };
    let found = spf::records(txts);
    let finding = match found.as_slice() {
        [] => Finding::error("spf", format!("no SPF record: receivers cannot tell who may send as {domain}"))
            .publish(Publish::txt(domain, format!("v=spf1 {term} ~all"))),
        [one] => match spf::parse(one) {
            Ok(_) => return (Finding::ok("spf", format!("\"{one}\"")), SpfRecord::One((*one).to_string())),
            Err(e) => {
                Finding::error("spf", format!("the SPF record \"{one}\" does not parse: {e} (receivers: permerror)"))
            }
        },
        many => Finding::error(
            "spf",
            format!(
                "{} SPF records: receivers treat that as an error (permerror) and ignore them all; merge them into one",
                many.len()
            ),
        )
        .publish(Publish::txt(domain, merged(many))),
    };
    (finding, SpfRecord::Unusable)
}

/// Several SPF records as one: every term once, the first record's `all`
/// (or `redirect=`) at the end.
fn merged(records: &[&str]) -> String {
    let mut terms: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    for record in records {
        for term in record.split_ascii_whitespace().skip(1) {
            let bare = term.trim_start_matches(['+', '-', '~', '?']).to_ascii_lowercase();
            if bare == "all" || bare.starts_with("redirect=") {
                last.get_or_insert_with(|| term.to_string());
            } else if !terms.iter().any(|t| t.eq_ignore_ascii_case(term)) {
                terms.push(term.to_string());
            }
        }
    }
    let mut out = String::from("v=spf1");
    for term in terms.iter().chain(last.iter()) {
        out.push(' ');
        out.push_str(term);
    }
    out
}

/// SPF: at most 10 DNS-querying terms, through includes (§4.6.4), and
/// every include leads to a record.
pub fn spf_limit(count: &Count) -> Vec<Finding> {
    let mut findings = Vec::new();
    if count.terms > spf::MAX_LOOKUPS {
        findings.push(Finding::error(
            "spf-limit",
            format!(
                "{} DNS-querying terms (include, a, mx, ptr, exists, redirect, counted through includes): more than \
                 {} (RFC 7208 §4.6.4), so receivers give permerror; drop includes you do not send through, or put \
                 ip4:/ip6: ranges in their place",
                count.terms,
                spf::MAX_LOOKUPS
            ),
        ));
    } else {
        findings.push(Finding::ok(
            "spf-limit",
            format!("{} of at most {} DNS-querying terms", count.terms, spf::MAX_LOOKUPS),
        ));
    }
    for problem in &count.problems {
        findings.push(Finding::error("spf-limit", format!("{problem}: receivers give permerror when they reach it")));
    }
    findings
}

/// SPF: a provider's servers are authorised by its include, anywhere in
/// the record's tree.
pub fn spf_provider(domain: &str, record: &str, provider: Provider, included: bool) -> Finding {
    let Some(include) = provider.spf_include() else {
        return Finding::ok("spf-host", "no provider include to look for");
    };
    if included {
        Finding::ok("spf-host", format!("authorises {} (include:{include})", provider.name()))
    } else {
        Finding::error(
            "spf-host",
            format!("does not authorise {}: its servers' mail fails SPF; add include:{include}", provider.name()),
        )
        .publish(Publish::txt(domain, spf::with_term(record, &format!("include:{include}"))))
    }
}

/// SPF: what the record says of each of the SMTP server's addresses.
pub fn spf_host(domain: &str, record: &str, host: &str, results: &[(IpAddr, Outcome)]) -> Finding {
    let list = |pick: &dyn Fn(&Outcome) -> bool| {
        results.iter().filter(|(_, o)| pick(o)).map(|(ip, o)| format!("{ip}: {o}")).collect::<Vec<_>>().join(", ")
    };
    if results.is_empty() {
        return Finding::warning("spf-host", format!("could not check: {host} has no address"));
    }
    let broken = list(&|o| matches!(o, Outcome::PermError(_)));
    if !broken.is_empty() {
        return Finding::error(
            "spf-host",
            format!("receivers cannot use the record for the SMTP server {host} ({broken}): fix the record first"),
        );
    }
    let refused = list(&|o| !matches!(o, Outcome::Pass | Outcome::TempError(_)));
    if !refused.is_empty() {
        let term = spf_term(Provider::Other, Some(host));
        return Finding::error(
            "spf-host",
            format!("does not authorise the SMTP server {host} ({refused}): its mail fails SPF; add {term}"),
        )
        .publish(Publish::txt(domain, spf::with_term(record, &term)));
    }
    let unknown = list(&|o| matches!(o, Outcome::TempError(_)));
    if !unknown.is_empty() {
        return Finding::warning("spf-host", format!("could not check {host} ({unknown})"));
    }
    Finding::ok("spf-host", format!("authorises the SMTP server {host} ({})", list(&|_| true)))
}

/// Where a DKIM selector to look at comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorSource {
    /// The mailbox's `dkim_selectors`: a key must be there.
    Configured,
    /// The provider's usual selector: a key must be there.
    Provider(Provider),
    /// One of [`super::COMMON_SELECTORS`], tried on a guess: no key there says nothing.
    Guess,
}

/// DKIM: the key at one selector, and its size. `None`: a guessed selector
/// without a key (see [`dkim_none_found`]).
pub fn dkim(domain: &str, selector: &str, lookup: &Lookup<String>, source: SelectorSource) -> Option<Finding> {
    let name = format!("{selector}._domainkey.{domain}");
    let txts = match lookup {
        Ok(txts) => txts.as_slice(),
        Err(Failure::NoDomain) => &[],
        Err(Failure::Failed(why)) if source != SelectorSource::Guess => return Some(could_not("dkim", &name, why)),
        Err(Failure::Failed(_)) => &[],
    };
    let keys: Vec<&String> = txts.iter().filter(|t| t.contains("p=")).collect();
    let text = match keys.as_slice() {
        [] if source == SelectorSource::Guess => return None,
        [] => {
            let how = match source {
                SelectorSource::Provider(Provider::Microsoft) => {
                    "; turn DKIM signing on in the Microsoft Defender portal (Email authentication > DKIM), which \
                     shows the CNAME targets"
                }
                SelectorSource::Provider(Provider::Google) => {
                    "; generate the key in Google Admin (Apps > Google Workspace > Gmail > Authenticate email)"
                }
                _ => "",
            };
            return Some(
                Finding::error("dkim", format!("no DKIM key at {name}: receivers cannot check the signatures{how}"))
                    .publish(dkim_to_publish(domain, selector, source)),
            );
        }
        [one] => one.as_str(),
        many => {
            return Some(Finding::error(
                "dkim",
                format!("{} key records at {name}: receivers may pick either; keep one", many.len()),
            ));
        }
    };
    let record = match dkim::parse(text) {
        Ok(record) => record,
        Err(e) => return Some(Finding::error("dkim", format!("the key at {name} does not parse: {e}"))),
    };
    let testing = if record.testing { " (t=y: testing, receivers may ignore the signatures; remove t=y)" } else { "" };
    let finding = match record.key {
        dkim::Key::Revoked => Finding::error("dkim", format!("the key at {name} is revoked (empty p=)")),
        dkim::Key::Rsa { bits } if bits < 1024 => Finding::error(
            "dkim",
            format!("{bits}-bit RSA key at {name}: receivers ignore keys under 1024 bits; publish a 2048-bit key"),
        ),
        dkim::Key::Rsa { bits } if bits < 2048 => Finding::warning(
            "dkim",
            format!("{bits}-bit RSA key at {name}: 2048 bits is the norm now; rotate to a 2048-bit key{testing}"),
        ),
        dkim::Key::Rsa { bits } if record.testing => {
            Finding::warning("dkim", format!("{bits}-bit RSA key at {name}{testing}"))
        }
        dkim::Key::Rsa { bits } => Finding::ok("dkim", format!("{bits}-bit RSA key at {name}")),
        dkim::Key::Ed25519 if record.testing => Finding::warning("dkim", format!("ed25519 key at {name}{testing}")),
        dkim::Key::Ed25519 => {
            Finding::ok("dkim", format!("ed25519 key at {name} (receivers without ed25519 need an RSA signature too)"))
        }
    };
    Some(finding)
}

fn dkim_to_publish(domain: &str, selector: &str, source: SelectorSource) -> Publish {
    let name = format!("{selector}._domainkey.{domain}");
    match source {
        SelectorSource::Provider(Provider::Microsoft) => Publish {
            name,
            kind: "CNAME".into(),
            value: format!("<the {selector} target the Microsoft Defender portal shows>"),
        },
        SelectorSource::Provider(Provider::Google) => {
            Publish::txt(name, "v=DKIM1; k=rsa; p=<the key Google Admin shows>")
        }
        _ => Publish::txt(name, "v=DKIM1; k=rsa; p=<your mail server's public DKIM key>"),
    }
}

/// DKIM on a guess: no key at any of the common selectors.
pub fn dkim_none_found(domain: &str, tried: &[&str]) -> Finding {
    Finding::warning(
        "dkim",
        format!(
            "no DKIM key at the common selectors of {domain} ({}): set dkim_selectors = [\"...\"] in the mailbox to \
             the selector your mail server signs with",
            tried.join(", ")
        ),
    )
}

/// The DMARC record to publish where there is none.
fn dmarc_to_publish(domain: &str) -> Publish {
    Publish::txt(format!("_dmarc.{domain}"), format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"))
}

/// DMARC: the record at `_dmarc.DOMAIN`, or else the one of the first
/// parent domain that has one (the organizational domain's, whose `sp=`
/// then applies). `found` holds `(name looked up, answer)`, the domain's
/// own first.
pub fn dmarc(domain: &str, found: &[(String, Lookup<String>)]) -> Finding {
    for (index, (name, lookup)) in found.iter().enumerate() {
        let txts = match lookup {
            Ok(txts) => txts.as_slice(),
            Err(Failure::NoDomain) => &[],
            Err(Failure::Failed(why)) => return could_not("dmarc", name, why),
        };
        let records = dmarc::records(txts);
        let text = match records.as_slice() {
            [] => continue,
            [one] => *one,
            many => {
                return Finding::error(
                    "dmarc",
                    format!("{} DMARC records at {name}: receivers ignore them all; keep one", many.len()),
                );
            }
        };
        let record = match dmarc::parse(text) {
            Ok(record) => record,
            Err(e) => {
                return Finding::error("dmarc", format!("the DMARC record at {name} (\"{text}\") does not parse: {e}"))
                    .publish(dmarc_to_publish(domain));
            }
        };
        let inherited = index > 0;
        let policy = match (inherited, record.subdomain_policy) {
            (true, Some(sp)) => sp,
            _ => record.policy,
        };
        let mut message = format!(
            "{}policy {}{}, alignment DKIM {}, SPF {}",
            if inherited { format!("no record at _dmarc.{domain}; {name} applies: ") } else { String::new() },
            policy.as_str(),
            if record.pct < 100 { format!(" on {}% of mail", record.pct) } else { String::new() },
            record.adkim.as_str(),
            record.aspf.as_str(),
        );
        if record.rua.is_empty() {
            message.push_str(": no rua=, so no aggregate reports reach you; add one");
            let publish = Publish::txt(
                name.clone(),
                format!(
                    "{}; rua=mailto:dmarc-reports@{}",
                    text.trim().trim_end_matches(';'),
                    name.trim_start_matches("_dmarc.")
                ),
            );
            return Finding::warning("dmarc", message).publish(publish);
        }
        message.push_str(&format!(", reports to {}", record.rua.join(", ")));
        if policy == dmarc::Policy::None {
            message.push_str(" (p=none only monitors: move to quarantine once the reports show only your own mail)");
        }
        return Finding::ok("dmarc", message);
    }
    Finding::error("dmarc", format!("no DMARC record at _dmarc.{domain}: Gmail and Yahoo require one of bulk senders"))
        .publish(dmarc_to_publish(domain))
}

/// The parent domains whose `_dmarc` record applies when the domain has
/// none, nearest first (down to two labels: without the public suffix
/// list, an approximation of the organizational domain).
pub fn dmarc_names(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    (0..labels.len().saturating_sub(1)).map(|skip| format!("_dmarc.{}", labels[skip..].join("."))).collect()
}

/// How one-click unsubscribe (RFC 8058) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneClick {
    /// No `[http]` table.
    NoHttp,
    /// `[http]` without `public_url`.
    NoPublicUrl,
    /// At this https URL.
    At(String),
}

/// Whether the mailbox has sent before, as the database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum History {
    Never,
    /// Its first send.
    Since(DateTime<Utc>),
    Unknown(String),
}

/// The sending config: List-Unsubscribe, one-click, and a daily limit
/// that suits a new mailbox.
pub fn sending(
    list_unsubscribe: bool,
    one_click: &OneClick,
    daily_limit: Option<u32>,
    history: &History,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if list_unsubscribe {
        findings.push(Finding::ok("list-unsubscribe", "List-Unsubscribe on every email to a lead"));
        findings.push(match one_click {
            OneClick::At(url) => Finding::ok("one-click", format!("one-click unsubscribe (RFC 8058) at {url}/u/…")),
            OneClick::NoHttp => Finding::warning(
                "one-click",
                "no [http] table: List-Unsubscribe offers only mailto:, and Gmail and Yahoo ask for one-click \
                 (RFC 8058); set [http] with public_url = \"https://...\"",
            ),
            OneClick::NoPublicUrl => Finding::warning(
                "one-click",
                "[http] has no public_url: List-Unsubscribe offers only mailto:, and Gmail and Yahoo ask for \
                 one-click (RFC 8058); set public_url = \"https://...\"",
            ),
        });
    } else {
        findings.push(Finding::warning(
            "list-unsubscribe",
            "list_unsubscribe = false: Gmail and Yahoo ask for List-Unsubscribe, and without it a lead who wants \
             out can only mark the email as spam",
        ));
    }
    let new = match history {
        History::Never => Some("has sent nothing yet"),
        History::Since(first) if (now - *first).num_days() < NEW_MAILBOX_DAYS => {
            Some("started sending less than 4 weeks ago")
        }
        History::Since(_) => None,
        History::Unknown(why) => {
            findings.push(could_not("daily-limit", "the mailbox's sending history", why));
            return findings;
        }
    };
    let limit = daily_limit.map_or_else(|| "no daily_limit".to_string(), |n| format!("daily_limit = {n}"));
    findings.push(match new {
        Some(why) if daily_limit.is_none_or(|n| n > NEW_MAILBOX_DAILY) => Finding::warning(
            "daily-limit",
            format!(
                "{limit}, and the mailbox {why}: a new mailbox should send at most {NEW_MAILBOX_DAILY} a day in its \
                 first weeks, raised week by week; set daily_limit = 30"
            ),
        ),
        Some(why) => Finding::ok("daily-limit", format!("{limit}: suits a mailbox that {why}")),
        None => Finding::ok("daily-limit", limit),
    });
    findings
}

#[cfg(test)]
mod tests;
