//! Running for months: crash safety under SIGKILL, systemd notifications,
//! hot reload, SMTP outages, backups and operator commands.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::db::Db;
use crate::support::{BIN, Fault, Project, SmtpServer, repo, signal};

/// Collects a child's stderr lines as they come.
struct Log(Arc<Mutex<String>>);

impl Log {
    fn follow(child: &mut Child) -> Log {
        let text = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&text);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut t = sink.lock().unwrap();
                t.push_str(&line);
                t.push('\n');
            }
        });
        Log(text)
    }

    /// Waits (bounded) until the log contains `needle`; returns the log.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.0.lock().unwrap().clone();
            if text.contains(needle) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A small deterministic generator for kill instants (seeded, printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

#[test]
fn sigkill_at_random_instants_never_sends_twice_and_loses_nothing() {
    const LEADS: usize = 300;
    const KILLS: usize = 25;
    let p = Project::new();
    p.cadence(
        "burst",
        "[[steps]]\nid = \"one\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"One\"\nbody = \"b\"\n\
         [[steps]]\nid = \"two\"\nwait = \"0m\"\nkind = \"email\"\nsubject = \"Two\"\nbody = \"b\"\n",
    );
    let mut csv = String::from("email\n");
    for i in 0..LEADS {
        csv.push_str(&format!("lead{i}@acme.test\n"));
    }
    p.write("leads.csv", &csv);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "burst"]);

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill instants seed: {seed}");
    let mut rng = Rng(seed);
    for _ in 0..KILLS {
        let mut child = p.spawn_daemon(&[("CADENCED_LOG", "warn")]);
        std::thread::sleep(Duration::from_millis(rng.next(20, 400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    // Restarted once more, to the end.
    for _ in 0..10 {
        p.ok(&["tick"]);
        if p.db().enrollments_in_state("active") == 0 {
            break;
        }
    }

    let arrived = p.smtp.messages();
    let ids: Vec<String> = arrived.iter().map(|m| m.message_id().unwrap()).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a Message-ID arrived twice (seed {seed})");

    let rows: Vec<(String, Option<String>)> =
        p.db().touchpoint_outcomes().into_iter().map(|t| (t.status, t.message_id)).collect();
    assert_eq!(rows.len(), 2 * LEADS, "every due step has its touchpoint (seed {seed})");
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for (status, _) in &rows {
        *by_status.entry(status.as_str()).or_default() += 1;
    }
    assert!(by_status.keys().all(|s| ["sent", "failed", "uncertain"].contains(s)), "{by_status:?}");
    let uncertain = by_status.get("uncertain").copied().unwrap_or(0);
    assert!(uncertain <= KILLS, "{uncertain} uncertain sends after {KILLS} kills (seed {seed})");
    let recorded: BTreeSet<&str> = rows.iter().filter_map(|(_, m)| m.as_deref()).collect();
    for (status, id) in &rows {
        if status == "sent" {
            assert!(unique.contains(id.as_ref().unwrap()), "recorded sent but never arrived: {id:?}");
        }
    }
    for id in &ids {
        assert!(recorded.contains(id.as_str()), "arrived but not recorded: {id}");
    }
    eprintln!("{KILLS} kills: {by_status:?}, {} arrived", ids.len());
}

#[test]
fn the_daemon_tells_systemd_ready_watchdog_reloading_and_stopping() {
    let p = Project::new();
    p.cadence("c", "[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n");
    let socket_path = p.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // WATCHDOG_PID must be the daemon's own pid, as systemd sets it: exec keeps the shell's.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("WATCHDOG_PID=$$ exec '{BIN}' --config '{}' run", p.path("config.toml").display()))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut expect = |needle: &str| {
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("waiting for {needle}: {e}; seen {seen:?}"));
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push(msg.clone());
            if msg.lines().any(|l| l == needle) {
                return msg;
            }
        }
    };
    let ready = expect("READY=1");
    assert!(ready.contains("STATUS="), "{ready}");
    expect("WATCHDOG=1");
    signal(child.id(), "HUP");
    let reloading = expect("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    expect("READY=1");
    signal(child.id(), "TERM");
    expect("STOPPING=1");
    assert!(child.wait().unwrap().success());
}

#[test]
fn sighup_keeps_the_last_good_cadence_and_picks_up_a_good_edit() {
    let p = Project::new();
    let version = |v: &str| {
        format!("[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Version {v}\"\nbody = \"b\"\n")
    };
    p.cadence("c", &version("one"));
    p.lead("one@acme.test").enroll("c");
    p.lead("two@acme.test").enroll("c");
    p.ok(&["pause", "two@acme.test"]);
    let mut child = p.spawn_daemon(&[]);
    let log = Log::follow(&mut child);
    assert_eq!(p.smtp.wait_for(1, Duration::from_secs(30)).len(), 1);

    p.cadence("c", "[[steps]]\nid = \"a\"\nwiat = \"0d\"\n");
    signal(child.id(), "HUP");
    let text = log.wait_for("keeping the last good version");
    assert!(text.contains("c.toml:3:1: unknown field `wiat`"), "{text}");
    assert!(text.contains("keeping the last good version"), "{text}");
    p.ok(&["resume", "two@acme.test"]);
    let got = p.smtp.wait_for(2, Duration::from_secs(30));
    assert_eq!(got[1].header("Subject").as_deref(), Some("Version one"), "sent with the last good version");

    p.cadence("c", &version("two"));
    signal(child.id(), "HUP");
    log.wait_for("reloaded\n");
    p.lead("three@acme.test").enroll("c");
    let got = p.smtp.wait_for(3, Duration::from_secs(30));
    assert_eq!(got[2].header("Subject").as_deref(), Some("Version two"));
    signal(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
}

fn steps(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| {
            format!("[[steps]]\nid = \"{id}\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"{id}\"\nbody = \"b\"\n")
        })
        .collect()
}

#[test]
fn an_edited_cadence_moves_leads_on_by_step_id() {
    let p = Project::new();
    p.cadence("c", &steps(&["a", "b", "c"]));
    p.lead("lead@acme.test").at("2026-03-01T09:00:00Z").enroll("c");
    p.tick("2026-03-02T09:00:00Z");
    // The lead's next step b is removed, and d is added at the end.
    p.cadence("c", &steps(&["a", "c", "d"]));
    p.tick("2026-03-03T09:00:00Z");
    let t = p.timeline("lead@acme.test");
    assert_eq!((t[1].0.as_str(), t[1].1.as_str(), t[1].3.as_deref()), ("b", "skipped", Some("removed")));
    let s = p.status("lead@acme.test");
    assert_eq!(s["enrollments"][0]["next_step"], "c", "the first later step the lead has not had");
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-04T09:00:00Z");
    // A step inserted behind the lead is not sent to it.
    p.cadence("c", &steps(&["a", "a0", "c", "d"]));
    p.run_until_idle();
    let got: Vec<_> = p.timeline("lead@acme.test").into_iter().map(|(s, st, _, _)| format!("{s}:{st}")).collect();
    assert_eq!(got, ["a:sent", "b:skipped", "c:sent", "d:sent"], "a0 is behind the lead, d is picked up");
}

#[test]
fn a_removed_cadence_leaves_its_leads_orphaned_until_it_returns() {
    let p = Project::new();
    p.cadence("c", &steps(&["a", "b"]));
    p.lead("lead@acme.test").at("2026-03-01T09:00:00Z").enroll("c");
    p.tick("2026-03-02T09:00:00Z");
    std::fs::remove_file(p.path("cadences/c.toml")).unwrap();
    p.cadence("other", &steps(&["x"]));
    let check = p.ok(&["check"]);
    assert!(check.contains("1 active or paused lead(s) in cadence \"c\", whose file is gone"), "{check}");
    let s = p.status("lead@acme.test");
    assert_eq!(s["enrollments"][0]["orphaned"], true);
    p.tick("2026-03-05T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), 1, "an orphaned lead is left alone");
    assert_eq!(p.status("lead@acme.test")["enrollments"][0]["state"], "active");
    p.cadence("c", &steps(&["a", "b"]));
    p.tick("2026-03-05T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), 2, "it resumes when the file returns");
}

#[test]
fn with_the_smtp_server_down_for_an_hour_nothing_is_lost_or_doubled() {
    let p = Project::new();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = std::fs::read_to_string(p.path("config.toml"))
        .unwrap()
        .replace(&p.smtp.url(), &format!("smtp://127.0.0.1:{port}"));
    p.write("config.toml", &config);
    p.cadence("c", &steps(&["a"]).replace("1d", "0d"));
    for i in 0..5 {
        p.lead(&format!("lead{i}@acme.test")).at("2026-03-02T09:00:00Z").enroll("c");
    }
    let out = p.run(&["tick", "--at", "2026-03-02T09:00:00Z"]);
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.matches("mailbox unavailable").count(), 1, "logged once, not once per step:\n{log}");
    // An hour of ticks every few minutes with the server down: nothing fails, nothing is recorded.
    for minute in (5..=60).step_by(5) {
        p.tick(&format!("2026-03-02T{:02}:{:02}:00Z", 9 + minute / 60, minute % 60));
    }
    assert_eq!(p.db().touchpoints(), 0);
    assert_eq!(p.db().enrollments_without_attempts("active"), 5);
    let server = SmtpServer::start_on(port);
    p.tick("2026-03-02T10:05:00Z");
    assert_eq!(server.messages().len(), 5, "caught up when it returned");
    p.tick("2026-03-02T10:06:00Z");
    assert_eq!(server.messages().len(), 5);
    assert_eq!(p.db().touchpoints_with_status("sent"), 5);
}

#[test]
fn line_breaks_in_a_leads_fields_never_reach_a_header() {
    let p = Project::new();
    p.cadence(
        "c",
        "[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi {{ first_name }}\"\nbody = \"b\"\n",
    );
    p.lead("lead@acme.test").field("first_name", "Eve\r\nBcc: victim@evil.test").at("2026-03-02T09:00:00Z").enroll("c");
    p.tick("2026-03-02T09:00:00Z");
    let m = &p.smtp.messages()[0];
    assert_eq!(m.rcpt_to, ["lead@acme.test"]);
    assert_eq!(m.header("Bcc"), None);
    assert!(m.header("Subject").unwrap().starts_with("Hi Eve"), "{:?}", m.header("Subject"));
}

#[test]
fn backup_makes_a_consistent_private_copy() {
    let p = Project::new();
    p.cadence("c", &steps(&["a"]).replace("1d", "0d"));
    p.lead("lead@acme.test").at("2026-03-02T09:00:00Z").enroll("c");
    p.tick("2026-03-02T09:00:00Z");
    let copy = p.path("backup.db");
    let out = p.ok(&["backup", copy.to_str().unwrap()]);
    assert!(out.contains("backed up"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o077, 0);
    assert_eq!(Db::open(&copy).touchpoints_with_status("sent"), 1);
    let err = p.fails(&["backup", copy.to_str().unwrap()]);
    assert!(err.contains("file exists"), "{err}");
}

#[test]
fn test_send_reports_each_smtp_step() {
    let p = Project::new();
    p.cadence("c", &steps(&["a"]));
    let out = p.ok(&["test-send", "--mailbox", "sales", "me@seller.test"]);
    for step in ["ok   connect to 127.0.0.1", "ok   MAIL FROM", "ok   RCPT TO me@seller.test", "ok   DATA: 250"] {
        assert!(out.contains(step), "{step:?} in {out}");
    }
    assert_eq!(p.smtp.messages().len(), 1);
    assert_eq!(p.smtp.messages()[0].rcpt_to, ["me@seller.test"]);
    p.smtp.set_faults(vec![Fault::RejectRcpt {
        address_contains: "me@".into(),
        code: 550,
        text: "5.1.1 no such user".into(),
    }]);
    let out = p.run(&["test-send", "--mailbox", "sales", "me@seller.test"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL RCPT TO me@seller.test") && stdout.contains("no such user"), "{stdout}");
    let err = p.fails(&["test-send", "--mailbox", "nope", "me@seller.test"]);
    assert!(err.contains("unknown mailbox \"nope\""), "{err}");
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let out = Command::new(BIN).args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("_cadenced") && text.contains("test-send"), "{text}");
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(".TH cadenced") && text.contains("backup"), "{text}");
}

#[test]
fn the_unit_file_is_hardened_and_verifies() {
    let unit = repo().join("systemd/cadenced.service");
    let out = Command::new("systemd-analyze").args(["security", "--offline=yes"]).arg(&unit).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for cadenced.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    assert!(score <= 2.0, "exposure {score}:\n{text}");
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&unit).unwrap().replace("/usr/local/bin/cadenced", BIN);
    let copy = dir.path().join("cadenced.service");
    std::fs::write(&copy, text).unwrap();
    // verify also runs `man` for Documentation=: the page installed as the README says.
    std::fs::create_dir(dir.path().join("man1")).unwrap();
    let page = Command::new(BIN).arg("man").output().unwrap().stdout;
    std::fs::write(dir.path().join("man1/cadenced.1"), page).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).env("MANPATH", dir.path()).output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn after_a_crash_the_send_log_tells_what_left_and_what_never_started() {
    use cadenced::store::{Content, NewSend, SendLog, Store};
    let p = Project::new();
    p.cadence("one", "[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"b\"\n");
    p.write("leads.csv", "email\na@acme.test\nb@acme.test\nc@acme.test\n");
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "one", "--at", "2026-03-02T10:00:00Z"]);
    // What a process killed during a group leaves: three claims, the first sent
    // and logged but not recorded, the second started, the third never tried.
    let db = p.path("cadenced.db");
    let now = cadenced::time::parse_instant("2026-03-02T10:00:00Z").unwrap();
    let mut store = Store::open(&db).unwrap();
    let due = store.due_steps(now, &["one".to_string()], 10).unwrap();
    let claims: Vec<NewSend<'_>> = due
        .iter()
        .map(|d| NewSend {
            due: d,
            mailbox: "sales",
            domain: "seller.test",
            content: Content { subject: Some("Hi"), body: "b" },
            variant: None,
        })
        .collect();
    let (claimed, group) = store.commit_group(&[], &[], &claims, now).unwrap();
    let ids: Vec<i64> = claimed.iter().map(|c| c.as_ref().unwrap().0).collect();
    let mut log = SendLog::open(&db).unwrap();
    log.group(&group.unwrap()).unwrap();
    log.start(ids[0]).unwrap();
    log.end(ids[0], &cadenced::model::Ended::Sent).unwrap();
    log.start(ids[1]).unwrap();
    drop((log, store));

    p.tick("2026-03-02T10:00:30Z");
    let status = |email: &str| p.status(email)["enrollments"][0]["touchpoints"][0]["status"].clone();
    assert_eq!(status(&due[0].email), "sent", "recorded from the log, not sent again");
    assert_eq!(status(&due[1].email), "uncertain", "it may have left: never repeated");
    assert_eq!(status(&due[2].email), "sent", "it never started: sent now");
    let arrived: Vec<Vec<String>> = p.smtp.messages().into_iter().map(|m| m.rcpt_to).collect();
    assert_eq!(arrived, [vec![due[2].email.clone()]]);
    assert_eq!(std::fs::read(p.path("cadenced.db-sends")).unwrap(), b"", "the log is emptied once recorded");
    assert_eq!(p.db().touchpoints_with_content("Hi", "b"), 3, "content kept");
}
