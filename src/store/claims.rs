//! Claims and outcomes: what is due, claiming a step before anything of it
//! happens (a UNIQUE touchpoint per lead, cadence and step, committed
//! durably), and recording what became of it while the enrollment moves on.
//! The life of a claimed email is told in [`crate::tick`]'s pipeline.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::sendlog::SendGroup;
use super::{Result, Store, execute_cached};
use crate::model::{DueStep, Next, Outcome, Reason, Refusal, Sent, Settled, message_id};
use crate::time::from_unix;

/// A send that was in flight when a process died.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub touchpoint_id: i64,
    pub due: DueStep,
    pub message_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// An email to claim in a group, with what it says (stored with the claim).
#[derive(Debug)]
pub struct NewSend<'a> {
    pub due: &'a DueStep,
    pub mailbox: &'a str,
    /// The domain of the mailbox's address: its Message-IDs are made on it.
    pub domain: &'a str,
    pub content: Content<'a>,
    /// The step's variant the lead gets, recorded with the claim.
    pub variant: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub struct Content<'a> {
    pub subject: Option<&'a str>,
    pub body: &'a str,
}

/// A claimed email's touchpoint and Message-ID; `None` when it was no longer due.
pub type Claim = Option<(i64, String)>;

/// What became of one claimed send, for [`Store::commit_group`] and [`Store::record`].
#[derive(Debug, Clone)]
pub struct Settlement {
    pub touchpoint_id: i64,
    pub enrollment_id: i64,
    /// When it was settled (the enrollment's `updated_at`).
    pub at: DateTime<Utc>,
    pub settled: Settled,
    /// The server refused it: recorded against the mailbox.
    pub refusal: Option<Refusal>,
}

impl Store {
    /// Up to `limit` active enrollments of the given cadences whose next step is
    /// due at or before `now`, oldest due first.
    pub fn due_steps(&self, now: DateTime<Utc>, cadences: &[String], limit: usize) -> Result<Vec<DueStep>> {
        self.due_steps_after(now, cadences, None, limit)
    }

