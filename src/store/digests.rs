//! Reminder digests: one per owner and digest slot, claimed before it is sent
//! so that a restart can never send a second one for the same slot.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, Store};
use crate::time::from_unix;

/// A digest as recorded (its schedule is [`crate::config::Digest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRecord {
    pub owner: String,
    pub slot_at: DateTime<Utc>,
    pub status: String,
    pub tasks: u32,
    pub message_id: Option<String>,
}

/// An owner with open tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerTasks {
    pub owner: String,
    /// When their oldest open task opened.
    pub oldest: DateTime<Utc>,
    /// The cadence of that task (its mailbox sends the digest by default).
    pub cadence: String,
}

impl Store {
    /// Owners with open tasks opened at or before `now`.
    pub fn owners_with_tasks(&self, now: DateTime<Utc>) -> Result<Vec<OwnerTasks>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT owner, min(at), cadence FROM touchpoints
             WHERE status = 'open' AND owner IS NOT NULL AND at <= ?1
             GROUP BY owner ORDER BY owner",
        )?;
        let rows = stmt.query_map([now.timestamp()], |r| {
            Ok(OwnerTasks { owner: r.get(0)?, oldest: from_unix(r.get(1)?), cadence: r.get(2)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The latest slot a digest was claimed for, for `owner`.
    pub fn last_digest_slot(&self, owner: &str) -> Result<Option<DateTime<Utc>>> {
        let slot: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(slot_at) FROM digests WHERE owner = ?1")?
            .query_row([owner], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(slot.map(from_unix))
    }

    /// Claims the digest of `owner` for `slot`; `None` if one was claimed already.
    pub fn claim_digest(
        &mut self,
        owner: &str,
        slot: DateTime<Utc>,
        mailbox: &str,
        tasks: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let inserted = self.conn.execute(
            "INSERT INTO digests (owner, slot_at, status, sent_at, mailbox, tasks) VALUES (?1, ?2, 'sending', ?3, ?4, ?5)
             ON CONFLICT (owner, slot_at) DO NOTHING",
            params![owner, slot.timestamp(), now.timestamp(), mailbox, tasks],
        )?;
        Ok((inserted == 1).then(|| self.conn.last_insert_rowid()))
    }

    /// Records how a claimed digest went.
    pub fn finish_digest(
        &mut self,
        id: i64,
        status: &str,
        message_id: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE digests SET status = ?2, message_id = COALESCE(?3, message_id), detail = ?4 WHERE id = ?1",
            params![id, status, message_id, detail],
        )?;
        Ok(())
    }

    /// Gives back the claim of a digest that certainly was not sent.
    pub fn release_digest(&mut self, id: i64) -> Result<()> {
        self.conn.execute("DELETE FROM digests WHERE id = ?1 AND status = 'sending'", [id])?;
        Ok(())
    }

    /// Digests a dead process left `sending`: recorded `uncertain`, never resent.
    pub fn settle_interrupted_digests(&mut self) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE digests SET status = 'uncertain', detail = 'interrupted: the process stopped during the send'
             WHERE status = 'sending'",
            [],
        )?)
    }

    /// Every digest of `owner`, oldest first.
    pub fn digests(&self, owner: &str) -> Result<Vec<DigestRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT owner, slot_at, status, tasks, message_id FROM digests WHERE owner = ?1 ORDER BY slot_at",
        )?;
        let rows = stmt.query_map([owner], |r| {
            Ok(DigestRecord {
                owner: r.get(0)?,
                slot_at: from_unix(r.get(1)?),
                status: r.get(2)?,
                tasks: r.get(3)?,
                message_id: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
