//! `cadenced preview NAME [--start TIME] [--tz ZONE] [--calendar NAME] [--json]`:
//! the timeline one lead enrolled at TIME would get, from the same code that
//! schedules real sends, in virtual time, sending and writing nothing.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use serde_json::json;

use crate::cadence::Fields;
use crate::core::plan;
use crate::time::{human, local_rfc3339, parse_zone, rfc3339};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cadence.
    name: String,
    /// Enrollment instant (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// The lead's time zone; default the config's.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// The lead's calendar, as its `calendar` field would set it.
    #[arg(long, value_name = "NAME")]
    calendar: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let cadence = cadences
        .get(&args.name)
        .ok_or_else(|| anyhow!("unknown cadence {:?} (loaded: {})", args.name, cadences.names().join(", ")))?;
    let start =
        super::now_or(args.start.as_deref()).map_err(|e| anyhow!("{}", e.to_string().replace("--at", "--start")))?;
    let tz = match &args.tz {
        Some(t) => parse_zone(t).map_err(|e| anyhow!("--tz: {e}"))?,
        None => config.timezone,
    };
    let mut fields = Fields::new();
    if let Some(cal) = &args.calendar {
        if !config.calendars.contains_key(cal) {
            return Err(anyhow!("--calendar: unknown calendar {cal:?}"));
        }
        fields.insert("calendar".into(), cal.clone());
    }
    let lead = config.lead_time(Some(cadence), Some(tz.name()), &fields);
    let steps = plan::timeline(cadence, start, lead).map_err(|e| anyhow!("{}: {e}", cadence.name))?;
    if args.json {
        let steps: Vec<_> = steps
            .iter()
            .map(|s| {
                json!({"step": s.step, "kind": s.kind, "at": rfc3339(s.at), "local": local_rfc3339(s.at, tz),
                       "reason": s.reason})
            })
            .collect();
        super::print_json(
            &json!({"cadence": cadence.name, "timezone": tz.name(), "start": rfc3339(start), "steps": steps}),
        )?;
    } else {
        outln!("{} for a lead in {} enrolled {}", cadence.name, tz.name(), human(start, tz));
        for s in &steps {
            let why = s.reason.map(|r| format!("  (moved: {r})")).unwrap_or_default();
            outln!("  {:<14} {:<9} {}{why}", s.step, s.kind, human(s.at, tz));
        }
    }
    Ok(ExitCode::SUCCESS)
}