    /// [`Store::due_steps`], from after `after` (a step read before) on: a tick
    /// pages through what is due without finding again the steps it is
    /// sending, nor those it moved to a later time.
    /// How many steps of `cadences` are due at `now`.
    pub fn count_due(&self, now: DateTime<Utc>, cadences: &[String]) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM enrollments
                 WHERE state = 'active' AND next_due_at <= ?1 AND +cadence IN (SELECT value FROM json_each(?2))",
            )?
            .query_row(params![now.timestamp(), serde_json::to_string(cadences)?], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    pub fn due_steps_after(
        &self,
        now: DateTime<Utc>,
        cadences: &[String],
        after: Option<&DueStep>,
        limit: usize,
    ) -> Result<Vec<DueStep>> {
        let mut stmt = self.conn.prepare_cached(
            // The ids first, so that only the rows taken are joined with their leads.
            "SELECT e.id, e.lead_id, l.email, l.fields, l.timezone, e.cadence, e.step, e.next_due_at, e.attempts,
                    e.planned_at, e.reason, e.owner, e.task_id
             FROM (SELECT id FROM enrollments
                   WHERE state = 'active' AND next_due_at <= ?1
                     AND +cadence IN (SELECT value FROM json_each(?2)) -- '+': keep to the due index
                     AND (COALESCE(planned_at, next_due_at), id) > (?4, ?5)
                   ORDER BY COALESCE(planned_at, next_due_at), id
                   LIMIT ?3) d
             JOIN enrollments e ON e.id = d.id JOIN leads l ON l.id = e.lead_id
             ORDER BY COALESCE(e.planned_at, e.next_due_at), e.id",
        )?;
        let names = serde_json::to_string(cadences)?;
        let (key, id) = after.map_or((i64::MIN, i64::MIN), |d| (d.planned_at.timestamp(), d.enrollment_id));
        let rows = stmt.query_map(params![now.timestamp(), names, limit as i64, key, id], RawDue::read)?;
        rows.map(|r| r?.parse()).collect()
    }

    /// Claims `due` (a manual step, or a skip) by recording its touchpoint as
    /// `sending` in a durable commit, so that the step can never be taken twice.
    /// `None` when the enrollment changed meanwhile (paused, stopped, already
    /// claimed). Emails are claimed in groups: see [`Store::commit_group`].
    pub fn claim(
        &mut self,
        due: &DueStep,
        kind: &str,
        mailbox: Option<&str>,
        variant: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let claimed = claim_row(&tx, due, kind, mailbox, variant, now, None)?;
        tx.commit()?;
        Ok(claimed.map(|(id, _)| id))
    }

    /// In one durable commit (one fsync for all of it): records what became
    /// of sends already made (`settled`), and claims a new group of emails,
    /// each with its content and a Message-ID made from its touchpoint (see
    /// [`message_id`]), in the order given, which must be the order they are
    /// then sent in. Returns each claim's touchpoint and Message-ID, `None`
    /// for each that is no longer due.
    ///
    /// The groups whose sends are still under way (`open`) and the new one are
    /// remembered with the claims, and the new group is returned, so that the
    /// sender can write it into the [`SendLog`] before its first send: after a
    /// crash, the log tells which of those groups' sends ended how, and which
    /// never started.
    pub fn commit_group(
        &mut self,
        settled: &[Settlement],
        open: &[SendGroup],
        claims: &[NewSend<'_>],
        now: DateTime<Utc>,
    ) -> Result<(Vec<Claim>, Option<SendGroup>)> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for s in settled {
            settle_in(&tx, s)?;
        }
        let mut claimed = Vec::with_capacity(claims.len());
        for claim in claims {
            let email = Email { domain: claim.domain, instance: &self.instance, content: &claim.content };
            let row = claim_row(&tx, claim.due, "email", Some(claim.mailbox), claim.variant, now, Some(email))?;
            claimed.push(row.and_then(|(id, m)| m.map(|m| (id, m))));
        }
        let ids = claimed.iter().flatten().map(|(id, _)| *id);
        let group = ids.clone().min().zip(ids.max()).map(|(first, last)| SendGroup::new(first, last));
        let groups: Vec<&SendGroup> = open.iter().chain(&group).collect();
        tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('send_groups', ?1)")?
            .execute([serde_json::to_string(&groups)?])?;
        if let Some(g) = &group {
            // The send mark's counterpart: how far this database's claims went.
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('last_email_claim', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), ?1)",
            )?
            .execute([g.last])?;
        }
        tx.commit()?;
        Ok((claimed, group))
    }

    /// Records what became of claimed sends (those that came back at the end
    /// of a tick, or those a stopped process left), in one durable commit.
    pub fn record(&mut self, settled: &[Settlement], now: DateTime<Utc>) -> Result<()> {
        self.commit_group(settled, &[], &[], now).map(drop)
    }

    /// Records the outcome of claimed touchpoint `touchpoint_id` and moves its
    /// enrollment on, in one transaction.
    pub fn complete(&mut self, touchpoint_id: i64, outcome: &Outcome, next: &Next) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        complete_in(&tx, touchpoint_id, outcome, next)?;
        tx.commit()?;
        Ok(())
    }

    /// Puts off an unclaimed due step to `retry_at` (its mailbox is unreachable).
    pub fn defer(&mut self, due: &DueStep, retry_at: DateTime<Utc>, error: &str, count: bool) -> Result<()> {
        defer_in(&self.conn, due.enrollment_id, retry_at, error, count)
    }

    /// Whether the enrollment of `due` is still active on the same step.
    pub fn is_active(&self, due: &DueStep) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM enrollments WHERE id = ?1 AND state = 'active' AND step = ?2")?
            .query_row(params![due.enrollment_id, due.step], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Moves an unclaimed due step to `at` (its next send slot), with the reason;
    /// its planned time stays, so lateness and fairness still count from it.
    pub fn reschedule(&mut self, due: &DueStep, at: DateTime<Utc>, reason: Reason) -> Result<()> {
        self.conn.execute(
            "UPDATE enrollments SET next_due_at = ?2, reason = ?3 WHERE id = ?1 AND state = 'active'",
            params![due.enrollment_id, at.timestamp(), reason],
        )?;
        Ok(())
    }

    /// Pauses an enrollment for a person, with the reason (a template that no
    /// longer renders for the lead, a step that vanished from its cadence).
    pub fn hold(&mut self, due: &DueStep, reason: &str, now: DateTime<Utc>) -> Result<()> {
        advance(&self.conn, due.enrollment_id, &Next::Hold(reason.to_string()), now, None)
    }

    /// The emails lead `lead_id` was sent (or may have been: uncertain) in
    /// `cadence`, oldest first: the thread a reply step answers.
    pub fn thread(&self, lead_id: i64, cadence: &str) -> Result<Vec<Sent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT message_id, subject FROM touchpoints
             WHERE lead_id = ?1 AND cadence = ?2 AND kind = 'email' AND status IN ('sent', 'uncertain')
               AND message_id IS NOT NULL
             ORDER BY id",
        )?;
        let rows = stmt.query_map(params![lead_id, cadence], |r| {
            Ok(Sent { message_id: r.get(0)?, subject: r.get::<_, Option<String>>(1)?.unwrap_or_default() })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Sends left `sending` by a process that died mid-send. Only call while
    /// holding the [`DispatchLock`], so that no live send is among them.
    pub fn interrupted(&self) -> Result<Vec<Interrupted>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.id, e.lead_id, l.email, l.fields, l.timezone, e.cadence, t.step, e.next_due_at, e.attempts,
                    e.planned_at, e.reason, e.owner, e.task_id, t.id, t.message_id, t.at
             FROM touchpoints t JOIN enrollments e ON e.id = t.enrollment_id JOIN leads l ON l.id = t.lead_id
             WHERE t.status = 'sending'
             ORDER BY t.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((RawDue::read(r)?, r.get::<_, i64>(13)?, r.get::<_, Option<String>>(14)?, r.get::<_, i64>(15)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (due, touchpoint_id, message_id, at) = row?;
            out.push(Interrupted { touchpoint_id, due: due.parse()?, message_id, at: from_unix(at) });
        }
        Ok(out)
    }

    /// The groups of sends that were under way at the last claim (see
    /// [`Store::commit_group`]).
    pub fn send_groups(&self) -> Result<Vec<SendGroup>> {
        let text: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'send_groups'", [], |r| r.get(0)).optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
    }

    /// The steps an enrollment has a touchpoint for.
    pub fn touched_steps(&self, enrollment_id: i64) -> Result<Vec<String>> {
        // By lead and cadence, the touchpoints' unique index (an enrollment is one of each).
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.step FROM enrollments e JOIN touchpoints t ON t.lead_id = e.lead_id AND t.cadence = e.cadence
             WHERE e.id = ?1",
        )?;
        let rows = stmt.query_map([enrollment_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// A due step as read, before its JSON fields are parsed.
struct RawDue {
    enrollment_id: i64,
    lead_id: i64,
    email: String,
    fields: String,
    timezone: Option<String>,
    cadence: String,
    step: Option<String>,
    due_at: Option<i64>,
    attempts: u32,
    planned_at: Option<i64>,
    reason: Option<Reason>,
    owner: Option<String>,
    task_id: Option<i64>,
}

impl RawDue {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawDue> {
        Ok(RawDue {
            enrollment_id: r.get(0)?,
            lead_id: r.get(1)?,
            email: r.get(2)?,
            fields: r.get(3)?,
            timezone: r.get(4)?,
            cadence: r.get(5)?,
            step: r.get(6)?,
            due_at: r.get(7)?,
            attempts: r.get(8)?,
            planned_at: r.get(9)?,
            reason: r.get(10)?,
            owner: r.get(11)?,
            task_id: r.get(12)?,
        })
    }

    fn parse(self) -> Result<DueStep> {
        Ok(DueStep {
            enrollment_id: self.enrollment_id,
            lead_id: self.lead_id,
            email: self.email,
            fields: serde_json::from_str(&self.fields)?,
            timezone: self.timezone,
            cadence: self.cadence,
            step: self.step.unwrap_or_default(),
            due_at: from_unix(self.due_at.unwrap_or_default()),
            planned_at: from_unix(self.planned_at.or(self.due_at).unwrap_or_default()),
            reason: self.reason,
            attempts: self.attempts,
            owner: self.owner,
            task_id: self.task_id,
        })
    }
}

/// What an email's claim stores besides the step: its content, and what its
/// Message-ID is made of.
struct Email<'a> {
    domain: &'a str,
    instance: &'a str,
    content: &'a Content<'a>,
}

/// Inserts the `sending` touchpoint that claims `due`, unless the enrollment
/// moved on or the step already has its touchpoint.
fn claim_row(
    conn: &Connection,
    due: &DueStep,
    kind: &str,
    mailbox: Option<&str>,
    variant: Option<&str>,
    now: DateTime<Utc>,
    email: Option<Email<'_>>,
) -> Result<Option<(i64, Option<String>)>> {
    // The id is chosen here (as SQLite would: one past the largest, inside this
    // IMMEDIATE transaction) so that the Message-ID made from it goes in with the row.
    let id: i64 =
        conn.prepare_cached("SELECT COALESCE(max(id), 0) + 1 FROM touchpoints")?.query_row([], |r| r.get(0))?;
    let message_id = email.as_ref().map(|e| message_id(e.instance, id, e.domain));
    let content = email.as_ref().map(|e| e.content);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO touchpoints (id, enrollment_id, lead_id, cadence, step, kind, status, at, mailbox, owner,
                                      message_id, subject, body, variant)
             SELECT ?1, e.id, e.lead_id, e.cadence, e.step, ?2, 'sending', ?3, ?4, ?5, ?6, ?9, ?10, ?11 FROM enrollments e
             WHERE e.id = ?7 AND e.state = 'active' AND e.step = ?8 AND e.next_due_at <= ?3
             ON CONFLICT (lead_id, cadence, step) DO NOTHING",
        )?
        .execute(params![
            id,
            kind,
            now.timestamp(),
            mailbox,
            due.owner,
            message_id,
            due.enrollment_id,
            due.step,
            content.and_then(|c| c.subject),
            content.map(|c| c.body),
            variant
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    Ok(Some((id, message_id)))
}

fn complete_in(conn: &Connection, touchpoint_id: i64, outcome: &Outcome, next: &Next) -> Result<()> {
    conn.prepare_cached(
        // What the claim stored (Message-ID, an email's subject and body) stays
        // unless the outcome says otherwise.
        "UPDATE touchpoints SET status = ?2, at = ?3, message_id = COALESCE(?4, message_id),
                subject = COALESCE(?5, subject), body = COALESCE(?6, body), detail = ?7, reason = ?8
         WHERE id = ?1",
    )?
    .execute(params![
        touchpoint_id,
        outcome.status,
        outcome.at.timestamp(),
        outcome.message_id,
        outcome.subject,
        outcome.body,
        outcome.detail,
        outcome.reason
    ])?;
    let enrollment_id: i64 = conn
        .prepare_cached("SELECT enrollment_id FROM touchpoints WHERE id = ?1")?
        .query_row([touchpoint_id], |r| r.get(0))?;
    advance(conn, enrollment_id, next, outcome.at, Some(touchpoint_id))
}

/// Writes what became of one claimed send.
fn settle_in(conn: &Connection, s: &Settlement) -> Result<()> {
    if let Some(refusal) = &s.refusal {
        execute_cached(
            conn,
            "INSERT INTO refusals (mailbox, lead_id, cadence, step, at, reason, blame, reply)
             SELECT mailbox, lead_id, cadence, step, ?2, ?3, ?4, ?5 FROM touchpoints WHERE id = ?1",
            params![
                s.touchpoint_id,
                s.at.timestamp(),
                refusal.reason.as_str(),
                super::inbox::blame_name(refusal.blame),
                refusal.reply
            ],
        )?;
    }
    match &s.settled {
        Settled::Record { status, detail, reason, next, suppress } => {
            // Its time, Message-ID and content are the claim's: only what the send added is written.
            conn.prepare_cached("UPDATE touchpoints SET status = ?2, detail = ?3, reason = ?4 WHERE id = ?1")?
                .execute(params![s.touchpoint_id, status, detail, reason])?;
            advance(conn, s.enrollment_id, next, s.at, Some(s.touchpoint_id))?;
            if *suppress {
                // A dead address: the lead bounced in every cadence, and is never mailed again.
                execute_cached(
                    conn,
                    "UPDATE enrollments SET state = 'bounced', next_due_at = NULL, resume_at = NULL, updated_at = ?2
                     WHERE lead_id = (SELECT lead_id FROM touchpoints WHERE id = ?1) AND state IN ('active', 'paused')",
                    params![s.touchpoint_id, s.at.timestamp()],
                )?;
                execute_cached(
                    conn,
                    "INSERT INTO suppressions (email, reason, at)
                     SELECT l.email, 'bounced', ?2 FROM touchpoints t JOIN leads l ON l.id = t.lead_id WHERE t.id = ?1
                     ON CONFLICT (email) DO NOTHING",
                    params![s.touchpoint_id, s.at.timestamp()],
                )?;
            }
            Ok(())
        }
        Settled::Retry { retry_at, error, count } => {
            unclaim_in(conn, s.touchpoint_id)?;
            defer_in(conn, s.enrollment_id, *retry_at, error, *count)
        }
        Settled::GiveBack => unclaim_in(conn, s.touchpoint_id),
    }
}

/// Gives a claim back: its `sending` touchpoint goes; the enrollment is untouched.
fn unclaim_in(conn: &Connection, touchpoint_id: i64) -> Result<()> {
    execute_cached(conn, "DELETE FROM touchpoints WHERE id = ?1 AND status = 'sending'", [touchpoint_id])?;
    Ok(())
}

fn defer_in(conn: &Connection, enrollment_id: i64, retry_at: DateTime<Utc>, error: &str, count: bool) -> Result<()> {
    execute_cached(
        conn,
        "UPDATE enrollments SET next_due_at = ?2, attempts = attempts + ?4, last_error = ?3, reason = 'retry',
                updated_at = ?2
         WHERE id = ?1",
        params![enrollment_id, retry_at.timestamp(), error, i64::from(count)],
    )?;
    Ok(())
}

pub(super) fn advance(
    conn: &Connection,
    enrollment_id: i64,
    next: &Next,
    at: DateTime<Utc>,
    touchpoint_id: Option<i64>,
) -> Result<()> {
    if let Next::ThenHold(next, why) = next {
        advance(conn, enrollment_id, next, at, touchpoint_id)?;
        return advance(conn, enrollment_id, &Next::Hold(why.clone()), at, None);
    }
    let at = at.timestamp();
    match next {
        Next::ThenHold(..) => 0,
        Next::Block { until } => execute_cached(
            conn,
            "UPDATE enrollments SET task_id = ?2, next_due_at = ?3, planned_at = ?3, reason = NULL, attempts = 0,
                    last_error = NULL, updated_at = ?4
             WHERE id = ?1",
            params![enrollment_id, touchpoint_id, until.map(|u| u.timestamp()), at],
        )?,
        Next::Step { id, due_at, planned_at, reason } => execute_cached(
            conn,
            "UPDATE enrollments SET step = ?2, next_due_at = ?3, planned_at = ?4, reason = ?5, attempts = 0,
                    last_error = NULL, updated_at = ?6, task_id = NULL
             WHERE id = ?1",
            params![enrollment_id, id, due_at.timestamp(), planned_at.timestamp(), reason, at],
        )?,
        Next::Finished => execute_cached(
            conn,
            "UPDATE enrollments SET state = 'finished', step = NULL, next_due_at = NULL, reason = NULL,
                    attempts = 0, last_error = NULL, updated_at = ?2, task_id = NULL
             WHERE id = ?1",
            params![enrollment_id, at],
        )?,
        Next::End(state) => execute_cached(
            conn,
            "UPDATE enrollments SET state = ?2, next_due_at = NULL, reason = NULL, updated_at = ?3 WHERE id = ?1",
            params![enrollment_id, state, at],
        )?,
        Next::Hold(why) => execute_cached(
            conn,
            "UPDATE enrollments SET state = 'paused', last_error = ?2, updated_at = ?3 WHERE id = ?1",
            params![enrollment_id, why, at],
        )?,
    };
    Ok(())
}
