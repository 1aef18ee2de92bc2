//! PURE: surviving the loss of the machine. A restored database (from a
//! Litestream replica or a `cadenced backup` file) lags what really left: the
//! sends of its last second, or of the hours since the backup, are not in it.
//! Two rules here:
//!
//! * [`judge`]: whether the database is such a copy, from the send mark kept
//!   beside it (outside the database: see `store::sendmark`) and what the
//!   database itself records.
//! * [`match_found`]: which emails found in a mailbox's Sent folder (or
//!   outbox) are cadenced's, and for which lead, cadence and step. Every
//!   email to a lead carries `X-Cadenced-Step`, a keyed hash of its cadence
//!   and step ([`step_tag`]): it names them without showing their names to
//!   the lead, and maps back only through the cadences loaded now.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use ring::hmac;

/// The header every email to a lead carries: [`step_tag`] of its cadence and step.
pub const STEP_HEADER: &str = "X-Cadenced-Step";

/// Hex digits of the tag kept (64 bits: no two steps of a team's cadences meet).
const TAG_HEX: usize = 16;

/// The tag of `step` of `cadence` under the database's secret.
pub fn step_tag(secret: &[u8], cadence: &str, step: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mac = hmac::sign(&key, format!("step:{cadence}\0{step}").as_bytes());
    mac.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()[..TAG_HEX].to_string()
}

/// What the send mark beside the database says: the database's instance
/// (part of every Message-ID) and the last email touchpoint claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub instance: String,
    pub last_claim: i64,
}

/// What the database says about its own sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub instance: String,
    /// The last email touchpoint it claimed (0: none ever).
    pub last_claim: i64,
}

/// The send mark as found beside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// There, but not a mark (torn, edited): it cannot vouch for the database.
    Unreadable,
    Mark(Mark),
}

/// What [`judge`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The mark and the database agree: nothing was lost.
    Current,
    /// A database that never claimed an email, without a mark: a new one.
    New,
    /// A restored (or moved) copy: why, in a line for the journal.
    Restored(String),
}

/// Whether the database lags what left, from its send `mark` and what it `recorded`.
pub fn judge(mark: &Found, recorded: &Recorded) -> Judgement {
    match mark {
        Found::Missing if recorded.last_claim == 0 => Judgement::New,
        Found::Missing => Judgement::Restored(
            "the database has sends but no send mark beside it: a copy restored or moved here".into(),
        ),
        Found::Unreadable => {
            Judgement::Restored("the send mark beside the database is unreadable: it cannot vouch for it".into())
        }
        Found::Mark(m) if m.instance != recorded.instance => Judgement::Restored(format!(
            "the database is not the one that sent last (instance {} here, {} in the send mark)",
            recorded.instance, m.instance
        )),
        Found::Mark(m) if m.last_claim > recorded.last_claim => Judgement::Restored(format!(
            "the database lags its sends (last claim {} recorded, {} in the send mark)",
            recorded.last_claim, m.last_claim
        )),
        Found::Mark(_) => Judgement::Current,
    }
}

/// One email found in a Sent folder or an outbox, as its headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub message_id: String,
    /// The first recipient's address.
    pub to: String,
    /// Its `X-Cadenced-Step`, if it has one.
    pub tag: Option<String>,
    pub subject: Option<String>,
    pub date: Option<DateTime<Utc>>,
}

/// A found email that is cadenced's, mapped back to its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub email: SentEmail,
    pub cadence: String,
    pub step: String,
}

/// What [`match_found`] makes of a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    /// cadenced's emails the database does not know, oldest first.
    pub new: Vec<Match>,
    /// cadenced's emails whose Message-ID the database has (a claim it may
    /// not know the end of: this says it left).
    pub known: Vec<String>,
    /// Tagged emails of a step no loaded cadence has (an edited or removed cadence).
    pub unknown_step: usize,
    /// Everything else in the folder (the rep's own mail).
    pub other: usize,
}

impl Matches {
    /// cadenced's emails found.
    pub fn ours(&self) -> usize {
        self.new.len() + self.known.len() + self.unknown_step
    }
}

