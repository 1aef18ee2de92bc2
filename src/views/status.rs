//! How a lead reads, for `cadenced status` and the API's
//! `GET /api/v1/leads/EMAIL`: its timeline as text and as the JSON of the
//! contract.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::model::{Reason, State, Status};
use crate::store::LeadView;
use crate::time::{human, rfc3339};

/// Marks each running enrollment whose cadence file is not loaded (any more)
/// as orphaned.
pub fn mark_orphaned(lead: &mut LeadView, loaded: &crate::cadence::Cadences) {
    for e in &mut lead.enrollments {
        e.orphaned = loaded.get(&e.cadence).is_none() && is_running(e);
    }
}

/// Active or paused: the enrollment still has steps ahead.
pub fn is_running(e: &crate::store::EnrollmentView) -> bool {
    matches!(e.state, State::Active | State::Paused)
}

fn is_overdue(e: &crate::store::EnrollmentView, before: DateTime<Utc>) -> bool {
    e.state == State::Active && e.next_due_at.is_some_and(|t| t < before)
}

pub fn to_json(lead: &LeadView, tz: Tz, overdue_before: DateTime<Utc>) -> Value {
    let enrollments: Vec<Value> = lead
        .enrollments
        .iter()
        .map(|e| {
            let mut touchpoints: Vec<(chrono::DateTime<Utc>, Value)> = e
                .touchpoints
                .iter()
                .map(|t| {
                    let v = json!({
                        "step": t.step, "kind": t.kind, "status": t.status, "at": rfc3339(t.at),
                        "message_id": t.message_id, "subject": t.subject, "detail": t.detail, "reason": t.reason,
                        "task_id": (t.kind != "email").then_some(t.id), "closed_at": t.closed_at.map(rfc3339),
                        "note": t.note, "variant": t.variant,
                    });
                    (t.at, v)
                })
                .collect();
            // Outcomes credited to this cadence stand in its timeline as touchpoints too.
            for o in lead.outcomes.iter().filter(|o| o.cadence.as_deref() == Some(e.cadence.as_str())) {
                touchpoints.push((o.at, outcome_json(o)));
            }
            // Inbound messages stand in each enrollment's timeline as received touchpoints.
            for i in &lead.inbound {
                let v = json!({"step": "inbound", "kind": i.kind, "status": "received", "at": rfc3339(i.at),
                               "subject": i.subject, "detail": i.detail, "message_id": null});
                touchpoints.push((i.at, v));
            }
            touchpoints.sort_by_key(|(at, _)| *at);
            let touchpoints: Vec<Value> = touchpoints.into_iter().map(|(_, v)| v).collect();
            json!({
                "cadence": e.cadence,
                "state": e.state,
                "next_step": e.next_step.as_ref().filter(|_| is_running(e)),
                "next_due_at": e.next_due_at.filter(|_| is_running(e)).map(rfc3339),
                "reason": e.reason,
                "overdue": is_overdue(e, overdue_before),
                "owner": e.owner,
                "orphaned": e.orphaned,
                "waiting_for_task": e.task_id,
                "enrolled_at": rfc3339(e.enrolled_at),
                "attempts": e.attempts,
                "last_error": e.last_error,
                "mailbox_paused": e.mailbox_paused,
                "ended_by": e.ended_by,
                "touchpoints": touchpoints,
            })
        })
        .collect();
    json!({
        "email": lead.email,
        "fields": lead.fields,
        "timezone": tz.name(),
        "enrollments": enrollments,
        "suppressed": lead.suppressed,
        "outcomes": lead.outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
        "inbound": lead.inbound.iter().map(|i| json!({"kind": i.kind, "at": rfc3339(i.at), "subject": i.subject,
                                                       "detail": i.detail})).collect::<Vec<_>>(),
    })
}

/// An outcome as a touchpoint of kind `outcome` (status `done`), with what it is credited to.
fn outcome_json(o: &crate::store::LeadOutcome) -> Value {
    json!({"step": o.step, "kind": "outcome", "status": "done", "outcome": o.outcome, "value": o.value,
           "at": rfc3339(o.at), "note": o.note, "cadence": o.cadence, "variant": o.variant, "source": o.source,
           "message_id": null})
}

