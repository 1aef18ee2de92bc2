//! A real Dovecot 2.3 that takes only OAuth 2.0 bearer tokens, for tests:
//! IMAP and submission (dovecot-submissiond) with STARTTLS required and SASL
//! XOAUTH2 / OAUTHBEARER only, each token checked by introspection at the
//! [`OidcProvider`] of the test (`passdb oauth2`, no auth cache, so a revoked
//! or expired token fails at once); LMTP to put mail into the user's
//! Maildir; submission relays what it accepts to a test [`SmtpServer`]
//! (plain SMTP, no auth) so that a test sees exactly what was submitted.
//! Its own config, Maildirs, ports and log under a temp dir; stopped on drop.
//! `scripts/test.sh` installs Debian's dovecot-imapd, dovecot-lmtpd and
//! dovecot-submissiond when they are missing.
//!
//! IMAP and submission listen on [`HOST`] (127.0.0.2), not 127.0.0.1:
//! Dovecot counts a connection whose two ends have the same address as
//! secured and would then take AUTHENTICATE without TLS; from 127.0.0.1 to
//! 127.0.0.2 it does not, as for a remote client, so a client must really
//! STARTTLS first. The certificate (a private CA's, [`OAuthMail::ca_file`])
//! names 127.0.0.2 (and localhost, 127.0.0.1, mail.test).
//!
//! The username the client gives (`user=` in XOAUTH2, `a=` in OAUTHBEARER)
//! must be the token's `sub` (the login typed on the provider's login page,
//! [`USER`]); the token must be an active access token with the `mail`
//! scope.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use super::ca::TestCa;
use super::mailserver::Message;
use super::oauth::{self, OidcProvider};
use super::smtp::SmtpServer;

pub use super::oauth::USER;

/// The address IMAP and submission listen on (see the module's doc).
pub const HOST: &str = "127.0.0.2";

const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVECOT_LMTP: &str = "/usr/lib/dovecot/lmtp";
const DOVECOT_SUBMISSION: &str = "/usr/lib/dovecot/submission";
const STARTUP: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One running Dovecot; killed on drop (with its relay).
#[allow(dead_code)]
pub struct OAuthMail {
    dir: tempfile::TempDir,
    pub ca: TestCa,
    pub imap_port: u16,
    pub submission_port: u16,
    pub lmtp_port: u16,
    dovecot: Option<Child>,
    relay: SmtpServer,
    uid: u32,
    counter: Cell<u32>,
}

/// The SASL mechanisms Dovecot takes here.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sasl {
    /// Google's: `user=USER^Aauth=Bearer TOKEN^A^A`.
    Xoauth2,
    /// RFC 7628: `n,a=USER,^Ahost=..^Aport=..^Aauth=Bearer TOKEN^A^A`.
    OAuthBearer,
}

/// A refused authentication: the server's challenge (for XOAUTH2 and
/// OAUTHBEARER a base64 JSON error, here decoded) and its final reply.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct AuthRefused {
    /// The decoded `+ ...` (IMAP) / `334 ...` (SMTP) challenge, if one came.
    pub challenge: Option<String>,
    /// The final line: `a NO [AUTHENTICATIONFAILED] ...` or `535 5.7.8 ...`.
    pub reply: String,
}

