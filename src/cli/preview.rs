//! `cadenced preview NAME [--lead EMAIL] [--start TIME] [--tz ZONE] [--calendar NAME] [--json]`:
//! the timeline one lead enrolled at TIME would get, from the same code that
//! schedules real sends, in virtual time, sending and writing nothing. With
//! `--lead`, that lead's own emails and task texts, rendered with its stored
//! fields, from where it is in the cadence.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::cadence::{Cadence, Fields, StepKind};
use crate::core::plan::{self, Planned};
use crate::model::{LeadTime, State, Status, reply_subject};
use crate::store::{EnrollmentView, LeadView};
use crate::time::{human, local_rfc3339, parse_day_or_instant, parse_zone, rfc3339};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cadence.
    name: String,
    /// Render this lead's emails and task texts with its stored fields, from where it is in the
    /// cadence (or, when it is not in it, as if enrolled at --start).
    #[arg(long, value_name = "EMAIL")]
    lead: Option<String>,
    /// Enrollment time: a day (2026-11-30, from its start in the lead's zone) or RFC 3339; default now.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// The lead's time zone; default the lead's own, else the config's.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// The lead's calendar, as its `calendar` field would set it.
    #[arg(long, value_name = "NAME")]
    calendar: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// One step of the preview, rendered when a lead is given.
