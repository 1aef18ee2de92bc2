//! The scale benchmark's building blocks, shared by `benches/scale.rs` (the
//! full run, `cargo bench --bench scale`) and the smoke test
//! `tests/cases/bench_smoke.rs` (a tiny size in the test suite):
//!
//! - a deterministic population of leads enrolled in three realistic
//!   cadences, written straight into a database that `Store::open` created
//!   (the product's own schema), in one transaction;
//! - a minimal fast SMTP sink (std only, a thread per connection);
//! - the figures' measurements: a library-level tick, a plain lettre loop,
//!   the sink's own capacity, whole-process runs of the real binary.
//!
//! Times are relative to `t0`, the instant the ticks run at: exactly
//! `Population::due` email steps are due at `t0` (all in the last hour before
//! it), everything else falls due from `t0 + 1h` to `t0 + 21d`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cadenced::cadence::{Cadences, Fields};
use cadenced::config::Config;
use cadenced::store::Store;
use cadenced::tick::{Control, Report, Transports};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

// ---------------------------------------------------------------------------
// Cadences and config

/// The cadence every due step is in: emails only, no window, so that a due
/// step is sent at once (the tick figure measures find, claim, plan, send).
pub const TICK_CADENCE: &str = "followup";

/// `(name, file text)` of the bench's cadences, modelled on the shipped ones.
pub const CADENCES: [(&str, &str); 3] = [
    (
        "seven-touch",
        r#"description = "Seven touchpoints over three weeks for inbound leads"
mailbox = "sales"
window = "0 * 9-16 * * Mon-Fri"
calendar = "us"

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Quick question about {{ company }}"
body = """
Hi {{ first_name }},

thanks for your interest. Teams like {{ company }} usually come to us when
follow-ups start slipping through the cracks.

Would a 20-minute call next week be useful?

Ada
"""

[[steps]]
id = "bump-1"
wait = "2bd"
kind = "email"
subject = "Re: Quick question about {{ company }}"
body = """
Hi {{ first_name }},

just bumping this up in case it got buried. Happy to work around your calendar.

Ada
"""

[[steps]]
id = "call-1"
wait = "2bd"
kind = "call"
body = "Call {{ first_name }} at {{ company }} ({{ phone | default('no phone on file') }}): ask how they track follow-ups today."

[[steps]]
id = "linkedin-1"
wait = "1bd"
kind = "linkedin"
blocking = false
body = "Connect with {{ first_name }} on LinkedIn with a short note about {{ company }}."

[[steps]]
id = "case-study"
wait = "2bd"
kind = "email"
subject = "How a team like {{ company }} stopped losing follow-ups"
body = """
Hi {{ first_name }},

a short case study from a team much like yours: three reps, two hundred
leads a week, and no follow-up forgotten since they started.

Ada
"""

[[steps]]
id = "bump-2"
wait = "3bd"
kind = "email"
subject = "Re: How a team like {{ company }} stopped losing follow-ups"
body = """
Hi {{ first_name }},

is improving follow-ups on your list for this quarter at all?

Ada
"""

[[steps]]
id = "breakup"
wait = "4bd"
kind = "email"
subject = "Closing the loop"
body = """
Hi {{ first_name }},

I haven't heard back, so I'll assume the timing isn't right and stop writing.
If that changes, just reply to this email.

Ada
"""
"#,
    ),
    (
        "nurture",
        r#"description = "Slow monthly check-in for leads that said 'not now'"
window = "0 30 10 * * Tue"

[[steps]]
id = "check-in-1"
wait = "4w"
kind = "email"
subject = "Checking in, {{ first_name }}"
body = """
Hi {{ first_name }},

you mentioned the timing wasn't right a while ago. Has anything changed
on your side? Happy to pick things up whenever it suits you.

Ada
"""

[[steps]]
id = "check-in-2"
wait = "4w"
kind = "email"
subject = "Still the right time to talk?"
body = """
Hi {{ first_name }},

one last check-in from me. If a conversation makes sense later in the
year, just reply and I'll get back to you.

Ada
"""
"#,
    ),
    (
        "followup",
        r#"description = "Webinar follow-up: emails only, sent as soon as due"

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Thanks for joining, {{ first_name }}"
body = """
Hi {{ first_name }},

thanks for joining yesterday's webinar. Here are the slides, and a short
note on how {{ company }} could set up its first cadence in an afternoon.

Ada
"""

[[steps]]
id = "bump"
wait = "2d"
kind = "email"
subject = "Re: Thanks for joining, {{ first_name }}"
body = """
Hi {{ first_name }},

did the slides reach you? Happy to walk {{ company }} through them.

Ada
"""

[[steps]]
id = "value"
wait = "4d"
kind = "email"
subject = "Three follow-up mistakes we see at teams like {{ company }}"
body = """
Hi {{ first_name }},

most teams lose deals in the gap between the second and the third email.
Here is what the teams that do not lose them do differently.

Ada
"""

[[steps]]
id = "breakup"
wait = "7d"
kind = "email"
subject = "Should I close your file?"
body = """
Hi {{ first_name }},

I'll stop writing after this one. If follow-ups become a topic at
{{ company }}, just reply.

Ada
"""
"#,
    ),
];

