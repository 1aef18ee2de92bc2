//! `cadenced enroll EMAIL --cadence NAME [--field KEY=VALUE]... [--tz ZONE] [--at TIME]`

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};

use crate::intake::{self, LeadInput};
use crate::store::EnrollOutcome;
use crate::time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lead's address.
    email: String,
    /// The cadence to enroll the lead in.
    #[arg(long, value_name = "NAME")]
    cadence: String,
    /// A field for the templates, e.g. --field first_name=Jane (repeatable).
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// The lead's time zone (IANA name); default: the config's.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let cadence = cadences
        .get(&args.cadence)
        .ok_or_else(|| anyhow!("unknown cadence {:?} (loaded: {})", args.cadence, cadences.names().join(", ")))?;
    let now = super::now_or(args.at.as_deref())?;
    let mut lead = LeadInput { email: args.email.clone(), timezone: args.tz.clone(), ..LeadInput::default() };
    for pair in &args.fields {
        let (key, value) = pair.split_once('=').ok_or_else(|| anyhow!("--field {pair:?}: expected KEY=VALUE"))?;
        let (key, value) = (key.trim(), value.trim());
        match key {
            "timezone" if lead.timezone.is_none() => lead.timezone = Some(value.to_string()),
            _ if !value.is_empty() => {
                lead.fields.insert(key.to_string(), value.to_string());
            }
            _ => {}
        }
    }
    let row =
        intake::prepare(&lead, cadence, &config, now).map_err(|e| anyhow!("cannot enroll {}: {e}", args.email))?;
    let mut store = super::open_store(&config)?;
    let outcome = store.enroll_many(std::slice::from_ref(&row), now).context("enrolling")?.into_iter().next();
    let tz = config.lead_zone(row.timezone.as_deref());
    match outcome {
        Some(EnrollOutcome::Suppressed(reason)) => {
            anyhow::bail!("{} is on the suppression list ({reason}): not enrolled", row.email);
        }
        Some(EnrollOutcome::AlreadyEnrolled(state)) => {
            outln!("{} is already in {} ({}): nothing changed", row.email, row.cadence, state.as_str());
        }
        _ => outln!(
            "enrolled {} in {}: first step {} due {}",
            row.email,
            row.cadence,
            row.first_step,
            time::human(row.due_at, tz)
        ),
    }
    Ok(ExitCode::SUCCESS)
}
