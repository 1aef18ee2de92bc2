//! Signing in with OAuth 2.0, against a real authorization server (npm's
//! oidc-provider: device flow, PKCE, rotating refresh tokens, revocation,
//! one-minute access tokens) and a real Dovecot that takes only tokens (IMAP
//! with STARTTLS through its oauth2 passdb, submission with XOAUTH2 relaying
//! to the test's SMTP server). The human's part of the sign-in is played in
//! a real headless Chromium on the provider's own pages.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::browser::Browser;
use crate::support::http::{self, http_config};
use crate::support::oauth::{OidcProvider, USER};
use crate::support::oauth_human::{approve_browser, approve_device};
use crate::support::oauth_mail::OAuthMail;
use crate::support::{BIN, Project};

const WAIT: Duration = Duration::from_secs(30);
const JANE: &str = "jane@acme.test";

const TWO: &str = r#"
[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Quick question about {{ company }}"
body = "Hi {{ first_name }}, quick question."

[[steps]]
id = "bump"
wait = "1d"
kind = "email"
body = "Bumping this up."
"#;

/// A provider, its token-only mail server, and a project whose mailbox
/// `sales` signs in there with OAuth (`extra`: more lines for the project's
/// config, after the oauth2 table).
struct Setup {
    provider: OidcProvider,
    mail: OAuthMail,
    p: Project,
    browser: Browser,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        let provider = OidcProvider::start();
        let mail = OAuthMail::start(&provider);
        let p = Project::new();
        p.write(
            "config.toml",
            &format!(
                "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\n\
                 tick_interval = \"1s\"\n\n\
                 [mailboxes.sales]\nfrom = \"Ada Sales <{USER}>\"\nsmtp = \"{}\"\nimap = \"{}\"\n\
                 tls_ca_file = \"{}\"\n\n\
                 [mailboxes.sales.oauth2]\nprovider = \"custom\"\nclient_id = \"cadenced-test\"\nissuer = \"{}\"\n\
                 scopes = [\"openid\", \"email\", \"offline_access\", \"mail\"]\n{extra}\n",
                mail.submission_url(),
                mail.imap_url(),
                mail.ca_file().display(),
                provider.issuer()
            ),
        );
        p.cadence("two", TWO);
        Setup { provider, mail, p, browser: Browser::start() }
    }

    fn token_file(&self) -> std::path::PathBuf {
        self.p.path("tokens/sales.json")
    }

    fn tokens(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.token_file()).expect("token file")).expect("JSON")
    }

    /// Rewrites the token file's expiry (as if that much time had passed).
    fn expire_access_token(&self) {
        let mut t = self.tokens();
        t["expires_at"] = Value::from("2020-01-01T00:00:00Z");
        std::fs::write(self.token_file(), serde_json::to_string(&t).expect("JSON")).expect("write token file");
    }

    /// `cadenced login sales ARGS`, with the human's part played in the
    /// browser; returns (first line, the rest of stdout, stderr, success).
    fn login(&self, args: &[&str]) -> (String, String, String, bool) {
        let mut child = Killed(
            Command::new(BIN)
                .arg("--config")
                .arg(self.p.path("config.toml"))
                .arg("login")
                .arg("sales")
                .args(args)
                .env("CADENCED_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start cadenced login"),
        );
        let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read the first line");
        let first = first.trim_end().to_string();
        if let Some(rest) = first.strip_prefix("open this address in a browser: ") {
            let landed = approve_browser(&self.browser, rest, USER);
            assert!(landed.contains("/callback?code="), "{landed}");
        } else if let Some(rest) = first.strip_prefix("open ") {
            let (uri, code) = rest.split_once(" and enter the code ").unwrap_or_else(|| panic!("{first}"));
            approve_device(&self.browser, uri, code, USER);
        } else if let Ok(json) = serde_json::from_str::<Value>(&first) {
            if let Some(url) = json["authorization_url"].as_str() {
                approve_browser(&self.browser, url, USER);
            } else {
                let uri = json["verification_uri"].as_str().unwrap_or_else(|| panic!("{first}"));
                let code = json["user_code"].as_str().unwrap_or_else(|| panic!("{first}"));
                approve_device(&self.browser, uri, code, USER);
            }
        } else {
            panic!("unexpected first line: {first:?}");
        }
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).expect("read stdout");
        let mut stderr = String::new();
        child.0.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
        let status = child.0.wait().expect("wait for login");
        (first, rest, stderr, status.success())
    }

    fn enroll(&self, email: &str, at: Option<&str>) {
        let mut args = vec!["enroll", email, "--cadence", "two", "--field", "first_name=J", "--field", "company=Acme"];
        if let Some(at) = at {
            args.extend(["--at", at]);
        }
        self.p.ok(&args);
    }

    fn mailbox(&self) -> Value {
        self.p.json(&["mailboxes", "--json"])["mailboxes"][0].clone()
    }
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn state(p: &Project, email: &str) -> String {
    p.status(email)["enrollments"][0]["state"].as_str().unwrap_or_default().to_string()
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn login_by_device_then_a_cadence_goes_out_and_a_reply_stops_the_lead() {
    let s = Setup::new("");
    let before = s.p.fails(&["check"]);
    assert!(before.contains("not signed in") && before.contains("run `cadenced login sales`"), "{before}");

    let (first, rest, stderr, ok) = s.login(&[]);
    assert!(ok, "login failed: {stderr}\n{rest}");
    assert!(
        first.starts_with(&format!("open {}/device and enter the code ", s.provider.issuer())),
        "the device flow is the default where the provider has one: {first}"
    );
    assert!(rest.contains(&format!("signed in: mailbox sales as {USER}")), "{rest}");
    assert!(rest.contains("logged in as"), "proven against IMAP and SMTP: {rest}");
    assert_eq!(mode(&s.token_file()), 0o600);
    assert_eq!(mode(&s.p.path("tokens")), 0o700);
    assert!(s.tokens()["refresh_token"].is_string(), "offline_access gave a refresh token");
    assert!(s.p.ok(&["check"]).contains("ok mailbox sales: signed in"));
    let m = s.mailbox();
    assert_eq!(m["state"], "active");
    assert_eq!(m["oauth2"]["account"], USER);
    assert_eq!(m["oauth2"]["has_refresh_token"], true);
    assert!(m["oauth2"]["scopes"].as_array().unwrap().iter().any(|v| v == "mail"), "{m}");
    assert!(m["oauth2"]["access_token_expires_at"].is_string());
    let stored = std::fs::read_to_string(s.token_file()).unwrap();
    let token = s.tokens()["access_token"].as_str().unwrap().to_string();
    assert!(!m.to_string().contains(&token), "no token in mailboxes --json");
    assert!(stored.contains(&token));

    // Sent through the token-only submission server, read back through the token-only IMAP.
    s.enroll(JANE, Some("2026-03-02T09:00:00Z"));
    s.p.tick("2026-03-02T09:00:00Z");
    let sent = s.mail.relay().wait_for(1, WAIT);
    assert_eq!(sent[0].header("Subject").as_deref(), Some("Quick question about Acme"));
    let id = sent[0].message_id().expect("Message-ID");
    s.mail.deliver(
        JANE,
        &format!(
            "From: Jane <{JANE}>\r\nTo: {USER}\r\nSubject: Re: Quick question about Acme\r\nMessage-ID: <r1@acme.test>\r\n\
             In-Reply-To: {id}\r\nReferences: {id}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\n\r\nSure, call me Thursday.\r\n"
        ),
    );
    s.p.tick("2026-03-03T09:00:00Z");
    assert_eq!(state(&s.p, JANE), "replied");
    assert_eq!(s.p.status(JANE)["inbound"][0]["kind"], "reply");
    assert_eq!(s.mail.relay().count(), 1, "no bump after the reply");
}

#[test]
fn login_by_browser_with_json_lines_oauthbearer_for_imap_and_test_send_uses_the_token() {
    let s = Setup::new("imap_mechanism = \"oauthbearer\"");
    let (first, rest, stderr, ok) = s.login(&["--flow", "browser", "--json"]);
    assert!(ok, "login failed: {stderr}\n{rest}\n{}\n{}", s.mail.log(), s.provider.log());
    let opened: Value = serde_json::from_str(&first).unwrap();
    let url = opened["authorization_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/auth?", s.provider.issuer())), "{url}");
    for needed in ["code_challenge_method=S256", "state=", "prompt=consent", "redirect_uri=http%3A%2F%2F127.0.0.1%3A"] {
        assert!(url.contains(needed), "{needed} in {url}");
    }
    let done: Value = serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("{e}: {rest}"));
    assert_eq!(done["logged_in"], "sales");
    assert_eq!(done["account"], USER);
    assert!(s.tokens()["refresh_token"].is_string());

    assert!(s.mail.log().contains("method=OAUTHBEARER"), "IMAP signed in with OAUTHBEARER: {}", s.mail.log());
    let out = s.p.ok(&["test-send", "--mailbox", "sales", "ada@seller.test"]);
    assert!(out.contains("AUTH XOAUTH2 (OAuth token) as ada@seller.test"), "{out}");
    assert_eq!(s.mail.relay().wait_for(1, WAIT)[0].header("Subject").as_deref(), Some("cadenced test message"));
}

