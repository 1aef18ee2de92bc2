//! Surviving the loss of the machine (issue 21): a database restored from a
//! `cadenced backup` file or a Litestream replica lags what really left. The
//! daemon notices, reconciles each mailbox's Sent folder (or outbox) before
//! it sends anything, and never makes a Message-ID twice. Real SQLite files,
//! the real binary, a real SMTP server, a real Dovecot Sent folder, real
//! Litestream and a real SIGKILL.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::Project;
use crate::support::dovecot::Dovecot;

pub const THREE_EMAILS: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Bump\"\nbody = \"b\"\n\
    [[steps]]\nid = \"last\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Last\"\nbody = \"b\"\n";

/// What the leads received, read from the raw messages.
#[derive(Debug, Default)]
pub struct Received {
    /// (lead, X-Cadenced-Step) -> how many times.
    pub per_step: BTreeMap<(String, String), usize>,
    pub message_ids: Vec<String>,
}

impl Received {
    pub fn of<'a>(raws: impl IntoIterator<Item = &'a str>) -> Received {
        let mut out = Received::default();
        for raw in raws {
            let header = |name: &str| {
                raw.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(|v| v.trim().to_string()))
                    .unwrap_or_else(|| panic!("no {name} in {raw}"))
            };
            *out.per_step.entry((header("To"), header("X-Cadenced-Step"))).or_default() += 1;
            out.message_ids.push(header("Message-ID"));
        }
        out
    }

    /// Leads that got one step more than once.
    pub fn twice(&self) -> Vec<&(String, String)> {
        self.per_step.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k).collect()
    }

    pub fn unique_message_ids(&self) -> bool {
        self.message_ids.iter().collect::<BTreeSet<_>>().len() == self.message_ids.len()
    }

    /// Distinct (lead, step) received.
    pub fn steps(&self) -> usize {
        self.per_step.len()
    }
}

