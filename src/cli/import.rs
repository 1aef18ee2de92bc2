//! `cadenced import FILE.csv --cadence NAME [--at TIME]`: bulk enrollment. Bad
//! rows are reported with their line and skipped; the good ones go in in one
//! transaction.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::intake::{self, read_rows};
use crate::store::EnrollOutcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV file with a header row; an `email` column is required, other columns
    /// are fields (`timezone` sets the lead's zone).
    file: PathBuf,
    /// The cadence to enroll every row in.
    #[arg(long, value_name = "NAME")]
    cadence: String,
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
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    // A bar on a terminal for large files; nothing at all in scripts and logs.
    let progress = if std::io::stderr().is_terminal() && size > 1 << 20 {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let (rows, errors) = read_rows(&args.file, std::io::BufReader::new(file), &progress, |lead| {
        intake::prepare(lead, cadence, &config, now)
    })?;
    progress.finish_and_clear();
    for e in &errors {
        eprintln!("{}:{}: {}", args.file.display(), e.line, e.message);
    }
    let mut store = super::open_store(&config)?;
    let outcomes = store.enroll_many(&rows, now).context("importing")?;
    let enrolled = outcomes.iter().filter(|o| **o == EnrollOutcome::Enrolled).count();
    let mut suppressed = 0;
    for (row, outcome) in rows.iter().zip(&outcomes) {
        if let EnrollOutcome::Suppressed(reason) = outcome {
            eprintln!("{}: {} is on the suppression list ({reason}): skipped", args.file.display(), row.email);
            suppressed += 1;
        }
    }
    let already = outcomes.len() - enrolled - suppressed;
    outln!(
        "{}: {} rows read, {enrolled} enrolled in {}, {already} already enrolled (unchanged), {} skipped",
        args.file.display(),
        rows.len() + errors.len(),
        cadence.name,
        errors.len() + suppressed
    );
    if !errors.is_empty() {
        bail!("{} rows skipped (listed above); the other {} were imported", errors.len(), rows.len());
    }
    Ok(ExitCode::SUCCESS)
}
