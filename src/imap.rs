//! Reading and writing a mailbox over IMAP (async-imap on a small tokio
//! runtime of its own, behind plain blocking functions): new messages of the
//! watched folders, fetched with BODY.PEEK so that nothing is marked read,
//! and APPEND of sent emails to the sent folder. Never deletes or moves mail.

use std::fmt::Debug;
use std::time::Duration;

use async_imap::Client;
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::{Credential, ImapSettings, Mechanism, Secret, Security};
use crate::oauth::{self, sasl};
use crate::store::FolderState;

const TIMEOUT: Duration = Duration::from_secs(30);
/// A message is read up to this many bytes: enough to classify it, without
/// pulling in a large attachment.
const MAX_BYTES: usize = 256 * 1024;
/// On a first read, at most this many of the most recent messages.
const FIRST_READ_MAX: usize = 500;

/// An IMAP failure on one server (`IMAP host:port: what happened`).
#[derive(Debug, thiserror::Error)]
#[error("IMAP {server}: {kind}")]
pub struct ImapError {
    /// `host:port`.
    pub server: String,
    pub kind: ImapErrorKind,
}

/// What went wrong, by stage, so that callers match on it and not on text.
#[derive(Debug, thiserror::Error)]
pub enum ImapErrorKind {
    /// The worker's own runtime could not start (not the server's doing).
    #[error("cannot start the IMAP worker: {0}")]
    Runtime(std::io::Error),
    #[error("IMAP worker thread failed")]
    WorkerPanicked,
    #[error("connection timed out")]
    ConnectTimeout,
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// TLS could not be set up, negotiated or verified.
    #[error(transparent)]
    Tls(TlsError),
    /// Reading the greeting before STARTTLS failed.
    #[error("greeting: {0}")]
    Greeting(std::io::Error),
    #[error("no greeting")]
    NoGreeting,
    #[error("login timed out")]
    LoginTimeout,
    #[error("login as {user} failed: {error}")]
    Login { user: String, error: async_imap::error::Error },
    /// No OAuth token could be had (a lost sign-in, the provider down, no token file).
    #[error("sign-in: {0}")]
    SignIn(oauth::TokenError),
    /// The server refused the OAuth token; `refusal` is its error challenge.
    #[error("AUTHENTICATE {mechanism} as {user} failed: {error}{}", refusal.as_ref().map(|r| format!("; {r}")).unwrap_or_default())]
    TokenRefused {
        user: String,
        mechanism: &'static str,
        error: async_imap::error::Error,
        refusal: Option<Box<sasl::Refusal>>,
    },
    /// The server does not offer IDLE: there is nothing to wait on.
    #[error("the server has no IDLE")]
    NoIdle,
    /// A command after login failed (`EXAMINE INBOX`, `SEARCH in INBOX`...).
    #[error("{command}: {error}")]
    Command { command: String, error: async_imap::error::Error },
}

/// The TLS side of an [`ImapErrorKind::Tls`].
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS setup: {0}")]
    Setup(tokio_rustls::rustls::Error),
    #[error("invalid host name: {0}")]
    HostName(tokio_rustls::rustls::pki_types::InvalidDnsNameError),
    /// The handshake failed (this includes a certificate that did not verify).
    #[error("TLS: {err}{advice}", err = .0, advice = crate::tls::advice(.0).map(|a| format!("; {a}")).unwrap_or_default())]
    Handshake(std::io::Error),
    #[error("STARTTLS: {0}")]
    StartTls(std::io::Error),
    #[error("STARTTLS: connection closed")]
    StartTlsClosed,
    #[error("STARTTLS refused: {0}")]
    StartTlsRefused(String),
}

impl From<TlsError> for ImapErrorKind {
    fn from(e: TlsError) -> Self {
        ImapErrorKind::Tls(e)
    }
}

/// `command` (`EXAMINE INBOX`) failed with `error`.
fn failed(command: impl Into<String>, error: async_imap::error::Error) -> ImapErrorKind {
    ImapErrorKind::Command { command: command.into(), error }
}

/// One message read from a folder.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    pub raw: Vec<u8>,
    /// When the server received it (INTERNALDATE).
    pub arrived: Option<chrono::DateTime<chrono::Utc>>,
}

