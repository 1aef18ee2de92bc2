//! `cadenced leads [--cadence NAME] [--state STATE] [--owner EMAIL] [--json]`:
//! rows are written as the database yields them, through one buffer, never
//! collected (a cadence can have half a million active leads).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use chrono_tz::Tz;
use serde::Serialize;
use serde::ser::{Error as _, SerializeSeq};

use crate::model::{Reason, State};
use crate::store::{EnrollmentRow, LeadFilter, Store};
use crate::time::{Human, rfc3339};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only leads in this cadence.
    #[arg(long, value_name = "NAME")]
    cadence: Option<String>,
    /// Only enrollments in this state.
    #[arg(long, value_name = "STATE")]
    state: Option<StateArg>,
    /// Only leads this owner does the manual steps of.
    #[arg(long, value_name = "EMAIL")]
    owner: Option<String>,
    /// Print one JSON document (`{"leads": [...]}`) instead of a table.
    #[arg(long)]
    json: bool,
}

/// An enrollment state as `--state` takes it: clap lists the valid ones.
#[derive(Debug, Clone, Copy)]
pub struct StateArg(State);

impl clap::ValueEnum for StateArg {
    fn value_variants<'a>() -> &'a [Self] {
        const ALL: [StateArg; 7] = [
            StateArg(State::Active),
            StateArg(State::Paused),
            StateArg(State::Finished),
            StateArg(State::Stopped),
            StateArg(State::Replied),
            StateArg(State::Bounced),
            StateArg(State::Unsubscribed),
        ];
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.as_str()))
    }
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let state = args.state.map(|s| s.0);
    let store = super::open_store(&config)?;
    if let Some(name) = &args.cadence {
        super::known_cadence(&config, &store, name)?;
    }
    let filter = LeadFilter { cadence: args.cadence.as_deref(), state, owner: args.owner.as_deref() };
    super::write_stdout(|out| {
        if args.json {
            write_json(out, &store, &filter)
        } else {
            let mut table = Table::new(out, config.timezone)?;
            store.for_each_lead(&filter, |r| table.row(r))?;
            table.finish()
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// One lead as `leads --json` shows it (fields in the order they always had).
#[derive(Serialize)]
struct LeadJson<'a> {
    cadence: Option<&'a str>,
    email: &'a str,
    next_due_at: Option<String>,
    next_step: Option<&'a str>,
    reason: Option<&'a str>,
    state: Option<&'a str>,
}

impl<'a> From<&'a EnrollmentRow> for LeadJson<'a> {
    fn from(r: &'a EnrollmentRow) -> Self {
        LeadJson {
            cadence: r.cadence.as_deref(),
            email: &r.email,
            next_due_at: r.next_due_at.filter(|_| r.state == Some(State::Active)).map(rfc3339),
            next_step: r.step.as_deref(),
            reason: r.reason.map(Reason::as_str),
            state: r.state.map(State::as_str),
        }
    }
}

/// `{"leads": [...]}`, one document, each lead serialized as it is read.
fn write_json(out: &mut dyn Write, store: &Store, filter: &LeadFilter<'_>) -> Result<()> {
    /// The rows, serialized straight from the store's cursor.
    struct Leads<'s> {
        store: &'s Store,
        filter: &'s LeadFilter<'s>,
        /// A database error met while serializing (serde's error type cannot carry it).
        failed: std::cell::RefCell<Option<anyhow::Error>>,
    }
    impl Serialize for Leads<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(None)?;
            let mut write_error = None;
            let read = self.store.for_each_lead(self.filter, |r| {
                seq.serialize_element(&LeadJson::from(r)).map_err(|e| {
                    write_error = Some(e);
                    anyhow!("writing the list")
                })
            });
            if let Some(e) = write_error {
                return Err(e);
            }
            if let Err(e) = read {
                let message = e.to_string();
                *self.failed.borrow_mut() = Some(e);
                return Err(S::Error::custom(message));
            }
            seq.end()
        }
    }
    #[derive(Serialize)]
    struct Document<'a> {
        leads: &'a Leads<'a>,
    }
    let leads = Leads { store, filter, failed: std::cell::RefCell::new(None) };
    let written = Document { leads: &leads }.serialize(&mut serde_json::Serializer::pretty(&mut *out));
    if let Some(e) = leads.failed.into_inner() {
        return Err(e);
    }
    written.map_err(|e| match e.io_error_kind() {
        Some(kind) => anyhow::Error::new(std::io::Error::from(kind)),
        None => anyhow::Error::new(e),
    })?;
    writeln!(out)?;
    Ok(())
}

/// The table `leads` and `due` print: the due time in the lead's zone and in UTC.
pub struct Table<'w> {
    out: &'w mut dyn Write,
    default_tz: Tz,
    /// Zones by their stored name: a listing has a handful of distinct zones
    /// and many rows, so each name is parsed once.
    zones: HashMap<String, Tz>,
    rows: usize,
}

impl<'w> Table<'w> {
    /// Writes the header line.
    pub fn new(out: &'w mut dyn Write, default_tz: Tz) -> Result<Table<'w>> {
        writeln!(out, "{:<32} {:<16} {:<10} {:<12} NEXT DUE", "EMAIL", "CADENCE", "STATE", "NEXT STEP")?;
        Ok(Table { out, default_tz, zones: HashMap::new(), rows: 0 })
    }

    fn zone(&mut self, name: Option<&str>) -> Tz {
        let Some(name) = name else { return self.default_tz };
        if let Some(tz) = self.zones.get(name) {
            return *tz;
        }
        let tz = name.parse().unwrap_or(self.default_tz);
        self.zones.insert(name.to_string(), tz);
        tz
    }

    pub fn row(&mut self, r: &EnrollmentRow) -> Result<()> {
        let active = r.state == Some(State::Active);
        let tz = self.zone(r.timezone.as_deref());
        write!(
            self.out,
            "{:<32} {:<16} {:<10} {:<12} ",
            r.email,
            r.cadence.as_deref().unwrap_or("-"),
            r.state.map_or("-", State::as_str),
            r.step.as_deref().filter(|_| active || r.state == Some(State::Paused)).unwrap_or("-"),
        )?;
        match r.next_due_at.filter(|_| active) {
            Some(t) => write!(self.out, "{}", Human(t, tz))?,
            None => self.out.write_all(b"-")?,
        }
        match r.reason.filter(|_| active) {
            Some(why) => writeln!(self.out, "  ({why})")?,
            None => writeln!(self.out)?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Writes the row count.
    pub fn finish(self) -> Result<()> {
        writeln!(self.out, "({} rows)", self.rows)?;
        Ok(())
    }
}

/// The whole table for rows already in memory (`due`).
pub fn print_table(out: &mut dyn Write, rows: &[EnrollmentRow], default_tz: Tz) -> Result<()> {
    let mut table = Table::new(out, default_tz)?;
    for r in rows {
        table.row(r)?;
    }
    table.finish()
}
