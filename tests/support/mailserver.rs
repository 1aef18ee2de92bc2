//! A real company mail server for end-to-end tests: Postfix 3.7 (submission
//! with STARTTLS and SASL, virtual domains) delivering over LMTP into Dovecot
//! 2.3 (IMAP with STARTTLS, Maildirs), both with a certificate from a private
//! CA made for the test. Each instance has its own config, queue, ports and
//! logs under a temp dir: no system configuration is read or changed and no
//! system service is started. `scripts/test.sh` installs Debian's postfix,
//! dovecot-imapd, dovecot-lmtpd and openssl when they are missing. Postfix's
//! master runs as root, so this harness needs root (the test container is).
//!
//! Addresses, all at loopback (nothing leaves the machine):
//! - [`SENDER`] logs in to submit (password [`SENDER_PASSWORD`]) and to read
//!   its INBOX and Sent folder over IMAP;
//! - [`JANE`], [`BOB`] and the leads given to [`MailServer::with_leads`] have
//!   a Maildir (IMAP password [`LEAD_PASSWORD`]);
//! - [`UNKNOWN`] is nobody's: `550 5.1.1` at RCPT (`reject_unlisted_recipient`);
//! - [`BLOCKED`] is refused at RCPT with `550 5.7.1` + [`BLOCKLIST_TEXT`]
//!   (`check_recipient_access`);
//! - [`NO_MAILBOX`] is accepted by Postfix but refused by Dovecot's LMTP (no
//!   such user): Postfix bounces, a DSN with status 5.1.1 lands in the
//!   sender's INBOX;
//! - [`RELAY_REFUSED`] is accepted, then relayed to a test SMTP server that
//!   refuses at DATA with `550` + [`RELAY_REFUSAL`]: a DSN with status 5.7.1
//!   lands in the sender's INBOX.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;

use super::ca::TestCa;
use super::smtp::{Fault, SmtpServer};

pub const SENDER: &str = "ada@seller.test";
pub const SENDER_PASSWORD: &str = "ada-submission-secret";
pub const JANE: &str = "jane@acme.test";
pub const BOB: &str = "bob@acme.test";
pub const LEAD_PASSWORD: &str = "lead-imap-secret";
pub const UNKNOWN: &str = "nobody@acme.test";
pub const BLOCKED: &str = "blocked@acme.test";
pub const BLOCKLIST_TEXT: &str = "Message refused: your IP is on a blocklist";
pub const NO_MAILBOX: &str = "gone@acme.test";
pub const RELAY_REFUSED: &str = "filtered@acme.test";
pub const RELAY_REFUSAL: &str = "5.7.1 Message refused by the recipient's content filter";
/// The host name the certificate is for and the URLs use.
pub const HOST: &str = "localhost";
/// A second loopback address Dovecot's IMAP also listens on (the certificate
/// names it too). Dovecot counts a connection whose two ends have the same
/// address (127.0.0.1 to 127.0.0.1) as secured and then allows LOGIN without
/// TLS; from 127.0.0.1 to 127.0.0.2 it does not, as for a remote client.
pub const STRICT_IMAP_HOST: &str = "127.0.0.2";

const POSTFIX: &str = "/usr/sbin/postfix";
const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVECOT_LMTP: &str = "/usr/lib/dovecot/lmtp";
const STARTUP: Duration = Duration::from_secs(30);

/// One running Postfix + Dovecot pair; both stop on drop.
#[allow(dead_code)]
pub struct MailServer {
    dir: tempfile::TempDir,
    pub ca: TestCa,
    pub submission_port: u16,
    pub imap_port: u16,
    pub lmtp_port: u16,
    pub auth_port: u16,
    dovecot: Option<Child>,
    postfix_running: bool,
    relay: SmtpServer,
    leads: Vec<String>,
    uid: u32,
    counter: Cell<u32>,
}

/// One message file of a Maildir folder.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Message {
    pub raw: String,
    /// Maildir flags (`S` = seen); empty while in `new/`.
    pub flags: String,
    pub path: PathBuf,
}

