//! PURE: the SASL exchanges that carry an OAuth 2.0 access token to a mail
//! server: XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER (RFC 7628),
//! and the JSON a server sends back as an error challenge when it refuses
//! the token, kept so that the user reads what the server said.

/// The initial client response of XOAUTH2 (before base64).
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// The initial client response of OAUTHBEARER (RFC 7628 §3.1, before base64).
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &str) -> String {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
}

/// What a server's error challenge says: its `status` (XOAUTH2 uses HTTP-like
/// codes, OAUTHBEARER names the error) and the JSON as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: Option<String>,
    pub json: String,
}

impl Refusal {
    /// Reads an error challenge (already base64-decoded); anything that is
    /// not JSON is kept as text.
    pub fn parse(challenge: &[u8]) -> Refusal {
        let json = String::from_utf8_lossy(challenge).trim().to_string();
        let status = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v.get("status").and_then(|s| s.as_str().map(str::to_string).or_else(|| Some(s.to_string()))));
        Refusal { status, json }
    }

    /// Whether the token itself was refused (expired or revoked), rather
    /// than, say, the scope: a refresh may help.
    pub fn token_refused(&self) -> bool {
        matches!(self.status.as_deref(), Some("401" | "invalid_token") | None)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server refused the token: {}", self.json)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_is_googles_format() {
        // https://developers.google.com/gmail/imap/xoauth2-protocol
        assert_eq!(
            xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_is_rfc_7628() {
        // RFC 7628 §4.1, with the GS2 header's comma and equals escaped.
        assert_eq!(
            oauthbearer("user@example.com", "server.example.com", 143, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer \
             vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert!(oauthbearer("a,b=c", "h", 1, "t").starts_with("n,a=a=2Cb=3Dc,"));
    }

    #[test]
    fn an_error_challenge_keeps_its_json() {
        let r = Refusal::parse(br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#);
        assert_eq!(r.status.as_deref(), Some("401"));
        assert!(r.token_refused());
        assert!(r.to_string().contains(r#""scope":"https://mail.google.com/""#));
        let bearer = Refusal::parse(br#"{"status":"insufficient_scope","scope":"mail"}"#);
        assert!(!bearer.token_refused());
        assert_eq!(Refusal::parse(b"not json").status, None);
    }
}