/// Step ids and kinds of each cadence, as in [`CADENCES`].
fn steps_of(cadence: usize) -> &'static [(&'static str, &'static str)] {
    const SEVEN: [(&str, &str); 7] = [
        ("intro", "email"),
        ("bump-1", "email"),
        ("call-1", "call"),
        ("linkedin-1", "linkedin"),
        ("case-study", "email"),
        ("bump-2", "email"),
        ("breakup", "email"),
    ];
    const NURTURE: [(&str, &str); 2] = [("check-in-1", "email"), ("check-in-2", "email")];
    const FOLLOWUP: [(&str, &str); 4] =
        [("intro", "email"), ("bump", "email"), ("value", "email"), ("breakup", "email")];
    match cadence {
        0 => &SEVEN,
        1 => &NURTURE,
        _ => &FOLLOWUP,
    }
}

/// A folder with `config.toml` (one SMTP mailbox `sales` on the sink, no
/// caps), the cadences, and the database `cadenced.db`.
pub struct Workdir {
    pub dir: PathBuf,
}

impl Workdir {
    /// Writes the config and the cadences into `dir` (created if missing).
    pub fn new(dir: &Path, smtp_port: u16) -> Workdir {
        std::fs::create_dir_all(dir.join("cadences")).expect("create workdir");
        let config = format!(
            "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\n\
             # one tick, then the daemon sleeps until SIGTERM\ntick_interval = \"1h\"\ncalendar = \"us\"\n\n\
             [mailboxes.sales]\nfrom = \"Ada Sales <ada@seller.test>\"\nsmtp = \"smtp://127.0.0.1:{smtp_port}\"\n\n\
             [calendars.us]\nholidays = [\"2026-11-26\", \"2026-12-25\", \"2027-01-01\", \"2027-07-05\"]\n"
        );
        std::fs::write(dir.join("config.toml"), config).expect("write config");
        for (name, text) in CADENCES {
            std::fs::write(dir.join("cadences").join(format!("{name}.toml")), text).expect("write cadence");
        }
        Workdir { dir: dir.to_path_buf() }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("cadenced.db")
    }

    /// Replaces the database with a copy of `master` (and no WAL, lock or shm left over).
    pub fn load_db(&self, master: &Path) {
        self.remove_db();
        std::fs::copy(master, self.db()).expect("copy the database");
    }

    pub fn remove_db(&self) {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let mut name = self.db().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }

    pub fn load(&self) -> (Config, Cadences) {
        let config = Config::load(&self.config()).unwrap_or_else(|e| panic!("bench config: {e}"));
        let cadences = Cadences::load(&config);
        assert!(cadences.broken.is_empty(), "bench cadences: {:?}", cadences.broken);
        (config, cadences)
    }
}

// ---------------------------------------------------------------------------
// The population

/// How many leads, and how many of them have an email step due at `t0`.
#[derive(Debug, Clone, Copy)]
pub struct Population {
    pub leads: usize,
    pub due: usize,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub leads: usize,
    pub enrollments: usize,
    pub touchpoints: usize,
    pub due: usize,
    pub bytes: u64,
    pub seconds: f64,
}

