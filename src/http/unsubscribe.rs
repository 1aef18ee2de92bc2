//! `/u/TOKEN`: the one-click unsubscribe of RFC 8058. GET shows a page that
//! names the masked address with an Unsubscribe button and changes nothing
//! (link scanners fetch every URL of an email); POST, from a mailbox
//! provider (`List-Unsubscribe=One-Click`) or from the button, unsubscribes
//! the lead everywhere and suppresses its address, and answers 200 without a
//! cookie or a redirect. The token is the one of the lead's mailto
//! unsubscribe address. A token that names no lead gets the same pages (with
//! a made-up masked address), so that nothing can be learnt by trying them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ring::hmac;
use tracing::{info, warn};

use super::pages::{decoy, mask};
use super::{App, Failure, html, now};
use crate::core::unsubscribe;

/// The body RFC 8058 asks mailbox providers to POST.
const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// `GET /u/TOKEN`: the page with the button.
pub(super) async fn page(State(app): State<Arc<App>>, Path(token): Path<String>) -> Result<Response, Failure> {
    let masked = app
        .blocking(move |app, store| {
            let email = match unsubscribe::lead_of(&app.unsubscribe_secret, &token) {
                Some(lead_id) => store.lead_email(lead_id)?,
                None => None,
            };
            Ok(email.map_or_else(|| decoy(&seed(&app.unsubscribe_secret, &token)), |e| mask(&e)))
        })
        .await?;
    render(&app, &masked, false)
}

/// `POST /u/TOKEN`: unsubscribes, whatever the body (the button sends the same one as RFC 8058).
pub(super) async fn confirm(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, Failure> {
    // Providers send it form-encoded or as multipart: look for it anywhere in the body.
    let one_click = String::from_utf8_lossy(&body).contains(ONE_CLICK);
    let at = now();
    let masked = app
        .blocking(move |app, store| {
            let lead = unsubscribe::lead_of(&app.unsubscribe_secret, &token);
            let how = if one_click { "by the one-click link (RFC 8058)" } else { "on the unsubscribe page" };
            let done = match lead {
                Some(lead_id) => store.unsubscribe_lead(lead_id, how, at)?,
                None => None,
            };
            match &done {
                Some(u) if u.again => info!(lead = %u.email, "unsubscribed again from the web: nothing to change"),
                Some(u) => info!(lead = %u.email, cadences = ?u.stopped, "lead unsubscribed {how}; address suppressed"),
                None => {
                    warn!("unsubscribe POST with a token that names no lead: answered as if it did, nothing changed")
                }
            }
            Ok(done.map_or_else(|| decoy(&seed(&app.unsubscribe_secret, &token)), |u| mask(&u.email)))
        })
        .await?;
    render(&app, &masked, true)
}

/// What a decoy address is made from: a MAC of the token, so that it is
/// the same at every visit and tells nothing about the key.
fn seed(secret: &[u8], token: &str) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::sign(&key, format!("decoy:{token}").as_bytes()).as_ref().to_vec()
}

fn render(app: &App, masked: &str, done: bool) -> Result<Response, Failure> {
    let body = app
        .pages
        .render("unsubscribe.html", minijinja::context! { masked, done })
        .map_err(|e| Failure(anyhow::anyhow!("rendering the unsubscribe page: {e}")))?;
    Ok(html(StatusCode::OK, body))
}
