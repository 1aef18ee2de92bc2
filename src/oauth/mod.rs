//! OAuth 2.0 sign-in for mailboxes (Microsoft 365, Google Workspace, any
//! authorization server): `cadenced login` gets the first tokens
//! ([`login`]), they live in `tokens/NAME.json` ([`token_file`]), and every
//! SMTP or IMAP login asks [`access_token`] for a token that has time left,
//! refreshing it first when it nears its end. The SASL side is in [`sasl`].
//!
//! The rules of a refresh:
//! - it happens when less than five minutes are left (a quarter of the
//!   token's life, for tokens that live under twenty minutes), one at a time
//!   across threads and processes (a lock file beside the tokens);
//! - a rotated refresh token is saved before the new access token is used,
//!   and the old one is kept when the response has none (as Google does);
//! - a server that refuses an unexpired token gets one refresh and one retry
//!   ([`access_token`] with the refused token);
//! - the provider's `invalid_grant` (consent revoked, password changed,
//!   refresh token expired) is a lost sign-in ([`TokenError::Lost`]): only a
//!   person can fix it, with `cadenced login NAME`; a provider that cannot
//!   be reached or answers 5xx is an outage ([`TokenError::Unavailable`]).

mod http;
pub mod login;
pub mod sasl;
pub mod token_file;

use chrono::{DateTime, Duration, Utc};
use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, RefreshToken, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};

use crate::config::{OAuth2, Secret};
pub use token_file::{FileError, Tokens};

/// The most time left at which a token is refreshed.
const MARGIN: Duration = Duration::minutes(5);

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file is missing, unsafe or unreadable.
    #[error(transparent)]
    File(#[from] FileError),
    /// The provider refused the refresh for good: a person must sign in again.
    #[error("{0}")]
    Lost(String),
    /// The provider cannot be reached or failed (5xx): try again later.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

impl TokenError {
    /// Whether only `cadenced login` fixes this (a lost grant, or no token file yet).
    pub fn needs_login(&self) -> bool {
        matches!(self, TokenError::Lost(_) | TokenError::File(FileError::Missing { .. } | FileError::Corrupt { .. }))
    }
}

/// What a mailbox logs in with.
#[derive(Debug, Clone)]
pub struct Access {
    pub account: String,
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
}

/// PURE: whether `tokens` need a refresh at `now`: less than five minutes
/// left, or less than a quarter of their life for short-lived tokens.
pub fn needs_refresh(tokens: &Tokens, now: DateTime<Utc>) -> bool {
    let life = (tokens.expires_at - tokens.obtained_at).max(Duration::zero());
    let margin = MARGIN.min(life / 4);
    tokens.expires_at - now <= margin
}

/// The client the `oauth2` crate needs for `settings`, with `token_url`.
type Client = BasicClient<EndpointMaybeSet, EndpointMaybeSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet>;

fn client(settings: &OAuth2, token_url: Option<&str>, auth_url: Option<&str>, device_url: Option<&str>) -> Client {
    let mut client = BasicClient::new(ClientId::new(settings.client_id.clone()))
        .set_token_uri_option(token_url.and_then(|u| TokenUrl::new(u.to_string()).ok()))
        .set_auth_uri_option(auth_url.and_then(|u| oauth2::AuthUrl::new(u.to_string()).ok()))
        .set_device_authorization_url_option(
            device_url.and_then(|u| oauth2::DeviceAuthorizationUrl::new(u.to_string()).ok()),
        );
    if let Some(secret) = &settings.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
    }
    client
}

/// What a token request's failure means for the mailbox.
fn classify<RE>(error: RequestTokenError<http::HttpError, oauth2::StandardErrorResponse<RE>>) -> TokenError
where
    RE: oauth2::ErrorResponseType + std::fmt::Display + 'static,
    oauth2::StandardErrorResponse<RE>: oauth2::ErrorResponse,
{
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().to_string();
            let mut what = code.clone();
            if let Some(description) = response.error_description() {
                what = format!("{what}: {description}");
            }
            if matches!(code.as_str(), "temporarily_unavailable" | "server_error" | "slow_down") {
                TokenError::Unavailable(what)
            } else {
                TokenError::Lost(what)
            }
        }
        RequestTokenError::Request(e) => TokenError::Unavailable(e.to_string()),
        RequestTokenError::Parse(e, body) => {
            TokenError::Unavailable(format!("unreadable answer ({e}): {}", http::excerpt(&body)))
        }
        RequestTokenError::Other(e) => TokenError::Unavailable(e),
    }
}

/// The tokens on disk, without asking the provider: a grant the provider
/// refused for good reads as [`TokenError::Lost`].
pub fn stored(settings: &OAuth2) -> Result<Tokens, TokenError> {
    let tokens = token_file::load(&settings.token_file)?;
    match &tokens.lost {
        Some(lost) => Err(TokenError::Lost(lost.clone())),
        None => Ok(tokens),
    }
}

