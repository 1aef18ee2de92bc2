//! Cadence versions: a snapshot of each cadence as a tick or the daemon
//! loaded it (what its leads were planned against), the leads in flight as
//! `check` and the plan read them, and the rows an edit writes: a moved due
//! time, a new version. What an edit does is decided in
//! [`crate::tick::reload`] (with [`crate::core::changes`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};

use super::{Result, Store, StoreError};
use crate::core::changes::{InFlight, Snapshot, Touch};
use crate::model::State;
use crate::time::from_unix;

/// A recorded version of a cadence.
#[derive(Debug, Clone)]
pub struct Version {
    pub snapshot: Snapshot,
    pub loaded_at: DateTime<Utc>,
}

/// An in-flight enrollment as read, with its lead's id (for its touchpoints).
#[derive(Debug, Clone)]
pub struct InFlightRow {
    pub lead_id: i64,
    pub cadence: String,
    pub lead: InFlight,
}

impl Store {
    /// The latest recorded version of each cadence.
    pub fn cadence_versions(&self) -> Result<BTreeMap<String, Version>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT v.cadence, v.loaded_at, v.snapshot FROM cadence_versions v
             WHERE v.id = (SELECT max(id) FROM cadence_versions w WHERE w.cadence = v.cadence)",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (cadence, loaded_at, text) = row?;
            // A snapshot this version cannot read is as good as none: the next load records one.
            if let Ok(snapshot) = serde_json::from_str(&text) {
                out.insert(cadence, Version { snapshot, loaded_at: from_unix(loaded_at) });
            }
        }
        Ok(out)
    }

    /// Calls `f` with each active or paused enrollment (of `cadence` only,
    /// when given), by enrollment id, as the rows are read.
    pub fn for_each_in_flight<E: From<StoreError>>(
        &self,
        cadence: Option<&str>,
        mut f: impl FnMut(InFlightRow) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.id, e.lead_id, l.email, e.cadence, e.state, e.step, e.next_due_at, e.planned_at, e.task_id,
                        e.enrolled_at, l.timezone, l.fields
                 FROM enrollments e JOIN leads l ON l.id = e.lead_id
                 WHERE e.state IN ('active', 'paused') AND (?1 IS NULL OR e.cadence = ?1)
                 ORDER BY e.id",
            )
            .map_err(StoreError::from)?;
        let mut rows = stmt.query([cadence]).map_err(StoreError::from)?;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            let row = read_in_flight(r).map_err(StoreError::from)?;
            f(row)?;
        }
        Ok(())
    }

    /// The touchpoints of lead `lead_id` in `cadence`, oldest first.
    pub fn touches(&self, lead_id: i64, cadence: &str) -> Result<Vec<Touch>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT step, at, closed_at FROM touchpoints WHERE lead_id = ?1 AND cadence = ?2 ORDER BY at, id",
        )?;
        let rows = stmt.query_map(params![lead_id, cadence], |r| {
            Ok(Touch {
                step: r.get(0)?,
                at: from_unix(r.get(1)?),
                closed_at: r.get::<_, Option<i64>>(2)?.map(from_unix),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Runs `f` in one IMMEDIATE transaction (the write lock first, so no
    /// other process changes what `f` reads before it writes), committed when
    /// `f` returns `Ok`, rolled back otherwise.
    pub fn in_write_transaction<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        // `&mut self` keeps any other transaction off this connection meanwhile.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let out = f(self)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Moves enrollment `enrollment_id`'s next step `step` to `due_at`, if it
    /// still waits there (at `from_due`, not for a task, in flight): a tick
    /// that moved it meanwhile wins.
    pub fn move_next_due(
        &self,
        enrollment_id: i64,
        step: &str,
        from_due: Option<DateTime<Utc>>,
        due_at: DateTime<Utc>,
        planned_at: DateTime<Utc>,
        reason: Option<&crate::model::Reason>,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE enrollments SET next_due_at = ?3, planned_at = ?4, reason = ?5
                 WHERE id = ?1 AND step = ?2 AND state IN ('active', 'paused') AND task_id IS NULL
                   AND next_due_at IS ?6",
            )?
            .execute(params![
                enrollment_id,
                step,
                due_at.timestamp(),
                planned_at.timestamp(),
                reason,
                from_due.map(|d| d.timestamp())
            ])?;
        Ok(())
    }

    /// Records `snapshot` as `cadence`'s version loaded at `now`.
    pub fn record_cadence_version(&self, cadence: &str, snapshot: &Snapshot, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO cadence_versions (cadence, loaded_at, snapshot) VALUES (?1, ?2, ?3)")?
            .execute(params![cadence, now.timestamp(), serde_json::to_string(snapshot)?])?;
        Ok(())
    }
}

fn read_in_flight(r: &rusqlite::Row<'_>) -> rusqlite::Result<InFlightRow> {
    let fields: String = r.get(11)?;
    let fields = serde_json::from_str(&fields)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, Box::new(e)))?;
    let state: State = r.get(4)?;
    Ok(InFlightRow {
        lead_id: r.get(1)?,
        cadence: r.get(3)?,
        lead: InFlight {
            enrollment_id: r.get(0)?,
            email: r.get(2)?,
            state,
            step: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            due_at: r.get::<_, Option<i64>>(6)?.map(from_unix),
            planned_at: r.get::<_, Option<i64>>(7)?.map(from_unix),
            waiting_for_task: r.get::<_, Option<i64>>(8)?.is_some(),
            enrolled_at: from_unix(r.get(9)?),
            timezone: r.get(10)?,
            fields,
        },
    })
}
