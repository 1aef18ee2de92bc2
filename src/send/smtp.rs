//! The SMTP transport: one connection per tick, reused for every message of
//! that tick. Each message goes in two stages: MAIL, RCPT and DATA, after
//! which nothing has been handed over, then the message itself. A reused
//! connection that fails in the first stage (the server closed it while idle)
//! is replaced and the message tried once more on a new one; a failure in the
//! second stage may have delivered it, and is never retried.

use std::time::Duration;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::SmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};

use super::{SendError, Transport};
use crate::config::{Credential, OAuth2, Security, SmtpSettings};
use crate::model::Rejection;
use crate::oauth::{self, sasl};

const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Smtp {
    settings: SmtpSettings,
    hello: ClientId,
    conn: Option<SmtpConnection>,
}

/// Where a send failed: before the message was handed over, or after.
enum Failure {
    Before(lettre::transport::smtp::Error),
    After(lettre::transport::smtp::Error),
    /// The server cannot take this message at all (no SMTPUTF8, no 8BITMIME).
    Unsupported(&'static str),
}

/// MAIL, RCPT, DATA, then the message: what `SmtpConnection::send` does, with
/// the stage of a failure kept. On failure lettre has closed the connection.
fn deliver(conn: &mut SmtpConnection, message: &Message, bytes: &[u8]) -> Result<(), Failure> {
    let envelope = message.envelope();
    let mut options = Vec::new();
    let mut addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.any(|a| !AsRef::<str>::as_ref(a).is_ascii()) {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure::Unsupported("the address is not ASCII and the server does not support SMTPUTF8"));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(Failure::Unsupported("the message is not ASCII and the server does not support 8BITMIME"));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let before = |conn: &mut SmtpConnection, e| {
        conn.abort();
        Failure::Before(e)
    };
    if let Err(e) = conn.command(Mail::new(envelope.from().cloned(), options)) {
        return Err(before(conn, e));
    }
    for to in envelope.to() {
        if let Err(e) = conn.command(Rcpt::new(to.clone(), vec![])) {
            return Err(before(conn, e));
        }
    }
    if let Err(e) = conn.command(Data) {
        return Err(before(conn, e));
    }
    conn.message(bytes).map(|_| ()).map_err(|e| {
        conn.abort();
        Failure::After(e)
    })
}

impl Smtp {
    pub fn new(settings: SmtpSettings, from: &Mailbox) -> Smtp {
        let hello = ClientId::Domain(from.email.domain().to_string());
        Smtp { settings, hello, conn: None }
    }

    fn server(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    /// Connects, upgrades to TLS as configured and logs in. Every failure here
    /// happens before a message is handed over.
    fn connect(&self) -> Result<SmtpConnection, SendError> {
        let mut conn = self.open()?;
        if let Err(why) = log_in(&mut conn, &self.settings) {
            conn.abort();
            return Err(SendError::Unavailable(format!("{}: {why}", self.server())));
        }
        Ok(conn)
    }

    /// Connects and upgrades to TLS as configured, without logging in.
    fn open(&self) -> Result<SmtpConnection, SendError> {
        let server = self.server();
        let fail = |what: &str, e: lettre::transport::smtp::Error| {
            let advice = crate::tls::advice(&e).map(|a| format!("; {a}")).unwrap_or_default();
            SendError::Unavailable(format!("{server}: {what}: {e}{advice}"))
        };
        let tls = || {
            crate::tls::smtp_parameters(&self.settings.host, self.settings.tls_ca.as_ref())
                .map_err(|e| fail("TLS setup", e))
        };
        let addr = (self.settings.host.as_str(), self.settings.port);
        let mut conn = match self.settings.security {
            Security::Tls => SmtpConnection::connect(addr, Some(TIMEOUT), &self.hello, Some(&tls()?), None),
            Security::Plain | Security::StartTls => {
                SmtpConnection::connect(addr, Some(TIMEOUT), &self.hello, None, None)
            }
        }
        .map_err(|e| fail("cannot connect", e))?;
        if self.settings.security == Security::StartTls {
            conn.starttls(&tls()?, &self.hello).map_err(|e| fail("STARTTLS", e))?;
        }
        Ok(conn)
    }

    /// Keeps a connection that still works, and says what the send came to.
    fn settle(&mut self, conn: SmtpConnection, result: Result<(), Failure>) -> Result<(), SendError> {
        if !conn.has_broken() {
            self.conn = Some(conn);
        }
        let server = self.server();
        match result {
            Ok(()) => Ok(()),
            Err(Failure::Unsupported(why)) => Err(SendError::Permanent(Rejection::ours(format!("{server}: {why}")))),
            Err(Failure::Before(e) | Failure::After(e)) if e.is_permanent() => Err(SendError::Permanent(rejection(&e))),
            Err(Failure::Before(e) | Failure::After(e)) if e.is_transient() => Err(SendError::Temporary(e.to_string())),
            // Refused before talking to the server: it will never work.
            Err(Failure::Before(e) | Failure::After(e)) if e.is_client() => {
                Err(SendError::Permanent(Rejection::ours(e.to_string())))
            }
            // Nothing was handed over, but the server cannot be talked to.
            Err(Failure::Before(e)) => Err(SendError::Unavailable(format!("{server}: {e}"))),
            // The connection broke while the message went: the server may have it.
            Err(Failure::After(e)) => Err(SendError::Uncertain(format!("{server}: {e}"))),
        }
    }
}

impl Transport for Smtp {
    fn send(&mut self, message: &Message, _label: &str) -> Result<(), SendError> {
        let bytes = message.formatted();
        if let Some(mut conn) = self.conn.take().filter(|c| !c.has_broken()) {
            match deliver(&mut conn, message, &bytes) {
                // No reply (dropped while idle: "incomplete response"), or 421
                // (closing): nothing was handed over; once more, on a new connection.
                Err(Failure::Before(e))
                    if !e.is_client() && e.status().is_none_or(|code| code.to_string() == "421") => {}
                result => return self.settle(conn, result),
            }
        }
        let mut conn = self.connect()?;
        let result = deliver(&mut conn, message, &bytes);
        self.settle(conn, result)
    }