/// Sorts `found` into cadenced's emails the database lacks (by their tag,
/// through `steps`: tag -> (cadence, step) of the cadences loaded now), those
/// it has (`known` Message-IDs), and the rest. One email found twice (a copy
/// in two folders) counts once.
pub fn match_found(
    found: Vec<SentEmail>,
    steps: &BTreeMap<String, (String, String)>,
    known: &mut dyn FnMut(&str) -> bool,
) -> Matches {
    let mut out = Matches::default();
    let mut seen = BTreeSet::new();
    for email in found {
        let Some(tag) = email.tag.as_deref().map(str::trim) else {
            out.other += 1;
            continue;
        };
        if !seen.insert(email.message_id.clone()) {
            continue;
        }
        if known(&email.message_id) {
            out.known.push(email.message_id);
            continue;
        }
        match steps.get(tag) {
            Some((cadence, step)) => {
                let (cadence, step) = (cadence.clone(), step.clone());
                out.new.push(Match { email, cadence, step });
            }
            None => out.unknown_step += 1,
        }
    }
    out.new.sort_by(|a, b| a.email.date.cmp(&b.email.date).then_with(|| a.email.message_id.cmp(&b.email.message_id)));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn recorded(last: i64) -> Recorded {
        Recorded { instance: "i1".into(), last_claim: last }
    }

    fn mark(instance: &str, last: i64) -> Found {
        Found::Mark(Mark { instance: instance.into(), last_claim: last })
    }

    #[test]
    fn a_database_behind_its_mark_or_without_one_is_restored() {
        assert_eq!(judge(&Found::Missing, &recorded(0)), Judgement::New);
        assert!(matches!(judge(&Found::Missing, &recorded(5)), Judgement::Restored(w) if w.contains("no send mark")));
        assert!(matches!(judge(&Found::Unreadable, &recorded(0)), Judgement::Restored(_)));
        assert_eq!(judge(&mark("i1", 5), &recorded(5)), Judgement::Current);
        assert_eq!(judge(&mark("i1", 4), &recorded(5)), Judgement::Current, "the mark is written after the claim");
        assert!(matches!(judge(&mark("i1", 9), &recorded(5)), Judgement::Restored(w) if w.contains("lags")));
        assert!(matches!(judge(&mark("i0", 5), &recorded(5)), Judgement::Restored(w) if w.contains("not the one")));
    }

    #[test]
    fn a_step_tag_is_stable_keyed_and_tells_steps_apart() {
        let a = step_tag(b"secret", "seven", "intro");
        assert_eq!(a, step_tag(b"secret", "seven", "intro"));
        assert_eq!(a.len(), TAG_HEX);
        assert_ne!(a, step_tag(b"other", "seven", "intro"), "keyed by the database's secret");
        assert_ne!(a, step_tag(b"secret", "seven", "bump"));
        assert_ne!(step_tag(b"secret", "a", "bc"), step_tag(b"secret", "ab", "c"), "names are separated");
        assert!(!a.contains("seven") && !a.contains("intro"));
    }

    fn sent(id: &str, tag: Option<&str>, minute: u32) -> SentEmail {
        SentEmail {
            message_id: id.into(),
            to: "jane@acme.test".into(),
            tag: tag.map(str::to_string),
            subject: None,
            date: Some(crate::time::parse_instant(&format!("2026-03-02T09:{minute:02}:00Z")).unwrap()),
        }
    }

    #[test]
    fn found_emails_are_sorted_into_new_known_and_others() {
        let steps: BTreeMap<String, (String, String)> = [
            ("t-intro".to_string(), ("two".to_string(), "intro".to_string())),
            ("t-bump".to_string(), ("two".to_string(), "bump".to_string())),
        ]
        .into();
        let found = vec![
            sent("<b@x>", Some("t-bump"), 30),
            sent("<a@x>", Some(" t-intro "), 10),
            sent("<a@x>", Some("t-intro"), 10),
            sent("<k@x>", Some("t-intro"), 5),
            sent("<o@x>", None, 1),
            sent("<gone@x>", Some("t-removed"), 2),
        ];
        let m = match_found(found, &steps, &mut |id| id == "<k@x>");
        let new: Vec<(&str, &str)> = m.new.iter().map(|m| (m.email.message_id.as_str(), m.step.as_str())).collect();
        assert_eq!(new, [("<a@x>", "intro"), ("<b@x>", "bump")], "oldest first, a copy counted once");
        assert_eq!(m.known, ["<k@x>"]);
        assert_eq!((m.unknown_step, m.other, m.ours()), (1, 1, 4));
    }
}
