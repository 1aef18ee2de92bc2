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
mod doctor;
mod due;
mod enroll;
mod forecast;
mod import;
mod ingest;
mod leads;
mod log;
mod login;
mod mailboxes;
mod mark;
mod ops;
mod preview;
mod reconcile;
mod report;
mod run;
mod state;
pub(crate) mod status;
mod tasks;
mod tick;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::cadence::Cadences;
use crate::config::Config;
use crate::store::Store;

/// `--config` when none is given.
const DEFAULT_CONFIG: &str = "config.toml";

#[derive(Debug, Parser)]
#[command(name = "cadenced", version, about = "Self-hosted follow-up cadence daemon")]
pub struct Cli {
    /// The config file.
    #[arg(short = 'c', long, global = true, default_value = DEFAULT_CONFIG, value_name = "FILE")]
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
        /// The lead's address.
        email: String,
        /// Print one JSON document instead of the timeline.
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
    /// Each sending mailbox: active or paused and why, with its 7-day sent, bounce and complaint rates; `mailboxes resume NAME`.
    Mailboxes(mailboxes::Args),
    /// Feed raw messages in by hand: classified and acted on as if from the inbox, once each.
    Ingest(ingest::Args),
    /// Record what happened some other way: `mark EMAIL replied` stops the cadences as a reply would;
    /// `mark EMAIL meeting|won|lost [--value AMOUNT]` records an outcome (won and lost end the cadences).
    Mark(mark::Args),
    /// Per cadence and step: reached, sent, replied, bounced, unsubscribed, reply rate; per mailbox rates.
    Report(report::Args),
    /// Sign a mailbox in with OAuth 2.0 (Microsoft 365, Google Workspace, ...): device code or browser.
    Login(login::Args),
    /// Record the sends found in each mailbox's Sent folder (or outbox) that the database lacks, as
    /// after a restore; `--confirm-unreadable NAME` ends the hold of a mailbox with no Sent folder.
    Reconcile(reconcile::Args),
    /// Before the first send: MX, SPF, DKIM and DMARC of each mailbox's domain and its sending config,
    /// each ok, warning or error with the DNS record to publish; `--connect` also tries TLS.
    Doctor(doctor::Args),
    /// The lead preflight: each address's syntax and its domain's DNS (dead, disposable, unknown, role),
    /// writing nothing; exits 1 when any address would be refused.
    Verify(verify::Args),
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
        Command::Mailboxes(args) => mailboxes::run(&config_path, args),
        Command::Ingest(args) => ingest::run(&config_path, args),
        Command::Mark(args) => mark::run(&config_path, args),
        Command::Report(args) => report::run(&config_path, args),
        Command::Login(args) => login::run(&config_path, args),
        Command::Reconcile(args) => reconcile::run(&config_path, args),
        Command::Doctor(args) => doctor::run(&config_path, args),
        Command::Verify(args) => verify::run(&config_path, args),
    }
}

/// What most subcommands start from: the checked config, the cadences that
/// load (a broken file is named on stderr, the others are used), the clock
/// (`--at TIME` or now) and the open store.
pub(crate) struct Context {
    pub config: Config,
    pub cadences: Cadences,
    pub now: DateTime<Utc>,
    pub store: Store,
}

impl Context {
    pub(crate) fn load(config: &Path, at: Option<&str>) -> Result<Context> {
        let config = load_config(config)?;
        let cadences = load_cadences(&config, false)?;
        let now = now_or(at)?;
        let store = open_store(&config)?;
        Ok(Context { config, cadences, now, store })
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

/// The loaded cadence `name`, or an error that lists the loaded ones.
pub(crate) fn cadence<'c>(cadences: &'c Cadences, name: &str) -> Result<&'c crate::cadence::Cadence> {
    cadences.get(name).ok_or_else(|| unknown_cadence(cadences, name))
}

/// The configured mailbox `name`, or an error that lists the configured ones.
pub(crate) fn mailbox<'c>(config: &'c Config, name: &str) -> Result<&'c crate::config::Mailbox> {
    config.mailboxes.get(name).ok_or_else(|| unknown_mailbox(config, name))
}

pub(crate) fn unknown_mailbox(config: &Config, name: &str) -> anyhow::Error {
    anyhow::anyhow!(crate::views::unknown_mailbox(config, name))
}