/// `t0`: now, to the minute (the daemon figure ticks on the real clock, so
/// the due steps must be due in real time too).
pub fn default_t0() -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    cadenced::time::from_unix(now - now.rem_euclid(60))
}

/// A 64-bit mix: every property of a lead is a function of its index.
pub fn mix(seed: u64) -> u64 {
    let mut x = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pick<'a>(list: &[&'a str], h: u64) -> &'a str {
    list[(h % list.len() as u64) as usize]
}

const FIRST: [&str; 20] = [
    "Jane", "Omar", "Lena", "Ravi", "Mia", "Tom", "Aiko", "Paul", "Sofia", "Ken", "Nora", "Ivan", "Lucy", "Marc",
    "Ada", "Ben", "Chloe", "Diego", "Emma", "Felix",
];
const LAST: [&str; 16] = [
    "Smith", "Garcia", "Müller", "Rossi", "Tanaka", "Dubois", "Kowalski", "Silva", "Novak", "Jensen", "Okafor",
    "Brown", "Larsen", "Costa", "Weber", "Moreau",
];
const WORDS: [&str; 24] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Pied Piper",
    "Dunder",
    "Sterling",
    "Prestige",
    "Monarch",
    "Aperture",
    "Nakatomi",
    "Oceanic",
    "Virtucon",
    "Zorg",
];
const SUFFIX: [&str; 8] = ["Logistics", "Labs", "GmbH", "Inc", "Systems", "Foods", "Partners", "Media"];
const ZONES: [Option<&str>; 10] = [
    Some("America/New_York"),
    Some("America/Chicago"),
    Some("America/Los_Angeles"),
    Some("Europe/London"),
    Some("Europe/Berlin"),
    Some("Europe/Paris"),
    Some("Asia/Tokyo"),
    Some("Australia/Sydney"),
    Some("America/New_York"),
    None,
];
/// Reps owning the leads' manual steps.
pub const OWNERS: usize = 20;

/// The address of lead `i` (zero-padded, so that addresses sort as leads were added).
pub fn email_of(i: usize) -> String {
    let h = mix(i as u64 ^ 0xC0FFEE);
    format!("lead{i:07}@{}{}.test", pick(&WORDS, h).replace(' ', "").to_lowercase(), h % 997)
}

/// Lead `i`'s fields and zone.
pub fn lead_of(i: usize) -> (Fields, Option<&'static str>) {
    let h = mix(i as u64 ^ 0xC0FFEE);
    let mut fields = Fields::new();
    fields.insert("first_name".into(), pick(&FIRST, h >> 8).into());
    fields.insert("last_name".into(), pick(&LAST, h >> 16).into());
    fields.insert("company".into(), format!("{} {}", pick(&WORDS, h), pick(&SUFFIX, h >> 24)));
    if h % 10 < 7 {
        fields.insert("phone".into(), format!("+1 555 {:04}", h % 10_000));
    }
    fields.insert("owner".into(), format!("rep{}@seller.test", (h >> 32) % OWNERS as u64));
    (fields, ZONES[((h >> 40) % ZONES.len() as u64) as usize])
}

/// Which leads have a `followup` email due at `t0`: `due` of them, spread evenly.
pub fn is_due(pop: Population, i: usize) -> bool {
    let stride = (pop.leads / pop.due.max(1)).max(1);
    pop.due > 0 && i.is_multiple_of(stride) && i / stride < pop.due
}

/// The step (index into `followup`) lead `i`'s due enrollment is at.
pub fn due_step(i: usize) -> usize {
    (mix(i as u64 ^ 0xD0E) % 3) as usize
}

const DAY: i64 = 86_400;

