//! `cadenced run`: the daemon.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

pub fn run(config_path: &Path) -> Result<ExitCode> {
    crate::daemon::init_logging("info");
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, true)?;
    let store = super::open_store(&config)?;
    crate::daemon::run(config, cadences, store)?;
    Ok(ExitCode::SUCCESS)
}
