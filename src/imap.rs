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

use crate::config::{ImapSettings, Security};
use crate::store::FolderState;

const TIMEOUT: Duration = Duration::from_secs(30);
/// A message is read up to this many bytes: enough to classify it, without
/// pulling in a large attachment.
const MAX_BYTES: usize = 256 * 1024;
/// On a first read, at most this many of the most recent messages.
const FIRST_READ_MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("IMAP {server}: {message}")]
pub struct ImapError {
    pub server: String,
    pub message: String,
}

/// One message read from a folder.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    pub raw: Vec<u8>,
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
fn block_on<T: Send>(f: impl std::future::Future<Output = T> + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
                Ok(rt.block_on(f))
            })
            .join()
            .map_err(|_| "IMAP worker thread failed".to_string())?
    })
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)))
}

async fn login(settings: &ImapSettings) -> Result<Session, String> {
    let addr = (settings.host.as_str(), settings.port);
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let server_name = || {
        tokio_rustls::rustls::pki_types::ServerName::try_from(settings.host.clone())
            .map_err(|e| format!("invalid host name: {e}"))
    };
    let stream: Box<dyn Io> = match settings.security {
        Security::Plain => Box::new(tcp),
        Security::Tls => {
            let tls = tls_connector()?.connect(server_name()?, tcp).await.map_err(|e| format!("TLS: {e}"))?;
            Box::new(tls)
        }
        Security::StartTls => {
            let mut plain = BufReader::new(tcp);
            let mut line = String::new();
            plain.read_line(&mut line).await.map_err(|e| format!("greeting: {e}"))?;
            plain.get_mut().write_all(b"S1 STARTTLS\r\n").await.map_err(|e| format!("STARTTLS: {e}"))?;
            loop {
                line.clear();
                if plain.read_line(&mut line).await.map_err(|e| format!("STARTTLS: {e}"))? == 0 {
                    return Err("STARTTLS: connection closed".into());
                }
                if line.starts_with("S1 ") {
                    break;
                }
            }
            if !line.starts_with("S1 OK") {
                return Err(format!("STARTTLS refused: {}", line.trim()));
            }
            let tls =
                tls_connector()?.connect(server_name()?, plain.into_inner()).await.map_err(|e| format!("TLS: {e}"))?;
            Box::new(tls)
        }
    };
    let mut client = Client::new(stream);
    if settings.security != Security::StartTls {
        // The greeting (after STARTTLS there is none).
        let greeting = tokio::time::timeout(TIMEOUT, client.read_response()).await;
        match greeting {
            Ok(Ok(Some(_))) => {}
            _ => return Err("no greeting".into()),
        }
    }
    tokio::time::timeout(TIMEOUT, client.login(&settings.username, settings.password.expose()))
        .await
        .map_err(|_| "login timed out".to_string())?
        .map_err(|(e, _)| format!("login as {} failed: {e}", settings.username))
}

fn err(settings: &ImapSettings, message: String) -> ImapError {
    ImapError { server: format!("{}:{}", settings.host, settings.port), message }
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
            let mailbox = session.examine(folder).await.map_err(|e| format!("EXAMINE {folder}: {e}"))?;
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
                            .map_err(|e| format!("SEARCH in {folder}: {e}"))?;
                        found.into_iter().filter(|u| *u > s.last_uid).collect()
                    }
                }
                _ => {
                    let found = session
                        .uid_search(format!("SINCE {}", since.format("%d-%b-%Y")))
                        .await
                        .map_err(|e| format!("SEARCH in {folder}: {e}"))?;
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
                    .uid_fetch(set.join(","), format!("(UID BODY.PEEK[]<0.{MAX_BYTES}>)"))
                    .await
                    .map_err(|e| format!("FETCH in {folder}: {e}"))?;
                let fetched: Vec<_> = stream.try_collect().await.map_err(|e| format!("FETCH in {folder}: {e}"))?;
                for f in fetched {
                    if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                        messages.push(Fetched { uid, raw: body.to_vec() });
                    }
                }
            }
            messages.sort_by_key(|m| m.uid);
            let last_uid = messages.last().map_or(baseline, |m| m.uid.max(baseline));
            out.push(FolderRead { folder: folder.clone(), uidvalidity, messages, last_uid });
        }
        let _ = session.logout().await;
        Ok::<_, String>(out)
    };
    block_on(job).and_then(|r| r).map_err(|e| err(settings, e))
}

/// Appends sent messages to `folder` (with the \Seen flag), one session.
pub fn append(settings: &ImapSettings, folder: &str, messages: &[Vec<u8>]) -> Result<(), ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        for m in messages {
            session.append(folder, Some("(\\Seen)"), None, m).await.map_err(|e| format!("APPEND to {folder}: {e}"))?;
        }
        let _ = session.logout().await;
        Ok::<_, String>(())
    };
    block_on(job).and_then(|r| r).map_err(|e| err(settings, e))
}

/// Which of `message_ids` are in `folder` (to settle uncertain sends).
pub fn find_message_ids(
    settings: &ImapSettings,
    folder: &str,
    message_ids: &[String],
) -> Result<Vec<String>, ImapError> {
    let job = async {
        let mut session = login(settings).await?;
        session.examine(folder).await.map_err(|e| format!("EXAMINE {folder}: {e}"))?;
        let mut found = Vec::new();
        for id in message_ids {
            let quoted = id.replace(['"', '\\', '\r', '\n'], "");
            let hits = session
                .uid_search(format!("HEADER Message-ID \"{quoted}\""))
                .await
                .map_err(|e| format!("SEARCH in {folder}: {e}"))?;
            if !hits.is_empty() {
                found.push(id.clone());
            }
        }
        let _ = session.logout().await;
        Ok::<_, String>(found)
    };
    block_on(job).and_then(|r| r).map_err(|e| err(settings, e))
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
        let caps = session.capabilities().await.map_err(|e| format!("CAPABILITY: {e}"))?;
        if !caps.has_str("IDLE") {
            return Err("the server has no IDLE".to_string());
        }
        let count = session.examine(folder).await.map_err(|e| format!("EXAMINE {folder}: {e}"))?.exists;
        if last_count != Some(count) {
            let _ = session.logout().await;
            return Ok((true, count));
        }
        let mut idle = session.idle();
        idle.init().await.map_err(|e| format!("IDLE: {e}"))?;
        let (wait, _stop) = idle.wait_with_timeout(max);
        let changed = matches!(
            wait.await.map_err(|e| format!("IDLE: {e}"))?,
            async_imap::extensions::idle::IdleResponse::NewData(_)
        );
        if let Ok(mut session) = idle.done().await {
            let _ = session.logout().await;
        }
        Ok((changed, count))
    };
    job.await.map_err(|e| err(settings, e))
}
