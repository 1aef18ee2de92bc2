//! After a restore: what the database records of its own sends (for the send
//! mark), a new instance so that no Message-ID is ever made twice, the
//! reconciliations of each mailbox (which hold the mailbox until done or
//! confirmed), and recording the sends found in a Sent folder or outbox.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::core::restore::Recorded;
use crate::model::{Next, State};
use crate::time::from_unix;

/// An open reconciliation: its mailbox sends nothing until it is done or confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: i64,
    pub mailbox: String,
    pub started_at: DateTime<Utc>,
    pub since: DateTime<Utc>,
    pub why: String,
    /// `pending` (to be read) or `unreadable` (waits for an operator).
    pub state: String,
    pub detail: Option<String>,
}

impl Hold {
    /// The line `status`, `mailboxes` and the journal show.
    pub fn describe(&self) -> String {
        match (self.state.as_str(), &self.detail) {
            ("unreadable", Some(detail)) => format!("held after a restore: {detail}"),
            (_, Some(detail)) => format!("held after a restore until its Sent folder is reconciled: {detail}"),
            _ => format!("held after a restore until its Sent folder is reconciled ({})", self.why),
        }
    }
}

/// A reconciliation, done or open, for `reconcile --json` and `log`.
#[derive(Debug, Clone)]
pub struct Reconciliation {
    pub hold: Hold,
    pub finished_at: Option<DateTime<Utc>>,
    pub found: i64,
    pub recorded: i64,
}

/// The lead's enrollment a found email belongs to.
#[derive(Debug, Clone)]
pub struct Target {
    pub enrollment_id: i64,
    pub lead_id: i64,
    pub state: State,
    /// Its next step; `None` once finished.
    pub step: Option<String>,
    pub timezone: Option<String>,
    pub fields: crate::cadence::Fields,
}

/// One send found that the database lacked, to record.
#[derive(Debug, Clone)]
pub struct FoundSend {
    pub target_enrollment: i64,
    pub lead_id: i64,
    pub cadence: String,
    pub step: String,
    pub mailbox: String,
    pub message_id: String,
    pub subject: Option<String>,
    pub at: DateTime<Utc>,
    /// Where the enrollment goes now (`None`: it stays, e.g. it ended since).
    pub next: Option<Next>,
}

fn hold_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        id: r.get(0)?,
        mailbox: r.get(1)?,
        started_at: from_unix(r.get(2)?),
        since: from_unix(r.get(3)?),
        why: r.get(4)?,
        state: r.get(5)?,
        detail: r.get(6)?,
    })
}

