//! `cadenced import FILE.csv --cadence NAME [--at TIME] [--verify|--no-verify]`:
//! bulk enrollment. Bad rows are reported with their line and skipped; the
//! good ones go in in one transaction.
//!
//! With the lead preflight (`--verify`, or `verify_leads = true`), a first
//! pass reads every address and looks each domain up once; refused rows
//! (dead, disposable, malformed) are reported with their line and reason, not
//! enrolled, and suppressed in the same transaction; "unknown" ones (DNS
//! could not tell) are enrolled and counted; role addresses get a warning.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::core::verify::{Check, suppression_reason};
use crate::intake::{Intake, IntakeError, LeadInput, ReadReport, read_rows_each};
use crate::store::{EnrollOutcome, NewEnrollment};

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
    #[command(flatten)]
    verify: super::verify::Flags,
}

/// What the preflight said about a file's rows, by lowercase address.
#[derive(Default)]
struct Preflight {
    /// Rows refused: line, address as written, verdict.
    refused: HashMap<String, (u64, String, Check)>,
    /// Addresses DNS could not tell about.
    unknown: HashSet<String>,
    /// Role addresses: line and address.
    roles: Vec<(u64, String)>,
}

impl Preflight {
    /// The first pass over `path`: every address, each domain looked up once.
    fn of(path: &Path, config: &crate::config::Config) -> Result<Preflight> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let rows = crate::intake::read_emails(path, file)?;
        let verdicts = super::verify::lookup(config, rows.iter().map(|(_, email)| email.as_str()))?;
        let mut preflight = Preflight::default();
        for (line, email) in rows {
            let check = verdicts.check(&email);
            if check.role {
                preflight.roles.push((line, email.clone()));
            }
            if check.verdict.refuses() {
                preflight.refused.entry(email.to_lowercase()).or_insert((line, email, check));
            } else if matches!(check.verdict, crate::core::verify::Verdict::Unknown(_)) {
                preflight.unknown.insert(email.to_lowercase());
            }
        }
        Ok(preflight)
    }

    fn refuses(&self, email: &str) -> bool {
        !self.refused.is_empty() && self.refused.contains_key(&email.trim().to_lowercase())
    }
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let cadence = super::cadence(&cadences, &args.cadence)?;
    let now = super::now_or(args.at.as_deref())?;
    let preflight = if args.verify.wanted(&config) { Some(Preflight::of(&args.file, &config)?) } else { None };
    let preflight = preflight.as_ref();
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
    let mut store = super::open_store(&config)?;
    // A second connection, for the reading thread, opened before the first
    // begins its transaction (opening one needs a moment of the write lock).
    let known = super::open_store(&config)?;
    // Rows are read and checked on one thread and enrolled on this one as they
    // come, in batches (a hand-over per row costs more than it saves), in one
    // transaction that commits only once every row was read.
    const BATCH: usize = 512;
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<NewEnrollment>>(4);
    // Enrolled batches go back to be freed on the reading thread, which has
    // time to spare (freeing 100 k rows' fields is ~7% of an import).
    let (done, freed) = std::sync::mpsc::channel::<Vec<NewEnrollment>>();
    let path = args.file.as_path();
    let mut enrolled = 0;
    let mut already = 0;
    let mut suppressed = Vec::new();
    let mut unknown = 0;
    let variables = cadence.templates.variables();
    let read = std::thread::scope(|scope| -> Result<ReadReport> {
        let reader = scope.spawn(|| {
            // Owned here, so that the channel closes when reading ends, however it ends.
            let (send, freed, known) = (send, freed, known);
            let mut intake = Intake::new(cadence, &config, now);
            // A row that lacks a field may be a known lead that has it: read
            // what is stored through the second connection.
            let check = |lead: LeadInput| {
                if preflight.is_some_and(|p| p.refuses(&lead.email)) {
                    // Reported from the preflight's own list, not as a row to fix.
                    return Err(IntakeError { field: "email".into(), message: "refused".into(), missing: vec![] });
                }
                intake.check_known(lead, |email| {
                    let lead = known.lead(email).ok()??;
                    Some((lead.fields, lead.timezone))
                })
            };
            let mut batch = Vec::with_capacity(BATCH);
            let read = read_rows_each(path, file, &progress, &variables, check, |row| {
                batch.push(row);
                if batch.len() < BATCH {
                    return ControlFlow::Continue(());
                }
                freed.try_iter().for_each(drop);
                // A closed channel means the enrolling side failed: stop reading.
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                send.send(full).map_or(ControlFlow::Break(()), ControlFlow::Continue)
            })?;
            // Unsent only if the enrolling side failed, which reports its own error.
            let _ = send.send(batch);
            Ok::<_, anyhow::Error>(read)
        });
        let mut enrolling = store.begin_enrolling(now, true).context("importing")?;
        for batch in receive {
            for row in &batch {
                match enrolling.add(row).context("importing")? {
                    EnrollOutcome::Enrolled => {
                        enrolled += 1;
                        if preflight
                            .is_some_and(|p| !p.unknown.is_empty() && p.unknown.contains(&row.email.to_lowercase()))
                        {
                            unknown += 1;
                        }
                    }
                    EnrollOutcome::AlreadyEnrolled(_) => already += 1,
                    EnrollOutcome::Suppressed(reason) => suppressed.push((row.email.clone(), reason)),
                }
            }
            // Once reading is over, the last batches are freed here.
            let _ = done.send(batch);
        }
        let read = reader.join().map_err(|_| anyhow!("{}: reading the file failed", path.display()))??;
        // Refused addresses are kept out for good, as a dead bounce keeps them.
        for (_, email, check) in preflight.map(|p| p.refused.values()).into_iter().flatten() {
            enrolling.refuse(email, &suppression_reason(&check.verdict)).context("importing")?;
        }
        enrolling.commit().context("importing")?;
        Ok(read)
    })?;
    progress.finish_and_clear();
    let mut read = read;
    let shown = args.file.display();
    let mut refused: Vec<&(u64, String, Check)> = preflight.map(|p| p.refused.values().collect()).unwrap_or_default();
    refused.sort_by_key(|(line, _, _)| *line);
    if !refused.is_empty() {
        let lines: HashSet<u64> = refused.iter().map(|(line, _, _)| *line).collect();
        read.errors.retain(|e| !lines.contains(&e.line));
    }
    for note in &read.notes {
        eprintln!("{shown}:1: note: {note}");
    }
    for e in &read.errors {
        eprintln!("{shown}:{}: {}", e.line, e.message);
    }
    for (line, email, check) in &refused {
        eprintln!("{shown}:{line}: {email}: {}: not enrolled, suppressed", super::verify::describe(check));
    }
    for (line, email) in preflight.map(|p| p.roles.as_slice()).unwrap_or_default() {
        eprintln!("{shown}:{line}: warning: {email} is a role address, not a person");
    }
    for (email, reason) in &suppressed {
        eprintln!("{shown}: {email} is on the suppression list ({reason}): skipped");
    }
    let skipped = read.errors.len() + suppressed.len();
    let name = &cadence.name;
    let verified = match preflight {
        Some(_) => format!(
            ", {} refused by the preflight (suppressed), {unknown} unknown: DNS could not tell (enrolled)",
            refused.len()
        ),
        None => String::new(),
    };
    outln!(
        "{shown}: {} rows read: {enrolled} enrolled in {name}, {already} already in {name} (left unchanged), \
         {skipped} skipped{verified}",
        enrolled + already + skipped + refused.len()
    );
    if !read.errors.is_empty() {
        bail!(
            "{} rows skipped (listed above): fix them and import the file again (rows already in {name} are left as \
             they are)",
            read.errors.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
