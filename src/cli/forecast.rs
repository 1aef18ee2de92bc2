//! `cadenced forecast [--days N] [--json]`: sends and tasks per mailbox per day.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use crate::core::forecast::{Forecaster, Sender};
use crate::model::Fields;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many days ahead.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Look from TIME instead of now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let super::Context { config, cadences, now, store } = super::Context::load(config_path, args.at.as_deref())?;
    let senders = config
        .mailboxes
        .values()
        .map(|m| Sender { name: m.name.clone(), timezone: m.timezone, daily_limit: m.daily_limit })
        .collect();
    let lead_time =
        |calendar: Option<&str>, zone: Option<&str>, fields: &Fields| config.lead_time(calendar, zone, fields);
    let mut forecaster = Forecaster::new(senders, &lead_time, &cadences, now, args.days.min(366));
    store.for_each_active(|row| {
        forecaster.add(&row.cadence, &row.step, row.due_at, row.timezone.as_deref(), &row.fields)
    })?;
    let result = forecaster.finish();
    if args.json {
        let mailboxes: Vec<_> = result
            .iter()
            .map(|m| {
                let days: Vec<_> = m
                    .days
                    .iter()
                    .map(|d| {
                        json!({"date": d.date.map(|x| x.to_string()), "sends": d.sends, "tasks": d.tasks,
                               "due": d.demand, "held": d.held, "limited": d.held > 0})
                    })
                    .collect();
                json!({"mailbox": m.mailbox, "daily_limit": m.daily_limit, "days": days})
            })
            .collect();
        super::print_json(&json!({"from": crate::time::rfc3339(now), "mailboxes": mailboxes}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let bars = std::io::stdout().is_terminal();
    for m in &result {
        let limit = m.daily_limit.map_or_else(|| "no daily limit".to_string(), |l| format!("daily limit {l}"));
        outln!("{} ({limit})", m.mailbox);
        let widest = m.days.iter().map(|d| d.sends).max().unwrap_or(0).max(1);
        for d in &m.days {
            let date = d.date.map(|x| x.format("%a %Y-%m-%d").to_string()).unwrap_or_default();
            let bar = if bars { "█".repeat((d.sends * 40 / widest) as usize) } else { String::new() };
            let held = if d.held > 0 { format!("  LIMIT: {} held back", d.held) } else { String::new() };
            outln!("  {date}  {:>5} sends {:>5} tasks  {bar}{held}", d.sends, d.tasks);
        }
    }
    Ok(ExitCode::SUCCESS)
}
