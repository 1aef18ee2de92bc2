//! `cadenced report [--cadence NAME] [--since DATE] [--until DATE] [--json]`:
//! per cadence and step, what the touchpoints of the period came to; per
//! mailbox, its bounce and complaint rates. Read from the tallies the
//! database keeps (see [`crate::core::report`]), never from a scan.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use chrono_tz::Tz;

use crate::core::report::{self, Defined, Period, Report};
use crate::time::Human;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this cadence.
    #[arg(long, value_name = "NAME")]
    cadence: Option<String>,
    /// From DATE on: YYYY-MM-DD (the start of that day in the config's zone) or RFC 3339.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Up to DATE, excluded (default now): YYYY-MM-DD or RFC 3339.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let tz = config.timezone;
    let since =
        args.since.as_deref().map(|s| report::parse_date(s, tz)).transpose().map_err(|e| anyhow!("--since: {e}"))?;
    let now = super::now_or(None)?;
    let until = match args.until.as_deref() {
        Some(text) => report::parse_date(text, tz).map_err(|e| anyhow!("--until: {e}"))?,
        None => now,
    };
    if since.is_some_and(|s| s >= until) {
        bail!("--since must be before --until");
    }
    let mut store = super::open_store(&config)?;
    // Yesterday's quarter hours into a day row, once a day; without it the report is as right, only slower.
    if let Err(e) = store.roll_up_tallies(now) {
        eprintln!("warning: cannot roll up the tallies of past days: {e}");
    }
    if let Some(name) = &args.cadence
        && cadences.get(name).is_none()
        && store.enrollment_states(Some(name))?.is_empty()
    {
        return Err(super::unknown_cadence(&cadences, name));
    }
    let mailboxes = config.mailboxes.keys().cloned().collect();
    let report =
        store.report(Period::new(since, until), Defined::all(&cadences), args.cadence.as_deref(), mailboxes)?;
    if args.json {
        // Straight from the structs, so that the fields keep their documented order.
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", to_text(&report, tz, std::io::stdout().is_terminal()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as tables, each step's funnel as a bar (`bars`: on a terminal).
pub fn to_text(report: &Report, tz: Tz, bars: bool) -> String {
    let mut out = String::new();
    let until = crate::time::parse_instant(&report.until).map(|t| Human(t, tz).to_string()).unwrap_or_default();
    let since = report
        .since
        .as_deref()
        .and_then(|s| crate::time::parse_instant(s).ok())
        .map_or_else(|| "the beginning".to_string(), |t| Human(t, tz).to_string());
    let _ = writeln!(out, "From {since} until {until}: touchpoints of the period and what became of them.");
    if report.cadences.is_empty() {
        let _ = writeln!(out, "\nNo cadence has leads yet.");
    }
    for c in &report.cadences {
        let states: Vec<String> =
            c.states.iter().filter(|(_, n)| **n > 0).map(|(state, n)| format!("{n} {state}")).collect();
        let orphan = if c.orphaned { "  [orphaned: the cadence file is gone]" } else { "" };
        let states = if states.is_empty() { String::new() } else { format!(" ({})", states.join(", ")) };
        let _ = writeln!(out, "\n{}: {} enrolled{states}{orphan}", c.cadence, c.enrolled);
        let _ = writeln!(
            out,
            "  {:<14} {:<8} {:>8} {:>8} {:>6} {:>7} {:>6} {:>8} {:>12} {:>7} {:>7} {:>6} {:>6} {:>9}",
            "step",
            "kind",
            "reached",
            "sent",
            "done",
            "skipped",
            "failed",
            "bounced",
            "(dead/sender)",
            "replied",
            "rate",
            "unsub",
            "auto",
            "median h"
        );
        let widest = c.steps.iter().map(|s| s.reached).max().unwrap_or(0);
        for s in &c.steps {
            let manual = s.kind != "email";
            let dash = |n: u64, applies: bool| if applies { n.to_string() } else { "-".into() };
            let median = s.median_hours_to_reply.map_or_else(|| "-".into(), |h| format!("{h:.1}"));
            let rate = if manual { "-".into() } else { format!("{:.1}%", s.reply_rate * 100.0) };
            let removed = if s.removed { "  (removed)" } else { "" };
            let bar = if bars { format!("  {}", report::bar(s.reached, widest, 24)) } else { String::new() };
            let _ = writeln!(
                out,
                "  {:<14} {:<8} {:>8} {:>8} {:>6} {:>7} {:>6} {:>8} {:>12} {:>7} {:>7} {:>6} {:>6} {:>9}{bar}{removed}",
                s.step,
                s.kind,
                s.reached,
                dash(s.sent, !manual),
                dash(s.done, manual),
                s.skipped,
                s.failed,
                dash(s.bounced, !manual),
                if manual { "-".to_string() } else { format!("({}/{})", s.bounced_dead, s.bounced_sender) },
                dash(s.replied, !manual),
                rate,
                dash(s.unsubscribed, !manual),
                dash(s.auto_replies, !manual),
                median,
            );
        }
        for s in &c.steps {
            tests_text(&mut out, s, tz);
        }
    }
    if !report.mailboxes.is_empty() {
        let _ = writeln!(out, "\nmailboxes");
        let _ = writeln!(
            out,
            "  {:<14} {:>8} {:>8} {:>12} {:>8} {:>11} {:>9}",
            "mailbox", "sent", "bounced", "(dead/sender)", "rate", "complaints", "rate"
        );
        for m in &report.mailboxes {
            let _ = writeln!(
                out,
                "  {:<14} {:>8} {:>8} {:>12} {:>7.2}% {:>11} {:>8.3}%",
                m.mailbox,
                m.sent,
                m.bounced,
                format!("({}/{})", m.bounced_dead, m.bounced_sender),
                m.bounce_rate * 100.0,
                m.complaints,
                m.complaint_rate * 100.0
            );
        }
    }
    out
}

/// A percentage with one decimal.
fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A step's outcomes, variants (rate, 95% interval as a whisker), their
/// comparison and its holdout's lift, under the table.
fn tests_text(out: &mut String, s: &report::StepReport, tz: Tz) {
    if s.variants.is_empty() && s.lift.is_none() && s.meetings + s.won + s.lost == 0 {
        return;
    }
    let _ = writeln!(out, "\n  {}:", s.step);
    if s.meetings + s.won + s.lost > 0 {
        let _ =
            writeln!(out, "    outcomes: {} meeting(s), {} won, {} lost, value {}", s.meetings, s.won, s.lost, s.value);
    }
    if !s.variants.is_empty() {
        let max = s.variants.iter().map(|v| v.reply_interval[1]).fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "    {:<10} {:>8} {:>8} {:>7} {:>17}  {:<24} {:>8} {:>4} {:>9}",
            "variant",
            "reached",
            "replied",
            "rate",
            "95% interval",
            format!("0 .. {}", pct(max)),
            "meetings",
            "won",
            "value"
        );
        for v in &s.variants {
            let [lo, hi] = v.reply_interval;
            let _ = writeln!(
                out,
                "    {:<10} {:>8} {:>8} {:>7} {:>17}  {:<24} {:>8} {:>4} {:>9}",
                v.id,
                v.reached,
                v.replied,
                pct(v.reply_rate),
                format!("{} - {}", pct(lo), pct(hi)),
                report::whisker(lo, v.reply_rate, hi, max, 24),
                v.meetings,
                v.won,
                v.value
            );
        }
    }
    if let Some(c) = &s.comparison {
        let diff = match (c.difference, c.interval, &c.leading, &c.runner_up) {
            (Some(d), Some([lo, hi]), Some(a), Some(b)) => {
                format!(
                    "{a} minus {b}: {:+.1} points, 95% interval {:+.1} to {:+.1}",
                    d * 100.0,
                    lo * 100.0,
                    hi * 100.0
                )
            }
            _ => String::new(),
        };
        let since = s
            .winner_since
            .as_deref()
            .and_then(|t| crate::time::parse_instant(t).ok())
            .map(|t| format!(" (new leads get only it since {})", Human(t, tz)))
            .unwrap_or_default();
        if c.winner == crate::core::stats::NOT_YET {
            let more = c.leads_needed.map_or_else(
                || "no difference to extrapolate yet".to_string(),
                |n| format!("roughly {n} more leads needed"),
            );
            let why = c.why.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
            let _ = writeln!(out, "    winner: not yet{why}; {more} ({diff})");
        } else {
            let _ = writeln!(out, "    winner: {}{since} ({diff})", c.winner);
        }
    }
    if let Some(l) = &s.lift {
        let value = match (l.value, l.interval) {
            (Some(v), Some([lo, hi])) => {
                let verdict = if l.significant { "" } else { "; not yet distinguishable from zero" };
                format!("{:+.1} points, 95% interval {:+.1} to {:+.1}{verdict}", v * 100.0, lo * 100.0, hi * 100.0)
            }
            _ => "not yet: no lead got the step or was held out".to_string(),
        };
        let _ = writeln!(
            out,
            "    lift over the holdout: {value} (replied until the next step: {} of {} who got it, {} of {} held out)",
            l.replied, l.reached, l.held_out_replied, l.held_out
        );
    }
}
