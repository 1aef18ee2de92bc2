//! `cadenced enroll EMAIL --cadence NAME [--field KEY=VALUE]... [--tz ZONE] [--at TIME] [--verify|--no-verify]`
//!
//! A known lead keeps what it has: its stored fields and zone are used, and
//! `--field`/`--tz` add to or override them; the templates are checked against
//! the result. A lead already in the cadence is left exactly as it is (fields
//! too), whatever the arguments say, and the command says so.
//!
//! With the lead preflight (`--verify`, or `verify_leads = true`), a dead,
//! disposable or malformed address is refused and suppressed, as `import
//! --verify` does; "unknown" (DNS could not tell) is enrolled with a note.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};

use crate::cadence::Fields;
use crate::config::Delivery;
use crate::intake::{self, LeadInput};
use crate::store::{EnrollOutcome, LeadView};
use crate::time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lead's address.
    email: String,
    /// The cadence to enroll the lead in.
    #[arg(long, value_name = "NAME")]
    cadence: String,
    /// A field for the templates, e.g. --field first_name=Jane (repeatable);
    /// adds to or overrides a known lead's stored fields.
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// The lead's time zone (IANA name); default: the lead's stored zone, else the config's.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[command(flatten)]
    verify: super::verify::Flags,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let cadence = super::cadence(&cadences, &args.cadence)?;
    let now = super::now_or(args.at.as_deref())?;
    let (given, given_tz) = parse_fields(&args.fields, args.tz.as_deref())?;
    let mut store = super::open_store(&config)?;
    let known = store.lead(args.email.trim()).context("reading the lead")?;
    if let Some(reason) = known.as_ref().and_then(|l| l.suppressed.as_ref()) {
        // Before anything else: this address is never mailed again.
        bail!("{} is on the suppression list ({reason}): not enrolled", args.email.trim());
    }
    if let Some(lead) = &known
        && let Some(e) = lead.enrollments.iter().find(|e| e.cadence == cadence.name)
    {
        // The README's promise: enrolling again changes nothing, not even the fields.
        outln!("{} is already in {} ({}): nothing changed{}", lead.email, e.cadence, e.state, ignored(lead, &given));
        return Ok(ExitCode::SUCCESS);
    }
    let preflight = if args.verify.wanted(&config) {
        let email = args.email.trim();
        let check = super::verify::lookup(&config, [email])?.check(email);
        if check.verdict.refuses() {
            let reason = crate::core::verify::suppression_reason(&check.verdict);
            store.refuse(email, &reason, now).context("suppressing the address")?;
            bail!("{email}: {}: not enrolled, suppressed", super::verify::describe(&check));
        }
        if check.role {
            eprintln!("warning: {email} is a role address, not a person");
        }
        Some(check)
    } else {
        None
    };
    let stored = known.as_ref().map(|l| l.fields.clone()).unwrap_or_default();
    let mut fields = stored.clone();
    fields.extend(given);
    let timezone = given_tz.clone().or_else(|| known.as_ref().and_then(|l| l.timezone.clone()));
    let lead = LeadInput { email: args.email.clone(), fields, timezone };
    let row = intake::prepare(&lead, cadence, &config, now).map_err(|e| {
        let add: Vec<String> = e.missing.iter().map(|f| format!("--field {f}=...")).collect();
        let hint = if add.is_empty() { String::new() } else { format!("; add {}", add.join(" ")) };
        anyhow!("cannot enroll {}: {e}{hint}", args.email)
    })?;
    let outcome = store.enroll_many(std::slice::from_ref(&row), now).context("enrolling")?.into_iter().next();
    let tz = config.lead_zone(row.timezone.as_deref());
    match outcome {
        Some(EnrollOutcome::Suppressed(reason)) => {
            bail!("{} is on the suppression list ({reason}): not enrolled", row.email);
        }
        Some(EnrollOutcome::AlreadyEnrolled(state)) => {
            // Enrolled by someone else since the lead was read.
            outln!("{} is already in {} ({}): nothing changed", row.email, row.cadence, state.as_str());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let changes = match &known {
        None => String::new(),
        Some(lead) => match changed(&stored, &row.fields, lead.timezone.as_deref(), given_tz.as_deref()) {
            c if c.is_empty() => "kept its stored fields; ".to_string(),
            c => format!("{}; ", c.join(", ")),
        },
    };
    outln!(
        "{changes}enrolled {} in {}: first step {} due {}",
        row.email,
        row.cadence,
        row.first_step,
        time::human(row.due_at, tz)
    );
    if let Some(check) = preflight.filter(|c| matches!(c.verdict, crate::core::verify::Verdict::Unknown(_))) {
        outln!("note: the preflight could not verify it: {}", check.verdict.reason());
    }
    // Only where nothing leaves the machine: a tick in virtual time would send
    // a real email ahead of its time.
    if config.mailboxes.get(&cadence.mailbox).is_some_and(|m| matches!(m.delivery, Delivery::Outbox(_))) {
        outln!(
            "to write it into the outbox now, in virtual time: {}",
            super::command_line(config_path, &format!("tick --at {}", time::rfc3339(row.due_at)))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--field KEY=VALUE` pairs (an empty value is no field) and the zone, which
/// `--tz` or a `timezone` field gives.
fn parse_fields(pairs: &[String], tz: Option<&str>) -> Result<(Fields, Option<String>)> {
    let mut fields = Fields::new();
    let mut timezone = tz.map(str::to_string);
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--field {pair:?}: expected KEY=VALUE, e.g. --field first_name=Jane"))?;
        let (key, value) = (key.trim(), value.trim());
        match key {
            "timezone" if timezone.is_none() => timezone = Some(value.to_string()),
            _ if !value.is_empty() => {
                fields.insert(key.to_string(), value.to_string());
            }
            _ => {}
        }
    }
    Ok((fields, timezone))
}

/// What enrolling changed on a known lead: `updated first_name`, `added phone`, `timezone ...`.
fn changed(stored: &Fields, merged: &Fields, stored_tz: Option<&str>, given_tz: Option<&str>) -> Vec<String> {
    let updated: Vec<&str> =
        merged.iter().filter(|(k, v)| stored.get(*k).is_some_and(|s| s != *v)).map(|(k, _)| k.as_str()).collect();
    let added: Vec<&str> = merged.keys().filter(|k| !stored.contains_key(*k)).map(String::as_str).collect();
    let mut changes = Vec::new();
    if !updated.is_empty() {
        changes.push(format!("updated {}", updated.join(", ")));
    }
    if !added.is_empty() {
        changes.push(format!("added {}", added.join(", ")));
    }
    if let Some(tz) = given_tz.filter(|tz| Some(*tz) != stored_tz) {
        changes.push(format!("timezone now {tz}"));
    }
    changes
}

/// For a lead already enrolled: the `--field` values that differ from what
/// is stored, which were not applied.
fn ignored(lead: &LeadView, given: &Fields) -> String {
    let differing: Vec<String> = given
        .iter()
        .filter(|(k, v)| lead.fields.get(*k) != Some(*v))
        .map(|(k, v)| match lead.fields.get(k) {
            Some(old) => format!("{k}={v} (stored: {old})"),
            None => format!("{k}={v}"),
        })
        .collect();
    if differing.is_empty() {
        String::new()
    } else {
        format!(" (its fields too; not applied: {})", differing.join(", "))
    }
}