/// The machine is lost: the database, its WAL, its send log and its send mark are gone.
pub fn lose_the_machine(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-sends", "-sendmark"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

fn leads_csv(p: &Project, n: usize) {
    let mut csv = String::from("email\n");
    for i in 0..n {
        csv.push_str(&format!("lead{i}@acme.test\n"));
    }
    p.write("leads.csv", &csv);
}

fn project_with_sent_folder() -> (Project, Dovecot) {
    let imap = Dovecot::start();
    let p = Project::new();
    // The Sent folder exists in the rep's mailbox.
    imap.deliver("Sent", "From: ada@seller.test\nTo: x@y.test\nSubject: old\nMessage-ID: <old@seller.test>\n\nold\n");
    p.write_config(&imap.mailbox_config(p.dir.path(), Some("Sent")));
    p.cadence("three", THREE_EMAILS);
    (p, imap)
}

fn instance_of(message_id: &str) -> &str {
    message_id.trim_start_matches('<').split('.').next().unwrap_or_default()
}

#[test]
fn a_day_old_backup_restored_sends_nothing_twice_and_never_reuses_a_message_id() {
    let (p, _imap) = project_with_sent_folder();
    leads_csv(&p, 20);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "three", "--at", "2026-03-02T09:00:00Z"]);
    p.tick("2026-03-02T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), 20);
    let backup = p.path("day-old.db");
    p.ok(&["backup", backup.to_str().unwrap()]);
    p.tick("2026-03-03T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), 40, "the bumps left after the backup");
    let before: BTreeSet<String> =
        Received::of(p.smtp.messages().iter().map(|m| m.data.as_str())).message_ids.into_iter().collect();

    // The disk dies; the day-old backup is restored on a new machine.
    let db = p.path("cadenced.db");
    lose_the_machine(&db);
    std::fs::copy(&backup, &db).unwrap();

    let out = p.tick("2026-03-03T10:00:00Z");
    assert!(out.contains("0 sent"), "{out}");
    assert_eq!(p.smtp.messages().len(), 40, "nothing sent again: the bumps were found in the Sent folder");
    let s = p.status("lead3@acme.test");
    let bump = &s["enrollments"][0]["touchpoints"][1];
    assert_eq!((bump["step"].as_str(), bump["status"].as_str()), (Some("bump"), Some("sent")), "{s}");
    assert!(before.contains(bump["message_id"].as_str().unwrap()), "recorded with the Message-ID it left with: {s}");
    assert_eq!(s["enrollments"][0]["next_step"], "last");
    let log = p.json(&["log", "--since", "2026-03-01", "--json"]);
    let reconciled: Vec<&serde_json::Value> =
        log["events"].as_array().unwrap().iter().filter(|e| e["what"] == "reconciled").collect();
    assert_eq!(reconciled.len(), 1, "{log}");
    let detail = reconciled[0]["detail"].as_str().unwrap();
    assert!(detail.contains("20 recorded now") && detail.contains("folder Sent"), "{detail}");

    p.tick("2026-03-04T09:00:00Z");
    let all = p.smtp.messages();
    assert_eq!(all.len(), 60);
    let received = Received::of(all.iter().map(|m| m.data.as_str()));
    assert!(received.twice().is_empty(), "a lead got a step twice: {:?}", received.twice());
    assert_eq!(received.steps(), 60, "0 steps lost: each of 20 leads got each of 3 steps");
    assert!(received.unique_message_ids(), "a Message-ID was reused");
    let old: BTreeSet<&str> = before.iter().map(|m| instance_of(m)).collect();
    let last = Received::of(all[40..].iter().map(|m| m.data.as_str()));
    assert!(last.message_ids.iter().all(|m| !old.contains(instance_of(m))), "a new instance after the restore");
}

#[test]
fn an_outbox_mailbox_reconciles_from_its_outbox_folder() {
    let p = Project::new();
    p.write(
        "config.toml",
        "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\n\n\
         [mailboxes.sales]\nfrom = \"Ada <ada@seller.test>\"\noutbox = \"outbox\"\n",
    );
    p.cadence("three", THREE_EMAILS);
    leads_csv(&p, 5);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "three", "--at", "2026-03-02T09:00:00Z"]);
    p.tick("2026-03-02T09:00:00Z");
    let backup = p.path("day-old.db");
    p.ok(&["backup", backup.to_str().unwrap()]);
    p.tick("2026-03-03T09:00:00Z");
    let db = p.path("cadenced.db");
    lose_the_machine(&db);
    std::fs::copy(&backup, &db).unwrap();
    p.tick("2026-03-03T10:00:00Z");
    p.tick("2026-03-04T09:00:00Z");
    let files: Vec<String> = std::fs::read_dir(p.path("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let received = Received::of(files.iter().map(String::as_str));
    assert_eq!(files.len(), 15, "5 leads x 3 steps, the bumps not written twice");
    assert!(received.twice().is_empty(), "{:?}", received.twice());
    assert!(received.unique_message_ids());
}

#[test]
fn a_mailbox_without_a_sent_folder_is_held_until_an_operator_confirms() {
    let p = Project::new();
    p.cadence("three", THREE_EMAILS);
    p.lead("jane@acme.test").at("2026-03-02T09:00:00Z").enroll("three");
    p.tick("2026-03-02T09:00:00Z");
    let backup = p.path("day-old.db");
    p.ok(&["backup", backup.to_str().unwrap()]);
    let db = p.path("cadenced.db");
    lose_the_machine(&db);
    std::fs::copy(&backup, &db).unwrap();

    p.tick("2026-03-03T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), 1, "held: the bump may have left already, nothing can tell");
    let e = &p.status("jane@acme.test")["enrollments"][0];
    let error = e["last_error"].as_str().unwrap();
    assert!(error.contains("held after a restore") && error.contains("--confirm-unreadable sales"), "{error}");
    let m = p.json(&["mailboxes", "--json"]);
    assert_eq!(m["mailboxes"][0]["state"], "paused", "{m}");
    let log = p.ok(&["log", "--since", "2026-03-01"]);
    assert!(log.contains("held") && log.contains("no Sent folder"), "{log}");
    // Asked again, it is still held: nothing guesses.
    p.tick("2026-03-03T09:30:00Z");
    assert_eq!(p.smtp.messages().len(), 1);

    let out = p.ok(&["reconcile", "--confirm-unreadable", "sales", "--at", "2026-03-03T10:00:00Z"]);
    assert!(out.contains("hold ended"), "{out}");
    p.tick("2026-03-03T10:00:00Z");
    assert_eq!(p.smtp.messages().len(), 2, "the confirmed mailbox sends again, at once");
    let again = p.ok(&["reconcile", "--confirm-unreadable", "sales"]);
    assert!(again.contains("not held"), "{again}");
}

#[test]
fn reconcile_on_demand_records_what_the_sent_folder_has_and_the_database_lacks() {
    let (p, _imap) = project_with_sent_folder();
    p.lead("jane@acme.test").at("2026-03-02T09:00:00Z").enroll("three");
    p.tick("2026-03-02T09:00:00Z");
    // Nothing the database lacks: nothing recorded, and it is not taken for a restore.
    let v = p.json(&["reconcile", "--json", "--at", "2026-03-02T10:00:00Z"]);
    assert_eq!(
        (v["reconciled"][0]["found"].as_i64(), v["reconciled"][0]["recorded"].as_i64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert!(v["restored"].is_null(), "{v}");

    // A whole-folder copy restored: the database and its send mark lag together, so
    // nothing beside it can tell. The operator reconciles by hand.
    let db = p.path("cadenced.db");
    let backup = p.path("copy.db");
    p.ok(&["backup", backup.to_str().unwrap()]);
    let mark = std::fs::read(p.path("cadenced.db-sendmark")).unwrap();
    p.tick("2026-03-03T09:00:00Z");
    let first_bump = Received::of(p.smtp.messages().iter().map(|m| m.data.as_str())).message_ids[1].clone();
    lose_the_machine(&db);
    std::fs::copy(&backup, &db).unwrap();
    std::fs::write(p.path("cadenced.db-sendmark"), mark).unwrap();
    let v = p.json(&["reconcile", "--since", "2026-03-02T00:00:00Z", "--json", "--at", "2026-03-03T09:30:00Z"]);
    assert_eq!(v["reconciled"][0]["recorded"], 1, "{v}");
    p.tick("2026-03-04T09:00:00Z");
    let received = Received::of(p.smtp.messages().iter().map(|m| m.data.as_str()));
    assert_eq!(p.smtp.messages().len(), 3, "intro, bump, last: the bump not again");
    assert!(received.twice().is_empty() && received.unique_message_ids(), "{received:?}");
    assert_ne!(
        instance_of(&received.message_ids[2]),
        instance_of(&first_bump),
        "a lagging database takes a new instance"
    );

    let err = p.fails(&["reconcile", "--mailbox", "nope"]);
    assert!(err.contains("unknown mailbox \"nope\""), "{err}");
}

const CHAIN: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Bump\"\nbody = \"b\"\n\
    [[steps]]\nid = \"last\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Last\"\nbody = \"b\"\n";

/// `cadenced run` on `p`, its log in `log`.
fn daemon(p: &Project, log: &Path) -> std::process::Child {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    std::process::Command::new(crate::support::BIN)
        .arg("--config")
        .arg(p.path("config.toml"))
        .arg("run")
        .env("CADENCED_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// Polls (real time, with a deadline) until no enrollment is active.
fn wait_until_finished(p: &Project, timeout: std::time::Duration, log: &Path) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let active = p.json(&["leads", "--state", "active", "--json"]);
        if active["leads"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still active: {active}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn killed_mid_run_and_restored_from_litestream_nothing_is_sent_twice() {
    use crate::support::litestream::Litestream;
    const LEADS: usize = 150;
    let (p, _imap) = project_with_sent_folder();
    p.cadence("three", CHAIN);
    leads_csv(&p, LEADS);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "three"]);
    let db = p.path("cadenced.db");
    let mut litestream = Litestream::start(p.dir.path(), &db, &p.path("replica"));
    litestream.wait_until_replicating(std::time::Duration::from_secs(20));

    let log = p.path("daemon.log");
    let mut run = daemon(&p, &log);
    // Mid-run: a third of the emails are out.
    p.smtp.wait_for(LEADS, std::time::Duration::from_secs(120));
    // The machine dies: the daemon and Litestream at once, and its disk with them.
    crate::support::signal(run.id(), "KILL");
    run.wait().unwrap();
    litestream.kill();
    let sent_before = p.smtp.messages().len();
    assert!(sent_before < 3 * LEADS, "killed mid-run, not after: {sent_before}");
    lose_the_machine(&db);
    let _ = std::fs::remove_dir_all(p.dir.path().join(".cadenced.db-litestream"));

    // A new machine: the replica restored, the daemon started.
    litestream.restore(&db);
    let mut run = daemon(&p, &log);
    wait_until_finished(&p, std::time::Duration::from_secs(180), &log);
    crate::support::signal(run.id(), "TERM");
    run.wait().unwrap();

    let all = p.smtp.messages();
    let received = Received::of(all.iter().map(|m| m.data.as_str()));
    let daemon_log = std::fs::read_to_string(&log).unwrap();
    assert!(daemon_log.contains("WAL checkpoints left to Litestream"), "{daemon_log}");
    assert!(daemon_log.contains("restored database"), "the restore was noticed: {daemon_log}");
    assert!(received.twice().is_empty(), "leads with a step twice: {:?}", received.twice());
    assert!(received.unique_message_ids(), "a Message-ID was reused");
    // Every step either reached its lead or is recorded `uncertain` (a claim the replica
    // had whose send may have left: never repeated); none is silently lost.
    let uncertain = p.db().touchpoints_with_status("uncertain");
    let sent = p.db().touchpoints_with_status("sent");
    assert_eq!(sent + uncertain, 3 * LEADS, "every step recorded once");
    assert_eq!(received.steps(), sent + uncertain - uncertain_not_received(&p, &received), "0 steps lost");
    eprintln!(
        "litestream restore: {sent_before} sent before the kill, {} after; {uncertain} uncertain; {} forced snapshots",
        all.len() - sent_before,
        litestream.forced_snapshots().len()
    );
}

/// The `uncertain` touchpoints whose email never reached the server.
fn uncertain_not_received(p: &Project, received: &Received) -> usize {
    let ids: BTreeSet<&String> = received.message_ids.iter().collect();
    p.db()
        .touchpoint_outcomes()
        .iter()
        .filter(|t| t.status == "uncertain" && t.message_id.as_ref().is_none_or(|m| !ids.contains(m)))
        .count()
}
