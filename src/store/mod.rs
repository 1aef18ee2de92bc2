//! Every SQL statement of cadenced, behind domain operations (enroll, claim a
//! due step, record a touchpoint, ...). The scheduler never sees SQL or a
//! connection. SQLite in WAL mode with a busy timeout, so that the admin CLI and
//! the daemon share one file; every transaction that reads then writes begins
//! IMMEDIATE so that a second process waits instead of failing.

mod digests;
mod inbox;
mod lock;
mod schema;
pub mod sendlog;
mod tasks;

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::cadence::Fields;
use crate::model::{DueStep, Next, Outcome, State};
use crate::time::from_unix;

pub use digests::{Digest, OwnerTasks};
pub use inbox::{FolderState, Inbound, InboundMessage, LeadRef};
pub use lock::DispatchLock;
pub use sendlog::{Ended, SendGroup, SendLog, Verdict};
pub use tasks::TaskFilter;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("database {path}: migrating the schema: {source}")]
    Migrate { path: String, source: rusqlite_migration::Error },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database: stored fields are not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("database {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The tick's sending thread died; what it sent is in the send log.
    #[error("the sending thread stopped: {0}")]
    Sender(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A lead to add or update and enroll.
#[derive(Debug, Clone)]
pub struct NewEnrollment {
    pub email: String,
    pub fields: Fields,
    pub timezone: Option<String>,
    pub cadence: String,
    pub first_step: String,
    pub due_at: DateTime<Utc>,
    pub planned_at: DateTime<Utc>,
    pub reason: Option<String>,
    /// Who does its manual steps.
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    Enrolled,
    /// The lead already has an enrollment in that cadence; it was left as it was.
    AlreadyEnrolled(State),
    /// The address bounced or unsubscribed earlier: never enrolled again.
    Suppressed(String),
}

/// A send that was in flight when a process died.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub touchpoint_id: i64,
    pub due: DueStep,
    pub message_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// An email to claim in a group, with what it says (stored with the claim).
#[derive(Debug)]
pub struct NewSend<'a> {
    pub due: &'a DueStep,
    pub mailbox: &'a str,
    pub content: Content<'a>,
}

#[derive(Debug, Clone, Copy)]
pub struct Content<'a> {
    pub subject: Option<&'a str>,
    pub body: &'a str,
}

/// A claimed email's touchpoint and Message-ID; `None` when it was no longer due.
pub type Claim = Option<(i64, String)>;

/// What became of one claimed send, for [`Store::commit_group`].
#[derive(Debug)]
pub enum Record {
    /// Its outcome, and the enrollment moves on. The time, Message-ID,
    /// subject and body stay the claim's.
    Complete { touchpoint_id: i64, enrollment_id: i64, outcome: Outcome, next: Next },
    /// Nothing left: tried again at `retry_at`; with `count` it uses up one of
    /// the step's attempts (a 4xx for this message; a mailbox outage does not).
    Release { touchpoint_id: i64, enrollment_id: i64, retry_at: DateTime<Utc>, error: String, count: bool },
    /// Never tried: the claim is given back, the step stays due.
    Unclaim(i64),
}

#[derive(Debug, Clone)]
pub struct Touchpoint {
    pub id: i64,
    pub step: String,
    pub kind: String,
    pub status: String,
    pub at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EnrollmentView {
    pub cadence: String,
    pub state: String,
    pub next_step: Option<String>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub enrolled_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub owner: Option<String>,
    /// The open blocking task the enrollment waits for.
    pub task_id: Option<i64>,
    pub touchpoints: Vec<Touchpoint>,
    /// Set by the caller: its cadence file is gone.
    pub orphaned: bool,
}

#[derive(Debug, Clone)]
pub struct LeadView {
    pub email: String,
    pub fields: Fields,
    pub timezone: Option<String>,
    pub enrollments: Vec<EnrollmentView>,
    /// Replies, bounces, auto-replies... read from the inbox about this lead.
    pub inbound: Vec<Inbound>,
    /// Why the address must never get mail again, if it must not.
    pub suppressed: Option<String>,
}

/// One row of `leads` or `due`: a lead in one cadence.
#[derive(Debug, Clone)]
pub struct EnrollmentRow {
    pub email: String,
    pub timezone: Option<String>,
    pub cadence: Option<String>,
    pub state: Option<String>,
    pub step: Option<String>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// Which enrollments `leads` lists; a filter left `None` matches everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeadFilter<'a> {
    pub cadence: Option<&'a str>,
    pub state: Option<State>,
    /// The owner's address, compared case-insensitively.
    pub owner: Option<&'a str>,
}

/// An active enrollment as `forecast` needs it.
#[derive(Debug, Clone)]
pub struct ActiveRow {
    pub cadence: String,
    pub step: String,
    pub due_at: DateTime<Utc>,
    pub timezone: Option<String>,
    pub fields: Fields,
}

/// A mailbox's email sends in a span of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxSends {
    pub count: u32,
    /// The latest send before the end of the span: its time and touchpoint id.
    pub last: Option<(DateTime<Utc>, i64)>,
}

/// A change asked of a lead's enrollments from the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Stop,
}

/// One enrollment a state change touched, or left alone and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub cadence: String,
    pub from: State,
    pub to: State,
}

