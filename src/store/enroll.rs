//! Adding leads and enrolling them, one at a time (`enroll`) or in bulk
//! (`import`), each batch in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::cadence::Fields;
use crate::model::{Reason, State};

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
    pub reason: Option<Reason>,
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

impl Store {
    /// Adds or updates each lead (fields merge, new values win) and enrolls it,
    /// all in one transaction. A lead already in the cadence, in whatever state,
    /// is left exactly as it is.
    pub fn enroll_many(&mut self, rows: &[NewEnrollment], now: DateTime<Utc>) -> Result<Vec<EnrollOutcome>> {
        let mut enrolling = self.begin_enrolling(now, false)?;
        let outcomes = rows.iter().map(|row| enrolling.add(row)).collect::<Result<Vec<_>>>()?;
        enrolling.commit()?;
        Ok(outcomes)
    }

    /// [`Enrolling::refuse`] for one address, in a transaction of its own.
    pub fn refuse(&mut self, email: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
        let mut enrolling = self.begin_enrolling(now, false)?;
        enrolling.refuse(email, reason)?;
        enrolling.commit()
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
            // Likewise the trigger that counts enrollments per cadence and
            // state: counted once, in one statement, before the commit.
            let trigger: Option<String> = conn
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'count_enrollment_insert'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(sql) = trigger {
                conn.execute_batch("DROP TRIGGER count_enrollment_insert")?;
                rebuild.push(sql);
                rebuild.push(
                    "DELETE FROM enrollment_counts;
                     INSERT INTO enrollment_counts SELECT cadence, state, count(*) FROM enrollments GROUP BY 1, 2;"
                        .to_string(),
                );
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
    pub(super) rebuild: Vec<String>,
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
            reason: row.reason,
            owner: row.owner.clone(),
        });
        if self.pending.len() == ENROLL_BATCH {
            self.flush()?;
        }
        Ok(EnrollOutcome::Enrolled)
    }

    /// Keeps `email` out for good, as a dead bounce does, in this
    /// transaction: the lead preflight refused it (`reason` says why). A known
    /// lead's active and paused enrollments end as bounced; the address goes
    /// on the suppression list, so no later `enroll` or `import` takes it.
    pub fn refuse(&mut self, email: &str, reason: &str) -> Result<()> {
        // The pending enrollments may include this lead's.
        self.flush()?;
        self.tx
            .prepare_cached(
                "UPDATE enrollments SET state = 'bounced', next_due_at = NULL, resume_at = NULL, updated_at = ?3,
                        last_error = ?2
                 WHERE lead_id = (SELECT id FROM leads WHERE email = ?1) AND state IN ('active', 'paused')",
            )?
            .execute(params![email, reason, self.now])?;
        self.tx
            .prepare_cached(
                "INSERT INTO suppressions (email, reason, at) VALUES (?1, ?2, ?3) ON CONFLICT (email) DO NOTHING",
            )?
            .execute(params![email, reason, self.now])?;
        self.any_suppressed = true;
        Ok(())
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
    reason: Option<Reason>,
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
