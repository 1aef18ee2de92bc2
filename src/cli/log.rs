//! `cadenced log [--since DATE] [--mailbox NAME] [--cadence NAME] [--json]`:
//! what went out, failed, came in and was done, newest first. Without
//! `--since`: today (from midnight in the config's zone).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono_tz::Tz;
use serde_json::json;

use crate::store::{Event, LogFilter};
use crate::time::{Human, parse_day_or_instant, rfc3339, start_of_day};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// From DATE on: a day (2026-11-30, from its start in the config's zone) or RFC 3339 (default: today).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only this mailbox: its emails, inbox and digests, and the manual steps of its cadences.
    #[arg(long, value_name = "NAME")]
    mailbox: Option<String>,
    /// Only this cadence: its steps, and mail received from its leads.
    #[arg(long, value_name = "NAME")]
    cadence: Option<String>,
    /// Take "today" to be the day of TIME (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = crate::cadence::Cadences::load(&config);
    let tz = config.timezone;
    let since = match &args.since {
        Some(text) => parse_day_or_instant(text, tz).map_err(|e| anyhow::anyhow!("--since: {e}"))?,
        None => start_of_day(super::now_or(args.at.as_deref())?.with_timezone(&tz).date_naive(), tz),
    };
    if let Some(m) = &args.mailbox
        && !config.mailboxes.contains_key(m)
    {
        return Err(super::unknown_mailbox(&config, m).context("--mailbox"));
    }
    let store = super::open_store(&config)?;
    if let Some(c) = &args.cadence
        && cadences.get(c).is_none()
        && !store.has_cadence(c)?
    {
        return Err(super::unknown_cadence(&cadences, c).context("--cadence"));
    }
    let mailbox_cadences = match &args.mailbox {
        Some(m) => cadences.by_name.values().filter(|c| &c.mailbox == m).map(|c| c.name.clone()).collect(),
        None => Vec::new(),
    };
    let filter = LogFilter {
        since: Some(since),
        mailbox: args.mailbox.as_deref(),
        mailbox_cadences,
        cadence: args.cadence.as_deref(),
    };
    let zone = |e: &Event| -> Tz {
        if e.kind == "digest" {
            return e.email.as_deref().map_or(tz, |o| config.owner(o).timezone);
        }
        config.lead_zone(e.timezone.as_deref())
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    if args.json {
        let mut events = Vec::new();
        store.for_each_event(&filter, |e| -> Result<()> {
            *counts.entry(label(e)).or_default() += 1;
            events.push(json!({
                "at": rfc3339(e.at), "what": e.what, "email": e.email, "timezone": zone(e).name(),
                "cadence": e.cadence, "step": e.step, "kind": e.kind, "mailbox": e.mailbox, "subject": e.subject,
                "detail": e.detail, "reason": e.reason, "message_id": e.message_id, "note": e.note,
                "variant": e.variant,
            }));
            Ok(())
        })?;
        super::print_json(&json!({"since": rfc3339(since), "events": events, "counts": counts}))?;
        return Ok(ExitCode::SUCCESS);
    }
    super::write_stdout(|out| {
        writeln!(out, "since {}, newest first", Human(since, tz))?;
        store.for_each_event(&filter, |e| -> Result<()> {
            *counts.entry(label(e)).or_default() += 1;
            write_event(out, e, zone(e))
        })?;
        let total: Vec<String> = counts.iter().map(|(what, n)| format!("{n} {what}")).collect();
        if total.is_empty() {
            writeln!(out, "nothing happened")?;
        } else {
            writeln!(out, "{}", total.join(", "))?;
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What an event is, in a word or two: `sent`, `task done`, `received reply`, `digest sent`.
fn label(e: &Event) -> String {
    match (e.what.as_str(), e.kind.as_str()) {
        ("received", kind) => format!("received {kind}"),
        ("outcome", kind) => format!("outcome {kind}"),
        (what, "digest") => format!("digest {what}"),
        ("opened", _) => "task opened".to_string(),
        ("done", _) => "task done".to_string(),
        ("skipped", kind) if e.reason.as_deref() == Some("expired") && kind != "email" => "task expired".to_string(),
        (what, _) => what.to_string(),
    }
}

fn write_event(out: &mut dyn std::io::Write, e: &Event, tz: Tz) -> Result<()> {
    let who = e.email.as_deref().unwrap_or("-");
    let place = match (&e.cadence, &e.step) {
        (Some(c), Some(s)) => format!("  {c}/{s}"),
        _ => String::new(),
    };
    let kind =
        if ["digest", "removed", "reconcile"].contains(&e.kind.as_str()) || e.what == "received" || e.what == "outcome"
        {
            ""
        } else {
            e.kind.as_str()
        };
    write!(out, "{}  {:<16} {who}{place}", Human(e.at, tz), label(e))?;
    if !kind.is_empty() && kind != "email" {
        write!(out, " ({kind})")?;
    }
    if let Some(subject) = &e.subject {
        write!(out, "  \"{}\"", crate::location::one_line(subject))?;
    }
    if let Some(m) = &e.mailbox
        && (e.kind == "digest" || e.kind == "reconcile")
    {
        write!(out, "  via {m}")?;
    }
    writeln!(out)?;
    let mut extra = Vec::new();
    if let Some(variant) = &e.variant {
        extra.push(format!("variant {variant}"));
    }
    if let Some(reason) = &e.reason {
        extra.push(format!("reason: {reason}"));
    }
    if let Some(detail) = &e.detail {
        extra.push(crate::location::one_line(detail));
    }
    match (e.what.as_str(), e.kind.as_str(), &e.note) {
        ("received", _, Some(sender)) if Some(sender) != e.email.as_ref() => extra.push(format!("from {sender}")),
        (_, "digest", Some(tasks)) => extra.push(format!("{tasks} task(s)")),
        ("outcome", _, Some(value)) => extra.push(format!("value {value}")),
        ("done" | "skipped", _, Some(note)) => extra.push(format!("note: {}", crate::location::one_line(note))),
        _ => {}
    }
    if let Some(id) = &e.message_id {
        extra.push(id.clone());
    }
    if !extra.is_empty() {
        writeln!(out, "      {}", extra.join("; "))?;
    }
    Ok(())
}
