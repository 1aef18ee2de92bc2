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
