//! Checking a lead before it is enrolled: its address, zone and fields, and that
//! every step of the cadence renders for it. Pure: the enrollment instant is an
//! argument, the result is a row for the store.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::Context;
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
    /// The fields a template needs that the lead lacks (when that is the problem).
    pub missing: Vec<String>,
}

fn bad(field: &str, message: String) -> IntakeError {
    IntakeError { field: field.to_string(), message, missing: Vec::new() }
}

/// A known lead's stored fields and zone, for [`Intake::check_known`].
pub type Stored = (Fields, Option<String>);

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
        self.check_known(lead, |_| None)
    }

    /// [`check`](Self::check) for a lead that may be known: when the
    /// templates need fields the lead lacks, `stored` is asked for the known
    /// lead's fields and zone, which fill in what the lead does not give (as
    /// enrolling merges them). Asked only then: most leads have what they
    /// need, and looking each one up would cost an import its speed.
    pub fn check_known(
        &mut self,
        mut lead: LeadInput,
        stored: impl FnOnce(&str) -> Option<Stored>,
    ) -> Result<NewEnrollment, IntakeError> {
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
        let keys = cadence.template_keys();
        let renders = |fields: &Fields| {
            cadence.templates.check_lead(keys.iter().map(String::as_str), &email, fields).map_err(|e| {
                let field = e.missing.first().cloned().unwrap_or_else(|| "template".into());
                IntakeError { missing: e.missing.clone(), ..bad(&field, e.to_string()) }
            })
        };
        if let Err(e) = renders(&lead.fields) {
            let Some((mut fields, timezone)) = (!e.missing.is_empty()).then(|| stored(&email)).flatten() else {
                return Err(e);
            };
            fields.extend(std::mem::take(&mut lead.fields));
            renders(&fields)?;
            lead.fields = fields;
            lead.timezone = lead.timezone.or(timezone);
        }
        let tz: Tz = match &lead.timezone {
            Some(name) => crate::time::parse_zone(name).map_err(|e| bad("timezone", e.to_string()))?,
            None => config.timezone,
        };
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
                let when = config.lead_time(cadence.calendar.as_deref(), Some(tz.name()), &lead.fields);
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

/// What reading a file found besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// The rows that could not be enrolled.
    pub errors: Vec<RowError>,
    /// How the header was read, when it needed reading with care (a column
    /// renamed to the templates' spelling, a `;` or tab separator).
    pub notes: Vec<String>,
}

/// Reads and checks every row: the rows to enroll, and the rejected ones.
pub fn read_rows(
    file: &Path,
    reader: impl std::io::Read,
    progress: &ProgressBar,
    mut check: impl FnMut(&LeadInput) -> Result<NewEnrollment, IntakeError>,
) -> anyhow::Result<(Vec<NewEnrollment>, Vec<RowError>)> {
    let mut good = Vec::new();
    let read = read_rows_each(
        file,
        reader,
        progress,
        &BTreeSet::new(),
        |lead| check(&lead),
        |row| {
            good.push(row);
            ControlFlow::Continue(())
        },
    )?;
    Ok((good, read.errors))
}

/// The separators a header row is tried with, in order: the first under
/// which the header has an `email` column is the file's.
const SEPARATORS: [u8; 3] = [b',', b';', b'\t'];

/// The separator of a file whose first line is `header`: `,` unless only
/// `;` or a tab makes an `email` column of it (a spreadsheet's "CSV" in many
/// locales).
pub fn separator(header: &[u8]) -> u8 {
    let header = header.strip_prefix(b"\xef\xbb\xbf").unwrap_or(header);
    let has_email = |sep: u8| {
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).delimiter(sep).trim(csv::Trim::All).from_reader(header);
        let mut record = csv::ByteRecord::new();
        reader.read_byte_record(&mut record).is_ok_and(|_| record.iter().any(|h| h.eq_ignore_ascii_case(b"email")))
    };
    SEPARATORS.into_iter().find(|sep| has_email(*sep)).unwrap_or(b',')
}

/// `First Name`, `first-name`, `FIRST_NAME` all read as `first_name`.
fn spelling(name: &str) -> String {
    name.trim().to_lowercase().replace([' ', '-'], "_")
}

/// The field each column fills: its own name, or the templates' spelling of
/// it (`variables`) when the column matches one of them but for case,
/// spaces and hyphens, the templates do not use the column's own name, and
/// no other column matches that variable too.
fn column_names(headers: &csv::StringRecord, variables: &BTreeSet<String>, notes: &mut Vec<String>) -> Vec<String> {
    headers
        .iter()
        .map(|h| {
            if variables.contains(h) {
                return h.to_string();
            }
            let mut matching = variables.iter().filter(|v| spelling(v) == spelling(h));
            let (Some(v), None) = (matching.next(), matching.next()) else { return h.to_string() };
            // Only one column may claim a variable: of two spellings, neither is guessed.
            if headers.iter().filter(|other| spelling(other) == spelling(v)).count() > 1 {
                return h.to_string();
            }
            notes.push(format!("column {h:?} is read as the field {v} (the templates' spelling)"));
            v.clone()
        })
        .collect()
}

/// Why a row lacks `field`, from the header: no such column, one spelled
/// differently, or an empty cell.
fn missing_hint(field: &str, names: &[String], headers: &csv::StringRecord) -> String {
    if names.iter().any(|n| n == field) {
        return format!(" (its {field} cell is empty)");
    }
    match headers.iter().find(|h| spelling(h) == spelling(field)) {
        Some(h) => format!(" (the file has a column {h:?}: rename it {field})"),
        None => format!(" (the file has no {field} column: add one)"),
    }
}