/// An SMTP reply: its code (0 when the connection failed) and text.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// `n` distinct free loopback ports (all probed at once so they differ).
fn free_ports<const N: usize>() -> [u16; N] {
    let probes: Vec<std::net::TcpListener> =
        (0..N).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("probe port")).collect();
    std::array::from_fn(|i| probes[i].local_addr().expect("probe addr").port())
}

fn wait_for_port(port: u16, what: &str, deadline: Instant, log: impl Fn() -> String) {
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on 127.0.0.1:{port}:\n{}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes a Postfix config file or table dated an hour ago: Postfix waits
/// for a file modified in the last second or two to "cool down" (300 ms
/// naps, in every process that reads it), which made each start take seconds.
fn write_cool(path: &Path, text: &str) {
    write(path, text);
    let past = std::time::SystemTime::now() - Duration::from_secs(3600);
    let file = std::fs::File::options().write(true).open(path).expect("open to set mtime");
    file.set_modified(past).unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

#[allow(dead_code)]
impl MailServer {
    /// Starts a server whose leads are [`JANE`] and [`BOB`].
    pub fn start() -> MailServer {
        MailServer::with_leads(&[])
    }

    /// Starts a server whose leads are [`JANE`], [`BOB`] and `leads` (their
    /// domains become Postfix's too).
    pub fn with_leads(leads: &[&str]) -> MailServer {
        assert!(
            is_root(),
            "the Postfix test harness needs root (Postfix's master daemon runs as root): run the tests as root"
        );
        for path in [POSTFIX, DOVECOT, DOVECOT_LMTP] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: run ./scripts/test.sh (it installs postfix, dovecot-imapd and dovecot-lmtpd)"
            );
        }
        let dir = tempfile::Builder::new().prefix("cadenced-mail").tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let uid = super::dovecot::mail_uid();
        let ca = TestCa::create(&root.join("tls"));
        let [submission_port, imap_port, lmtp_port, auth_port] = free_ports::<4>();
        let relay = SmtpServer::start();
        relay.set_faults(vec![Fault::RejectData { times: usize::MAX, code: 550, text: RELAY_REFUSAL.into() }]);
        let mut all_leads = vec![JANE.to_string(), BOB.to_string()];
        all_leads.extend(leads.iter().map(|l| l.to_string()));
        let mut server = MailServer {
            dir,
            ca,
            submission_port,
            imap_port,
            lmtp_port,
            auth_port,
            dovecot: None,
            postfix_running: false,
            relay,
            leads: all_leads,
            uid,
            counter: Cell::new(0),
        };
        use std::os::unix::fs::PermissionsExt;
        // Postfix's and Dovecot's unprivileged processes must reach their files.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        server.start_dovecot();
        server.start_postfix();
        let deadline = Instant::now() + STARTUP;
        for port in [imap_port, lmtp_port, auth_port] {
            wait_for_port(port, "dovecot", deadline, || server.dovecot_log());
        }
        wait_for_port(submission_port, "postfix", deadline, || server.postfix_log());
        server
    }

    fn start_dovecot(&mut self) {
        let root = self.dir.path();
        let r = root.display();
        let uid = self.uid;
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        let _ = std::os::unix::fs::chown(root.join("mail"), Some(uid), Some(uid));
        let mut users = format!("{SENDER}:{{PLAIN}}{SENDER_PASSWORD}::::::\n");
        for lead in &self.leads {
            users.push_str(&format!("{lead}:{{PLAIN}}{LEAD_PASSWORD}::::::\n"));
        }
        write(&root.join("users"), &users);
        let (cert, key) = (self.ca.cert_pem.display(), self.ca.key_pem.display());
        let (imap, lmtp, auth) = (self.imap_port, self.lmtp_port, self.auth_port);
        // Users come from one passwd-file for both passdb and userdb, so LMTP
        // refuses an address that is not in it (NO_MAILBOX) with 550 5.1.1.
        let config = format!(
            "protocols = imap lmtp\nlisten = 127.0.0.1\nhostname = mail.seller.test\n\
             base_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n\
             ssl = required\nssl_cert = <{cert}\nssl_key = <{key}\n\
             disable_plaintext_auth = yes\nauth_mechanisms = plain login\n\
             recipient_delimiter = +\nlmtp_save_to_detail_mailbox = no\n\
             mail_location = maildir:{r}/mail/%u\nfirst_valid_uid = {uid}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {r}/users\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {r}/users\n  \
             default_fields = uid={uid} gid={uid} home={r}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1, {STRICT_IMAP_HOST}\n    port = {imap}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {lmtp}\n  }}\n}}\n\
             service auth {{\n  inet_listener auth {{\n    address = 127.0.0.1\n    port = {auth}\n  }}\n}}\n"
        );
        write(&root.join("dovecot.conf"), &config);
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        self.dovecot = Some(child);
    }

    fn start_postfix(&mut self) {
        let root = self.dir.path();
        let r = root.display();
        let conf = root.join("postfix");
        std::fs::create_dir_all(&conf).expect("mkdir");
        let quick = make_queue_dirs(root);
        let (cert, key) = (self.ca.cert_pem.display(), self.ca.key_pem.display());
        let (lmtp, auth) = (self.lmtp_port, self.auth_port);
        let mut domains = vec!["seller.test", "acme.test"];
        for domain in self.leads.iter().filter_map(|l| l.rsplit_once('@')).map(|(_, d)| d) {
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        let domains = domains.join(", ");
        let main = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {r}/queue\ndata_directory = {r}/data\n\
             maillog_file = {r}/postfix.log\nmaillog_file_prefixes = {r}\n\
             # Who we are; no local delivery, no DNS, loopback only.\n\
             myhostname = mail.seller.test\nmydomain = seller.test\nmyorigin = seller.test\nmydestination =\n\
             local_recipient_maps =\nlocal_transport = error:5.1.1 no local delivery here\n\
             alias_maps =\nalias_database =\nbiff = no\nappend_dot_mydomain = no\n\
             # ada+anything@seller.test is ada's (unsubscribe addresses carry a token there).\n\
             recipient_delimiter = +\n\
             inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmynetworks = 127.0.0.1/32\nrelayhost =\n\
             smtpd_peername_lookup = no\nsmtp_host_lookup = native\nlmtp_host_lookup = native\n\
             smtp_dns_support_level = disabled\nsmtp_tls_security_level = none\nlmtp_tls_security_level = none\n\
             # Submission: TLS first, then SASL through Dovecot's auth listener.\n\
             smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n\
             smtpd_tls_security_level = encrypt\nsmtpd_tls_auth_only = yes\n\
             smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = inet:127.0.0.1:{auth}\n\
             smtpd_client_restrictions = permit_sasl_authenticated, reject\n\
             smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n\
             smtpd_recipient_restrictions = check_recipient_access texthash:{r}/postfix/recipient_access, \
             reject_unlisted_recipient\n\
             # The domains are Dovecot's, over LMTP; one address is relayed instead.\n\
             virtual_mailbox_domains = {domains}\n\
             virtual_mailbox_maps = texthash:{r}/postfix/virtual_mailboxes\n\
             virtual_transport = lmtp:inet:[127.0.0.1]:{lmtp}\n\
             transport_maps = texthash:{r}/postfix/transport\n\
             # A test must not wait for the queue: retry soon, give up soon.\n\
             queue_run_delay = 1s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 2s\n\
             maximal_queue_lifetime = 30s\nbounce_queue_lifetime = 30s\ndelay_warning_time = 0\n"
        );
        write_cool(&conf.join("main.cf"), &main);
        let mut master =
            format!("127.0.0.1:{} inet n - n - - smtpd\n  -o syslog_name=postfix/submission\n", self.submission_port);
        // chroot off (column 5) everywhere: the queue is in a temp dir.
        for (service, kind, private, limit, command) in [
            ("pickup", "unix", "n", "1", "pickup"),
            ("cleanup", "unix", "n", "0", "cleanup"),
            ("qmgr", "unix", "n", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "0", "bounce"),
            ("defer", "unix", "-", "0", "bounce"),
            ("trace", "unix", "-", "0", "bounce"),
            ("verify", "unix", "-", "1", "verify"),
            ("flush", "unix", "n", "0", "flush"),
            ("proxymap", "unix", "-", "-", "proxymap"),
            ("proxywrite", "unix", "-", "1", "proxymap"),
            ("smtp", "unix", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "showq"),
            ("error", "unix", "-", "-", "error"),
            ("retry", "unix", "-", "-", "error"),
            ("discard", "unix", "-", "-", "discard"),
            ("lmtp", "unix", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "1", "anvil"),
            ("scache", "unix", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "1", "postlogd"),
        ] {
            master.push_str(&format!("{service} {kind} {private} - n - {limit} {command}\n"));
        }
        write_cool(&conf.join("master.cf"), &master);
        let mut mailboxes = format!("{SENDER} OK\n{NO_MAILBOX} OK\n{RELAY_REFUSED} OK\n");
        for lead in &self.leads {
            mailboxes.push_str(&format!("{lead} OK\n"));
        }
        write_cool(&conf.join("virtual_mailboxes"), &mailboxes);
        write_cool(&conf.join("recipient_access"), &format!("{BLOCKED} 550 5.7.1 {BLOCKLIST_TEXT}\n"));
        write_cool(&conf.join("transport"), &format!("{RELAY_REFUSED} smtp:[127.0.0.1]:{}\n", self.relay.port()));
        if quick {
            // The directories are there: skip `postfix check` (half a second of shell scripts).
            write(&root.join("queue/quick-start"), "");
        }
        let out = Command::new(POSTFIX).arg("-c").arg(&conf).arg("start").output().expect("run postfix start");
        assert!(
            out.status.success(),
            "postfix -c {} start failed: {}{}\n{}",
            conf.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.postfix_log()
        );
        self.postfix_running = true;
    }

    /// `smtp+starttls://localhost:PORT`: Postfix's submission service.
    pub fn submission_url(&self) -> String {
        format!("smtp+starttls://{HOST}:{}", self.submission_port)
    }

    /// `imap://localhost:PORT`: Dovecot's IMAP with STARTTLS.
    pub fn imap_url(&self) -> String {
        format!("imap://{HOST}:{}", self.imap_port)
    }

    /// `imap://127.0.0.2:PORT`: the same IMAP service, where Dovecot refuses
    /// to log in before STARTTLS (see [`STRICT_IMAP_HOST`]).
    pub fn strict_imap_url(&self) -> String {
        format!("imap://{STRICT_IMAP_HOST}:{}", self.imap_port)
    }

    /// The private CA's certificate, to be trusted (`tls_ca_file`).
    pub fn ca_file(&self) -> &Path {
        &self.ca.ca_pem
    }

    /// The test SMTP server that [`RELAY_REFUSED`] is relayed to.
    pub fn relay(&self) -> &SmtpServer {
        &self.relay
    }

    /// Writes [`SENDER_PASSWORD`] to `dir/ada.pass` (0600) and returns its path.
    pub fn password_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ada.pass");
        write(&path, SENDER_PASSWORD);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    /// The lines of a `[mailboxes.NAME]` table (after `from`) that send as
    /// [`SENDER`] through this server and watch its INBOX, trusting the CA.
    pub fn mailbox_config(&self, project_dir: &Path, sent_folder: Option<&str>) -> String {
        let pw = self.password_file(project_dir);
        let sent = sent_folder.map(|f| format!("sent_folder = \"{f}\"\n")).unwrap_or_default();
        format!(
            "smtp = \"{}\"\nusername = \"{SENDER}\"\npassword_file = \"{}\"\nimap = \"{}\"\n\
             imap_username = \"{SENDER}\"\ntls_ca_file = \"{}\"\n{sent}",
            self.submission_url(),
            pw.display(),
            self.imap_url(),
            self.ca_file().display()
        )
    }

    /// TLS parameters for `localhost` that trust the private CA.
    pub fn tls_parameters(&self) -> TlsParameters {
        let pem = std::fs::read(self.ca_file()).expect("read CA");
        TlsParameters::builder(HOST.to_string())
            .add_root_certificate(Certificate::from_pem(&pem).expect("CA certificate"))
            .build_rustls()
            .expect("TLS parameters")
    }

    /// A submission connection: STARTTLS (verifying the private CA), then
    /// AUTH as [`SENDER`].
    pub fn submission(&self) -> Result<SmtpConnection, lettre::transport::smtp::Error> {
        let hello = ClientId::Domain("client.seller.test".into());
        let mut conn =
            SmtpConnection::connect((HOST, self.submission_port), Some(Duration::from_secs(30)), &hello, None, None)?;
        conn.starttls(&self.tls_parameters(), &hello)?;
        conn.auth(&[Mechanism::Plain], &Credentials::new(SENDER.into(), SENDER_PASSWORD.into()))?;
        Ok(conn)
    }

    /// Submits `raw` from [`SENDER`] to `to`; the reply to RCPT when it was
    /// refused, else the reply to the end of DATA.
    pub fn submit(&self, to: &str, raw: &str) -> Reply {
        let reply = |r: Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error>| match r {
            Ok(r) => Reply { code: r.code().into(), text: r.message().collect::<Vec<_>>().join("\n") },
            Err(e) => Reply { code: e.status().map(u16::from).unwrap_or(0), text: e.to_string() },
        };
        let mut conn = match self.submission() {
            Ok(conn) => conn,
            Err(e) => return reply(Err(e)),
        };
        let from: Address = SENDER.parse().expect("sender address");
        let rcpt: Address = to.parse().expect("recipient address");
        let mail = reply(conn.command(Mail::new(Some(from), vec![])));
        if mail.code != 250 {
            return mail;
        }
        let rcpt = reply(conn.command(Rcpt::new(rcpt, vec![])));
        if rcpt.code != 250 {
            let _ = conn.quit();
            return rcpt;
        }
        let data = reply(conn.command(Data));
        if data.code != 354 {
            return data;
        }
        let result = reply(conn.message(raw.as_bytes()));
        let _ = conn.quit();
        result
    }

    /// A small plain-text email from [`SENDER`] to `to`.
    pub fn email(&self, to: &str, subject: &str) -> String {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        format!(
            "From: Ada Sales <{SENDER}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\n\
             Message-ID: <test{n}.{}@seller.test>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nHello from the mail server test.\r\n",
            chrono::Utc::now().to_rfc2822(),
            std::process::id()
        )
    }

    /// The Maildir of `user`'s `folder` (`INBOX`, `Sent`, ...).
    pub fn maildir(&self, user: &str, folder: &str) -> PathBuf {
        maildir(&self.dir.path().join("mail"), user, folder)
    }

    /// The messages in `user`'s `folder`, oldest first.
    pub fn messages(&self, user: &str, folder: &str) -> Vec<Message> {
        read_maildir(&self.maildir(user, folder))
    }

    /// Waits until `user`'s `folder` holds at least `n` messages and returns
    /// them; panics with both servers' logs after `timeout`.
    pub fn wait_for(&self, user: &str, folder: &str, n: usize, timeout: Duration) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages(user, folder);
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{user}/{folder} has {} of {n} messages after {timeout:?}\n--- postfix log:\n{}\n--- dovecot log:\n{}",
                found.len(),
                self.postfix_log(),
                self.dovecot_log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Puts `raw` into `user`'s `folder` the way a delivery agent does (a
    /// reply arriving, a copy in Sent); Dovecot sees it on the next IMAP read.
    pub fn deliver(&self, user: &str, folder: &str, raw: &str) {
        self.deliver_at(user, folder, raw, None);
    }

    /// Creates `folder` of `user`, empty, as a mail client would.
    pub fn create_folder(&self, user: &str, folder: &str) {
        let inbox = self.maildir(user, "INBOX");
        std::fs::create_dir_all(&inbox).expect("maildir");
        let _ = std::os::unix::fs::chown(&inbox, Some(self.uid), Some(self.uid));
        let dir = self.maildir(user, folder);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("maildir");
            let _ = std::os::unix::fs::chown(dir.join(sub), Some(self.uid), Some(self.uid));
        }
        let _ = std::os::unix::fs::chown(&dir, Some(self.uid), Some(self.uid));
    }

    /// [`deliver`](Self::deliver), as if it had arrived at `arrived` (the
    /// file's time is what Dovecot gives as its INTERNALDATE).
    pub fn deliver_at(&self, user: &str, folder: &str, raw: &str, arrived: Option<std::time::SystemTime>) {
        let dir = self.maildir(user, folder);
        let own = |p: &Path| {
            let _ = std::os::unix::fs::chown(p, Some(self.uid), Some(self.uid));
        };
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("maildir");
            own(&dir.join(sub));
        }
        own(&dir);
        own(&self.maildir(user, "INBOX"));
        let n = self.counter.get() + 1;
        self.counter.set(n);
        let name = format!("{}.test{n}_{}.localhost", chrono::Utc::now().timestamp(), std::process::id());
        let tmp = dir.join("tmp").join(&name);
        write(&tmp, &raw.replace("\r\n", "\n").replace('\n', "\r\n"));
        own(&tmp);
        if let Some(at) = arrived {
            std::fs::File::options().write(true).open(&tmp).and_then(|f| f.set_modified(at)).expect("set mtime");
        }
        std::fs::rename(&tmp, dir.join("new").join(&name)).expect("deliver");
    }

    /// Postfix's log (its `maillog_file`), for diagnostics.
    pub fn postfix_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postfix.log")).unwrap_or_default()
    }

    /// Dovecot's log, for diagnostics.
    pub fn dovecot_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl MailServer {
    /// Stops Postfix as `postfix stop` does (`postfix abort`: SIGTERM to its
    /// master), but waits for the master in 10 ms steps: `postfix stop` naps
    /// a whole second when the master has not gone at its first look.
    fn stop_postfix(&mut self) {
        let root = self.dir.path();
        let pid =
            std::fs::read_to_string(root.join("queue/pid/master.pid")).ok().and_then(|t| t.trim().parse::<u32>().ok());
        let _ = Command::new(POSTFIX)
            .arg("-c")
            .arg(root.join("postfix"))
            .arg("abort")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let Some(pid) = pid else { return };
        if wait_gone(pid) {
            return;
        }
        // What `postfix stop` does when the master does not go: kill its process group.
        let _ = Command::new("kill").arg("-KILL").arg(format!("-{pid}")).status();
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        if self.postfix_running {
            self.stop_postfix();
        }
        if let Some(child) = self.dovecot.take() {
            kill_dovecot(child);
        }
    }
}

