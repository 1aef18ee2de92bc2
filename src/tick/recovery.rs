//! Crash recovery: the sends a stopped process left `sending`. The send log
//! beside the database says how each of their groups' sends ended (see
//! [`crate::store::sendlog`]): what ended is recorded as it ended, what never
//! started is given back and sent now, and what started without an end may
//! have left, so it is found in the mailbox's sent folder or recorded
//! `uncertain`, never repeated. Each of them is then settled by the same
//! rule as a send that just ended ([`crate::core::decide::settle`]).

use tracing::{info, warn};

use crate::core::decide::{self, Claimed};
use crate::core::plan;
use crate::model::{Ended, Next, Settled};
use crate::store::{Interrupted, Settlement, StoreError, Verdict, sendlog};

use super::Tick;

impl Tick<'_> {
    /// Settles every send a stopped process left `sending`, in one commit.
    pub(super) fn settle_interrupted(&mut self) -> Result<(), StoreError> {
        let interrupted = self.store.interrupted()?;
        if interrupted.is_empty() {
            return Ok(());
        }
        let log = sendlog::path_for(&self.config.database);
        let ids: Vec<i64> = interrupted.iter().map(|stuck| stuck.touchpoint_id).collect();
        let verdicts = sendlog::verdicts(&ids, &self.store.send_groups()?, &log);
        let mut settlements = Vec::with_capacity(interrupted.len());
        let mut given_back = 0;
        for stuck in &interrupted {
            let verdict = verdicts.get(&stuck.touchpoint_id).cloned().unwrap_or(Verdict::Unknown);
            let (ended, note) = match verdict {
                Verdict::NeverStarted => (Ended::NotTried("the process stopped before it".into()), None),
                // Certainly not sent: due again now, as if never claimed.
                Verdict::Ended(Ended::Unavailable(why) | Ended::Temporary(why)) => (Ended::NotTried(why), None),
                Verdict::Ended(Ended::Sent) => (Ended::Sent, Some("sent; recorded from the send log".to_string())),
                Verdict::Ended(Ended::Uncertain(_)) | Verdict::Unknown => self.unknown_end(stuck),
                Verdict::Ended(ended) => (ended, None),
            };
            let settled = self.settle_stuck(stuck, ended.clone(), note.as_deref());
            let due = &stuck.due;
            match (&ended, &settled) {
                (_, Settled::GiveBack | Settled::Retry { .. }) => given_back += 1,
                (Ended::Sent, _) => {
                    info!(lead = %due.email, cadence = %due.cadence, step = %due.step,
                          "sent before the process stopped: {}", note.as_deref().unwrap_or("recorded as sent"));
                    self.report.sent += 1;
                }
                (Ended::Refused(reply), _) => {
                    warn!(lead = %due.email, cadence = %due.cadence, step = %due.step,
                          "refused for good before the process stopped (send log): {reply}; lead marked bounced");
                    self.report.failed += 1;
                }
                (_, Settled::Record { status, .. }) => {
                    warn!(lead = %due.email, cadence = %due.cadence, step = %due.step,
                          message_id = stuck.message_id.as_deref().unwrap_or(""),
                          "send was interrupted (process stopped mid-send); recorded as {status}, not sent again");
                    if status == &crate::model::Status::Uncertain {
                        self.report.uncertain += 1;
                    } else {
                        self.report.failed += 1;
                    }
                }
            }
            settlements.push(Settlement {
                touchpoint_id: stuck.touchpoint_id,
                enrollment_id: due.enrollment_id,
                at: stuck.at,
                settled,
                refusal: None,
            });
        }
        self.store.record(&settlements, self.now)?;
        if given_back > 0 {
            info!(sends = given_back, "claimed sends the stopped process never made: given back, due again");
        }
        sendlog::clear(&log)
    }

    /// A send that may have left: sent if its Message-ID is in the mailbox's
    /// sent folder, else uncertain.
    fn unknown_end(&self, stuck: &Interrupted) -> (Ended, Option<String>) {
        if stuck.message_id.as_ref().is_some_and(|m| self.left.contains(m)) {
            return (
                Ended::Sent,
                Some("interrupted, then found by reconciling after a restore: settled as sent".into()),
            );
        }
        if let Some(folder) = self.found_in_sent_folder(stuck) {
            return (Ended::Sent, Some(format!("interrupted, then found in {folder}: settled as sent")));
        }
        (Ended::Uncertain("interrupted: the process stopped during the send; not sent again".into()), None)
    }

    /// What `stuck` comes to, as if its send had just ended as `ended`; the
    /// cadence goes on from the time it was claimed.
    fn settle_stuck(&self, stuck: &Interrupted, ended: Ended, note: Option<&str>) -> Settled {
        let due = &stuck.due;
        let (next, on_uncertain) = match self.cadences.get(&due.cadence) {
            Some(c) => {
                let lead = self.config.lead_time(Some(c), due.timezone.as_deref(), &due.fields);
                (plan::next(c, c.step_index(&due.step), stuck.at, lead), c.on_uncertain)
            }
            None => (Next::Hold(format!("cadence {:?} is not loaded", due.cadence)), None),
        };
        // Nothing is waiting on an outage here: what did not leave is due again now.
        let claimed = Claimed {
            due,
            next,
            reason: due.reason,
            on_uncertain: on_uncertain.unwrap_or(self.config.on_uncertain),
            mailbox_back_at: self.now,
            temporary_bounces: 0,
        };
        let mut settled = decide::settle(ended, claimed, self.now);
        if let (Settled::Record { detail, .. }, Some(note)) = (&mut settled, note) {
            detail.get_or_insert_with(|| note.to_string());
        }
        settled
    }

    /// The sent folder an interrupted send's Message-ID was found in, if any.
    fn found_in_sent_folder(&self, stuck: &Interrupted) -> Option<String> {
        let message_id = stuck.message_id.as_ref()?;
        let mailbox = self.cadences.get(&stuck.due.cadence).and_then(|c| self.config.mailboxes.get(&c.mailbox));
        let imap = mailbox.and_then(|m| m.imap.as_ref())?;
        let folder = imap.sent_folder.as_ref()?;
        match crate::imap::find_message_ids(imap, folder, std::slice::from_ref(message_id)) {
            Ok(found) if !found.is_empty() => {
                info!(lead = %stuck.due.email, cadence = %stuck.due.cadence, step = %stuck.due.step,
                      message_id = %message_id, "interrupted send found in the sent folder: settled as sent");
                Some(folder.clone())
            }
            Ok(_) => None,
            Err(e) => {
                warn!(message_id = %message_id, "cannot look for an interrupted send in the sent folder: {e}");
                None
            }
        }
    }
}
