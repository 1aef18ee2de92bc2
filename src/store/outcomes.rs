//! Outcomes (meeting, won, lost) and what the report compares variants and
//! holdouts with: the variant tallies the schema's triggers keep (see the
//! last migration in [`super::schema`]) and the winners `pick_winner` chose.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store, execute_cached};
use crate::core::report::{Buckets, DAY, QUARTER};
use crate::time::from_unix;

/// A business result for a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Meeting,
    Won,
    Lost,
}

impl OutcomeKind {
    pub const ALL: [OutcomeKind; 3] = [OutcomeKind::Meeting, OutcomeKind::Won, OutcomeKind::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Meeting => "meeting",
            OutcomeKind::Won => "won",
            OutcomeKind::Lost => "lost",
        }
    }

    pub fn parse(text: &str) -> Option<OutcomeKind> {
        OutcomeKind::ALL.into_iter().find(|k| k.as_str() == text.trim())
    }

    /// Won and lost end the lead's cadences: there is nobody left to follow up.
    pub fn ends(self) -> bool {
        matches!(self, OutcomeKind::Won | OutcomeKind::Lost)
    }
}

/// An outcome's amount: a finite number, not negative.
pub fn parse_amount(text: &str) -> std::result::Result<f64, String> {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not an amount (expected a number such as 1200 or 1200.50, not negative)")),
    }
}

/// An outcome to record.
#[derive(Debug, Clone)]
pub struct NewOutcome<'a> {
    pub email: &'a str,
    pub kind: OutcomeKind,
    pub value: Option<f64>,
    pub at: DateTime<Utc>,
    pub note: Option<&'a str>,
    /// `cli` or `api`.
    pub source: &'a str,
}

/// What recording an outcome did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recorded {
    pub id: i64,
    pub email: String,
    pub outcome: OutcomeKind,
    pub value: Option<f64>,
    pub at: String,
    /// The step (and variant) it is credited to, if the lead had a touch.
    pub cadence: Option<String>,
    pub step: Option<String>,
    pub variant: Option<String>,
    /// How it was credited: `replied` (the email the lead answered) or `last_touch`.
    pub credited_by: Option<&'static str>,
    /// Cadences it ended (won, lost).
    pub ended: Vec<String>,
}

pub use crate::core::report::{VariantTally, Winner};