/// Makes the queue and data directories of a Postfix under `root` the way
/// `postfix check` does (its post-install script reads the same table,
/// /etc/postfix/postfix-files), only faster. False when the table cannot be
/// read or a user is missing: then `postfix start` makes them itself.
fn make_queue_dirs(root: &Path) -> bool {
    std::fs::create_dir_all(root.join("queue")).expect("mkdir queue");
    let id = |file: &str, name: &str| -> Option<u32> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == name).then_some(())?;
            f.nth(1)?.parse().ok()
        })
    };
    let (Some(postfix_uid), Some(postdrop_gid), Ok(table)) = (
        id("/etc/passwd", "postfix"),
        id("/etc/group", "postdrop"),
        std::fs::read_to_string("/etc/postfix/postfix-files"),
    ) else {
        return false;
    };
    use std::os::unix::fs::PermissionsExt;
    for line in table.lines() {
        // name:type:owner:group:mode:flags, e.g. $queue_directory/maildrop:d:$mail_owner:$setgid_group:730:uc
        let f: Vec<&str> = line.split(':').collect();
        let [name, "d", owner, group, mode, ..] = f[..] else { continue };
        let path = match name.split_once('/') {
            Some(("$queue_directory", sub)) => root.join("queue").join(sub),
            None if name == "$queue_directory" => root.join("queue"),
            None if name == "$data_directory" => root.join("data"),
            _ => continue,
        };
        let Ok(mode) = u32::from_str_radix(mode, 8) else { return false };
        let uid = if owner == "$mail_owner" { postfix_uid } else { 0 };
        let gid = if group == "$setgid_group" { postdrop_gid } else { 0 };
        if std::fs::create_dir_all(&path).is_err()
            || std::os::unix::fs::chown(&path, Some(uid), Some(gid)).is_err()
            || std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).is_err()
        {
            return false;
        }
    }
    true
}

