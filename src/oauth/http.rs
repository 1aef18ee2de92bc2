//! The HTTP client the OAuth requests go through (ureq, blocking, rustls),
//! in the shape the `oauth2` crate asks for. A server that answers 5xx or
//! 429, or cannot be reached, is an outage and comes back as an error of
//! this client, never as the provider's verdict on the sign-in.

use std::time::Duration;

use oauth2::{HttpRequest, HttpResponse};

/// How long one request to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// A provider's answer is small; more is not one.
const MAX_BODY: u64 = 1024 * 1024;

/// Why the provider could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach {url}: {error}")]
    Unreachable { url: String, error: ureq::Error },
    #[error("{url} answered {status}: {body}")]
    Outage { url: String, status: u16, body: String },
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(TIMEOUT)).http_status_as_error(false).build().into()
}

/// The first 200 characters of an answer, on one line, for an error message.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(200).collect()
}

/// One request for the `oauth2` crate: any 4xx comes back as the provider's
/// answer (an OAuth error it will read), 5xx and 429 as an [`HttpError::Outage`].
pub fn call(request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let url = request.uri().to_string();
    let response = agent().run(request).map_err(|error| HttpError::Unreachable { url: url.clone(), error })?;
    let (parts, mut body) = response.into_parts();
    let bytes = body
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|error| HttpError::Unreachable { url: url.clone(), error })?;
    let status = parts.status.as_u16();
    if status >= 500 || status == 429 {
        return Err(HttpError::Outage { url, status, body: excerpt(&bytes) });
    }
    Ok(HttpResponse::from_parts(parts, bytes))
}

/// `GET url` for a JSON document (an issuer's metadata).
pub fn get_json(url: &str) -> Result<Option<serde_json::Value>, HttpError> {
    let request = oauth2::http::Request::get(url)
        .header("Accept", "application/json")
        .body(Vec::new())
        .map_err(|e| HttpError::Unreachable { url: url.to_string(), error: ureq::Error::Http(e) })?;
    let response = call(request)?;
    if !response.status().is_success() {
        return Ok(None);
    }
    Ok(serde_json::from_slice(response.body()).ok())
}
