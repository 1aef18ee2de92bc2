//! One `[mailboxes.NAME]` table: where its emails go and with which credentials.

use std::ops::Range;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox as Address;
use serde::Deserialize;
use toml::Spanned;

use super::oauth2::{self, OAuth2, RawOAuth2};
pub use super::secret::Secret;
use super::secret::{PasswordError, read_secret_file};
use crate::tls::CaFile;

/// How a mailbox proves who it is to its SMTP and IMAP servers.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `password_file` or `password_env`.
    Password(Secret),
    /// `[mailboxes.NAME.oauth2]`: an access token from `tokens/NAME.json`,
    /// refreshed as it nears its end.
    OAuth2(std::sync::Arc<OAuth2>),
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
    /// How it logs in, when `username` is set (always with OAuth).
    pub credential: Option<Credential>,
    /// The mailbox's `tls_ca_file`, trusted besides the bundled and system roots.
    pub tls_ca: Option<CaFile>,
}

#[derive(Debug, Clone)]
pub enum Delivery {
    Smtp(SmtpSettings),
    /// Write each email as an `.eml` file into this folder.
    Outbox(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub name: String,
    pub from: Address,
    pub delivery: Delivery,
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
    /// `List-Unsubscribe` on every email to a lead (default on), on this
    /// address when set, else on `from`'s.
    pub list_unsubscribe: bool,
    pub unsubscribe_address: Option<String>,
    /// Refusals aimed at the sender (block lists, spam and policy filters)
    /// within `refusals_window` that pause the mailbox; 0: never.
    pub pause_after_refusals: u32,
    pub refusals_window: std::time::Duration,
    /// The SMTP server takes SMTPUTF8 (addresses whose local part is not ASCII).
    pub smtputf8: bool,
    /// `[mailboxes.NAME.oauth2]`: it signs in with OAuth 2.0.
    pub oauth2: Option<std::sync::Arc<OAuth2>>,
    /// `dkim_selectors`: where `doctor` looks for the DKIM key (empty: the
    /// provider's usual selectors).
    pub dkim_selectors: Vec<String>,
}

/// How to read a mailbox's inbox over IMAP.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub credential: Credential,
    /// Folders to watch (default INBOX).
    pub folders: Vec<String>,
    /// Where each sent email is appended, if set.
    pub sent_folder: Option<String>,
    /// The mailbox's `tls_ca_file`, trusted besides the bundled and system roots.
    pub tls_ca: Option<CaFile>,
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
    tls_ca_file: Option<Spanned<String>>,
    list_unsubscribe: Option<bool>,
    unsubscribe_address: Option<Spanned<String>>,
    pause_after_refusals: Option<Spanned<i64>>,
    refusals_window: Option<Spanned<String>>,
    smtputf8: Option<bool>,
    oauth2: Option<Spanned<RawOAuth2>>,
    dkim_selectors: Option<Vec<Spanned<String>>>,
}

type Problems = Vec<(Option<Range<usize>>, String)>;

