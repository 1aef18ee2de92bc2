//! The daemon under a service manager, for real: the watchdog and a reload
//! during a long tick against a slow SMTP server (with a `NOTIFY_SOCKET`
//! the test binds), and log lines as journal entries (with a journal socket
//! the test binds, read with the journal's native protocol).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{BIN, Fault, Project, signal};

/// A `NOTIFY_SOCKET` the daemon writes to.
struct Notify {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Notify {
    fn bind(path: &Path) -> Notify {
        let socket = UnixDatagram::bind(path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Notify { socket, seen: Vec::new() }
    }

    /// The next notification (bounded wait).
    fn next(&mut self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).unwrap_or_else(|e| panic!("no notification: {e}; seen {:?}", self.seen));
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        self.seen.push(message.clone());
        message
    }

    /// Waits for a notification with the line `line`.
    fn expect(&mut self, line: &str) -> String {
        loop {
            let message = self.next();
            if message.lines().any(|l| l == line) {
                return message;
            }
        }
    }
}

/// A running daemon, killed if the test fails before it stops it.
struct Daemon(Child);

impl Daemon {
    fn signal(&self, name: &str) {
        signal(self.0.id(), name);
    }

    /// SIGTERM, and the daemon's exit status is success.
    fn stop(mut self) {
        self.signal("TERM");
        assert!(self.0.wait().unwrap().success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `cadenced run` on `p` as systemd starts it: `NOTIFY_SOCKET`, and with
/// `watchdog_usec` the watchdog's variables (`WATCHDOG_PID` must be the
/// daemon's own pid: `exec` keeps the shell's).
fn start(p: &Project, notify: &Path, watchdog_usec: Option<u64>) -> Daemon {
    let mut command = Command::new("sh");
    let watchdog = match watchdog_usec {
        Some(usec) => format!("WATCHDOG_USEC={usec} WATCHDOG_PID=$$ "),
        None => String::new(),
    };
    command
        .arg("-c")
        .arg(format!("{watchdog}exec '{BIN}' --config '{}' run", p.path("config.toml").display()))
        .env("NOTIFY_SOCKET", notify)
        .env("CADENCED_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Daemon(command.spawn().unwrap())
}

/// `leads` leads enrolled in cadence `c`, whose one step sends at once with subject `subject`.
fn many_leads(p: &Project, leads: usize, subject: &str) {
    p.cadence("c", &one_step(subject));
    let csv: String =
        std::iter::once("email\n".to_string()).chain((0..leads).map(|i| format!("lead{i}@acme.test\n"))).collect();
    p.write("leads.csv", &csv);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "c"]);
}

fn one_step(subject: &str) -> String {
    format!("[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"{subject}\"\nbody = \"b\"\n")
}

#[test]
fn watchdog_pings_keep_coming_while_a_long_tick_sends() {
    // The failure this is about: 300 emails to a server taking 10 ms each,
    // WATCHDOG_USEC=2s, and no WATCHDOG=1 while they went out.
    const LEADS: usize = 300;
    let p = Project::new();
    p.smtp.set_faults(vec![Fault::Slow { millis: 10 }]);
    many_leads(&p, LEADS, "Hello");
    let mut notify = Notify::bind(&p.path("notify.sock"));
    let daemon = start(&p, &p.path("notify.sock"), Some(2_000_000));
    notify.expect("READY=1");
    // How many emails the server had taken when each ping arrived, until the tick's own report.
    let mut at_pings = vec![0];
    let mut statuses = Vec::new();
    loop {
        let message = notify.next();
        if message.lines().any(|l| l == "WATCHDOG=1") {
            at_pings.push(p.smtp.messages().len());
            statuses.extend(message.lines().filter_map(|l| l.strip_prefix("STATUS=")).map(str::to_string));
        }
        if message.contains(&format!("{LEADS} sent")) {
            break;
        }
    }
    daemon.stop();
    assert_eq!(p.smtp.messages().len(), LEADS);
    // Each send takes at least 10 ms, so 200 sends without a ping would be
    // 2 s of silence: systemd's kill. The daemon pings every second.
    eprintln!("sent at each ping: {at_pings:?}");
    let gaps: Vec<usize> = at_pings.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|&g| g <= 200), "sends between pings: {gaps:?} (sent at each ping: {at_pings:?})");
    let while_sending = at_pings.iter().filter(|&&n| n > 0 && n < LEADS).count();
    assert!(while_sending >= 2, "pings while sending: {while_sending} (sent at each ping: {at_pings:?})");
    // Each ping during the tick carries how far it has come.
    let counts: Vec<u64> = statuses
        .iter()
        .filter_map(|s| s.strip_prefix("tick in progress since "))
        .filter_map(|s| s.split(": ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(counts.len() >= 2, "{statuses:?}");
    assert!(counts.iter().any(|&n| n > 0 && n < LEADS as u64), "{statuses:?}");
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{statuses:?}");
    // ... out of the steps due as it began.
    assert!(statuses.iter().any(|s| s.contains(&format!(" of {LEADS} due sent so far"))), "{statuses:?}");
}

#[test]
fn a_reload_mid_tick_takes_effect_between_sends() {
    const LEADS: usize = 300;
    let p = Project::new();
    p.smtp.set_faults(vec![Fault::Slow { millis: 10 }]);
    many_leads(&p, LEADS, "Version one");
    let mut notify = Notify::bind(&p.path("notify.sock"));
    let daemon = start(&p, &p.path("notify.sock"), None);
    notify.expect("READY=1");
    assert!(p.smtp.wait_for(20, Duration::from_secs(60)).len() >= 20);

    p.cadence("c", &one_step("Version two"));
    daemon.signal("HUP");
    let reloading = notify.expect("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    notify.expect("READY=1");
    let at_ready = p.smtp.messages().len();
    assert!(at_ready < LEADS, "READY=1 came only after all {LEADS} were sent");

    let got = p.smtp.wait_for(LEADS, Duration::from_secs(120));
    assert_eq!(got.len(), LEADS);
    daemon.stop();
    let got = p.smtp.messages();
    assert_eq!(got.len(), LEADS, "nothing sent twice");
    let leads: BTreeSet<&String> = got.iter().flat_map(|m| &m.rcpt_to).collect();
    assert_eq!(leads.len(), LEADS, "each lead once");
    let subjects: Vec<String> = got.iter().map(|m| m.header("Subject").unwrap()).collect();
    let first_new = subjects.iter().position(|s| s == "Version two").expect("the new cadence was used");
    assert!(first_new >= 20, "sent before the reload: {first_new}");
    assert!(first_new <= at_ready, "READY=1 at {at_ready} sent, first new at {first_new}");
    assert!(
        subjects[first_new..].iter().all(|s| s == "Version two"),
        "after the reload, only the new version: {:?}",
        subjects[first_new..].iter().filter(|s| *s != "Version two").count()
    );
}

/// A journald stand-in: the socket the daemon is told to use, and the
/// entries read from it with the native protocol.
struct JournalSocket {
    socket: UnixDatagram,
    entries: Vec<BTreeMap<String, String>>,
}

impl JournalSocket {
    fn bind(path: &Path) -> JournalSocket {
        let socket = UnixDatagram::bind(path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        JournalSocket { socket, entries: Vec::new() }
    }

    /// Waits for an entry whose MESSAGE contains `needle`.
    fn expect(&mut self, needle: &str) -> BTreeMap<String, String> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.socket.recv(&mut buf).unwrap_or_else(|e| {
                let messages: Vec<_> = self.entries.iter().map(|e| e.get("MESSAGE")).collect();
                panic!("no entry with {needle:?}: {e}; got {messages:?}")
            });
            if n == 0 {
                continue; // the daemon's "is anyone there" probe
            }
            let entry = parse_entry(&buf[..n]);
            self.entries.push(entry.clone());
            if entry.get("MESSAGE").is_some_and(|m| m.contains(needle)) {
                return entry;
            }
        }
    }
}

/// One datagram of the journal's native protocol: `NAME=value\n`, or
/// `NAME\n`, a little-endian u64 length, the value and `\n`.
fn parse_entry(mut data: &[u8]) -> BTreeMap<String, String> {
    let mut entry = BTreeMap::new();
    while !data.is_empty() {
        let end = data.iter().position(|&b| b == b'\n').expect("a field ends with a line break");
        let line = &data[..end];
        let (name, value) = match line.iter().position(|&b| b == b'=') {
            Some(eq) => {
                let field = (&line[..eq], &line[eq + 1..]);
                data = &data[end + 1..];
                field
            }
            None => {
                let len = u64::from_le_bytes(data[end + 1..end + 9].try_into().unwrap()) as usize;
                let value = &data[end + 9..end + 9 + len];
                assert_eq!(data[end + 9 + len], b'\n', "a binary field ends with a line break");
                data = &data[end + 10 + len..];
                (line, value)
            }
        };
        let name = String::from_utf8(name.to_vec()).unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') && !name.starts_with('_'),
            "not a journal field name: {name:?}"
        );
        entry.insert(name, String::from_utf8_lossy(value).into_owned());
    }
    entry
}

/// A file to be the daemon's stderr, and the `JOURNAL_STREAM` value naming it.
fn stream(p: &Project) -> (std::fs::File, String) {
    let file = std::fs::File::create(p.path("stderr.log")).unwrap();
    let meta = file.metadata().unwrap();
    let name = format!("{}:{}", meta.dev(), meta.ino());
    (file, name)
}

#[test]
fn under_systemd_log_lines_are_journal_entries_with_priorities_and_fields() {
    let p = Project::new();
    p.cadence("c", &one_step("Hello"));
    p.ok(&["enroll", "jane@acme.test", "--cadence", "c"]);
    let mut journal = JournalSocket::bind(&p.path("journal.sock"));
    let (stderr, journal_stream) = stream(&p);
    let daemon = Daemon(
        Command::new(BIN)
            .arg("--config")
            .arg(p.path("config.toml"))
            .arg("run")
            .env("JOURNAL_STREAM", journal_stream)
            .env("CADENCED_JOURNAL_SOCKET", p.path("journal.sock"))
            .env_remove("CADENCED_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );

    let started = journal.expect("cadenced started");
    assert_eq!(started["PRIORITY"], "6", "INFO: {started:?}");
    assert_eq!(started["SYSLOG_IDENTIFIER"], "cadenced");
    let sent = journal.expect("sent");
    let message_id = p.smtp.messages()[0].message_id().unwrap();
    assert_eq!(sent["PRIORITY"], "6", "{sent:?}");
    assert_eq!(sent["LEAD"], "jane@acme.test");
    assert_eq!(sent["CADENCE"], "c");
    assert_eq!(sent["STEP"], "a");
    assert_eq!(sent["EMAIL_MESSAGE_ID"], message_id);
    // One line as on a terminal, without a timestamp of its own (journald stamps it).
    assert_eq!(sent["MESSAGE"], format!("sent lead=jane@acme.test cadence=c step=a message_id={message_id}"));

    p.cadence("c", "[[steps]]\nid = \"a\"\nwiat = \"0d\"\n");
    daemon.signal("HUP");
    let error = journal.expect("unknown field `wiat`");
    assert_eq!(error["PRIORITY"], "3", "ERROR: {error:?}");
    let warning = journal.expect("keeping the last good version");
    assert_eq!(warning["PRIORITY"], "4", "WARN: {warning:?}");
    assert_eq!(warning["CADENCE"], "c");
    daemon.stop();
    journal.expect("cadenced stopped");
    let stderr = std::fs::read_to_string(p.path("stderr.log")).unwrap();
    assert_eq!(stderr, "", "every line went to the journal, once");
}

/// `cadenced tick` (one email sent) with `JOURNAL_STREAM` and the journal
/// socket as given; returns its stderr.
fn tick_stderr(p: &Project, journal_stream: Option<&str>, socket: &Path) -> String {
    let (stderr, own_stream) = stream(p);
    let status = Command::new(BIN)
        .arg("--config")
        .arg(p.path("config.toml"))
        .arg("tick")
        .env("JOURNAL_STREAM", journal_stream.unwrap_or(&own_stream))
        .env("CADENCED_JOURNAL_SOCKET", socket)
        .env_remove("CADENCED_LOG")
        .stderr(stderr)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(p.path("stderr.log")).unwrap()
}

#[test]
fn without_the_journal_socket_lines_go_to_stderr_with_priority_prefixes() {
    let p = Project::new();
    p.cadence("c", &one_step("Hello"));
    p.ok(&["enroll", "jane@acme.test", "--cadence", "c"]);
    p.ok(&["enroll", "joe@acme.test", "--cadence", "c"]);
    let text = tick_stderr(&p, None, &p.path("no-journal-here.sock"));
    assert!(text.starts_with("<4>cannot open the journal socket"), "{text}");
    assert!(text.contains("\n<6>sent lead=jane@acme.test cadence=c step=a message_id=<"), "{text}");
    assert!(text.lines().all(|l| l.starts_with("<4>") || l.starts_with("<6>")), "{text}");

    // JOURNAL_STREAM inherited from elsewhere (it names another file): stderr as today.
    p.ok(&["enroll", "bob@acme.test", "--cadence", "c"]);
    let text = tick_stderr(&p, Some("1:1"), &p.path("no-journal-here.sock"));
    assert!(!text.contains("<6>") && !text.contains("<4>"), "{text}");
    assert!(text.contains(" INFO ") && text.contains("sent lead=bob@acme.test"), "{text}");
}

/// Runs the shipped unit's `ExecReload=` commands in order, as systemd does
/// for `systemctl reload`, for project `p` and daemon `pid`; stops at the
/// first that fails. Returns whether all succeeded, and their output.
fn systemctl_reload(p: &Project, pid: u32) -> (bool, String) {
    let unit = std::fs::read_to_string(crate::support::repo().join("systemd/cadenced.service")).unwrap();
    let mut output = String::new();
    for line in unit.lines().filter_map(|l| l.strip_prefix("ExecReload=")) {
        let line = line
            .replace("/usr/local/bin/cadenced", BIN)
            .replace("/etc/cadenced/config.toml", p.path("config.toml").to_str().unwrap())
            .replace("$MAINPID", &pid.to_string());
        let argv: Vec<&str> = line.split_whitespace().collect();
        let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return (false, output);
        }
    }
    (true, output)
}

#[test]
fn a_reload_that_cannot_be_applied_fails_and_status_names_it() {
    let p = Project::new();
    p.cadence("c", &one_step("Hello"));
    let mut notify = Notify::bind(&p.path("notify.sock"));
    let daemon = start(&p, &p.path("notify.sock"), None);
    notify.expect("READY=1");
    let good = std::fs::read_to_string(p.path("config.toml")).unwrap();
    p.write("config.toml", &good.replace("tick_interval", "tick_intervall"));

    // `systemctl reload`: `check` fails first, and the daemon is not signalled.
    let (ok, output) = systemctl_reload(&p, daemon.0.id());
    assert!(!ok, "a broken config must fail the reload:\n{output}");
    assert!(output.contains("config.toml:4:1") && output.contains("tick_intervall"), "{output}");

    // A SIGHUP all the same (`kill -HUP`): the running config stays, and STATUS= says why.
    daemon.signal("HUP");
    notify.expect("RELOADING=1");
    let ready = notify.expect("READY=1");
    let status = ready.lines().find_map(|l| l.strip_prefix("STATUS=")).unwrap_or_default();
    assert!(status.starts_with("reload failed, running the previous config: "), "{ready}");
    assert!(status.contains("config.toml:4:1"), "{ready}");

    p.write("config.toml", &good);
    let (ok, output) = systemctl_reload(&p, daemon.0.id());
    assert!(ok, "{output}");
    notify.expect("RELOADING=1");
    let ready = notify.expect("READY=1");
    assert!(!ready.contains("reload failed"), "a good reload clears it: {ready}");
    assert!(ready.contains("STATUS=1 cadences; "), "{ready}");

    // A broken cadence, by SIGHUP: its last good version runs, and STATUS= says so.
    p.cadence("c", "[[steps]]\nid = \"a\"\nwiat = \"0d\"\n");
    daemon.signal("HUP");
    let ready = notify.expect("READY=1");
    let status = ready.lines().find_map(|l| l.strip_prefix("STATUS=")).unwrap_or_default();
    assert!(status.starts_with("reload: "), "{ready}");
    assert!(status.contains("c.toml:3:1: unknown field `wiat`"), "{ready}");
    assert!(status.contains("; running its last good version; 1 cadences; "), "{ready}");
    daemon.stop();
}

#[test]
fn under_systemd_a_daemon_that_cannot_start_says_why_in_an_error_entry() {
    let p = Project::new();
    p.cadence("c", &one_step("Hello"));
    let good = std::fs::read_to_string(p.path("config.toml")).unwrap();
    p.write("config.toml", &good.replace("tick_interval", "tick_intervall"));
    let mut journal = JournalSocket::bind(&p.path("journal.sock"));
    let (stderr, journal_stream) = stream(&p);
    let status = Command::new(BIN)
        .arg("--config")
        .arg(p.path("config.toml"))
        .arg("run")
        .env("JOURNAL_STREAM", journal_stream)
        .env("CADENCED_JOURNAL_SOCKET", p.path("journal.sock"))
        .stdin(Stdio::null())
        .stderr(stderr)
        .status()
        .unwrap();
    assert!(!status.success());
    let entry = journal.expect("cannot start");
    assert_eq!(entry["PRIORITY"], "3", "{entry:?}");
    assert!(entry["MESSAGE"].contains("config.toml:4:1") && entry["MESSAGE"].contains("tick_intervall"), "{entry:?}");
    assert_eq!(std::fs::read_to_string(p.path("stderr.log")).unwrap(), "", "said once, in the journal");
}

#[test]
fn check_errors_under_the_journal_are_error_entries() {
    let p = Project::new();
    p.cadence("bad", "[[steps]]\nid = \"a\"\nwait = \"2x\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n");
    let run = |journal: bool| {
        let (file, journal_stream) = stream(&p);
        let mut command = Command::new(BIN);
        command.arg("--config").arg(p.path("config.toml")).arg("check").stderr(file);
        if journal {
            command.env("JOURNAL_STREAM", &journal_stream);
        }
        assert!(!command.status().unwrap().success());
        std::fs::read_to_string(p.path("stderr.log")).unwrap()
    };
    let under = run(true);
    assert!(under.lines().any(|l| l.starts_with("<3>") && l.contains("bad.toml")), "{under}");
    let plain = run(false);
    assert!(!plain.contains("<3>") && plain.contains("bad.toml"), "a terminal gets no prefix: {plain}");
}
