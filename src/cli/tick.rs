//! `cadenced tick [--at TIME]`: one pass over everything due, then exit.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::tick::{Control, Transports};
use crate::time::rfc3339;

pub fn run(config_path: &Path, at: Option<&str>) -> Result<ExitCode> {
    crate::daemon::init_logging("info");
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, true)?;
    let now = super::now_or(at)?;
    let mut store = super::open_store(&config)?;
    // Edited cadences take effect now: the leads of a step whose timing changed are planned again.
    let edits = store.load_cadences(&config, &cadences, now).context("recording the cadences loaded")?;
    for line in edits.changed_lines() {
        outln!("cadence edit loaded: {line}");
    }
    let report = crate::tick::run(&mut store, &config, &cadences, &mut Transports::new(), now, &Control::default())
        .context("tick")?;
    store.checkpoint().context("checkpoint after the tick")?;
    outln!(
        "tick at {}: {} sent, {} tasks opened, {} failed, {} to retry, {} uncertain, {} held, {} skipped, {} postponed, {} digests",
        rfc3339(now),
        report.sent,
        report.opened,
        report.failed,
        report.retrying,
        report.uncertain,
        report.held,
        report.skipped,
        report.postponed,
        report.digests
    );
    Ok(ExitCode::SUCCESS)
}