/// The SQLite database.
pub struct Store {
    conn: Connection,
    path: String,
}

impl Store {
    /// Opens (creating it mode 0600 when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: shown.clone(), source })?;
        }
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Lead data is personal data: only the service's user may read it.
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| StoreError::Io { path: shown.clone(), source })?;
        }
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open { path: shown.clone(), source })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a claim is on disk before the first SMTP byte, even across a power loss.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The WAL is folded back into the database after each tick (see
        // `checkpoint`), not every 4 MB in the middle of one: a tick at a
        // million leads dirties pages all over the file, and each checkpoint
        // writes them back at random places and fsyncs. Up to 120 MB of WAL.
        conn.pragma_update(None, "wal_autocheckpoint", 30000)?;
        // Every statement of a tick stays prepared (the default keeps 16).
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate { path: shown.clone(), source })?;
        let store = Store { conn, path: shown };
        store.ensure_instance_id()?;
        Ok(store)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Copies the WAL back into the database, as far as no reader needs it
    /// (PASSIVE: waits for no one), so that the next writes start it over.
    /// The daemon calls it after each tick, while it waits for the next.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn ensure_instance_id(&self) -> Result<()> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let id = format!("{:x}{:x}", nanos, std::process::id());
        self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', ?1)", [id])?;
        Ok(())
    }

    /// A token unique to this database, part of every Message-ID it sends.
    pub fn instance_id(&self) -> Result<String> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = 'instance'", [], |r| r.get(0))?)
    }

    /// Adds or updates each lead (fields merge, new values win) and enrolls it,
    /// all in one transaction. A lead already in the cadence, in whatever state,
    /// is left exactly as it is.
    pub fn enroll_many(&mut self, rows: &[NewEnrollment], now: DateTime<Utc>) -> Result<Vec<EnrollOutcome>> {
        let mut enrolling = self.begin_enrolling(now, false)?;
        let outcomes = rows.iter().map(|row| enrolling.add(row)).collect::<Result<Vec<_>>>()?;
        enrolling.commit()?;
        Ok(outcomes)
    }

    /// Starts a transaction that enrolls leads one at a time as they come (an
    /// import enrolls rows while the next ones are still being read): nothing
    /// is written unless [`Enrolling::commit`] is called.
    ///
    /// With `bulk` (an import) into a database without enrollments, the
    /// enrollments' plain indexes are dropped for the load and built again
    /// before the commit, in the same transaction: building an index once is
    /// cheaper than keeping it sorted row by row.
    pub fn begin_enrolling(&mut self, now: DateTime<Utc>, bulk: bool) -> Result<Enrolling<'_>> {
        // `&mut self` keeps any other transaction off this connection meanwhile.
        let conn = &self.conn;
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        // Most databases have no suppressed address; then no row needs looking up.
        let any_suppressed = conn.query_row("SELECT EXISTS (SELECT 1 FROM suppressions)", [], |r| r.get(0))?;
        let mut rebuild = Vec::new();
        if bulk && conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM enrollments)", [], |r| r.get(0))? {
            // As the migrations wrote them; constraints (UNIQUE) are kept.
            let indexes = conn
                .prepare(
                    "SELECT name, sql FROM sqlite_schema
                     WHERE type = 'index' AND tbl_name = 'enrollments' AND sql IS NOT NULL
                       AND sql NOT LIKE 'CREATE UNIQUE%'",
                )?
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (name, sql) in indexes {
                conn.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
                rebuild.push(sql);
            }
        }
        // Prepared once for the whole batch (the two inserts run for every row).
        let insert_lead = conn.prepare(
            "INSERT INTO leads (email, fields, timezone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (email) DO NOTHING",
        )?;
        let insert_enrollments = conn.prepare(&insert_enrollments_sql(ENROLL_BATCH))?;
        Ok(Enrolling {
            insert_lead,
            insert_enrollments,
            pending: Vec::with_capacity(ENROLL_BATCH),
            tx,
            now: now.timestamp(),
            any_suppressed,
            rebuild,
        })
    }

    /// Up to `limit` active enrollments of the given cadences whose next step is
    /// due at or before `now`, oldest due first.
    pub fn due_steps(&self, now: DateTime<Utc>, cadences: &[String], limit: usize) -> Result<Vec<DueStep>> {
        self.due_steps_after(now, cadences, None, limit)
    }

    /// [`Store::due_steps`], from after `after` (a step read before) on: a tick
    /// pages through what is due without finding again the steps it is
    /// sending, nor those it moved to a later time.
    pub fn due_steps_after(
        &self,
        now: DateTime<Utc>,
        cadences: &[String],
        after: Option<&DueStep>,
        limit: usize,
    ) -> Result<Vec<DueStep>> {
        let mut stmt = self.conn.prepare_cached(
            // The ids first, so that only the rows taken are joined with their leads.
            "SELECT e.id, e.lead_id, l.email, l.fields, l.timezone, e.cadence, e.step, e.next_due_at, e.attempts,
                    e.planned_at, e.reason, e.owner, e.task_id
             FROM (SELECT id FROM enrollments
                   WHERE state = 'active' AND next_due_at <= ?1
                     AND +cadence IN (SELECT value FROM json_each(?2)) -- '+': keep to the due index
                     AND (COALESCE(planned_at, next_due_at), id) > (?4, ?5)
                   ORDER BY COALESCE(planned_at, next_due_at), id
                   LIMIT ?3) d
             JOIN enrollments e ON e.id = d.id JOIN leads l ON l.id = e.lead_id
             ORDER BY COALESCE(e.planned_at, e.next_due_at), e.id",
        )?;
        let names = serde_json::to_string(cadences)?;
        let (key, id) = after.map_or((i64::MIN, i64::MIN), |d| (d.planned_at.timestamp(), d.enrollment_id));
        let rows = stmt.query_map(params![now.timestamp(), names, limit as i64, key, id], RawDue::read)?;
        rows.map(|r| r?.parse()).collect()
    }

    /// Claims `due` (a manual step, or a skip) by recording its touchpoint as
    /// `sending` in a durable commit, so that the step can never be taken twice.
    /// `None` when the enrollment changed meanwhile (paused, stopped, already
    /// claimed). Emails are claimed in groups: see [`Store::commit_group`].
    pub fn claim(
        &mut self,
        due: &DueStep,
        kind: &str,
        mailbox: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let claimed = claim_row(&tx, due, kind, mailbox, now, None, None)?;
        tx.commit()?;
        Ok(claimed.map(|(id, _)| id))
    }

    /// In one durable commit (one fsync for all of it): records what became
    /// of sends already made (`records`), and claims a new group of emails,
    /// each with its Message-ID (`message_id` gets the index in `claims` and
    /// the new touchpoint) and content, in the order given, which must be the
    /// order they are then sent in; `None` for each that is no longer due.
    ///
    /// The groups whose sends are still under way (`open`) and the new one are
    /// remembered with the claims, and the new group is returned, so that the
    /// sender can write it into the [`SendLog`] before its first send: after a
    /// crash, the log tells which of those groups' sends ended how, and which
    /// never started.
    pub fn commit_group(
        &mut self,
        records: &[Record],
        open: &[SendGroup],
        claims: &[NewSend<'_>],
        now: DateTime<Utc>,
        message_id: impl Fn(usize, i64) -> String,
    ) -> Result<(Vec<Claim>, Option<SendGroup>)> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for record in records {
            match record {
                Record::Complete { touchpoint_id, enrollment_id, outcome, next } => {
                    // Its time, Message-ID and content are the claim's: only what the send added is written.
                    tx.prepare_cached("UPDATE touchpoints SET status = ?2, detail = ?3, reason = ?4 WHERE id = ?1")?
                        .execute(params![touchpoint_id, outcome.status.as_str(), outcome.detail, outcome.reason])?;
                    advance(&tx, *enrollment_id, next, outcome.at, Some(*touchpoint_id))?;
                }
                Record::Release { touchpoint_id, enrollment_id, retry_at, error, count } => {
                    unclaim_in(&tx, *touchpoint_id)?;
                    defer_in(&tx, *enrollment_id, *retry_at, error, *count)?;
                }
                Record::Unclaim(id) => unclaim_in(&tx, *id)?,
            }
        }
        let mut claimed = Vec::with_capacity(claims.len());
        for (i, claim) in claims.iter().enumerate() {
            let id_of = |id: i64| message_id(i, id);
            let row = claim_row(&tx, claim.due, "email", Some(claim.mailbox), now, Some(&id_of), Some(&claim.content))?;
            claimed.push(row.and_then(|(id, m)| m.map(|m| (id, m))));
        }
        let ids = claimed.iter().flatten().map(|(id, _)| *id);
        let group = ids.clone().min().zip(ids.max()).map(|(first, last)| SendGroup::new(first, last));
        let groups: Vec<&SendGroup> = open.iter().chain(&group).collect();
        tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('send_groups', ?1)")?
            .execute([serde_json::to_string(&groups)?])?;
        tx.commit()?;
        Ok((claimed, group))
    }

    /// Gives back claimed sends that were never started (the tick stopped
    /// before them), in one transaction; their enrollments stay due.
    pub fn unclaim(&mut self, touchpoint_ids: &[i64]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for id in touchpoint_ids {
            unclaim_in(&tx, *id)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the outcome of claimed touchpoint `touchpoint_id` and moves its
    /// enrollment on, in one transaction.
    pub fn complete(&mut self, touchpoint_id: i64, outcome: &Outcome, next: &Next) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        complete_in(&tx, touchpoint_id, outcome, next)?;
        tx.commit()?;
        Ok(())
    }

    /// Puts off an unclaimed due step to `retry_at` (its mailbox is unreachable).
    pub fn defer(&mut self, due: &DueStep, retry_at: DateTime<Utc>, error: &str, count: bool) -> Result<()> {
        defer_in(&self.conn, due.enrollment_id, retry_at, error, count)
    }

    /// Whether the enrollment of `due` is still active on the same step.
    pub fn is_active(&self, due: &DueStep) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM enrollments WHERE id = ?1 AND state = 'active' AND step = ?2")?
            .query_row(params![due.enrollment_id, due.step], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Moves an unclaimed due step to `at` (its next send slot), with the reason;
    /// its planned time stays, so lateness and fairness still count from it.
    pub fn reschedule(&mut self, due: &DueStep, at: DateTime<Utc>, reason: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE enrollments SET next_due_at = ?2, reason = ?3 WHERE id = ?1 AND state = 'active'",
            params![due.enrollment_id, at.timestamp(), reason],
        )?;
        Ok(())
    }

    /// Pauses an enrollment for a person, with the reason (a template that no
    /// longer renders for the lead, a step that vanished from its cadence).
    pub fn hold(&mut self, due: &DueStep, reason: &str, now: DateTime<Utc>) -> Result<()> {
        advance(&self.conn, due.enrollment_id, &Next::Hold(reason.to_string()), now, None)
    }

    /// Sends left `sending` by a process that died mid-send. Only call while
    /// holding the [`DispatchLock`], so that no live send is among them.
    pub fn interrupted(&self) -> Result<Vec<Interrupted>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.id, e.lead_id, l.email, l.fields, l.timezone, e.cadence, t.step, e.next_due_at, e.attempts,
                    e.planned_at, e.reason, e.owner, e.task_id, t.id, t.message_id, t.at
             FROM touchpoints t JOIN enrollments e ON e.id = t.enrollment_id JOIN leads l ON l.id = t.lead_id
             WHERE t.status = 'sending'
             ORDER BY t.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((RawDue::read(r)?, r.get::<_, i64>(13)?, r.get::<_, Option<String>>(14)?, r.get::<_, i64>(15)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (due, touchpoint_id, message_id, at) = row?;
            out.push(Interrupted { touchpoint_id, due: due.parse()?, message_id, at: from_unix(at) });
        }
        Ok(out)
    }

    /// The groups of sends that were under way at the last claim (see
    /// [`Store::commit_group`]).
    pub fn send_groups(&self) -> Result<Vec<SendGroup>> {
        let text: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'send_groups'", [], |r| r.get(0)).optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
    }

    /// Stores the Message-ID a claimed send is about to use, before it leaves.
    pub fn set_message_id(&mut self, touchpoint_id: i64, message_id: &str) -> Result<()> {
        self.conn
            .execute("UPDATE touchpoints SET message_id = ?2 WHERE id = ?1", params![touchpoint_id, message_id])?;
        Ok(())
    }

    /// The lead with all enrollments and touchpoints, or `None` if unknown.
    pub fn lead(&self, email: &str) -> Result<Option<LeadView>> {
        let lead: Option<(i64, String, String, Option<String>)> = self
            .conn
            .query_row("SELECT id, email, fields, timezone FROM leads WHERE email = ?1", [email], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((lead_id, email, fields, timezone)) = lead else {
            return Ok(None);
        };
        let mut enrollments_stmt = self.conn.prepare_cached(
            "SELECT id, cadence, state, step, next_due_at, reason, enrolled_at, attempts, last_error, owner, task_id
             FROM enrollments WHERE lead_id = ?1 ORDER BY enrolled_at, id",
        )?;
        let mut touch_stmt = self.conn.prepare_cached(
            "SELECT step, kind, status, at, message_id, subject, detail, reason, id, closed_at, note
             FROM touchpoints WHERE lead_id = ?1 AND cadence = ?2 ORDER BY at, id",
        )?;
        let mut enrollments = Vec::new();
        let rows = enrollments_stmt.query_map([lead_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                EnrollmentView {
                    cadence: r.get(1)?,
                    state: r.get(2)?,
                    next_step: r.get(3)?,
                    next_due_at: r.get::<_, Option<i64>>(4)?.map(from_unix),
                    reason: r.get(5)?,
                    enrolled_at: from_unix(r.get(6)?),
                    attempts: r.get(7)?,
                    last_error: r.get(8)?,
                    owner: r.get(9)?,
                    task_id: r.get(10)?,
                    touchpoints: Vec::new(),
                    orphaned: false,
                },
            ))
        })?;
        for row in rows {
            let (_, mut view) = row?;
            let touches = touch_stmt.query_map(params![lead_id, view.cadence], |r| {
                Ok(Touchpoint {
                    step: r.get(0)?,
                    kind: r.get(1)?,
                    status: r.get(2)?,
                    at: from_unix(r.get(3)?),
                    message_id: r.get(4)?,
                    subject: r.get(5)?,
                    detail: r.get(6)?,
                    reason: r.get(7)?,
                    id: r.get(8)?,
                    closed_at: r.get::<_, Option<i64>>(9)?.map(from_unix),
                    note: r.get(10)?,
                })
            })?;
            view.touchpoints = touches.collect::<rusqlite::Result<_>>()?;
            enrollments.push(view);
        }
        let inbound = self.inbound_for(&email)?;
        let suppressed = self.suppressed(&email)?.map(|(reason, _)| reason);
        Ok(Some(LeadView { email, fields: serde_json::from_str(&fields)?, timezone, enrollments, inbound, suppressed }))
    }

    /// Calls `f` with each lead and enrollment that `filter` matches, by email
    /// then cadence, as the rows are read (nothing is collected: a listing of
    /// half a million rows costs no memory). Without any filter, leads that have
    /// no enrollment are listed too, with empty enrollment columns.
    pub fn for_each_lead<E: From<StoreError>>(
        &self,
        filter: &LeadFilter<'_>,
        mut f: impl FnMut(&EnrollmentRow) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        const COLUMNS: &str = "SELECT l.email, l.timezone, e.cadence, e.state, e.step, e.next_due_at, e.reason";
        // Only the filters given are in the WHERE clause, so that the planner
        // can pick the index that fits them ((cadence, state) or (owner, state)).
        let owner = filter.owner.map(str::to_ascii_lowercase);
        let mut conditions = Vec::new();
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::new();
        if let Some(cadence) = &filter.cadence {
            values.push(cadence);
            conditions.push(format!("e.cadence = ?{}", values.len()));
        }
        let state = filter.state.map(State::as_str);
        if let Some(state) = &state {
            values.push(state);
            conditions.push(format!("e.state = ?{}", values.len()));
        }
        // Owners are stored lowercased (intake, cadence and mailbox owners alike):
        // a plain comparison with the lowercased argument is case-insensitive
        // for the user and can use the index, which COLLATE NOCASE cannot.
        if let Some(owner) = &owner {
            values.push(owner);
            conditions.push(format!("e.owner = ?{}", values.len()));
        }
        let sql = if conditions.is_empty() {
            format!("{COLUMNS} FROM leads l LEFT JOIN enrollments e ON l.id = e.lead_id ORDER BY l.email, e.cadence")
        } else {
            format!(
                "{COLUMNS} FROM enrollments e JOIN leads l ON l.id = e.lead_id WHERE {} ORDER BY l.email, e.cadence",
                conditions.join(" AND ")
            )
        };
        let mut stmt = self.conn.prepare_cached(&sql).map_err(StoreError::from)?;
        let mut rows = stmt.query(values.as_slice()).map_err(StoreError::from)?;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            f(&enrollment_row(r).map_err(StoreError::from)?)?;
        }
        Ok(())
    }

    /// Active enrollments due at or before `until`, soonest first.
    pub fn upcoming(&self, until: DateTime<Utc>) -> Result<Vec<EnrollmentRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT l.email, l.timezone, e.cadence, e.state, e.step, e.next_due_at, e.reason
             FROM enrollments e JOIN leads l ON l.id = e.lead_id
             WHERE e.state = 'active' AND e.next_due_at <= ?1
             ORDER BY e.next_due_at, e.id",
        )?;
        let rows = stmt.query_map([until.timestamp()], enrollment_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Pauses, resumes or stops the lead's enrollments (in `cadence` only, when
    /// given). Returns what changed; `None` when the lead is unknown.
    pub fn change_state(
        &mut self,
        email: &str,
        cadence: Option<&str>,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Changed>>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let lead_id: Option<i64> =
            tx.query_row("SELECT id FROM leads WHERE email = ?1", [email], |r| r.get(0)).optional()?;
        let Some(lead_id) = lead_id else {
            return Ok(None);
        };
        let (from, to) = match action {
            Action::Pause => (vec![State::Active], State::Paused),
            Action::Resume => (vec![State::Paused], State::Active),
            Action::Stop => (vec![State::Active, State::Paused], State::Stopped),
        };
        let mut changed = Vec::new();
        {
            let mut select = tx.prepare_cached(
                "SELECT id, cadence, state FROM enrollments WHERE lead_id = ?1 AND (?2 IS NULL OR cadence = ?2)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE enrollments SET state = ?2, attempts = 0, last_error = NULL, resume_at = NULL, updated_at = ?3
                 WHERE id = ?1",
            )?;
            let rows: Vec<(i64, String, String)> = select
                .query_map(params![lead_id, cadence], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, cadence, state) in rows {
                let Some(state) = State::parse(&state) else {
                    continue;
                };
                if from.contains(&state) {
                    update.execute(params![id, to.as_str(), now.timestamp()])?;
                    changed.push(Changed { cadence, from: state, to });
                }
            }
        }
        tx.commit()?;
        Ok(Some(changed))
    }

    /// Email sends of `mailbox` (sent, failed, uncertain or in flight) from
    /// `from` up to, not including, `until`, and the latest one (time, touchpoint).
    pub fn mailbox_sends(&self, mailbox: &str, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<MailboxSends> {
        let count: u32 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM touchpoints
             WHERE mailbox = ?1 AND at >= ?2 AND at < ?3 AND status IN ('sending', 'sent', 'failed', 'uncertain')",
            )?
            .query_row(params![mailbox, from.timestamp(), until.timestamp()], |r| r.get(0))?;
        let last: Option<(i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT at, id FROM touchpoints
                 WHERE mailbox = ?1 AND at < ?2 AND status IN ('sending', 'sent', 'failed', 'uncertain')
                 ORDER BY at DESC, id DESC LIMIT 1",
            )?
            .query_row(params![mailbox, until.timestamp()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(MailboxSends { count, last: last.map(|(at, id)| (from_unix(at), id)) })
    }

    /// Calls `f` with every active enrollment, streaming (for `forecast`).
    pub fn for_each_active(&self, mut f: impl FnMut(ActiveRow)) -> Result<()> {
        // NOT INDEXED: a full scan in table order beats two random lookups per row through the due index.
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.cadence, e.step, e.next_due_at, l.timezone, l.fields
             FROM enrollments e NOT INDEXED JOIN leads l ON l.id = e.lead_id
             WHERE e.state = 'active' AND e.next_due_at IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let fields: String = r.get(4)?;
            f(ActiveRow {
                cadence: r.get(0)?,
                step: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                due_at: from_unix(r.get(2)?),
                timezone: r.get(3)?,
                fields: serde_json::from_str(&fields)?,
            });
        }
        Ok(())
    }

    /// A consistent copy of the database at `dest` (SQLite's online backup,
    /// safe while the daemon writes), created mode 0600 under a temporary
    /// name and renamed into place when complete.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        let shown = dest.display().to_string();
        let io = |source| StoreError::Io { path: shown.clone(), source };
        if dest.exists() {
            return Err(io(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "file exists; not overwriting")));
        }
        let mut tmp_name = dest.as_os_str().to_owned();
        tmp_name.push(".partial");
        let tmp = Path::new(&tmp_name);
        {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new().create_new(true).write(true).mode(0o600).open(tmp).map_err(io)?;
        }
        let result = (|| -> Result<()> {
            let mut target = Connection::open(tmp)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut target)?;
            backup.run_to_completion(1024, Duration::from_millis(5), None)?;
            drop(backup);
            target.pragma_update(None, "journal_mode", "DELETE")?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(tmp);
            return Err(e);
        }
        std::fs::rename(tmp, dest).map_err(io)
    }

    /// The steps an enrollment has a touchpoint for.
    pub fn touched_steps(&self, enrollment_id: i64) -> Result<Vec<String>> {
        // By lead and cadence, the touchpoints' unique index (an enrollment is one of each).
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.step FROM enrollments e JOIN touchpoints t ON t.lead_id = e.lead_id AND t.cadence = e.cadence
             WHERE e.id = ?1",
        )?;
        let rows = stmt.query_map([enrollment_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Active or paused enrollments by cadence whose cadence is not among
    /// `loaded`: leads whose cadence file is gone.
    pub fn orphaned(&self, loaded: &[String]) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT cadence, count(*) FROM enrollments
             WHERE state IN ('active', 'paused') AND cadence NOT IN (SELECT value FROM json_each(?1))
             GROUP BY cadence ORDER BY cadence",
        )?;
        let rows = stmt.query_map([serde_json::to_string(loaded)?], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Counts enrollments by state (for `check` and the daemon's start line).
    pub fn counts(&self) -> Result<Vec<(String, i64)>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT state, count(*) FROM enrollments GROUP BY state ORDER BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A due step as read, before its JSON fields are parsed.
struct RawDue {
    enrollment_id: i64,
    lead_id: i64,
    email: String,
    fields: String,
    timezone: Option<String>,
    cadence: String,
    step: Option<String>,
    due_at: Option<i64>,
    attempts: u32,
    planned_at: Option<i64>,
    reason: Option<String>,
    owner: Option<String>,
    task_id: Option<i64>,
}

impl RawDue {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawDue> {
        Ok(RawDue {
            enrollment_id: r.get(0)?,
            lead_id: r.get(1)?,
            email: r.get(2)?,
            fields: r.get(3)?,
            timezone: r.get(4)?,
            cadence: r.get(5)?,
            step: r.get(6)?,
            due_at: r.get(7)?,
            attempts: r.get(8)?,
            planned_at: r.get(9)?,
            reason: r.get(10)?,
            owner: r.get(11)?,
            task_id: r.get(12)?,
        })
    }

    fn parse(self) -> Result<DueStep> {
        Ok(DueStep {
            enrollment_id: self.enrollment_id,
            lead_id: self.lead_id,
            email: self.email,
            fields: serde_json::from_str(&self.fields)?,
            timezone: self.timezone,
            cadence: self.cadence,
            step: self.step.unwrap_or_default(),
            due_at: from_unix(self.due_at.unwrap_or_default()),
            planned_at: from_unix(self.planned_at.or(self.due_at).unwrap_or_default()),
            reason: self.reason,
            attempts: self.attempts,
            owner: self.owner,
            task_id: self.task_id,
        })
    }
}

/// Leads being enrolled in one transaction (see [`Store::begin_enrolling`]);
/// dropped without [`commit`](Enrolling::commit), it leaves the database as it was.
pub struct Enrolling<'s> {
    insert_lead: rusqlite::Statement<'s>,
    /// Inserts [`ENROLL_BATCH`] enrollments at once.
    insert_enrollments: rusqlite::Statement<'s>,
    /// Enrollments added and not inserted yet; inserted before anything reads
    /// enrollments and before the commit.
    pending: Vec<PendingEnrollment>,
    tx: rusqlite::Transaction<'s>,
    now: i64,
    any_suppressed: bool,
    /// Indexes dropped for a bulk load, built again before the commit.
    rebuild: Vec<String>,
}

impl Enrolling<'_> {
    /// Adds or updates `row`'s lead (fields merge, new values win) and enrolls
    /// it; a lead already in the cadence, in whatever state, is left exactly as
    /// it is, and a suppressed address is not enrolled.
    pub fn add(&mut self, row: &NewEnrollment) -> Result<EnrollOutcome> {
        let tx = &self.tx;
        if self.any_suppressed {
            let reason: Option<String> = tx
                .prepare_cached("SELECT reason FROM suppressions WHERE email = ?1")?
                .query_row([&row.email], |r| r.get(0))
                .optional()?;
            if let Some(reason) = reason {
                return Ok(EnrollOutcome::Suppressed(reason));
            }
        }
        // A new lead (the common case in an import) is inserted without a
        // lookup first: the unique (case-insensitive) email index finds an
        // existing one, and only then is it read.
        let fields = serde_json::to_string(&row.fields)?;
        let inserted = self.insert_lead.execute(params![row.email, fields, row.timezone, self.now])?;
        let lead_id = if inserted == 1 {
            self.tx.last_insert_rowid()
        } else {
            // An existing lead: what follows reads enrollments, so insert the pending ones first.
            self.flush()?;
            let tx = &self.tx;
            let (id, fields): (i64, String) = tx
                .prepare_cached("SELECT id, fields FROM leads WHERE email = ?1")?
                .query_row([&row.email], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let state: Option<String> = tx
                .prepare_cached("SELECT state FROM enrollments WHERE lead_id = ?1 AND cadence = ?2")?
                .query_row(params![id, row.cadence], |r| r.get(0))
                .optional()?;
            if let Some(state) = state {
                // Already in this cadence: nothing changes, not even the fields.
                return Ok(EnrollOutcome::AlreadyEnrolled(State::parse(&state).unwrap_or(State::Active)));
            }
            let mut merged: Fields = serde_json::from_str(&fields)?;
            merged.extend(row.fields.clone());
            tx.prepare_cached(
                "UPDATE leads SET fields = ?2, timezone = COALESCE(?3, timezone), updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id, serde_json::to_string(&merged)?, row.timezone, self.now])?;
            id
        };
        self.pending.push(PendingEnrollment {
            lead_id,
            cadence: row.cadence.clone(),
            step: row.first_step.clone(),
            due_at: row.due_at.timestamp(),
            planned_at: row.planned_at.timestamp(),
            reason: row.reason.clone(),
            owner: row.owner.clone(),
        });
        if self.pending.len() == ENROLL_BATCH {
            self.flush()?;
        }
        Ok(EnrollOutcome::Enrolled)
    }

    /// Inserts the pending enrollments.
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(self.pending.len() * 8);
        for p in &self.pending {
            values.extend([
                &p.lead_id as &dyn rusqlite::ToSql,
                &p.cadence,
                &p.step,
                &p.due_at,
                &p.planned_at,
                &p.reason,
                &self.now,
                &p.owner,
            ]);
        }
        if self.pending.len() == ENROLL_BATCH {
            self.insert_enrollments.execute(values.as_slice())?;
        } else {
            self.tx.prepare_cached(&insert_enrollments_sql(self.pending.len()))?.execute(values.as_slice())?;
        }
        self.pending.clear();
        Ok(())
    }

    /// Writes every lead added.
    pub fn commit(mut self) -> Result<()> {
        self.flush()?;
        let Enrolling { insert_lead, insert_enrollments, tx, rebuild, .. } = self;
        drop((insert_lead, insert_enrollments));
        for sql in rebuild {
            tx.execute_batch(&sql)?;
        }
        Ok(tx.commit()?)
    }
}

/// Enrollments inserted by one statement: the table's CHECK on `state` costs
/// about as much as the rest of the insert once per statement (SQLite builds
/// the IN list each time), so it is paid once per batch instead of per row.
const ENROLL_BATCH: usize = 64;

/// An enrollment added to an [`Enrolling`] and not inserted yet.
struct PendingEnrollment {
    lead_id: i64,
    cadence: String,
    step: String,
    due_at: i64,
    planned_at: i64,
    reason: Option<String>,
    owner: Option<String>,
}

/// `INSERT INTO enrollments ... VALUES` with `rows` rows of 8 parameters each.
fn insert_enrollments_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO enrollments
             (lead_id, cadence, state, step, next_due_at, planned_at, reason, enrolled_at, updated_at, owner)
         VALUES ",
    );
    for i in 0..rows {
        let n = i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(?{}, ?{}, 'active', ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7,
            n + 7,
            n + 8
        ));
    }
    sql
}

