//! Loading an edit of the cadences: what it does to the leads in flight
//! (read only, for `check --plan`), and doing it for a tick or the daemon:
//! each cadence that differs from its recorded version has the leads whose
//! step's timing changed planned again (by [`crate::core::changes`]) and the
//! new version recorded, all in one transaction.

use chrono::{DateTime, Utc};

use crate::cadence::{Cadence, Cadences};
use crate::config::Config;
use crate::core::changes::{Analysis, CadencePlan, Cause, Plan, Snapshot, Target};
use crate::model::LeadTime;
use crate::store::{InFlightRow, Store, StoreError, Version};

/// What loading `cadences` would do to the leads in flight: read only.
pub fn plan(store: &Store, config: &Config, cadences: &Cadences, now: DateTime<Utc>) -> Result<Plan, StoreError> {
    let versions = store.cadence_versions()?;
    let mut plan = Plan { cadences: Vec::new(), gone: store.orphaned(&cadences.names())? };
    for cadence in cadences.by_name.values() {
        let old = versions.get(&cadence.name);
        plan.cadences.push(plan_one(store, config, cadence, old, now, true)?);
    }
    Ok(plan)
}

/// Loads `cadences` for a tick or the daemon: for each cadence that differs
/// from the version recorded, the leads whose step's timing changed get their
/// new plan, and the version on disk is recorded, all in one transaction.
/// Returns what it did (cadences that did not change have no changes). Leads
/// waiting for a removed step are left for the tick, which skips that step
/// when it falls due.
pub fn load(store: &mut Store, config: &Config, cadences: &Cadences, now: DateTime<Utc>) -> Result<Plan, StoreError> {
    // The common case (nothing edited) takes no write lock.
    let recorded = store.cadence_versions()?;
    let unchanged = |c: &Cadence| recorded.get(&c.name).is_some_and(|v| v.snapshot == Snapshot::of(c));
    if cadences.by_name.values().all(unchanged) {
        return Ok(Plan::default());
    }
    store.in_write_transaction(|store| {
        // Read again under the lock: another process may have loaded them since.
        let versions = store.cadence_versions()?;
        let mut plan = Plan { cadences: Vec::new(), gone: Vec::new() };
        for cadence in cadences.by_name.values() {
            let old = versions.get(&cadence.name);
            let snapshot = Snapshot::of(cadence);
            if old.is_some_and(|v| v.snapshot == snapshot) {
                continue;
            }
            if old.is_some() {
                let one = plan_one(store, config, cadence, old, now, false)?;
                for m in &one.moves {
                    if let (Cause::Replanned, Target::Step { id, due_at, planned_at, reason }) = (&m.cause, &m.to) {
                        store.move_next_due(m.enrollment_id, id, m.from_due, *due_at, *planned_at, reason.as_ref())?;
                    }
                }
                plan.cadences.push(one);
            }
            store.record_cadence_version(&cadence.name, &snapshot, now)?;
        }
        Ok(plan)
    })
}

/// [`load`] for the daemon and `tick`: logs what the edit did, one line per
/// change (`nurture: check-in-2 removed → 312 leads go on at check-in-3`),
/// and returns those lines. A database that cannot record it is logged, not
/// fatal: the ticks go on with the files loaded.
pub fn load_logged(store: &mut Store, config: &Config, cadences: &Cadences, now: DateTime<Utc>) -> Vec<String> {
    match load(store, config, cadences, now) {
        Ok(plan) => {
            let lines = plan.changed_lines();
            for line in &lines {
                tracing::info!("cadence edit loaded: {line}");
            }
            lines
        }
        Err(e) => {
            tracing::warn!("cannot record the cadences loaded (check --plan compares against the last recorded): {e}");
            Vec::new()
        }
    }
}

/// One cadence's plan against its recorded version `old`. Without
/// `all_leads`, only a cadence that changed reads its leads.
fn plan_one(
    store: &Store,
    config: &Config,
    cadence: &Cadence,
    old: Option<&Version>,
    now: DateTime<Utc>,
    all_leads: bool,
) -> Result<CadencePlan, StoreError> {
    let mut analysis = Analysis::new(cadence, old.map(|v| &v.snapshot), now);
    if all_leads || analysis.changed() {
        let old_calendar = old.and_then(|v| v.snapshot.calendar.clone());
        store.for_each_in_flight(Some(&cadence.name), |row: InFlightRow| -> Result<(), StoreError> {
            let lead = &row.lead;
            let touches =
                if analysis.needs_history(lead) { store.touches(row.lead_id, &row.cadence)? } else { Vec::new() };
            let time = config.lead_time(cadence.calendar.as_deref(), lead.timezone.as_deref(), &lead.fields);
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
