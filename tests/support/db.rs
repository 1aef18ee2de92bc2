//! Probes of a project's SQLite file: the one place the tests hold SQL. Test
//! cases ask domain questions (`p.db().touchpoints_with_status("sent")`) and
//! set up what a crash leaves behind (`leave_send_in_flight`); the schema is
//! the product's (src/store/schema.rs), read and written here directly so a
//! test can see what the binary wrote, not what it reports.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, ToSql, params};

/// An open database file, or none yet (then every count is 0 and every list empty).
pub struct Db {
    conn: Option<Connection>,
}

/// Changes whenever a lead is added or one of its fields is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadsVersion {
    pub leads: usize,
    pub updated_at_sum: i64,
}

/// One touchpoint's status and the Message-ID it was sent (or claimed) with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchpointOutcome {
    pub status: String,
    pub message_id: Option<String>,
}

fn unix(instant: &str) -> i64 {
    DateTime::parse_from_rfc3339(instant).unwrap_or_else(|e| panic!("instant {instant:?}: {e}")).timestamp()
}

#[allow(dead_code)]
impl Db {
    /// Opens `path` if it exists (never creates it: a command that should
    /// write nothing is checked by finding nothing).
    pub fn open(path: &Path) -> Db {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = path.exists().then(|| Connection::open_with_flags(path, flags).expect("open the database"));
        Db { conn }
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("no database file yet")
    }

