//! PURE: the lead preflight's rules. Whether an address is well formed
//! (RFC 5321/5322, as an enrolment tool should take it), whether its local
//! part names a role rather than a person, and what the answers about its
//! domain say: dead, disposable, unknown or fine.
//!
//! Only certainty refuses. NXDOMAIN, a null MX (RFC 7505), no MX and no
//! address (RFC 5321 §5.1), mail hosts that do not exist, a disposable
//! domain or a malformed address refuse the lead; a timeout or SERVFAIL is
//! "unknown" and the lead goes in. The questions are asked elsewhere
//! (`preflight`); here they arrive as plain [`DomainFacts`].

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::model::{Answer, DnsError, Mx};

/// An address split and normalised: the local part as given, the domain in
/// ASCII (punycode for an internationalised one), lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

/// The longest local part (RFC 5321 §4.5.3.1.1), in octets.
const MAX_LOCAL: usize = 64;
/// The longest domain (RFC 1035, without the root's dot), in octets.
const MAX_DOMAIN: usize = 253;
/// The longest address that fits a reverse or forward path of 256 octets
/// with its angle brackets (RFC 5321 §4.5.3.1.3).
const MAX_ADDRESS: usize = 254;

/// Splits and checks `text` (surrounding blanks ignored): one `@` outside a
/// quoted local part, a local part that is a dot-atom or a quoted string, a
/// domain of LDH labels (an internationalised one is turned into punycode),
/// within the length limits. The error says what is wrong.
pub fn parse_address(text: &str) -> Result<Address, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty address".into());
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err("no @".into());
    };
    check_local(local)?;
    if domain.starts_with('[') {
        return Err(format!("{domain} is an address literal, not a domain"));
    }
    let domain = ascii_domain(domain)?;
    if local.len() + 1 + domain.len() > MAX_ADDRESS {
        return Err(format!("longer than {MAX_ADDRESS} octets"));
    }
    Ok(Address { local: local.to_string(), domain })
}

/// RFC 5322 `atext`, with RFC 6532's UTF-8 beyond ASCII.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn check_local(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("nothing before the @".into());
    }
    if local.len() > MAX_LOCAL {
        return Err(format!("the part before the @ is longer than {MAX_LOCAL} octets"));
    }
    if let Some(inner) = local.strip_prefix('"') {
        // quoted-string: printable ASCII, with `\` quoting the next character.
        let Some(inner) = inner.strip_suffix('"') else {
            return Err("a quoted local part must end with its quote before the @".into());
        };
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.next().is_some_and(|q| q == ' ' || q.is_ascii_graphic()) => {}
                '\\' => return Err("a \\ in the quoted local part quotes nothing printable".into()),
                '"' => return Err("an unquoted \" inside the quoted local part".into()),
                ' ' => {}
                c if c.is_ascii_graphic() || !c.is_ascii() => {}
                c => return Err(format!("{c:?} is not allowed in a quoted local part")),
            }
        }
        return Ok(());
    }
    if local.contains('@') {
        return Err("more than one @ (quote the local part if it really has one)".into());
    }
    for atom in local.split('.') {
        if atom.is_empty() {
            return Err(
                "the part before the @ has an empty dot-separated piece (a leading, trailing or double dot)".into()
            );
        }
        if let Some(c) = atom.chars().find(|c| !is_atext(*c)) {
            return Err(format!("{c:?} is not allowed before the @ unless the local part is quoted"));
        }
    }
    Ok(())
}

/// The domain in lowercase ASCII, checked as a mail domain: at least two
/// labels of letters, digits and inner hyphens, 1-63 octets each, 253 in all,
/// a top-level label that is not all digits. A trailing dot is dropped.
pub fn ascii_domain(domain: &str) -> Result<String, String> {
    let trimmed = domain.strip_suffix('.').unwrap_or(domain);
    if trimmed.is_empty() {
        return Err("nothing after the @".into());
    }
    let ascii = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(trimmed).map_err(|_| format!("{trimmed:?} is not a valid internationalised domain"))?
    };
    if ascii.len() > MAX_DOMAIN {
        return Err(format!("the domain is longer than {MAX_DOMAIN} octets"));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("{ascii:?} has no dot: not a domain mail is delivered to"));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(format!("{ascii:?} has an empty label (a leading or double dot)"));
        }
        if label.len() > 63 {
            return Err(format!("{ascii:?} has a label longer than 63 octets"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(format!("{c:?} is not allowed in a domain"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("{label:?} starts or ends with a hyphen"));
        }
    }
    if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{ascii:?} ends in a number: an IP address is not a domain"));
    }
    Ok(ascii)
}