/// What reading one folder found.
#[derive(Debug, Clone)]
pub struct FolderRead {
    pub folder: String,
    pub uidvalidity: u32,
    /// New messages, oldest first.
    pub messages: Vec<Fetched>,
    /// Where the read mark goes once they are handled.
    pub last_uid: u32,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

type Session = async_imap::Session<Box<dyn Io>>;

/// Runs `f` to completion on a runtime of its own, on a thread of its own
/// (so it works from the CLI and from inside the daemon's blocking pool).
fn block_on<T: Send>(f: impl std::future::Future<Output = T> + Send) -> Result<T, ImapErrorKind> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(ImapErrorKind::Runtime)?;
                Ok(rt.block_on(f))
            })
            .join()
            .map_err(|_| ImapErrorKind::WorkerPanicked)?
    })
}

fn tls_connector(ca: Option<&crate::tls::CaFile>) -> Result<tokio_rustls::TlsConnector, TlsError> {
    use tokio_rustls::rustls;
    let roots = crate::tls::root_store(ca);
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)))
}

/// Connects and upgrades to TLS as the settings say; the client before login.
async fn connect(settings: &ImapSettings) -> Result<Client<Box<dyn Io>>, ImapErrorKind> {
    let addr = (settings.host.as_str(), settings.port);
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| ImapErrorKind::ConnectTimeout)?
        .map_err(ImapErrorKind::Connect)?;
    let server_name =
        || tokio_rustls::rustls::pki_types::ServerName::try_from(settings.host.clone()).map_err(TlsError::HostName);
    let stream: Box<dyn Io> = match settings.security {
        Security::Plain => Box::new(tcp),
        Security::Tls => {
            let tls = tls_connector(settings.tls_ca.as_ref())?
                .connect(server_name()?, tcp)
                .await
                .map_err(TlsError::Handshake)?;
            Box::new(tls)
        }
        Security::StartTls => {
            let mut plain = BufReader::new(tcp);
            let mut line = String::new();
            plain.read_line(&mut line).await.map_err(ImapErrorKind::Greeting)?;
            plain.get_mut().write_all(b"S1 STARTTLS\r\n").await.map_err(TlsError::StartTls)?;
            loop {
                line.clear();
                if plain.read_line(&mut line).await.map_err(TlsError::StartTls)? == 0 {
                    return Err(TlsError::StartTlsClosed.into());
                }
                if line.starts_with("S1 ") {
                    break;
                }
            }
            if !line.starts_with("S1 OK") {
                return Err(TlsError::StartTlsRefused(line.trim().to_string()).into());
            }
            let tls = tls_connector(settings.tls_ca.as_ref())?
                .connect(server_name()?, plain.into_inner())
                .await
                .map_err(TlsError::Handshake)?;
            Box::new(tls)
        }
    };
    let mut client = Client::new(stream);
    if settings.security != Security::StartTls {
        // The greeting (after STARTTLS there is none).
        let greeting = tokio::time::timeout(TIMEOUT, client.read_response()).await;
        match greeting {
            Ok(Ok(Some(_))) => {}
            _ => return Err(ImapErrorKind::NoGreeting),
        }
    }
    Ok(client)
}

/// Answers an OAuth mechanism's exchange: the token first; then, if the
/// server sends an error challenge, keeps its JSON and sends the empty
/// response the mechanism asks for (never the token again).
struct TokenAuthenticator {
    initial: String,
    sent: bool,
    refusal: std::sync::Arc<std::sync::Mutex<Option<sasl::Refusal>>>,
}

impl async_imap::Authenticator for &mut TokenAuthenticator {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if !self.sent {
            self.sent = true;
            return self.initial.clone().into_bytes();
        }
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = Some(sasl::Refusal::parse(challenge));
        }
        Vec::new()
    }
}

/// What the login presents.
enum Presented {
    Password(Secret),
    Token(oauth::Access, Mechanism),
}

/// A token of an OAuth mailbox, from the blocking pool (a refresh talks
/// HTTP); `refused`: the one the server just refused.
async fn token(
    oauth: &std::sync::Arc<crate::config::OAuth2>,
    refused: Option<Secret>,
) -> Result<oauth::Access, ImapErrorKind> {
    let oauth = std::sync::Arc::clone(oauth);
    tokio::task::spawn_blocking(move || oauth::access_token(&oauth, refused.as_ref()))
        .await
        .map_err(|_| ImapErrorKind::WorkerPanicked)?
        .map_err(ImapErrorKind::SignIn)
}

