//! PURE: what `cadenced doctor` concludes about a sending domain and a
//! mailbox's sending config, from DNS answers and config values it is given.
//!
//! The shell (`crate::doctor`) asks the questions; everything here reads the
//! answers: [`spf`] parses a record, counts its DNS-querying terms and
//! evaluates it for an address over a table of answers (asking for the next
//! one it lacks, so the shell can fetch exactly that); [`dmarc`] and [`dkim`]
//! parse their records (a DKIM key's size from its DER); [`checks`] turns all
//! of it into [`Finding`]s: ok, warning or error, with the record to publish
//! when one would fix it.
//!
//! A lookup that could not be made (timeout, SERVFAIL) is never read as a
//! missing record: it is a warning that says the check could not be done.
//! No input, however hostile, makes anything here panic.

pub mod checks;
pub mod dkim;
pub mod dmarc;
pub mod spf;

use std::fmt;

/// How a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A DNS record to add (or to put in place of one), as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The full name, without a trailing dot (`_dmarc.example.com`).
    pub name: String,
    /// `TXT`, `MX`, `CNAME`.
    pub kind: String,
    pub value: String,
}

impl Publish {
    pub fn txt(name: impl Into<String>, value: impl Into<String>) -> Publish {
        Publish { name: name.into(), kind: "TXT".into(), value: value.into() }
    }
}

impl fmt::Display for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == "TXT" {
            write!(f, "{} TXT \"{}\"", self.name, self.value)
        } else {
            write!(f, "{} {} {}", self.name, self.kind, self.value)
        }
    }
}

/// One conclusion: which check (`mx`, `spf`, `spf-limit`, `spf-host`, `dkim`,
/// `dmarc`, `list-unsubscribe`, `one-click`, `daily-limit`, `smtp-tls`,
/// `imap-tls`), how it weighs, what it found, and what to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub level: Level,
    pub message: String,
    pub publish: Option<Publish>,
}

impl Finding {
    pub fn ok(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, level: Level::Ok, message: message.into(), publish: None }
    }

    pub fn warning(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, level: Level::Warning, message: message.into(), publish: None }
    }

    pub fn error(check: &'static str, message: impl Into<String>) -> Finding {
        Finding { check, level: Level::Error, message: message.into(), publish: None }
    }

    pub fn publish(mut self, publish: Publish) -> Finding {
        self.publish = Some(publish);
        self
    }
}

/// Why a lookup has no records: the name does not exist, or it could not
/// be told (timeout, SERVFAIL, refusal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    NoDomain,
    Failed(String),
}

/// The records of one type at a name; `Ok(vec![])`: the name exists without any.
pub type Lookup<T> = Result<Vec<T>, Failure>;

/// One MX record; a null MX (RFC 7505) has an empty `exchange`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    pub preference: u16,
    pub exchange: String,
}

/// Who runs a mailbox's SMTP server, as far as SPF and DKIM go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Microsoft 365 / Exchange Online.
    Microsoft,
    /// Google Workspace / Gmail.
    Google,
    /// Any other server: its addresses are what SPF must authorise.
    Other,
}

impl Provider {
    /// The provider of an SMTP host, or of an OAuth provider's name
    /// (`microsoft`, `google`).
    pub fn of(smtp_host: &str, oauth_provider: Option<&str>) -> Provider {
        match oauth_provider {
            Some("microsoft") => return Provider::Microsoft,
            Some("google") => return Provider::Google,
            _ => {}
        }
        let host = smtp_host.trim_end_matches('.').to_ascii_lowercase();
        match host.as_str() {
            "smtp.office365.com" | "outlook.office365.com" | "smtp-mail.outlook.com" => Provider::Microsoft,
            "smtp.gmail.com" | "smtp-relay.gmail.com" | "smtp.googlemail.com" => Provider::Google,
            _ => Provider::Other,
        }
    }

    /// The include that authorises the provider's servers, whose addresses
    /// change: its presence is what counts.
    pub fn spf_include(self) -> Option<&'static str> {
        match self {
            Provider::Microsoft => Some("spf.protection.outlook.com"),
            Provider::Google => Some("_spf.google.com"),
            Provider::Other => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Microsoft => "Microsoft 365",
            Provider::Google => "Google Workspace",
            Provider::Other => "the SMTP server",
        }
    }

    /// The DKIM selectors the provider signs with.
    pub fn dkim_selectors(self) -> &'static [&'static str] {
        match self {
            Provider::Microsoft => &["selector1", "selector2"],
            Provider::Google => &["google"],
            Provider::Other => &[],
        }
    }
}

/// Selectors tried for a server of no known provider when the mailbox names
/// none in `dkim_selectors`: the ones hosting panels and guides use most.
pub const COMMON_SELECTORS: &[&str] =
    &["default", "dkim", "mail", "s1", "s2", "k1", "selector1", "selector2", "google", "smtp"];

/// Lowercase, without a trailing dot.
pub fn normal_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}
