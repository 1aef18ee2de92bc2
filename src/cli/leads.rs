//! `cadenced leads [--cadence NAME] [--state STATE] [--json]`

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use chrono_tz::Tz;
use serde_json::json;

use crate::store::{EnrollmentRow, State};
use crate::time::{human, rfc3339};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only leads in this cadence.
    #[arg(long, value_name = "NAME")]
    cadence: Option<String>,
    /// Only enrollments in this state (active, paused, finished, stopped, replied, bounced, unsubscribed).
    #[arg(long, value_name = "STATE")]
    state: Option<String>,
    /// Only leads this owner does the manual steps of.
    #[arg(long, value_name = "EMAIL")]
    owner: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let state = args
        .state
        .as_deref()
        .map(|s| State::parse(s).ok_or_else(|| anyhow!("--state: unknown state {s:?}")))
        .transpose()?;
    let store = super::open_store(&config)?;
    let rows = store.leads(args.cadence.as_deref(), state, args.owner.as_deref())?;
    if args.json {
        let leads: Vec<_> = rows.iter().map(row_json).collect();
        super::print_json(&json!({ "leads": leads }))?;
    } else {
        print_table(&rows, config.timezone);
    }
    Ok(ExitCode::SUCCESS)
}

fn row_json(r: &EnrollmentRow) -> serde_json::Value {
    json!({
        "email": r.email, "cadence": r.cadence, "state": r.state, "next_step": r.step,
        "next_due_at": r.next_due_at.filter(|_| r.state.as_deref() == Some("active")).map(rfc3339),
        "reason": r.reason,
    })
}

/// A table with the due time in the lead's zone and in UTC.
pub fn print_table(rows: &[EnrollmentRow], default_tz: Tz) {
    outln!("{:<32} {:<16} {:<10} {:<12} NEXT DUE", "EMAIL", "CADENCE", "STATE", "NEXT STEP");
    for r in rows {
        let tz: Tz = r.timezone.as_deref().and_then(|t| t.parse().ok()).unwrap_or(default_tz);
        let active = r.state.as_deref() == Some("active");
        let due = r.next_due_at.filter(|_| active).map(|t| human(t, tz)).unwrap_or_else(|| "-".into());
        let why = r.reason.as_deref().filter(|_| active).map(|w| format!("  ({w})")).unwrap_or_default();
        outln!(
            "{:<32} {:<16} {:<10} {:<12} {due}{why}",
            r.email,
            r.cadence.as_deref().unwrap_or("-"),
            r.state.as_deref().unwrap_or("-"),
            r.step.as_deref().filter(|_| active || r.state.as_deref() == Some("paused")).unwrap_or("-"),
        );
    }
    outln!("({} rows)", rows.len());
}