async fn present(settings: &ImapSettings, presented: &Presented) -> Result<Session, ImapErrorKind> {
    let client = connect(settings).await?;
    let user = settings.username.clone();
    match presented {
        Presented::Password(password) => tokio::time::timeout(TIMEOUT, client.login(&user, password.expose()))
            .await
            .map_err(|_| ImapErrorKind::LoginTimeout)?
            .map_err(|(error, _)| ImapErrorKind::Login { user, error }),
        Presented::Token(access, mechanism) => {
            let mechanism = *mechanism;
            let initial = match mechanism {
                Mechanism::Xoauth2 => sasl::xoauth2(&user, access.token.expose()),
                Mechanism::OAuthBearer => {
                    sasl::oauthbearer(&user, &settings.host, settings.port, access.token.expose())
                }
            };
            let refusal = std::sync::Arc::new(std::sync::Mutex::new(None));
            let mut auth = TokenAuthenticator { initial, sent: false, refusal: std::sync::Arc::clone(&refusal) };
            let result = tokio::time::timeout(TIMEOUT, client.authenticate(mechanism.as_str(), &mut auth)).await;
            match result {
                Err(_) => Err(ImapErrorKind::LoginTimeout),
                Ok(Ok(session)) => Ok(session),
                Ok(Err((error, _))) => {
                    let refusal = refusal.lock().ok().and_then(|mut r| r.take()).map(Box::new);
                    Err(ImapErrorKind::TokenRefused { user, mechanism: mechanism.as_str(), error, refusal })
                }
            }
        }
    }
}

/// Connects and logs in. An OAuth token the server refuses although it had
/// not expired gets one refresh and one more try.
async fn login(settings: &ImapSettings) -> Result<Session, ImapErrorKind> {
    let oauth = match &settings.credential {
        Credential::Password(password) => return present(settings, &Presented::Password(password.clone())).await,
        Credential::OAuth2(oauth) => oauth,
    };
    let access = token(oauth, None).await?;
    let refused = access.token.clone();
    let mechanism = oauth.imap_mechanism;
    match present(settings, &Presented::Token(access, mechanism)).await {
        Err(ImapErrorKind::TokenRefused { refusal, .. }) if refusal.as_ref().is_none_or(|r| r.token_refused()) => {
            let again = token(oauth, Some(refused)).await?;
            present(settings, &Presented::Token(again, mechanism)).await
        }
        other => other,
    }
}

/// Proves that `settings` log in (`cadenced login`): AUTHENTICATE, NOOP, LOGOUT.
pub fn prove_login(settings: &ImapSettings) -> Result<String, ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        session.noop().await.map_err(|e| failed("NOOP", e))?;
        let _ = session.logout().await;
        Ok::<_, ImapErrorKind>(format!("{}:{}: logged in as {}", settings.host, settings.port, settings.username))
    };
    block_on(job).and_then(|r| r).map_err(|kind| err(settings, kind))
}

/// Proves that the server answers and that TLS comes up as configured, with
/// a certificate this machine trusts (`cadenced doctor --connect`): the
/// greeting, no login. Says how the connection is protected.
pub fn probe_tls(settings: &ImapSettings) -> Result<String, ImapError> {
    let job = async {
        let client = connect(settings).await?;
        drop(client);
        let how = match settings.security {
            Security::Tls => "TLS",
            Security::StartTls => "STARTTLS",
            Security::Plain => "plain TCP, no TLS",
        };
        Ok::<_, ImapErrorKind>(format!("{}:{}: {how}", settings.host, settings.port))
    };
    block_on(job).and_then(|r| r).map_err(|kind| err(settings, kind))
}

fn err(settings: &ImapSettings, kind: ImapErrorKind) -> ImapError {
    ImapError { server: format!("{}:{}", settings.host, settings.port), kind }
}

