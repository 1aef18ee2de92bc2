//! A real Dovecot IMAP server for tests: its own config, users, Maildirs and
//! port, started per test and stopped on drop. `scripts/test.sh` installs
//! Debian's dovecot-imapd when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const USER: &str = "ada@seller.test";
pub const PASSWORD: &str = "imap-test-secret";

pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    uid: u32,
    counter: std::cell::Cell<u32>,
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    probe.local_addr().expect("probe addr").port()
}

/// The uid mail is stored under: ours, or nobody's when we are root
/// (Dovecot refuses to serve mail as root).
pub fn mail_uid() -> u32 {
    let me = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
    if me == 0 { 65534 } else { me }
}

#[allow(dead_code)]
impl Dovecot {
    pub fn start() -> Dovecot {
        Dovecot::start_with("")
    }

    /// Starts Dovecot with `extra` appended to its config (e.g. an
    /// `imap_capability` without IDLE).
    pub fn start_with(extra: &str) -> Dovecot {
        let binary = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"].into_iter().find(|p| Path::new(p).exists()).expect(
            "Dovecot is not installed: run ./scripts/test.sh (it installs dovecot-imapd), or apt-get install dovecot-imapd",
        );
        let dir = tempfile::Builder::new().prefix("cadenced-dovecot").tempdir().expect("temp dir");
        let root = dir.path();
        let uid = mail_uid();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        std::fs::create_dir_all(root.join("mail").join(USER)).expect("mkdir");
        use std::os::unix::fs::PermissionsExt;
        for p in [root.to_path_buf(), root.join("run"), root.join("state"), root.join("mail")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let _ = std::os::unix::fs::chown(root.join("mail").join(USER), Some(uid), Some(uid));
        let _ = std::os::unix::fs::chown(root.join("mail"), Some(uid), Some(uid));
        std::fs::write(root.join("users"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).expect("users");
        let port = free_port();
        let r = root.display();
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {r}/run\nstate_dir = {r}/state\nlog_path = {r}/dovecot.log\n\
             ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:{r}/mail/%u\nfirst_valid_uid = {uid}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {r}/users\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={r}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = 0\n  }}\n}}\n{extra}\n"
        );
        std::fs::write(root.join("dovecot.conf"), config).expect("config");
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start dovecot");
        let server = Dovecot { dir, child, port, uid, counter: std::cell::Cell::new(0) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "dovecot did not start: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// `imap+plain://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("imap+plain://127.0.0.1:{}", self.port)
    }

    /// The lines a mailbox table needs to watch this server (password in a 0600 file).
    pub fn mailbox_config(&self, project_dir: &Path, sent_folder: Option<&str>) -> String {
        let pw = project_dir.join("imap.pass");
        std::fs::write(&pw, PASSWORD).expect("password file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let sent = sent_folder.map(|f| format!("sent_folder = \"{f}\"\n")).unwrap_or_default();
        format!(
            "imap = \"{}\"\nimap_username = \"{USER}\"\npassword_file = \"{}\"\nallow_plaintext_auth = true\n{sent}",
            self.url(),
            pw.display()
        )
    }

    fn maildir(&self, folder: &str) -> PathBuf {
        let base = self.dir.path().join("mail").join(USER);
        if folder == "INBOX" { base } else { base.join(format!(".{folder}")) }
    }

    /// Delivers `raw` into `folder` the way a local delivery agent does (Maildir new/).
    pub fn deliver(&self, folder: &str, raw: &str) {
        let dir = self.maildir(folder);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("maildir");
            let _ = std::os::unix::fs::chown(dir.join(sub), Some(self.uid), Some(self.uid));
        }
        let _ = std::os::unix::fs::chown(&dir, Some(self.uid), Some(self.uid));
        let n = self.counter.get() + 1;
        self.counter.set(n);
        let name = format!("{}.test{n}.localhost", std::process::id());
        let tmp = dir.join("tmp").join(&name);
        std::fs::write(&tmp, raw.replace('\n', "\r\n").replace("\r\r\n", "\r\n")).expect("write message");
        let _ = std::os::unix::fs::chown(&tmp, Some(self.uid), Some(self.uid));
        std::fs::rename(&tmp, dir.join("new").join(&name)).expect("deliver");
    }

    /// Every message file in `folder`, with its Maildir flags (`S` = seen).
    pub fn files(&self, folder: &str) -> Vec<(String, String)> {
        let dir = self.maildir(folder);
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let flags = name.rsplit_once(":2,").map(|(_, f)| f.to_string()).unwrap_or_default();
                out.push((std::fs::read_to_string(e.path()).unwrap_or_default(), flags));
            }
        }
        out
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}
