//! Unsubscribing a lead from the web (`/u/TOKEN`: RFC 8058's one-click POST,
//! or the button of the unsubscribe page): the same effect as an unsubscribe
//! read from the inbox, every enrollment `unsubscribed` and the address
//! suppressed, recorded as an inbound message so that `status`, `report` and
//! the metrics see it like any other.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};

/// The `folder` of the inbound rows recorded for unsubscribes from the web
/// (one per lead: their uid is the lead's id).
const WEB: &str = "(web)";

/// What an unsubscribe from the web did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribed {
    pub email: String,
    /// The cadences it stopped (none when the lead had none running).
    pub stopped: Vec<String>,
    /// The lead had unsubscribed from the web before: nothing new was recorded.
    pub again: bool,
}

impl Store {
    /// The address of lead `lead_id`, if there is such a lead.
    pub fn lead_email(&self, lead_id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT email FROM leads WHERE id = ?1")?
            .query_row([lead_id], |r| r.get(0))
            .optional()?)
    }

    /// Unsubscribes lead `lead_id` everywhere and suppresses its address, in
    /// one transaction; `how` says how it asked (for its timeline). Doing it
    /// again changes nothing. `None` when there is no such lead.
    ///
    /// It is recorded as an inbound `unsubscribe` attributed to the lead's
    /// last email before `now` (the link is the same in all of them), so that
    /// the report counts it for that email's step.
    pub fn unsubscribe_lead(&mut self, lead_id: i64, how: &str, now: DateTime<Utc>) -> Result<Option<Unsubscribed>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let email: Option<String> = tx
            .prepare_cached("SELECT email FROM leads WHERE id = ?1")?
            .query_row([lead_id], |r| r.get(0))
            .optional()?;
        let Some(email) = email else {
            return Ok(None);
        };
        let at = now.timestamp();
        let stopped: Vec<String> = tx
            .prepare_cached(
                "SELECT cadence FROM enrollments WHERE lead_id = ?1 AND state IN ('active', 'paused') ORDER BY cadence",
            )?
            .query_map([lead_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        tx.execute(
            "UPDATE enrollments SET state = 'unsubscribed', next_due_at = NULL, resume_at = NULL, updated_at = ?2
             WHERE lead_id = ?1 AND state IN ('active', 'paused')",
            params![lead_id, at],
        )?;
        tx.execute(
            "INSERT INTO suppressions (email, reason, at) VALUES (?1, 'unsubscribed', ?2) ON CONFLICT (email) DO NOTHING",
            params![email, at],
        )?;
        let again = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM inbound WHERE lead_id = ?1 AND folder = ?2)")?
            .query_row(params![lead_id, WEB], |r| r.get::<_, bool>(0))?;
        if !again {
            let last: Option<(i64, String, String, Option<String>)> = tx
                .prepare_cached(
                    "SELECT id, cadence, step, mailbox FROM touchpoints
                     WHERE lead_id = ?1 AND kind = 'email' AND status IN ('sent', 'uncertain') AND at <= ?2
                     ORDER BY at DESC, id DESC LIMIT 1",
                )?
                .query_row(params![lead_id, at], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let detail = if stopped.is_empty() {
                format!("unsubscribed {how}; address suppressed")
            } else {
                format!("unsubscribed {how} from {}; address suppressed", stopped.join(", "))
            };
            let (touchpoint_id, cadence, step, mailbox) = match last {
                Some((id, cadence, step, mailbox)) => (Some(id), Some(cadence), Some(step), mailbox),
                None => (None, None, None, None),
            };
            tx.execute(
                "INSERT INTO inbound (mailbox, folder, uidvalidity, uid, lead_id, kind, at, sender, detail, matched,
                                      touchpoint_id, cadence, step, source)
                 VALUES (?1, ?2, 0, ?3, ?3, 'unsubscribe', ?4, ?5, ?6, 'token', ?7, ?8, ?9, 'web')
                 ON CONFLICT (mailbox, folder, uidvalidity, uid) DO NOTHING",
                params![mailbox.unwrap_or_default(), WEB, lead_id, at, email, detail, touchpoint_id, cadence, step],
            )?;
        }
        tx.commit()?;
        Ok(Some(Unsubscribed { email, stopped, again }))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;
    use crate::time::parse_instant;

    #[test]
    fn unsubscribing_ends_every_cadence_suppresses_and_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("c.db")).unwrap();
        s.conn
            .execute_batch(
                "INSERT INTO leads (id, email, created_at, updated_at) VALUES (7, 'jane@acme.test', 0, 0);
                 INSERT INTO enrollments (id, lead_id, cadence, state, enrolled_at, updated_at)
                     VALUES (1, 7, 'a', 'active', 0, 0), (2, 7, 'b', 'paused', 0, 0), (3, 7, 'c', 'finished', 0, 0);",
            )
            .unwrap();
        let sent = parse_instant("2026-03-02T09:00:00Z").unwrap().timestamp();
        for (id, cadence, at) in [(1, "a", sent), (2, "b", sent + 60)] {
            s.conn
                .execute(
                    "INSERT INTO touchpoints (id, enrollment_id, lead_id, cadence, step, kind, status, at, mailbox)
                     VALUES (?1, ?1, 7, ?2, 'intro', 'email', 'sent', ?3, 'sales')",
                    params![id, cadence, at],
                )
                .unwrap();
        }
        let now = parse_instant("2026-03-03T09:00:00Z").unwrap();
        let done = s.unsubscribe_lead(7, "by the one-click link", now).unwrap().unwrap();
        assert_eq!(
            done,
            Unsubscribed { email: "jane@acme.test".into(), stopped: vec!["a".into(), "b".into()], again: false }
        );
        let states: Vec<String> = s
            .conn
            .prepare("SELECT state FROM enrollments ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(states, ["unsubscribed", "unsubscribed", "finished"]);
        assert_eq!(s.suppressed("JANE@acme.test").unwrap().map(|(r, _)| r).as_deref(), Some("unsubscribed"));
        let (kind, touchpoint, matched): (String, i64, String) = s
            .conn
            .query_row("SELECT kind, touchpoint_id, matched FROM inbound", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((kind.as_str(), touchpoint, matched.as_str()), ("unsubscribe", 2, "token"), "the last email");
        let again = s.unsubscribe_lead(7, "on the unsubscribe page", now).unwrap().unwrap();
        assert!(again.again && again.stopped.is_empty());
        assert_eq!(s.conn.query_row("SELECT count(*) FROM inbound", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
        assert_eq!(s.unsubscribe_lead(8, "x", now).unwrap(), None, "no such lead");
        assert_eq!(s.lead_email(7).unwrap().as_deref(), Some("jane@acme.test"));
    }
}