/// Reads the new messages of every watched folder: past `states` where the
/// folder's UIDVALIDITY is unchanged, else (a first read, or a folder that was
/// recreated) the recent ones since `since`.
pub fn read_new(
    settings: &ImapSettings,
    states: &[Option<FolderState>],
    since: NaiveDate,
) -> Result<Vec<FolderRead>, ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        let mut out = Vec::new();
        for (folder, state) in settings.folders.iter().zip(states.iter().chain(std::iter::repeat(&None))) {
            let mailbox = session.examine(folder).await.map_err(|e| failed(format!("EXAMINE {folder}"), e))?;
            let uidvalidity = mailbox.uid_validity.unwrap_or(0);
            let uid_next = mailbox.uid_next.unwrap_or(1);
            let baseline = uid_next.saturating_sub(1);
            let uids: Vec<u32> = match state {
                Some(s) if s.uidvalidity == uidvalidity => {
                    if uid_next <= s.last_uid + 1 {
                        Vec::new()
                    } else {
                        let found = session
                            .uid_search(format!("UID {}:*", s.last_uid + 1))
                            .await
                            .map_err(|e| failed(format!("SEARCH in {folder}"), e))?;
                        found.into_iter().filter(|u| *u > s.last_uid).collect()
                    }
                }
                _ => {
                    let found = session
                        .uid_search(format!("SINCE {}", since.format("%d-%b-%Y")))
                        .await
                        .map_err(|e| failed(format!("SEARCH in {folder}"), e))?;
                    let mut found: Vec<u32> = found.into_iter().collect();
                    found.sort_unstable();
                    let skip = found.len().saturating_sub(FIRST_READ_MAX);
                    found.split_off(skip)
                }
            };
            let mut uids = uids;
            uids.sort_unstable();
            let mut messages = Vec::new();
            for chunk in uids.chunks(50) {
                let set: Vec<String> = chunk.iter().map(u32::to_string).collect();
                let stream = session
                    .uid_fetch(set.join(","), format!("(UID INTERNALDATE BODY.PEEK[]<0.{MAX_BYTES}>)"))
                    .await
                    .map_err(|e| failed(format!("FETCH in {folder}"), e))?;
                let fetched: Vec<_> =
                    stream.try_collect().await.map_err(|e| failed(format!("FETCH in {folder}"), e))?;
                for f in fetched {
                    if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                        let arrived = f.internal_date().map(|d| d.with_timezone(&chrono::Utc));
                        messages.push(Fetched { uid, raw: body.to_vec(), arrived });
                    }
                }
            }
            messages.sort_by_key(|m| m.uid);
            let last_uid = messages.last().map_or(baseline, |m| m.uid.max(baseline));
            out.push(FolderRead { folder: folder.clone(), uidvalidity, messages, last_uid });
        }
        let _ = session.logout().await;
        Ok::<_, ImapErrorKind>(out)
    };
    block_on(job).and_then(|r| r).map_err(|kind| err(settings, kind))
}

/// Appends sent messages to `folder` (with the \Seen flag), one session.
pub fn append(settings: &ImapSettings, folder: &str, messages: &[Vec<u8>]) -> Result<(), ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        for m in messages {
            session
                .append(folder, Some("(\\Seen)"), None, m)
                .await
                .map_err(|e| failed(format!("APPEND to {folder}"), e))?;
        }
        let _ = session.logout().await;
        Ok::<_, ImapErrorKind>(())
    };
    block_on(job).and_then(|r| r).map_err(|kind| err(settings, kind))
}

/// The headers of the messages of `folder` that carry `header`, received
/// (INTERNALDATE) or dated on or after `since`: for reconciling the Sent folder after
/// a restore. Only the headers are fetched.
pub fn read_tagged_headers(
    settings: &ImapSettings,
    folder: &str,
    header: &str,
    since: NaiveDate,
) -> Result<Vec<Vec<u8>>, ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        session.examine(folder).await.map_err(|e| failed(format!("EXAMINE {folder}"), e))?;
        let found = session
            // Received or dated since then: the server's date of the copy, or the email's own.
            .uid_search(format!("OR SINCE {day} SENTSINCE {day} HEADER {header} \"\"", day = since.format("%d-%b-%Y")))
            .await
            .map_err(|e| failed(format!("SEARCH in {folder}"), e))?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(500) {
            let set: Vec<String> = chunk.iter().map(u32::to_string).collect();
            let stream = session
                .uid_fetch(set.join(","), "(UID BODY.PEEK[HEADER])")
                .await
                .map_err(|e| failed(format!("FETCH in {folder}"), e))?;
            let fetched: Vec<_> = stream.try_collect().await.map_err(|e| failed(format!("FETCH in {folder}"), e))?;
            for f in fetched {
                if let Some(header) = f.header().or_else(|| f.body()) {
                    out.push(header.to_vec());
                }
            }
        }
        let _ = session.logout().await;
        Ok::<_, ImapErrorKind>(out)
    };
    block_on(job).and_then(|r| r).map_err(|kind| err(settings, kind))
}

