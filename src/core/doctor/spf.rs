//! PURE: SPF records (RFC 7208): parsing, the count of DNS-querying terms
//! (§4.6.4, at most 10, through includes and redirects), and `check_host()`
//! for one address over a table of DNS answers.
//!
//! Evaluation never does I/O: when it needs an answer that is not in the
//! [`Answers`] table it stops with [`Need`], the shell asks that one question,
//! adds the answer and runs it again. The RFC's limits bound the questions:
//! 10 DNS-querying terms, 2 void lookups, 10 MX names per `mx`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Failure, Lookup, MxRecord, normal_name};

/// The RFC's limit on DNS-querying terms per evaluation.
pub const MAX_LOOKUPS: usize = 10;
/// The RFC's limit on lookups that find nothing (§4.6.4).
pub const MAX_VOID: usize = 2;
/// The RFC's limit on MX names looked up for one `mx` term.
const MAX_MX_NAMES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(String),
    A { domain: Option<String>, v4: u8, v6: u8 },
    Mx { domain: Option<String>, v4: u8, v6: u8 },
    Ptr(Option<String>),
    Ip4(Ipv4Addr, u8),
    Ip6(Ipv6Addr, u8),
    Exists(String),
}

impl Mechanism {
    /// Whether evaluating it asks DNS (and so counts toward the 10).
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub qualifier: Qualifier,
    pub mechanism: Mechanism,
}

/// A parsed `v=spf1` record. Unknown modifiers are ignored, as the RFC says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub directives: Vec<Directive>,
    pub redirect: Option<String>,
    pub exp: Option<String>,
}

impl Record {
    /// This record's own DNS-querying terms (not those of its includes).
    pub fn lookup_terms(&self) -> usize {
        self.directives.iter().filter(|d| d.mechanism.queries_dns()).count() + usize::from(self.redirect.is_some())
    }

    /// The domains of its `include:` terms, in order.
    pub fn includes(&self) -> impl Iterator<Item = &str> {
        self.directives.iter().filter_map(|d| match &d.mechanism {
            Mechanism::Include(target) => Some(target.as_str()),
            _ => None,
        })
    }
}

/// Why a record does not parse (a permerror for every receiver).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("it does not start with v=spf1")]
    NotSpf,
    #[error("unknown term {0:?}")]
    UnknownTerm(String),
    #[error("{0:?}: invalid address")]
    BadAddress(String),
    #[error("{0:?}: invalid prefix length")]
    BadCidr(String),
    #[error("{0:?}: invalid domain")]
    BadDomain(String),
    #[error("{0:?}: invalid macro")]
    BadMacro(String),
    #[error("{0}= appears twice")]
    Duplicate(&'static str),
}

/// Whether a TXT string is an SPF record (`v=spf1` alone or followed by a space).
pub fn is_spf(text: &str) -> bool {
    let text = text.trim_start();
    text.get(..6).is_some_and(|v| v.eq_ignore_ascii_case("v=spf1")) && text.as_bytes().get(6).is_none_or(|c| *c == b' ')
}

/// The SPF records among a name's TXT strings.
pub fn records(txts: &[String]) -> Vec<&str> {
    txts.iter().map(String::as_str).filter(|t| is_spf(t)).collect()
}

/// Parses one record.
pub fn parse(text: &str) -> Result<Record, ParseError> {
    let mut terms = text.split_ascii_whitespace();
    if !terms.next().is_some_and(|v| v.eq_ignore_ascii_case("v=spf1")) {
        return Err(ParseError::NotSpf);
    }
    let mut record = Record::default();
    for term in terms {
        if let Some((name, value)) = term.split_once('=')
            && is_modifier_name(name)
        {
            let slot = if name.eq_ignore_ascii_case("redirect") {
                Some((&mut record.redirect, "redirect"))
            } else if name.eq_ignore_ascii_case("exp") {
                Some((&mut record.exp, "exp"))
            } else {
                check_macro_string(value).map_err(|()| ParseError::BadMacro(term.to_string()))?;
                None
            };
            if let Some((slot, which)) = slot {
                if slot.is_some() {
                    return Err(ParseError::Duplicate(which));
                }
                *slot = Some(domain_spec(value, term)?);
            }
            continue;
        }
        record.directives.push(directive(term)?);
    }
    Ok(record)
}

