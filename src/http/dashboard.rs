//! The dashboard (admin token): each cadence's per-step funnel as inline
//! SVG, with each step's variants (reply rates and their 95% intervals as
//! bars with whiskers), verdict, holdout lift and outcomes (see
//! [`super::experiments`]); mailbox health, what was sent today and what
//! falls due in the next 24 hours; a lead search that opens the lead's
//! timeline. Server-rendered,
//! the same figures as `cadenced report` (the same code computes them).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{authorized, denied_page};
use super::pages::path_segment;
use super::{App, Failure, html, now};
use crate::core::report::{self, CadenceReport, Defined, Period, Report};
use crate::store::{DueCount, Pause};
use crate::time::{Human, rfc3339};

/// The funnel's geometry: the label column, the bars, the figures.
const WIDTH: u32 = 960;
const BAR_X: u32 = 140;
const BAR_W: u32 = 300;
const ROW: u32 = 40;
/// Leads listed by a search.
const SEARCH_LIMIT: usize = 50;

#[derive(Debug, Deserialize)]
pub(super) struct PeriodQuery {
    since: Option<String>,
    until: Option<String>,
}

#[derive(Serialize)]
struct PeriodLink {
    label: &'static str,
    href: String,
    current: bool,
}

#[derive(Serialize)]
struct StepView {
    step: String,
    kind: String,
    removed: bool,
    reached: u64,
    sent: u64,
    done: u64,
    skipped: u64,
    open: u64,
    failed: u64,
    bounced: u64,
    bounced_dead: u64,
    bounced_sender: u64,
    replied: u64,
    unsubscribed: u64,
    auto_replies: u64,
    rate: String,
    median: Option<String>,
    y: u32,
    w_reached: u32,
    w_done: u32,
    w_replied: u32,
}

#[derive(Serialize)]
struct StateCount {
    state: &'static str,
    n: u64,
}

#[derive(Serialize)]
struct CadenceView {
    cadence: String,
    orphaned: bool,
    enrolled: u64,
    states: Vec<StateCount>,
    height: u32,
    steps: Vec<StepView>,
    /// Steps with variants, a holdout or outcomes.
    experiments: Vec<super::experiments::ExperimentView>,
}

#[derive(Serialize)]
struct Paused {
    since: String,
    reason: String,
}

#[derive(Serialize)]
struct Inbox {
    text: String,
    class: &'static str,
}

#[derive(Serialize)]
struct MailboxView {
    mailbox: String,
    paused: Option<Paused>,
    inbox: Option<Inbox>,
    sent: u64,
    bounced: u64,
    bounce_rate: String,
    complaints: u64,
    complaint_rate: String,
}

#[derive(Serialize)]
struct TodayRow {
    cadence: String,
    step: String,
    sent: u64,
    done: u64,
}

#[derive(Serialize)]
struct DueRow {
    cadence: String,
    now: u64,
    overdue: u64,
    next: u64,
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn width(n: u64, max: u64) -> u32 {
    if max == 0 || n == 0 {
        return 0;
    }
    // At least a pixel for anything above zero.
    ((n.min(max) as f64 / max as f64 * f64::from(BAR_W)).round() as u32).max(1)
}

fn cadence_view(c: &CadenceReport, tz: chrono_tz::Tz) -> CadenceView {
    let max = c.steps.iter().map(|s| s.reached).max().unwrap_or(0);
    let steps = c
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let email = s.kind == "email";
            StepView {
                step: s.step.clone(),
                kind: s.kind.clone(),
                removed: s.removed,
                reached: s.reached,
                sent: s.sent,
                done: s.done,
                skipped: s.skipped,
                open: s.open,
                failed: s.failed,
                bounced: s.bounced,
                bounced_dead: s.bounced_dead,
                bounced_sender: s.bounced_sender,
                replied: s.replied,
                unsubscribed: s.unsubscribed,
                auto_replies: s.auto_replies,
                rate: percent(s.reply_rate),
                median: s.median_hours_to_reply.map(|h| format!("{h:.1}")),
                y: u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(ROW) + 4,
                w_reached: width(s.reached, max),
                w_done: width(if email { s.sent } else { s.done }, max),
                w_replied: width(s.replied, max),
            }
        })
        .collect::<Vec<_>>();
    CadenceView {
        cadence: c.cadence.clone(),
        orphaned: c.orphaned,
        enrolled: c.enrolled,
        states: c.states.iter().filter(|(_, n)| **n > 0).map(|(state, n)| StateCount { state, n: *n }).collect(),
        height: u32::try_from(steps.len()).unwrap_or(u32::MAX).saturating_mul(ROW) + 8,
        steps,
        experiments: super::experiments::views(&c.steps, tz),
    }
}