impl Store {
    /// Records an outcome for the lead `new.email`, credited to the email the
    /// lead last replied to (its step and variant: whatever the reply's time,
    /// since an outcome marked with an earlier `--at` still follows from the
    /// conversation), else to the
    /// lead's last touch before it (a step that reached the lead: sent, a
    /// task opened or done); `won` and `lost` end the lead's active and
    /// paused enrollments (`stopped`, ended by the outcome). `None`: no such lead.
    pub fn record_outcome(&mut self, new: &NewOutcome<'_>, now: DateTime<Utc>) -> Result<Option<Recorded>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let lead: Option<(i64, String)> = tx
            .prepare_cached("SELECT id, email FROM leads WHERE email = ?1")?
            .query_row([new.email.trim()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((lead_id, email)) = lead else { return Ok(None) };
        let at = new.at.timestamp();
        let replied: Option<i64> = tx
            .prepare_cached(
                "SELECT touchpoint_id FROM inbound
                 WHERE lead_id = ?1 AND kind = 'reply' AND touchpoint_id IS NOT NULL
                 ORDER BY at DESC, id DESC LIMIT 1",
            )?
            .query_row(params![lead_id], |r| r.get(0))
            .optional()?;
        let last_touch = || -> rusqlite::Result<Option<i64>> {
            tx.prepare_cached(
                "SELECT id FROM touchpoints
                 WHERE lead_id = ?1 AND at <= ?2 AND status IN ('sent', 'uncertain', 'open', 'done')
                 ORDER BY at DESC, id DESC LIMIT 1",
            )?
            .query_row(params![lead_id, at], |r| r.get(0))
            .optional()
        };
        let (touchpoint, credited_by) = match replied {
            Some(t) => (Some(t), Some("replied")),
            None => {
                let t = last_touch()?;
                (t, t.map(|_| "last_touch"))
            }
        };
        let credit: Option<(String, String, Option<String>)> = match touchpoint {
            Some(t) => tx
                .prepare_cached("SELECT cadence, step, variant FROM touchpoints WHERE id = ?1")?
                .query_row([t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?,
            None => None,
        };
        tx.prepare_cached(
            "INSERT INTO outcomes (lead_id, outcome, value, at, note, source, touchpoint_id, cadence, step, variant,
                                   recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            lead_id,
            new.kind.as_str(),
            new.value,
            at,
            new.note,
            new.source,
            touchpoint,
            credit.as_ref().map(|c| &c.0),
            credit.as_ref().map(|c| &c.1),
            credit.as_ref().and_then(|c| c.2.as_ref()),
            now.timestamp()
        ])?;
        let id = tx.last_insert_rowid();
        let mut ended = Vec::new();
        if new.kind.ends() {
            let mut stmt = tx.prepare_cached(
                "UPDATE enrollments SET state = 'stopped', next_due_at = NULL, resume_at = NULL, ended_by = ?2,
                        updated_at = ?3
                 WHERE lead_id = ?1 AND state IN ('active', 'paused')
                 RETURNING cadence",
            )?;
            let rows = stmt.query_map(params![lead_id, new.kind.as_str(), now.timestamp()], |r| r.get(0))?;
            for row in rows {
                ended.push(row?);
            }
            drop(stmt);
            ended.sort();
        }
        tx.commit()?;
        let (cadence, step, variant) = match credit {
            Some((c, s, v)) => (Some(c), Some(s), v),
            None => (None, None, None),
        };
        Ok(Some(Recorded {
            id,
            email,
            outcome: new.kind,
            value: new.value,
            at: crate::time::rfc3339(new.at),
            cadence,
            step,
            variant,
            credited_by,
            ended,
        }))
    }

    /// The variant tallies of `buckets`, summed per cadence, step, variant and what.
    pub fn variant_tallies(&self, buckets: &Buckets, only: Option<&str>) -> Result<Vec<VariantTally>> {
        let none = (0, 0);
        let days = buckets.days.unwrap_or(none);
        let q1 = buckets.quarters.first().copied().unwrap_or(none);
        let q2 = buckets.quarters.get(1).copied().unwrap_or(none);
        let mut stmt = self.conn.prepare_cached(
            "SELECT cadence, step, variant, what, sum(n), sum(value) FROM variant_tallies
             WHERE ((span = ?1 AND start >= ?2 AND start < ?3)
                OR (span = ?4 AND start >= ?5 AND start < ?6)
                OR (span = ?4 AND start >= ?7 AND start < ?8))
               AND (?9 IS NULL OR cadence = ?9)
             GROUP BY cadence, step, variant, what",
        )?;
        let rows = stmt.query_map(params![DAY, days.0, days.1, QUARTER, q1.0, q1.1, q2.0, q2.1, only], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, i64>(4)?, r.get::<_, f64>(5)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (cadence, step, variant, what, n, value): (String, String, String, String, i64, f64) = row?;
            if n > 0 {
                out.push((cadence, step, variant, what, n.unsigned_abs(), value));
            }
        }
        Ok(out)
    }

    /// Outcomes per kind, all time, with the sum of their values (/metrics).
    pub fn outcome_counts(&self) -> Result<Vec<(String, u64, f64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT outcome, count(*), COALESCE(sum(value), 0) FROM outcomes GROUP BY outcome ORDER BY outcome",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs(), r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The lead's outcomes, oldest first: (kind, value, at, note, cadence, step, variant).
    pub fn lead_outcomes(&self, lead_id: i64) -> Result<Vec<LeadOutcome>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT outcome, value, at, note, cadence, step, variant, source FROM outcomes
             WHERE lead_id = ?1 ORDER BY at, id",
        )?;
        let rows = stmt.query_map([lead_id], |r| {
            Ok(LeadOutcome {
                outcome: r.get(0)?,
                value: r.get(1)?,
                at: from_unix(r.get(2)?),
                note: r.get(3)?,
                cadence: r.get(4)?,
                step: r.get(5)?,
                variant: r.get(6)?,
                source: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The winners `pick_winner` chose: (cadence, step) → (variant, since).
    pub fn winners(&self) -> Result<Vec<Winner>> {
        let mut stmt = self.conn.prepare_cached("SELECT cadence, step, variant, since FROM winners")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, from_unix(r.get(3)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records that every new lead at `step` of `cadence` gets `variant`
    /// from `since` on; a winner recorded before stays.
    pub fn set_winner(&self, cadence: &str, step: &str, variant: &str, since: DateTime<Utc>) -> Result<()> {
        execute_cached(
            &self.conn,
            "INSERT INTO winners (cadence, step, variant, since) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (cadence, step) DO NOTHING",
            params![cadence, step, variant, since.timestamp()],
        )?;
        Ok(())
    }
}

/// One outcome of a lead, for its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadOutcome {
    pub outcome: String,
    pub value: Option<f64>,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
    pub cadence: Option<String>,
    pub step: Option<String>,
    pub variant: Option<String>,
    pub source: String,
}
