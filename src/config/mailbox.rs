//! One `[mailboxes.NAME]` table: where its emails go and with which credentials.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox as Address;
use serde::Deserialize;
use toml::Spanned;

/// A password; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://`: no TLS (loopback relays, tests).
    Plain,
    /// `smtp+starttls://`: upgrade with STARTTLS, refuse to go on without it.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone)]
pub enum Transport {
    Smtp(SmtpSettings),
    /// Write each email as an `.eml` file into this folder.
    Outbox(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub name: String,
    pub from: Address,
    pub transport: Transport,
    /// At most this many emails per local day of `timezone`.
    pub daily_limit: Option<u32>,
    /// At least this long between two sends (plus a jitter of up to as much again).
    pub min_gap: Option<std::time::Duration>,
    /// The zone whose days `daily_limit` counts (default: the config's).
    pub timezone: chrono_tz::Tz,
    /// Owner of leads in this mailbox's cadences that name none.
    pub owner: Option<String>,
    /// The inbox watched for replies, bounces and unsubscribes.
    pub imap: Option<ImapSettings>,
}

/// How to read a mailbox's inbox over IMAP.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: Secret,
    /// Folders to watch (default INBOX).
    pub folders: Vec<String>,
    /// Where each sent email is appended, if set.
    pub sent_folder: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMailbox {
    from: Spanned<String>,
    smtp: Option<Spanned<String>>,
    outbox: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    allow_plaintext_auth: Option<bool>,
    imap: Option<Spanned<String>>,
    imap_username: Option<Spanned<String>>,
    imap_folders: Option<Vec<String>>,
    sent_folder: Option<Spanned<String>>,
    daily_limit: Option<Spanned<i64>>,
    min_gap: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
}

type Problems = Vec<(Option<Range<usize>>, String)>;

pub(super) fn check(
    name: String,
    raw: RawMailbox,
    resolve: &dyn Fn(&str) -> PathBuf,
    default_tz: chrono_tz::Tz,
) -> Result<Mailbox, Problems> {
    let mut problems: Problems = Vec::new();
    let daily_limit = raw.daily_limit.as_ref().and_then(|l| match u32::try_from(*l.get_ref()) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            problems
                .push((Some(l.span()), format!("daily_limit: must be a positive whole number, not {}", l.get_ref())));
            None
        }
    });
    let min_gap = raw.min_gap.as_ref().and_then(|g| {
        super::parse_interval(g.get_ref()).map_err(|e| problems.push((Some(g.span()), format!("min_gap: {e}")))).ok()
    });
    let owner = raw.owner.as_ref().and_then(|o| match o.get_ref().parse::<lettre::Address>() {
        Ok(_) => Some(o.get_ref().to_ascii_lowercase()),
        Err(e) => {
            problems.push((Some(o.span()), format!("owner: invalid address {:?}: {e}", o.get_ref())));
            None
        }
    });
    let timezone = match &raw.timezone {
        None => default_tz,
        Some(tz) => crate::time::parse_zone(tz.get_ref()).unwrap_or_else(|e| {
            problems.push((Some(tz.span()), format!("timezone: {e}")));
            default_tz
        }),
    };
    let from = raw.from.get_ref().parse::<Address>().map_err(|e| {
        problems.push((Some(raw.from.span()), format!("from: invalid address {:?}: {e}", raw.from.get_ref())));
    });
    let password = read_password(&raw, resolve).map_err(|p| problems.push(p)).ok().flatten();
    let transport = match (&raw.smtp, &raw.outbox) {
        (Some(_), Some(o)) => {
            problems.push((Some(o.span()), "set either smtp or outbox, not both".into()));
            None
        }
        (None, None) => {
            problems.push((None, "needs smtp = \"smtp://host:port\" or outbox = \"folder\"".into()));
            None
        }
        (None, Some(o)) => Some(Transport::Outbox(resolve(o.get_ref()))),
        (Some(url), None) => match parse_smtp_url(url.get_ref()) {
            Err(e) => {
                problems.push((Some(url.span()), format!("smtp: {e}")));
                None
            }
            Ok((host, port, security)) => {
                let username = raw.username.as_ref().map(|u| u.get_ref().clone());
                if username.is_some() && password.is_none() {
                    problems.push((None, "username is set but neither password_file nor password_env".into()));
                }
                if username.is_some() && security == Security::Plain && raw.allow_plaintext_auth != Some(true) {
                    problems.push((
                        Some(url.span()),
                        "smtp: refusing to send a password over an unencrypted smtp:// connection; \
                         use smtp+starttls:// or smtps://, or set allow_plaintext_auth = true (loopback tests only)"
                            .into(),
                    ));
                }
                Some(Transport::Smtp(SmtpSettings { host, port, security, username, password: password.clone() }))
            }
        },
    };
    let imap = raw.imap.as_ref().and_then(|url| {
        let (host, port, security) =
            parse_imap_url(url.get_ref()).map_err(|e| problems.push((Some(url.span()), format!("imap: {e}")))).ok()?;
        let username = raw.imap_username.as_ref().or(raw.username.as_ref()).map(|u| u.get_ref().clone());
        let Some(username) = username else {
            problems.push((Some(url.span()), "imap: needs imap_username (or username)".into()));
            return None;
        };
        let Some(password) = password.clone() else {
            problems.push((Some(url.span()), "imap: needs password_file or password_env".into()));
            return None;
        };
        if security == Security::Plain && raw.allow_plaintext_auth != Some(true) {
            problems.push((
                Some(url.span()),
                "imap: refusing to log in over an unencrypted connection; use imaps:// or imap:// (STARTTLS), \
                 or set allow_plaintext_auth = true with imap+plain:// (loopback tests only)"
                    .into(),
            ));
            return None;
        }
        let folders = raw.imap_folders.clone().unwrap_or_else(|| vec!["INBOX".to_string()]);
        let sent_folder = raw.sent_folder.as_ref().map(|f| f.get_ref().clone());
        Some(ImapSettings { host, port, security, username, password, folders, sent_folder })
    });
    if raw.imap.is_none() && raw.sent_folder.is_some() {
        problems.push((raw.sent_folder.as_ref().map(Spanned::span), "sent_folder: needs imap".into()));
    }
    match (from, transport) {
        (Ok(from), Some(transport)) if problems.is_empty() => {
            Ok(Mailbox { name, from, transport, daily_limit, min_gap, timezone, owner, imap })
        }
        _ => Err(problems),
    }
}

