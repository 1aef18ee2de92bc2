//! What happened, newest first (`cadenced log`): emails sent, failed or in
//! doubt, steps skipped, tasks opened and closed, mail received, owners'
//! digests. Nothing here writes.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, Store, StoreError};
use crate::time::from_unix;

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// `sent`, `failed`, `uncertain`, `sending`, `skipped`, `opened` (a task),
    /// `done` (a task closed), `received` (inbound mail), `outcome` (its kind:
    /// meeting, won, lost), `refused` (by the lead preflight, kind
    /// `preflight`) or, for a digest, its status.
    pub what: String,
    /// The lead's address, or the owner's for a digest.
    pub email: Option<String>,
    /// The lead's zone, if it has one.
    pub timezone: Option<String>,
    pub cadence: Option<String>,
    pub step: Option<String>,
    /// The step's kind (`email`, `call`, ...), the inbound message's kind
    /// (`reply`, `bounce`, ...) or `digest`.
    pub kind: String,
    pub mailbox: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub reason: Option<String>,
    pub message_id: Option<String>,
    /// A closed task's note, an inbound message's sender, a digest's task
    /// count, an outcome's value.
    pub note: Option<String>,
    /// The step's variant the lead got (an outcome: the one it is credited to).
    pub variant: Option<String>,
}

/// What `log` shows; a filter left `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct LogFilter<'a> {
    pub since: Option<DateTime<Utc>>,
    /// Events of this mailbox: its emails, its inbox and digests, and the
    /// manual steps of `mailbox_cadences` (tasks have no mailbox of their own).
    pub mailbox: Option<&'a str>,
    pub mailbox_cadences: Vec<String>,
    /// Events of this cadence: its steps, and mail received from its leads.
    pub cadence: Option<&'a str>,
}

const EVENTS: &str = "
SELECT at, what, email, timezone, cadence, step, kind, mailbox, subject, detail, reason, message_id, note, variant FROM (
  SELECT t.at AS at,
         CASE WHEN t.kind = 'removed' THEN 'skipped'
              WHEN t.kind <> 'email' AND (t.status = 'open' OR t.closed_at IS NOT NULL) THEN 'opened'
              ELSE t.status END AS what,
         l.email AS email, l.timezone AS timezone, t.cadence AS cadence, t.step AS step, t.kind AS kind,
         t.mailbox AS mailbox, t.subject AS subject, t.detail AS detail, t.reason AS reason,
         t.message_id AS message_id, NULL AS note, 1 AS source, t.id AS id, t.variant AS variant
  FROM touchpoints t JOIN leads l ON l.id = t.lead_id
  WHERE t.at >= ?1 AND (?3 IS NULL OR t.cadence = ?3)
    AND (?2 IS NULL OR t.mailbox = ?2 OR (t.mailbox IS NULL AND t.cadence IN (SELECT value FROM json_each(?4))))
  UNION ALL
  SELECT t.closed_at, t.status, l.email, l.timezone, t.cadence, t.step, t.kind, t.mailbox, NULL, t.detail, t.reason,
         NULL, t.note, 2, t.id, t.variant
  FROM touchpoints t JOIN leads l ON l.id = t.lead_id
  WHERE t.closed_at >= ?1 AND (?3 IS NULL OR t.cadence = ?3)
    AND (?2 IS NULL OR t.mailbox = ?2 OR (t.mailbox IS NULL AND t.cadence IN (SELECT value FROM json_each(?4))))
  UNION ALL
  SELECT i.at, 'received', COALESCE(l.email, i.sender), l.timezone, NULL, NULL, i.kind, i.mailbox, i.subject,
         i.detail, NULL, i.message_id, i.sender, 3, i.id, NULL
  FROM inbound i LEFT JOIN leads l ON l.id = i.lead_id
  WHERE i.at >= ?1 AND (?2 IS NULL OR i.mailbox = ?2)
    AND (?3 IS NULL OR EXISTS (SELECT 1 FROM enrollments e WHERE e.lead_id = i.lead_id AND e.cadence = ?3))
  UNION ALL
  SELECT d.sent_at, d.status, d.owner, NULL, NULL, NULL, 'digest', d.mailbox, NULL, d.detail, NULL, d.message_id,
         CAST(d.tasks AS TEXT), 4, d.id, NULL
  FROM digests d
  WHERE d.sent_at >= ?1 AND ?3 IS NULL AND (?2 IS NULL OR d.mailbox = ?2)
  UNION ALL
  SELECT o.at, 'outcome', l.email, l.timezone, o.cadence, o.step, o.outcome, NULL, NULL, o.note, NULL, NULL,
         CAST(o.value AS TEXT), 5, o.id, o.variant
  FROM outcomes o JOIN leads l ON l.id = o.lead_id
  WHERE o.at >= ?1 AND (?3 IS NULL OR o.cadence = ?3) AND ?2 IS NULL
  UNION ALL
  SELECT COALESCE(r.finished_at, r.started_at),
         CASE r.state WHEN 'done' THEN 'reconciled' WHEN 'confirmed' THEN 'confirmed unreadable' ELSE 'held' END,
         NULL, NULL, NULL, NULL, 'reconcile', r.mailbox, NULL, COALESCE(r.detail, r.why), NULL, NULL,
         CAST(r.recorded AS TEXT), 6, r.id, NULL
  FROM reconciliations r
  WHERE COALESCE(r.finished_at, r.started_at) >= ?1 AND ?3 IS NULL AND (?2 IS NULL OR r.mailbox = ?2)
  UNION ALL
  -- Addresses the lead preflight refused (core::verify::REASON_PREFIX): a
  -- bounce or an unsubscribe shows as the message that caused it instead.
  SELECT s.at, 'refused', s.email, NULL, NULL, NULL, 'preflight', NULL, NULL, s.reason, NULL, NULL, NULL, 7,
         s.rowid, NULL
  FROM suppressions s
  WHERE s.at >= ?1 AND s.reason LIKE 'preflight:%' AND ?2 IS NULL AND ?3 IS NULL
)
ORDER BY at DESC, source DESC, id DESC";

