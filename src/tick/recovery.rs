//! Crash recovery: the sends a stopped process left `sending`. The send log
//! beside the database says how each of their groups' sends ended (see
//! [`crate::store::sendlog`], and [`verdicts`] for how it is believed): what ended is recorded as it ended, what never
//! started is given back and sent now, and what started without an end may
//! have left, so it is found in the mailbox's sent folder or recorded
//! `uncertain`, never repeated. Each of them is then settled by the same
//! rule as a send that just ended ([`crate::core::decide::settle`]).

use std::collections::BTreeMap;

use tracing::{info, warn};

use crate::core::decide::{self, Claimed};
use crate::core::plan;
use crate::model::{Ended, Next, Settled};
use crate::store::sendlog::{self, Line};
use crate::store::{Interrupted, SendGroup, Settlement, StoreError};

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
        let lines = sendlog::read(&log);
        let verdicts = verdicts(&ids, &self.store.send_groups()?, sendlog::boot_id().as_deref(), lines.as_deref());
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
                let lead = self.config.lead_time(c.calendar.as_deref(), due.timezone.as_deref(), &due.fields);
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

/// What to make of a send found `sending` at the start of a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// It certainly never started: give the claim back, the step is due again.
    NeverStarted,
    /// It ended so, and the process died before recording it.
    Ended(Ended),
    /// It may have left: `uncertain`, never repeated.
    Unknown,
}

/// Decides each of the `sending` touchpoints `ids` from the groups still
/// being sent when the process stopped (stored with their claims) and the
/// send log's `lines` (`None`: unreadable), believed only for groups claimed
/// on this `boot` of the machine (the log is not fsynced: a reboot may have
/// lost lines). An unreadable log, a group from another boot, a send outside
/// the groups: all [`Verdict::Unknown`]. A send of a group that the log shows
/// neither starting nor ending never started: the sender goes in order and
/// logs each start before the first byte.
fn verdicts(ids: &[i64], groups: &[SendGroup], boot: Option<&str>, lines: Option<&[Line]>) -> BTreeMap<i64, Verdict> {
    let mut out: BTreeMap<i64, Verdict> = ids.iter().map(|id| (*id, Verdict::Unknown)).collect();
    let Some(lines) = lines else { return out };
    // Only the groups claimed on this boot: the log may have lost lines of another.
    let groups: Vec<&SendGroup> = groups.iter().filter(|g| g.boot.is_some() && g.boot.as_deref() == boot).collect();
    // Each line belongs to the group whose header it follows.
    let mut started: BTreeMap<i64, Option<Ended>> = BTreeMap::new();
    let mut current: Option<&SendGroup> = None;
    for line in lines {
        match line {
            Line::Group(g) => current = groups.iter().copied().find(|known| *known == g),
            Line::Start(id) => {
                if current.is_some_and(|g| (g.first..=g.last).contains(id)) {
                    started.insert(*id, None);
                }
            }
            Line::End(id, ended) => {
                if current.is_some_and(|g| (g.first..=g.last).contains(id)) {
                    started.insert(*id, Some(ended.clone()));
                }
            }
        }
    }
    for (id, verdict) in out.iter_mut() {
        if !groups.iter().any(|g| (g.first..=g.last).contains(id)) {
            continue;
        }
        *verdict = match started.remove(id) {
            None => Verdict::NeverStarted,
            Some(None) => Verdict::Unknown,
            Some(Some(ended)) => Verdict::Ended(ended),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(boot: &str) -> SendGroup {
        SendGroup { boot: Some(boot.into()), token: "t1".into(), first: 10, last: 14 }
    }

    #[test]
    fn each_send_of_the_group_is_judged_by_what_the_log_says() {
        let g = group("b1");
        let lines = [
            Line::Group(g.clone()),
            Line::Start(10),
            Line::End(10, Ended::Sent),
            Line::Start(11),
            Line::End(11, Ended::Refused(crate::model::Rejection::smtp(550, "no such user"))),
            Line::Start(12),
        ];
        let v = verdicts(&[3, 10, 11, 12, 13, 14], std::slice::from_ref(&g), Some("b1"), Some(&lines));
        assert_eq!(v[&3], Verdict::Unknown, "not of this group");
        assert_eq!(v[&10], Verdict::Ended(Ended::Sent));
        assert_eq!(v[&11], Verdict::Ended(Ended::Refused(crate::model::Rejection::smtp(550, "no such user"))));
        assert_eq!(v[&12], Verdict::Unknown, "started, never ended: it may have left");
        assert_eq!(v[&13], Verdict::NeverStarted);
        assert_eq!(v[&14], Verdict::NeverStarted);
    }

    #[test]
    fn after_a_reboot_or_without_a_readable_log_everything_may_have_left() {
        let g = group("b1");
        let lines = [Line::Group(g.clone()), Line::Start(10), Line::End(10, Ended::Sent)];
        for (boot, lines) in [(Some("b2"), Some(&lines[..])), (None, Some(&lines[..])), (Some("b1"), None)] {
            let v = verdicts(&[10, 11], std::slice::from_ref(&g), boot, lines);
            assert!(v.values().all(|v| *v == Verdict::Unknown), "{boot:?}: {v:?}");
        }
        let unknown_boot = SendGroup { boot: None, ..g.clone() };
        let v = verdicts(&[10, 11], &[unknown_boot], None, Some(&lines));
        assert!(v.values().all(|v| *v == Verdict::Unknown), "{v:?}");
        let v = verdicts(&[10, 11], &[], Some("b1"), Some(&lines));
        assert!(v.values().all(|v| *v == Verdict::Unknown), "{v:?}");
    }

    #[test]
    fn lines_of_another_group_are_not_believed() {
        let g = group("b1");
        let old = SendGroup { token: "t0".into(), ..g.clone() };
        let lines =
            [Line::Group(old), Line::Start(10), Line::End(10, Ended::Sent), Line::Group(g.clone()), Line::Start(11)];
        let v = verdicts(&[10, 11, 12], std::slice::from_ref(&g), Some("b1"), Some(&lines));
        assert_eq!(v[&10], Verdict::NeverStarted, "the old group's lines are not this one's");
        assert_eq!(v[&11], Verdict::Unknown);
        assert_eq!(v[&12], Verdict::NeverStarted);
        // The group was claimed but its header never written: nothing of it started.
        let v = verdicts(&[10, 11], std::slice::from_ref(&g), Some("b1"), Some(&[]));
        assert!(v.values().all(|v| *v == Verdict::NeverStarted), "{v:?}");
    }

    #[test]
    fn two_groups_out_at_once_are_each_judged_by_their_own_lines() {
        let a = group("b1");
        let b = SendGroup { token: "t2".into(), first: 15, last: 16, ..a.clone() };
        let lines = [
            Line::Group(a.clone()),
            Line::Start(10),
            Line::End(10, Ended::Sent),
            Line::Start(11),
            Line::End(11, Ended::Sent),
            Line::Group(b.clone()),
            Line::Start(15),
        ];
        let v = verdicts(&[11, 12, 15, 16], &[a, b], Some("b1"), Some(&lines));
        assert_eq!(v[&11], Verdict::Ended(Ended::Sent));
        assert_eq!(v[&12], Verdict::NeverStarted, "the sender moved on: 12 was not tried");
        assert_eq!(v[&15], Verdict::Unknown);
        assert_eq!(v[&16], Verdict::NeverStarted);
    }
}