/// Fills the database at `path` (created and migrated by `Store::open`, so
/// the schema is the product's) with `pop`, in one transaction, as
/// `Store::enroll_many` and ticks would have written it.
pub fn build_db(path: &Path, pop: Population, t0: DateTime<Utc>) -> Built {
    let started = Instant::now();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    drop(Store::open(path).expect("create the database with the product's schema"));
    let mut conn = Connection::open(path).expect("open the database");
    // Building only: no journal, no fsync, a big cache. The product's own
    // settings (WAL, synchronous=FULL) apply whenever it opens the file.
    conn.pragma_update(None, "journal_mode", "OFF").expect("journal off");
    conn.pragma_update(None, "synchronous", "OFF").expect("synchronous off");
    conn.pragma_update(None, "cache_size", -1_048_576i64).expect("cache size");
    let mut built = Built { leads: pop.leads, due: 0, ..Built::default() };
    let t = t0.timestamp();
    let tx = conn.transaction().expect("begin");
    {
        let mut lead_stmt = tx
            .prepare("INSERT INTO leads (id, email, fields, timezone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)")
            .expect("prepare leads");
        let mut enrollment_stmt = tx
            .prepare(
                "INSERT INTO enrollments
                     (id, lead_id, cadence, state, step, next_due_at, planned_at, reason, enrolled_at, updated_at,
                      owner)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, NULL, ?7, ?8, ?9)",
            )
            .expect("prepare enrollments");
        let mut touch_stmt = tx
            .prepare(
                "INSERT INTO touchpoints
                     (id, enrollment_id, lead_id, cadence, step, kind, status, at, message_id, subject, body, mailbox,
                      owner, closed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .expect("prepare touchpoints");
        let names = ["seven-touch", "nurture", "followup"];
        let mut enrollment_id = 0i64;
        let mut touch_id = 0i64;
        // The touchpoints of steps `0..upto` of `cadence`, from `start` on.
        let mut history = |tx_stmt: &mut rusqlite::Statement<'_>,
                           enrollment: i64,
                           lead: i64,
                           cadence: usize,
                           upto: usize,
                           start: i64,
                           end: i64,
                           fields: &Fields,
                           owner: &str| {
            let steps = steps_of(cadence);
            let span = (end - start).max(1) / (upto.max(1) as i64 + 1);
            for (k, (step, kind)) in steps.iter().take(upto).enumerate() {
                touch_id += 1;
                let at = start + span * (k as i64 + 1);
                let first = fields.get("first_name").map_or("", String::as_str);
                let company = fields.get("company").map_or("", String::as_str);
                let (status, message_id, subject, body, mailbox, closed) = if *kind == "email" {
                    (
                        "sent",
                        Some(format!("<bench.{touch_id}@seller.test>")),
                        Some(format!("Re: Quick question about {company}")),
                        format!(
                            "Hi {first},\n\njust bumping this up in case it got buried. Teams like {company} \
                             usually come to us when follow-ups start slipping.\n\nAda\n"
                        ),
                        Some("sales"),
                        None,
                    )
                } else {
                    (
                        "done",
                        None,
                        None,
                        format!("Call {first} at {company}: ask how they track follow-ups."),
                        None,
                        Some(at + 3600),
                    )
                };
                tx_stmt
                    .execute(params![
                        touch_id,
                        enrollment,
                        lead,
                        names[cadence],
                        step,
                        kind,
                        status,
                        at,
                        message_id,
                        subject,
                        body,
                        mailbox,
                        owner,
                        closed
                    ])
                    .expect("insert touchpoint");
            }
            upto
        };
        for i in 0..pop.leads {
            let lead = i as i64 + 1;
            let h = mix(i as u64);
            let (fields, zone) = lead_of(i);
            let owner = fields.get("owner").cloned().unwrap_or_default();
            let enrolled = t - 60 - (h % (21 * DAY as u64)) as i64;
            lead_stmt
                .execute(params![lead, email_of(i), serde_json::to_string(&fields).expect("fields"), zone, enrolled])
                .expect("insert lead");
            let due = is_due(pop, i);
            // The lead's main enrollment: 60% seven-touch, 25% nurture, 15% followup (not for a due lead,
            // whose followup enrollment is the due one).
            let cadence = match h % 20 {
                0..12 => 0,
                12..17 => 1,
                _ if due => 0,
                _ => 2,
            };
            let steps = steps_of(cadence).len();
            // Most leads are early in their cadence.
            let a = ((h >> 8) % steps as u64) as usize;
            let b = ((h >> 16) % steps as u64) as usize;
            let at_step = a.min(b);
            let state = match (h >> 24) % 200 {
                0..20 => "finished",
                20..30 => "replied",
                30..32 => "bounced",
                32..36 => "paused",
                36..38 => "stopped",
                38..40 => "unsubscribed",
                _ => "active",
            };
            enrollment_id += 1;
            let (step, next_due, done) = match state {
                "finished" => (None, None, steps),
                "active" | "paused" => {
                    let next = t + 3600 + ((h >> 32) % (21 * DAY as u64 - 3600)) as i64;
                    (Some(steps_of(cadence)[at_step].0), Some(next), at_step)
                }
                _ => (Some(steps_of(cadence)[at_step].0), None, at_step),
            };
            enrollment_stmt
                .execute(params![enrollment_id, lead, names[cadence], state, step, next_due, enrolled, t - 60, owner])
                .expect("insert enrollment");
            built.enrollments += 1;
            built.touchpoints +=
                history(&mut touch_stmt, enrollment_id, lead, cadence, done, enrolled, t - 120, &fields, &owner);
            if due {
                // Due at t0: some time in the last 50 minutes, the backlog of one missed hour.
                let k = due_step(i);
                let due_at = t - 1 - ((h >> 40) % 3000) as i64;
                let since = due_at - (k as i64) * 2 * DAY - 3600;
                enrollment_id += 1;
                enrollment_stmt
                    .execute(params![
                        enrollment_id,
                        lead,
                        TICK_CADENCE,
                        "active",
                        steps_of(2)[k].0,
                        due_at,
                        since,
                        since + DAY,
                        owner
                    ])
                    .expect("insert due enrollment");
                built.enrollments += 1;
                built.due += 1;
                built.touchpoints +=
                    history(&mut touch_stmt, enrollment_id, lead, 2, k, since, due_at - 60, &fields, &owner);
            }
        }
    }
    tx.commit().expect("commit");
    conn.pragma_update(None, "journal_mode", "WAL").expect("back to WAL");
    drop(conn);
    built.bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    built.seconds = started.elapsed().as_secs_f64();
    built
}

/// A CSV of `rows` new leads (`email, first_name, last_name, company, phone, owner, timezone`).
pub fn write_csv(path: &Path, rows: usize) {
    let mut w = csv::Writer::from_path(path).expect("create CSV");
    w.write_record(["email", "first_name", "last_name", "company", "phone", "owner", "timezone"]).expect("CSV");
    for i in 0..rows {
        let (fields, zone) = lead_of(i + 50_000_000);
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        let email = format!("new{i:07}@{}", email_of(i).split_once('@').map_or("x.test", |(_, d)| d));
        w.write_record([
            email,
            get("first_name"),
            get("last_name"),
            get("company"),
            get("phone"),
            get("owner"),
            zone.unwrap_or("").to_string(),
        ])
        .expect("CSV row");
    }
    w.flush().expect("CSV flush");
}

// ---------------------------------------------------------------------------
// The SMTP sink

/// A minimal SMTP server on loopback that accepts every message at once and
/// counts it: std only, a thread per connection, no pipelining advertised
/// (but a pipelining client is served in order, which is how its own
/// capacity is measured).
pub struct Sink {
    pub port: u16,
    messages: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    /// The benchmark's sink: it acknowledges every TCP segment at once
    /// (TCP_QUICKACK before each read), so that a client that leaves Nagle's
    /// algorithm on is not held up by the server's delayed ACK.
    pub fn start() -> Sink {
        Sink::start_with(true)
    }

    /// With `quickack` false, the sink's TCP stack delays its ACKs as every
    /// ordinary server's does (40 ms on Linux).
    pub fn start_with(quickack: bool) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let port = listener.local_addr().expect("sink address").port();
        let messages = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (Arc::clone(&messages), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let count = Arc::clone(&count);
                std::thread::spawn(move || {
                    let _ = serve(stream, &count, quickack);
                });
            }
        });
        Sink { port, messages, stop }
    }

    /// Messages accepted so far.
    pub fn count(&self) -> u64 {
        self.messages.load(Ordering::SeqCst)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A socket that asks for an immediate ACK before every read (Linux resets
/// TCP_QUICKACK as soon as the connection looks interactive again).
struct QuickAck {
    stream: TcpStream,
    on: bool,
}

impl Read for QuickAck {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.on {
            use std::os::linux::net::TcpStreamExt;
            let _ = self.stream.set_quickack(true);
        }
        self.stream.read(buf)
    }
}

fn serve(stream: TcpStream, count: &AtomicU64, quickack: bool) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(64 * 1024, QuickAck { stream: stream.try_clone()?, on: quickack });
    let mut out = BufWriter::with_capacity(16 * 1024, stream.try_clone()?);
    out.write_all(b"220 sink ESMTP\r\n")?;
    out.flush()?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let verb = line.get(..4).map(<[u8]>::to_ascii_uppercase).unwrap_or_default();
        match &verb[..] {
            b"EHLO" => out.write_all(b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 104857600\r\n")?,
            b"HELO" => out.write_all(b"250 sink\r\n")?,
            b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => out.write_all(b"250 OK\r\n")?,
            b"DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                if reader.buffer().is_empty() {
                    out.flush()?;
                }
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line)? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                out.write_all(b"250 queued\r\n")?;
            }
            b"QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                out.flush()?;
                break;
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
        // Answer as soon as nothing more has arrived (a pipelining client gets a batch).
        if reader.buffer().is_empty() {
            out.flush()?;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

/// The sink's own capacity: `n` copies of `message` pipelined over one
/// connection (the client never waits for a reply), in messages per second.
pub fn sink_capacity(port: u16, message: &[u8], n: usize) -> f64 {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the sink");
    stream.set_nodelay(true).expect("nodelay");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut greeting = String::new();
    reader.read_line(&mut greeting).expect("greeting");
    let mut one = Vec::new();
    one.extend_from_slice(b"MAIL FROM:<ada@seller.test>\r\nRCPT TO:<jane@acme.test>\r\nDATA\r\n");
    one.extend_from_slice(message);
    if !message.ends_with(b"\r\n") {
        one.extend_from_slice(b"\r\n");
    }
    one.extend_from_slice(b".\r\n");
    let started = Instant::now();
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut w = BufWriter::with_capacity(256 * 1024, &mut writer);
        for _ in 0..n {
            w.write_all(&one).expect("pipeline");
        }
        w.write_all(b"QUIT\r\n").expect("quit");
        w.flush().expect("flush");
    });
    let mut queued = 0;
    let mut line = String::new();
    while queued < n {
        line.clear();
        if reader.read_line(&mut line).expect("reply") == 0 {
            break;
        }
        if line.starts_with("250 queued") {
            queued += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    sender.join().expect("sender");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert_eq!(queued, n, "the sink lost messages");
    n as f64 / elapsed
}

// ---------------------------------------------------------------------------
// Library-level figures

/// One tick through the library at `now`: only the `tick::run` call is timed.
pub struct TickRun {
    pub seconds: f64,
    /// The checkpoint the daemon makes after the tick, timed apart.
    pub checkpoint: f64,
    pub report: Report,
    /// Messages the sink received during the tick.
    pub received: u64,
}

pub fn library_tick(work: &Workdir, sink: &Sink, now: DateTime<Utc>) -> TickRun {
    let (config, cadences) = work.load();
    let mut store = Store::open(&work.db()).expect("open the database");
    let before = sink.count();
    let started = Instant::now();
    let report = cadenced::tick::run(&mut store, &config, &cadences, &mut Transports::new(), now, &Control::default())
        .expect("tick");
    let seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.checkpoint().expect("checkpoint");
    let checkpoint = started.elapsed().as_secs_f64();
    TickRun { seconds, checkpoint, report, received: sink.count() - before }
}

/// The messages a tick at `t0` sends, rendered and built the way the tick
/// does (same templates, same builder), for the plain lettre loop.
pub fn due_messages(work: &Workdir, pop: Population) -> Vec<lettre::Message> {
    let (config, cadences) = work.load();
    let cadence = cadences.get(TICK_CADENCE).expect("followup cadence");
    let from = &config.mailboxes.get("sales").expect("sales mailbox").from;
    let date = Utc::now();
    (0..pop.leads)
        .filter(|i| is_due(pop, *i))
        .enumerate()
        .map(|(n, i)| {
            let (fields, _) = lead_of(i);
            let email = email_of(i);
            let step = steps_of(2)[due_step(i)].0;
            let rendered = cadence.templates.render(step, &email, &fields).expect("render");
            let message_id = cadenced::model::message_id("bench", n as i64 + 1, from.email.domain());
            let subject = rendered.subject.unwrap_or_default();
            // The same headers the product's emails carry.
            let unsubscribe =
                format!("<mailto:ada+unsubscribe-{n}-0123456789abcdef0123@seller.test?subject=unsubscribe>");
            cadenced::send::build(&cadenced::send::Email {
                from,
                to: &email,
                subject: &subject,
                body: &rendered.body,
                message_id: &message_id,
                date,
                reply: None,
                list_unsubscribe: Some(&unsubscribe),
            })
            .expect("build")
        })
        .collect()
}

/// The reference for send throughput: a plain loop of lettre's
/// `SmtpConnection::send` over one connection (connect and QUIT included),
/// in messages per second.
pub fn lettre_loop(port: u16, messages: &[lettre::Message]) -> f64 {
    use lettre::transport::smtp::client::SmtpConnection;
    use lettre::transport::smtp::extension::ClientId;
    let hello = ClientId::Domain("seller.test".into());
    let started = Instant::now();
    let mut conn = SmtpConnection::connect(("127.0.0.1", port), Some(Duration::from_secs(60)), &hello, None, None)
        .expect("connect to the sink");
    for m in messages {
        conn.send(m.envelope(), &m.formatted()).expect("lettre send");
    }
    conn.quit().expect("quit");
    messages.len() as f64 / started.elapsed().as_secs_f64()
}

/// The rows `forecast` reads, read and nothing else (its query, streamed):
/// how much of `forecast` is reading rather than planning. Seconds.
pub fn forecast_read_only(db: &Path) -> (f64, u64) {
    let started = Instant::now();
    let conn = Connection::open(db).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT e.cadence, e.step, e.next_due_at, l.timezone, l.fields
             FROM enrollments e JOIN leads l ON l.id = e.lead_id
             WHERE e.state = 'active' AND e.next_due_at IS NOT NULL",
        )
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut n = 0u64;
    let mut bytes = 0usize;
    while let Some(r) = rows.next().expect("row") {
        let cadence: String = r.get(0).expect("cadence");
        let fields: String = r.get(4).expect("fields");
        bytes += cadence.len() + fields.len();
        n += 1;
    }
    assert!(bytes > 0 || n == 0);
    (started.elapsed().as_secs_f64(), n)
}