    fn close(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.quit();
        }
    }
}

/// A line sent as is (a SASL exchange lettre has no command for).
struct Line(String);

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

/// How `AUTH XOAUTH2` failed: the server's error challenge when it sent one.
struct AuthFailure {
    refusal: Option<sasl::Refusal>,
    error: lettre::transport::smtp::Error,
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.refusal {
            Some(r) => write!(f, "{}; {r}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

/// `AUTH XOAUTH2`. lettre's own mechanism fails on the server's error
/// challenge and loses what it said; here the challenge's JSON is kept and
/// answered with the empty line the mechanism asks for.
fn xoauth2(conn: &mut SmtpConnection, user: &str, token: &str) -> Result<String, AuthFailure> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let initial = b64.encode(sasl::xoauth2(user, token));
    let response =
        conn.command(Line(format!("AUTH XOAUTH2 {initial}"))).map_err(|error| AuthFailure { refusal: None, error })?;
    if response.code().to_string() != "334" {
        return Ok(reply(&response));
    }
    let challenge: String = response.message().collect();
    let refusal = b64.decode(challenge.trim()).ok().map(|json| sasl::Refusal::parse(&json));
    match conn.command(Line(String::new())) {
        Err(error) => Err(AuthFailure { refusal, error }),
        // A server that accepts after its own error challenge: take it.
        Ok(response) => Ok(reply(&response)),
    }
}

/// Logs in with a token of `oauth`'s mailbox; a refused token that had not
/// expired gets one refresh and one more try.
fn oauth_login(conn: &mut SmtpConnection, user: &str, oauth: &OAuth2) -> Result<String, String> {
    let access = oauth::access_token(oauth, None).map_err(|e| format!("sign-in: {e}"))?;
    match xoauth2(conn, user, access.token.expose()) {
        Ok(reply) => Ok(reply),
        Err(f) if f.refusal.as_ref().is_none_or(sasl::Refusal::token_refused) => {
            let again = oauth::access_token(oauth, Some(&access.token)).map_err(|e| format!("sign-in: {e}"))?;
            xoauth2(conn, user, again.token.expose()).map_err(|f| format!("AUTH XOAUTH2 as {user} failed: {f}"))
        }
        Err(f) => Err(format!("AUTH XOAUTH2 as {user} failed: {f}")),
    }
}

/// Logs in as the settings say: a password (PLAIN or LOGIN) or an OAuth
/// token (XOAUTH2); nothing without a username. Returns the server's reply.
fn log_in(conn: &mut SmtpConnection, settings: &SmtpSettings) -> Result<Option<String>, String> {
    let Some(user) = &settings.username else { return Ok(None) };
    match &settings.credential {
        None => Ok(None),
        Some(Credential::Password(password)) => {
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .map(|r| Some(reply(&r)))
                .map_err(|e| format!("login as {user} failed: {}", explained(&e)))
        }
        Some(Credential::OAuth2(oauth)) => oauth_login(conn, user, oauth).map(Some),
    }
}

/// Proves that `settings` log in (`cadenced login`): connect, TLS, AUTH,
/// QUIT; no mail is sent.
pub fn prove_login(settings: &SmtpSettings, from: &Mailbox) -> Result<String, String> {
    let smtp = Smtp::new(settings.clone(), from);
    let mut conn = smtp.connect().map_err(|e| e.to_string())?;
    let _ = conn.quit();
    Ok(format!("{}: logged in as {}", smtp.server(), settings.username.as_deref().unwrap_or("-")))
}

/// Proves that the server answers and that TLS comes up as configured, with
/// a certificate this machine trusts (`cadenced doctor --connect`): no
/// login, no mail. Says how the connection is protected.
pub fn probe_tls(settings: &SmtpSettings, from: &Mailbox) -> Result<String, String> {
    let smtp = Smtp::new(settings.clone(), from);
    let mut conn = smtp.open().map_err(|e| e.to_string())?;
    let _ = conn.quit();
    let how = match settings.security {
        Security::Tls => "TLS",
        Security::StartTls => "STARTTLS",
        Security::Plain => "plain TCP, no TLS",
    };
    Ok(format!("{}: {how}", smtp.server()))
}

/// One step of a test send, for `cadenced test-send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagStep {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

/// Sends `message` step by step, reporting each SMTP exchange; stops at the
/// first failure. Never prints the password.
pub fn diagnose(settings: &SmtpSettings, from: &Mailbox, message: &Message) -> Vec<DiagStep> {
    use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
    let mut steps = Vec::new();
    let mut step = |what: &str, result: Result<String, String>| {
        let ok = result.is_ok();
        steps.push(DiagStep { what: what.to_string(), ok, detail: result.unwrap_or_else(|e| e) });
        ok
    };
    let smtp = Smtp::new(settings.clone(), from);
    let addr = (settings.host.as_str(), settings.port);
    let tls = crate::tls::smtp_parameters(&settings.host, settings.tls_ca.as_ref()).map_err(|e| e.to_string());
    let tls_first = match (settings.security, &tls) {
        (Security::Tls, Ok(t)) => Some(t),
        (Security::Tls, Err(e)) => {
            step("TLS setup", Err(e.clone()));
            return steps;
        }
        _ => None,
    };
    let connect = SmtpConnection::connect(addr, Some(TIMEOUT), &smtp.hello, tls_first, None);
    let mut conn = match connect {
        Ok(c) => {
            let how = if tls_first.is_some() { "TLS" } else { "plain TCP" };
            step(&format!("connect to {} ({how}), greeting and EHLO", smtp.server()), Ok(c.server_info().to_string()));
            c
        }
        Err(e) => {
            step(&format!("connect to {}", smtp.server()), Err(explained(&e)));
            return steps;
        }
    };
    if settings.security == Security::StartTls {
        let result = match &tls {
            Ok(t) => conn.starttls(t, &smtp.hello).map(|()| "encrypted".to_string()).map_err(|e| explained(&e)),
            Err(e) => Err(e.clone()),
        };
        if !step("STARTTLS", result) {
            return steps;
        }
    }
    if let (Some(user), Some(credential)) = (&settings.username, &settings.credential) {
        let how = match credential {
            Credential::Password(_) => "AUTH",
            Credential::OAuth2(_) => "AUTH XOAUTH2 (OAuth token)",
        };
        let result = log_in(&mut conn, settings).map(Option::unwrap_or_default);
        if !step(&format!("{how} as {user}"), result) {
            return steps;
        }
    }
    let envelope = message.envelope();
    let result = conn.command(Mail::new(envelope.from().cloned(), vec![]));
    if !step("MAIL FROM", result.map(|r| reply(&r)).map_err(|e| e.to_string())) {
        return steps;
    }
    for to in envelope.to() {
        let result = conn.command(Rcpt::new(to.clone(), vec![]));
        if !step(&format!("RCPT TO {to}"), result.map(|r| reply(&r)).map_err(|e| e.to_string())) {
            return steps;
        }
    }
    let result = conn.command(Data).and_then(|_| conn.message(&message.formatted()));
    if step("DATA", result.map(|r| reply(&r)).map_err(|e| e.to_string())) {
        let _ = conn.quit();
    }
    steps
}

/// `e`, and what to set when it is a certificate this machine does not trust.
fn explained(e: &lettre::transport::smtp::Error) -> String {
    match crate::tls::advice(e) {
        Some(advice) => format!("{e}; {advice}"),
        None => e.to_string(),
    }
}

fn reply(response: &lettre::transport::smtp::response::Response) -> String {
    let text: Vec<&str> = response.message().collect();
    format!("{} {}", response.code(), text.join(" "))
}

/// A 5xx reply as lettre reports it: its code, and the server's words (the
/// error's source).
fn rejection(e: &lettre::transport::smtp::Error) -> Rejection {
    let text = std::error::Error::source(e).map(ToString::to_string).unwrap_or_default();
    match e.status() {
        Some(code) => Rejection::smtp(u16::from(code), text),
        None => Rejection::ours(e.to_string()),
    }
}