/// A CSV file opened at its header row: the reader, the separator guessed
/// from the first line (`,`, `;` or tab), the header and the `email` column
/// (an error that names the file and says what to rename when there is none).
fn open_csv<R: std::io::Read>(
    file: &Path,
    reader: R,
) -> anyhow::Result<(csv::Reader<std::io::BufReader<R>>, u8, csv::StringRecord, usize)> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(reader);
    let start = reader.fill_buf().with_context(|| format!("{}: reading the header row", file.display()))?;
    let sep = separator(start.split(|b| *b == b'\n').next().unwrap_or_default());
    let mut csv = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).delimiter(sep).from_reader(reader);
    let headers = csv.headers().with_context(|| format!("{}: reading the header row", file.display()))?.clone();
    let Some(email_col) = headers.iter().position(|h| h.eq_ignore_ascii_case("email")) else {
        let listed: Vec<&str> = headers.iter().take(8).collect();
        let hint = match headers.iter().find(|h| h.to_lowercase().contains("mail")) {
            Some(h) => format!("rename the column {h:?} to email"),
            None => "the first row must name the columns, one of them email".to_string(),
        };
        anyhow::bail!(
            "{}:1: no `email` column in the header row (found: {}): {hint}",
            file.display(),
            listed.join(", ")
        );
    };
    Ok((csv, sep, headers, email_col))
}

/// Reads and checks every row, handing each good one to `good` as soon as it
/// is checked (an import enrolls it while the next rows are read); returns
/// the rejected ones and notes on how the header was read. Stops early, with
/// the rows read so far, when `good` breaks. `variables` are the fields the
/// cadence's templates use: a column spelled like one of them but for case,
/// spaces or hyphens fills it.
pub fn read_rows_each(
    file: &Path,
    reader: impl std::io::Read,
    progress: &ProgressBar,
    variables: &BTreeSet<String>,
    mut check: impl FnMut(LeadInput) -> Result<NewEnrollment, IntakeError>,
    mut good: impl FnMut(NewEnrollment) -> ControlFlow<()>,
) -> anyhow::Result<ReadReport> {
    let (mut csv, sep, headers, email_col) = open_csv(file, reader)?;
    let mut notes = Vec::new();
    if sep != b',' {
        let name = if sep == b'\t' { "tabs" } else { "';'" };
        notes.push(format!("columns are separated by {name}"));
    }
    let names = column_names(&headers, variables, &mut notes);
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
        for (i, (name, value)) in names.iter().zip(record.iter()).enumerate() {
            if i == email_col || value.is_empty() {
                continue;
            }
            if name.eq_ignore_ascii_case("timezone") {
                lead.timezone = Some(value.to_string());
            } else {
                lead.fields.insert(name.clone(), value.to_string());
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
            Err(e) => {
                let hint = e.missing.first().map(|f| missing_hint(f, &names, &headers)).unwrap_or_default();
                bad.push(RowError { line, message: format!("{e}{hint}") });
            }
        }
    }
    Ok(ReadReport { errors: bad, notes })
}

/// Every row's address with its line, and nothing else checked: the lead
/// preflight's first pass over a file, which must know every domain before
/// the first row is enrolled. Rows the CSV reader cannot read are left to
/// the second pass to report.
pub fn read_emails(file: &Path, reader: impl std::io::Read) -> anyhow::Result<Vec<(u64, String)>> {
    let (mut csv, _, _, email_col) = open_csv(file, reader)?;
    let mut emails = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) => continue,
        }
        let line = record.position().map_or(line, csv::Position::line);
        emails.push((line, record.get(email_col).unwrap_or("").trim().to_string()));
    }
    Ok(emails)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_is_the_one_that_makes_an_email_column() {
        assert_eq!(separator(b"email,first_name"), b',');
        assert_eq!(separator(b"Email;First_Name;company"), b';');
        assert_eq!(separator(b"first_name\temail"), b'\t');
        assert_eq!(separator(b"\"email;x\",y"), b',', "a quoted ';' is not a separator");
        assert_eq!(separator(b"name;mail"), b',', "no email column under any: the default");
        assert_eq!(separator(b""), b',');
        assert_eq!(separator(b"\xef\xbb\xbfemail;name"), b';', "a byte order mark is not part of the name");
    }

    #[test]
    fn columns_take_the_templates_spelling_only_when_it_is_unambiguous() {
        let vars: BTreeSet<String> = ["first_name", "company"].map(String::from).into();
        let headers = csv::StringRecord::from(vec!["email", "First_Name", "COMPANY", "phone"]);
        let mut notes = Vec::new();
        assert_eq!(column_names(&headers, &vars, &mut notes), ["email", "first_name", "company", "phone"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(notes[0], "column \"First_Name\" is read as the field first_name (the templates' spelling)");
        // Two columns for one variable: each keeps its own name.
        let headers = csv::StringRecord::from(vec!["email", "First Name", "first_name"]);
        let mut notes = Vec::new();
        assert_eq!(column_names(&headers, &vars, &mut notes), ["email", "First Name", "first_name"]);
        assert!(notes.is_empty());
    }

    #[test]
    fn a_missing_field_is_explained_from_the_header() {
        let headers = csv::StringRecord::from(vec!["email", "First-Name", "First Name", "Company"]);
        let names = ["email", "First-Name", "First Name", "company"].map(String::from);
        assert_eq!(missing_hint("company", &names, &headers), " (its company cell is empty)");
        assert_eq!(
            missing_hint("first_name", &names, &headers),
            " (the file has a column \"First-Name\": rename it first_name)"
        );
        assert_eq!(missing_hint("phone", &names, &headers), " (the file has no phone column: add one)");
    }
}