/// A token for `settings`'s mailbox that has time left, refreshed first if
/// it nears its end. `refused`: the token a server just refused although it
/// had not expired; unless someone refreshed since, it is refreshed now.
pub fn access_token(settings: &OAuth2, refused: Option<&Secret>) -> Result<Access, TokenError> {
    let _lock = token_file::Lock::acquire(&settings.token_file)?;
    let tokens = stored(settings)?;
    // The real clock: the token's life is the provider's, whatever `--at` says.
    let now = Utc::now();
    let refused_this = refused.is_some_and(|r| r.expose() == tokens.access_token);
    if !refused_this && !needs_refresh(&tokens, now) {
        return Ok(Access { account: tokens.account.clone(), token: tokens.access(), expires_at: tokens.expires_at });
    }
    let tokens = refresh(settings, tokens, now)?;
    Ok(Access { account: tokens.account.clone(), token: tokens.access(), expires_at: tokens.expires_at })
}

/// Refreshes `tokens` and saves the result before anyone uses it.
fn refresh(settings: &OAuth2, old: Tokens, now: DateTime<Utc>) -> Result<Tokens, TokenError> {
    let Some(refresh_token) = old.refresh_token.clone() else {
        return Err(TokenError::Lost(
            "the access token expired and the provider gave no refresh token (was offline_access granted?)".into(),
        ));
    };
    let token_url = settings.endpoints.token_url.clone().unwrap_or_else(|| old.token_url.clone());
    let client = client(settings, Some(&token_url), None, None);
    let refresh_token = RefreshToken::new(refresh_token);
    let request = client
        .exchange_refresh_token(&refresh_token)
        .map_err(|e| TokenError::Lost(format!("no token endpoint: {e}")))?
        .add_scopes(settings.scopes.iter().cloned().map(Scope::new));
    let response = match request.request(&http::call).map_err(classify) {
        Ok(response) => response,
        Err(TokenError::Lost(why)) => {
            // Remembered, so that no one presents the dead grant again.
            let marked = Tokens { lost: Some(why.clone()), ..old };
            if let Err(e) = token_file::save(&settings.token_file, &marked) {
                tracing::warn!(mailbox = %settings.mailbox, "cannot record the lost sign-in: {e}");
            }
            return Err(TokenError::Lost(why));
        }
        Err(e) => return Err(e),
    };
    let expires_in = response.expires_in().and_then(|d| Duration::from_std(d).ok()).unwrap_or(Duration::hours(1));
    let tokens = Tokens {
        access_token: response.access_token().secret().clone(),
        expires_at: now + expires_in,
        obtained_at: now,
        // Rotated, or the old one kept when the response has none.
        refresh_token: response.refresh_token().map(|r| r.secret().clone()).or(old.refresh_token.clone()),
        refresh_used_at: now,
        scopes: response.scopes().map_or(old.scopes.clone(), |s| s.iter().map(|s| s.to_string()).collect()),
        token_url,
        ..old
    };
    token_file::save(&settings.token_file, &tokens)?;
    tracing::info!(mailbox = %settings.mailbox, expires_at = %crate::time::rfc3339(tokens.expires_at),
                   "OAuth access token refreshed");
    Ok(tokens)
}