fn enrollment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnrollmentRow> {
    Ok(EnrollmentRow {
        email: r.get(0)?,
        timezone: r.get(1)?,
        cadence: r.get(2)?,
        state: r.get(3)?,
        step: r.get(4)?,
        next_due_at: r.get::<_, Option<i64>>(5)?.map(from_unix),
        reason: r.get(6)?,
    })
}

/// Inserts the `sending` touchpoint that claims `due`, unless the enrollment
/// moved on or the step already has its touchpoint.
fn claim_row(
    conn: &Connection,
    due: &DueStep,
    kind: &str,
    mailbox: Option<&str>,
    now: DateTime<Utc>,
    message_id: Option<&dyn Fn(i64) -> String>,
    content: Option<&Content<'_>>,
) -> Result<Option<(i64, Option<String>)>> {
    // The id is chosen here (as SQLite would: one past the largest, inside this
    // IMMEDIATE transaction) so that the Message-ID made from it goes in with the row.
    let id: i64 =
        conn.prepare_cached("SELECT COALESCE(max(id), 0) + 1 FROM touchpoints")?.query_row([], |r| r.get(0))?;
    let message_id = message_id.map(|f| f(id));
    let inserted = conn
        .prepare_cached(
            "INSERT INTO touchpoints (id, enrollment_id, lead_id, cadence, step, kind, status, at, mailbox, owner,
                                      message_id, subject, body)
             SELECT ?1, e.id, e.lead_id, e.cadence, e.step, ?2, 'sending', ?3, ?4, ?5, ?6, ?9, ?10 FROM enrollments e
             WHERE e.id = ?7 AND e.state = 'active' AND e.step = ?8 AND e.next_due_at <= ?3
             ON CONFLICT (lead_id, cadence, step) DO NOTHING",
        )?
        .execute(params![
            id,
            kind,
            now.timestamp(),
            mailbox,
            due.owner,
            message_id,
            due.enrollment_id,
            due.step,
            content.and_then(|c| c.subject),
            content.map(|c| c.body)
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    Ok(Some((id, message_id)))
}

fn complete_in(conn: &Connection, touchpoint_id: i64, outcome: &Outcome, next: &Next) -> Result<()> {
    conn.prepare_cached(
        // What the claim stored (Message-ID, an email's subject and body) stays
        // unless the outcome says otherwise.
        "UPDATE touchpoints SET status = ?2, at = ?3, message_id = COALESCE(?4, message_id),
                subject = COALESCE(?5, subject), body = COALESCE(?6, body), detail = ?7, reason = ?8
         WHERE id = ?1",
    )?
    .execute(params![
        touchpoint_id,
        outcome.status.as_str(),
        outcome.at.timestamp(),
        outcome.message_id,
        outcome.subject,
        outcome.body,
        outcome.detail,
        outcome.reason
    ])?;
    let enrollment_id: i64 = conn
        .prepare_cached("SELECT enrollment_id FROM touchpoints WHERE id = ?1")?
        .query_row([touchpoint_id], |r| r.get(0))?;
    advance(conn, enrollment_id, next, outcome.at, Some(touchpoint_id))
}

/// Gives a claim back: its `sending` touchpoint goes; the enrollment is untouched.
fn unclaim_in(conn: &Connection, touchpoint_id: i64) -> Result<()> {
    execute_cached(conn, "DELETE FROM touchpoints WHERE id = ?1 AND status = 'sending'", [touchpoint_id])?;
    Ok(())
}

/// `conn.execute`, with the statement kept prepared: for the statements every send runs.
fn execute_cached(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

fn defer_in(conn: &Connection, enrollment_id: i64, retry_at: DateTime<Utc>, error: &str, count: bool) -> Result<()> {
    execute_cached(
        conn,
        "UPDATE enrollments SET next_due_at = ?2, attempts = attempts + ?4, last_error = ?3, reason = 'retry',
                updated_at = ?2
         WHERE id = ?1",
        params![enrollment_id, retry_at.timestamp(), error, i64::from(count)],
    )?;
    Ok(())
}

fn advance(
    conn: &Connection,
    enrollment_id: i64,
    next: &Next,
    at: DateTime<Utc>,
    touchpoint_id: Option<i64>,
) -> Result<()> {
    if let Next::ThenHold(next, why) = next {
        advance(conn, enrollment_id, next, at, touchpoint_id)?;
        return advance(conn, enrollment_id, &Next::Hold(why.clone()), at, None);
    }
    let at = at.timestamp();
    match next {
        Next::ThenHold(..) => 0,
        Next::Block { until } => execute_cached(
            conn,
            "UPDATE enrollments SET task_id = ?2, next_due_at = ?3, planned_at = ?3, reason = NULL, attempts = 0,
                    last_error = NULL, updated_at = ?4
             WHERE id = ?1",
            params![enrollment_id, touchpoint_id, until.map(|u| u.timestamp()), at],
        )?,
        Next::Step { id, due_at, planned_at, reason } => execute_cached(
            conn,
            "UPDATE enrollments SET step = ?2, next_due_at = ?3, planned_at = ?4, reason = ?5, attempts = 0,
                    last_error = NULL, updated_at = ?6, task_id = NULL
             WHERE id = ?1",
            params![enrollment_id, id, due_at.timestamp(), planned_at.timestamp(), reason, at],
        )?,
        Next::Finished => execute_cached(
            conn,
            "UPDATE enrollments SET state = 'finished', step = NULL, next_due_at = NULL, reason = NULL,
                    attempts = 0, last_error = NULL, updated_at = ?2, task_id = NULL
             WHERE id = ?1",
            params![enrollment_id, at],
        )?,
        Next::End(state) => execute_cached(
            conn,
            "UPDATE enrollments SET state = ?2, next_due_at = NULL, reason = NULL, updated_at = ?3 WHERE id = ?1",
            params![enrollment_id, state.as_str(), at],
        )?,
        Next::Hold(why) => execute_cached(
            conn,
            "UPDATE enrollments SET state = 'paused', last_error = ?2, updated_at = ?3 WHERE id = ?1",
            params![enrollment_id, why, at],
        )?,
    };
    Ok(())
}

#[cfg(test)]
mod tests;
