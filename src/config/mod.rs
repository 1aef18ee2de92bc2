//! `config.toml`: raw serde structs, then a checked [`Config`] whose invariants
//! hold (paths resolved, zones parsed, secrets read), so nothing downstream
//! re-validates. Errors name `file:line:col` and the field.

mod calendars;
mod http;
pub(crate) mod mailbox;
pub(crate) mod oauth2;
mod owners;
mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::location::{FileErrors, SourceError, toml_message};
use crate::schedule::{Accepted, Calendar, DurationError, Unit, Units, parse_duration};

pub use http::Http;
pub use mailbox::Delivery;
pub use mailbox::{Credential, ImapSettings, Mailbox, Secret, Security, SmtpSettings};
pub use oauth2::{Endpoints, Mechanism, OAuth2, Provider};
pub use owners::{Digest, Owner};

pub use crate::model::{OnUncertain, UnknownOnUncertain};

/// Who checkpoints the database's WAL (folds it back into the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checkpoints {
    /// Litestream when its folder (`.NAME-litestream`) is beside the
    /// database, else cadenced (the default).
    #[default]
    Auto,
    /// cadenced, after each tick.
    Cadenced,
    /// Litestream, which replicates the WAL and must be the one to checkpoint it.
    Litestream,
}

impl Checkpoints {
    pub fn parse(text: &str) -> Result<Checkpoints, String> {
        match text {
            "auto" => Ok(Checkpoints::Auto),
            "cadenced" => Ok(Checkpoints::Cadenced),
            "litestream" => Ok(Checkpoints::Litestream),
            other => Err(format!("unknown value {other:?} (expected \"auto\", \"cadenced\" or \"litestream\")")),
        }
    }

    /// Whether checkpoints are Litestream's for the database at `db`, and why.
    pub fn litestream(self, db: &Path) -> Option<&'static str> {
        match self {
            Checkpoints::Cadenced => None,
            Checkpoints::Litestream => Some("checkpoints = \"litestream\""),
            Checkpoints::Auto => litestream_dir(db).is_dir().then_some("Litestream's folder is beside the database"),
        }
    }
}

/// Where Litestream keeps its state for the database at `db`: `.NAME-litestream` beside it.
pub fn litestream_dir(db: &Path) -> PathBuf {
    let name = db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    db.with_file_name(format!(".{name}-litestream"))
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file itself.
    pub path: PathBuf,
    pub database: PathBuf,
    pub cadences_dir: PathBuf,
    /// Zone of leads that have none.
    pub timezone: Tz,
    pub tick_interval: Duration,
    pub mailboxes: BTreeMap<String, Mailbox>,
    /// Named calendars (`[calendars.NAME]`).
    pub calendars: BTreeMap<String, Calendar>,
    /// The calendar of leads and cadences that name none: the one top-level
    /// `calendar` names, else Monday to Friday without holidays.
    pub default_calendar: Calendar,
    /// `[owners."address"]` tables.
    pub owners: BTreeMap<String, Owner>,
    /// After an uncertain send, unless a cadence says otherwise.
    pub on_uncertain: OnUncertain,
    /// Who checkpoints the WAL: cadenced after each tick, or Litestream.
    pub checkpoints: Checkpoints,
    /// How long an auto-reply without a readable return date pauses a lead.
    pub ooo_pause: crate::schedule::Wait,
    /// Before an email leaves, its mailbox's inbox was read at most this long ago.
    pub inbox_max_age: Duration,
    /// Domains of free mail (gmail.com, ...): a reply from one of them is no
    /// company's answer (`stop_on = ["domain_reply"]`). The built-in list and
    /// the config's `free_mail_domains`.
    pub free_mail_domains: std::collections::BTreeSet<String>,
    /// Domains of throwaway addresses: the shipped list
    /// ([`crate::core::disposable::DOMAINS`]) and the config's `disposable_domains`.
    pub disposable_domains: std::collections::BTreeSet<String>,
    /// `dns_servers`: the resolvers `doctor` and `verify` ask (empty: the system's).
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// `verify_leads`: `import` and `enroll` verify each address's domain first.
    pub verify_leads: bool,
    /// Working window of owners without one: weekdays 09:00 to 16:59.
    pub default_owner_window: crate::schedule::Window,
    /// The HTTP side (`[http]`), off when `None`.
    pub http: Option<Http>,
}

impl Config {
    /// A lead's zone: its own (an IANA name stored with it), else the config's.
    pub fn lead_zone(&self, name: Option<&str>) -> Tz {
        name.and_then(|t| t.parse().ok()).unwrap_or(self.timezone)
    }