struct Row {
    planned: Planned,
    /// The lead's variant of the step, if it has variants.
    variant: Option<String>,
    /// The lead is in the step's holdout: it skips the step.
    held_out: bool,
    subject: Option<String>,
    body: Option<String>,
    error: Option<String>,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let cadence = cadences.get(&args.name).ok_or_else(|| super::unknown_cadence(&cadences, &args.name))?;
    let mut winners = Vec::new();
    let lead = match &args.lead {
        Some(email) => {
            let store = super::open_store(&config)?;
            let found = store.lead(email.trim())?;
            winners = store
                .winners()?
                .into_iter()
                .filter(|w| w.0 == cadence.name)
                .map(|(_, step, variant, _)| (step, variant))
                .collect();
            Some(found.ok_or_else(|| {
                anyhow!("--lead: no lead {email} (enroll it first, or preview the cadence without --lead)")
            })?)
        }
        None => None,
    };
    let tz = match (&args.tz, &lead) {
        (Some(t), _) => parse_zone(t).map_err(|e| anyhow!("--tz: {e}"))?,
        (None, Some(l)) => config.lead_zone(l.timezone.as_deref()),
        (None, None) => config.timezone,
    };
    let start = match &args.start {
        Some(text) => parse_day_or_instant(text, tz).map_err(|e| anyhow!("--start: {e}"))?,
        None => super::now_or(None)?,
    };
    let mut fields = lead.as_ref().map(|l| l.fields.clone()).unwrap_or_default();
    if let Some(cal) = &args.calendar {
        if !config.calendars.contains_key(cal) {
            let known: Vec<_> = config.calendars.keys().cloned().collect();
            bail!("--calendar: unknown calendar {cal:?} (configured: {})", known.join(", "));
        }
        fields.insert("calendar".into(), cal.clone());
    }
    let lead_time = config.lead_time(cadence.calendar.as_deref(), Some(tz.name()), &fields);
    let Some(lead) = lead else {
        let steps = plan::timeline(cadence, start, lead_time).map_err(|e| anyhow!("{}: {e}", cadence.name))?;
        return print_timeline(cadence, tz, start, &steps, args.json);
    };
    let enrollment = lead.enrollments.iter().find(|e| e.cadence == cadence.name);
    let in_flight = enrollment.filter(|e| matches!(e.state, State::Active | State::Paused) && args.start.is_none());
    let (rows, from) = match in_flight {
        Some(e) => (from_enrollment(cadence, e, &lead, &fields, lead_time, start, &winners)?, "enrollment"),
        None => {
            let steps = plan::timeline(cadence, start, lead_time).map_err(|e| anyhow!("{}: {e}", cadence.name))?;
            (render(cadence, &lead.email, &fields, steps, None, &winners), "start")
        }
    };
    let state = enrollment.map(|e| e.state);
    if args.json {
        let steps: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"step": r.planned.step, "kind": r.planned.kind, "at": rfc3339(r.planned.at),
                       "local": local_rfc3339(r.planned.at, tz), "reason": r.planned.reason,
                       "variant": r.variant, "held_out": r.held_out,
                       "subject": r.subject, "body": r.body, "error": r.error})
            })
            .collect();
        super::print_json(&json!({
            "cadence": cadence.name, "email": lead.email, "timezone": tz.name(), "fields": fields,
            "state": state, "from": from, "start": (from == "start").then(|| rfc3339(start)), "steps": steps,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    match (from, state) {
        ("enrollment", Some(state)) => outln!(
            "{} for {} ({}), {state}, from where it is now: {} step(s) ahead",
            cadence.name,
            lead.email,
            tz.name(),
            rows.len()
        ),
        (_, Some(state)) if args.start.is_none() => outln!(
            "{} for {} ({}): its enrollment is {state}; as if enrolled {}",
            cadence.name,
            lead.email,
            tz.name(),
            human(start, tz)
        ),
        _ => outln!("{} for {} ({}) as if enrolled {}", cadence.name, lead.email, tz.name(), human(start, tz)),
    }
    for r in &rows {
        let why = r.planned.reason.map(|r| format!("  (moved: {r})")).unwrap_or_default();
        let variant = r.variant.as_deref().map(|v| format!("  [variant {v}]")).unwrap_or_default();
        outln!("\n  {:<14} {:<9} {}{variant}{why}", r.planned.step, r.planned.kind, human(r.planned.at, tz));
        if r.held_out {
            outln!("    held out of this step (its holdout): skipped, the cadence goes on");
            continue;
        }
        if let Some(e) = &r.error {
            outln!("    does not render: {e} (the lead would be paused here)");
            continue;
        }
        if let Some(s) = &r.subject {
            outln!("    Subject: {s}");
        }
        for line in r.body.as_deref().unwrap_or_default().lines() {
            outln!("    | {line}");
        }
    }
    if rows.is_empty() {
        outln!("  nothing ahead");
    }
    Ok(ExitCode::SUCCESS)
}

/// The steps still ahead of an active or paused enrollment, each at its due
/// time: the step it waits for at the time stored for it, then the rest as
/// ticks at those times would plan them. An open task is taken as done now;
/// a step removed from the cadence is skipped at its due time, as the tick does.
fn from_enrollment(
    cadence: &Cadence,
    e: &EnrollmentView,
    lead: &LeadView,
    fields: &Fields,
    lead_time: LeadTime<'_>,
    now: DateTime<Utc>,
    winners: &[(String, String)],
) -> Result<Vec<Row>> {
    let due = e.next_due_at.unwrap_or(now);
    let step = e.next_step.as_deref().unwrap_or_default();
    let mut planned = Vec::new();
    match cadence.step_index(step) {
        Some(i) if e.task_id.is_some() => {
            planned.extend(plan::timeline_after(cadence, Some(i), now, lead_time)?);
        }
        Some(i) => {
            planned.push(Planned {
                step: step.to_string(),
                kind: cadence.steps[i].kind.as_str(),
                at: due,
                reason: e.reason,
            });
            planned.extend(plan::timeline_after(cadence, Some(i), due, lead_time)?);
        }
        None => {
            let had = |id: &str| e.touchpoints.iter().any(|t| t.step == id);
            if let Some(t) = plan::after_removed(cadence, had) {
                planned.extend(plan::timeline_after(cadence, t.checked_sub(1), due.max(now), lead_time)?);
            }
        }
    }
    // The thread so far: the subject of the lead's last email in the cadence.
    let last = e
        .touchpoints
        .iter()
        .filter(|t| t.kind == "email" && matches!(t.status, Status::Sent | Status::Uncertain))
        .filter_map(|t| t.subject.clone())
        .next_back();
    Ok(render(cadence, &lead.email, fields, planned, last, winners))
}

/// Renders each planned step for the lead: an email's subject and body (a
/// reply in the thread takes `Re: ` the subject before it), a task's text.
fn render(
    cadence: &Cadence,
    email: &str,
    fields: &Fields,
    planned: Vec<Planned>,
    last: Option<String>,
    winners: &[(String, String)],
) -> Vec<Row> {
    let mut last_subject = last;
    planned
        .into_iter()
        .map(|p| {
            let Some(index) = cadence.step_index(&p.step) else {
                return Row {
                    planned: p,
                    variant: None,
                    held_out: false,
                    subject: None,
                    body: None,
                    error: Some("step not in the cadence".into()),
                };
            };
            let step = &cadence.steps[index];
            let winner = winners.iter().find(|(s, _)| *s == step.id).map(|(_, v)| v.as_str());
            let variant = crate::core::variants::variant_of(step, email, &cadence.name, winner).map(str::to_string);
            if crate::core::variants::is_held_out(step, email, &cadence.name) {
                return Row { planned: p, variant: None, held_out: true, subject: None, body: None, error: None };
            }
            match cadence.templates.render(&step.template_key(variant.as_deref()), email, fields) {
                Ok(mut r) => {
                    if step.kind == StepKind::Email {
                        if step.threaded {
                            r.subject = Some(match &last_subject {
                                Some(s) => reply_subject(s),
                                None => opener_subject(cadence, index, email, fields).unwrap_or_default(),
                            });
                        }
                        last_subject.clone_from(&r.subject);
                    }
                    Row { planned: p, variant, held_out: false, subject: r.subject, body: Some(r.body), error: None }
                }
                Err(e) => {
                    Row { planned: p, variant, held_out: false, subject: None, body: None, error: Some(e.to_string()) }
                }
            }
        })
        .collect()
}

/// The subject a threaded email takes when no email went before it: that of
/// the nearest earlier email step that has one, as the tick does it.
fn opener_subject(cadence: &Cadence, index: usize, email: &str, fields: &Fields) -> Option<String> {
    let opener = cadence.steps[..index].iter().rev().find(|s| s.kind == StepKind::Email && !s.threaded)?;
    let key = opener.template_key(crate::core::variants::variant_of(opener, email, &cadence.name, None));
    cadence.templates.render(&key, email, fields).ok()?.subject
}

/// The timeline without a lead: steps and times only.
fn print_timeline(
    cadence: &Cadence,
    tz: Tz,
    start: DateTime<Utc>,
    steps: &[Planned],
    as_json: bool,
) -> Result<ExitCode> {
    if as_json {
        let steps: Vec<_> = steps
            .iter()
            .map(|s| {
                json!({"step": s.step, "kind": s.kind, "at": rfc3339(s.at), "local": local_rfc3339(s.at, tz),
                       "reason": s.reason})
            })
            .collect();
        super::print_json(
            &json!({"cadence": cadence.name, "timezone": tz.name(), "start": rfc3339(start), "steps": steps}),
        )
        .context("printing the preview")?;
    } else {
        outln!("{} for a lead in {} enrolled {}", cadence.name, tz.name(), human(start, tz));
        for s in steps {
            let why = s.reason.map(|r| format!("  (moved: {r})")).unwrap_or_default();
            outln!("  {:<14} {:<9} {}{why}", s.step, s.kind, human(s.at, tz));
        }
    }
    Ok(ExitCode::SUCCESS)
}
