//! A real OAuth 2.0 / OpenID Connect authorization server for tests: npm's
//! `oidc-provider` (tests/support/oidc/server.mjs), on plain HTTP at
//! `http://127.0.0.1:PORT`, started per test and stopped on drop, its state in
//! memory. `scripts/test.sh` runs `npm ci` in tests/support/oidc when its
//! node_modules is missing.
//!
//! What it serves (see server.mjs):
//! - client [`CLIENT_ID`]: public native client (no secret), PKCE S256
//!   required, redirect URI `http://127.0.0.1/callback` on any port (RFC 8252
//!   loopback), grants authorization_code, refresh_token and device_code;
//! - client [`DOVECOT_CLIENT_ID`] / [`DOVECOT_CLIENT_SECRET`]: Dovecot's, for
//!   introspection (`client_secret_basic`);
//! - scopes [`SCOPES`] (`mail` is what Dovecot wants in a token); a refresh
//!   token whenever `offline_access` is granted; every refresh rotates it,
//!   and a rotated one presented again revokes the whole grant;
//! - the built-in login and consent pages (any login, any password: the login
//!   is the account, its `sub` and its `email`), which
//!   [`oauth_human`](super::oauth_human) fills in with the real browser;
//! - access tokens are opaque (only introspection tells what they are), valid
//!   60 s unless [`OidcProvider::with_access_ttl`] says otherwise.
//!
//! Besides the server, the plain OAuth client calls a test makes to it
//! (device authorization, token, refresh, revocation, introspection), over the
//! raw HTTP client of [`http`](super::http).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http;

/// The product's client: public, native.
pub const CLIENT_ID: &str = "cadenced-test";
/// The scopes the product asks for (space-separated).
pub const SCOPES: &str = "openid email offline_access mail";
/// The registered redirect URI; any port on it is accepted.
#[allow(dead_code)]
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Dovecot's confidential client, for introspection.
pub const DOVECOT_CLIENT_ID: &str = "dovecot";
pub const DOVECOT_CLIENT_SECRET: &str = "dovecot-secret";
/// The account the tests sign in as (the provider takes any login).
pub const USER: &str = "ada@seller.test";
/// The device-code grant type.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

const STARTUP: Duration = Duration::from_secs(30);

/// One running oidc-provider; killed on drop.
#[allow(dead_code)]
pub struct OidcProvider {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// Access-token lifetime in seconds.
    pub access_ttl: u64,
}

/// What `/device/auth` answered.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    /// Seconds between polls; oidc-provider does not send one, so 5 (RFC 8628's default).
    pub interval: u64,
}

/// A successful token response.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: u64,
    pub scope: String,
    pub token_type: String,
}

/// An OAuth error response (`{"error": ..., "error_description": ...}`).
#[allow(dead_code)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: String,
    pub description: String,
}

fn free_port() -> u16 {
    http::free_port()
}

/// The folder holding server.mjs and its node_modules.
pub fn oidc_dir() -> PathBuf {
    super::repo().join("tests/support/oidc")
}

#[allow(dead_code)]
impl OidcProvider {
    /// Starts the provider with 60-second access tokens.
    pub fn start() -> OidcProvider {
        OidcProvider::with_access_ttl(60)
    }

    /// Starts the provider with access tokens valid `seconds`.
    pub fn with_access_ttl(seconds: u64) -> OidcProvider {
        let folder = oidc_dir();
        assert!(
            folder.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed in {}: run ./scripts/test.sh, or npm ci --prefix tests/support/oidc",
            folder.display()
        );
        let dir = tempfile::Builder::new().prefix("cadenced-oidc").tempdir().expect("temp dir");
        let port = free_port();
        let out = std::fs::File::create(dir.path().join("stdout.log")).expect("stdout log");
        let err = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
        let child = Command::new("node")
            .arg(folder.join("server.mjs"))
            .arg(port.to_string())
            .current_dir(&folder)
            .env("ACCESS_TTL", seconds.to_string())
            .env("NODE_ENV", "test")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("node is not installed: run ./scripts/test.sh (it installs nodejs), or apt-get install nodejs npm");
        let mut provider = OidcProvider { dir, child, port, access_ttl: seconds };
        let deadline = Instant::now() + STARTUP;
        loop {
            if provider.stdout().contains("listening") {
                break;
            }
            if let Ok(Some(status)) = provider.child.try_wait() {
                panic!("oidc-provider exited ({status}) before listening:\n{}", provider.log());
            }
            assert!(
                Instant::now() < deadline,
                "oidc-provider did not listen on {}:\n{}",
                provider.addr(),
                provider.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        provider
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the issuer, whose
    /// discovery document is at `/.well-known/openid-configuration`.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`, for [`http`] calls.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The URL of one of the provider's paths, e.g. `/token`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// What the server printed (its stdout, then its stderr: warnings and
    /// every OAuth error it answered), for diagnostics.
    pub fn log(&self) -> String {
        let err = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        format!("{}{err}", self.stdout())
    }

    /// The discovery document.
    pub fn discovery(&self) -> Value {
        http::get(&self.addr(), "/.well-known/openid-configuration", &[]).json()
    }

    /// POSTs a form to `path`; with `basic` as (client id, secret) when given.
    pub fn post_form(&self, path: &str, fields: &[(&str, &str)], basic: Option<(&str, &str)>) -> http::Response {
        let body = form(fields);
        let auth = basic.map(|(id, secret)| format!("Basic {}", b64(format!("{id}:{secret}").as_bytes())));
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        http::post(&self.addr(), path, &headers, body.as_bytes())
    }

    /// Starts a device authorization for [`CLIENT_ID`] with `scope`.
    pub fn device_authorize(&self, scope: &str) -> DeviceAuthorization {
        let r = self.post_form("/device/auth", &[("client_id", CLIENT_ID), ("scope", scope)], None);
        assert_eq!(r.status, 200, "POST /device/auth: {}\n{}", r.body, self.log());
        let v = r.json();
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).to_string();
        DeviceAuthorization {
            device_code: s("device_code"),
            user_code: s("user_code"),
            verification_uri: s("verification_uri"),
            verification_uri_complete: s("verification_uri_complete"),
            expires_in: v["expires_in"].as_u64().unwrap_or(0),
            interval: v["interval"].as_u64().unwrap_or(5),
        }
    }

    /// One poll of `/token` with the device code.
    pub fn device_token(&self, device_code: &str) -> Result<Tokens, OAuthError> {
        let r = self.post_form(
            "/token",
            &[("grant_type", DEVICE_GRANT), ("device_code", device_code), ("client_id", CLIENT_ID)],
            None,
        );
        token_result(&r)
    }

    /// Polls `/token` with the device code (every 100 ms: the provider does not
    /// enforce an interval) until it answers something other than
    /// `authorization_pending`, or `timeout` passes (then panics).
    pub fn poll_device_token(&self, device_code: &str, timeout: Duration) -> Result<Tokens, OAuthError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.device_token(device_code) {
                Err(e) if e.error == "authorization_pending" || e.error == "slow_down" => {}
                other => return other,
            }
            assert!(Instant::now() < deadline, "the device code was not approved within {timeout:?}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The authorization URL a browser opens: code flow with PKCE (S256) and
    /// `prompt=consent` (else oidc-provider drops `offline_access`),
    /// redirecting to `redirect_uri` (e.g. `http://127.0.0.1:PORT/callback`).
    pub fn authorization_url(&self, redirect_uri: &str, state: &str, code_challenge: &str) -> String {
        let query = form(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("scope", SCOPES),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
            ("prompt", "consent"),
        ]);
        format!("{}/auth?{query}", self.issuer())
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    pub fn exchange_code(&self, code: &str, redirect_uri: &str, code_verifier: &str) -> Result<Tokens, OAuthError> {
        let r = self.post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
                ("client_id", CLIENT_ID),
            ],
            None,
        );
        token_result(&r)
    }

    /// The refresh-token grant (rotates the refresh token).
    pub fn refresh(&self, refresh_token: &str) -> Result<Tokens, OAuthError> {
        let r = self.post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", CLIENT_ID)],
            None,
        );
        token_result(&r)
    }

