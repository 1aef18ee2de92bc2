//! Owners' reminder digests, sent at the end of a tick (so that a digest
//! lists the tasks the tick opened). Each is claimed in the database before
//! it is sent, so a slot never gets a second one, also across restarts; when
//! and what is [`crate::core::reminders`]'s to say.

use chrono::Duration;
use tracing::{info, warn};

use crate::core::reminders;
use crate::send::{self, SendError};
use crate::store::{StoreError, TaskFilter};

use super::Tick;

impl Tick<'_> {
    /// Sends each owner's reminder digest whose slot has come, once per slot.
    pub(super) fn digests(&mut self) -> Result<(), StoreError> {
        let settled = self.store.settle_interrupted_digests()?;
        if settled > 0 {
            warn!(digests = settled, "digest send was interrupted; recorded as uncertain, not sent again");
        }
        for owner_tasks in self.store.owners_with_tasks(self.now)? {
            if self.control.stopping() {
                return Ok(());
            }
            self.progress();
            let owner = self.config.owner(&owner_tasks.owner);
            let cal = &self.config.default_calendar;
            let after = match self.store.last_digest_slot(&owner.address)? {
                Some(last) => last.max(owner_tasks.oldest - Duration::seconds(1)),
                None => owner_tasks.oldest - Duration::seconds(1),
            };
            let Some(slot) = reminders::due_slot(&owner, cal, after, self.now) else { continue };
            let mailbox_name =
                owner.mailbox.clone().or_else(|| self.cadences.get(&owner_tasks.cadence).map(|c| c.mailbox.clone()));
            let Some(mailbox) = mailbox_name.and_then(|m| self.config.mailboxes.get(&m)) else {
                warn!(owner = %owner.address, "no mailbox to send the digest through");
                continue;
            };
            if self.transports.held_until(&mailbox.name, self.now).is_some() {
                continue;
            }
            let filter = TaskFilter { owner: Some(&owner.address), opened_before: Some(slot + Duration::seconds(1)) };
            let tasks = self.store.open_tasks(&filter)?;
            if tasks.is_empty() {
                continue;
            }
            let count = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
            let Some(id) = self.store.claim_digest(&owner.address, slot, &mailbox.name, count, self.now)? else {
                continue;
            };
            let notes: Vec<String> = self
                .paused
                .iter()
                .filter(|(m, _)| {
                    self.config.mailboxes.get(*m).and_then(|mb| mb.owner.as_deref()) == Some(&owner.address)
                })
                .map(|(m, why)| format!("mailbox {m} is paused, nothing leaves it: {why}"))
                .collect();
            let path = self.config.path.display().to_string();
            let (subject, body) = reminders::render(&owner, &tasks, &notes, slot, &path);
            let message_id = format!("<digest-{id}.{}@{}>", self.store.instance(), mailbox.from.email.domain());
            let email = send::Email {
                from: &mailbox.from,
                to: &owner.address,
                subject: &subject,
                body: &body,
                message_id: &message_id,
                date: self.now,
                reply: None,
                list_unsubscribe: None,
                step_tag: None,
            };
            let label = format!("{}-digest-{id}", self.now.format("%Y%m%dT%H%M%SZ"));
            let result = send::build(&email).and_then(|m| self.transports.get(mailbox).send(&m, &label));
            match result {
                Ok(()) => {
                    self.transports.recovered(&mailbox.name, self.now);
                    info!(owner = %owner.address, tasks = count, message_id = %message_id, "digest sent");
                    self.report.digests += 1;
                    self.store.finish_digest(id, "sent", Some(&message_id), None)?;
                }
                Err(SendError::Uncertain(why)) => {
                    warn!(owner = %owner.address, "digest send interrupted, not repeated: {why}");
                    self.store.finish_digest(id, "uncertain", Some(&message_id), Some(&why))?;
                }
                Err(SendError::Permanent(why)) => {
                    warn!(owner = %owner.address, "digest refused: {why}");
                    self.store.finish_digest(id, "failed", Some(&message_id), Some(&why.to_string()))?;
                }
                Err(SendError::Unavailable(why)) => {
                    // Certainly not sent: give the slot back so a later tick tries again.
                    self.transports.outage(&mailbox.name, self.now, &why);
                    self.store.release_digest(id)?;
                }
                Err(SendError::Temporary(why)) => {
                    warn!(owner = %owner.address, "digest not sent, will retry: {why}");
                    self.store.release_digest(id)?;
                }
            }
        }
        Ok(())
    }
}
