//! Surviving a restore: before anything is sent, notice that the database is
//! a restored copy ([`notice`]), then reconcile each mailbox's Sent folder
//! (or outbox) into it ([`reconcile_open`]). A mailbox with an open
//! reconciliation is held (its steps wait, "mailbox paused: held after a
//! restore ..."); one without a Sent folder to read stays held until an
//! operator confirms (`cadenced reconcile --confirm-unreadable NAME`).
//! `cadenced reconcile` calls the same functions on demand.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::cadence::Cadences;
use crate::config::{Config, Delivery, Mailbox};
use crate::core::plan;
use crate::core::restore::{self, Judgement, Mark, SentEmail};
use crate::model::State;
use crate::store::{FoundSend, Hold, Store, StoreError, sendmark};

/// How far before the database's last recorded send the Sent folder is read:
/// IMAP searches by day, and clocks differ.
const READ_MARGIN: Duration = Duration::days(1);

/// Checks the send mark beside the database against the database. A restored
/// copy gets a new instance (no Message-ID is ever made twice) and an open
/// reconciliation for every mailbox, from its last recorded send on; returns
/// why it was taken for a restored copy.
pub fn notice(store: &mut Store, config: &Config, now: DateTime<Utc>) -> Result<Option<String>, StoreError> {
    let found = sendmark::read(&config.database)?;
    let recorded = store.recorded_sends()?;
    let why = match restore::judge(&found, &recorded) {
        Judgement::Current => return Ok(None),
        Judgement::New => {
            sendmark::write(&config.database, &Mark { instance: recorded.instance, last_claim: 0 })?;
            return Ok(None);
        }
        Judgement::Restored(why) => why,
    };
    let old = recorded.instance.clone();
    let instance = store.renew_instance()?;
    // The send log beside it, if any, is not this copy's: its claims under way
    // are settled from the Sent folder, or recorded uncertain.
    store.forget_send_groups()?;
    let since = store.last_send_at()?.unwrap_or(now) - READ_MARGIN;
    for name in config.mailboxes.keys() {
        store.open_reconciliation(name, since, &why, now)?;
    }
    let last_claim = match &found {
        restore::Found::Mark(m) => m.last_claim.max(recorded.last_claim),
        _ => recorded.last_claim,
    };
    sendmark::write(&config.database, &Mark { instance: instance.clone(), last_claim })?;
    warn!(
        old_instance = %old, new_instance = %instance, since = %crate::time::rfc3339(since),
        "restored database: {why}; nothing is sent before each mailbox's Sent folder is reconciled \
         (new Message-IDs use instance {instance})"
    );
    Ok(Some(why))
}

/// A new instance for the database (no Message-ID it made can be made again),
/// written into the send mark.
pub fn renew(store: &mut Store, config: &Config) -> Result<String, StoreError> {
    let instance = store.renew_instance()?;
    mark_claims(store, &config.database)?;
    warn!(new_instance = %instance, "the database lagged its sent mail: new Message-IDs use instance {instance}");
    Ok(instance)
}

/// Rewrites the send mark after a claim, before any email of it leaves.
pub fn mark_claims(store: &Store, db: &Path) -> Result<(), StoreError> {
    let recorded = store.recorded_sends()?;
    sendmark::write(db, &Mark { instance: recorded.instance, last_claim: recorded.last_claim })
}

/// What reconciling one mailbox came to.
#[derive(Debug, Clone)]
pub struct Reconciled {
    pub mailbox: String,
    pub since: DateTime<Utc>,
    /// `done`, `unreadable` (held for an operator) or `failed` (tried again at the next tick).
    pub state: &'static str,
    pub found: usize,
    pub recorded: usize,
    pub detail: String,
    /// The Message-IDs found that the database has: a claim among them whose
    /// end it does not know certainly left.
    pub left: Vec<String>,
}

/// Where a mailbox's sends can be read back from.
enum Source<'a> {
    Outbox(&'a Path),
    Sent(&'a crate::config::ImapSettings, &'a str),
    /// Nowhere: why.
    Nowhere(String),
}

fn source(mailbox: &Mailbox) -> Source<'_> {
    if let Delivery::Outbox(dir) = &mailbox.delivery {
        return Source::Outbox(dir);
    }
    match &mailbox.imap {
        Some(imap) => match &imap.sent_folder {
            Some(folder) => Source::Sent(imap, folder),
            None => Source::Nowhere("it has IMAP but no sent_folder".into()),
        },
        None => Source::Nowhere("it has no IMAP and no sent_folder".into()),
    }
}