/// What the home page reads.
struct Home {
    report: Report,
    today: Report,
    due_now: Vec<(String, DueCount)>,
    due_next: Vec<(String, DueCount)>,
    pauses: Vec<Pause>,
    reads: Vec<(String, DateTime<Utc>)>,
}

/// `GET /`: the dashboard, or the login form.
pub(super) async fn home(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, Failure> {
    if !authorized(&app, &headers) {
        return Ok(denied_page(&app, peer, "/", false));
    }
    let tz = app.config.timezone;
    let now = now();
    let parse =
        |text: &Option<String>| text.as_deref().filter(|t| !t.trim().is_empty()).map(|t| report::parse_date(t, tz));
    let (since, until) = match (parse(&query.since).transpose(), parse(&query.until).transpose()) {
        (Ok(since), Ok(until)) => (since, until.unwrap_or(now)),
        (Err(e), _) | (_, Err(e)) => {
            return Ok(html(StatusCode::BAD_REQUEST, format!("<p>{}</p>", escape(&e.to_string()))));
        }
    };
    let today = now.with_timezone(&tz).date_naive();
    let today_start = report::day_start(today, tz).unwrap_or(now);
    let overdue_before = now - crate::tick::downtime_after(&app.config);
    let period = Period::new(since, until);
    let home = app
        .blocking(move |app, store| {
            super::roll_up(store, now);
            let defined = Defined::all(&app.cadences());
            let mailboxes = app.config.mailboxes.keys().cloned().collect();
            Ok(Home {
                report: store.report(period, defined.clone(), None, mailboxes)?,
                // Today's sends only: the tallies, without counting enrollments again.
                today: {
                    let today = Period::new(Some(today_start), now);
                    let tallies = store.tallies(&today.buckets(store.tallies_rolled_until()?))?;
                    report::assemble(today, report::Input { defined, tallies, ..report::Input::default() })
                },
                due_now: store.due_counts(None, now + Duration::seconds(1), overdue_before)?,
                due_next: store.due_counts(Some(now + Duration::seconds(1)), now + Duration::hours(24), now)?,
                pauses: store.pauses()?,
                reads: store.inbox_reads()?,
            })
        })
        .await?;
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let links = [
        ("All time", String::new()),
        ("Last 30 days", day(today - Duration::days(29))),
        ("Last 7 days", day(today - Duration::days(6))),
        ("Today", day(today)),
    ];
    let given = query.since.clone().unwrap_or_default();
    let periods: Vec<PeriodLink> = links
        .into_iter()
        .map(|(label, since)| PeriodLink {
            label,
            href: if since.is_empty() { ".".into() } else { format!("?since={since}") },
            current: query.until.is_none() && given.trim() == since,
        })
        .collect();
    let period_text = format!(
        "{} until {}: the touchpoints of the period and what became of them.",
        period.since_time().map_or_else(|| "From the beginning".to_string(), |t| format!("From {}", Human(t, tz))),
        Human(period.until_time(), tz)
    );
    let inbox_limit = chrono::Duration::from_std(app.config.inbox_max_age.max(app.config.tick_interval) * 3)
        .unwrap_or(chrono::Duration::MAX);
    let mailboxes: Vec<MailboxView> = home
        .report
        .mailboxes
        .iter()
        .map(|m| {
            let watched = app.config.mailboxes.get(&m.mailbox).is_some_and(|c| c.imap.is_some());
            let read = home.reads.iter().find(|(name, _)| *name == m.mailbox).map(|(_, at)| *at);
            let inbox = watched.then(|| match read {
                Some(at) => Inbox {
                    text: format!("{}s ago", (now - at).num_seconds().max(0)),
                    class: if now - at > inbox_limit { "bad" } else { "good" },
                },
                None => Inbox { text: "never".into(), class: "warn" },
            });
            MailboxView {
                mailbox: m.mailbox.clone(),
                paused: home
                    .pauses
                    .iter()
                    .find(|p| p.mailbox == m.mailbox)
                    .map(|p| Paused { since: rfc3339(p.since), reason: p.reason.clone() }),
                inbox,
                sent: m.sent,
                bounced: m.bounced,
                bounce_rate: percent(m.bounce_rate),
                complaints: m.complaints,
                complaint_rate: format!("{:.2}%", m.complaint_rate * 100.0),
            }
        })
        .collect();
    let today_rows: Vec<TodayRow> = home
        .today
        .cadences
        .iter()
        .flat_map(|c| {
            c.steps.iter().filter(|s| s.sent + s.done > 0).map(|s| TodayRow {
                cadence: c.cadence.clone(),
                step: s.step.clone(),
                sent: s.sent,
                done: s.done,
            })
        })
        .collect();
    let mut due: Vec<DueRow> = home
        .due_now
        .iter()
        .map(|(cadence, d)| DueRow { cadence: cadence.clone(), now: d.due, overdue: d.overdue, next: 0 })
        .collect();
    for (cadence, d) in &home.due_next {
        match due.iter_mut().find(|r| r.cadence == *cadence) {
            Some(row) => row.next = d.due,
            None => due.push(DueRow { cadence: cadence.clone(), now: 0, overdue: 0, next: d.due }),
        }
    }
    due.sort_by(|a, b| a.cadence.cmp(&b.cadence));
    let cadences: Vec<CadenceView> = home.report.cadences.iter().map(|c| cadence_view(c, tz)).collect();
    let body = app
        .pages
        .render(
            "home.html",
            minijinja::context! {
                root => "",
                periods,
                period => period_text,
                cadences,
                svg => minijinja::context! { width => WIDTH, bar_x => BAR_X, text_x => BAR_X + BAR_W + 12 },
                mailboxes,
                today => today_rows,
                today_since => Human(today_start, tz).to_string(),
                due,
            },
        )
        .map_err(|e| Failure(anyhow::anyhow!("rendering the dashboard: {e}")))?;
    Ok(html(StatusCode::OK, body))
}

#[derive(Debug, Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Serialize)]
struct Found {
    email: String,
    path: String,
}

/// `GET /leads?q=PREFIX`: leads whose address starts with it.
pub(super) async fn search(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Result<Response, Failure> {
    if !authorized(&app, &headers) {
        return Ok(denied_page(&app, peer, "/leads", false));
    }
    let query = search.q.trim().to_string();
    let prefix = query.clone();
    let mut found = if prefix.is_empty() {
        Vec::new()
    } else {
        app.blocking(move |_, store| Ok(store.search_leads(&prefix, SEARCH_LIMIT + 1)?)).await?
    };
    let more = found.len() > SEARCH_LIMIT;
    found.truncate(SEARCH_LIMIT);
    let leads: Vec<Found> = found.into_iter().map(|email| Found { path: path_segment(&email), email }).collect();
    let body = app
        .pages
        .render("leads.html", minijinja::context! { root => "", query, leads, more })
        .map_err(|e| Failure(anyhow::anyhow!("rendering the search: {e}")))?;
    Ok(html(StatusCode::OK, body))
}

/// `GET /leads/EMAIL`: the lead's timeline.
pub(super) async fn lead(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Result<Response, Failure> {
    if !authorized(&app, &headers) {
        return Ok(denied_page(&app, peer, "/leads/", false));
    }
    let at = now();
    let doc = app.blocking(move |app, store| super::api::status_document(app, store, &email, at)).await?;
    let Some(lead) = doc else {
        return Ok(html(StatusCode::NOT_FOUND, "<p>No such lead.</p><p><a href=\"../.\">Back</a></p>".into()));
    };
    let fields: Vec<(String, String)> = lead["fields"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default();
    let body = app
        .pages
        .render("lead.html", minijinja::context! { root => "../", lead, fields })
        .map_err(|e| Failure(anyhow::anyhow!("rendering a lead: {e}")))?;
    Ok(html(StatusCode::OK, body))
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
