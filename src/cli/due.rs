//! `cadenced due [--within DURATION] [--json]`: what will fire, when.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use serde_json::json;

use crate::cadence::Cadences;
use crate::time::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How far ahead to look: 30m, 12h, 7d, 2w (default 24h).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    within: String,
    /// Look from TIME instead of now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[arg(long)]
    json: bool,
}

/// `30m`, `12h`, `7d`, `2w` as a length of time.
fn parse_within(text: &str) -> Result<chrono::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| anyhow!("--within {text:?}: expected e.g. 30m, 12h, 7d, 2w"))?;
    let d = match unit {
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        "w" => chrono::Duration::try_weeks(n),
        _ => None,
    };
    d.ok_or_else(|| anyhow!("--within {text:?}: unit must be m, h, d or w"))
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let within = parse_within(&args.within)?;
    let now = super::now_or(args.at.as_deref())?;
    let cadences = Cadences::load(&config);
    let store = super::open_store(&config)?;
    let rows = store.upcoming(now + within)?;
    let overdue = now - crate::tick::downtime_after(&config);
    let kind = |cadence: &Option<String>, step: &Option<String>| {
        let c = cadences.get(cadence.as_deref()?)?;
        Some(c.steps[c.step_index(step.as_deref()?)?].kind.as_str())
    };
    if args.json {
        let due: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "email": r.email, "cadence": r.cadence, "step": r.step, "kind": kind(&r.cadence, &r.step),
                    "due_at": r.next_due_at.map(rfc3339), "overdue": r.next_due_at.is_some_and(|t| t <= now),
                    "reason": r.reason, "overdue": r.next_due_at.is_some_and(|t| t < overdue),
                })
            })
            .collect();
        let emails = due.iter().filter(|d| d["kind"] == "email").count();
        super::print_json(&json!({ "due": due, "emails": emails, "tasks": due.len() - emails }))?;
    } else {
        let emails = rows.iter().filter(|r| kind(&r.cadence, &r.step) == Some("email")).count();
        super::write_stdout(|out| {
            writeln!(
                out,
                "due within {} of {}: {emails} email(s), {} task(s)",
                args.within,
                rfc3339(now),
                rows.len() - emails
            )?;
            super::leads::print_table(out, &rows, config.timezone)
        })?;
    }
    Ok(ExitCode::SUCCESS)
}
