//! `cadenced run`: the daemon.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::daemon::Logging;

pub fn run(config_path: &Path) -> Result<ExitCode> {
    let logging = crate::daemon::init_logging("info");
    match start(config_path) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // Under systemd, as an error entry (priority 3), so that `journalctl
        // -p err` shows why the daemon would not start; printed on stderr it
        // would read as an info line.
        Err(e) if logging == Logging::Journal => {
            tracing::error!("cannot start: {e:#}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e),
    }
}

fn start(config_path: &Path) -> Result<()> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, true)?;
    let store = super::open_store(&config)?;
    crate::daemon::run(config, cadences, store)
}