#[test]
fn a_login_whose_token_the_servers_refuse_saves_nothing() {
    // The mailbox names another account than the one signed in: Dovecot refuses the token.
    let s = Setup::new("");
    let config = std::fs::read_to_string(s.p.path("config.toml")).unwrap();
    s.p.write(
        "config.toml",
        &config.replace("[mailboxes.sales]\n", "[mailboxes.sales]\nusername = \"bob@seller.test\"\n"),
    );
    let (_, rest, stderr, ok) = s.login(&[]);
    assert!(!ok, "{rest}");
    assert!(stderr.contains("nothing was saved"), "{stderr}");
    assert!(stderr.contains(r#"{"status":"401","schemes":"bearer","scope":"mail"}"#), "what the server said: {stderr}");
    assert!(!s.token_file().exists());
    let leftovers: Vec<_> = std::fs::read_dir(s.p.path("tokens")).unwrap().collect();
    assert!(leftovers.is_empty(), "no pending file left behind: {leftovers:?}");
}

#[test]
fn an_expired_token_is_refreshed_and_the_rotated_refresh_token_kept() {
    let s = Setup::new("");
    assert!(s.login(&[]).3);
    let leads: Vec<String> = (0..6).map(|i| format!("lead{i}@acme.test")).collect();
    for lead in &leads {
        s.enroll(lead, Some("2026-03-02T09:00:00Z"));
    }
    s.p.tick("2026-03-02T09:00:00Z");
    assert_eq!(s.mail.relay().wait_for(6, WAIT).len(), 6);

    // Expired on our side: refreshed before use, the rotated refresh token saved.
    let before = s.tokens();
    s.expire_access_token();
    s.p.tick("2026-03-03T09:00:00Z");
    let after = s.tokens();
    assert_ne!(after["access_token"], before["access_token"]);
    assert_ne!(after["refresh_token"], before["refresh_token"], "rotated");
    assert_ne!(after["refresh_used_at"], before["refresh_used_at"]);
    assert_eq!(s.mail.relay().wait_for(12, WAIT).len(), 12);

    // Refused by the server although unexpired here (a token the provider
    // does not know): one refresh, one retry, and the email goes.
    let mut t = s.tokens();
    t["access_token"] = Value::from("not-a-live-token");
    std::fs::write(s.token_file(), serde_json::to_string(&t).unwrap()).unwrap();
    let lead = "late@acme.test";
    s.enroll(lead, Some("2026-03-04T09:00:00Z"));
    s.p.tick("2026-03-04T09:00:00Z");
    assert_eq!(s.mail.relay().wait_for(13, WAIT).len(), 13);
    assert_ne!(s.tokens()["access_token"], "not-a-live-token");

    // Each lead got each step exactly once, and every Message-ID is unique.
    let received = s.mail.relay().messages();
    let mut per_lead = std::collections::BTreeMap::<String, usize>::new();
    for m in &received {
        *per_lead.entry(m.header("To").unwrap_or_default()).or_default() += 1;
    }
    for lead in &leads {
        assert_eq!(per_lead.get(lead.as_str()), Some(&2), "{lead}: {per_lead:?}");
        assert_eq!(state(&s.p, lead), "finished");
    }
    let ids: std::collections::BTreeSet<_> = received.iter().filter_map(|m| m.message_id()).collect();
    assert_eq!(ids.len(), received.len());

    // Had the old refresh token been kept, using it now would revoke the whole grant at this rotating provider.
    let stale = before["refresh_token"].as_str().unwrap();
    let reuse = s.provider.refresh(stale).unwrap_err();
    assert_eq!(reuse.error, "invalid_grant");
}

/// A `NOTIFY_SOCKET` that collects what the daemon tells systemd, read all
/// the time as systemd does (a full socket would block the daemon).
struct Notify(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Notify {
    fn bind(path: &std::path::Path) -> Notify {
        let socket = std::os::unix::net::UnixDatagram::bind(path).expect("bind NOTIFY_SOCKET");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = socket.recv(&mut buf) {
                sink.lock().expect("lock").push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        Notify(seen)
    }

    /// Waits until a message contains `needle`; returns it.
    fn expect(&self, needle: &str) -> String {
        let mut found = None;
        wait_until(&format!("a notification with {needle:?}"), || {
            found = self.0.lock().expect("lock").iter().find(|m| m.contains(needle)).cloned();
            found.is_some()
        });
        found.unwrap_or_default()
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_revoked_grant_pauses_the_mailbox_and_login_resumes_it() {
    let s = Setup::new("");
    let (table, addr) = http_config(&s.p);
    let config = std::fs::read_to_string(s.p.path("config.toml")).unwrap();
    s.p.write("config.toml", &format!("{config}{table}"));
    assert!(s.login(&[]).3);

    let socket = s.p.path("notify.sock");
    let notify = Notify::bind(&socket);
    let daemon = Killed(
        Command::new(BIN)
            .arg("--config")
            .arg(s.p.path("config.toml"))
            .arg("run")
            .env("NOTIFY_SOCKET", &socket)
            .env("CADENCED_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until("the HTTP side", || std::net::TcpStream::connect(&addr).is_ok());
    s.enroll("first@acme.test", None);
    s.mail.relay().wait_for(1, WAIT);

    // The user withdraws consent: the grant is revoked at the provider. The
    // access token still looks good here; the servers refuse it, the one
    // refresh that follows gets invalid_grant.
    let refresh = s.tokens()["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(s.provider.revoke(&refresh, "refresh_token"), 200);
    s.enroll(JANE, None);
    let lost = "sign-in for sales lost: invalid_grant";
    let status = notify.expect(lost);
    assert!(status.contains("run cadenced login sales"), "STATUS=: {status}");

    let m = s.mailbox();
    assert_eq!(m["state"], "paused");
    assert_eq!(m["pause_cause"], "sign_in");
    let reason = m["reason"].as_str().unwrap();
    assert!(reason.starts_with(lost) && reason.ends_with("; run cadenced login sales"), "{reason}");
    let jane = s.p.status(JANE);
    let e = &jane["enrollments"][0];
    assert_eq!(e["state"], "active", "no lead is blamed: {jane}");
    assert_eq!(e["next_step"], "intro");
    assert!(e["mailbox_paused"].as_str().unwrap_or_default().contains(lost), "{jane}");
    assert!(
        e["touchpoints"].as_array().unwrap().iter().all(|t| t["status"] != "failed" && t["status"] != "sent"),
        "{jane}"
    );
    let health = http::get(&addr, "/healthz", &[]);
    assert_eq!(health.status, 503);
    assert!(health.body.contains(lost), "{}", health.body);
    let metrics = http::get(&addr, "/metrics", &[]);
    assert!(metrics.body.contains("cadenced_mailbox_paused{mailbox=\"sales\"} 1"), "{}", metrics.body);
    assert_eq!(s.mail.relay().count(), 1, "nothing left while paused");

    // Signing in again resumes the mailbox within a tick, with no restart or reload.
    let (_, rest, stderr, ok) = s.login(&[]);
    assert!(ok, "{stderr}");
    assert!(rest.contains("mailbox sales resumed"), "{rest}");
    let sent = s.mail.relay().wait_for(2, WAIT);
    let to: Vec<_> = sent.iter().map(|m| m.header("To").unwrap_or_default()).collect();
    assert_eq!(to.iter().filter(|t| t.as_str() == JANE).count(), 1, "{to:?}");
    wait_until("healthy again", || http::get(&addr, "/healthz", &[]).status == 200);
    assert_eq!(s.mailbox()["state"], "active");
    wait_until("jane's intro recorded", || s.p.status(JANE)["enrollments"][0]["next_step"] == "bump");

    let mut daemon = daemon;
    crate::support::signal(daemon.0.id(), "TERM");
    let mut log = String::new();
    daemon.0.stderr.take().expect("stderr").read_to_string(&mut log).expect("read the daemon's log");
    assert!(daemon.0.wait().expect("wait").success(), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("mailbox paused, nothing leaves it: sign-in for sales lost"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("ERROR"), "the journal gets it at priority err: {line}");
}