    /// The domains of the mailboxes' From addresses, lowercased, each once: our
    /// own, which DNS must know (the lead preflight's check on its resolver).
    pub fn sending_domains(&self) -> Vec<String> {
        let domains: std::collections::BTreeSet<String> =
            self.mailboxes.values().map(|m| m.from.email.domain().to_ascii_lowercase()).collect();
        domains.into_iter().collect()
    }

    /// The owner `address`: their table, or the defaults (the config's zone,
    /// a weekday 09:00-17:00 window, a digest at its start).
    pub fn owner(&self, address: &str) -> Owner {
        let key = address.to_ascii_lowercase();
        self.owners
            .get(&key)
            .cloned()
            .unwrap_or_else(|| owners::default_owner(&key, self.timezone, &self.default_owner_window))
    }

    /// A lead's own time: its zone (its own, else the config's) and its
    /// calendar (its `calendar` field, else its cadence's `cadence_calendar`,
    /// else the default).
    pub fn lead_time<'a>(
        &'a self,
        cadence_calendar: Option<&str>,
        timezone: Option<&str>,
        fields: &crate::model::Fields,
    ) -> crate::model::LeadTime<'a> {
        crate::model::LeadTime {
            tz: self.lead_zone(timezone),
            calendar: self.calendar(fields.get("calendar").map(String::as_str), cadence_calendar),
        }
    }

    /// The calendar that applies to a lead: its own, else its cadence's, else
    /// the default. Names are checked when files load and leads enroll; an
    /// unknown one here (a calendar removed since) falls back the same way.
    pub fn calendar<'a>(&'a self, lead: Option<&str>, cadence: Option<&str>) -> &'a Calendar {
        lead.and_then(|n| self.calendars.get(n))
            .or_else(|| cadence.and_then(|n| self.calendars.get(n)))
            .unwrap_or(&self.default_calendar)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database: Option<Spanned<String>>,
    cadences: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    tick_interval: Option<Spanned<String>>,
    calendar: Option<Spanned<String>>,
    on_uncertain: Option<Spanned<String>>,
    checkpoints: Option<Spanned<String>>,
    ooo_pause: Option<Spanned<String>>,
    inbox_max_age: Option<Spanned<String>>,
    free_mail_domains: Option<Vec<Spanned<String>>>,
    disposable_domains: Option<Vec<Spanned<String>>>,
    dns_servers: Option<Vec<Spanned<String>>>,
    verify_leads: Option<bool>,
    #[serde(default)]
    calendars: BTreeMap<String, Spanned<calendars::RawCalendar>>,
    #[serde(default)]
    mailboxes: BTreeMap<String, Spanned<mailbox::RawMailbox>>,
    #[serde(default)]
    owners: BTreeMap<String, Spanned<owners::RawOwner>>,
    http: Option<Spanned<http::RawHttp>>,
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, FileErrors> {
        let source = std::fs::read_to_string(path).map_err(|e| FileErrors {
            file: path.to_path_buf(),
            errors: vec![SourceError::at(path, "", None, format!("cannot read config file: {e}"))],
        })?;
        Config::parse(path, &source)
    }

    /// Checks `source`, the text of `path` (relative paths in it resolve against its folder).
    pub fn parse(path: &Path, source: &str) -> Result<Config, FileErrors> {
        let fail = |errors| FileErrors { file: path.to_path_buf(), errors };
        let raw: RawConfig = toml::from_str(source).map_err(|e| {
            let message = toml_message(&e) + &misplaced_key_hint(source, &e);
            fail(vec![SourceError::at(path, source, e.span(), message)])
        })?;
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut errors = Vec::new();
        let mut err = |span: std::ops::Range<usize>, msg: String| {
            errors.push(SourceError::at(path, source, Some(span), msg));
        };
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
        };

        let database = raw.database.as_ref().map_or_else(|| resolve("cadenced.db"), |d| resolve(d.get_ref()));
        let cadences_dir = raw.cadences.as_ref().map_or_else(|| resolve("cadences"), |d| resolve(d.get_ref()));
        let timezone = match &raw.timezone {
            None => Tz::UTC,
            Some(tz) => crate::time::parse_zone(tz.get_ref()).unwrap_or_else(|e| {
                err(tz.span(), format!("timezone: {e}"));
                Tz::UTC
            }),
        };
        let tick_interval = match &raw.tick_interval {
            None => Duration::from_secs(30),
            Some(t) => parse_interval(t.get_ref()).unwrap_or_else(|e| {
                err(t.span(), format!("tick_interval: {e}"));
                Duration::from_secs(30)
            }),
        };
        if raw.mailboxes.is_empty() {
            err(0..0, "no [mailboxes.NAME] table: at least one sending mailbox is needed".into());
        }
        let on_uncertain = match &raw.on_uncertain {
            None => OnUncertain::Continue,
            Some(v) => OnUncertain::parse(v.get_ref()).unwrap_or_else(|e| {
                err(v.span(), format!("on_uncertain: {e}"));
                OnUncertain::Continue
            }),
        };
        let checkpoints = match &raw.checkpoints {
            None => Checkpoints::Auto,
            Some(v) => Checkpoints::parse(v.get_ref()).unwrap_or_else(|e| {
                err(v.span(), format!("checkpoints: {e}"));
                Checkpoints::Auto
            }),
        };
        let ooo_pause = match &raw.ooo_pause {
            None => crate::schedule::Wait::Days(3),
            Some(v) => v.get_ref().parse().unwrap_or_else(|e| {
                err(v.span(), format!("ooo_pause: {e}"));
                crate::schedule::Wait::Days(3)
            }),
        };
        let inbox_max_age = match &raw.inbox_max_age {
            None => Duration::from_secs(60),
            Some(v) => parse_interval(v.get_ref()).unwrap_or_else(|e| {
                err(v.span(), format!("inbox_max_age: {e}"));
                Duration::from_secs(60)
            }),
        };
        let mut domain_list = |key: &str, shipped: &[&str], extra: &Option<Vec<Spanned<String>>>| {
            let mut set: std::collections::BTreeSet<String> = shipped.iter().map(|d| (*d).to_string()).collect();
            for d in extra.iter().flatten() {
                let domain = d.get_ref().trim().trim_start_matches('@').to_ascii_lowercase();
                if domain.is_empty() || domain.contains(['@', ' ']) || !domain.contains('.') {
                    err(d.span(), format!("{key}: {:?} is not a domain (e.g. \"mail.example\")", d.get_ref()));
                } else {
                    set.insert(domain);
                }
            }
            set
        };
        let free_mail_domains =
            domain_list("free_mail_domains", crate::core::freemail::DOMAINS, &raw.free_mail_domains);
        let disposable_domains =
            domain_list("disposable_domains", crate::core::disposable::DOMAINS, &raw.disposable_domains);
        let mut dns_servers = Vec::new();
        for server in raw.dns_servers.iter().flatten() {
            match parse_dns_server(server.get_ref()) {
                Some(addr) => dns_servers.push(addr),
                None => err(
                    server.span(),
                    format!(
                        "dns_servers: {:?} is not an IP address with an optional port (e.g. \"127.0.0.1:5353\")",
                        server.get_ref()
                    ),
                ),
            }
        }
        let verify_leads = raw.verify_leads.unwrap_or(false);
        let mut calendars = BTreeMap::new();
        for (name, raw_cal) in &raw.calendars {
            match calendars::check(raw_cal.get_ref(), &resolve) {
                Ok(cal) => {
                    calendars.insert(name.clone(), cal);
                }
                Err(problems) => {
                    for (field_span, msg) in problems {
                        err(field_span.unwrap_or_else(|| raw_cal.span()), format!("calendars.{name}: {msg}"));
                    }
                }
            }
        }
        let default_calendar = match &raw.calendar {
            None => Calendar::default(),
            Some(name) => calendars.get(name.get_ref()).cloned().unwrap_or_else(|| {
                if !raw.calendars.contains_key(name.get_ref()) {
                    let known: Vec<_> = raw.calendars.keys().cloned().collect();
                    err(
                        name.span(),
                        format!("calendar: unknown calendar {:?} (configured: {})", name.get_ref(), known.join(", ")),
                    );
                }
                Calendar::default()
            }),
        };
        let mut mailboxes = BTreeMap::new();
        let token_dir = tokens_dir(&database);
        for (name, raw_mb) in raw.mailboxes {
            let span = raw_mb.span();
            match mailbox::check(name.clone(), raw_mb.into_inner(), &resolve, timezone, &token_dir) {
                Ok(mb) => {
                    mailboxes.insert(name, mb);
                }
                Err(problems) => {
                    for (field_span, msg) in problems {
                        err(field_span.unwrap_or_else(|| span.clone()), format!("mailboxes.{name}: {msg}"));
                    }
                }
            }
        }
        let default_owner_window = match owners::DEFAULT_WINDOW.parse::<crate::schedule::Window>() {
            Ok(w) => Some(w),
            Err(e) => {
                err(0..0, format!("built-in owner window: {e}"));
                None
            }
        };
        let mut owner_tables = BTreeMap::new();
        if let Some(window) = &default_owner_window {
            for (address, raw_owner) in &raw.owners {
                let known = |m: &str| mailboxes.contains_key(m);
                match owners::check(address, raw_owner.get_ref(), timezone, window, &known) {
                    Ok(owner) => {
                        owner_tables.insert(address.to_ascii_lowercase(), owner);
                    }
                    Err(problems) => {
                        for (field_span, msg) in problems {
                            err(field_span.unwrap_or_else(|| raw_owner.span()), format!("owners.{address:?}: {msg}"));
                        }
                    }
                }
            }
        }
        let http = raw.http.as_ref().and_then(|table| match http::check(table.get_ref(), &resolve) {
            Ok(http) => Some(http),
            Err(problems) => {
                for (field_span, msg) in problems {
                    err(field_span.unwrap_or_else(|| table.span()), format!("http: {msg}"));
                }
                None
            }
        });
        let (Some(default_owner_window), true) = (default_owner_window, errors.is_empty()) else {
            return Err(fail(errors));
        };
        Ok(Config {
            path: path.to_path_buf(),
            database,
            cadences_dir,
            timezone,
            tick_interval,
            mailboxes,
            calendars,
            default_calendar,
            owners: owner_tables,
            on_uncertain,
            checkpoints,
            ooo_pause,
            inbox_max_age,
            free_mail_domains,
            disposable_domains,
            dns_servers,
            verify_leads,
            default_owner_window,
            http,
        })
    }
}

