//! The admin token: the bearer header, or the session cookie the login form
//! sets (HttpOnly, SameSite=Strict; its value is derived from the token, so
//! a new token ends every session). Compared in constant time; a request
//! without a good one is logged without what it sent.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ring::hmac;
use serde::Deserialize;
use tracing::warn;

use super::{App, html, json};

const COOKIE: &str = "cadenced_session";

pub(super) struct Token {
    /// The key both sides of a comparison are MACed with: comparing the MACs
    /// takes the same time whatever was sent, and hides the token's length.
    key: hmac::Key,
    bearer: hmac::Tag,
    session: String,
    session_tag: hmac::Tag,
}

impl Token {
    pub(super) fn new(token: &str) -> Token {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"cadenced: comparing admin tokens");
        let session_key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
        let session: String = hmac::sign(&session_key, b"cadenced dashboard session 1")
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Token {
            bearer: hmac::sign(&key, token.as_bytes()),
            session_tag: hmac::sign(&key, session.as_bytes()),
            session,
            key,
        }
    }

    fn bearer_ok(&self, given: &str) -> bool {
        hmac::verify(&self.key, given.as_bytes(), self.bearer.as_ref()).is_ok()
    }

    fn session_ok(&self, given: &str) -> bool {
        hmac::verify(&self.key, given.as_bytes(), self.session_tag.as_ref()).is_ok()
    }
}

/// Whether the request carries the admin token (bearer) or a session cookie.
pub(super) fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = &app.token else { return false };
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .any(|(_, given)| token.bearer_ok(given.trim()));
    bearer || cookie(headers).is_some_and(|given| token.session_ok(&given))
}

/// The session cookie's value, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Logs a refused request: where from and what for, never what it sent.
fn refused(peer: SocketAddr, path: &str) {
    warn!(peer = %peer, path, "401: missing or wrong admin token");
}

/// 401 for the API: a JSON error.
pub(super) fn denied_json(peer: SocketAddr, path: &str) -> Response {
    refused(peer, path);
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "missing or wrong token (Authorization: Bearer TOKEN)"}),
    );
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 401 for the dashboard: the login form.
pub(super) fn denied_page(app: &App, peer: SocketAddr, path: &str, wrong: bool) -> Response {
    refused(peer, path);
    let body = app.pages.login(wrong, app.token.is_some());
    html(StatusCode::UNAUTHORIZED, body)
}

#[derive(Debug, Deserialize)]
pub(super) struct Login {
    #[serde(default)]
    token: String,
}

/// `POST /login` (the form's `token`): the session cookie and back to the dashboard.
pub(super) async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    let Some(token) = app.token.as_ref().filter(|t| t.bearer_ok(form.token.trim())) else {
        return denied_page(&app, peer, "/login", true);
    };
    // Secure when the reverse proxy says the browser came over HTTPS.
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000{}",
        token.session,
        if secure { "; Secure" } else { "" }
    );
    see_other(".", Some(&cookie))
}

/// `POST /logout`: the cookie goes.
pub(super) async fn logout() -> Response {
    see_other(".", Some(&format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")))
}

/// 303 to `to` (relative, so that a path prefix of the reverse proxy stays).
fn see_other(to: &str, cookie: Option<&str>) -> Response {
    let mut response = html(StatusCode::SEE_OTHER, String::new());
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_and_its_session_pass() {
        let t = Token::new("correct-horse-battery-staple");
        assert!(t.bearer_ok("correct-horse-battery-staple"));
        assert!(!t.bearer_ok("correct-horse-battery-stapl"));
        assert!(!t.bearer_ok(""));
        assert!(t.session_ok(&t.session.clone()));
        assert!(!t.session_ok("correct-horse-battery-staple"), "the cookie is not the token");
        assert_ne!(Token::new("another-token-of-some-length").session, t.session, "a new token ends sessions");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; cadenced_session=abc ; b=2"));
        assert_eq!(cookie(&headers).as_deref(), Some("abc"));
    }
}