/// Local parts that name a function, not a person: mail to them reaches a
/// shared inbox, a ticket queue or nobody, and complaints come easily.
pub const ROLES: &[&str] = &[
    "abuse",
    "accounting",
    "accounts",
    "accounts-payable",
    "admin",
    "administrator",
    "all",
    "billing",
    "bookings",
    "careers",
    "compliance",
    "contact",
    "customerservice",
    "do-not-reply",
    "donotreply",
    "dpo",
    "enquiries",
    "enquiry",
    "everyone",
    "feedback",
    "finance",
    "ftp",
    "gdpr",
    "general",
    "headoffice",
    "hello",
    "help",
    "helpdesk",
    "hostmaster",
    "hr",
    "info",
    "inquiries",
    "investors",
    "it",
    "jobs",
    "legal",
    "list",
    "mail",
    "marketing",
    "media",
    "news",
    "newsletter",
    "no-reply",
    "noc",
    "noreply",
    "office",
    "orders",
    "partners",
    "postmaster",
    "press",
    "privacy",
    "purchasing",
    "reception",
    "recruitment",
    "returns",
    "root",
    "sales",
    "security",
    "service",
    "shop",
    "staff",
    "studio",
    "subscribe",
    "support",
    "sysadmin",
    "team",
    "unsubscribe",
    "usenet",
    "webmaster",
    "welcome",
    "www",
];

/// Whether `local` (a `+tag` and case aside) is a role address's.
pub fn is_role(local: &str) -> bool {
    let base = local.split('+').next().unwrap_or(local).to_ascii_lowercase();
    ROLES.binary_search(&base.as_str()).is_ok()
}

/// Whether `domain` or a domain above it is in `disposable` (lowercase).
pub fn is_disposable(domain: &str, disposable: &BTreeSet<String>) -> bool {
    let mut rest = domain;
    loop {
        if disposable.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

/// How a refusal reads on the suppression list (`status`, `log`, a later
/// `enroll`): this prefix, then the verdict and why.
pub const REASON_PREFIX: &str = "preflight: ";

/// The suppression reason for a refused address, e.g. `preflight: dead,
/// acme.test does not exist (NXDOMAIN)`.
pub fn suppression_reason(verdict: &Verdict) -> String {
    format!("{REASON_PREFIX}{}, {}", verdict.word(), verdict.reason())
}

/// What DNS said about a domain, as `preflight` gathered it: its MX
/// records; its own addresses when it has no MX; each mail host's addresses
/// when it has (most preferred first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainFacts {
    pub mx: Answer<Mx>,
    /// Asked only when the MX answer is NODATA.
    pub ips: Option<Answer<IpAddr>>,
    /// The mail hosts asked about, with their answers (empty: not asked).
    pub hosts: Vec<(String, Answer<IpAddr>)>,
}

/// How many of a domain's mail hosts are asked about, most preferred first.
pub const HOSTS_ASKED: usize = 3;

/// What an address comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Mail can be delivered, as far as DNS tells.
    Ok,
    /// DNS could not tell (SERVFAIL, a timeout): enrolled, and counted.
    Unknown(String),
    /// The address cannot receive mail: refused.
    Dead(String),
    /// A throwaway address service: refused.
    Disposable,
    /// Not an address: refused.
    Invalid(String),
}

impl Verdict {
    /// Whether the lead is kept out (and suppressed).
    pub fn refuses(&self) -> bool {
        matches!(self, Verdict::Dead(_) | Verdict::Disposable | Verdict::Invalid(_))
    }

    /// One word: ok, unknown, dead, disposable, invalid.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Unknown(_) => "unknown",
            Verdict::Dead(_) => "dead",
            Verdict::Disposable => "disposable",
            Verdict::Invalid(_) => "invalid",
        }
    }

    /// Why, in a phrase (empty for ok).
    pub fn reason(&self) -> String {
        match self {
            Verdict::Ok => String::new(),
            Verdict::Unknown(why) => format!("DNS could not tell: {why}"),
            Verdict::Dead(why) | Verdict::Invalid(why) => why.clone(),
            Verdict::Disposable => "a disposable-address domain".into(),
        }
    }
}

