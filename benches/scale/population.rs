//! The population: a deterministic set of leads (every property a function
//! of the lead's index), written straight into a database that `Store::open`
//! created (the product's own schema) in one transaction, and a CSV of new
//! leads for the import figure.

use std::path::Path;
use std::time::Instant;

use cadenced::cadence::Fields;
use cadenced::store::Store;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::workdir::{TICK_CADENCE, steps_of};

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
