//! `cadenced mailboxes [--json]`: each sending mailbox, active or paused and
//! why, with its sent, bounce and complaint counts and rates over the last 7
//! days; `cadenced mailboxes resume NAME`: a paused mailbox sends again.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::Duration;
use serde_json::json;

use crate::store::MailboxCounts;
use crate::time::rfc3339;

/// The span `mailboxes` counts over.
const DAYS: i64 = 7;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME", global = true)]
    at: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Let a mailbox that paused itself send again.
    Resume {
        /// The mailbox (its [mailboxes.NAME] table).
        name: String,
    },
}

fn rate(part: u32, whole: u32) -> f64 {
    if whole == 0 { 0.0 } else { f64::from(part) / f64::from(whole) }
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let now = super::now_or(args.at.as_deref())?;
    let mut store = super::open_store(&config)?;
    if let Some(Action::Resume { name }) = &args.action {
        if !config.mailboxes.contains_key(name) {
            return Err(super::unknown_mailbox(&config, name));
        }
        let cadences = super::load_cadences(&config, false)?;
        let theirs: Vec<String> =
            cadences.by_name.values().filter(|c| &c.mailbox == name).map(|c| c.name.clone()).collect();
        match store.resume_mailbox(name, None, &theirs, now)? {
            Some(pause) => outln!(
                "mailbox {name} resumed (paused since {}: {}); its held steps are due now",
                rfc3339(pause.since),
                pause.reason
            ),
            None => outln!("mailbox {name} is not paused: nothing changed"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pauses = store.pauses()?;
    let since = now - Duration::days(DAYS);
    let mut rows = Vec::new();
    for name in config.mailboxes.keys() {
        let counts: MailboxCounts = store.mailbox_counts(name, since, now + Duration::seconds(1))?;
        let pause = pauses.iter().find(|p| &p.mailbox == name);
        rows.push((name, counts, pause));
    }
    if args.json {
        let mailboxes: Vec<_> = rows
            .iter()
            .map(|(name, c, pause)| {
                json!({
                    "mailbox": name,
                    "state": if pause.is_some() { "paused" } else { "active" },
                    "paused_since": pause.map(|p| rfc3339(p.since)),
                    "reason": pause.map(|p| p.reason.clone()),
                    "since": rfc3339(since),
                    "sent": c.sent,
                    "bounced": c.bounced,
                    "refused": c.refused,
                    "complaints": c.complaints,
                    "bounce_rate": rate(c.bounced, c.sent),
                    "complaint_rate": rate(c.complaints, c.sent),
                    "pause_cause": pause.map(|p| p.cause.as_str()),
                    "oauth2": config.mailboxes.get(*name).and_then(|m| m.oauth2.as_deref()).map(oauth_json),
                })
            })
            .collect();
        super::print_json(&json!({ "mailboxes": mailboxes }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for (name, c, pause) in rows {
        let state = match pause {
            Some(p) => format!("PAUSED since {}: {}", rfc3339(p.since), p.reason),
            None => "active".to_string(),
        };
        outln!("{name}: {state}");
        if let Some(oauth) = config.mailboxes.get(name).and_then(|m| m.oauth2.as_deref()) {
            match crate::oauth::token_file::load(&oauth.token_file) {
                Ok(t) => outln!(
                    "  OAuth ({}): {} signed in {}, access token until {}, refresh token last used {}",
                    oauth.provider.name(),
                    t.account,
                    rfc3339(t.signed_in_at),
                    rfc3339(t.expires_at),
                    rfc3339(t.refresh_used_at)
                ),
                Err(e) => outln!("  OAuth ({}): {e}", oauth.provider.name()),
            }
        }
        outln!(
            "  last {DAYS} days: {} sent, {} bounced ({:.1}%), {} refused for the sender, {} complaints ({:.2}%)",
            c.sent,
            c.bounced,
            100.0 * rate(c.bounced, c.sent),
            c.refused,
            c.complaints,
            100.0 * rate(c.complaints, c.sent)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// An OAuth mailbox's sign-in, as far as its token file tells (no token shown).
fn oauth_json(oauth: &crate::config::OAuth2) -> serde_json::Value {
    match crate::oauth::token_file::load(&oauth.token_file) {
        Ok(t) => json!({
            "provider": oauth.provider.name(),
            "signed_in": true,
            "account": t.account,
            "scopes": t.scopes,
            "signed_in_at": rfc3339(t.signed_in_at),
            "access_token_expires_at": rfc3339(t.expires_at),
            "refresh_token_last_used_at": rfc3339(t.refresh_used_at),
            "has_refresh_token": t.refresh_token.is_some(),
            "token_file": oauth.token_file.display().to_string(),
        }),
        Err(e) => json!({
            "provider": oauth.provider.name(),
            "signed_in": false,
            "account": oauth.account,
            "scopes": oauth.scopes,
            "error": e.to_string(),
            "token_file": oauth.token_file.display().to_string(),
        }),
    }
}