    /// The refresh-token grant asking for fewer scopes: an access token with
    /// only `scope` (e.g. without `mail`, which Dovecot then refuses).
    pub fn refresh_with_scope(&self, refresh_token: &str, scope: &str) -> Result<Tokens, OAuthError> {
        let r = self.post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", CLIENT_ID),
                ("scope", scope),
            ],
            None,
        );
        token_result(&r)
    }

    /// Revokes `token` at `/token/revocation` as [`CLIENT_ID`]; `hint` is
    /// `refresh_token` or `access_token`. Revoking either revokes the whole
    /// grant (every token it issued). The HTTP status (200 even for an unknown token).
    pub fn revoke(&self, token: &str, hint: &str) -> u16 {
        let r = self.post_form(
            "/token/revocation",
            &[("token", token), ("token_type_hint", hint), ("client_id", CLIENT_ID)],
            None,
        );
        r.status
    }

    /// What Dovecot learns of `token` at `/token/introspection` (`active`,
    /// `sub`, `scope`, `exp`...). Dovecot's client sees only access tokens:
    /// a refresh token is `"active": false` to it.
    pub fn introspect(&self, token: &str) -> Value {
        let r = self.post_form(
            "/token/introspection",
            &[("token", token)],
            Some((DOVECOT_CLIENT_ID, DOVECOT_CLIENT_SECRET)),
        );
        assert_eq!(r.status, 200, "introspection: {}\n{}", r.body, self.log());
        r.json()
    }

    /// The OIDC userinfo of an access token (`sub`, `email`).
    pub fn userinfo(&self, access_token: &str) -> http::Response {
        let auth = format!("Bearer {access_token}");
        http::get(&self.addr(), "/me", &[("Authorization", &auth)])
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token_result(r: &http::Response) -> Result<Tokens, OAuthError> {
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    if r.status == 200 {
        let s = |k: &str| v[k].as_str().map(str::to_string);
        return Ok(Tokens {
            access_token: s("access_token").unwrap_or_else(|| panic!("no access_token in {}", r.body)),
            refresh_token: s("refresh_token"),
            id_token: s("id_token"),
            expires_in: v["expires_in"].as_u64().unwrap_or(0),
            scope: s("scope").unwrap_or_default(),
            token_type: s("token_type").unwrap_or_default(),
        });
    }
    Err(OAuthError {
        status: r.status,
        error: v["error"].as_str().unwrap_or_default().to_string(),
        description: v["error_description"].as_str().unwrap_or(&r.body).to_string(),
    })
}

/// A PKCE pair: (code_verifier, S256 code_challenge).
#[allow(dead_code)]
pub fn pkce() -> (String, String) {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("random bytes");
    let verifier = b64url(&bytes);
    let challenge = b64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
    (verifier, challenge)
}

/// `application/x-www-form-urlencoded` (also a query string).
pub fn form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v))).collect::<Vec<_>>().join("&")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameter `name` of `url`, decoded.
#[allow(dead_code)]
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| percent_decode(k) == name)
        .map(|(_, v)| percent_decode(v))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64url without padding (PKCE).
pub fn b64url(bytes: &[u8]) -> String {
    b64(bytes).trim_end_matches('=').replace('+', "-").replace('/', "_")
}

/// Decodes standard or url-safe base64 (padding optional); None if malformed.
#[allow(dead_code)]
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim().bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