pub(super) fn check(
    name: String,
    raw: RawMailbox,
    resolve: &dyn Fn(&str) -> PathBuf,
    default_tz: chrono_tz::Tz,
    token_dir: &Path,
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
    let mut dkim_selectors = Vec::new();
    for selector in raw.dkim_selectors.iter().flatten() {
        let text = selector.get_ref().trim();
        let label = |l: &str| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if text.split('.').all(label) {
            dkim_selectors.push(text.to_ascii_lowercase());
        } else {
            problems.push((
                Some(selector.span()),
                format!("dkim_selectors: {:?} is not a DNS label (e.g. \"s1\" for s1._domainkey)", selector.get_ref()),
            ));
        }
    }
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
    let tls_ca = raw.tls_ca_file.as_ref().and_then(|f| {
        CaFile::load(&resolve(f.get_ref()))
            .map_err(|e| problems.push((Some(f.span()), format!("tls_ca_file: {e}"))))
            .ok()
    });
    let unsubscribe_address =
        raw.unsubscribe_address.as_ref().and_then(|a| match a.get_ref().parse::<lettre::Address>() {
            Ok(address) => Some(address.to_string()),
            Err(e) => {
                problems.push((Some(a.span()), format!("unsubscribe_address: invalid address {:?}: {e}", a.get_ref())));
                None
            }
        });
    let pause_after_refusals = match &raw.pause_after_refusals {
        None => 3,
        Some(n) => u32::try_from(*n.get_ref()).unwrap_or_else(|_| {
            problems.push((
                Some(n.span()),
                format!("pause_after_refusals: must be a whole number, 0 for never, not {}", n.get_ref()),
            ));
            3
        }),
    };
    let refusals_window = match &raw.refusals_window {
        None => std::time::Duration::from_secs(24 * 3600),
        Some(w) => super::parse_interval(w.get_ref()).unwrap_or_else(|e| {
            problems.push((Some(w.span()), format!("refusals_window: {e}")));
            std::time::Duration::from_secs(24 * 3600)
        }),
    };
    let password_set = raw.password_file.is_some() || raw.password_env.is_some();
    let oauth = raw.oauth2.as_ref().and_then(|o| {
        for key in [&raw.password_file, &raw.password_env].into_iter().flatten() {
            problems.push((
                Some(key.span()),
                format!(
                    "a mailbox with [mailboxes.{name}.oauth2] signs in with OAuth, not a password: remove \
                     password_file and password_env (the tokens live in tokens/{name}.json; run `cadenced login \
                     {name}`)"
                ),
            ));
        }
        let account = match (&raw.username, &from) {
            (Some(u), _) => u.get_ref().clone(),
            (None, Ok(from)) => from.email.to_string(),
            (None, Err(())) => String::new(),
        };
        let token_file = token_dir.join(format!("{name}.json"));
        oauth2::check(&name, o.get_ref(), account, token_file, resolve)
            .map_err(|found| {
                for (span, message) in found {
                    problems.push((span.or_else(|| Some(o.span())), message));
                }
            })
            .ok()
            .map(std::sync::Arc::new)
    });
    let password = if raw.oauth2.is_some() {
        None
    } else {
        read_password(&raw, resolve).map_err(|(span, e)| problems.push((span, e.to_string()))).ok().flatten()
    };
    let credential = match (&oauth, &password) {
        (Some(o), _) => Some(Credential::OAuth2(std::sync::Arc::clone(o))),
        (None, Some(p)) => Some(Credential::Password(p.clone())),
        (None, None) => None,
    };
    let oauth_hosts = raw.oauth2.as_ref().and_then(|o| o.get_ref().provider_hosts());
    // A Microsoft or Google mailbox may leave smtp out: the provider's host.
    let smtp_url = match (&raw.smtp, &raw.outbox, oauth_hosts) {
        (Some(url), _, _) => Some((url.get_ref().clone(), Some(url.span()))),
        (None, None, Some((smtp, _))) => Some((smtp.to_string(), None)),
        _ => None,
    };
    let transport = match (smtp_url, &raw.outbox) {
        (Some(_), Some(o)) if raw.smtp.is_some() => {
            problems.push((Some(o.span()), "set either smtp or outbox, not both".into()));
            None
        }
        (None, None) => {
            problems.push((None, "needs smtp = \"smtp://host:port\" or outbox = \"folder\"".into()));
            None
        }
        (_, Some(o)) => Some(Delivery::Outbox(resolve(o.get_ref()))),
        (Some((url, url_span)), None) => match parse_smtp_url(&url) {
            Err(e) => {
                problems.push((url_span, format!("smtp: {e}")));
                None
            }
            Ok((host, port, security)) => {
                let username = match &oauth {
                    Some(o) => Some(o.account.clone()),
                    None => raw.username.as_ref().map(|u| u.get_ref().clone()),
                };
                // A password setting that failed is reported as what it is, above.
                if username.is_some() && !password_set && oauth.is_none() {
                    problems.push((
                        raw.username.as_ref().map(Spanned::span),
                        format!(
                            "username is set but neither password_file nor password_env: add password_file = \
                             \"/etc/cadenced/{name}.pass\" (the password on one line, mode 0600) or password_env = \
                             \"VARIABLE\""
                        ),
                    ));
                }
                if username.is_some() && security == Security::Plain && raw.allow_plaintext_auth != Some(true) {
                    problems.push((
                        url_span.clone(),
                        "smtp: refusing to send a password over an unencrypted smtp:// connection; \
                         use smtp+starttls:// or smtps://, or set allow_plaintext_auth = true (loopback tests only)"
                            .into(),
                    ));
                }
                Some(Delivery::Smtp(SmtpSettings {
                    host,
                    port,
                    security,
                    username,
                    credential: credential.clone(),
                    tls_ca: tls_ca.clone(),
                }))
            }
        },
    };
    // A Microsoft or Google mailbox may leave imap out: the provider's host.
    let imap_url = match (&raw.imap, oauth_hosts) {
        (Some(url), _) => Some((url.get_ref().clone(), Some(url.span()))),
        (None, Some((_, imap))) => Some((imap.to_string(), None)),
        (None, None) => None,
    };
    let imap = imap_url.and_then(|(url, span)| {
        let (host, port, security) =
            parse_imap_url(&url).map_err(|e| problems.push((span.clone(), format!("imap: {e}")))).ok()?;
        let username = raw.imap_username.as_ref().or(raw.username.as_ref()).map(|u| u.get_ref().clone());
        let username = username.or_else(|| oauth.as_ref().map(|o| o.account.clone()));
        let Some(username) = username else {
            problems.push((span, "imap: needs imap_username (or username)".into()));
            return None;
        };
        let Some(credential) = credential.clone() else {
            if !password_set && oauth.is_none() {
                problems.push((span, "imap: needs password_file or password_env (the same settings as SMTP)".into()));
            }
            return None;
        };
        if security == Security::Plain && raw.allow_plaintext_auth != Some(true) {
            problems.push((
                span,
                "imap: refusing to log in over an unencrypted connection; use imaps:// or imap:// (STARTTLS), \
                 or set allow_plaintext_auth = true with imap+plain:// (loopback tests only)"
                    .into(),
            ));
            return None;
        }
        let folders = raw.imap_folders.clone().unwrap_or_else(|| vec!["INBOX".to_string()]);
        let sent_folder = raw.sent_folder.as_ref().map(|f| f.get_ref().clone());
        Some(ImapSettings { host, port, security, username, credential, folders, sent_folder, tls_ca: tls_ca.clone() })
    });
    if raw.imap.is_none() && oauth_hosts.is_none() && raw.sent_folder.is_some() {
        problems.push((raw.sent_folder.as_ref().map(Spanned::span), "sent_folder: needs imap".into()));
    }
    match (from, transport) {
        (Ok(from), Some(transport)) if problems.is_empty() => Ok(Mailbox {
            name,
            from,
            delivery: transport,
            daily_limit,
            min_gap,
            timezone,
            owner,
            imap,
            list_unsubscribe: raw.list_unsubscribe.unwrap_or(true),
            unsubscribe_address,
            pause_after_refusals,
            refusals_window,
            smtputf8: raw.smtputf8.unwrap_or(false),
            oauth2: oauth,
            dkim_selectors,
        }),
        _ => Err(problems),
    }
}

