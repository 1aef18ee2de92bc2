//! `cadenced check`: validate the config, every cadence, window and template.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cadence::{Cadences, StepKind};
use crate::config::Config;

pub fn run(config_path: &Path) -> Result<ExitCode> {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    outln!(
        "ok {}: {} mailbox(es), database {}",
        config_path.display(),
        config.mailboxes.len(),
        config.database.display()
    );
    let cadences = Cadences::load(&config);
    // The first file with problems, with all of its problems.
    let mut broken = cadences.broken.iter().min_by(|a, b| a.file.cmp(&b.file)).into_iter();
    if let Some(first) = broken.next() {
        let good_before: Vec<_> = cadences.by_name.values().filter(|c| c.file < first.file).collect();
        for c in good_before {
            outln!("ok {}", c.file.display());
        }
        eprintln!("{first}");
        return Ok(ExitCode::FAILURE);
    }
    if cadences.by_name.is_empty() {
        eprintln!("{}: no cadence files (*.toml)", config.cadences_dir.display());
        return Ok(ExitCode::FAILURE);
    }
    if config.database.exists() {
        let store = super::open_store(&config)?;
        for (cadence, count) in store.orphaned(&cadences.names())? {
            outln!(
                "warning: {count} active or paused lead(s) in cadence {cadence:?}, whose file is gone: they are \
                 orphaned and resume if {}/{cadence}.toml returns",
                config.cadences_dir.display()
            );
        }
    }
    for c in cadences.by_name.values() {
        let emails = c.steps.iter().filter(|s| s.kind == StepKind::Email).count();
        let vars: Vec<_> = c.templates.variables().into_iter().collect();
        outln!(
            "ok {}: {} steps ({} emails, {} manual), window {}, mailbox {}, uses {}",
            c.file.display(),
            c.steps.len(),
            emails,
            c.steps.len() - emails,
            c.window.as_ref().map_or_else(|| "none".to_string(), ToString::to_string),
            c.mailbox,
            if vars.is_empty() { "no fields".to_string() } else { vars.join(", ") }
        );
    }
    Ok(ExitCode::SUCCESS)
}