pub fn to_text(lead: &LeadView, tz: Tz, overdue_before: DateTime<Utc>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{}  ({})", lead.email, tz.name());
    for (k, v) in &lead.fields {
        let _ = writeln!(out, "  {k}: {}", indented(v, 4 + k.chars().count()));
    }
    if let Some(reason) = &lead.suppressed {
        let _ = writeln!(out, "  SUPPRESSED ({reason}): never enrolled or sent to again");
    }
    for i in &lead.inbound {
        let subject = i.subject.as_deref().map(|s| format!(" \"{}\"", one_line(s))).unwrap_or_default();
        let detail = i.detail.as_deref().map(|d| indented(d, 6)).unwrap_or_default();
        let _ = writeln!(out, "  {}  received {}{subject}: {detail}", human(i.at, tz), i.kind);
    }
    for o in &lead.outcomes {
        let value = o.value.map(|v| format!(" {v}")).unwrap_or_default();
        let credit = match (&o.cadence, &o.step, &o.variant) {
            (Some(c), Some(s), Some(v)) => format!(" (credited to {c}/{s}, variant {v})"),
            (Some(c), Some(s), None) => format!(" (credited to {c}/{s})"),
            _ => " (no touch to credit)".to_string(),
        };
        let note = o.note.as_deref().map(|n| format!(": {}", indented(n, 6))).unwrap_or_default();
        let _ = writeln!(out, "  {}  outcome {}{value}{credit}{note}", human(o.at, tz), o.outcome);
    }
    if lead.enrollments.is_empty() {
        let _ = writeln!(out, "\n  not enrolled in any cadence");
    }
    for e in &lead.enrollments {
        let orphan = if e.orphaned { "  [orphaned: the cadence file is gone; resumes when it returns]" } else { "" };
        let _ = writeln!(out, "\n{}: {}{orphan}", e.cadence, e.state);
        let _ = writeln!(out, "  enrolled     {}", human(e.enrolled_at, tz));
        if let Some(owner) = &e.owner {
            let _ = writeln!(out, "  owner        {owner}");
        }
        for t in &e.touchpoints {
            let extra = t.subject.as_deref().map(|s| format!("  \"{}\"", one_line(s))).unwrap_or_default();
            let why = match t.reason {
                Some(Reason::Holdout) => "  (held out)".to_string(),
                Some(r) => format!("  (later than planned: {r})"),
                None => String::new(),
            };
            let variant = t.variant.as_deref().map(|v| format!("  [variant {v}]")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}  {:<12} {:<8} {:<9}{extra}{variant}{why}",
                human(t.at, tz),
                t.step,
                t.kind,
                t.status
            );
            if let Some(id) = &t.message_id {
                let _ = writeln!(out, "      Message-ID {id}");
            }
            if let Some(d) = &t.detail {
                let _ = writeln!(out, "      {}", indented(d, 6));
            }
            if t.kind != "email" {
                match (t.status, t.closed_at) {
                    (Status::Open, _) => {
                        let _ = writeln!(out, "      task {0}: cadenced task done {0}  (or: task skip {0})", t.id);
                    }
                    (_, Some(closed)) => {
                        let note = t.note.as_deref().map(|n| format!(": {}", indented(n, 8))).unwrap_or_default();
                        let _ = writeln!(out, "      task {} closed {}{note}", t.id, human(closed, tz));
                    }
                    _ => {}
                }
            }
        }
        if let (Some(task), "active" | "paused") = (e.task_id, e.state.as_str()) {
            let expiry =
                e.next_due_at.map(|t| format!(" (skipped if still open {})", human(t, tz))).unwrap_or_default();
            let _ = writeln!(out, "  waiting      for task {task}{expiry}");
        } else if let (Some(step), Some(due), "active" | "paused") = (&e.next_step, e.next_due_at, e.state.as_str()) {
            let why = e.reason.map(|r| format!("  (later than planned: {r})")).unwrap_or_default();
            let held = if e.state == State::Paused {
                "  [paused]"
            } else if is_overdue(e, overdue_before) {
                "  [overdue: no tick has run since]"
            } else {
                ""
            };
            let _ = writeln!(out, "  next         {step} due {}{why}{held}", human(due, tz));
        }
        if let Some(err) = &e.last_error {
            let _ = writeln!(out, "  last error   {} (attempt {})", indented(err, 15), e.attempts);
        }
        if let Some(who) = &e.ended_by {
            let _ = writeln!(out, "  ended by     {who}");
        }
        if let Some(paused) = &e.mailbox_paused {
            let _ = writeln!(out, "  HELD         {paused}");
        }
    }
    out
}

/// A value that may span lines (a CSV cell, an SMTP reply), its later lines
/// indented by `indent` spaces so that they stay under it, not at the left
/// margin where they would read as the next entry. Other control characters
/// are shown escaped.
fn indented(value: &str, indent: usize) -> String {
    let value = value.trim_end_matches(['\r', '\n']);
    let mut out = String::with_capacity(value.len());
    for (i, line) in value.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
        }
        out.push_str(&escaped(line.strip_suffix('\r').unwrap_or(line)));
    }
    out
}

/// A value shown on one line (a subject): line breaks as `\n`.
fn one_line(value: &str) -> String {
    escaped(value)
}

/// `value` with control characters (but tabs) escaped as Rust writes them.
fn escaped(value: &str) -> String {
    if !value.chars().any(|c| c.is_control() && c != '\t') {
        return value.to_string();
    }
    value
        .chars()
        .map(|c| if c.is_control() && c != '\t' { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_values_stay_indented_and_control_characters_show() {
        assert_eq!(indented("one line", 4), "one line");
        assert_eq!(indented("first\r\nsecond\nthird\n", 4), "first\n    second\n    third");
        assert_eq!(indented("bell\u{7}", 2), "bell\\u{7}");
        assert_eq!(one_line("Re: hi\nBcc: x"), "Re: hi\\nBcc: x");
        assert_eq!(one_line("tab\tok"), "tab\tok");
    }
}