    fn count(&self, sql: &str, params: &[&dyn ToSql]) -> usize {
        let Some(conn) = &self.conn else { return 0 };
        let n: i64 = conn.query_row(sql, params, |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        usize::try_from(n).expect("a count")
    }

    // ---- leads ----

    pub fn leads(&self) -> usize {
        self.count("SELECT count(*) FROM leads", &[])
    }

    /// Whether a lead with this address exists (addresses compare case-insensitively).
    pub fn has_lead(&self, email: &str) -> bool {
        self.count("SELECT count(*) FROM leads WHERE email = ?1", &[&email]) > 0
    }

    pub fn leads_version(&self) -> LeadsVersion {
        let Some(conn) = &self.conn else { return LeadsVersion { leads: 0, updated_at_sum: 0 } };
        conn.query_row("SELECT count(*), coalesce(sum(updated_at), 0) FROM leads", [], |r| {
            Ok(LeadsVersion { leads: usize::try_from(r.get::<_, i64>(0)?).unwrap_or(0), updated_at_sum: r.get(1)? })
        })
        .expect("leads version")
    }

    // ---- enrollments ----

    pub fn enrollments(&self) -> usize {
        self.count("SELECT count(*) FROM enrollments", &[])
    }

    /// Refusals met while sending (5xx at RCPT or DATA), recorded against the mailbox.
    pub fn refusals(&self) -> usize {
        self.count("SELECT count(*) FROM refusals", &[])
    }

    /// Addresses on the suppression list.
    pub fn suppressions(&self) -> usize {
        self.count("SELECT count(*) FROM suppressions", &[])
    }

    /// Snapshots of cadences the database keeps (for `check --plan`).
    pub fn cadence_versions(&self) -> usize {
        self.count("SELECT count(*) FROM cadence_versions", &[])
    }

    /// Enrollments in `state` ("active", "paused", "finished", ...).
    pub fn enrollments_in_state(&self, state: &str) -> usize {
        self.count("SELECT count(*) FROM enrollments WHERE state = ?1", &[&state])
    }

    /// Enrollments in `state` whose current step has not failed a single attempt.
    pub fn enrollments_without_attempts(&self, state: &str) -> usize {
        self.count("SELECT count(*) FROM enrollments WHERE state = ?1 AND attempts = 0", &[&state])
    }

    // ---- touchpoints ----

    pub fn touchpoints(&self) -> usize {
        self.count("SELECT count(*) FROM touchpoints", &[])
    }

    /// Touchpoints with `status` ("sent", "uncertain", "failed", ...).
    pub fn touchpoints_with_status(&self, status: &str) -> usize {
        self.count("SELECT count(*) FROM touchpoints WHERE status = ?1", &[&status])
    }

    /// Touchpoints with `status` recorded at exactly `at`.
    pub fn touchpoints_with_status_at(&self, status: &str, at: DateTime<Utc>) -> usize {
        self.count("SELECT count(*) FROM touchpoints WHERE status = ?1 AND at = ?2", &[&status, &at.timestamp()])
    }

    /// Touchpoints that kept this subject and body.
    pub fn touchpoints_with_content(&self, subject: &str, body: &str) -> usize {
        self.count("SELECT count(*) FROM touchpoints WHERE subject = ?1 AND body = ?2", &[&subject, &body])
    }

    /// Every touchpoint's status and Message-ID, in no particular order.
    pub fn touchpoint_outcomes(&self) -> Vec<TouchpointOutcome> {
        let Some(conn) = &self.conn else { return Vec::new() };
        let mut stmt = conn.prepare("SELECT status, message_id FROM touchpoints").expect("prepare");
        stmt.query_map([], |r| Ok(TouchpointOutcome { status: r.get(0)?, message_id: r.get(1)? }))
            .expect("query touchpoints")
            .map(|row| row.expect("touchpoint row"))
            .collect()
    }

    // ---- digests, inbox ----

    /// Reminder digests with `status` ("sent", "uncertain", ...).
    pub fn digests_with_status(&self, status: &str) -> usize {
        self.count("SELECT count(*) FROM digests WHERE status = ?1", &[&status])
    }

    /// Inbound messages handled (replies, bounces, ...), each once.
    pub fn inbound_messages(&self) -> usize {
        self.count("SELECT count(*) FROM inbound", &[])
    }

    /// The last UID read in IMAP folder `folder`, one per mailbox that reads it.
    pub fn imap_last_uids(&self, folder: &str) -> Vec<i64> {
        let Some(conn) = &self.conn else { return Vec::new() };
        let mut stmt =
            conn.prepare("SELECT last_uid FROM imap_state WHERE folder = ?1 ORDER BY mailbox").expect("prepare");
        stmt.query_map([folder], |r| r.get(0)).expect("query imap_state").map(|row| row.expect("uid")).collect()
    }

    // ---- what a crash or an operator leaves behind ----

    /// What a process killed between claiming a send and finishing it leaves:
    /// a `sending` touchpoint of `step` for every enrollment, claimed at `at`
    /// with `message_id` (and `mailbox`, if given).
    pub fn leave_send_in_flight(&self, step: &str, at: &str, message_id: &str, mailbox: Option<&str>) {
        self.conn()
            .execute(
                "INSERT INTO touchpoints (enrollment_id, lead_id, cadence, step, kind, status, at, message_id, mailbox)
                 SELECT id, lead_id, cadence, ?1, 'email', 'sending', ?2, ?3, ?4 FROM enrollments",
                params![step, unix(at), message_id, mailbox],
            )
            .expect("insert a send in flight");
    }

    /// What a process killed between claiming `owner`'s digest for the slot
    /// at `slot_at` and sending it leaves (mailbox `sales`, two tasks).
    pub fn leave_digest_claim(&self, owner: &str, slot_at: &str) {
        self.conn()
            .execute(
                "INSERT INTO digests (owner, slot_at, status, sent_at, mailbox, tasks) VALUES (?1, ?2, 'sending', ?2, 'sales', 2)",
                params![owner, unix(slot_at)],
            )
            .expect("insert a digest claim");
    }

    /// Puts `email` on the suppression list with `reason` (at the epoch).
    pub fn suppress(&self, email: &str, reason: &str) {
        self.conn()
            .execute("INSERT INTO suppressions (email, reason, at) VALUES (?1, ?2, 0)", params![email, reason])
            .expect("insert a suppression");
    }
}
