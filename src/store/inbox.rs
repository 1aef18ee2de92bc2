//! The inbox side of the store: how far each folder was read, inbound
//! messages and what they did to a lead, the suppression list, and the
//! out-of-office pauses that end by themselves.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::inbound::Kind;
use crate::model::{Blame, BounceReason};
use crate::model::{Effect, Matched, State};
use crate::time::from_unix;

fn read_lead(r: &rusqlite::Row<'_>) -> rusqlite::Result<LeadRef> {
    Ok(LeadRef { id: r.get(0)?, email: r.get(1)?, timezone: r.get(2)?, fields: r.get(3)? })
}

/// How the database names a [`Blame`].
pub(super) fn blame_name(blame: Blame) -> &'static str {
    match blame {
        Blame::DeadAddress => "address",
        Blame::Sender => "sender",
        Blame::Passing => "passing",
    }
}

/// How far a folder was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// Where an inbound message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from a watched folder.
    Imap,
    /// Fed in by hand (`cadenced ingest`).
    Ingest,
    /// A reply marked by hand (`cadenced mark`).
    Mark,
    /// An unsubscribe from the web (`/u/TOKEN`).
    Web,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Imap => "imap",
            Source::Ingest => "ingest",
            Source::Mark => "mark",
            Source::Web => "web",
        }
    }
}

/// A message read from a watched folder (or fed in by hand: then `folder`,
/// `uidvalidity` and `uid` only make it unique).
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub source: Source,
    pub mailbox: String,
    pub folder: String,
    pub uidvalidity: u32,
    pub uid: u32,
    pub kind: Kind,
    /// When it arrived (IMAP INTERNALDATE, else its Date header, else when it was read).
    pub at: DateTime<Utc>,
    pub permanent: Option<bool>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    /// How it was matched to its lead, if it was.
    pub matched: Option<Matched>,
    /// The email it answers or bounced.
    pub answers: Option<Answered>,
    /// A bounce: why, and whom that blames.
    pub reason: Option<(BounceReason, Blame)>,
}

/// An email a message answers or bounced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub touchpoint_id: i64,
    pub cadence: String,
    pub step: String,
}

/// A lead of a company's domain in a cadence that stops on a reply from
/// anyone there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainLead {
    pub enrollment_id: i64,
    pub email: String,
    pub cadence: String,
    pub enrolled_at: DateTime<Utc>,
}

