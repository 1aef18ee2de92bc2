//! `cadenced mark EMAIL replied [--cadence NAME] [--note TEXT]`: a reply
//! that came some other way (a phone call, a meeting) stops the lead's
//! cadences as a reply from the inbox would, and is in its timeline.
//!
//! `cadenced mark EMAIL meeting|won|lost [--value AMOUNT] [--note TEXT]`:
//! an outcome, credited to the step and variant whose email the lead
//! replied to, else to its last touch; `won` and `lost` end the lead's
//! active and paused cadences (see [`crate::store::Store::record_outcome`]).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cadence::StopOn;
use crate::model::{Effect, InboundKind, Matched, State};
use crate::store::{InboundMessage, NewOutcome, OutcomeKind, Source};

/// What happened.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum What {
    /// The lead answered.
    Replied,
    /// A meeting was booked.
    Meeting,
    /// A deal was won (ends the lead's cadences).
    Won,
    /// A deal was lost (ends the lead's cadences).
    Lost,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lead's address.
    email: String,
    /// What happened.
    #[arg(value_enum)]
    what: What,
    /// Only this cadence (default: every cadence of the lead that stops on a reply).
    #[arg(long, value_name = "NAME")]
    cadence: Option<String>,
    /// A note for the timeline ("called back, interested in March").
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// An outcome's amount (a deal's value), a number such as 1200 or 1200.50.
    #[arg(long, value_name = "AMOUNT")]
    value: Option<String>,
    /// Print what was recorded as one JSON document.
    #[arg(long)]
    json: bool,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let kind = match args.what {
        What::Replied => None,
        What::Meeting => Some(OutcomeKind::Meeting),
        What::Won => Some(OutcomeKind::Won),
        What::Lost => Some(OutcomeKind::Lost),
    };
    if let Some(kind) = kind {
        return outcome(config_path, &args, kind);
    }
    if args.value.is_some() {
        bail!("--value: only an outcome (meeting, won, lost) has a value");
    }
    let super::Context { config: _, cadences, now, mut store } = super::Context::load(config_path, args.at.as_deref())?;
    let email = args.email.trim();
    let Some((lead, _, _)) = store.match_lead(&[], &[email])? else {
        bail!("no lead {email} (`cadenced leads` lists them)");
    };
    let running: Vec<String> = store
        .enrollments_of(lead.id)?
        .into_iter()
        .filter(|e| matches!(e.state, State::Active | State::Paused))
        .map(|e| e.cadence)
        .filter(|c| args.cadence.as_ref().is_none_or(|only| only == c))
        .collect();
    if let Some(only) = &args.cadence
        && running.is_empty()
    {
        bail!("{email} is not active or paused in {only} (`cadenced status {email}` shows its enrollments)");
    }
    let stops: Vec<String> = running
        .iter()
        .filter(|c| cadences.get(c).is_none_or(|cad| cad.stop_on.contains(&StopOn::Reply)))
        .cloned()
        .collect();
    let note = args.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
    let detail = if stops.is_empty() {
        format!("marked replied by hand{note}; no running cadence of the lead stops on a reply")
    } else {
        format!("marked replied by hand{note}: stopped {}", stops.join(", "))
    };
    let effect = if stops.is_empty() { Effect::None } else { Effect::Replied { cadences: stops.clone() } };
    let mailbox = running.iter().find_map(|c| cadences.get(c).map(|cad| cad.mailbox.clone())).unwrap_or_default();
    let record = InboundMessage {
        source: Source::Mark,
        uid: store.next_manual_uid(&mailbox, Source::Mark)?,
        mailbox,
        folder: "mark".into(),
        uidvalidity: 0,
        kind: InboundKind::Reply,
        at: now,
        permanent: None,
        subject: args.note.clone(),
        message_id: None,
        sender: Some(lead.email.clone()),
        matched: Some(Matched::Address),
        answers: store.last_email_before(lead.id, now)?,
        reason: None,
    };
    store.handle_inbound(&record, Some((lead.id, lead.email.as_str())), &effect, &detail, now)?;
    outln!("{}: {detail}", lead.email);
    Ok(ExitCode::SUCCESS)
}

/// Records outcome `kind` for the lead.
fn outcome(config_path: &Path, args: &Args, kind: OutcomeKind) -> Result<ExitCode> {
    if args.cadence.is_some() {
        bail!("--cadence: an outcome is credited to the step the lead answered (or its last touch), in any cadence");
    }
    let value = args
        .value
        .as_deref()
        .map(crate::store::parse_amount)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--value: {e}"))?;
    let config = super::load_config(config_path)?;
    let now = super::now_or(args.at.as_deref())?;
    let mut store = super::open_store(&config)?;
    let email = args.email.trim();
    let new = NewOutcome { email, kind, value, at: now, note: args.note.as_deref(), source: "cli" };
    let Some(recorded) = store.record_outcome(&new, now)? else {
        bail!("no lead {email} (`cadenced leads` lists them)");
    };
    tracing::info!(lead = %recorded.email, outcome = kind.as_str(), cadence = recorded.cadence.as_deref().unwrap_or("-"),
                   step = recorded.step.as_deref().unwrap_or("-"), variant = recorded.variant.as_deref().unwrap_or("-"),
                   "outcome recorded");
    if args.json {
        super::print_json(&serde_json::to_value(&recorded)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}: {}", recorded.email, describe(&recorded));
    Ok(ExitCode::SUCCESS)
}

/// What recording an outcome did, in a line.
pub fn describe(r: &crate::store::Recorded) -> String {
    let value = r.value.map(|v| format!(" ({v})")).unwrap_or_default();
    let credit = match (&r.cadence, &r.step, &r.variant) {
        (Some(c), Some(s), Some(v)) => format!("credited to {c}/{s}, variant {v}"),
        (Some(c), Some(s), None) => format!("credited to {c}/{s}"),
        _ => "no touch to credit it to".to_string(),
    };
    let how = match r.credited_by {
        Some("replied") => " (the email the lead replied to)",
        Some(_) => " (the lead's last touch)",
        None => "",
    };
    let ended = if r.ended.is_empty() { String::new() } else { format!("; stopped {}", r.ended.join(", ")) };
    format!("{}{value} recorded, {credit}{how}{ended}", r.outcome.as_str())
}
