//! The standing of each sending mailbox: refusals aimed at it (at SMTP time
//! or in bounce reports), the pause it puts itself in past a threshold, and
//! its sent, bounce and complaint counts for `cadenced mailboxes`.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::model::PauseCause;
use crate::time::from_unix;

/// A mailbox that paused itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub mailbox: String,
    pub since: DateTime<Utc>,
    pub reason: String,
    pub cause: PauseCause,
}

/// A mailbox's counts over a span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxCounts {
    /// Emails that left (sent or uncertain).
    pub sent: u32,
    /// Bounces and refusals of a dead address.
    pub bounced: u32,
    /// Bounces and refusals aimed at the sender.
    pub refused: u32,
    pub complaints: u32,
}

impl Store {
    /// Every mailbox paused now: by itself, for a lost sign-in, or held
    /// after a restore until its Sent folder is reconciled.
    pub fn pauses(&self) -> Result<Vec<Pause>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT mailbox, paused_at, reason, cause FROM mailbox_pauses WHERE resumed_at IS NULL ORDER BY mailbox",
        )?;
        let rows = stmt.query_map([], pause_row)?;
        let mut pauses: Vec<Pause> = rows.collect::<rusqlite::Result<_>>()?;
        for hold in self.holds()? {
            pauses.retain(|p| p.mailbox != hold.mailbox);
            pauses.push(Pause {
                mailbox: hold.mailbox.clone(),
                since: hold.started_at,
                reason: hold.describe(),
                cause: PauseCause::Restore,
            });
        }
        pauses.sort_by(|a, b| a.mailbox.cmp(&b.mailbox));
        Ok(pauses)
    }

    /// Refusals aimed at `mailbox`'s sending (at SMTP time and in bounce
    /// reports) since `since`, not counting those before its last resume.
    pub fn sender_refusals(&self, mailbox: &str, since: DateTime<Utc>) -> Result<u32> {
        let resumed: Option<i64> = self
            .conn
            .prepare_cached("SELECT resumed_at FROM mailbox_pauses WHERE mailbox = ?1")?
            .query_row([mailbox], |r| r.get(0))
            .optional()?
            .flatten();
        let from = resumed.map_or(since.timestamp(), |r| r.max(since.timestamp()));
        Ok(self
            .conn
            .prepare_cached(
                "SELECT (SELECT count(*) FROM refusals WHERE mailbox = ?1 AND blame = 'sender' AND at >= ?2)
                      + (SELECT count(*) FROM inbound WHERE mailbox = ?1 AND blame = 'sender' AND at >= ?2)",
            )?
            .query_row(params![mailbox, from], |r| r.get(0))?)
    }

    /// Pauses `mailbox` with `reason`, unless it is paused already; returns
    /// whether it paused now.
    pub fn pause_mailbox(
        &mut self,
        mailbox: &str,
        cause: PauseCause,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let changed = self.conn.execute(
            "INSERT INTO mailbox_pauses (mailbox, paused_at, reason, resumed_at, cause) VALUES (?1, ?2, ?3, NULL, ?4)
             ON CONFLICT (mailbox) DO UPDATE SET paused_at = ?2, reason = ?3, resumed_at = NULL, cause = ?4
             WHERE resumed_at IS NOT NULL",
            params![mailbox, now.timestamp(), reason, cause.as_str()],
        )?;
        Ok(changed == 1)
    }

    /// Resumes `mailbox` (only a pause of `cause`, when given): what its
    /// pause held back is due at once. Returns how it was paused, or `None`
    /// when it was not (or for another cause).
    pub fn resume_mailbox(
        &mut self,
        mailbox: &str,
        cause: Option<PauseCause>,
        cadences: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<Pause>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pause = tx
            .query_row(
                "SELECT mailbox, paused_at, reason, cause FROM mailbox_pauses
                 WHERE mailbox = ?1 AND resumed_at IS NULL AND (?2 IS NULL OR cause = ?2)",
                params![mailbox, cause.map(PauseCause::as_str)],
                pause_row,
            )
            .optional()?;
        if pause.is_some() {
            tx.execute(
                "UPDATE mailbox_pauses SET resumed_at = ?2 WHERE mailbox = ?1",
                params![mailbox, now.timestamp()],
            )?;
            // After a lost sign-in, what the failed logins deferred (the
            // mailbox or its inbox unavailable, a send whose login failed:
            // `sign-in: ...`) is due again too: the tick decides each anew.
            let sign_in = pause.as_ref().is_some_and(|p| p.cause == PauseCause::SignIn);
            tx.execute(
                "UPDATE enrollments SET next_due_at = ?2, last_error = NULL
                 WHERE state = 'active' AND next_due_at > ?2
                   AND (last_error LIKE 'mailbox paused:%'
                        OR (?3 AND (last_error LIKE 'mailbox unavailable:%' OR last_error LIKE 'inbox unreadable:%'
                                    OR last_error LIKE '%sign-in: %')))
                   AND cadence IN (SELECT value FROM json_each(?1))",
                params![serde_json::to_string(cadences)?, now.timestamp(), sign_in],
            )?;
        }
        tx.commit()?;
        Ok(pause)
    }

    /// `mailbox`'s sends, bounces, refusals and complaints from `from` to `until`.
    pub fn mailbox_counts(&self, mailbox: &str, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<MailboxCounts> {
        let (from, until) = (from.timestamp(), until.timestamp());
        let sent: u32 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM touchpoints
                 WHERE mailbox = ?1 AND at >= ?2 AND at < ?3 AND status IN ('sent', 'uncertain')",
            )?
            .query_row(params![mailbox, from, until], |r| r.get(0))?;
        let blamed = |blame: &str| -> Result<u32> {
            Ok(self
                .conn
                .prepare_cached(
                    "SELECT (SELECT count(*) FROM refusals WHERE mailbox = ?1 AND blame = ?4 AND at >= ?2 AND at < ?3)
                          + (SELECT count(*) FROM inbound
                             WHERE mailbox = ?1 AND kind = 'bounce' AND at >= ?2 AND at < ?3
                               AND (blame = ?4 OR (?4 = 'address' AND blame IS NULL AND permanent = 1)))",
                )?
                .query_row(params![mailbox, from, until, blame], |r| r.get(0))?)
        };
        let complaints: u32 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM inbound WHERE mailbox = ?1 AND kind = 'complaint' AND at >= ?2 AND at < ?3",
            )?
            .query_row(params![mailbox, from, until], |r| r.get(0))?;
        Ok(MailboxCounts { sent, bounced: blamed("address")?, refused: blamed("sender")?, complaints })
    }
}

fn pause_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Pause> {
    Ok(Pause {
        mailbox: r.get(0)?,
        since: from_unix(r.get(1)?),
        reason: r.get(2)?,
        cause: PauseCause::parse(&r.get::<_, String>(3)?),
    })
}
