//! What comes after an instant: the soonest step still to come, and the leads
//! enrolled later than it (what `tick --at` says when nothing was due).

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{Result, Store};
use crate::time::from_unix;

/// The soonest active step due after an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextDue {
    pub email: String,
    pub timezone: Option<String>,
    pub cadence: String,
    pub step: String,
    pub due_at: DateTime<Utc>,
}

/// What lies after an instant (see [`Store::look_ahead`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookAhead {
    pub next: Option<NextDue>,
    /// Active enrollments that began after the instant, and the earliest of them (lead, when).
    pub enrolled_later: i64,
    pub first_enrolled_later: Option<(String, DateTime<Utc>)>,
}

impl Store {
    /// The soonest active step due after `at` and, with `enrollments`, the
    /// active enrollments that began after `at` (their steps cannot be due at
    /// `at`; counting them reads every active enrollment, so only ask when
    /// it matters).
    pub fn look_ahead(&self, at: DateTime<Utc>, enrollments: bool) -> Result<LookAhead> {
        let next = self
            .conn
            .prepare_cached(
                "SELECT l.email, l.timezone, e.cadence, e.step, e.next_due_at
                 FROM enrollments e JOIN leads l ON l.id = e.lead_id
                 WHERE e.state = 'active' AND e.next_due_at > ?1
                 ORDER BY e.next_due_at, e.id LIMIT 1",
            )?
            .query_row([at.timestamp()], |r| {
                Ok(NextDue {
                    email: r.get(0)?,
                    timezone: r.get(1)?,
                    cadence: r.get(2)?,
                    step: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    due_at: from_unix(r.get(4)?),
                })
            })
            .optional()?;
        if !enrollments {
            return Ok(LookAhead { next, ..LookAhead::default() });
        }
        let (count, first): (i64, Option<i64>) = self
            .conn
            .prepare_cached(
                "SELECT count(*), min(enrolled_at) FROM enrollments WHERE state = 'active' AND enrolled_at > ?1",
            )?
            .query_row([at.timestamp()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let first_enrolled_later = match first {
            None => None,
            Some(t) => self
                .conn
                .prepare_cached(
                    "SELECT l.email FROM enrollments e JOIN leads l ON l.id = e.lead_id
                     WHERE e.state = 'active' AND e.enrolled_at = ?1 ORDER BY e.id LIMIT 1",
                )?
                .query_row([t], |r| r.get(0))
                .optional()?
                .map(|email| (email, from_unix(t))),
        };
        Ok(LookAhead { next, enrolled_later: count, first_enrolled_later })
    }
}