/// A process's state letter and parent from `/proc/PID/stat` (None: gone).
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = stat.rsplit_once(") ")?.1.split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.next()?.parse().ok()?))
}

/// Waits (10 ms steps, up to 5 s) until `pid` is gone or a zombie; false if not.
fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match proc_state(pid) {
            Some((state, _)) if state != 'Z' => std::thread::sleep(Duration::from_millis(10)),
            _ => return true,
        }
    }
    false
}

/// Stops Dovecot's master and its service processes with SIGKILL. On SIGTERM
/// its master waits for them at least a second (up to six, when one is slow
/// to notice), which was most of a test's time; nothing of this Dovecot
/// outlives the test anyway.
fn kill_dovecot(mut master: Child) {
    let id = master.id();
    let children: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_state(pid).is_some_and(|(_, parent)| parent == id))
        .collect();
    let _ = master.kill();
    let _ = master.wait();
    if !children.is_empty() {
        let _ =
            Command::new("kill").arg("-KILL").args(children.iter().map(u32::to_string)).stderr(Stdio::null()).status();
        for pid in children {
            wait_gone(pid);
        }
    }
}

#[allow(dead_code)]
impl Message {
    /// The first header field `name` (ASCII case-insensitive), unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or_default();
        let head = head.split("\n\n").next().unwrap_or_default();
        let mut fields: Vec<String> = Vec::new();
        for line in head.lines() {
            match fields.last_mut() {
                Some(last) if line.starts_with([' ', '\t']) => {
                    last.push(' ');
                    last.push_str(line.trim());
                }
                _ => fields.push(line.trim_end().to_string()),
            }
        }
        fields.into_iter().find_map(|f| {
            let (n, v) = f.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The `message/delivery-status` part of a bounce (DSN), as text.
    pub fn delivery_status(&self) -> Option<String> {
        use mail_parser::MimeHeaders;
        let parsed = mail_parser::MessageParser::default().parse(self.raw.as_bytes())?;
        parsed.parts.iter().find_map(|part| {
            let ct = part.content_type()?;
            (ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("delivery-status")))
            .then(|| String::from_utf8_lossy(part.contents()).into_owned())
        })
    }
}

/// The Maildir of `user`'s `folder` under `mail` (Dovecot's `maildir:MAIL/%u`
/// layout: INBOX at the top, other folders as `.NAME`).
pub fn maildir(mail: &Path, user: &str, folder: &str) -> PathBuf {
    let base = mail.join(user);
    if folder.eq_ignore_ascii_case("INBOX") { base } else { base.join(format!(".{folder}")) }
}

/// The messages of the Maildir folder `dir` (new and cur), oldest first.
pub fn read_maildir(dir: &Path) -> Vec<Message> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let flags = name.rsplit_once(":2,").map(|(_, f)| f.to_string()).unwrap_or_default();
            let modified = e.metadata().and_then(|m| m.modified()).ok();
            let raw = std::fs::read_to_string(e.path()).unwrap_or_default();
            found.push((modified, name, Message { raw, flags, path: e.path() }));
        }
    }
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    found.into_iter().map(|(_, _, m)| m).collect()
}