/// Why `mailbox`'s sends cannot be read back (no Sent folder, not an
/// outbox), or `None` when they can.
pub fn unreadable(mailbox: &Mailbox) -> Option<String> {
    match source(mailbox) {
        Source::Nowhere(why) => Some(why),
        _ => None,
    }
}

/// Reconciles every open reconciliation that can be read now.
pub fn reconcile_open(
    store: &mut Store,
    config: &Config,
    cadences: &Cadences,
    now: DateTime<Utc>,
) -> Result<Vec<Reconciled>, StoreError> {
    let mut out = Vec::new();
    for hold in store.holds()? {
        if hold.state == "unreadable" {
            continue;
        }
        out.push(reconcile_one(store, config, cadences, &hold, now)?);
    }
    Ok(out)
}

/// Reconciles `hold`'s mailbox: reads its Sent folder or outbox from
/// `hold.since` on, and records the sends the database lacks.
pub fn reconcile_one(
    store: &mut Store,
    config: &Config,
    cadences: &Cadences,
    hold: &Hold,
    now: DateTime<Utc>,
) -> Result<Reconciled, StoreError> {
    let name = hold.mailbox.as_str();
    let mut result = Reconciled {
        mailbox: name.to_string(),
        since: hold.since,
        state: "done",
        found: 0,
        recorded: 0,
        detail: String::new(),
        left: Vec::new(),
    };
    let theirs: Vec<String> = cadences.by_name.values().filter(|c| c.mailbox == name).map(|c| c.name.clone()).collect();
    let Some(mailbox) = config.mailboxes.get(name) else {
        // A mailbox gone from the config sends nothing: nothing to hold.
        result.detail = "the mailbox is no longer configured".into();
        store.finish_reconciliation(hold.id, &[], 0, &result.detail, &theirs, now)?;
        return Ok(result);
    };
    let raw = match source(mailbox) {
        Source::Nowhere(why) => {
            result.state = "unreadable";
            result.detail = format!(
                "no Sent folder to reconcile from ({why}); sends since {} may be missing from the database. \
                 Check the mailbox's sent mail by hand, then `cadenced reconcile --confirm-unreadable {name}`",
                crate::time::rfc3339(hold.since)
            );
            store.reconciliation_unreadable(hold.id, "unreadable", &result.detail)?;
            warn!(mailbox = name, "mailbox held after a restore: {}", result.detail);
            return Ok(result);
        }
        Source::Outbox(dir) => read_outbox(dir, hold.since),
        Source::Sent(imap, folder) => crate::imap::read_tagged_headers(
            imap,
            folder,
            restore::STEP_HEADER,
            (hold.since - READ_MARGIN).date_naive(),
        )
        .map_err(|e| e.to_string()),
    };
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            result.state = "failed";
            result.detail = format!("cannot read its sent mail, held and tried again at the next tick: {e}");
            store.reconciliation_unreadable(hold.id, "pending", &result.detail)?;
            warn!(mailbox = name, "reconciling after a restore: {}", result.detail);
            return Ok(result);
        }
    };
    let emails: Vec<SentEmail> = raw.iter().filter_map(|r| parse(r)).collect();
    let steps = step_tags(store.unsubscribe_secret(), cadences, name);
    let mut lookup_error = None;
    let matches = restore::match_found(emails, &steps, &mut |id| match store.knows_message_id(id) {
        Ok(known) => known,
        Err(e) => {
            lookup_error = Some(e.to_string());
            true
        }
    });
    if let Some(e) = lookup_error {
        return Err(StoreError::Sender(format!("reconciling: {e}")));
    }
    let (found, unplaced) = plan_records(store, config, cadences, name, &matches.new, now)?;
    result.found = matches.ours();
    let detail = format!(
        "{} of cadenced's emails in {} since {}: {} already recorded, {} recorded now{}{}",
        matches.ours(),
        match source(mailbox) {
            Source::Outbox(dir) => format!("outbox {}", dir.display()),
            Source::Sent(_, folder) => format!("folder {folder}"),
            Source::Nowhere(_) => String::new(),
        },
        crate::time::rfc3339(hold.since),
        matches.known.len(),
        found.len(),
        if matches.unknown_step > 0 {
            format!(", {} of a step no loaded cadence has", matches.unknown_step)
        } else {
            String::new()
        },
        if unplaced > 0 { format!(", {unplaced} to leads the database does not have") } else { String::new() },
    );
    result.recorded = store.finish_reconciliation(hold.id, &found, matches.ours(), &detail, &theirs, now)?;
    result.detail = detail;
    result.left = matches.known;
    info!(
        mailbox = name,
        found = result.found,
        recorded = result.recorded,
        "reconciled after a restore: {}",
        result.detail
    );
    Ok(result)
}

