//! Checking a lead before it is enrolled: its address, zone and fields, and that
//! every step of the cadence renders for it. Pure: the enrollment instant is an
//! argument, the result is a row for the store.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{Context, anyhow};
use indicatif::ProgressBar;

use crate::cadence::{Cadence, Fields, is_identifier};
use crate::config::Config;
use crate::core::plan;
use crate::model::{Next, Reason};
use crate::store::NewEnrollment;

/// A lead as given on the command line or in a CSV row.
#[derive(Debug, Clone, Default)]
pub struct LeadInput {
    pub email: String,
    pub fields: Fields,
    pub timezone: Option<String>,
}

/// Why a lead cannot be enrolled, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct IntakeError {
    pub field: String,
    pub message: String,
}

fn bad(field: &str, message: String) -> IntakeError {
    IntakeError { field: field.to_string(), message }
}

/// Checks `lead` for `cadence` and works out its first step's due time.
pub fn prepare(
    lead: &LeadInput,
    cadence: &Cadence,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<NewEnrollment, IntakeError> {
    Intake::new(cadence, config, now).check(lead.clone())
}

/// The first step of a lead enrolled at the intake's instant: its id, due and
/// planned times and why it is later than planned.
type FirstStep = Result<(String, DateTime<Utc>, DateTime<Utc>, Option<Reason>), IntakeError>;

/// Checks leads for one cadence at one instant, as [`prepare`] does. It
/// remembers what depends only on a lead's zone and calendar (the first
/// step's due time) and the owner addresses it has checked: an import has many
/// leads and few zones, calendars and owners.
pub struct Intake<'a> {
    cadence: &'a Cadence,
    config: &'a Config,
    now: DateTime<Utc>,
    first_steps: HashMap<(Tz, Option<String>), FirstStep>,
    good_owners: HashSet<String>,
}

impl<'a> Intake<'a> {
    pub fn new(cadence: &'a Cadence, config: &'a Config, now: DateTime<Utc>) -> Intake<'a> {
        Intake { cadence, config, now, first_steps: HashMap::new(), good_owners: HashSet::new() }
    }

    /// Checks `lead` and works out its first step's due time.
    pub fn check(&mut self, lead: LeadInput) -> Result<NewEnrollment, IntakeError> {
        let (cadence, config) = (self.cadence, self.config);
        let email = lead.email.trim().to_string();
        let address =
            email.parse::<lettre::Address>().map_err(|e| bad("email", format!("invalid address {email:?}: {e}")))?;
        let mailbox = config.mailboxes.get(&cadence.mailbox);
        if !address.user().is_ascii() && !mailbox.is_some_and(|m| m.smtputf8) {
            return Err(bad(
                "email",
                format!(
                    "{email:?} has a local part that is not ASCII: only a server that offers SMTPUTF8 can take it; \
                     if mailbox {:?}'s does (`cadenced test-send` shows its EHLO), set smtputf8 = true in its table",
                    cadence.mailbox
                ),
            ));
        }
        for key in lead.fields.keys() {
            if !is_identifier(key) || key.contains('-') {
                return Err(bad(key, "field names may use only letters, digits and '_'".into()));
            }
            if key == "email" {
                return Err(bad(key, "the address is not a field".into()));
            }
        }
        let tz: Tz = match &lead.timezone {
            Some(name) => crate::time::parse_zone(name).map_err(|e| bad("timezone", e.to_string()))?,
            None => config.timezone,
        };
        cadence.templates.check_lead(cadence.steps.iter().map(|s| s.id.as_str()), &email, &lead.fields).map_err(
            |e| {
                let field = e.missing.first().cloned().unwrap_or_else(|| "template".into());
                bad(&field, e.to_string())
            },
        )?;
        let calendar_name = lead.fields.get("calendar");
        if let Some(name) = calendar_name
            && !config.calendars.contains_key(name)
        {
            let known: Vec<_> = config.calendars.keys().cloned().collect();
            return Err(bad("calendar", format!("unknown calendar {name:?} (configured: {})", known.join(", "))));
        }
        let now = self.now;
        let (first_step, due_at, planned_at, reason) = self
            .first_steps
            .entry((tz, calendar_name.cloned()))
            .or_insert_with(|| {
                let when = config.lead_time(Some(cadence), Some(tz.name()), &lead.fields);
                match plan::next(cadence, None, now, when) {
                    Next::Step { id, due_at, planned_at, reason } => Ok((id, due_at, planned_at, reason)),
                    Next::Hold(why) => Err(bad("cadence", why)),
                    Next::Finished | Next::End(_) | Next::Block { .. } | Next::ThenHold(..) => {
                        Err(bad("cadence", "has no steps".into()))
                    }
                }
            })
            .clone()?;
        if let Some(owner) = lead.fields.get("owner")
            && !self.good_owners.contains(owner)
        {
            owner.parse::<lettre::Address>().map_err(|e| bad("owner", format!("invalid address {owner:?}: {e}")))?;
            self.good_owners.insert(owner.clone());
        }
        Ok(NewEnrollment {
            email,
            timezone: lead.timezone.as_ref().map(|_| tz.name().to_string()),
            cadence: cadence.name.clone(),
            first_step,
            due_at,
            planned_at,
            reason,
            owner: owner_of(config, cadence, &lead.fields),
            fields: lead.fields,
        })
    }
}

