//! `cadenced login`'s two ways to get a mailbox's first tokens:
//! - **device** (RFC 8628): the user opens a URL anywhere and types a code;
//!   cadenced polls the token endpoint until they have consented;
//! - **browser** (authorization code with PKCE and `state`, RFC 8252): the
//!   user opens a URL in a browser on this machine; the provider redirects it
//!   to `http://127.0.0.1:PORT/callback` on a port of cadenced's own.
//!
//! A custom issuer's endpoints come from its metadata
//! (`/.well-known/openid-configuration`, else
//! `/.well-known/oauth-authorization-server`). Nothing is saved here: the
//! caller proves the tokens against the mail servers first.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope, StandardDeviceAuthorizationResponse,
    TokenResponse,
};

use super::{Tokens, http};
use crate::config::{Endpoints, OAuth2, Provider};

/// How long the browser flow waits for the redirect.
const BROWSER_WAIT: StdDuration = StdDuration::from_secs(15 * 60);

/// Which way to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    Device,
    Browser,
}

/// What the user must do, as soon as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Device { verification_uri: String, user_code: String, expires_in: u64, verification_uri_complete: Option<String> },
    Browser { authorization_url: String },
}

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the issuer {issuer} publishes no metadata (tried {tried}); set the endpoints in the oauth2 table")]
    NoMetadata { issuer: String, tried: String },
    #[error("the provider has no {0} endpoint{hint}", hint = flow_hint(.0))]
    NoEndpoint(&'static str),
    #[error("the provider refused: {0}")]
    Refused(String),
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the browser came back without a sign-in: {0}")]
    Redirect(String),
    #[error("no answer from the browser within {} minutes", BROWSER_WAIT.as_secs() / 60)]
    Timeout,
    #[error("cannot listen on 127.0.0.1 for the browser's redirect: {0}")]
    Listen(std::io::Error),
}

fn flow_hint(endpoint: &str) -> &'static str {
    match endpoint {
        "device authorization" => "; use --flow browser",
        "authorization" => "; use --flow device",
        _ => "",
    }
}

/// The endpoints to use: the table's (or the provider's), completed from a
/// custom issuer's metadata.
pub fn endpoints(settings: &OAuth2) -> Result<Endpoints, LoginError> {
    let mut endpoints = settings.endpoints.clone();
    let Some(issuer) = &settings.issuer else { return Ok(endpoints) };
    let mut tried = Vec::new();
    let mut metadata = None;
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let url = format!("{issuer}{path}");
        match http::get_json(&url) {
            Ok(Some(doc)) => {
                metadata = Some(doc);
                break;
            }
            Ok(None) => tried.push(url),
            Err(e) => return Err(LoginError::Unavailable(e.to_string())),
        }
    }
    let Some(doc) = metadata else {
        return Err(LoginError::NoMetadata { issuer: issuer.clone(), tried: tried.join(", ") });
    };
    let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(str::to_string);
    endpoints.device_authorization_url =
        endpoints.device_authorization_url.or_else(|| field("device_authorization_endpoint"));
    endpoints.authorization_url = endpoints.authorization_url.or_else(|| field("authorization_endpoint"));
    endpoints.token_url = endpoints.token_url.or_else(|| field("token_endpoint"));
    endpoints.revocation_url = endpoints.revocation_url.or_else(|| field("revocation_endpoint"));
    Ok(endpoints)
}

/// The flow to use when none is asked for: the device flow where the
/// provider has a device endpoint (Microsoft, most custom servers), else the
/// browser (Google, whose device flow refuses the mail scope).
pub fn default_flow(settings: &OAuth2, endpoints: &Endpoints) -> Flow {
    match (&settings.provider, &endpoints.device_authorization_url) {
        (Provider::Google, _) | (_, None) => Flow::Browser,
        _ => Flow::Device,
    }
}

/// Signs in by `flow` at `endpoints`, telling the user what to do through
/// `prompt`; returns the tokens, not yet saved.
pub fn sign_in(
    settings: &OAuth2,
    endpoints: &Endpoints,
    flow: Flow,
    prompt: &mut dyn FnMut(&Prompt),
) -> Result<Tokens, LoginError> {
    let endpoints = endpoints.clone();
    let token_url = endpoints.token_url.clone().ok_or(LoginError::NoEndpoint("token"))?;
    let response = match flow {
        Flow::Device => device(settings, &endpoints, prompt)?,
        Flow::Browser => browser(settings, &endpoints, prompt)?,
    };
    let now = Utc::now();
    let expires_in = response.expires_in().and_then(|d| Duration::from_std(d).ok()).unwrap_or(Duration::hours(1));
    Ok(Tokens {
        account: settings.account.clone(),
        scopes: response
            .scopes()
            .map_or_else(|| settings.scopes.clone(), |s| s.iter().map(|s| s.to_string()).collect()),
        access_token: response.access_token().secret().clone(),
        expires_at: now + expires_in,
        obtained_at: now,
        refresh_token: response.refresh_token().map(|r| r.secret().clone()),
        refresh_used_at: now,
        token_url,
        signed_in_at: now,
        lost: None,
    })
}

type Response = oauth2::basic::BasicTokenResponse;

fn scopes(settings: &OAuth2) -> impl Iterator<Item = Scope> + '_ {
    settings.scopes.iter().cloned().map(Scope::new)
}