/// Whether DNS said the domain of `facts` does not exist (NXDOMAIN).
pub fn says_nxdomain(facts: &DomainFacts) -> bool {
    matches!(facts.mx, Err(DnsError::NxDomain)) || matches!(facts.ips, Some(Err(DnsError::NxDomain)))
}

/// The first of our own sending domains when DNS says that every one of them
/// does not exist: a resolver that answers NXDOMAIN for any name (no network,
/// a captive or broken one) would otherwise refuse, and suppress, a whole
/// list. `None` when one of them exists or could not be told, or there is
/// none to ask.
pub fn own_domain_denied(own: &[(String, Answer<Mx>)]) -> Option<&str> {
    if own.iter().all(|(_, answer)| matches!(answer, Err(DnsError::NxDomain))) {
        own.first().map(|(domain, _)| domain.as_str())
    } else {
        None
    }
}

/// [`judge_domain`], except that an NXDOMAIN is "could not tell" when DNS
/// says the same of our own domain `own_denied` (see [`own_domain_denied`]).
pub fn judge_domain_with(domain: &str, facts: &DomainFacts, own_denied: Option<&str>) -> Verdict {
    match own_denied {
        Some(own) if says_nxdomain(facts) => Verdict::Unknown(format!(
            "DNS says {domain} does not exist, but says so of our own {own} too: its NXDOMAIN answers are not \
             trusted (check the resolver, or dns_servers)"
        )),
        _ => judge_domain(domain, facts),
    }
}

/// The verdict on `domain` from what DNS said.
pub fn judge_domain(domain: &str, facts: &DomainFacts) -> Verdict {
    let unknown = |why: &str| Verdict::Unknown(why.to_string());
    match &facts.mx {
        Err(DnsError::NxDomain) => Verdict::Dead(format!("{domain} does not exist (NXDOMAIN)")),
        Err(DnsError::Failed(why)) => unknown(why),
        Ok(records) if records.is_empty() => match &facts.ips {
            // RFC 5321 §5.1: no MX, so mail goes to the domain's own address.
            Some(Ok(ips)) if !ips.is_empty() => Verdict::Ok,
            Some(Ok(_)) => Verdict::Dead(format!("{domain} has no MX and no A/AAAA record: no mail host")),
            Some(Err(DnsError::NxDomain)) => Verdict::Dead(format!("{domain} does not exist (NXDOMAIN)")),
            Some(Err(DnsError::Failed(why))) => unknown(why),
            None => unknown("its address was not asked"),
        },
        Ok(records) => {
            let hosts: Vec<&Mx> = records.iter().filter(|mx| !mx.exchange.is_empty()).collect();
            if hosts.is_empty() {
                return Verdict::Dead(format!("{domain} publishes a null MX (RFC 7505): it takes no mail"));
            }
            if facts.hosts.is_empty() {
                return Verdict::Ok;
            }
            // Dead only when every host asked surely has no address; one that
            // has one, or could not be told, gives the domain the benefit.
            let mut failed = None;
            for (_, answer) in &facts.hosts {
                match answer {
                    Ok(ips) if !ips.is_empty() => return Verdict::Ok,
                    Ok(_) | Err(DnsError::NxDomain) => {}
                    Err(DnsError::Failed(why)) => failed = failed.or(Some(why)),
                }
            }
            if let Some(why) = failed {
                return unknown(why);
            }
            // Hosts beyond those asked might have an address.
            if hosts.len() > facts.hosts.len() {
                return Verdict::Ok;
            }
            let names: Vec<&str> = facts.hosts.iter().map(|(name, _)| name.as_str()).collect();
            Verdict::Dead(format!("the mail host of {domain} ({}) has no address", names.join(", ")))
        }
    }
}

