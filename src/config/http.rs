//! The `[http]` table: where the daemon's HTTP side listens, the public URL
//! that links in emails use (TLS is the reverse proxy's job), and the admin
//! token of the dashboard and the API. Off unless the table is present.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::mailbox::Secret;

/// Where the HTTP side listens unless `listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8025";
/// The shortest admin token accepted.
const MIN_TOKEN: usize = 16;

#[derive(Debug, Clone)]
pub struct Http {
    pub listen: SocketAddr,
    /// `https://go.example.com`, without a trailing slash: one-click
    /// unsubscribe links in emails are `PUBLIC_URL/u/TOKEN`.
    pub public_url: Option<String>,
    /// The admin token (dashboard and API); without one they answer 401.
    pub token: Option<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    listen: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

type Problems = Vec<(Option<Range<usize>>, String)>;

pub(super) fn check(raw: &RawHttp, resolve: &dyn Fn(&str) -> PathBuf) -> Result<Http, Problems> {
    let mut problems: Problems = Vec::new();
    let listen = match &raw.listen {
        None => DEFAULT_LISTEN.parse().ok(),
        Some(l) => l
            .get_ref()
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.push((
                    Some(l.span()),
                    format!(
                        "listen: invalid address {:?} (expected IP:PORT, e.g. {DEFAULT_LISTEN}, or [::1]:8025)",
                        l.get_ref()
                    ),
                ));
            })
            .ok(),
    };
    let public_url = raw.public_url.as_ref().and_then(|u| {
        public_url(u.get_ref()).map_err(|e| problems.push((Some(u.span()), format!("public_url: {e}")))).ok()
    });
    let token = raw.token_file.as_ref().and_then(|f| {
        read_token(&resolve(f.get_ref())).map_err(|e| problems.push((Some(f.span()), format!("token_file: {e}")))).ok()
    });
    match listen {
        Some(listen) if problems.is_empty() => Ok(Http { listen, public_url, token }),
        _ => Err(problems),
    }
}

/// Why a `public_url` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    #[error("{0:?} must start with https:// (one-click unsubscribe needs HTTPS; TLS is the reverse proxy's job)")]
    NotHttps(String),
    #[error("{0:?} has no host (expected e.g. https://go.example.com)")]
    NoHost(String),
    #[error("{0:?} contains {1:?} (expected e.g. https://go.example.com, without a query)")]
    Forbidden(String, char),
}

/// `https://host[:port][/path]`, without a query, a fragment, or anything
/// that could break the `List-Unsubscribe` header it goes into.
fn public_url(text: &str) -> Result<String, PublicUrlError> {
    let Some(rest) = text.trim().strip_prefix("https://") else {
        return Err(PublicUrlError::NotHttps(text.to_string()));
    };
    let rest = rest.trim_end_matches('/');
    let url = format!("https://{rest}");
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(PublicUrlError::NoHost(text.to_string()));
    }
    if let Some(bad) =
        url.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | '"' | '?' | '#'))
    {
        return Err(PublicUrlError::Forbidden(text.to_string(), bad));
    }
    Ok(url)
}

/// Why the admin token could not be used.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("cannot read {}: {error}", path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error("{} is readable by every user (mode {mode:o}); run chmod o-rwx on it", path.display())]
    WorldReadable { path: PathBuf, mode: u32 },
    #[error(
        "the token in {} is {len} characters long; use at least {MIN_TOKEN} (e.g. head -c 32 /dev/urandom | base64 > {})",
        path.display(), path.display()
    )]
    Short { path: PathBuf, len: usize },
    #[error("the token in {} may only hold printable ASCII without spaces (it is sent in an HTTP header)", path.display())]
    Characters { path: PathBuf },
}

/// Reads the token file: private like a password file, one line of at least
/// [`MIN_TOKEN`] printable characters.
fn read_token(path: &Path) -> Result<Secret, TokenError> {
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |error| TokenError::Unreadable { path: path.to_path_buf(), error };
    let mode = std::fs::metadata(path).map_err(unreadable)?.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(TokenError::WorldReadable { path: path.to_path_buf(), mode: mode & 0o777 });
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    let token = text.trim();
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(TokenError::Characters { path: path.to_path_buf() });
    }
    if token.len() < MIN_TOKEN {
        return Err(TokenError::Short { path: path.to_path_buf(), len: token.len() });
    }
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_https_without_query() {
        assert_eq!(public_url("https://go.example.com/").unwrap(), "https://go.example.com");
        assert_eq!(public_url(" https://example.com/cadenced ").unwrap(), "https://example.com/cadenced");
        for (bad, want) in [
            ("http://go.example.com", "must start with https://"),
            ("https://", "has no host"),
            ("https://go.example.com/?a=1", "contains '?'"),
            ("https://go.example.com>, <mailto:x@y", "contains '>'"),
            ("https://go example.com", "contains ' '"),
        ] {
            let err = public_url(bad).unwrap_err().to_string();
            assert!(err.contains(want), "{bad}: {err}");
        }
    }
}