fn is_modifier_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn directive(term: &str) -> Result<Directive, ParseError> {
    let (qualifier, rest) = match term.as_bytes().first() {
        Some(b'+') => (Qualifier::Pass, &term[1..]),
        Some(b'-') => (Qualifier::Fail, &term[1..]),
        Some(b'~') => (Qualifier::SoftFail, &term[1..]),
        Some(b'?') => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let name_end = rest.find([':', '/']).unwrap_or(rest.len());
    let name = rest[..name_end].to_ascii_lowercase();
    let args = &rest[name_end..];
    let unknown = || ParseError::UnknownTerm(term.to_string());
    let mechanism = match name.as_str() {
        "all" if args.is_empty() => Mechanism::All,
        "include" | "exists" => {
            let spec = args.strip_prefix(':').ok_or_else(unknown)?;
            let domain = domain_spec(spec, term)?;
            if name == "include" { Mechanism::Include(domain) } else { Mechanism::Exists(domain) }
        }
        "a" | "mx" => {
            let (rest, v4, v6) = dual_cidr(args, term)?;
            let domain = match rest {
                "" => None,
                spec => Some(domain_spec(spec.strip_prefix(':').ok_or_else(unknown)?, term)?),
            };
            if name == "a" { Mechanism::A { domain, v4, v6 } } else { Mechanism::Mx { domain, v4, v6 } }
        }
        "ptr" => match args {
            "" => Mechanism::Ptr(None),
            spec => Mechanism::Ptr(Some(domain_spec(spec.strip_prefix(':').ok_or_else(unknown)?, term)?)),
        },
        "ip4" => {
            let spec = args.strip_prefix(':').ok_or_else(unknown)?;
            let (address, cidr) = split_cidr(spec, 32, term)?;
            let address = address.parse().map_err(|_| ParseError::BadAddress(term.to_string()))?;
            Mechanism::Ip4(address, cidr)
        }
        "ip6" => {
            let spec = args.strip_prefix(':').ok_or_else(unknown)?;
            let (address, cidr) = split_cidr(spec, 128, term)?;
            let address = address.parse().map_err(|_| ParseError::BadAddress(term.to_string()))?;
            Mechanism::Ip6(address, cidr)
        }
        _ => return Err(unknown()),
    };
    Ok(Directive { qualifier, mechanism })
}

/// `ADDRESS[/N]`, N at most `max`.
fn split_cidr<'a>(spec: &'a str, max: u8, term: &str) -> Result<(&'a str, u8), ParseError> {
    match spec.split_once('/') {
        None => Ok((spec, max)),
        Some((address, n)) => Ok((address, prefix(n, max, term)?)),
    }
}

fn prefix(n: &str, max: u8, term: &str) -> Result<u8, ParseError> {
    let bad = || ParseError::BadCidr(term.to_string());
    // RFC 7208 §5.6: no leading zeros, digits only.
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')) {
        return Err(bad());
    }
    n.parse::<u8>().ok().filter(|v| *v <= max).ok_or_else(bad)
}

/// Splits `[:domain][/v4][//v6]` into the domain part and the two prefixes.
fn dual_cidr<'a>(args: &'a str, term: &str) -> Result<(&'a str, u8, u8), ParseError> {
    let mut rest = args;
    let mut v6 = 128;
    let mut v4 = 32;
    if let Some(at) = rest.rfind("//") {
        let n = &rest[at + 2..];
        if n.bytes().all(|b| b.is_ascii_digit()) {
            v6 = prefix(n, 128, term)?;
            rest = &rest[..at];
        }
    }
    if let Some(at) = rest.rfind('/') {
        let n = &rest[at + 1..];
        if n.bytes().all(|b| b.is_ascii_digit()) {
            v4 = prefix(n, 32, term)?;
            rest = &rest[..at];
        }
    }
    Ok((rest, v4, v6))
}