fn free_ports<const N: usize>() -> [u16; N] {
    let probes: Vec<std::net::TcpListener> =
        (0..N).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("probe port")).collect();
    std::array::from_fn(|i| probes[i].local_addr().expect("probe addr").port())
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[allow(dead_code)]
impl OAuthMail {
    /// Starts Dovecot checking tokens at `provider`.
    pub fn start(provider: &OidcProvider) -> OAuthMail {
        for path in [DOVECOT, DOVECOT_LMTP, DOVECOT_SUBMISSION] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: run ./scripts/test.sh (it installs dovecot-imapd, dovecot-lmtpd and dovecot-submissiond)"
            );
        }
        let dir = tempfile::Builder::new().prefix("cadenced-oauth-mail").tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let uid = super::dovecot::mail_uid();
        let ca = TestCa::create(&root.join("tls"));
        let [imap_port, submission_port, lmtp_port] = free_ports::<3>();
        let relay = SmtpServer::start();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let _ = std::os::unix::fs::chown(root.join("mail"), Some(uid), Some(uid));
        let r = root.display();
        // Introspection as the `dovecot` client (HTTP Basic from the URL's user:password).
        let oauth2 = format!(
            "introspection_mode = post\n\
             introspection_url = http://{}:{}@127.0.0.1:{}/token/introspection\n\
             username_attribute = sub\nactive_attribute = active\nactive_value = true\n\
             scope = mail\ntimeout_msecs = 10000\n",
            oauth::DOVECOT_CLIENT_ID,
            oauth::DOVECOT_CLIENT_SECRET,
            provider.port
        );
        write(&root.join("dovecot-oauth2.conf.ext"), &oauth2);
        let (cert, key) = (ca.cert_pem.display(), ca.key_pem.display());
        let relay_port = relay.port();
        let config = format!(
            "protocols = imap submission lmtp\nlisten = 127.0.0.1\nhostname = mail.seller.test\n\
             base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n\
             ssl = required\nssl_cert = <{cert}\nssl_key = <{key}\n\
             disable_plaintext_auth = yes\nauth_mechanisms = xoauth2 oauthbearer\n\
             # Every login asks the provider (no cache: a revoked token fails at once);\n\
             # a failed one is not delayed (2 s by default) nor penalised (anvil, below).\n\
             auth_cache_size = 0\nauth_failure_delay = 0\nauth_verbose = yes\n\
             mail_location = maildir:{r}/mail/%u\nfirst_valid_uid = {uid}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n  \
             mailbox Sent {{\n    special_use = \\Sent\n    auto = subscribe\n  }}\n}}\n\
             # Even with auth_failure_delay = 0, Dovecot 2.3 queues a failure until the\n\
             # next half-second tick unless the request has `nodelay`: the first passdb\n\
             # only sets that (it authenticates nobody: noauthenticate makes it go on to\n\
             # the next), the second checks the token.\n\
             passdb {{\n  driver = static\n  mechanisms = xoauth2 oauthbearer\n  \
             args = password=%w noauthenticate=yes nodelay=yes\n  result_success = continue\n}}\n\
             passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {r}/dovecot-oauth2.conf.ext\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={r}/mail/%u allow_all_users=yes\n}}\n\
             submission_relay_host = 127.0.0.1\nsubmission_relay_port = {relay_port}\n\
             submission_relay_ssl = no\nsubmission_relay_trusted = no\n\
             service imap-login {{\n  inet_listener imap {{\n    address = {HOST}\n    port = {imap_port}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service submission-login {{\n  inet_listener submission {{\n    address = {HOST}\n    port = {submission_port}\n  }}\n}}\n\
             service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {lmtp_port}\n  }}\n}}\n\
             service anvil {{\n  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n"
        );
        write(&root.join("dovecot.conf"), &config);
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dovecot");
        let mut server = OAuthMail {
            dir,
            ca,
            imap_port,
            submission_port,
            lmtp_port,
            dovecot: Some(child),
            relay,
            uid,
            counter: Cell::new(0),
        };
        let deadline = Instant::now() + STARTUP;
        for (host, port) in [(HOST, imap_port), (HOST, submission_port), ("127.0.0.1", lmtp_port)] {
            while TcpStream::connect((host, port)).is_err() {
                if let Some(Ok(Some(status))) = server.dovecot.as_mut().map(Child::try_wait) {
                    let mut err = String::new();
                    if let Some(mut e) = server.dovecot.as_mut().and_then(|c| c.stderr.take()) {
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!("dovecot exited ({status}): {err}\n{}", server.log());
                }
                assert!(Instant::now() < deadline, "dovecot did not listen on {host}:{port}:\n{}", server.log());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        server
    }

    /// Dovecot's log (auth failures are logged with their reason).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// `imap://127.0.0.2:PORT`: IMAP, STARTTLS required.
    pub fn imap_url(&self) -> String {
        format!("imap://{HOST}:{}", self.imap_port)
    }

    /// `smtp+starttls://127.0.0.2:PORT`: submission, STARTTLS required.
    pub fn submission_url(&self) -> String {
        format!("smtp+starttls://{HOST}:{}", self.submission_port)
    }

    /// The private CA's certificate (PEM), for the client to trust (`tls_ca_file`).
    pub fn ca_file(&self) -> &Path {
        &self.ca.ca_pem
    }

    /// The test SMTP server that submission relays to: what was submitted.
    pub fn relay(&self) -> &SmtpServer {
        &self.relay
    }

    /// The Maildir of [`USER`]'s `folder` (`INBOX`, `Sent`, ...).
    pub fn maildir(&self, folder: &str) -> PathBuf {
        super::mailserver::maildir(&self.dir.path().join("mail"), USER, folder)
    }

    /// The messages in [`USER`]'s `folder`, oldest first.
    pub fn messages(&self, folder: &str) -> Vec<Message> {
        super::mailserver::read_maildir(&self.maildir(folder))
    }

    /// Waits until `folder` holds at least `n` messages and returns them;
    /// panics with Dovecot's log after `timeout`.
    pub fn wait_for(&self, folder: &str, n: usize, timeout: Duration) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages(folder);
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{USER}/{folder} has {} of {n} messages after {timeout:?}\n{}",
                found.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Delivers `raw` (from `from`) into [`USER`]'s INBOX over LMTP, as the
    /// company's MTA does when a lead replies. Panics if LMTP refuses it.
    pub fn deliver(&self, from: &str, raw: &str) {
        if let Err(e) = self.lmtp(from, USER, raw) {
            panic!("LMTP refused the message: {e}\n{}", self.log());
        }
    }

    /// One LMTP transaction; the reply to the end of DATA, or the first refusal.
    pub fn lmtp(&self, from: &str, to: &str, raw: &str) -> Result<String, String> {
        let mut c = Conn::connect("127.0.0.1", self.lmtp_port)?;
        c.smtp_reply(220)?;
        c.send("LHLO client.test")?;
        c.smtp_reply(250)?;
        envelope(&mut c, from, to, raw)
    }

    /// A connection to IMAP, past the greeting (which it returns), no TLS yet.
    pub fn imap_plain(&self) -> (Conn, String) {
        let mut c = Conn::connect(HOST, self.imap_port).expect("connect to IMAP");
        let greeting = c.line().expect("IMAP greeting");
        (c, greeting)
    }

    /// A connection to IMAP after STARTTLS (trusting the private CA).
    pub fn imap_tls(&self) -> Conn {
        let (mut c, greeting) = self.imap_plain();
        assert!(greeting.contains("STARTTLS"), "{greeting}");
        c.send("s STARTTLS").expect("STARTTLS");
        let reply = c.tagged("s").expect("STARTTLS reply");
        assert!(reply.starts_with("s OK"), "{reply}");
        c.starttls(HOST, self.ca_file()).expect("TLS handshake");
        c
    }

    /// STARTTLS, then `AUTHENTICATE mech` (SASL-IR) as `user` with `token`;
    /// the logged-in connection, or the refusal.
    pub fn imap_login(&self, mech: Sasl, user: &str, token: &str) -> Result<Conn, AuthRefused> {
        let mut c = self.imap_tls();
        imap_authenticate(&mut c, mech, user, token, self.imap_port)?;
        Ok(c)
    }

    /// [`imap_login`](Self::imap_login), then `STATUS folder (MESSAGES)`: the
    /// folder's message count as the logged-in user sees it.
    pub fn imap_count(&self, mech: Sasl, user: &str, token: &str, folder: &str) -> Result<u32, AuthRefused> {
        let mut c = self.imap_login(mech, user, token)?;
        c.send(&format!("t STATUS \"{folder}\" (MESSAGES)")).expect("STATUS");
        let lines = c.until_tagged("t").expect("STATUS reply");
        let count = lines
            .iter()
            .find_map(|l| l.split("MESSAGES ").nth(1).and_then(|n| n.trim_end_matches([')', '\r', '\n']).parse().ok()))
            .unwrap_or_else(|| panic!("no MESSAGES in {lines:?}"));
        let _ = c.send("z LOGOUT").and_then(|()| c.until_tagged("z"));
        Ok(count)
    }

    /// A connection to submission after EHLO, STARTTLS and EHLO again.
    pub fn submission_tls(&self) -> Conn {
        let mut c = Conn::connect(HOST, self.submission_port).expect("connect to submission");
        c.smtp_reply(220).expect("greeting");
        c.send("EHLO client.seller.test").expect("EHLO");
        let ehlo = c.smtp_reply(250).expect("EHLO reply");
        assert!(ehlo.contains("STARTTLS"), "{ehlo}");
        c.send("STARTTLS").expect("STARTTLS");
        c.smtp_reply(220).expect("STARTTLS reply");
        c.starttls(HOST, self.ca_file()).expect("TLS handshake");
        c.send("EHLO client.seller.test").expect("EHLO");
        c.smtp_reply(250).expect("EHLO reply");
        c
    }

    /// STARTTLS, then `AUTH mech` (initial response) as `user` with `token`.
    pub fn submission_login(&self, mech: Sasl, user: &str, token: &str) -> Result<Conn, AuthRefused> {
        let mut c = self.submission_tls();
        let payload = sasl_payload(mech, user, token, self.submission_port);
        let name = mech_name(mech);
        c.send(&format!("AUTH {name} {payload}")).expect("AUTH");
        let reply = c.smtp_any().expect("AUTH reply");
        if reply.starts_with("235") {
            return Ok(c);
        }
        if let Some(challenge) = reply.strip_prefix("334 ") {
            let challenge = decode(challenge);
            c.send(if mech == Sasl::Xoauth2 { "" } else { "AQ==" }).expect("answer the challenge");
            let reply = c.smtp_any().expect("AUTH final reply");
            return Err(AuthRefused { challenge: Some(challenge), reply });
        }
        Err(AuthRefused { challenge: None, reply })
    }

    /// Submits `raw` from `from` to `to` after [`submission_login`](Self::submission_login);
    /// the reply to the end of DATA, or the failure.
    pub fn submit(&self, mech: Sasl, token: &str, from: &str, to: &str, raw: &str) -> Result<String, String> {
        let mut c = self.submission_login(mech, USER, token).map_err(|r| format!("{r:?}"))?;
        envelope(&mut c, from, to, raw)
    }

    /// A small plain-text email from [`USER`] to `to`.
    pub fn email(&self, to: &str, subject: &str) -> String {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        format!(
            "From: Ada Sales <{USER}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\n\
             Message-ID: <oauth{n}.{}@seller.test>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nHello from the OAuth mail test.\r\n",
            chrono::Utc::now().to_rfc2822(),
            std::process::id()
        )
    }
}

impl Drop for OAuthMail {
    fn drop(&mut self) {
        if let Some(child) = self.dovecot.take() {
            kill_dovecot(child);
        }
    }
}

/// Stops Dovecot's master and its service processes with SIGKILL (on SIGTERM
/// its master waits a second or more for them; nothing of it outlives the test).
fn kill_dovecot(mut master: Child) {
    let id = master.id().to_string();
    let parent_of = |pid: &str| -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Some(stat.rsplit_once(") ")?.1.split_whitespace().nth(1)?.to_string())
    };
    let children: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())).map(str::to_string))
        .filter(|pid| parent_of(pid).as_deref() == Some(id.as_str()))
        .collect();
    let _ = master.kill();
    let _ = master.wait();
    if !children.is_empty() {
        let _ = Command::new("kill").arg("-KILL").args(&children).stderr(Stdio::null()).status();
    }
}