/// Which of `message_ids` are in `folder` (to settle uncertain sends).
pub fn find_message_ids(
    settings: &ImapSettings,
    folder: &str,
    message_ids: &[String],
) -> Result<Vec<String>, ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        session.examine(folder).await.map_err(|e| failed(format!("EXAMINE {folder}"), e))?;
        let mut found = Vec::new();
        for id in message_ids {
            let quoted = id.replace(['"', '\\', '\r', '\n'], "");
            let hits = session
                .uid_search(format!("HEADER Message-ID \"{quoted}\""))
                .await
                .map_err(|e| failed(format!("SEARCH in {folder}"), e))?;
            if !hits.is_empty() {
                found.push(id.clone());
            }
        }
        let _ = session.logout().await;
        Ok::<_, ImapErrorKind>(found)
    };
    block_on(job).and_then(|r| r).map_err(|kind| err(settings, kind))
}

/// Waits with IMAP IDLE until something happens in `folder` or `max` passes.
/// Returns whether something changed, and the folder's message count to
/// pass back next time: a count that moved between two calls is a change too,
/// so nothing that arrives between two IDLE sessions is missed. Fails on a
/// server without IDLE: the tick's regular reads are then all there is.
pub async fn wait_for_change(
    settings: &ImapSettings,
    folder: &str,
    max: Duration,
    last_count: Option<u32>,
) -> Result<(bool, u32), ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        let caps = session.capabilities().await.map_err(|e| failed("CAPABILITY", e))?;
        if !caps.has_str("IDLE") {
            return Err(ImapErrorKind::NoIdle);
        }
        let count = session.examine(folder).await.map_err(|e| failed(format!("EXAMINE {folder}"), e))?.exists;
        if last_count != Some(count) {
            let _ = session.logout().await;
            return Ok((true, count));
        }
        let mut idle = session.idle();
        idle.init().await.map_err(|e| failed("IDLE", e))?;
        let (wait, _stop) = idle.wait_with_timeout(max);
        let changed = matches!(
            wait.await.map_err(|e| failed("IDLE", e))?,
            async_imap::extensions::idle::IdleResponse::NewData(_)
        );
        if let Ok(mut session) = idle.done().await {
            let _ = session.logout().await;
        }
        Ok((changed, count))
    };
    job.await.map_err(|kind| err(settings, kind))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{BufRead, Write};
    use std::net::TcpListener;

    use super::*;

    fn settings(port: u16, security: Security) -> ImapSettings {
        ImapSettings {
            host: "127.0.0.1".into(),
            port,
            security,
            username: "ada".into(),
            credential: Credential::Password(Secret::new("pw")),
            folders: vec!["INBOX".into()],
            sent_folder: None,
            tls_ca: None,
        }
    }

    fn since() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
    }

    /// A peer on loopback that writes `greeting`, then answers each line it
    /// reads with `reply` (when set), until the client hangs up.
    fn peer(greeting: &'static str, reply: Option<&'static str>) -> (u16, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(greeting.as_bytes()).unwrap();
            let mut lines = std::io::BufReader::new(conn.try_clone().unwrap()).split(b'\n');
            while let Some(Ok(_)) = lines.next() {
                if let Some(reply) = reply {
                    let _ = conn.write_all(reply.as_bytes());
                }
            }
        });
        (port, thread)
    }

    #[test]
    fn a_closed_port_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = read_new(&settings(port, Security::Plain), &[], since()).unwrap_err();
        assert!(matches!(e.kind, ImapErrorKind::Connect(_)), "{e:?}");
        assert!(e.to_string().starts_with(&format!("IMAP 127.0.0.1:{port}: cannot connect: ")), "{e}");
    }

    #[test]
    fn a_server_without_tls_is_a_tls_error() {
        let (port, thread) = peer("* OK IMAP4rev1 ready\r\n", None);
        let e = append(&settings(port, Security::Tls), "Sent", &[]).unwrap_err();
        assert!(matches!(e.kind, ImapErrorKind::Tls(TlsError::Handshake(_))), "{e:?}");
        assert!(e.to_string().starts_with(&format!("IMAP 127.0.0.1:{port}: TLS: ")), "{e}");
        thread.join().unwrap();
    }

    #[test]
    fn a_refused_starttls_is_a_tls_error() {
        let (port, thread) = peer("* OK IMAP4rev1 ready\r\n", Some("S1 NO no TLS here\r\n"));
        let e = find_message_ids(&settings(port, Security::StartTls), "Sent", &[]).unwrap_err();
        assert!(matches!(e.kind, ImapErrorKind::Tls(TlsError::StartTlsRefused(_))), "{e:?}");
        assert_eq!(e.to_string(), format!("IMAP 127.0.0.1:{port}: STARTTLS refused: S1 NO no TLS here"));
        thread.join().unwrap();
    }
}
