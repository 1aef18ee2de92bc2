//! The inbox side of the store: how far each folder was read, inbound
//! messages and what they did to a lead, the suppression list, and the
//! out-of-office pauses that end by themselves.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::model::Effect;
use crate::time::from_unix;

/// How far a folder was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// A message read from a watched folder.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub mailbox: String,
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub kind: String,
    pub permanent: Option<bool>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub sender: Option<String>,
}

/// A lead an inbound message is about.
#[derive(Debug, Clone)]
pub struct LeadRef {
    pub id: i64,
    pub email: String,
    pub timezone: Option<String>,
    /// JSON object of the lead's fields.
    pub fields: String,
}

/// An inbound event as `status` shows it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub kind: String,
    pub at: DateTime<Utc>,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    pub fn folder_state(&self, mailbox: &str, folder: &str) -> Result<Option<FolderState>> {
        Ok(self
            .conn
            .prepare_cached("SELECT uidvalidity, last_uid FROM imap_state WHERE mailbox = ?1 AND folder = ?2")?
            .query_row(params![mailbox, folder], |r| Ok(FolderState { uidvalidity: r.get(0)?, last_uid: r.get(1)? }))
            .optional()?)
    }

    pub fn set_folder_state(&mut self, mailbox: &str, folder: &str, state: FolderState) -> Result<()> {
        self.conn.execute(
            "INSERT INTO imap_state (mailbox, folder, uidvalidity, last_uid) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (mailbox, folder) DO UPDATE SET uidvalidity = ?3, last_uid = ?4",
            params![mailbox, folder, state.uidvalidity, state.last_uid],
        )?;
        Ok(())
    }

    /// When every folder of `mailbox` was last read completely.
    pub fn inbox_checked_at(&self, mailbox: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = self
            .conn
            .prepare_cached("SELECT checked_at FROM inbox_checks WHERE mailbox = ?1")?
            .query_row([mailbox], |r| r.get(0))
            .optional()?;
        Ok(at.map(from_unix))
    }

    pub fn set_inbox_checked(&mut self, mailbox: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO inbox_checks (mailbox, checked_at) VALUES (?1, ?2)
             ON CONFLICT (mailbox) DO UPDATE SET checked_at = max(checked_at, ?2)",
            params![mailbox, at.timestamp()],
        )?;
        Ok(())
    }

    /// The lead a message is about: by one of our Message-IDs it refers to,
    /// else by address.
    pub fn match_lead(&self, message_ids: &[String], addresses: &[&str]) -> Result<Option<LeadRef>> {
        let read = |r: &rusqlite::Row<'_>| {
            Ok(LeadRef { id: r.get(0)?, email: r.get(1)?, timezone: r.get(2)?, fields: r.get(3)? })
        };
        let mut by_id = self.conn.prepare_cached(
            "SELECT l.id, l.email, l.timezone, l.fields FROM touchpoints t JOIN leads l ON l.id = t.lead_id
             WHERE t.message_id = ?1 LIMIT 1",
        )?;
        for id in message_ids {
            if let Some(found) = by_id.query_row([id], read).optional()? {
                return Ok(Some(found));
            }
        }
        let mut by_address =
            self.conn.prepare_cached("SELECT id, email, timezone, fields FROM leads WHERE email = ?1")?;
        for address in addresses {
            if let Some(found) = by_address.query_row([address], read).optional()? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Cadences a lead is active or paused in.
    pub fn running_cadences(&self, lead_id: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT cadence FROM enrollments WHERE lead_id = ?1 AND state IN ('active', 'paused')")?;
        let rows = stmt.query_map([lead_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Temporary bounces recorded for a lead so far.
    pub fn temporary_bounces(&self, lead_id: i64) -> Result<u32> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM inbound WHERE lead_id = ?1 AND kind = 'bounce' AND permanent = 0")?
            .query_row([lead_id], |r| r.get(0))?)
    }

    /// Records `msg` and applies `effect` to lead `lead`, and moves the
    /// folder's read mark past it, in one transaction: a message is handled
    /// exactly once, also if the process dies halfway. Returns false when the
    /// message had been handled already.
    pub fn handle_inbound(
        &mut self,
        msg: &InboundMessage,
        lead: Option<(i64, &str)>,
        effect: &Effect,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO inbound (mailbox, folder, uidvalidity, uid, lead_id, kind, permanent, at, subject, message_id,
                                  sender, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (mailbox, folder, uidvalidity, uid) DO NOTHING",
            params![
                msg.mailbox,
                msg.folder,
                msg.uidvalidity,
                msg.uid,
                lead.map(|l| l.0),
                msg.kind,
                msg.permanent,
                now.timestamp(),
                msg.subject,
                msg.message_id,
                msg.sender,
                detail
            ],
        )?;
        if inserted == 1
            && let Some((lead_id, email)) = lead
        {
            let at = now.timestamp();
            match effect {
                Effect::None | Effect::Noted => {}
                Effect::Replied { cadences } => {
                    tx.execute(
                        "UPDATE enrollments SET state = 'replied', next_due_at = NULL, resume_at = NULL, updated_at = ?3
                         WHERE lead_id = ?1 AND state IN ('active', 'paused')
                           AND cadence IN (SELECT value FROM json_each(?2))",
                        params![lead_id, serde_json::to_string(cadences)?, at],
                    )?;
                }
                Effect::Away { until } => {
                    tx.execute(
                        "UPDATE enrollments SET state = 'paused', resume_at = ?2, updated_at = ?3,
                                last_error = 'out of office until ' || ?4
                         WHERE lead_id = ?1 AND state = 'active'",
                        params![lead_id, until.timestamp(), at, crate::time::rfc3339(*until)],
                    )?;
                }
                Effect::Suppress { state } => {
                    tx.execute(
                        "UPDATE enrollments SET state = ?2, next_due_at = NULL, resume_at = NULL, updated_at = ?3
                         WHERE lead_id = ?1 AND state IN ('active', 'paused')",
                        params![lead_id, state, at],
                    )?;
                    tx.execute(
                        "INSERT INTO suppressions (email, reason, at) VALUES (?1, ?2, ?3) ON CONFLICT (email) DO NOTHING",
                        params![email, state, at],
                    )?;
                }
            }
        }
        tx.execute(
            "INSERT INTO imap_state (mailbox, folder, uidvalidity, last_uid) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (mailbox, folder) DO UPDATE SET uidvalidity = ?3, last_uid = max(last_uid, ?4)",
            params![msg.mailbox, msg.folder, msg.uidvalidity, msg.uid],
        )?;
        tx.commit()?;
        Ok(inserted == 1)
    }

    /// Ends out-of-office pauses whose time has come; returns how many.
    pub fn resume_away(&mut self, now: DateTime<Utc>) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE enrollments SET state = 'active', resume_at = NULL, last_error = NULL, updated_at = ?1
             WHERE state = 'paused' AND resume_at IS NOT NULL AND resume_at <= ?1",
            [now.timestamp()],
        )?)
    }

    /// Why `email` must not be enrolled, if it is suppressed.
    pub fn suppressed(&self, email: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT reason, at FROM suppressions WHERE email = ?1")?
            .query_row([email], |r| Ok((r.get(0)?, from_unix(r.get(1)?))))
            .optional()?)
    }

    /// Inbound messages about a lead, oldest first.
    pub fn inbound_for(&self, email: &str) -> Result<Vec<Inbound>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.kind, i.at, i.subject, i.detail FROM inbound i JOIN leads l ON l.id = i.lead_id
             WHERE l.email = ?1 ORDER BY i.at, i.id",
        )?;
        let rows = stmt.query_map([email], |r| {
            Ok(Inbound { kind: r.get(0)?, at: from_unix(r.get(1)?), subject: r.get(2)?, detail: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
