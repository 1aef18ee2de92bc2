//! Tasks: the open touchpoints of manual steps, listed for owners and closed
//! from the CLI (or by expiry), moving a waiting enrollment on.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::claims::advance;
use super::{Result, Store};
use crate::cadence::Fields;
use crate::model::{Next, Reason, Status, Task};
use crate::time::from_unix;

/// Which open tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter<'a> {
    pub owner: Option<&'a str>,
    /// Only tasks that opened before this instant.
    pub opened_before: Option<DateTime<Utc>>,
}

const TASK_COLUMNS: &str =
    "t.id, l.email, l.fields, l.timezone, t.cadence, t.step, t.kind, t.owner, t.at, t.body, t.status,
    e.task_id IS t.id";

fn read_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Task, String)> {
    Ok((
        Task {
            id: r.get(0)?,
            email: r.get(1)?,
            fields: Fields::new(),
            timezone: r.get(3)?,
            cadence: r.get(4)?,
            step: r.get(5)?,
            kind: r.get(6)?,
            owner: r.get(7)?,
            due_at: from_unix(r.get(8)?),
            body: r.get(9)?,
            status: r.get(10)?,
            blocking: r.get(11)?,
        },
        r.get(2)?,
    ))
}

fn with_fields(row: rusqlite::Result<(Task, String)>) -> Result<Task> {
    let (mut task, fields) = row?;
    task.fields = serde_json::from_str(&fields)?;
    Ok(task)
}

impl Store {
    /// Open tasks, oldest first.
    pub fn open_tasks(&self, filter: &TaskFilter<'_>) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS}
             FROM touchpoints t JOIN leads l ON l.id = t.lead_id JOIN enrollments e ON e.id = t.enrollment_id
             WHERE t.status = 'open' AND (?1 IS NULL OR t.owner = ?1 COLLATE NOCASE) AND (?2 IS NULL OR t.at < ?2)
             ORDER BY t.at, t.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![filter.owner, filter.opened_before.map(|t| t.timestamp())], read_task)?;
        rows.map(with_fields).collect()
    }

    /// One task, open or closed.
    pub fn task(&self, id: i64) -> Result<Option<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS}
             FROM touchpoints t JOIN leads l ON l.id = t.lead_id JOIN enrollments e ON e.id = t.enrollment_id
             WHERE t.id = ?1 AND t.kind != 'email'"
        );
        let row = self.conn.query_row(&sql, [id], read_task).optional()?;
        row.map(|r| with_fields(Ok(r))).transpose()
    }

    /// Closes open task `id` as done or skipped, with the note and the reason,
    /// and, if its enrollment waits for it, moves the enrollment on with what
    /// `next` plans from the closing time: all in one transaction. Returns the
    /// task as it was, or `None` when there is no open task `id`.
    pub fn close_task(
        &mut self,
        id: i64,
        status: Status,
        note: Option<&str>,
        reason: Option<Reason>,
        at: DateTime<Utc>,
        next: impl FnOnce(&Task) -> Next,
    ) -> Result<Option<Task>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sql = format!(
            "SELECT {TASK_COLUMNS}
             FROM touchpoints t JOIN leads l ON l.id = t.lead_id JOIN enrollments e ON e.id = t.enrollment_id
             WHERE t.id = ?1 AND t.status = 'open'"
        );
        let row = tx.query_row(&sql, [id], read_task).optional()?;
        let Some(task) = row.map(|r| with_fields(Ok(r))).transpose()? else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE touchpoints SET status = ?2, closed_at = ?3, note = ?4, reason = COALESCE(?5, reason) WHERE id = ?1",
            params![id, status.as_str(), at.timestamp(), note, reason],
        )?;
        if task.blocking {
            let enrollment_id: i64 =
                tx.query_row("SELECT enrollment_id FROM touchpoints WHERE id = ?1", [id], |r| r.get(0))?;
            advance(&tx, enrollment_id, &next(&task), at, None)?;
        }
        tx.commit()?;
        Ok(Some(task))
    }
}
