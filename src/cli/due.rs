//! `cadenced due [--within DURATION] [--json]`: what will fire, when.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use serde_json::json;

use crate::cadence::Cadences;
use crate::schedule::{Accepted, Unit, Units, parse_duration};
use crate::time::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How far ahead to look: 30m, 12h, 7d, 2w.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    within: String,
    /// Look from TIME instead of now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON document (`{"due": [...], "emails": N, "tasks": N}`) instead of a table.
    #[arg(long)]
    json: bool,
}

/// The longest `--within` in milliseconds: chrono's own limit.
const MAX_MS: u64 = i64::MAX as u64;

/// What `--within` may be written in: `30m`, `12h`, `7d`, `2w` (elapsed time; zero included).
const WITHIN: Units<chrono::Duration> = Units {
    accepted: &[
        Accepted { unit: Unit::Minutes, max: MAX_MS / 60_000, make: |n| span(n, 60_000) },
        Accepted { unit: Unit::Hours, max: MAX_MS / 3_600_000, make: |n| span(n, 3_600_000) },
        Accepted { unit: Unit::Days, max: MAX_MS / 86_400_000, make: |n| span(n, 86_400_000) },
        Accepted { unit: Unit::Weeks, max: MAX_MS / 604_800_000, make: |n| span(n, 604_800_000) },
    ],
    zero: true,
    example: "12h",
};

/// `n` times `ms` milliseconds (the maxima above keep it in range).
fn span(n: u64, ms: u64) -> chrono::Duration {
    i64::try_from(n.saturating_mul(ms))
        .ok()
        .and_then(chrono::Duration::try_milliseconds)
        .unwrap_or(chrono::Duration::MAX)
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let within = parse_duration(&args.within, &WITHIN).map_err(|e| anyhow!("--within: {e}"))?;
    let now = super::now_or(args.at.as_deref())?;
    let cadences = Cadences::load(&config);
    let store = super::open_store(&config)?;
    let rows = store.upcoming(now.checked_add_signed(within).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC))?;
    let overdue = now - crate::tick::downtime_after(&config);
    let pauses = store.pauses()?;
    let kind = |cadence: &Option<String>, step: &Option<String>| {
        let c = cadences.get(cadence.as_deref()?)?;
        Some(c.steps[c.step_index(step.as_deref()?)?].kind.as_str())
    };
    if args.json {
        let due: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "email": r.email, "cadence": r.cadence, "step": r.step, "kind": kind(&r.cadence, &r.step),
                    "due_at": r.next_due_at.map(rfc3339), "overdue": r.next_due_at.is_some_and(|t| t <= now),
                    "reason": r.reason, "overdue": r.next_due_at.is_some_and(|t| t < overdue),
                })
            })
            .collect();
        let emails = due.iter().filter(|d| d["kind"] == "email").count();
        let paused: Vec<_> = pauses
            .iter()
            .map(|p| json!({"mailbox": p.mailbox, "paused_since": rfc3339(p.since), "reason": p.reason}))
            .collect();
        super::print_json(
            &json!({ "due": due, "emails": emails, "tasks": due.len() - emails, "paused_mailboxes": paused }),
        )?;
    } else {
        let emails = rows.iter().filter(|r| kind(&r.cadence, &r.step) == Some("email")).count();
        super::write_stdout(|out| {
            writeln!(
                out,
                "due within {} of {}: {emails} email(s), {} task(s)",
                args.within,
                rfc3339(now),
                rows.len() - emails
            )?;
            for p in &pauses {
                writeln!(
                    out,
                    "mailbox {} is PAUSED since {}: {}; its emails wait until it is resumed",
                    p.mailbox,
                    rfc3339(p.since),
                    p.reason
                )?;
            }
            super::leads::print_table(out, &rows, config.timezone)
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn within_takes_m_h_d_w_and_zero() {
        let accepted = [
            ("30m", chrono::Duration::minutes(30)),
            ("12h", chrono::Duration::hours(12)),
            (" 7d", chrono::Duration::days(7)),
            ("2w", chrono::Duration::weeks(2)),
            ("0m", chrono::Duration::zero()),
            ("153722867280912m", chrono::Duration::minutes(153_722_867_280_912)),
            ("15250284452w", chrono::Duration::weeks(15_250_284_452)),
        ];
        for (text, want) in accepted {
            assert_eq!(parse_duration(text, &WITHIN), Ok(want), "{text:?}");
        }
        let refused = [
            ("", "empty duration: expected a number and a unit, e.g. 12h (units: m, h, d or w)"),
            ("1s", "invalid duration \"1s\": unit must be m, h, d or w, not \"s\""),
            ("1bd", "invalid duration \"1bd\": unit must be m, h, d or w, not \"bd\""),
            ("24", "invalid duration \"24\": missing unit after the number: unit must be m, h, d or w"),
            ("-1d", "invalid duration \"-1d\": cannot be negative (expected e.g. 12h; units: m, h, d or w)"),
            ("153722867280913m", "invalid duration \"153722867280913m\": longer than the maximum of 153722867280912m"),
            ("15250284453w", "invalid duration \"15250284453w\": longer than the maximum of 15250284452w"),
        ];
        for (text, want) in refused {
            assert_eq!(parse_duration(text, &WITHIN).unwrap_err().to_string(), want, "{text:?}");
        }
    }
}
