//! `cadenced status EMAIL [--json]`: where is this lead?

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono_tz::Tz;

use crate::time::rfc3339;
use crate::views::status::{is_running, mark_orphaned, to_json, to_text};

pub fn run(config_path: &Path, email: &str, as_json: bool) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let store = super::open_store(&config)?;
    let Some(lead) = store.lead(email.trim())? else {
        bail!("no lead {email} (`cadenced leads` lists every lead)");
    };
    let tz: Tz = config.lead_zone(lead.timezone.as_deref());
    // A step well past its due time waits for a tick: say so, apart from why it was moved.
    let overdue_before = super::now_or(None)? - crate::tick::downtime_after(&config);
    let mut lead = lead;
    let loaded = crate::cadence::Cadences::load(&config);
    let pauses = store.pauses()?;
    mark_orphaned(&mut lead, &loaded);
    for e in &mut lead.enrollments {
        let running = is_running(e);
        let mailbox = loaded.get(&e.cadence).map(|c| c.mailbox.as_str());
        e.mailbox_paused = pauses
            .iter()
            .find(|p| running && Some(p.mailbox.as_str()) == mailbox)
            .map(|p| format!("mailbox {} paused since {}: {}", p.mailbox, rfc3339(p.since), p.reason));
    }
    if as_json {
        super::print_json(&to_json(&lead, tz, overdue_before))?;
    } else {
        out!("{}", to_text(&lead, tz, overdue_before));
    }
    Ok(ExitCode::SUCCESS)
}