fn read_password(
    raw: &RawMailbox,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<Secret>, (Option<Range<usize>>, String)> {
    match (&raw.password_file, &raw.password_env) {
        (Some(f), Some(_)) => Err((Some(f.span()), "set either password_file or password_env, not both".into())),
        (None, None) => Ok(None),
        (Some(f), None) => {
            let path = resolve(f.get_ref());
            check_private(&path).map_err(|e| (Some(f.span()), format!("password_file: {e}")))?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| (Some(f.span()), format!("password_file: cannot read {}: {e}", path.display())))?;
            Ok(Some(Secret(text.trim_end_matches(['\r', '\n']).to_string())))
        }
        (None, Some(var)) => std::env::var(var.get_ref()).map(|v| Some(Secret(v))).map_err(|_| {
            (Some(var.span()), format!("password_env: environment variable {} is not set", var.get_ref()))
        }),
    }
}

/// A password file others can read is a leak waiting to happen: refuse it.
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "{} is readable by every user (mode {:o}); run chmod o-rwx on it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

/// `imaps://host[:port]` (TLS), `imap://host[:port]` (STARTTLS, required),
/// `imap+plain://host[:port]` (no TLS: loopback tests only).
pub fn parse_imap_url(url: &str) -> Result<(String, u16, Security), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("invalid URL {url:?}"))?;
    let (security, port) = match scheme {
        "imaps" => (Security::Tls, 993),
        "imap" => (Security::StartTls, 143),
        "imap+plain" => (Security::Plain, 143),
        _ => return Err(format!("unknown scheme {scheme:?} in {url:?} (expected imaps, imap or imap+plain)")),
    };
    let (host, parsed_port, _) = parse_smtp_url(&format!("smtp://{rest}"))?;
    let explicit = rest.trim_end_matches('/').rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    Ok((host, if explicit { parsed_port } else { port }, security))
}

/// `smtp://host[:port]`, `smtp+starttls://host[:port]`, `smtps://host[:port]`.
pub fn parse_smtp_url(url: &str) -> Result<(String, u16, Security), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("invalid URL {url:?}"))?;
    let (security, default_port) = match scheme {
        "smtp" => (Security::Plain, 25),
        "smtp+starttls" => (Security::StartTls, 587),
        "smtps" => (Security::Tls, 465),
        _ => {
            return Err(format!("unknown scheme {scheme:?} in {url:?} (expected smtp, smtp+starttls or smtps)"));
        }
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('@') {
        return Err("put credentials in username and password_file, not in the URL".into());
    }
    if authority.contains('/') || authority.contains('?') {
        return Err(format!("unexpected path in {url:?}"));
    }
    let (host, port_text) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or_else(|| format!("invalid host in {url:?}"))?;
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port_text {
        None => default_port,
        Some(p) => p.parse::<u16>().map_err(|_| format!("invalid port {p:?} in {url:?}"))?,
    };
    let host = host.to_string();
    if host.is_empty() {
        return Err(format!("missing host in {url:?}"));
    }
    Ok((host, port, security))
}
