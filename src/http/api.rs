//! The enrollment API, for web forms and CRMs (bearer token):
//! `POST /api/v1/enrollments` runs the same checks as `cadenced enroll`
//! (201 enrolled, 200 already enrolled and nothing changed, 422 with the
//! errors); `GET /api/v1/leads/EMAIL` answers the document of `status --json`;
//! `POST /api/v1/leads/EMAIL/outcomes` with `{"outcome", "value", "at"}`
//! records a meeting, a deal won or lost as `cadenced mark` does (201, 404
//! for an unknown lead, 422 with the errors).
//!
//! With `verify_leads = true`, an enrollment runs the lead preflight first,
//! as `enroll` does: a dead, disposable or malformed address is a 422 and is
//! suppressed; DNS that cannot tell (or no resolver) lets the lead in.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::auth::{authorized, denied_json};
use super::{App, Failure, json, now};
use crate::intake::{self, LeadInput};
use crate::store::EnrollOutcome;
use crate::time::rfc3339;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Enrollment {
    email: String,
    cadence: String,
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
    timezone: Option<String>,
    owner: Option<String>,
}

fn errors(list: &[(&str, String)]) -> Response {
    let errors: Vec<Value> = list.iter().map(|(field, message)| json!({"field": field, "message": message})).collect();
    json(StatusCode::UNPROCESSABLE_ENTITY, &json!({ "errors": errors }))
}

/// The lead a request describes, or what is wrong with it (field, message).
fn lead_input(body: Enrollment) -> Result<(LeadInput, String), Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut lead = LeadInput { email: body.email, timezone: body.timezone, ..LeadInput::default() };
    for (key, value) in body.fields {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) => {
                problems.push((format!("fields.{key}"), "must be a string, a number or a boolean".to_string()));
                continue;
            }
        };
        let text = text.trim().to_string();
        match key.as_str() {
            "timezone" if lead.timezone.is_none() => lead.timezone = Some(text),
            _ if !text.is_empty() => {
                lead.fields.insert(key, text);
            }
            _ => {}
        }
    }
    if let Some(owner) = body.owner.filter(|o| !o.trim().is_empty()) {
        lead.fields.insert("owner".into(), owner.trim().to_string());
    }
    if problems.is_empty() { Ok((lead, body.cadence)) } else { Err(problems) }
}

/// `POST /api/v1/enrollments`.
pub(super) async fn enroll(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    if !authorized(&app, &headers) {
        return Ok(denied_json(peer, "/api/v1/enrollments"));
    }
    let request: Enrollment = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return Ok(errors(&[("body", format!("not the expected JSON document: {e}"))])),
    };
    let (lead, cadence_name) = match lead_input(request) {
        Ok(input) => input,
        Err(problems) => {
            let list: Vec<(&str, String)> = problems.iter().map(|(f, m)| (f.as_str(), m.clone())).collect();
            return Ok(errors(&list));
        }
    };
    let at = now();
    let refused = if app.config.verify_leads { refusal(&app.config, lead.email.trim()).await } else { None };
    app.blocking(move |app, store| {
        if let Some(reason) = refused {
            let email = lead.email.trim();
            store.refuse(email, &reason, at)?;
            info!(lead = %email, %reason, "refused by the lead preflight (API)");
            return Ok(errors(&[("email", format!("{email} is refused ({reason}): not enrolled, suppressed"))]));
        }
        let cadences = app.cadences();
        let Some(cadence) = cadences.get(&cadence_name) else {
            return Ok(errors(&[("cadence", crate::views::unknown_cadence(&cadences, &cadence_name))]));
        };
        let row = match intake::prepare(&lead, cadence, &app.config, at) {
            Ok(row) => row,
            Err(e) => return Ok(errors(&[(e.field.as_str(), e.message)])),
        };
        let outcome = store.enroll_many(std::slice::from_ref(&row), at)?.into_iter().next();
        Ok(match outcome {
            Some(EnrollOutcome::Suppressed(reason)) => {
                errors(&[("email", format!("{} is on the suppression list ({reason}): not enrolled", row.email))])
            }
            Some(EnrollOutcome::AlreadyEnrolled(state)) => json(
                StatusCode::OK,
                &json!({"enrolled": false, "email": row.email, "cadence": row.cadence, "state": state,
                        "message": "already enrolled in this cadence: nothing changed"}),
            ),
            _ => {
                info!(lead = %row.email, cadence = %row.cadence, "enrolled through the API");
                json(
                    StatusCode::CREATED,
                    &json!({"enrolled": true, "email": row.email, "cadence": row.cadence,
                            "first_step": row.first_step, "due_at": rfc3339(row.due_at)}),
                )
            }
        })
    })
    .await
}