/// The mail hosts of an MX answer to ask about: at most [`HOSTS_ASKED`],
/// most preferred first, no null MX, no repeats.
pub fn hosts_to_ask(mx: &[Mx]) -> Vec<String> {
    let mut sorted: Vec<&Mx> = mx.iter().filter(|m| !m.exchange.is_empty()).collect();
    sorted.sort_by(|a, b| a.preference.cmp(&b.preference).then_with(|| a.exchange.cmp(&b.exchange)));
    let mut hosts: Vec<String> = Vec::new();
    for m in sorted {
        if !hosts.contains(&m.exchange) {
            hosts.push(m.exchange.clone());
        }
        if hosts.len() == HOSTS_ASKED {
            break;
        }
    }
    hosts
}

/// One address's preflight: its verdict, and whether it is a role address
/// (a warning; the lead still goes in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub verdict: Verdict,
    pub role: bool,
}

/// What can be said of `text` before DNS: `Err` with the final verdict
/// (invalid, disposable), or the parsed address whose domain must be asked.
pub fn before_dns(text: &str, disposable: &BTreeSet<String>) -> Result<Address, Check> {
    let address = parse_address(text).map_err(|why| Check { verdict: Verdict::Invalid(why), role: false })?;
    if is_disposable(&address.domain, disposable) {
        return Err(Check { verdict: Verdict::Disposable, role: is_role(&address.local) });
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(preference: u16, exchange: &str) -> Mx {
        Mx { preference, exchange: exchange.into() }
    }

    fn ip() -> IpAddr {
        IpAddr::from([192, 0, 2, 1])
    }

    #[test]
    fn addresses_that_are_well_formed() {
        for (text, local, domain) in [
            ("jane@acme.test", "jane", "acme.test"),
            ("  Jane.Doe+cadence@Acme.TEST ", "Jane.Doe+cadence", "acme.test"),
            ("o'brien@acme.test", "o'brien", "acme.test"),
            ("\"jane doe\"@acme.test", "\"jane doe\"", "acme.test"),
            ("\"a@b\"@acme.test", "\"a@b\"", "acme.test"),
            ("jane@bücher.test", "jane", "xn--bcher-kva.test"),
            ("jane@acme.test.", "jane", "acme.test"),
            ("jörg@acme.test", "jörg", "acme.test"),
            ("x@a-b.c0.test", "x", "a-b.c0.test"),
        ] {
            assert_eq!(parse_address(text), Ok(Address { local: local.into(), domain: domain.into() }), "{text}");
        }
    }

    #[test]
    fn addresses_that_are_not_and_why() {
        let long_local = format!("{}@acme.test", "a".repeat(65));
        let long_label = format!("jane@{}.test", "a".repeat(64));
        let long_address = format!("{}@{}.test", "a".repeat(64), vec!["b".repeat(60); 4].join("."));
        for (text, why) in [
            ("", "empty"),
            ("jane", "no @"),
            ("jane@", "nothing after the @"),
            ("@acme.test", "nothing before the @"),
            ("jane@doe@acme.test", "more than one @"),
            (".jane@acme.test", "empty dot-separated piece"),
            ("jane.@acme.test", "empty dot-separated piece"),
            ("ja..ne@acme.test", "empty dot-separated piece"),
            ("ja ne@acme.test", "' ' is not allowed before the @"),
            ("ja,ne@acme.test", "',' is not allowed before the @"),
            ("\"jane@acme.test", "must end with its quote"),
            ("\"ja\"ne\"@acme.test", "unquoted \""),
            (long_local.as_str(), "longer than 64"),
            ("jane@localhost", "has no dot"),
            ("jane@acme..test", "empty label"),
            ("jane@-acme.test", "hyphen"),
            ("jane@acme_corp.test", "'_' is not allowed in a domain"),
            ("jane@192.168.0.1", "ends in a number"),
            ("jane@[192.168.0.1]", "address literal"),
            (long_label.as_str(), "longer than 63"),
            (long_address.as_str(), "longer than 254"),
        ] {
            let err = parse_address(text).expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn role_addresses_whatever_their_case_or_tag() {
        assert!(ROLES.windows(2).all(|w| w[0] < w[1]), "ROLES must stay sorted (binary search)");
        for local in ["info", "Sales", "support+eu", "NoReply", "no-reply", "postmaster"] {
            assert!(is_role(local), "{local}");
        }
        for local in ["jane", "information", "salesforce", "j.info"] {
            assert!(!is_role(local), "{local}");
        }
    }

    #[test]
    fn disposable_covers_the_domain_and_its_subdomains() {
        let set: BTreeSet<String> = ["mailinator.com".to_string()].into();
        assert!(is_disposable("mailinator.com", &set));
        assert!(is_disposable("eu.mailinator.com", &set));
        assert!(!is_disposable("notmailinator.com", &set));
        assert!(!is_disposable("com", &set));
    }

    #[test]
    fn before_dns_settles_what_needs_no_lookup() {
        let set: BTreeSet<String> = ["burner.test".to_string()].into();
        assert_eq!(before_dns("jane@burner.test", &set).unwrap_err().verdict, Verdict::Disposable);
        assert!(before_dns("info@burner.test", &set).unwrap_err().role);
        assert!(matches!(before_dns("nope", &set).unwrap_err().verdict, Verdict::Invalid(_)));
        assert_eq!(before_dns("jane@acme.test", &set).unwrap().domain, "acme.test");
    }

    fn facts(mx: Answer<Mx>, ips: Option<Answer<IpAddr>>, hosts: Vec<(&str, Answer<IpAddr>)>) -> DomainFacts {
        DomainFacts { mx, ips, hosts: hosts.into_iter().map(|(h, a)| (h.to_string(), a)).collect() }
    }

    #[test]
    fn what_dns_answers_comes_to() {
        fn failed<T>() -> Answer<T> {
            Err(DnsError::Failed("SERVFAIL".into()))
        }
        let cases: Vec<(DomainFacts, &str)> = vec![
            (facts(Ok(vec![mx(10, "mx.acme.test")]), None, vec![("mx.acme.test", Ok(vec![ip()]))]), "ok"),
            (facts(Ok(vec![mx(10, "mx.acme.test")]), None, vec![]), "ok"),
            (facts(Err(DnsError::NxDomain), None, vec![]), "dead"),
            (facts(Ok(vec![mx(0, "")]), None, vec![]), "dead"),
            (facts(Ok(vec![]), Some(Ok(vec![ip()])), vec![]), "ok"),
            (facts(Ok(vec![]), Some(Ok(vec![])), vec![]), "dead"),
            (facts(Ok(vec![]), Some(Err(DnsError::NxDomain)), vec![]), "dead"),
            (facts(Ok(vec![]), Some(failed()), vec![]), "unknown"),
            (facts(failed(), None, vec![]), "unknown"),
            (facts(Ok(vec![mx(10, "mx.acme.test")]), None, vec![("mx.acme.test", Err(DnsError::NxDomain))]), "dead"),
            (facts(Ok(vec![mx(10, "mx.acme.test")]), None, vec![("mx.acme.test", Ok(vec![]))]), "dead"),
            (facts(Ok(vec![mx(10, "mx.acme.test")]), None, vec![("mx.acme.test", failed())]), "unknown"),
            (
                facts(
                    Ok(vec![mx(10, "a.acme.test"), mx(20, "b.acme.test")]),
                    None,
                    vec![("a.acme.test", Err(DnsError::NxDomain)), ("b.acme.test", Ok(vec![ip()]))],
                ),
                "ok",
            ),
        ];
        for (facts, word) in cases {
            let verdict = judge_domain("acme.test", &facts);
            assert_eq!(verdict.word(), word, "{facts:?}: {verdict:?}");
            assert_eq!(verdict.refuses(), word == "dead", "{verdict:?}");
        }
        let null = judge_domain("acme.test", &facts(Ok(vec![mx(0, "")]), None, vec![]));
        assert!(null.reason().contains("null MX"), "{null:?}");
        let unknown = judge_domain("acme.test", &facts(failed(), None, vec![]));
        assert_eq!(unknown.reason(), "DNS could not tell: SERVFAIL");
    }

    #[test]
    fn the_hosts_asked_are_the_most_preferred_few() {
        let records = vec![mx(30, "c.test"), mx(10, "b.test"), mx(10, "a.test"), mx(20, "a.test"), mx(40, "d.test")];
        assert_eq!(hosts_to_ask(&records), ["a.test", "b.test", "c.test"]);
        assert!(hosts_to_ask(&[mx(0, "")]).is_empty());
    }
}
