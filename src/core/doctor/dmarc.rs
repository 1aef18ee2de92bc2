//! PURE: DMARC records (RFC 7489 §6.3): `v=DMARC1; p=...` and the tags
//! doctor reports (sp, rua, ruf, adkim, aspf, pct). Unknown tags are
//! ignored, as the RFC says; a bad value of a known one makes the record
//! unusable, as it does for receivers.

/// A policy (`p=`, `sp=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    fn parse(text: &str) -> Option<Policy> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Some(Policy::None),
            "quarantine" => Some(Policy::Quarantine),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }
}

/// An identifier alignment mode (`adkim=`, `aspf=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    Relaxed,
    Strict,
}

impl Alignment {
    pub fn as_str(self) -> &'static str {
        match self {
            Alignment::Relaxed => "relaxed",
            Alignment::Strict => "strict",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub policy: Policy,
    /// Of subdomains; `p`'s when absent.
    pub subdomain_policy: Option<Policy>,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub adkim: Alignment,
    pub aspf: Alignment,
    pub pct: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("it does not start with v=DMARC1")]
    NotDmarc,
    #[error("it has no p= (policy) tag right after v=DMARC1")]
    NoPolicy,
    #[error("{tag}={value:?} is not one of {expected}")]
    BadValue { tag: &'static str, value: String, expected: &'static str },
}

/// Whether a TXT string is a DMARC record.
pub fn is_dmarc(text: &str) -> bool {
    let first = text.split(';').next().unwrap_or_default();
    first.split_once('=').is_some_and(|(tag, value)| tag.trim() == "v" && value.trim() == "DMARC1")
}

/// The DMARC records among a name's TXT strings.
pub fn records(txts: &[String]) -> Vec<&str> {
    txts.iter().map(String::as_str).filter(|t| is_dmarc(t)).collect()
}

pub fn parse(text: &str) -> Result<Record, ParseError> {
    if !is_dmarc(text) {
        return Err(ParseError::NotDmarc);
    }
    let tags: Vec<(String, &str)> = text
        .split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(tag, value)| (tag.trim().to_ascii_lowercase(), value.trim()))
        .collect();
    // §6.3: p must come right after v (receivers that follow it discard
    // the record otherwise); doctor is as strict.
    let policy = match tags.get(1) {
        Some((tag, value)) if tag == "p" => Policy::parse(value).ok_or_else(|| ParseError::BadValue {
            tag: "p",
            value: value.to_string(),
            expected: "none, quarantine, reject",
        })?,
        _ => return Err(ParseError::NoPolicy),
    };
    let mut record = Record {
        policy,
        subdomain_policy: None,
        rua: Vec::new(),
        ruf: Vec::new(),
        adkim: Alignment::Relaxed,
        aspf: Alignment::Relaxed,
        pct: 100,
    };
    for (tag, value) in tags.iter().skip(2) {
        let alignment = |tag: &'static str| match value.to_ascii_lowercase().as_str() {
            "r" => Ok(Alignment::Relaxed),
            "s" => Ok(Alignment::Strict),
            _ => Err(ParseError::BadValue { tag, value: value.to_string(), expected: "r, s" }),
        };
        match tag.as_str() {
            "sp" => {
                record.subdomain_policy = Some(Policy::parse(value).ok_or_else(|| ParseError::BadValue {
                    tag: "sp",
                    value: value.to_string(),
                    expected: "none, quarantine, reject",
                })?);
            }
            "rua" => record.rua = uris(value),
            "ruf" => record.ruf = uris(value),
            "adkim" => record.adkim = alignment("adkim")?,
            "aspf" => record.aspf = alignment("aspf")?,
            "pct" => {
                record.pct = value.parse::<u8>().ok().filter(|n| *n <= 100).ok_or_else(|| ParseError::BadValue {
                    tag: "pct",
                    value: value.to_string(),
                    expected: "a whole number from 0 to 100",
                })?;
            }
            _ => {}
        }
    }
    Ok(record)
}

fn uris(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_record_reads_every_tag() {
        let r = parse("v=DMARC1; p=quarantine; sp=reject; rua=mailto:a@example.com,mailto:b@example.net; ruf=mailto:f@example.com; adkim=s; aspf=r; pct=50; fo=1").unwrap();
        assert_eq!(r.policy, Policy::Quarantine);
        assert_eq!(r.subdomain_policy, Some(Policy::Reject));
        assert_eq!(r.rua, ["mailto:a@example.com", "mailto:b@example.net"]);
        assert_eq!(r.ruf, ["mailto:f@example.com"]);
        assert_eq!((r.adkim, r.aspf, r.pct), (Alignment::Strict, Alignment::Relaxed, 50));
    }

    #[test]
    fn defaults_are_relaxed_and_whole() {
        let r = parse("v=DMARC1;p=none").unwrap();
        assert_eq!((r.policy, r.adkim, r.aspf, r.pct), (Policy::None, Alignment::Relaxed, Alignment::Relaxed, 100));
        assert!(r.rua.is_empty() && r.subdomain_policy.is_none());
    }

    #[test]
    fn broken_records_say_why() {
        assert_eq!(parse("v=DMARC2; p=none"), Err(ParseError::NotDmarc));
        assert_eq!(parse("v=DMARC1; rua=mailto:a@b.c; p=none"), Err(ParseError::NoPolicy));
        assert_eq!(parse("v=DMARC1"), Err(ParseError::NoPolicy));
        assert!(matches!(parse("v=DMARC1; p=block"), Err(ParseError::BadValue { tag: "p", .. })));
        assert!(matches!(parse("v=DMARC1; p=none; pct=101"), Err(ParseError::BadValue { tag: "pct", .. })));
        assert!(matches!(parse("v=DMARC1; p=none; adkim=x"), Err(ParseError::BadValue { tag: "adkim", .. })));
    }

    #[test]
    fn only_dmarc_records_are_picked() {
        let txts = vec!["v=spf1 -all".to_string(), "v=DMARC1; p=none".to_string(), "v = DMARC1 ;p=reject".to_string()];
        assert_eq!(records(&txts), ["v=DMARC1; p=none", "v = DMARC1 ;p=reject"]);
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
            let _ = parse(&format!("v=DMARC1; {text}"));
        }
    }
}