/// The line a lost sign-in shows everywhere (`status`, `mailboxes`, the
/// journal, the digest, STATUS=).
pub fn lost_reason(mailbox: &str, error: &TokenError) -> String {
    format!("sign-in for {mailbox} lost: {error}; run cadenced login {mailbox}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn tokens(obtained: &str, expires: &str) -> Tokens {
        Tokens {
            account: "a".into(),
            scopes: vec![],
            access_token: "t".into(),
            expires_at: at(expires),
            obtained_at: at(obtained),
            refresh_token: None,
            refresh_used_at: at(obtained),
            token_url: String::new(),
            signed_in_at: at(obtained),
            lost: None,
        }
    }

    #[test]
    fn an_hour_token_is_refreshed_five_minutes_before_its_end() {
        let t = tokens("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z");
        assert!(!needs_refresh(&t, at("2026-03-02T09:54:59Z")));
        assert!(needs_refresh(&t, at("2026-03-02T09:55:00Z")));
        assert!(needs_refresh(&t, at("2026-03-02T10:30:00Z")));
    }

    #[test]
    fn a_one_minute_token_is_used_for_three_quarters_of_its_life() {
        let t = tokens("2026-03-02T09:00:00Z", "2026-03-02T09:01:00Z");
        assert!(!needs_refresh(&t, at("2026-03-02T09:00:44Z")));
        assert!(needs_refresh(&t, at("2026-03-02T09:00:45Z")));
    }

    /// A token endpoint on loopback that answers each request with the next
    /// of `responses` (status line, then a JSON body), then closes.
    fn endpoint(responses: Vec<(&'static str, &'static str)>) -> String {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/token", listener.local_addr().unwrap().port());
        std::thread::spawn(move || {
            for (status, body) in responses {
                let Ok((stream, _)) = listener.accept() else { return };
                let mut reader = std::io::BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut request = vec![0; length];
                let _ = reader.read_exact(&mut request);
                let _ = write!(
                    reader.get_mut(),
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url
    }

    /// A mailbox's settings with tokens on disk that need a refresh now.
    fn signed_in(dir: &std::path::Path, token_url: &str) -> OAuth2 {
        let settings = OAuth2 {
            mailbox: "sales".into(),
            provider: crate::config::Provider::Custom,
            client_id: "cadenced".into(),
            client_secret: None,
            issuer: None,
            endpoints: crate::config::Endpoints { token_url: Some(token_url.into()), ..Default::default() },
            scopes: vec!["mail".into()],
            imap_mechanism: crate::config::Mechanism::Xoauth2,
            token_file: dir.join("tokens").join("sales.json"),
            account: "ada@example.com".into(),
        };
        let mut t = tokens("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z");
        t.refresh_token = Some("old-refresh".into());
        token_file::save(&settings.token_file, &t).unwrap();
        settings
    }

    #[test]
    fn a_rotated_refresh_token_is_saved_and_an_absent_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let url = endpoint(vec![
            ("200 OK", r#"{"access_token":"a1","token_type":"Bearer","expires_in":3600,"refresh_token":"r1"}"#),
            ("200 OK", r#"{"access_token":"a2","token_type":"Bearer","expires_in":3600}"#),
        ]);
        let settings = signed_in(dir.path(), &url);
        assert_eq!(access_token(&settings, None).unwrap().token.expose(), "a1");
        assert_eq!(token_file::load(&settings.token_file).unwrap().refresh_token.as_deref(), Some("r1"));
        // A token a server refused although it had not expired: refreshed once more.
        let refused = Secret::new("a1");
        assert_eq!(access_token(&settings, Some(&refused)).unwrap().token.expose(), "a2");
        let kept = token_file::load(&settings.token_file).unwrap();
        assert_eq!(kept.refresh_token.as_deref(), Some("r1"), "Google sends none: the old one is kept");
        // Fresh now: no request (the endpoint has no answer left).
        assert_eq!(access_token(&settings, None).unwrap().token.expose(), "a2");
    }

    #[test]
    fn invalid_grant_is_a_lost_sign_in_remembered_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let url =
            endpoint(vec![("400 Bad Request", r#"{"error":"invalid_grant","error_description":"consent revoked"}"#)]);
        let settings = signed_in(dir.path(), &url);
        let e = access_token(&settings, None).unwrap_err();
        assert!(matches!(&e, TokenError::Lost(why) if why == "invalid_grant: consent revoked"), "{e:?}");
        assert_eq!(
            lost_reason("sales", &e),
            "sign-in for sales lost: invalid_grant: consent revoked; run cadenced login sales"
        );
        assert_eq!(
            token_file::load(&settings.token_file).unwrap().lost.as_deref(),
            Some("invalid_grant: consent revoked")
        );
        // Not asked again (the endpoint would not answer): the dead grant is known.
        assert!(matches!(access_token(&settings, None), Err(TokenError::Lost(_))));
    }

    #[test]
    fn a_provider_that_fails_or_cannot_be_reached_is_an_outage() {
        let dir = tempfile::tempdir().unwrap();
        let url = endpoint(vec![
            ("503 Service Unavailable", r#"{"error":"temporarily_unavailable"}"#),
            ("500 Internal Server Error", "<html>oops</html>"),
        ]);
        let settings = signed_in(dir.path(), &url);
        for _ in 0..2 {
            let e = access_token(&settings, None).unwrap_err();
            assert!(matches!(e, TokenError::Unavailable(_)), "{e:?}");
            assert!(!e.needs_login());
        }
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let settings = OAuth2 {
            endpoints: crate::config::Endpoints {
                token_url: Some(format!("http://127.0.0.1:{closed}/token")),
                ..Default::default()
            },
            ..settings
        };
        assert!(matches!(access_token(&settings, None), Err(TokenError::Unavailable(_))));
        let t = token_file::load(&settings.token_file).unwrap();
        assert_eq!((t.lost, t.refresh_token.as_deref()), (None, Some("old-refresh")), "nothing lost or changed");
    }

    #[test]
    fn only_a_lost_grant_or_a_missing_file_needs_a_login() {
        assert!(TokenError::Lost("invalid_grant".into()).needs_login());
        assert!(!TokenError::Unavailable("503".into()).needs_login());
        assert!(TokenError::File(FileError::Missing { path: "x".into() }).needs_login());
    }
}
