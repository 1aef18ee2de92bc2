//! `cadenced reconcile [--since TIME] [--mailbox NAME] [--json]`: records the
//! sends found in each mailbox's Sent folder (or outbox) that the database
//! lacks, as after a restore (the daemon does it by itself when it notices
//! one); `cadenced reconcile --confirm-unreadable NAME`: a mailbox with no
//! Sent folder to read, held after a restore, sends again.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use crate::store::DispatchLock;
use crate::tick::restore;
use crate::time::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read the sent mail from TIME on (RFC 3339; default: a day before the last send the database has).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only this mailbox.
    #[arg(long, value_name = "NAME")]
    mailbox: Option<String>,
    /// Confirm that mailbox NAME's sends since a restore cannot be read back
    /// (no Sent folder): its hold ends and it sends again. Check its sent mail by hand first.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["since", "mailbox"])]
    confirm_unreadable: Option<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let super::Context { config, cadences, now, mut store } = super::Context::load(config_path, args.at.as_deref())?;
    let unknown = |name: &str| super::unknown_mailbox(&config, name);
    // No tick runs meanwhile: what is read and recorded is not being sent.
    let _lock = DispatchLock::acquire(&config.database).context("waiting for the tick in progress")?;
    if let Some(name) = &args.confirm_unreadable {
        if !config.mailboxes.contains_key(name) {
            return Err(unknown(name));
        }
        let theirs: Vec<String> =
            cadences.by_name.values().filter(|c| &c.mailbox == name).map(|c| c.name.clone()).collect();
        let hold = store.confirm_unreadable(name, &theirs, now)?;
        match (&hold, args.json) {
            (_, true) => super::print_json(&json!({
                "mailbox": name,
                "confirmed": hold.is_some(),
                "since": hold.as_ref().map(|h| rfc3339(h.since)),
            }))?,
            (Some(h), false) => outln!(
                "mailbox {name}: hold ended; its sends since {} were not reconciled (confirmed by you); \
                 its held steps are due now",
                rfc3339(h.since)
            ),
            (None, false) => outln!("mailbox {name} is not held: nothing changed"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &args.mailbox
        && !config.mailboxes.contains_key(name)
    {
        return Err(unknown(name));
    }
    let restored = restore::notice(&mut store, &config, now)?;
    let since = match &args.since {
        Some(text) => crate::time::parse_instant(text).map_err(|e| anyhow!("--since: {e}"))?,
        None => store.last_send_at()?.unwrap_or(now) - chrono::Duration::days(1),
    };
    let mut skipped = Vec::new();
    for (name, mailbox) in &config.mailboxes {
        if args.mailbox.as_ref().is_some_and(|m| m != name) {
            continue;
        }
        match restore::unreadable(mailbox) {
            // Asked by hand: reported, not held (a restore holds it by itself).
            Some(why) => skipped.push((name.clone(), why)),
            None => {
                store.open_reconciliation(name, since, "asked for (cadenced reconcile)", now)?;
            }
        }
    }
    let done = restore::reconcile_open(&mut store, &config, &cadences, now)?;
    if restored.is_none() && done.iter().any(|r| r.recorded > 0) {
        // The database lagged what left although nothing beside it said so
        // (its send mark was restored with it): a new instance all the same.
        restore::renew(&mut store, &config)?;
    }
    let held = store.holds()?;
    if args.json {
        return super::print_json(&json!({
            "restored": restored,
            "reconciled": done.iter().map(|r| json!({
                "mailbox": r.mailbox, "state": r.state, "since": rfc3339(r.since),
                "found": r.found, "recorded": r.recorded, "detail": r.detail,
            })).collect::<Vec<_>>(),
            "unreadable": skipped.iter().map(|(m, why)| json!({"mailbox": m, "why": why})).collect::<Vec<_>>(),
            "held": held.iter().map(|h| json!({
                "mailbox": h.mailbox, "since": rfc3339(h.since), "reason": h.describe(),
            })).collect::<Vec<_>>(),
        }))
        .map(|()| ExitCode::SUCCESS);
    }
    if let Some(why) = &restored {
        outln!("restored database: {why}");
    }
    for r in &done {
        outln!("mailbox {}: {}: {}", r.mailbox, r.state, r.detail);
    }
    for (name, why) in &skipped {
        outln!("mailbox {name}: not reconciled: {why}");
    }
    for h in &held {
        outln!("mailbox {} held: {}", h.mailbox, h.describe());
    }
    Ok(ExitCode::SUCCESS)
}