fn read_password(
    raw: &RawMailbox,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<Secret>, (Option<Range<usize>>, PasswordError)> {
    match (&raw.password_file, &raw.password_env) {
        (Some(f), Some(_)) => Err((Some(f.span()), PasswordError::Both)),
        (None, None) => Ok(None),
        (Some(f), None) => {
            read_secret_file(&resolve(f.get_ref()), "password_file").map(Some).map_err(|e| (Some(f.span()), e))
        }
        (None, Some(var)) => std::env::var(var.get_ref())
            .map(|v| Some(Secret::new(v)))
            .map_err(|_| (Some(var.span()), PasswordError::EnvUnset(var.get_ref().clone()))),
    }
}

/// Why a `smtp`/`imap` URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("invalid URL {url:?} (expected e.g. {example})")]
    NotAUrl { url: String, example: &'static str },
    #[error("unknown scheme {scheme:?} in {url:?} (expected {expected})")]
    UnknownScheme { scheme: String, url: String, expected: &'static str },
    #[error("put credentials in username and password_file, not in the URL")]
    Credentials,
    #[error("unexpected path in {url:?} (expected only host[:port])")]
    Path { url: String },
    #[error("invalid host in {url:?} (an IPv6 address needs its closing ']')")]
    Host { url: String },
    #[error("invalid port {port:?} in {url:?} (expected a number up to 65535)")]
    Port { port: String, url: String },
    #[error("missing host in {url:?}")]
    MissingHost { url: String },
}

/// The schemes of one protocol: name, security, default port.
struct Schemes {
    list: &'static [(&'static str, Security, u16)],
    /// `smtp, smtp+starttls or smtps`, for messages.
    names: &'static str,
    example: &'static str,
}

const IMAP: Schemes = Schemes {
    list: &[("imaps", Security::Tls, 993), ("imap", Security::StartTls, 143), ("imap+plain", Security::Plain, 143)],
    names: "imaps, imap or imap+plain",
    example: "imaps://mail.example.com",
};

const SMTP: Schemes = Schemes {
    list: &[("smtp", Security::Plain, 25), ("smtp+starttls", Security::StartTls, 587), ("smtps", Security::Tls, 465)],
    names: "smtp, smtp+starttls or smtps",
    example: "smtp+starttls://mail.example.com:587",
};

/// `imaps://host[:port]` (TLS), `imap://host[:port]` (STARTTLS, required),
/// `imap+plain://host[:port]` (no TLS: loopback tests only).
pub fn parse_imap_url(url: &str) -> Result<(String, u16, Security), UrlError> {
    parse_url(url, &IMAP)
}

/// `smtp://host[:port]`, `smtp+starttls://host[:port]`, `smtps://host[:port]`.
pub fn parse_smtp_url(url: &str) -> Result<(String, u16, Security), UrlError> {
    parse_url(url, &SMTP)
}

fn parse_url(url: &str, schemes: &Schemes) -> Result<(String, u16, Security), UrlError> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| UrlError::NotAUrl { url: url.to_string(), example: schemes.example })?;
    let Some(&(_, security, default_port)) = schemes.list.iter().find(|(name, ..)| *name == scheme) else {
        return Err(UrlError::UnknownScheme {
            scheme: scheme.to_string(),
            url: url.to_string(),
            expected: schemes.names,
        });
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('@') {
        return Err(UrlError::Credentials);
    }
    if authority.contains('/') || authority.contains('?') {
        return Err(UrlError::Path { url: url.to_string() });
    }
    let (host, port_text) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or_else(|| UrlError::Host { url: url.to_string() })?;
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port_text {
        None => default_port,
        Some(p) => p.parse::<u16>().map_err(|_| UrlError::Port { port: p.to_string(), url: url.to_string() })?,
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost { url: url.to_string() });
    }
    Ok((host.to_string(), port, security))
}