/// One enrollment of a lead, as inbound mail needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadEnrollment {
    pub cadence: String,
    pub state: State,
    pub enrolled_at: DateTime<Utc>,
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
    pub kind: Kind,
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

    /// The lead a message is about: by one of our Message-IDs it refers to
    /// (with the email it names), else by address.
    pub fn match_lead(
        &self,
        message_ids: &[String],
        addresses: &[&str],
    ) -> Result<Option<(LeadRef, Matched, Option<Answered>)>> {
        let mut by_id = self.conn.prepare_cached(
            "SELECT l.id, l.email, l.timezone, l.fields, t.id, t.cadence, t.step
             FROM touchpoints t JOIN leads l ON l.id = t.lead_id
             WHERE t.message_id = ?1 LIMIT 1",
        )?;
        for id in message_ids {
            let found = by_id
                .query_row([id], |r| {
                    Ok((read_lead(r)?, Answered { touchpoint_id: r.get(4)?, cadence: r.get(5)?, step: r.get(6)? }))
                })
                .optional()?;
            if let Some((lead, answered)) = found {
                return Ok(Some((lead, Matched::MessageId, Some(answered))));
            }
        }
        let mut by_address =
            self.conn.prepare_cached("SELECT id, email, timezone, fields FROM leads WHERE email = ?1")?;
        for address in addresses {
            if let Some(found) = by_address.query_row([address], read_lead).optional()? {
                return Ok(Some((found, Matched::Address, None)));
            }
        }
        Ok(None)
    }

    /// Lead `id`, if there is one.
    pub fn lead_ref(&self, id: i64) -> Result<Option<LeadRef>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, email, timezone, fields FROM leads WHERE id = ?1")?
            .query_row([id], read_lead)
            .optional()?)
    }

    /// Every enrollment of a lead.
    pub fn enrollments_of(&self, lead_id: i64) -> Result<Vec<LeadEnrollment>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT cadence, state, enrolled_at FROM enrollments WHERE lead_id = ?1")?;
        let rows = stmt.query_map([lead_id], |r| {
            Ok(LeadEnrollment { cadence: r.get(0)?, state: r.get(1)?, enrolled_at: from_unix(r.get(2)?) })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The last email the lead was sent before `at`: what a message matched
    /// only by its sender's address answers.
    pub fn last_email_before(&self, lead_id: i64, at: DateTime<Utc>) -> Result<Option<Answered>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, cadence, step FROM touchpoints
                 WHERE lead_id = ?1 AND kind = 'email' AND status IN ('sent', 'uncertain') AND at <= ?2
                 ORDER BY at DESC, id DESC LIMIT 1",
            )?
            .query_row(params![lead_id, at.timestamp()], |r| {
                Ok(Answered { touchpoint_id: r.get(0)?, cadence: r.get(1)?, step: r.get(2)? })
            })
            .optional()?)
    }

    /// Temporary bounces (passing trouble) recorded for a lead so far, by
    /// bounce message or at SMTP time.
    pub fn temporary_bounces(&self, lead_id: i64) -> Result<u32> {
        let inbound: u32 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM inbound WHERE lead_id = ?1 AND kind = 'bounce'
                   AND (blame = 'passing' OR (blame IS NULL AND permanent = 0))",
            )?
            .query_row([lead_id], |r| r.get(0))?;
        let refused: u32 = self
            .conn
            .prepare_cached("SELECT count(*) FROM refusals WHERE lead_id = ?1 AND blame = 'passing'")?
            .query_row([lead_id], |r| r.get(0))?;
        Ok(inbound + refused)
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
                                  sender, detail, matched, touchpoint_id, cadence, step, reason, blame, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
             ON CONFLICT DO NOTHING",
            params![
                msg.mailbox,
                msg.folder,
                msg.uidvalidity,
                msg.uid,
                lead.map(|l| l.0),
                msg.kind.as_str(),
                msg.permanent,
                msg.at.timestamp(),
                msg.subject,
                msg.message_id,
                msg.sender,
                detail,
                msg.matched.map(Matched::as_str),
                msg.answers.as_ref().map(|a| a.touchpoint_id),
                msg.answers.as_ref().map(|a| a.cadence.as_str()),
                msg.answers.as_ref().map(|a| a.step.as_str()),
                msg.reason.map(|(r, _)| r.as_str()),
                msg.reason.map(|(_, b)| blame_name(b)),
                msg.source.as_str(),
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
        if msg.source == Source::Imap {
            tx.execute(
                "INSERT INTO imap_state (mailbox, folder, uidvalidity, last_uid) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (mailbox, folder) DO UPDATE SET uidvalidity = ?3, last_uid = max(last_uid, ?4)",
                params![msg.mailbox, msg.folder, msg.uidvalidity, msg.uid],
            )?;
        }
        tx.commit()?;
        Ok(inserted == 1)
    }

    /// Whether a message with this Message-ID was handled already (from the
    /// inbox or by hand): `ingest` handles each once.
    pub fn inbound_seen(&self, message_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM inbound WHERE message_id = ?1 LIMIT 1")?
            .query_row([message_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The leads at `domain` (their address's part after `@`) running in one
    /// of `cadences`.
    pub fn domain_leads(&self, domain: &str, cadences: &[String]) -> Result<Vec<DomainLead>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.id, l.email, e.cadence, e.enrolled_at FROM enrollments e JOIN leads l ON l.id = e.lead_id
             WHERE e.state IN ('active', 'paused') AND e.cadence IN (SELECT value FROM json_each(?2))
               AND lower(substr(l.email, instr(l.email, '@') + 1)) = ?1",
        )?;
        let rows = stmt.query_map(params![domain.to_ascii_lowercase(), serde_json::to_string(cadences)?], |r| {
            Ok(DomainLead {
                enrollment_id: r.get(0)?,
                email: r.get(1)?,
                cadence: r.get(2)?,
                enrolled_at: from_unix(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Ends enrollments as `replied`, saying who answered; returns how many ended.
    pub fn end_replied(&mut self, enrollment_ids: &[i64], ended_by: &str, at: DateTime<Utc>) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE enrollments SET state = 'replied', next_due_at = NULL, resume_at = NULL, ended_by = ?2,
                    updated_at = ?3
             WHERE id IN (SELECT value FROM json_each(?1)) AND state IN ('active', 'paused')",
            params![serde_json::to_string(enrollment_ids)?, ended_by, at.timestamp()],
        )?)
    }

    /// The next unused number for a message of `source` by hand in `mailbox`
    /// (what makes its row unique in place of an IMAP UID).
    pub fn next_manual_uid(&self, mailbox: &str, source: Source) -> Result<u32> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COALESCE(max(uid), 0) + 1 FROM inbound WHERE mailbox = ?1 AND source = ?2 AND uidvalidity = 0",
            )?
            .query_row(params![mailbox, source.as_str()], |r| r.get(0))?)
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
