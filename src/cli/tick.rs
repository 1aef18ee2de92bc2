//! `cadenced tick [--at TIME]`: one pass over everything due, then exit. When
//! nothing was due it says what comes next, and the command that runs it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::store::{LookAhead, TaskFilter};
use crate::tick::{Control, Report, Transports};
use crate::time::{human, rfc3339};

pub fn run(config_path: &Path, at: Option<&str>) -> Result<ExitCode> {
    crate::daemon::init_logging("info");
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, true)?;
    let now = super::now_or(at)?;
    let mut store = super::open_store(&config)?;
    // Edited cadences take effect now: the leads of a step whose timing changed are planned again.
    let edits =
        crate::tick::reload::load(&mut store, &config, &cadences, now).context("recording the cadences loaded")?;
    for line in edits.changed_lines() {
        outln!("cadence edit loaded: {line}");
    }
    let report = crate::tick::run(&mut store, &config, &cadences, &mut Transports::new(), now, &Control::default())
        .context("tick")?;
    if config.checkpoints.litestream(&config.database).is_none() {
        store.checkpoint().context("checkpoint after the tick")?;
    }
    outln!("tick at {}: {report}", rfc3339(now));
    let ahead = store.look_ahead(now, idle(&report)).context("reading what comes next")?;
    out!("{}", what_next(config_path, &config, &report, (now, at.is_some()), &ahead));
    if report.opened > 0 || ahead.next.is_none() {
        let open = store.open_tasks(&TaskFilter::default()).context("reading the open tasks")?;
        if !open.is_empty() {
            outln!(
                "{} open task(s): {} lists them, {} closes one (a blocking task holds its cadence until then)",
                open.len(),
                super::command_line(config_path, "tasks"),
                super::command_line(config_path, "task done ID")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the tick found nothing to do with any step.
fn idle(report: &Report) -> bool {
    Report { inbound: 0, ..report.clone() }.is_empty()
}

/// The lines after the report: the next step to come and, in virtual time
/// (`virtual_time`: the tick ran with `--at`), the command that runs it;
/// when nothing was due, why, if `now` is before leads' enrollment. Without
/// `--at` no such command is offered: it would send real emails early.
fn what_next(
    config_path: &Path,
    config: &Config,
    report: &Report,
    (now, virtual_time): (DateTime<Utc>, bool),
    ahead: &LookAhead,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if idle(report) {
        let _ = writeln!(out, "nothing was due at {}", rfc3339(now));
    }
    match &ahead.next {
        Some(next) => {
            let tz = config.lead_zone(next.timezone.as_deref());
            let run = if virtual_time {
                let command = super::command_line(config_path, &format!("tick --at {}", rfc3339(next.due_at)));
                format!("; to run it now in virtual time: {command}")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "next: {} {}/{} due {}{run}",
                next.email,
                next.cadence,
                next.step,
                human(next.due_at, tz)
            );
        }
        None if idle(report) && ahead.enrolled_later == 0 => {
            let _ = writeln!(out, "no step is coming up: no active lead has a step to come");
        }
        None => {}
    }
    if let (true, Some((email, enrolled))) = (idle(report), &ahead.first_enrolled_later) {
        let others = match ahead.enrolled_later {
            0 | 1 => String::new(),
            n => format!(" and {} other lead(s)", n - 1),
        };
        let _ = writeln!(
            out,
            "note: {} is before the enrollment of {email} ({}){others}: --at acts as if the clock read that time, \
             and nothing is due before a lead was enrolled",
            rfc3339(now),
            rfc3339(*enrolled)
        );
    }
    out
}
