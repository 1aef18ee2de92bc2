//! The command line: argument definitions (clap derive) and one file per
//! subcommand. Each subcommand loads what it needs, calls the library, and
//! prints a table for people or, with `--json`, one JSON document.

/// `println!` for command output: a reader that went away (`| head`) ends
/// the command quietly instead of a panic.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::emit(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for command output, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::emit(format_args!($($arg)*)) };
}

mod check;
mod classify;
mod due;
mod enroll;
mod forecast;
mod import;
mod leads;
mod log;
mod ops;
mod preview;
mod run;
mod state;
mod status;
mod tasks;
mod tick;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::cadence::Cadences;
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(name = "cadenced", version, about = "Self-hosted follow-up cadence daemon")]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = "config.toml", value_name = "FILE")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: tick on an interval until SIGTERM or SIGINT.
    Run,
    /// One pass over everything due at TIME (default now), then exit.
    Tick {
        /// Act as if the clock read TIME (RFC 3339).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Validate the config, every cadence, window and template, the database's folder, and the
    /// fields leads in flight lack; `--plan`: what a reload would do to them.
    Check(check::Args),
    /// Add or update a lead and enroll it in a cadence.
    Enroll(enroll::Args),
    /// Enroll every row of a CSV file (header row; `email` column required).
    Import(import::Args),
    /// A lead, its enrollments, next steps and touchpoint timeline.
    Status {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// List leads with state and next due time.
    Leads(leads::Args),
    /// Pause a lead's active enrollments.
    Pause(state::Args),
    /// Resume a lead's paused enrollments.
    Resume(state::Args),
    /// Stop a lead's enrollments for good.
    Stop(state::Args),
    /// What will fire, and when.
    Due(due::Args),
    /// A cadence's timeline for a lead enrolled at TIME, in virtual time, sending nothing; with
    /// `--lead`, that lead's emails rendered with its fields.
    Preview(preview::Args),
    /// What was sent, failed, received and done, newest first (default: today).
    Log(log::Args),
    /// Sends and tasks per mailbox per day for the next N days.
    Forecast(forecast::Args),
    /// Manual steps (calls, LinkedIn, tasks) open for owners.
    Tasks(tasks::ListArgs),
    /// Close a task: `task done ID` or `task skip ID`.
    #[command(subcommand)]
    Task(tasks::TaskCommand),
    /// A consistent copy of the database, safe while the daemon runs.
    Backup(ops::BackupArgs),
    /// Send one plain message through a mailbox, reporting each SMTP step.
    TestSend(ops::TestSendArgs),
    /// Shell completions (bash, zsh, fish, elvish, powershell) on stdout.
    Completions { shell: clap_complete::Shell },
    /// The man page (roff) on stdout.
    Man,
    /// Classify raw messages as the inbox watcher would.
    Classify(classify::Args),
}

/// Parses the process arguments and runs the command.
pub fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    run_command(cli)
}

fn run_command(cli: Cli) -> Result<ExitCode> {
    let config_path = cli.config;
    match cli.command {
        Command::Run => run::run(&config_path),
        Command::Tick { at } => tick::run(&config_path, at.as_deref()),
        Command::Check(args) => check::run(&config_path, args),
        Command::Enroll(args) => enroll::run(&config_path, args),
        Command::Import(args) => import::run(&config_path, args),
        Command::Status { email, json } => status::run(&config_path, &email, json),
        Command::Leads(args) => leads::run(&config_path, args),
        Command::Pause(args) => state::run(&config_path, args, crate::store::Change::Pause),
        Command::Resume(args) => state::run(&config_path, args, crate::store::Change::Resume),
        Command::Stop(args) => state::run(&config_path, args, crate::store::Change::Stop),
        Command::Due(args) => due::run(&config_path, args),
        Command::Preview(args) => preview::run(&config_path, args),
        Command::Log(args) => log::run(&config_path, args),
        Command::Forecast(args) => forecast::run(&config_path, args),
        Command::Tasks(args) => tasks::list(&config_path, args),
        Command::Task(command) => tasks::close(&config_path, command),
        Command::Backup(args) => ops::backup(&config_path, args),
        Command::TestSend(args) => ops::test_send(&config_path, args),
        Command::Completions { shell } => ops::completions(shell),
        Command::Man => ops::man(),
        Command::Classify(args) => classify::run(&config_path, args),
    }
}

/// Loads and checks the config; its errors already name file, line and column.
pub(crate) fn load_config(path: &Path) -> Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Loads the cadences. With `strict`, any broken file is an error (the daemon
/// and `tick` refuse to send with part of the cadences missing); otherwise it
/// is reported on stderr and the good cadences are used.
pub(crate) fn load_cadences(config: &Config, strict: bool) -> Result<Cadences> {
    let cadences = Cadences::load(config);
    if let Some(first) = cadences.broken.first() {
        if strict {
            bail!("{first}\n(fix the cadence, `cadenced check` lists every problem)");
        }
        for broken in &cadences.broken {
            eprintln!("warning: {} is not loaded (run `cadenced check`)", broken.file.display());
        }
    }
    Ok(cadences)
}

pub(crate) fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.database).with_context(|| format!("opening {}", config.database.display()))
}

/// `--at TIME` or the real clock: the one place the CLI reads it.
pub(crate) fn now_or(at: Option<&str>) -> Result<DateTime<Utc>> {
    match at {
        Some(text) => crate::time::parse_instant(text).map_err(|e| anyhow::anyhow!("--at: {e}")),
        None => Ok(crate::time::from_unix(Utc::now().timestamp())),
    }
}

/// Writes command output to stdout; exits quietly when the reader is gone.
pub(crate) fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("cadenced: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Runs `write` on stdout through one buffer, then flushes it: for listings
/// that can run to millions of lines (a line-buffered stdout costs a system
/// call per line). A reader that went away (`| head`) ends the command
/// quietly, as with [`emit`].
pub(crate) fn write_stdout(write: impl FnOnce(&mut dyn std::io::Write) -> Result<()>) -> Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = write(&mut out).and_then(|()| Ok(out.flush()?));
    let Err(e) = result else { return Ok(()) };
    match e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) {
        Some(std::io::ErrorKind::BrokenPipe) => std::process::exit(0),
        Some(_) => Err(e.context("cannot write to stdout")),
        None => Err(e),
    }
}

/// Prints `value` as one JSON document.
pub(crate) fn print_json(value: &serde_json::Value) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
