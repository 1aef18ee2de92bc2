//! `cadenced pause|resume|stop EMAIL [--cadence NAME] [--at TIME]`

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::store::Change;

#[derive(Debug, clap::Args)]
pub struct Args {
    email: String,
    /// Only this cadence's enrollment (default: all of the lead's).
    #[arg(long, value_name = "NAME")]
    cadence: Option<String>,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

pub fn run(config_path: &Path, args: Args, action: Change) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let now = super::now_or(args.at.as_deref())?;
    let mut store = super::open_store(&config)?;
    if let Some(name) = &args.cadence {
        let Some(lead) = store.lead(args.email.trim())? else {
            bail!("no lead {} (`cadenced leads` lists every lead)", args.email);
        };
        if !lead.enrollments.iter().any(|e| &e.cadence == name) {
            super::known_cadence(&config, &store, name)?;
            let in_: Vec<&str> = lead.enrollments.iter().map(|e| e.cadence.as_str()).collect();
            if in_.is_empty() {
                bail!("{} is not in cadence {name:?}: it is in no cadence", lead.email);
            }
            bail!(
                "{} is not in cadence {name:?} (it is in: {}; leave out --cadence for all of them)",
                lead.email,
                in_.join(", ")
            );
        }
    }
    let Some(changed) = store.change_state(args.email.trim(), args.cadence.as_deref(), action, now)? else {
        bail!("no lead {} (`cadenced leads` lists every lead)", args.email);
    };
    if changed.is_empty() {
        let verb = match action {
            Change::Pause => "active",
            Change::Resume => "paused",
            Change::Stop => "active or paused",
        };
        outln!("{}: no {verb} enrollment, nothing changed", args.email);
    }
    for c in changed {
        outln!("{}: {} {} -> {}", args.email, c.cadence, c.from.as_str(), c.to.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
