//! `GET /metrics`: Prometheus (OpenMetrics) text, read from the tallies the
//! database keeps, never from a scan: emails by mailbox, cadence, step and
//! outcome, what they earned, manual steps, inbound messages by kind,
//! bounces by who they blame and why, steps due and overdue, uncertain
//! sends, the last tick, inbox read ages and paused mailboxes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{App, Failure, now};
use crate::core::report::{Period, Tally, What};
use crate::store::{DueCount, Pause};

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

/// What one scrape reads.
struct Read {
    tallies: Vec<Tally>,
    inbound: Vec<(String, String, u64)>,
    bounces: Vec<(String, String, String, u64)>,
    outcomes: Vec<(String, u64, f64)>,
    due: Vec<(String, DueCount)>,
    pauses: Vec<Pause>,
    reads: Vec<(String, chrono::DateTime<chrono::Utc>)>,
    cadences: Vec<String>,
}

pub(super) async fn metrics(State(app): State<Arc<App>>) -> Result<Response, Failure> {
    let now = now();
    let overdue_before = now - crate::tick::downtime_after(&app.config);
    let read = app
        .blocking(move |app, store| {
            super::roll_up(store, now);
            Ok(Read {
                // All time: the rolled-up days, then quarter hours.
                tallies: store
                    .tallies(&Period { since: None, until: i64::MAX }.buckets(store.tallies_rolled_until()?))?,
                inbound: store.inbound_kinds()?,
                bounces: store.bounce_reasons()?,
                outcomes: store.outcome_counts()?,
                due: store.due_counts(None, now + Duration::seconds(1), overdue_before)?,
                pauses: store.pauses()?,
                reads: store.inbox_reads()?,
                cadences: app.cadences().names(),
            })
        })
        .await?;
    let mut registry = Registry::default();
    let emails = Family::<Labels, Counter>::default();
    let responses = Family::<Labels, Counter>::default();
    let tasks = Family::<Labels, Gauge>::default();
    let uncertain = Family::<Labels, Gauge>::default();
    for t in &read.tallies {
        let n = t.n;
        let base = [("mailbox", t.mailbox.as_str()), ("cadence", t.cadence.as_str()), ("step", t.step.as_str())];
        let with = |key: &str, value: &str| {
            let mut l = labels(&base);
            l.push((key.to_string(), value.to_string()));
            l
        };
        if t.kind != "email" {
            let l =
                labels(&[("cadence", &t.cadence), ("step", &t.step), ("kind", &t.kind), ("status", t.what.as_str())]);
            tasks.get_or_create(&l).inc_by(i64::try_from(n).unwrap_or(i64::MAX));
            continue;
        }
        match t.what {
            What::Sent | What::Failed | What::Uncertain | What::Skipped => {
                emails.get_or_create(&with("outcome", t.what.as_str())).inc_by(n);
                if t.what == What::Uncertain {
                    uncertain
                        .get_or_create(&labels(&[("mailbox", &t.mailbox)]))
                        .inc_by(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            What::Open | What::Done => {}
            other => {
                responses.get_or_create(&with("response", other.as_str())).inc_by(n);
            }
        }
    }
    registry.register(
        "cadenced_emails",
        "Emails to leads by mailbox, cadence, step and outcome (sent, failed, uncertain, skipped)",
        emails,
    );
    registry.register(
        "cadenced_email_responses",
        "Emails by what they earned: replied, auto_reply, bounced_address, bounced_sender, unsubscribed, complaint \
         (each email counted once per response)",
        responses,
    );
    registry.register("cadenced_manual_steps", "Calls, LinkedIn steps and tasks by status", tasks);
    registry.register(
        "cadenced_uncertain_sends",
        "Emails whose send was interrupted: they may have arrived",
        uncertain,
    );

    let inbound = Family::<Labels, Counter>::default();
    for (mailbox, kind, n) in &read.inbound {
        inbound.get_or_create(&labels(&[("mailbox", mailbox), ("kind", kind)])).inc_by(*n);
    }
    registry.register("cadenced_inbound_messages", "Messages read from the watched inboxes, by kind", inbound);
    let bounces = Family::<Labels, Counter>::default();
    for (mailbox, blame, reason, n) in &read.bounces {
        bounces.get_or_create(&labels(&[("mailbox", mailbox), ("blame", blame), ("reason", reason)])).inc_by(*n);
    }
    let outcomes = Family::<Labels, Counter>::default();
    let values = Family::<Labels, Counter<f64, AtomicU64>>::default();
    for kind in crate::store::OutcomeKind::ALL {
        let (n, value) = read.outcomes.iter().find(|o| o.0 == kind.as_str()).map_or((0, 0.0), |o| (o.1, o.2));
        outcomes.get_or_create(&labels(&[("outcome", kind.as_str())])).inc_by(n);
        values.get_or_create(&labels(&[("outcome", kind.as_str())])).inc_by(value);
    }
    registry.register("cadenced_outcomes", "Outcomes recorded (mark, the API): meetings, deals won and lost", outcomes);
    registry.register("cadenced_outcome_value", "The sum of the amounts recorded with outcomes", values);
    registry.register(
        "cadenced_bounces",
        "Bounces and refusals by who they blame (address: dead; sender: the mailbox; passing: temporary) and reason",
        bounces,
    );

    let due = Family::<Labels, Gauge>::default();
    let overdue = Family::<Labels, Gauge>::default();
    // Every loaded cadence has its line, 0 when nothing is due.
    for name in read.cadences.iter().filter(|n| !read.due.iter().any(|(c, _)| c == *n)) {
        due.get_or_create(&labels(&[("cadence", name)])).set(0);
        overdue.get_or_create(&labels(&[("cadence", name)])).set(0);
    }
    for (cadence, count) in &read.due {
        let l = labels(&[("cadence", cadence)]);
        due.get_or_create(&l).set(i64::try_from(count.due).unwrap_or(i64::MAX));
        overdue.get_or_create(&l).set(i64::try_from(count.overdue).unwrap_or(i64::MAX));
    }
    registry.register("cadenced_steps_due", "Steps due now, waiting for a tick", due);
    registry.register("cadenced_steps_overdue", "Steps due for longer than a tick should take", overdue);

    let tick_seconds = Gauge::<f64, AtomicU64>::default();
    let tick_end = Gauge::<i64>::default();
    let micros = app.control.last_tick_micros.load(Ordering::Relaxed);
    tick_seconds.set(micros as f64 / 1e6);
    tick_end.set(app.control.last_tick_end.load(Ordering::Relaxed));
    registry.register("cadenced_last_tick_duration_seconds", "How long the last complete tick took", tick_seconds);
    registry.register(
        "cadenced_last_tick_end_timestamp_seconds",
        "When the last complete tick ended (0: none yet)",
        tick_end,
    );

    let ages = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    for mailbox in app.config.mailboxes.values().filter(|m| m.imap.is_some()) {
        if let Some((_, at)) = read.reads.iter().find(|(name, _)| *name == mailbox.name) {
            ages.get_or_create(&labels(&[("mailbox", &mailbox.name)])).set((now - *at).num_seconds() as f64);
        }
    }
    registry.register("cadenced_inbox_read_age_seconds", "Seconds since each watched inbox was read completely", ages);
    let paused = Family::<Labels, Gauge>::default();
    for name in app.config.mailboxes.keys() {
        let is = read.pauses.iter().any(|p| p.mailbox == *name);
        paused.get_or_create(&labels(&[("mailbox", name)])).set(i64::from(is));
    }
    registry.register(
        "cadenced_mailbox_paused",
        "1 while a mailbox has paused itself (too many refusals, or its OAuth sign-in lost)",
        paused,
    );

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|e| Failure(anyhow::anyhow!("encoding the metrics: {e}")))?;
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}