impl crate::cadence::Setting for Config {
    fn cadences_dir(&self) -> &Path {
        &self.cadences_dir
    }
    fn mailbox_names(&self) -> Vec<&str> {
        self.mailboxes.keys().map(String::as_str).collect()
    }
    fn calendar_names(&self) -> Vec<&str> {
        self.calendars.keys().map(String::as_str).collect()
    }
    fn mailbox_has_owner(&self, name: &str) -> bool {
        self.mailboxes.get(name).is_some_and(|m| m.owner.is_some())
    }
}

/// `tokens/` beside the database: each OAuth mailbox's `NAME.json`.
pub fn tokens_dir(database: &Path) -> PathBuf {
    database.parent().map_or_else(|| PathBuf::from("tokens"), |d| d.join("tokens"))
}

/// Keys of the top level of `config.toml`.
const TOP_LEVEL_KEYS: [&str; 17] = [
    "database",
    "cadences",
    "timezone",
    "tick_interval",
    "calendar",
    "on_uncertain",
    "checkpoints",
    "ooo_pause",
    "inbox_max_age",
    "free_mail_domains",
    "disposable_domains",
    "dns_servers",
    "verify_leads",
    "calendars",
    "mailboxes",
    "owners",
    "http",
];

/// A `dns_servers` entry: `IP` (port 53) or `IP:PORT` (`[v6]:PORT`).
fn parse_dns_server(text: &str) -> Option<std::net::SocketAddr> {
    let text = text.trim();
    text.parse::<std::net::SocketAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(|ip| std::net::SocketAddr::new(ip, 53)))
}