pub(crate) fn unknown_cadence(cadences: &Cadences, name: &str) -> anyhow::Error {
    anyhow::anyhow!(crate::views::unknown_cadence(cadences, name))
}

/// Checks a `--cadence NAME` filter: a loaded cadence, or one whose file is
/// gone but that still has leads (orphaned; a warning says so). Anything
/// else is an error that lists the loaded cadences, rather than an empty,
/// successful answer to a typo.
pub(crate) fn known_cadence(config: &Config, store: &Store, name: &str) -> Result<()> {
    // Its file is there: a listing needs no more (parsing every cadence costs
    // more than listing a few thousand rows); `check` says whether it loads.
    if crate::cadence::is_identifier(name) && config.cadences_dir.join(format!("{name}.toml")).is_file() {
        return Ok(());
    }
    let cadences = Cadences::load(config);
    if cadences.get(name).is_some() {
        return Ok(());
    }
    let mut has_leads = false;
    let filter = crate::store::LeadFilter { cadence: Some(name), ..Default::default() };
    let probe = store.for_each_lead(&filter, |_| {
        has_leads = true;
        Err(anyhow::anyhow!("found one"))
    });
    let broken = cadences.broken.iter().find(|b| b.file.file_stem().is_some_and(|s| s == name));
    if has_leads {
        let why = if broken.is_some() { "does not load (run `cadenced check`)" } else { "is gone" };
        eprintln!("warning: the file of cadence {name:?} {why}: its leads are orphaned");
        return Ok(());
    }
    probe?;
    if let Some(broken) = broken {
        bail!("cadence {name:?} does not load: {} has errors (run `cadenced check`)", broken.file.display());
    }
    Err(unknown_cadence(&cadences, name))
}

pub(crate) fn open_store(config: &Config) -> Result<Store> {
    let store = Store::open(&config.database).with_context(|| format!("opening {}", config.database.display()))?;
    if config.checkpoints.litestream(&config.database).is_some() {
        store.leave_checkpoints_to_litestream()?;
    }
    Ok(store)
}

/// `--at TIME` or the real clock: the one place the CLI reads it.
pub(crate) fn now_or(at: Option<&str>) -> Result<DateTime<Utc>> {
    match at {
        Some(text) => crate::time::parse_instant(text).map_err(|e| anyhow::anyhow!("--at: {e}")),
        None => Ok(crate::time::from_unix(Utc::now().timestamp())),
    }
}

/// The error and its causes on one line, outermost first, each said once:
/// an error type that shows its source in its own message (`database x.db:
/// file exists`) is followed in the chain by that source, which `{:#}` would
/// print a second time.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        let part = part.trim();
        if part.is_empty() || text.ends_with(part) || (part.len() > 12 && text.contains(part)) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(part);
    }
    text
}

/// `cadenced ARGS` as a user would type it next, with `-c FILE` when the
/// config is not the default one.
pub(crate) fn command_line(config_path: &Path, args: &str) -> String {
    if config_path == Path::new(DEFAULT_CONFIG) {
        format!("cadenced {args}")
    } else {
        format!("cadenced -c {} {args}", config_path.display())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let denied_text = denied.to_string();
        let store = crate::store::StoreError::Io { path: "/var/lib/cadenced/cadenced.db".into(), source: denied };
        let err = anyhow::Error::new(store).context("opening /var/lib/cadenced/cadenced.db");
        assert_eq!(
            error_text(&err),
            format!("opening /var/lib/cadenced/cadenced.db: database /var/lib/cadenced/cadenced.db: {denied_text}")
        );
        // Causes that add something are all kept, outermost first.
        let err = anyhow::anyhow!("inner problem").context("middle").context("outer");
        assert_eq!(error_text(&err), "outer: middle: inner problem");
    }

    #[test]
    fn the_state_filter_offers_every_state() {
        use clap::ValueEnum;
        let offered: Vec<String> = leads::StateArg::value_variants()
            .iter()
            .filter_map(|s| s.to_possible_value().map(|v| v.get_name().to_string()))
            .collect();
        let all: Vec<String> = crate::model::State::ALL.iter().map(|s| s.as_str().to_string()).collect();
        assert_eq!(offered, all);
    }
}