impl Store {
    /// What the database records of its own sends, for the send mark.
    pub fn recorded_sends(&self) -> Result<Recorded> {
        // The claims keep it in `meta`; a database from before that has its
        // largest touchpoint (by rowid: read at once, not a scan).
        let last_claim: i64 = self
            .conn
            .prepare_cached(
                "SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_email_claim'),
                             (SELECT max(id) FROM touchpoints), 0)",
            )?
            .query_row([], |r| r.get(0))?;
        Ok(Recorded { instance: self.instance.clone(), last_claim })
    }

    /// Takes a new instance token, so that no Message-ID made from now on can
    /// be one a lost copy of this database made; the old ones are kept.
    pub fn renew_instance(&mut self) -> Result<String> {
        let fresh = super::fresh_instance()?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('instances_before', json_array(?1))
             ON CONFLICT (key) DO UPDATE SET value = json_insert(value, '$[#]', ?1)",
            [&self.instance],
        )?;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'instance'", [&fresh])?;
        tx.commit()?;
        self.instance = fresh.clone();
        Ok(fresh)
    }

    /// Forgets the groups of sends under way at the last claim: after a
    /// restore, no send log tells how they ended.
    pub fn forget_send_groups(&mut self) -> Result<()> {
        self.conn.execute("UPDATE meta SET value = '[]' WHERE key = 'send_groups'", [])?;
        Ok(())
    }

    /// When the database last recorded an email (sent or claimed), else when
    /// its first lead was enrolled; `None` for an empty database.
    pub fn last_send_at(&self) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = self.conn.query_row(
            "SELECT COALESCE((SELECT max(at) FROM touchpoints WHERE kind = 'email'),
                             (SELECT min(enrolled_at) FROM enrollments))",
            [],
            |r| r.get(0),
        )?;
        Ok(at.map(from_unix))
    }

    /// Opens a reconciliation of `mailbox` from `since` on (one open per
    /// mailbox: an open one reads from the earlier of the two times).
    pub fn open_reconciliation(
        &mut self,
        mailbox: &str,
        since: DateTime<Utc>,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let open: Option<i64> = tx
            .query_row(
                "SELECT id FROM reconciliations WHERE mailbox = ?1 AND state IN ('pending', 'unreadable')",
                [mailbox],
                |r| r.get(0),
            )
            .optional()?;
        let id = match open {
            Some(id) => {
                tx.execute(
                    "UPDATE reconciliations SET since = min(since, ?2), state = 'pending' WHERE id = ?1",
                    params![id, since.timestamp()],
                )?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO reconciliations (mailbox, started_at, since, why, state) VALUES (?1, ?2, ?3, ?4, 'pending')",
                    params![mailbox, now.timestamp(), since.timestamp(), why],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.commit()?;
        Ok(id)
    }

    /// The open reconciliations: their mailboxes send nothing.
    pub fn holds(&self) -> Result<Vec<Hold>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, mailbox, started_at, since, why, state, detail FROM reconciliations
             WHERE state IN ('pending', 'unreadable') ORDER BY mailbox, id",
        )?;
        let rows = stmt.query_map([], hold_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every reconciliation, newest first.
    pub fn reconciliations(&self) -> Result<Vec<Reconciliation>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, mailbox, started_at, since, why, state, detail, finished_at, found, recorded
             FROM reconciliations ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Reconciliation {
                hold: hold_row(r)?,
                finished_at: r.get::<_, Option<i64>>(7)?.map(from_unix),
                found: r.get(8)?,
                recorded: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The reconciliation `id` could not read its mailbox: it waits, and says why.
    pub fn reconciliation_unreadable(&mut self, id: i64, state: &str, detail: &str) -> Result<()> {
        self.conn
            .execute("UPDATE reconciliations SET state = ?2, detail = ?3 WHERE id = ?1", params![id, state, detail])?;
        Ok(())
    }

    /// Records the sends found (each a `sent` touchpoint, its enrollment moved
    /// on) and ends reconciliation `id`, in one transaction; what its hold
    /// deferred is due at once. Returns how many were recorded.
    pub fn finish_reconciliation(
        &mut self,
        id: i64,
        found: &[FoundSend],
        ours: usize,
        detail: &str,
        cadences: &[String],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut recorded = 0;
        for f in found {
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO touchpoints (enrollment_id, lead_id, cadence, step, kind, status, at, mailbox,
                                              message_id, subject, detail)
                     VALUES (?1, ?2, ?3, ?4, 'email', 'sent', ?5, ?6, ?7, ?8,
                             'found in the Sent folder after a restore: recorded as sent (reconciled)')
                     ON CONFLICT (lead_id, cadence, step) DO NOTHING",
                )?
                .execute(params![
                    f.target_enrollment,
                    f.lead_id,
                    f.cadence,
                    f.step,
                    f.at.timestamp(),
                    f.mailbox,
                    f.message_id,
                    f.subject
                ])?;
            if inserted == 0 {
                continue;
            }
            recorded += 1;
            if let Some(next) = &f.next {
                let touchpoint = tx.last_insert_rowid();
                super::claims::advance(&tx, f.target_enrollment, next, f.at, Some(touchpoint))?;
            }
        }
        tx.execute(
            "UPDATE reconciliations SET state = 'done', finished_at = ?2, found = ?3, recorded = ?4, detail = ?5
             WHERE id = ?1",
            params![id, now.timestamp(), ours as i64, recorded as i64, detail],
        )?;
        release_in(&tx, cadences, now)?;
        tx.commit()?;
        Ok(recorded)
    }

    /// An operator confirms that `mailbox`'s sends since the restore cannot be
    /// read: its hold ends, and what it deferred is due at once. Returns the hold ended.
    pub fn confirm_unreadable(
        &mut self,
        mailbox: &str,
        cadences: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<Hold>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let hold = tx
            .query_row(
                "SELECT id, mailbox, started_at, since, why, state, detail FROM reconciliations
                 WHERE mailbox = ?1 AND state IN ('pending', 'unreadable')",
                [mailbox],
                hold_row,
            )
            .optional()?;
        if let Some(h) = &hold {
            tx.execute(
                "UPDATE reconciliations SET state = 'confirmed', finished_at = ?2,
                        detail = COALESCE(detail || '; ', '') || 'confirmed by an operator: sends since '
                                 || strftime('%Y-%m-%dT%H:%M:%SZ', since, 'unixepoch') || ' not reconciled'
                 WHERE id = ?1",
                params![h.id, now.timestamp()],
            )?;
            release_in(&tx, cadences, now)?;
        }
        tx.commit()?;
        Ok(hold)
    }

    /// The enrollment of the lead at `email` in `cadence`, if there is one.
    pub fn reconcile_target(&self, email: &str, cadence: &str) -> Result<Option<Target>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT e.id, l.id, e.state, e.step, l.timezone, l.fields
                 FROM leads l JOIN enrollments e ON e.lead_id = l.id
                 WHERE l.email = ?1 AND e.cadence = ?2",
            )?
            .query_row(params![email, cadence], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, String>(5)?))
            })
            .optional()?;
        let Some((enrollment_id, lead_id, state, step, timezone, fields)) = row else { return Ok(None) };
        Ok(Some(Target { enrollment_id, lead_id, state, step, timezone, fields: serde_json::from_str(&fields)? }))
    }

    /// Whether a touchpoint has this Message-ID.
    pub fn knows_message_id(&self, message_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM touchpoints WHERE message_id = ?1 LIMIT 1")?
            .query_row([message_id], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// What a hold deferred (`mailbox paused: held after a restore ...`) in
/// `cadences` is due at once.
fn release_in(conn: &rusqlite::Connection, cadences: &[String], now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE enrollments SET next_due_at = ?2, last_error = NULL
         WHERE state = 'active' AND next_due_at > ?2 AND last_error LIKE 'mailbox paused: held after a restore%'
           AND cadence IN (SELECT value FROM json_each(?1))",
        params![serde_json::to_string(cadences)?, now.timestamp()],
    )?;
    Ok(())
}