/// Who does a lead's manual steps: its `owner` field, else the cadence's
/// `owner`, else its mailbox's.
pub fn owner_of(config: &Config, cadence: &Cadence, fields: &crate::cadence::Fields) -> Option<String> {
    fields
        .get("owner")
        .map(|o| o.to_ascii_lowercase())
        .or_else(|| cadence.owner.clone())
        .or_else(|| config.mailboxes.get(&cadence.mailbox).and_then(|m| m.owner.clone()))
}

/// A row that could not be enrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// Reads and checks every row: the rows to enroll, and the rejected ones.
pub fn read_rows(
    file: &Path,
    reader: impl std::io::Read,
    progress: &ProgressBar,
    mut check: impl FnMut(&LeadInput) -> Result<NewEnrollment, IntakeError>,
) -> anyhow::Result<(Vec<NewEnrollment>, Vec<RowError>)> {
    let mut good = Vec::new();
    let bad = read_rows_each(
        file,
        reader,
        progress,
        |lead| check(&lead),
        |row| {
            good.push(row);
            ControlFlow::Continue(())
        },
    )?;
    Ok((good, bad))
}

/// Reads and checks every row, handing each good one to `good` as soon as it
/// is checked (an import enrolls it while the next rows are read); returns
/// the rejected ones. Stops early, with the rows read so far, when `good`
/// breaks.
pub fn read_rows_each(
    file: &Path,
    reader: impl std::io::Read,
    progress: &ProgressBar,
    mut check: impl FnMut(LeadInput) -> Result<NewEnrollment, IntakeError>,
    mut good: impl FnMut(NewEnrollment) -> ControlFlow<()>,
) -> anyhow::Result<Vec<RowError>> {
    let mut csv = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(reader);
    let headers = csv.headers().with_context(|| format!("{}: reading the header row", file.display()))?.clone();
    let email_col = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("email"))
        .ok_or_else(|| anyhow!("{}:1: no `email` column in the header row", file.display()))?;
    let mut seen = HashSet::new();
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, csv::Position::line);
                bad.push(RowError { line, message: e.to_string() });
                continue;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        progress.set_position(record.position().map_or(0, csv::Position::byte));
        let mut lead = LeadInput { email: record.get(email_col).unwrap_or("").to_string(), ..LeadInput::default() };
        for (i, (name, value)) in headers.iter().zip(record.iter()).enumerate() {
            if i == email_col || value.is_empty() {
                continue;
            }
            if name.eq_ignore_ascii_case("timezone") {
                lead.timezone = Some(value.to_string());
            } else {
                lead.fields.insert(name.to_string(), value.to_string());
            }
        }
        if !seen.insert(lead.email.to_lowercase()) {
            bad.push(RowError { line, message: format!("email: {} appears earlier in the file", lead.email) });
            continue;
        }
        match check(lead) {
            Ok(row) => {
                if good(row).is_break() {
                    break;
                }
            }
            Err(e) => bad.push(RowError { line, message: e.to_string() }),
        }
    }
    Ok(bad)
}