/// For a top-level key met inside a table (every key after a `[table]` line
/// belongs to it, which TOML does not make obvious): where it goes instead.
fn misplaced_key_hint(source: &str, err: &toml::de::Error) -> String {
    let message = err.message();
    let Some(key) = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) else {
        return String::new();
    };
    if !TOP_LEVEL_KEYS.contains(&key) {
        return String::new();
    }
    let before = err.span().and_then(|s| source.get(..s.start)).unwrap_or("");
    let table = before
        .lines()
        .rev()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| l.starts_with('['))
        .unwrap_or("a [table]");
    format!(
        "; `{key}` is a top-level key: move it above the first [table] line (every key after {table} belongs to \
         that table)"
    )
}

/// What an interval may be written in: `30s`, `5m`, `1h`; more than zero.
/// Counts are unbounded: a huge one saturates at `u64::MAX` seconds.
const INTERVAL: Units<Duration> = Units {
    accepted: &[
        Accepted { unit: Unit::Seconds, max: u64::MAX, make: Duration::from_secs },
        Accepted { unit: Unit::Minutes, max: u64::MAX, make: |n| Duration::from_secs(n.saturating_mul(60)) },
        Accepted { unit: Unit::Hours, max: u64::MAX, make: |n| Duration::from_secs(n.saturating_mul(3600)) },
    ],
    zero: false,
    example: "30s",
};

/// `30s`, `5m`, `1h`: `tick_interval`, `inbox_max_age`, a mailbox's `min_gap`.
pub fn parse_interval(text: &str) -> Result<Duration, DurationError> {
    parse_duration(text, &INTERVAL)
}

#[cfg(test)]
mod tests;