/// tag -> (cadence, step) of the loaded cadences that send through `mailbox`.
fn step_tags(secret: &[u8], cadences: &Cadences, mailbox: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for cadence in cadences.by_name.values().filter(|c| c.mailbox == mailbox) {
        for step in &cadence.steps {
            out.insert(restore::step_tag(secret, &cadence.name, &step.id), (cadence.name.clone(), step.id.clone()));
        }
    }
    out
}

/// The touchpoints to record for the sends found, each with where its
/// enrollment goes: on past the found step when the enrollment (active or
/// paused) has not passed it yet. Returns them and how many name a lead or
/// enrollment the database does not have.
fn plan_records(
    store: &Store,
    config: &Config,
    cadences: &Cadences,
    mailbox: &str,
    found: &[restore::Match],
    now: DateTime<Utc>,
) -> Result<(Vec<FoundSend>, usize), StoreError> {
    let mut out = Vec::new();
    let mut unplaced = 0;
    // Where each enrollment stands as the found sends move it (they come oldest first).
    let mut position: BTreeMap<i64, Option<usize>> = BTreeMap::new();
    for m in found {
        let (Some(cadence), Some(target)) =
            (cadences.get(&m.cadence), store.reconcile_target(&m.email.to, &m.cadence)?)
        else {
            unplaced += 1;
            continue;
        };
        let Some(index) = cadence.step_index(&m.step) else { continue };
        let at = m.email.date.unwrap_or(now).min(now);
        let current = *position
            .entry(target.enrollment_id)
            .or_insert_with(|| target.step.as_deref().and_then(|s| cadence.step_index(s)));
        let moves = matches!(target.state, State::Active | State::Paused) && current.is_some_and(|c| index >= c);
        let next = moves.then(|| {
            let lead = config.lead_time(cadence.calendar.as_deref(), target.timezone.as_deref(), &target.fields);
            plan::next(cadence, Some(index), at, lead)
        });
        if moves {
            position.insert(target.enrollment_id, Some(index + 1));
        }
        out.push(FoundSend {
            target_enrollment: target.enrollment_id,
            lead_id: target.lead_id,
            cadence: m.cadence.clone(),
            step: m.step.clone(),
            mailbox: mailbox.to_string(),
            message_id: m.email.message_id.clone(),
            subject: m.email.subject.clone(),
            at,
            next,
        });
    }
    Ok((out, unplaced))
}

/// The `.eml` files of an outbox (not the temporary ones) changed on or after `since`.
fn read_outbox(dir: &Path, since: DateTime<Utc>) -> Result<Vec<Vec<u8>>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Nothing was ever written: nothing was sent.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("outbox {}: {e}", dir.display())),
    };
    let cutoff = std::time::SystemTime::from(since - READ_MARGIN);
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("outbox {}: {e}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".eml") {
            continue;
        }
        let recent = entry.metadata().and_then(|m| m.modified()).map_or(true, |t| t >= cutoff);
        if !recent {
            continue;
        }
        match std::fs::read(entry.path()) {
            Ok(bytes) => out.push(bytes),
            Err(e) => return Err(format!("{}: {e}", entry.path().display())),
        }
    }
    Ok(out)
}

/// The headers reconciling reads, `None` for a message without a Message-ID or recipient.
fn parse(raw: &[u8]) -> Option<SentEmail> {
    let message = std::panic::catch_unwind(|| mail_parser::MessageParser::default().parse_headers(raw)).ok()??;
    let message_id = format!("<{}>", message.message_id()?);
    let to = message.to()?.first()?.address()?.to_string();
    let tag = message.header(restore::STEP_HEADER).and_then(|v| v.as_text()).map(str::to_string);
    let subject = message.subject().map(str::to_string);
    let date = message.date().and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0));
    Some(SentEmail { message_id, to, tag, subject, date })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_of_a_sent_email_are_read_back() {
        let raw = b"From: Ada <ada@seller.test>\r\nTo: jane@acme.test\r\nSubject: Hello\r\n\
            Date: Mon, 02 Mar 2026 09:00:00 +0000\r\nMessage-ID: <i1.7@seller.test>\r\n\
            X-Cadenced-Step: 0123456789abcdef\r\n\r\nbody\r\n";
        let e = parse(raw).unwrap();
        assert_eq!(e.message_id, "<i1.7@seller.test>");
        assert_eq!(e.to, "jane@acme.test");
        assert_eq!(e.tag.as_deref(), Some("0123456789abcdef"));
        assert_eq!(e.subject.as_deref(), Some("Hello"));
        assert_eq!(e.date, Some(crate::time::parse_instant("2026-03-02T09:00:00Z").unwrap()));
        assert!(parse(b"Subject: no id\r\n\r\n").is_none());
    }
}