/// A domain-spec: macros allowed; without them, a plausible domain name.
fn domain_spec(spec: &str, term: &str) -> Result<String, ParseError> {
    if spec.is_empty() || !spec.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::BadDomain(term.to_string()));
    }
    check_macro_string(spec).map_err(|()| ParseError::BadMacro(term.to_string()))?;
    if !spec.contains('%') {
        let name = spec.strip_suffix('.').unwrap_or(spec);
        let labels_ok = name.split('.').all(|l| !l.is_empty() && l.len() <= 63);
        if !labels_ok || name.len() > 253 || !name.contains('.') {
            return Err(ParseError::BadDomain(term.to_string()));
        }
    }
    Ok(spec.to_string())
}

/// RFC 7208 §7.1: `%%`, `%_`, `%-`, or `%{` letter digits `r`? delimiters `}`.
fn check_macro_string(text: &str) -> Result<(), ()> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            Some('%' | '_' | '-') => {}
            Some('{') => {
                let inner: String = chars.by_ref().take_while(|c| *c != '}').collect();
                parse_macro(&inner).ok_or(())?;
            }
            _ => return Err(()),
        }
    }
    Ok(())
}

/// The parts of a macro's inside (`ir`, `d2`, `l-`).
struct Macro {
    letter: char,
    keep: Option<usize>,
    reverse: bool,
    delimiters: Vec<char>,
}

fn parse_macro(inner: &str) -> Option<Macro> {
    let mut chars = inner.chars().peekable();
    let letter = chars.next()?.to_ascii_lowercase();
    if !"slodiphcrtv".contains(letter) {
        return None;
    }
    let mut digits = String::new();
    while let Some(d) = chars.next_if(char::is_ascii_digit) {
        digits.push(d);
    }
    let keep = if digits.is_empty() { None } else { Some(digits.parse::<usize>().ok().filter(|n| *n > 0)?) };
    let reverse = chars.next_if(|c| c.eq_ignore_ascii_case(&'r')).is_some();
    let delimiters: Vec<char> = chars.collect();
    if !delimiters.iter().all(|c| ".-+,/_=".contains(*c)) {
        return None;
    }
    Some(Macro { letter, keep, reverse, delimiters })
}

/// What `check_host()` came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    /// No SPF record.
    None,
    PermError(String),
    TempError(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass => f.write_str("pass"),
            Outcome::Fail => f.write_str("fail"),
            Outcome::SoftFail => f.write_str("softfail"),
            Outcome::Neutral => f.write_str("neutral"),
            Outcome::None => f.write_str("none (no SPF record)"),
            Outcome::PermError(why) => write!(f, "permerror ({why})"),
            Outcome::TempError(why) => write!(f, "temperror ({why})"),
        }
    }
}

/// A DNS question evaluation needs answered before it can go on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Query {
    Txt(String),
    Ips(String),
    Mx(String),
}

/// Evaluation stopped for want of this answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need(pub Query);

/// The DNS answers known so far, by lowercase name without a trailing dot.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub txt: BTreeMap<String, Lookup<String>>,
    pub ips: BTreeMap<String, Lookup<IpAddr>>,
    pub mx: BTreeMap<String, Lookup<MxRecord>>,
}

impl Answers {
    fn txt(&self, name: &str) -> Result<&Lookup<String>, Need> {
        let name = normal_name(name);
        self.txt.get(&name).ok_or(Need(Query::Txt(name)))
    }

    fn ips(&self, name: &str) -> Result<&Lookup<IpAddr>, Need> {
        let name = normal_name(name);
        self.ips.get(&name).ok_or(Need(Query::Ips(name)))
    }

    fn mx(&self, name: &str) -> Result<&Lookup<MxRecord>, Need> {
        let name = normal_name(name);
        self.mx.get(&name).ok_or(Need(Query::Mx(name)))
    }
}

/// The one SPF record at a name, as `check_host()` selects it (§4.5).
enum Selected {
    None,
    One(Record),
    Error(Outcome),
}

