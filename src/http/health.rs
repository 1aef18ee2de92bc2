//! `GET /healthz`: 200 while the daemon ticks and reads its inboxes, 503
//! with the reasons as JSON otherwise, for the service manager or a load
//! balancer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{App, Failure, json, now};
use crate::time::{from_unix, rfc3339};

/// What the health check looks at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now: DateTime<Utc>,
    /// When the HTTP side (the daemon) started: the grace before the first tick and read.
    pub started: DateTime<Utc>,
    pub tick_interval: Duration,
    pub inbox_max_age: Duration,
    /// When the last complete tick finished.
    pub last_tick: Option<DateTime<Utc>>,
    /// Each watched mailbox and when its inbox was last read completely.
    pub inboxes: Vec<(String, Option<DateTime<Utc>>)>,
    /// Why each mailbox paused for a lost sign-in is paused.
    pub lost_sign_ins: Vec<String>,
}

/// PURE: healthy, or why not. A tick must have finished within three tick
/// intervals; every watched inbox must have been read within three times
/// `inbox_max_age`, or three tick intervals when those are longer (inboxes
/// are read at ticks).
pub fn verdict(f: &Facts) -> Result<(), Vec<String>> {
    let three = |d: Duration| chrono::Duration::from_std(d * 3).unwrap_or(chrono::Duration::MAX);
    let tick_limit = three(f.tick_interval);
    let inbox_limit = three(f.inbox_max_age.max(f.tick_interval));
    let mut reasons = Vec::new();
    match f.last_tick {
        Some(at) if f.now - at > tick_limit => reasons.push(format!(
            "the last tick finished at {}, more than three tick intervals ({}s) ago",
            rfc3339(at),
            tick_limit.num_seconds()
        )),
        None if f.now - f.started > tick_limit => {
            reasons.push(format!("no tick has finished since the start at {}", rfc3339(f.started)));
        }
        _ => {}
    }
    for (mailbox, read) in &f.inboxes {
        match read {
            Some(at) if f.now - *at > inbox_limit => reasons.push(format!(
                "the inbox of mailbox {mailbox} was last read at {}, more than {}s ago",
                rfc3339(*at),
                inbox_limit.num_seconds()
            )),
            None if f.now - f.started > inbox_limit => {
                reasons.push(format!("the inbox of mailbox {mailbox} has not been read since the start"));
            }
            _ => {}
        }
    }
    // A lost sign-in needs a person (`cadenced login NAME`): not healthy.
    reasons.extend(f.lost_sign_ins.iter().cloned());
    if reasons.is_empty() { Ok(()) } else { Err(reasons) }
}

pub(super) async fn healthz(State(app): State<Arc<App>>) -> Result<Response, Failure> {
    let (reads, pauses) = app.blocking(|_, store| Ok((store.inbox_reads()?, store.pauses()?))).await?;
    let end = app.control.last_tick_end.load(Ordering::Relaxed);
    let facts = Facts {
        now: now(),
        started: app.started,
        tick_interval: app.config.tick_interval,
        inbox_max_age: app.config.inbox_max_age,
        last_tick: (end > 0).then(|| from_unix(end)),
        inboxes: app
            .config
            .mailboxes
            .values()
            .filter(|m| m.imap.is_some())
            .map(|m| (m.name.clone(), reads.iter().find(|(name, _)| *name == m.name).map(|(_, at)| *at)))
            .collect(),
        lost_sign_ins: pauses
            .into_iter()
            .filter(|p| p.cause == crate::model::PauseCause::SignIn)
            .map(|p| format!("mailbox {} is paused: {}", p.mailbox, p.reason))
            .collect(),
    };
    let inboxes: serde_json::Map<String, serde_json::Value> =
        facts.inboxes.iter().map(|(m, at)| (m.clone(), json!(at.map(rfc3339)))).collect();
    let last_tick = facts.last_tick.map(rfc3339);
    Ok(match verdict(&facts) {
        Ok(()) => json(StatusCode::OK, &json!({"status": "ok", "last_tick": last_tick, "inboxes_read": inboxes})),
        Err(reasons) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "unhealthy", "reasons": reasons, "last_tick": last_tick, "inboxes_read": inboxes}),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_instant;

    fn facts() -> Facts {
        Facts {
            now: parse_instant("2026-03-02T10:00:00Z").unwrap(),
            started: parse_instant("2026-03-02T09:00:00Z").unwrap(),
            tick_interval: Duration::from_secs(30),
            inbox_max_age: Duration::from_secs(60),
            last_tick: Some(parse_instant("2026-03-02T09:59:10Z").unwrap()),
            inboxes: vec![("sales".into(), Some(parse_instant("2026-03-02T09:57:30Z").unwrap()))],
            lost_sign_ins: vec![],
        }
    }

    #[test]
    fn a_lost_sign_in_is_not_healthy() {
        let mut f = facts();
        f.lost_sign_ins = vec!["mailbox sales is paused: sign-in for sales lost: invalid_grant".into()];
        assert_eq!(verdict(&f), Err(f.lost_sign_ins.clone()));
    }

    #[test]
    fn healthy_while_ticks_and_reads_are_recent() {
        assert_eq!(verdict(&facts()), Ok(()));
    }

    #[test]
    fn a_stale_tick_or_inbox_says_why() {
        let mut f = facts();
        f.last_tick = Some(parse_instant("2026-03-02T09:58:29Z").unwrap());
        f.inboxes[0].1 = Some(parse_instant("2026-03-02T09:56:59Z").unwrap());
        let reasons = verdict(&f).unwrap_err();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("last tick finished at 2026-03-02T09:58:29Z"), "{reasons:?}");
        assert!(reasons[1].contains("mailbox sales was last read at 2026-03-02T09:56:59Z"), "{reasons:?}");
    }

    #[test]
    fn a_fresh_start_has_its_grace_then_not() {
        let mut f = facts();
        f.last_tick = None;
        f.inboxes[0].1 = None;
        f.started = parse_instant("2026-03-02T09:59:00Z").unwrap();
        assert_eq!(verdict(&f), Ok(()));
        f.started = parse_instant("2026-03-02T09:50:00Z").unwrap();
        let reasons = verdict(&f).unwrap_err();
        assert!(reasons[0].contains("no tick has finished since the start"), "{reasons:?}");
        assert!(reasons[1].contains("has not been read since the start"), "{reasons:?}");
    }

    #[test]
    fn slow_ticks_widen_the_inbox_limit() {
        let mut f = facts();
        f.tick_interval = Duration::from_secs(300);
        f.inboxes[0].1 = Some(parse_instant("2026-03-02T09:46:00Z").unwrap());
        assert_eq!(verdict(&f), Ok(()), "14 min < 3 × 5 min");
    }
}