/// The suppression reason when the lead preflight refuses `email`; None
/// when it passes or DNS could not tell (no resolver at all included: DNS
/// trouble never refuses a lead).
async fn refusal(config: &crate::config::Config, email: &str) -> Option<String> {
    let resolver = match crate::dns::SystemResolver::new(&config.dns_servers) {
        Ok(resolver) => resolver,
        Err(e) => {
            warn!(lead = %email, "lead preflight skipped: {e}");
            return None;
        }
    };
    let own = config.sending_domains();
    let check = crate::preflight::verdicts(&resolver, [email], &config.disposable_domains, &own).await.check(email);
    check.verdict.refuses().then(|| crate::core::verify::suppression_reason(&check.verdict))
}

/// `GET /api/v1/leads/EMAIL`: what `status EMAIL --json` prints.
pub(super) async fn lead(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(email): Path<String>,
) -> Result<Response, Failure> {
    if !authorized(&app, &headers) {
        return Ok(denied_json(peer, "/api/v1/leads"));
    }
    let at = now();
    app.blocking(move |app, store| {
        Ok(match status_document(app, store, &email, at)? {
            Some(doc) => json(StatusCode::OK, &doc),
            None => json(StatusCode::NOT_FOUND, &json!({"error": format!("no lead {}", email.trim())})),
        })
    })
    .await
}

/// The `status --json` document of `email`, or `None` for an unknown lead.
pub(super) fn status_document(
    app: &App,
    store: &crate::store::Store,
    email: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<Value>> {
    let Some(mut lead) = store.lead(email.trim())? else { return Ok(None) };
    let tz = app.config.lead_zone(lead.timezone.as_deref());
    let loaded = app.cadences();
    crate::views::status::mark_orphaned(&mut lead, &loaded);
    let overdue_before = now - crate::tick::downtime_after(&app.config);
    Ok(Some(crate::views::status::to_json(&lead, tz, overdue_before)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeRequest {
    outcome: String,
    value: Option<Value>,
    at: Option<String>,
    note: Option<String>,
}

/// `POST /api/v1/leads/EMAIL/outcomes`.
pub(super) async fn outcome(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(email): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    if !authorized(&app, &headers) {
        return Ok(denied_json(peer, "/api/v1/leads/outcomes"));
    }
    let request: OutcomeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return Ok(errors(&[("body", format!("not the expected JSON document: {e}"))])),
    };
    let mut problems = Vec::new();
    let kind = crate::store::OutcomeKind::parse(&request.outcome);
    if kind.is_none() {
        problems.push(("outcome", format!("unknown outcome {:?} (expected meeting, won or lost)", request.outcome)));
    }
    let value = match &request.value {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match crate::store::parse_amount(&n.to_string()) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(("value", e));
                None
            }
        },
        Some(Value::String(s)) => match crate::store::parse_amount(s) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(("value", e));
                None
            }
        },
        Some(_) => {
            problems.push(("value", "must be a number".to_string()));
            None
        }
    };
    let received = now();
    let at = match request.at.as_deref() {
        None => received,
        Some(text) => match crate::time::parse_instant(text) {
            Ok(t) => t,
            Err(e) => {
                problems.push(("at", format!("{e}")));
                received
            }
        },
    };
    let Some(kind) = kind.filter(|_| problems.is_empty()) else {
        return Ok(errors(&problems));
    };
    app.blocking(move |_app, store| {
        let new = crate::store::NewOutcome {
            email: email.trim(),
            kind,
            value,
            at,
            note: request.note.as_deref(),
            source: "api",
        };
        Ok(match store.record_outcome(&new, received)? {
            None => json(StatusCode::NOT_FOUND, &json!({"error": format!("no lead {}", email.trim())})),
            Some(recorded) => {
                info!(lead = %recorded.email, outcome = kind.as_str(), step = recorded.step.as_deref().unwrap_or("-"),
                      variant = recorded.variant.as_deref().unwrap_or("-"), "outcome recorded through the API");
                json(StatusCode::CREATED, &serde_json::to_value(&recorded)?)
            }
        })
    })
    .await
}
