//! Read views for the CLI: a lead with its timeline (`status`), listings
//! (`leads`, `due`), what `forecast` and the caps read, and the counts
//! `check` reports. Nothing here writes.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::inbox::Inbound;
use super::{Result, Store, StoreError};
use crate::cadence::Fields;
use crate::model::{Reason, State, Status};
use crate::time::from_unix;

#[derive(Debug, Clone)]
pub struct Touchpoint {
    pub id: i64,
    pub step: String,
    pub kind: String,
    pub status: Status,
    pub at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub reason: Option<Reason>,
    pub closed_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// The step's variant the lead got.
    pub variant: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EnrollmentView {
    pub cadence: String,
    pub state: State,
    pub next_step: Option<String>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub reason: Option<Reason>,
    pub enrolled_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub owner: Option<String>,
    /// The open blocking task the enrollment waits for.
    pub task_id: Option<i64>,
    /// Who ended it, when it was not the lead itself (a colleague's reply).
    pub ended_by: Option<String>,
    pub touchpoints: Vec<Touchpoint>,
    /// Set by the caller: its cadence file is gone.
    pub orphaned: bool,
    /// Set by the caller: its cadence's mailbox paused itself, and why.
    pub mailbox_paused: Option<String>,
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
    /// Meetings, deals won and lost, oldest first.
    pub outcomes: Vec<super::LeadOutcome>,
}

/// One row of `leads` or `due`: a lead in one cadence.
#[derive(Debug, Clone)]
pub struct EnrollmentRow {
    pub email: String,
    pub timezone: Option<String>,
    pub cadence: Option<String>,
    pub state: Option<State>,
    pub step: Option<String>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub reason: Option<Reason>,
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

impl Store {
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
            "SELECT id, cadence, state, step, next_due_at, reason, enrolled_at, attempts, last_error, owner, task_id,
                    ended_by
             FROM enrollments WHERE lead_id = ?1 ORDER BY enrolled_at, id",
        )?;
        let mut touch_stmt = self.conn.prepare_cached(
            "SELECT step, kind, status, at, message_id, subject, detail, reason, id, closed_at, note, variant
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
                    ended_by: r.get(11)?,
                    touchpoints: Vec::new(),
                    orphaned: false,
                    mailbox_paused: None,
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
                    variant: r.get(11)?,
                })
            })?;
            view.touchpoints = touches.collect::<rusqlite::Result<_>>()?;
            enrollments.push(view);
        }
        let inbound = self.inbound_for(&email)?;
        let suppressed = self.suppressed(&email)?.map(|(reason, _)| reason);
        let outcomes = self.lead_outcomes(lead_id)?;
        Ok(Some(LeadView {
            email,
            fields: serde_json::from_str(&fields)?,
            timezone,
            enrollments,
            inbound,
            suppressed,
            outcomes,
        }))
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