// ---------------------------------------------------------------------------
// Whole processes

/// Output of one run of the real binary.
pub struct Run {
    pub seconds: f64,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub ok: bool,
}

/// Runs `bin --config CONFIG ARGS...`; stdout to /dev/null unless `capture`
/// (as a user would run a listing into a file or a pipe that reads it all).
pub fn run_cli(bin: &Path, config: &Path, args: &[&str], capture: bool) -> Run {
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(config).args(args).env("CADENCED_LOG", "warn").stdin(Stdio::null());
    cmd.stdout(if capture { Stdio::piped() } else { Stdio::null() }).stderr(Stdio::piped());
    let started = Instant::now();
    let out = cmd.output().expect("run cadenced");
    Run {
        seconds: started.elapsed().as_secs_f64(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

/// Runs `cadenced run` on `work` until its first tick is done, then SIGTERM.
/// Returns (peak resident set in KiB (VmHWM), seconds to the end of the first
/// tick, the tick's log line).
pub fn daemon_peak(bin: &Path, work: &Workdir) -> (u64, f64, String) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(work.config())
        .arg("run")
        .env("CADENCED_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cadenced run");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut done = String::new();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if line.contains("tick done") || line.contains("tick failed") {
            done = line;
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    // Drain the rest so the daemon never blocks on a full pipe while stopping.
    for _ in lines {}
    let _ = child.wait();
    (hwm, seconds, done)
}

/// Median of `xs` (not empty).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}