fn refused(error: super::TokenError) -> LoginError {
    match error {
        super::TokenError::Unavailable(e) => LoginError::Unavailable(e),
        other => LoginError::Refused(other.to_string()),
    }
}

fn device(settings: &OAuth2, endpoints: &Endpoints, prompt: &mut dyn FnMut(&Prompt)) -> Result<Response, LoginError> {
    let url = endpoints.device_authorization_url.as_deref().ok_or(LoginError::NoEndpoint("device authorization"))?;
    let client = super::client(settings, endpoints.token_url.as_deref(), None, Some(url));
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .map_err(|_| LoginError::NoEndpoint("device authorization"))?
        .add_scopes(scopes(settings))
        .request(&http::call)
        .map_err(|e| refused(super::classify(e)))?;
    prompt(&Prompt::Device {
        verification_uri: details.verification_uri().to_string(),
        user_code: details.user_code().secret().clone(),
        expires_in: details.expires_in().as_secs(),
        verification_uri_complete: details.verification_uri_complete().map(|u| u.secret().clone()),
    });
    client
        .exchange_device_access_token(&details)
        .map_err(|_| LoginError::NoEndpoint("token"))?
        .request(&http::call, std::thread::sleep, None)
        .map_err(|e| refused(super::classify(e)))
}

fn browser(settings: &OAuth2, endpoints: &Endpoints, prompt: &mut dyn FnMut(&Prompt)) -> Result<Response, LoginError> {
    let auth_url = endpoints.authorization_url.as_deref().ok_or(LoginError::NoEndpoint("authorization"))?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(LoginError::Listen)?;
    let port = listener.local_addr().map_err(LoginError::Listen)?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let client = super::client(settings, endpoints.token_url.as_deref(), Some(auth_url), None)
        .set_redirect_uri(RedirectUrl::new(redirect).map_err(|e| LoginError::Redirect(e.to_string()))?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .map_err(|_| LoginError::NoEndpoint("authorization"))?
        .add_scopes(scopes(settings))
        .set_pkce_challenge(challenge)
        // Without consent asked again, some servers drop offline_access (no refresh token).
        .add_extra_param("prompt", "consent");
    if settings.provider == Provider::Google {
        request = request.add_extra_param("access_type", "offline");
    }
    if !settings.account.is_empty() {
        request = request.add_extra_param("login_hint", settings.account.clone());
    }
    let (url, state) = request.url();
    prompt(&Prompt::Browser { authorization_url: url.to_string() });
    let code = wait_for_redirect(&listener, state.secret())?;
    client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| LoginError::NoEndpoint("token"))?
        .set_pkce_verifier(verifier)
        .request(&http::call)
        .map_err(|e| refused(super::classify(e)))
}

/// What came back on the redirect.
#[derive(Debug, PartialEq, Eq)]
enum Callback {
    Code(String),
    Error(String),
    /// Another path (a favicon), or a state that is not ours.
    Other,
}

/// PURE: reads the request line of the redirect.
fn read_callback(request_line: &str, state: &str) -> Callback {
    let Some(target) = request_line.split_whitespace().nth(1) else { return Callback::Other };
    let Some(query) = target.strip_prefix("/callback?") else { return Callback::Other };
    let params: std::collections::HashMap<String, String> =
        oauth2::url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if params.get("state").map(String::as_str) != Some(state) {
        return Callback::Other;
    }
    if let Some(error) = params.get("error") {
        let description = params.get("error_description").map(|d| format!(": {d}")).unwrap_or_default();
        return Callback::Error(format!("{error}{description}"));
    }
    params.get("code").map_or(Callback::Other, |c| Callback::Code(c.clone()))
}

fn answer(stream: &mut TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>cadenced</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Waits for the browser to come back to the loopback port with our `state`.
fn wait_for_redirect(listener: &TcpListener, state: &str) -> Result<String, LoginError> {
    listener.set_nonblocking(true).map_err(LoginError::Listen)?;
    let deadline = Instant::now() + BROWSER_WAIT;
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(LoginError::Timeout);
                }
                std::thread::sleep(StdDuration::from_millis(50));
                continue;
            }
            Err(e) => return Err(LoginError::Listen(e)),
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(StdDuration::from_secs(10)));
        let mut line = String::new();
        let Ok(reader) = stream.try_clone() else { continue };
        if BufReader::new(reader).take(8192).read_line(&mut line).is_err() {
            continue;
        }
        match read_callback(&line, state) {
            Callback::Code(code) => {
                answer(&mut stream, "200 OK", "cadenced is signed in. You can close this tab.");
                return Ok(code);
            }
            Callback::Error(e) => {
                answer(&mut stream, "200 OK", "The sign-in did not complete; see the terminal.");
                return Err(LoginError::Redirect(e));
            }
            Callback::Other => answer(&mut stream, "404 Not Found", "Not here."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_gives_the_code_for_our_state_only() {
        let line = "GET /callback?code=abc%2F1&state=s1 HTTP/1.1\r\n";
        assert_eq!(read_callback(line, "s1"), Callback::Code("abc/1".into()));
        assert_eq!(read_callback(line, "s2"), Callback::Other);
        assert_eq!(read_callback("GET /favicon.ico HTTP/1.1", "s1"), Callback::Other);
        assert_eq!(
            read_callback("GET /callback?error=access_denied&error_description=no&state=s1 HTTP/1.1", "s1"),
            Callback::Error("access_denied: no".into())
        );
    }
}
