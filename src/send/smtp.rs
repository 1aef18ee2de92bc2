//! The SMTP transport: one connection per tick, reused for every message of
//! that tick, checked with NOOP before each message so that a connection the
//! server closed while idle is replaced rather than mistaken for a failed send.

use std::time::Duration;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::{SendError, Transport};
use crate::config::{Security, SmtpSettings};

const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Smtp {
    settings: SmtpSettings,
    hello: ClientId,
    conn: Option<SmtpConnection>,
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
        let server = self.server();
        let fail =
            |what: &str, e: lettre::transport::smtp::Error| SendError::Unavailable(format!("{server}: {what}: {e}"));
        let tls = || TlsParameters::new(self.settings.host.clone()).map_err(|e| fail("TLS setup", e));
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
        if let (Some(user), Some(password)) = (&self.settings.username, &self.settings.password) {
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .map_err(|e| fail(&format!("login as {user} failed"), e))?;
        }
        Ok(conn)
    }
}

impl Transport for Smtp {
    fn send(&mut self, message: &Message, _label: &str) -> Result<(), SendError> {
        // NOOP first: an idle connection the server dropped is replaced here,
        // before the message, not mistaken for a send that broke halfway.
        let reusable = self.conn.take().filter(|c| !c.has_broken()).and_then(|mut c| c.test_connected().then_some(c));
        let mut conn = match reusable {
            Some(c) => c,
            None => self.connect()?,
        };
        let result = conn.send(message.envelope(), &message.formatted());
        let broken = conn.has_broken();
        if !broken {
            self.conn = Some(conn);
        }
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) if e.is_transient() => Err(SendError::Temporary(e.to_string())),
            // lettre refused before talking to the server (e.g. 8BITMIME missing): it will never work.
            Err(e) if e.is_client() => Err(SendError::Permanent(e.to_string())),
            // The connection broke mid-transaction: the server may have the message.
            Err(e) => Err(SendError::Uncertain(format!("{}: {e}", self.server()))),
        }
    }

    fn close(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = conn.quit();
        }
    }
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
    let tls = TlsParameters::new(settings.host.clone()).map_err(|e| e.to_string());
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
            step(&format!("connect to {}", smtp.server()), Err(e.to_string()));
            return steps;
        }
    };
    if settings.security == Security::StartTls {
        let result = match &tls {
            Ok(t) => conn.starttls(t, &smtp.hello).map(|()| "encrypted".to_string()).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        if !step("STARTTLS", result) {
            return steps;
        }
    }
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        let credentials = Credentials::new(user.clone(), password.expose().to_string());
        let result = conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials);
        if !step(&format!("AUTH as {user}"), result.map(|r| reply(&r)).map_err(|e| e.to_string())) {
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

fn reply(response: &lettre::transport::smtp::response::Response) -> String {
    let text: Vec<&str> = response.message().collect();
    format!("{} {}", response.code(), text.join(" "))
}