impl Store {
    /// Calls `f` with each event `filter` matches, newest first, as the rows
    /// are read (a busy day's log costs no memory).
    pub fn for_each_event<E: From<StoreError>>(
        &self,
        filter: &LogFilter<'_>,
        mut f: impl FnMut(&Event) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let since = filter.since.map_or(i64::MIN, |t| t.timestamp());
        let cadences = serde_json::to_string(&filter.mailbox_cadences).map_err(StoreError::from)?;
        let mut stmt = self.conn.prepare_cached(EVENTS).map_err(StoreError::from)?;
        let mut rows =
            stmt.query(params![since, filter.mailbox, filter.cadence, cadences]).map_err(StoreError::from)?;
        while let Some(r) = rows.next().map_err(StoreError::from)? {
            let event = read_event(r).map_err(StoreError::from)?;
            f(&event)?;
        }
        Ok(())
    }

    /// Whether any lead was ever enrolled in `cadence` (its history is kept
    /// when its file goes).
    pub fn has_cadence(&self, cadence: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM enrollments WHERE cadence = ?1)")?
            .query_row([cadence], |r| r.get(0))?)
    }

    /// Every event `filter` matches, newest first.
    pub fn events(&self, filter: &LogFilter<'_>) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        self.for_each_event(filter, |e| -> Result<()> {
            out.push(e.clone());
            Ok(())
        })?;
        Ok(out)
    }
}

fn read_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        at: from_unix(r.get(0)?),
        what: r.get(1)?,
        email: r.get(2)?,
        timezone: r.get(3)?,
        cadence: r.get(4)?,
        step: r.get(5)?,
        kind: r.get(6)?,
        mailbox: r.get(7)?,
        subject: r.get(8)?,
        detail: r.get(9)?,
        reason: r.get(10)?,
        message_id: r.get(11)?,
        note: r.get(12)?,
        variant: r.get(13)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Effect;
    use crate::store::{InboundMessage, NewEnrollment};
    use crate::time::parse_instant;

    #[test]
    fn mail_received_is_listed_with_its_lead_and_filtered_by_cadence() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("c.db")).unwrap();
        let at = parse_instant("2026-03-02T09:00:00Z").unwrap();
        let lead = NewEnrollment {
            email: "jane@acme.test".into(),
            fields: Default::default(),
            timezone: Some("America/New_York".into()),
            cadence: "alpha".into(),
            first_step: "a".into(),
            due_at: at,
            planned_at: at,
            reason: None,
            owner: None,
        };
        store.enroll_many(&[lead], at).unwrap();
        let received = parse_instant("2026-03-03T10:00:00Z").unwrap();
        let msg = InboundMessage {
            source: super::super::inbox::Source::Imap,
            mailbox: "sales".into(),
            folder: "INBOX".into(),
            uidvalidity: 1,
            uid: 7,
            kind: crate::model::InboundKind::Reply,
            at: received,
            permanent: None,
            subject: Some("Re: Hello".into()),
            message_id: Some("<r@acme.test>".into()),
            sender: Some("jane@acme.test".into()),
            matched: Some(crate::model::Matched::Address),
            answers: None,
            reason: None,
        };
        let replied = Effect::Replied { cadences: vec!["alpha".into()] };
        assert!(store.handle_inbound(&msg, Some((1, "jane@acme.test")), &replied, "stopped alpha", received).unwrap());
        let all = store.events(&LogFilter::default()).unwrap();
        assert_eq!(all.len(), 1);
        let e = &all[0];
        assert_eq!((e.what.as_str(), e.kind.as_str(), e.at), ("received", "reply", received));
        assert_eq!((e.email.as_deref(), e.timezone.as_deref()), (Some("jane@acme.test"), Some("America/New_York")));
        assert_eq!((e.subject.as_deref(), e.detail.as_deref()), (Some("Re: Hello"), Some("stopped alpha")));
        let of = |cadence: &'static str, mailbox: Option<&'static str>| {
            let filter = LogFilter { cadence: Some(cadence), mailbox, ..LogFilter::default() };
            store.events(&filter).unwrap().len()
        };
        assert_eq!(of("alpha", None), 1, "a lead of alpha answered");
        assert_eq!(of("beta", None), 0);
        assert_eq!(of("alpha", Some("support")), 0);
        let later = LogFilter { since: Some(received + chrono::Duration::seconds(1)), ..LogFilter::default() };
        assert!(store.events(&later).unwrap().is_empty());
    }
}
