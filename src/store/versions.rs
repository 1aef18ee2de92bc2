//! Cadence versions: a snapshot of each cadence as a tick or the daemon
//! loaded it (what its leads were planned against), the leads in flight as
//! `check` and the plan read them, and loading an edit: the new version is
//! recorded and the leads whose step's timing changed are planned again
//! (see [`crate::core::changes`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{TransactionBehavior, params};

use super::{Result, Store, StoreError};
use crate::cadence::{Cadence, Cadences};
use crate::config::Config;
use crate::core::changes::{Analysis, CadencePlan, Cause, InFlight, Plan, Snapshot, Target, Touch};
use crate::model::{LeadTime, State};
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

    /// What loading `cadences` would do to the leads in flight: read only.
    pub fn plan_cadences(&self, config: &Config, cadences: &Cadences, now: DateTime<Utc>) -> Result<Plan> {
        let versions = self.cadence_versions()?;
        let mut plan = Plan { cadences: Vec::new(), gone: self.orphaned(&cadences.names())? };
        for cadence in cadences.by_name.values() {
            let old = versions.get(&cadence.name);
            plan.cadences.push(self.plan_one(config, cadence, old, now, true)?);
        }
        Ok(plan)
    }

    /// Loads `cadences` for a tick or the daemon: for each cadence that
    /// differs from the version recorded, the leads whose step's timing
    /// changed get their new plan, and the version on disk is recorded, all
    /// in one transaction. Returns what it did (cadences that did not change
    /// have no changes). Leads waiting for a removed step are left for the
    /// tick, which skips that step when it falls due.
    pub fn load_cadences(&mut self, config: &Config, cadences: &Cadences, now: DateTime<Utc>) -> Result<Plan> {
        // The common case (nothing edited) takes no write lock.
        let recorded = self.cadence_versions()?;
        let unchanged = |c: &Cadence| recorded.get(&c.name).is_some_and(|v| v.snapshot == Snapshot::of(c));
        if cadences.by_name.values().all(unchanged) {
            return Ok(Plan::default());
        }
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let versions = self.cadence_versions()?;
        let mut plan = Plan { cadences: Vec::new(), gone: Vec::new() };
        for cadence in cadences.by_name.values() {
            let old = versions.get(&cadence.name);
            let snapshot = Snapshot::of(cadence);
            if old.is_some_and(|v| v.snapshot == snapshot) {
                continue;
            }
            if old.is_some() {
                let one = self.plan_one(config, cadence, old, now, false)?;
                for m in &one.moves {
                    let (Cause::Replanned, Target::Step { id, due_at, planned_at, reason }) = (&m.cause, &m.to) else {
                        continue;
                    };
                    tx.prepare_cached(
                        "UPDATE enrollments SET next_due_at = ?3, planned_at = ?4, reason = ?5
                         WHERE id = ?1 AND step = ?2 AND state IN ('active', 'paused') AND task_id IS NULL
                           AND next_due_at IS ?6",
                    )?
                    .execute(params![
                        m.enrollment_id,
                        id,
                        due_at.timestamp(),
                        planned_at.timestamp(),
                        reason,
                        m.from_due.map(|d| d.timestamp())
                    ])?;
                }
                plan.cadences.push(one);
            }
            tx.prepare_cached("INSERT INTO cadence_versions (cadence, loaded_at, snapshot) VALUES (?1, ?2, ?3)")?
                .execute(params![cadence.name, now.timestamp(), serde_json::to_string(&snapshot)?])?;
        }
        tx.commit()?;
        Ok(plan)
    }

    /// [`Store::load_cadences`] for the daemon and `tick`: logs what the edit
    /// did, one line per change (`nurture: check-in-2 removed → 312 leads go
    /// on at check-in-3`), and returns those lines. A database that cannot
    /// record it is logged, not fatal: the ticks go on with the files loaded.
    pub fn load_cadences_logged(&mut self, config: &Config, cadences: &Cadences, now: DateTime<Utc>) -> Vec<String> {
        match self.load_cadences(config, cadences, now) {
            Ok(plan) => {
                let lines = plan.changed_lines();
                for line in &lines {
                    tracing::info!("cadence edit loaded: {line}");
                }
                lines
            }
            Err(e) => {
                tracing::warn!(
                    "cannot record the cadences loaded (check --plan compares against the last recorded): {e}"
                );
                Vec::new()
            }
        }
    }

    /// One cadence's plan against its recorded version `old`. Without
    /// `all_leads`, only a cadence that changed reads its leads.
    fn plan_one(
        &self,
        config: &Config,
        cadence: &Cadence,
        old: Option<&Version>,
        now: DateTime<Utc>,
        all_leads: bool,
    ) -> Result<CadencePlan> {
        let mut analysis = Analysis::new(cadence, old.map(|v| &v.snapshot), now);
        if all_leads || analysis.changed() {
            let old_calendar = old.and_then(|v| v.snapshot.calendar.clone());
            self.for_each_in_flight(Some(&cadence.name), |row: InFlightRow| -> Result<()> {
                let lead = &row.lead;
                let touches =
                    if analysis.needs_history(lead) { self.touches(row.lead_id, &row.cadence)? } else { Vec::new() };
                let time = config.lead_time(Some(cadence), lead.timezone.as_deref(), &lead.fields);
                let old_time = LeadTime {
                    tz: time.tz,
                    calendar: config.calendar(lead.fields.get("calendar").map(String::as_str), old_calendar.as_deref()),
                };
                analysis.add(lead, &touches, time, old_time);
                Ok(())
            })?;
        }
        Ok(analysis.finish(old.map(|v| v.loaded_at)))
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