fn mech_name(mech: Sasl) -> &'static str {
    match mech {
        Sasl::Xoauth2 => "XOAUTH2",
        Sasl::OAuthBearer => "OAUTHBEARER",
    }
}

/// The base64 initial response of `mech`.
pub fn sasl_payload(mech: Sasl, user: &str, token: &str, port: u16) -> String {
    let raw = match mech {
        Sasl::Xoauth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        Sasl::OAuthBearer => format!("n,a={user},\x01host={HOST}\x01port={port}\x01auth=Bearer {token}\x01\x01"),
    };
    oauth::b64(raw.as_bytes())
}

fn decode(b64: &str) -> String {
    oauth::b64_decode(b64.trim()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_else(|| b64.to_string())
}

/// `a AUTHENTICATE mech <initial response>` on `c`; Ok once logged in.
pub fn imap_authenticate(c: &mut Conn, mech: Sasl, user: &str, token: &str, port: u16) -> Result<String, AuthRefused> {
    let payload = sasl_payload(mech, user, token, port);
    c.send(&format!("a AUTHENTICATE {} {payload}", mech_name(mech))).expect("AUTHENTICATE");
    let mut challenge = None;
    loop {
        let line = c.line().map_err(|e| AuthRefused { challenge: challenge.clone(), reply: e })?;
        if let Some(rest) = line.strip_prefix("+ ").or(if line.trim() == "+" { Some("") } else { None }) {
            challenge = Some(decode(rest));
            // XOAUTH2 wants an empty answer, OAUTHBEARER a ^A (RFC 7628).
            c.send(if mech == Sasl::Xoauth2 { "" } else { "AQ==" }).expect("answer the challenge");
            continue;
        }
        if line.starts_with("a OK") {
            return Ok(line);
        }
        if line.starts_with("a ") {
            return Err(AuthRefused { challenge, reply: line });
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// A line-oriented client connection (IMAP, SMTP, LMTP), plain or after STARTTLS.
pub struct Conn {
    reader: Option<BufReader<Stream>>,
}

#[allow(dead_code)]
impl Conn {
    pub fn connect(host: &str, port: u16) -> Result<Conn, String> {
        let tcp = TcpStream::connect((host, port)).map_err(|e| format!("connect {host}:{port}: {e}"))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        Ok(Conn { reader: Some(BufReader::new(Stream::Plain(tcp))) })
    }

    fn reader(&mut self) -> &mut BufReader<Stream> {
        self.reader.as_mut().expect("connection in use")
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        matches!(self.reader.as_ref().map(BufReader::get_ref), Some(Stream::Tls(_)))
    }

    /// Writes `line` + CRLF.
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        let w = self.reader().get_mut();
        w.write_all(format!("{line}\r\n").as_bytes()).and_then(|()| w.flush()).map_err(|e| format!("write: {e}"))
    }

    /// Writes a message body for DATA (CRLF lines, dot-stuffed) and the final dot.
    pub fn send_data(&mut self, raw: &str) -> Result<(), String> {
        let mut body = String::new();
        for line in raw.replace("\r\n", "\n").lines() {
            if line.starts_with('.') {
                body.push('.');
            }
            body.push_str(line);
            body.push_str("\r\n");
        }
        body.push_str(".\r\n");
        let w = self.reader().get_mut();
        w.write_all(body.as_bytes()).and_then(|()| w.flush()).map_err(|e| format!("write: {e}"))
    }

    /// The next line, without its CRLF; Err when the server closed.
    pub fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.reader().read_line(&mut line) {
            Ok(0) => Err("connection closed".into()),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Lines up to the one tagged `tag` (IMAP); returns all, that one last.
    pub fn until_tagged(&mut self, tag: &str) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return Ok(lines);
            }
        }
    }

    /// The line tagged `tag` (IMAP), skipping untagged ones.
    pub fn tagged(&mut self, tag: &str) -> Result<String, String> {
        Ok(self.until_tagged(tag)?.pop().unwrap_or_default())
    }

    /// One SMTP reply, all its lines joined by `\n`.
    pub fn smtp_any(&mut self) -> Result<String, String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Ok(lines.join("\n"));
            }
        }
    }

    /// One SMTP reply, which must have `code`.
    pub fn smtp_reply(&mut self, code: u16) -> Result<String, String> {
        let reply = self.smtp_any()?;
        if reply.starts_with(&code.to_string()) { Ok(reply) } else { Err(format!("expected {code}, got: {reply}")) }
    }

    /// The TLS handshake (after the server said yes to STARTTLS), trusting
    /// only the CA in `ca_file`, for `host` (a name or an IP address).
    pub fn starttls(&mut self, host: &str, ca_file: &Path) -> Result<(), String> {
        let reader = self.reader.take().expect("connection in use");
        assert!(reader.buffer().is_empty(), "the server sent more after its yes to STARTTLS");
        let Stream::Plain(mut tcp) = reader.into_inner() else { panic!("TLS is on already") };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("read {}: {e}", ca_file.display()))? {
            roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(|e| format!("TLS: {e}"))?;
        }
        self.reader = Some(BufReader::new(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))));
        Ok(())
    }
}

/// MAIL, RCPT, DATA and the message on an SMTP or LMTP session, then QUIT:
/// the reply to the end of DATA.
fn envelope(c: &mut Conn, from: &str, to: &str, raw: &str) -> Result<String, String> {
    c.send(&format!("MAIL FROM:<{from}>"))?;
    c.smtp_reply(250)?;
    c.send(&format!("RCPT TO:<{to}>"))?;
    c.smtp_reply(250)?;
    c.send("DATA")?;
    c.smtp_reply(354)?;
    c.send_data(raw)?;
    let done = c.smtp_reply(250)?;
    let _ = c.send("QUIT").and_then(|()| c.smtp_any());
    Ok(done)
}
