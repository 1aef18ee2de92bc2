//! PURE: owners' reminder digests: when each is due, and what it says. The
//! tick sends them; nothing here touches the clock or the database.

use std::fmt::Write;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::model::{Digest, Owner, Task};
use crate::schedule::Calendar;
use crate::time::human;
use crate::time::resolve_local;

/// The first digest slot of `owner` at or after `t`.
pub fn next_slot(owner: &Owner, cal: &Calendar, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match &owner.digest {
        Digest::Off => None,
        Digest::Schedule(schedule) => schedule.next_slot(t, owner.timezone, cal),
        Digest::StartOfWindow => {
            // The first window slot of each working day.
            let mut day = t.with_timezone(&owner.timezone).date_naive();
            for _ in 0..400 {
                let midnight = resolve_local(day.and_time(NaiveTime::MIN), owner.timezone);
                if let Some(first) = owner.window.next_slot(midnight, owner.timezone, cal)
                    && first.with_timezone(&owner.timezone).date_naive() == day
                    && first >= t
                {
                    return Some(first);
                }
                day = day.succ_opt()?;
            }
            None
        }
    }
}

/// The latest digest slot after `after` and at or before `now`, if it is on
/// the owner's current day: after downtime, one digest for the day's missed
/// slot, none for days gone by (the next slot lists those tasks anyway).
pub fn due_slot(owner: &Owner, cal: &Calendar, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut best = None;
    let mut t = after + Duration::seconds(1);
    for _ in 0..1000 {
        match next_slot(owner, cal, t) {
            Some(slot) if slot <= now => {
                best = Some(slot);
                t = slot + Duration::seconds(1);
            }
            _ => break,
        }
    }
    let day = |t: DateTime<Utc>| t.with_timezone(&owner.timezone).date_naive();
    best.filter(|slot| day(*slot) == day(now))
}

/// A lead's name for people: `name`, else first and last name, else the address.
fn lead_name(task: &Task) -> String {
    let f = &task.fields;
    if let Some(n) = f.get("name") {
        return n.clone();
    }
    let parts: Vec<&str> = ["first_name", "last_name"].iter().filter_map(|k| f.get(*k).map(String::as_str)).collect();
    if parts.is_empty() { task.email.clone() } else { parts.join(" ") }
}

/// Subject and body of the digest of `tasks` for `owner` at `slot`; `notes`
/// (a mailbox of theirs that paused itself, ...) come first.
pub fn render(
    owner: &Owner,
    tasks: &[Task],
    notes: &[String],
    slot: DateTime<Utc>,
    config_path: &str,
) -> (String, String) {
    let tz: Tz = owner.timezone;
    let today = slot.with_timezone(&tz).date_naive();
    let day_start = resolve_local(today.and_time(NaiveTime::MIN), tz);
    let overdue = tasks.iter().filter(|t| t.due_at < day_start).count();
    let date = slot.with_timezone(&tz).format("%a %Y-%m-%d");
    let subject = match overdue {
        0 => format!("cadenced: {} task(s) for {date}", tasks.len()),
        n => format!("cadenced: {} task(s) for {date} ({n} overdue)", tasks.len()),
    };
    let mut body = String::new();
    for note in notes {
        let _ = writeln!(body, "ATTENTION: {note}\n");
    }
    let _ = writeln!(body, "Your open cadence tasks for {date}.");
    for (kind, title) in [("call", "CALLS"), ("linkedin", "LINKEDIN"), ("task", "TASKS")] {
        let group: Vec<&Task> = tasks.iter().filter(|t| t.kind == kind).collect();
        if group.is_empty() {
            continue;
        }
        let _ = write!(body, "\n{title}\n");
        for t in group {
            let mut who = lead_name(t);
            if let Some(c) = t.fields.get("company") {
                let _ = write!(who, ", {c}");
            }
            for key in ["phone", "linkedin", "linkedin_url", "profile"] {
                if let Some(v) = t.fields.get(key) {
                    let _ = write!(who, " - {v}");
                }
            }
            let late = if t.due_at < day_start { " (overdue)" } else { "" };
            let _ = writeln!(body, "\n* {who}");
            let _ = writeln!(body, "  {} - {}/{} - due {}{late}", t.email, t.cadence, t.step, human(t.due_at, tz));
            if let Some(script) = t.body.as_deref().filter(|b| !b.trim().is_empty()) {
                for line in script.lines() {
                    let _ = writeln!(body, "  | {line}");
                }
            }
            let _ = writeln!(body, "  Done: cadenced --config {config_path} task done {}", t.id);
            let _ = writeln!(body, "  Skip: cadenced --config {config_path} task skip {} --note \"why\"", t.id);
        }
    }
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_instant;

    fn owner(digest: Digest) -> Owner {
        Owner {
            address: "rep@seller.test".into(),
            timezone: chrono_tz::America::New_York,
            window: "0 * 9-16 * * Mon-Fri".parse().unwrap(),
            digest,
            mailbox: None,
        }
    }

    #[test]
    fn default_digest_is_at_the_start_of_each_working_day() {
        let o = owner(Digest::StartOfWindow);
        let cal = Calendar::default();
        // Friday 10:00 EST -> Monday 09:00 EST.
        let s = next_slot(&o, &cal, parse_instant("2026-03-06T15:00:00Z").unwrap()).unwrap();
        assert_eq!(s, parse_instant("2026-03-09T13:00:00Z").unwrap(), "Monday 09:00 EDT");
        let s = next_slot(&o, &cal, parse_instant("2026-03-09T13:00:00Z").unwrap()).unwrap();
        assert_eq!(s, parse_instant("2026-03-09T13:00:00Z").unwrap(), "at the slot itself");
    }

    #[test]
    fn after_downtime_only_the_latest_missed_slot_is_due() {
        let o = owner(Digest::StartOfWindow);
        let cal = Calendar::default();
        let after = parse_instant("2026-03-02T15:00:00Z").unwrap();
        let now = parse_instant("2026-03-05T20:00:00Z").unwrap();
        assert_eq!(due_slot(&o, &cal, after, now), Some(parse_instant("2026-03-05T14:00:00Z").unwrap()));
        assert_eq!(due_slot(&o, &cal, now, now), None);
        // Saturday: Friday's missed slot is stale, no digest.
        let saturday = parse_instant("2026-03-07T15:00:00Z").unwrap();
        assert_eq!(due_slot(&o, &cal, now, saturday), None);
    }

    #[test]
    fn digest_off_has_no_slots() {
        assert_eq!(next_slot(&owner(Digest::Off), &Calendar::default(), Utc::now()), None);
    }

    #[test]
    fn digest_schedule_overrides_the_window() {
        let o = owner(Digest::Schedule(Box::new("0 30 7 * * Mon,Wed".parse().unwrap())));
        let s = next_slot(&o, &Calendar::default(), parse_instant("2026-03-03T12:00:00Z").unwrap()).unwrap();
        assert_eq!(s, parse_instant("2026-03-04T12:30:00Z").unwrap(), "Wednesday 07:30 EST");
    }
}
