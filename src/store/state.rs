//! State changes asked from the CLI: pause, resume and stop a lead's enrollments.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::model::State;

/// A change asked of a lead's enrollments from the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
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

impl Store {
    /// Pauses, resumes or stops the lead's enrollments (in `cadence` only, when
    /// given). Returns what changed; `None` when the lead is unknown.
    pub fn change_state(
        &mut self,
        email: &str,
        cadence: Option<&str>,
        change: Change,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Changed>>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let lead_id: Option<i64> =
            tx.query_row("SELECT id FROM leads WHERE email = ?1", [email], |r| r.get(0)).optional()?;
        let Some(lead_id) = lead_id else {
            return Ok(None);
        };
        let (from, to) = match change {
            Change::Pause => (vec![State::Active], State::Paused),
            Change::Resume => (vec![State::Paused], State::Active),
            Change::Stop => (vec![State::Active, State::Paused], State::Stopped),
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
}
