//! `cadenced mark EMAIL replied [--cadence NAME] [--note TEXT]`: a reply
//! that came some other way (a phone call, a meeting) stops the lead's
//! cadences as a reply from the inbox would, and is in its timeline.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cadence::StopOn;
use crate::model::{Effect, InboundKind, Matched, State};
use crate::store::{InboundMessage, Source};

/// What happened.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum What {
    /// The lead answered.
    Replied,
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
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let What::Replied = args.what;
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let now = super::now_or(args.at.as_deref())?;
    let mut store = super::open_store(&config)?;
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