fn select(answers: &Answers, domain: &str) -> Result<Selected, Need> {
    let txts = match answers.txt(domain)? {
        Ok(txts) => txts,
        Err(Failure::NoDomain) => return Ok(Selected::None),
        Err(Failure::Failed(why)) => return Ok(Selected::Error(Outcome::TempError(format!("TXT {domain}: {why}")))),
    };
    Ok(match records(txts).as_slice() {
        [] => Selected::None,
        [one] => match parse(one) {
            Ok(record) => Selected::One(record),
            Err(e) => Selected::Error(Outcome::PermError(format!("the record at {domain}: {e}"))),
        },
        many => Selected::Error(Outcome::PermError(format!("{} SPF records at {domain}", many.len()))),
    })
}

/// The count of DNS-querying terms through a record's includes and redirect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Count {
    pub terms: usize,
    /// Includes and redirects that lead nowhere (no record, a broken one, a
    /// loop), each said once.
    pub problems: Vec<String>,
}

/// Counting stops following includes past this many terms: the verdict
/// (over 10) is settled by then.
const COUNT_CAP: usize = 40;

/// Counts the DNS-querying terms of the record at `domain` and of every
/// record it includes or redirects to (§4.6.4). Targets that hold macros are
/// counted but not followed.
pub fn count_lookups(answers: &Answers, domain: &str) -> Result<Count, Need> {
    let mut count = Count::default();
    let mut seen = BTreeSet::from([normal_name(domain)]);
    if let Selected::One(record) = select(answers, domain)? {
        count_record(answers, &record, &mut count, &mut seen)?;
    }
    Ok(count)
}

fn count_record(
    answers: &Answers,
    record: &Record,
    count: &mut Count,
    seen: &mut BTreeSet<String>,
) -> Result<(), Need> {
    count.terms += record.lookup_terms();
    let targets = record.includes().chain(record.redirect.as_deref());
    for target in targets {
        if count.terms > COUNT_CAP || target.contains('%') {
            continue;
        }
        let name = normal_name(target);
        if !seen.insert(name.clone()) {
            count.problems.push(format!("{name} is included twice or in a loop"));
            continue;
        }
        match select(answers, &name)? {
            Selected::One(inner) => count_record(answers, &inner, count, seen)?,
            Selected::None => count.problems.push(format!("{name} has no SPF record")),
            Selected::Error(outcome) => count.problems.push(outcome.to_string()),
        }
    }
    Ok(())
}

/// Whether a record includes `target`, directly or through its includes
/// and redirect (how a provider's servers are authorised).
pub fn includes(answers: &Answers, domain: &str, target: &str) -> Result<bool, Need> {
    let target = normal_name(target);
    let mut seen = BTreeSet::from([normal_name(domain)]);
    let mut queue = vec![normal_name(domain)];
    while let Some(name) = queue.pop() {
        let Selected::One(record) = select(answers, &name)? else { continue };
        for next in record.includes().chain(record.redirect.as_deref()) {
            let next = normal_name(next);
            if next == target {
                return Ok(true);
            }
            if !next.contains('%') && seen.len() < COUNT_CAP && seen.insert(next.clone()) {
                queue.push(next);
            }
        }
    }
    Ok(false)
}

/// `record` with `term` added before its `all` (or `redirect=`), else at
/// the end: the record to publish in its place.
pub fn with_term(record: &str, term: &str) -> String {
    let mut terms: Vec<&str> = record.split_ascii_whitespace().collect();
    if terms.is_empty() {
        return format!("v=spf1 {term} ~all");
    }
    let at = terms
        .iter()
        .position(|t| {
            let bare = t.trim_start_matches(['+', '-', '~', '?']);
            bare.eq_ignore_ascii_case("all") || t.to_ascii_lowercase().starts_with("redirect=")
        })
        .unwrap_or(terms.len());
    terms.insert(at.max(1), term);
    terms.join(" ")
}

mod evaluate;

pub use evaluate::{Sender, evaluate};

#[cfg(test)]
mod tests;
