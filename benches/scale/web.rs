//! The report and the daemon's HTTP side at scale: what the inbox watcher
//! would have recorded about the built leads (replies, bounces,
//! unsubscribes, auto-replies, attributed to the emails they answer), then
//! `cadenced report` as a whole process and each dashboard page, `/metrics`
//! and `/healthz` over a real socket from a running daemon (`SCALE_ONLY=web`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::scale_core::population::email_of;
use super::scale_core::workdir::Workdir;

/// The admin token of the bench's daemon.
const TOKEN: &str = "bench-admin-token-0123456789abcdef";

/// What was added.
pub struct Responses {
    pub inbound: i64,
    pub seconds: f64,
}

/// Records, as the inbox watcher would (through the product's triggers), a
/// reply to the last email of every `replied` enrollment, a bounce of the
/// last email of every `bounced` one, an unsubscribe after the last email of
/// every `unsubscribed` one, and an auto-reply to one email in 40.
pub fn add_responses(path: &Path) -> Responses {
    let started = Instant::now();
    let mut conn = Connection::open(path).expect("open the database");
    conn.pragma_update(None, "synchronous", "OFF").expect("synchronous off");
    let tx = conn.transaction().expect("begin");
    // Issue 20: two variants of every intro (by touchpoint id), and one lead in ten held out of
    // the LinkedIn step, recorded through the product's triggers as the tick would.
    tx.execute_batch(
        "UPDATE touchpoints SET variant = CASE id % 2 WHEN 0 THEN 'a' ELSE 'b' END
             WHERE step = 'intro' AND kind = 'email';
         UPDATE touchpoints SET status = 'skipped', reason = 'holdout', detail = 'held out'
             WHERE step = 'linkedin-1' AND id % 10 = 0;",
    )
    .expect("record variants and holdouts");
    // Each enrollment's last email, and what its lead did about it; arrival a few hours later.
    tx.execute_batch(
        "CREATE TEMP TABLE last_email AS
             SELECT max(t.id) AS id, e.state FROM touchpoints t
             JOIN enrollments e ON e.lead_id = t.lead_id AND e.cadence = t.cadence
             WHERE t.kind = 'email' AND t.status = 'sent' AND e.state IN ('replied', 'bounced', 'unsubscribed')
             GROUP BY t.lead_id, t.cadence;
         INSERT INTO inbound (mailbox, folder, uidvalidity, uid, lead_id, kind, permanent, at, subject, message_id,
                              sender, detail, matched, touchpoint_id, cadence, step, reason, blame)
         SELECT 'sales', 'INBOX', 1, t.id, t.lead_id,
                CASE l.state WHEN 'replied' THEN 'reply' WHEN 'bounced' THEN 'bounce' ELSE 'unsubscribe' END,
                CASE l.state WHEN 'bounced' THEN 1 END,
                t.at + 600 + (t.id * 7919) % 172800, 'Re: ' || t.subject, '<in.' || t.id || '@acme.test>',
                'lead@acme.test', 'bench', 'message_id', t.id, t.cadence, t.step,
                CASE l.state WHEN 'bounced' THEN 'userunknown' END,
                CASE l.state WHEN 'bounced' THEN 'address' END
         FROM last_email l JOIN touchpoints t ON t.id = l.id;
         INSERT INTO inbound (mailbox, folder, uidvalidity, uid, lead_id, kind, at, subject, message_id, sender, detail,
                              matched, touchpoint_id, cadence, step)
         SELECT 'sales', 'INBOX', 2, t.id, t.lead_id, 'auto_reply', t.at + 60, 'Out of office', '<ooo.' || t.id || '@acme.test>',
                'lead@acme.test', 'bench', 'message_id', t.id, t.cadence, t.step
         FROM touchpoints t WHERE t.kind = 'email' AND t.status = 'sent' AND t.id % 40 = 0;
         DROP TABLE last_email;",
    )
    .expect("record the responses");
    // Outcomes: a meeting for one reply in five, a deal won (with its value) for one in twenty.
    tx.execute_batch(
        "INSERT INTO outcomes (lead_id, outcome, value, at, source, touchpoint_id, cadence, step, variant, recorded_at)
         SELECT i.lead_id, CASE WHEN i.id % 20 = 0 THEN 'won' ELSE 'meeting' END,
                CASE WHEN i.id % 20 = 0 THEN 1000 + i.id % 5000 END, i.at + 86400, 'api', t.id, t.cadence, t.step,
                t.variant, i.at + 86400
         FROM inbound i JOIN touchpoints t ON t.id = i.touchpoint_id
         WHERE i.kind = 'reply' AND i.id % 5 = 0;",
    )
    .expect("record the outcomes");
    let inbound = tx.query_row("SELECT count(*) FROM inbound", [], |r| r.get(0)).expect("count inbound");
    tx.commit().expect("commit");
    Responses { inbound, seconds: started.elapsed().as_secs_f64() }
}

/// `cadenced run` on `work` with its HTTP side on a free port.
pub struct Daemon {
    child: Child,
    pub addr: String,
}

impl Daemon {
    /// Starts it and waits for its first tick to end (it sends what is due
    /// at the real time), so that the pages are measured on an idle daemon.
    pub fn start(bin: &Path, work: &Workdir) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let addr = format!("127.0.0.1:{port}");
        let token = work.dir.join("admin.token");
        std::fs::write(&token, TOKEN).expect("token file");
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
        let base = std::fs::read_to_string(work.config()).expect("config");
        let config = work.dir.join("config-http.toml");
        std::fs::write(
            &config,
            format!(
                "{base}\n[http]\nlisten = \"{addr}\"\npublic_url = \"https://go.example.test\"\ntoken_file = \"admin.token\"\n"
            ),
        )
        .expect("write the config");
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("CADENCED_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cadenced run");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.contains("tick done") || line.contains("tick failed") {
                break;
            }
        }
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Daemon { child, addr }
    }

    /// `GET path` with the admin token; the seconds from connecting to the
    /// last byte of the answer, and the answer's status and body.
    pub fn get(&self, path: &str) -> (f64, u16, String) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the daemon");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("send the request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read the answer");
        let seconds = started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (seconds, status, body)
    }

    /// `times` timed GETs of `path`, each answered 200.
    pub fn time(&self, path: &str, times: usize) -> Vec<f64> {
        (0..times)
            .map(|_| {
                let (seconds, status, body) = self.get(path);
                assert_eq!(status, 200, "GET {path}: {body}");
                seconds
            })
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// The pages measured: (figure, path).
pub fn pages(leads: usize, month_ago: &str) -> Vec<(String, String)> {
    let probe = email_of(leads / 2 + 1);
    let prefix = probe.split('@').next().unwrap_or_default()[..10].to_string();
    vec![
        ("dashboard `/` (every funnel, mailboxes, today, next 24 h)".into(), "/".into()),
        ("dashboard, last 30 days `/?since=...`".into(), format!("/?since={month_ago}")),
        (format!("lead search `/leads?q={prefix}`"), format!("/leads?q={prefix}")),
        ("lead timeline `/leads/EMAIL`".into(), format!("/leads/{probe}")),
        ("`/metrics`".into(), "/metrics".into()),
        ("`/healthz`".into(), "/healthz".into()),
    ]
}
