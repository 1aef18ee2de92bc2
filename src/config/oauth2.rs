//! One `[mailboxes.NAME.oauth2]` table: signing in to a mailbox with OAuth 2.0
//! (Microsoft 365, Google Workspace, or any authorization server) instead of
//! a password. What each provider needs by default (endpoints, scopes, mail
//! hosts) is written here, so that a Microsoft or Google mailbox needs only
//! `provider` and `client_id`. Nothing here touches the network: a custom
//! `issuer`'s endpoints are discovered by `cadenced login` and kept in the
//! token file.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::secret::Secret;

/// Who runs the authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// Microsoft Entra (Microsoft 365, Exchange Online), with its tenant
    /// (`organizations`, `common`, a domain or a tenant id).
    Microsoft { tenant: String },
    /// Google (Workspace, Gmail).
    Google,
    /// Any other OAuth 2.0 server.
    Custom,
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Microsoft { .. } => "microsoft",
            Provider::Google => "google",
            Provider::Custom => "custom",
        }
    }

    /// The scopes asked for when the table names none.
    pub fn default_scopes(&self) -> Vec<String> {
        let scopes: &[&str] = match self {
            Provider::Microsoft { .. } => &[
                "https://outlook.office.com/IMAP.AccessAsUser.All",
                "https://outlook.office.com/SMTP.Send",
                "offline_access",
            ],
            Provider::Google => &["https://mail.google.com/"],
            Provider::Custom => &["offline_access"],
        };
        scopes.iter().map(|s| (*s).to_string()).collect()
    }

    /// The provider's own endpoints; a custom server's come from the table.
    fn endpoints(&self) -> Option<Endpoints> {
        match self {
            Provider::Microsoft { tenant } => {
                let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
                Some(Endpoints {
                    device_authorization_url: Some(format!("{base}/devicecode")),
                    authorization_url: Some(format!("{base}/authorize")),
                    token_url: Some(format!("{base}/token")),
                    revocation_url: None,
                })
            }
            Provider::Google => Some(Endpoints {
                // Google's device flow refuses the mail scope: browser only.
                device_authorization_url: None,
                authorization_url: Some("https://accounts.google.com/o/oauth2/v2/auth".into()),
                token_url: Some("https://oauth2.googleapis.com/token".into()),
                revocation_url: Some("https://oauth2.googleapis.com/revoke".into()),
            }),
            Provider::Custom => None,
        }
    }

    /// The SMTP and IMAP URLs a mailbox of this provider uses when it names none.
    pub fn default_hosts(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Provider::Microsoft { .. } => {
                Some(("smtp+starttls://smtp.office365.com:587", "imaps://outlook.office365.com:993"))
            }
            Provider::Google => Some(("smtps://smtp.gmail.com:465", "imaps://imap.gmail.com:993")),
            Provider::Custom => None,
        }
    }
}

/// Where the authorization server takes requests. Any may be unknown until
/// `cadenced login` discovers them from the issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub device_authorization_url: Option<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub revocation_url: Option<String>,
}

/// The SASL mechanism for IMAP (SMTP always uses XOAUTH2, which both
/// Microsoft and Google take).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Xoauth2,
    OAuthBearer,
}

impl Mechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Xoauth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// A checked `[mailboxes.NAME.oauth2]` table.
#[derive(Debug, Clone)]
pub struct OAuth2 {
    /// The mailbox's name (`tokens/NAME.json`, `cadenced login NAME`).
    pub mailbox: String,
    pub provider: Provider,
    pub client_id: String,
    /// Google desktop clients have a secret that is not confidential; it
    /// still stays out of logs.
    pub client_secret: Option<Secret>,
    /// A custom server's issuer, whose endpoints `login` discovers.
    pub issuer: Option<String>,
    /// The provider's, or the table's explicit ones.
    pub endpoints: Endpoints,
    pub scopes: Vec<String>,
    pub imap_mechanism: Mechanism,
    /// `tokens/NAME.json` beside the database.
    pub token_file: PathBuf,
    /// The account the SASL exchange names (`username`, else `from`'s address).
    pub account: String,
}

impl OAuth2 {
    /// Whether `login` may use the device flow: the provider has a device
    /// endpoint, or a custom issuer may advertise one.
    pub fn default_flow_is_device(&self) -> bool {
        match self.provider {
            Provider::Google => false,
            Provider::Microsoft { .. } => true,
            Provider::Custom => self.endpoints.device_authorization_url.is_some() || self.issuer.is_some(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth2 {
    provider: Spanned<String>,
    client_id: Spanned<String>,
    client_secret_file: Option<Spanned<String>>,
    tenant: Option<Spanned<String>>,
    issuer: Option<Spanned<String>>,
    device_authorization_url: Option<Spanned<String>>,
    authorization_url: Option<Spanned<String>>,
    token_url: Option<Spanned<String>>,
    revocation_url: Option<Spanned<String>>,
    scopes: Option<Vec<Spanned<String>>>,
    imap_mechanism: Option<Spanned<String>>,
}

impl RawOAuth2 {
    /// The provider named, for defaults the mailbox table needs before the
    /// whole table is checked (its SMTP and IMAP hosts).
    pub(super) fn provider_hosts(&self) -> Option<(&'static str, &'static str)> {
        match self.provider.get_ref().as_str() {
            "microsoft" => Provider::Microsoft { tenant: String::new() }.default_hosts(),
            "google" => Provider::Google.default_hosts(),
            _ => None,
        }
    }
}

type Problems = Vec<(Option<Range<usize>>, String)>;

/// An endpoint URL: https, or http on a loopback host (a test server).
fn check_url(key: &str, url: &Spanned<String>, problems: &mut Problems) -> Option<String> {
    let text = url.get_ref().trim();
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| text.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/'])));
    if text.starts_with("https://") && text.len() > "https://".len() || loopback {
        Some(text.trim_end_matches('/').to_string())
    } else {
        problems.push((
            Some(url.span()),
            format!("oauth2.{key}: {text:?} must be an https:// URL (http:// only on 127.0.0.1 or localhost)"),
        ));
        None
    }
}

pub(super) fn check(
    mailbox: &str,
    raw: &RawOAuth2,
    account: String,
    token_file: PathBuf,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<OAuth2, Problems> {
    let mut problems: Problems = Vec::new();
    let provider = match raw.provider.get_ref().as_str() {
        "microsoft" => {
            let tenant = raw.tenant.as_ref().map_or("organizations", |t| t.get_ref().as_str()).trim().to_string();
            if tenant.is_empty() || tenant.contains(['/', '?', '#', ' ']) {
                problems.push((
                    raw.tenant.as_ref().map(Spanned::span),
                    format!("oauth2.tenant: {tenant:?} is not a tenant (organizations, common, a domain or an id)"),
                ));
            }
            Provider::Microsoft { tenant }
        }
        "google" => Provider::Google,
        "custom" => Provider::Custom,
        other => {
            problems.push((
                Some(raw.provider.span()),
                format!(
                    "oauth2.provider: unknown provider {other:?} (expected \"microsoft\", \"google\" or \"custom\")"
                ),
            ));
            Provider::Custom
        }
    };
    if let (Some(t), false) = (&raw.tenant, matches!(provider, Provider::Microsoft { .. })) {
        problems.push((Some(t.span()), "oauth2.tenant: only a Microsoft provider has a tenant".into()));
    }
    let client_id = raw.client_id.get_ref().trim().to_string();
    if client_id.is_empty() {
        problems.push((Some(raw.client_id.span()), "oauth2.client_id: must not be empty".into()));
    }
    let client_secret = raw.client_secret_file.as_ref().and_then(|f| {
        super::secret::read_secret_file(&resolve(f.get_ref()), "oauth2.client_secret_file")
            .map_err(|e| problems.push((Some(f.span()), e.to_string())))
            .ok()
    });
    let mut endpoints = provider.endpoints().unwrap_or_default();
    let explicit = [
        ("device_authorization_url", &raw.device_authorization_url, &mut endpoints.device_authorization_url),
        ("authorization_url", &raw.authorization_url, &mut endpoints.authorization_url),
        ("token_url", &raw.token_url, &mut endpoints.token_url),
        ("revocation_url", &raw.revocation_url, &mut endpoints.revocation_url),
    ];
    let mut any_explicit = false;
    for (key, value, slot) in explicit {
        if let Some(url) = value {
            any_explicit = true;
            if let Some(url) = check_url(key, url, &mut problems) {
                *slot = Some(url);
            }
        }
    }
    let issuer = raw.issuer.as_ref().and_then(|i| check_url("issuer", i, &mut problems));
    let known = matches!(raw.provider.get_ref().as_str(), "microsoft" | "google" | "custom");
    if known && provider == Provider::Custom && raw.issuer.is_none() {
        if !any_explicit {
            problems.push((
                Some(raw.provider.span()),
                "oauth2: a custom provider needs issuer = \"https://login.example.com\" (its endpoints are \
                 discovered) or token_url with device_authorization_url or authorization_url"
                    .into(),
            ));
        } else if raw.token_url.is_none() {
            problems
                .push((Some(raw.provider.span()), "oauth2: a custom provider without issuer needs token_url".into()));
        }
    }
    if provider != Provider::Custom
        && let Some(i) = &raw.issuer
    {
        problems.push((Some(i.span()), "oauth2.issuer: only a custom provider has an issuer".into()));
    }
    let scopes = match &raw.scopes {
        None => provider.default_scopes(),
        Some(list) => {
            let mut scopes = Vec::new();
            for s in list {
                let scope = s.get_ref().trim();
                if scope.is_empty() || scope.contains(char::is_whitespace) {
                    problems.push((Some(s.span()), format!("oauth2.scopes: {scope:?} is not one scope")));
                } else {
                    scopes.push(scope.to_string());
                }
            }
            if scopes.is_empty() && problems.is_empty() {
                problems.push((None, "oauth2.scopes: name at least one scope, or leave scopes out".into()));
            }
            scopes
        }
    };
    let imap_mechanism = match raw.imap_mechanism.as_ref().map(|m| (m, m.get_ref().to_ascii_lowercase())) {
        None => Mechanism::Xoauth2,
        Some((_, m)) if m == "xoauth2" => Mechanism::Xoauth2,
        Some((_, m)) if m == "oauthbearer" => Mechanism::OAuthBearer,
        Some((m, _)) => {
            problems.push((
                Some(m.span()),
                format!("oauth2.imap_mechanism: unknown {:?} (expected \"xoauth2\" or \"oauthbearer\")", m.get_ref()),
            ));
            Mechanism::Xoauth2
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(OAuth2 {
        mailbox: mailbox.to_string(),
        provider,
        client_id,
        client_secret,
        issuer,
        endpoints,
        scopes,
        imap_mechanism,
        token_file,
        account,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawOAuth2 {
        toml::from_str(text).unwrap()
    }

    fn checked(text: &str) -> Result<OAuth2, Problems> {
        check("sales", &raw(text), "ada@example.com".into(), PathBuf::from("tokens/sales.json"), &|p: &str| {
            PathBuf::from(p)
        })
    }

    #[test]
    fn microsoft_defaults_to_organizations_and_the_mail_scopes() {
        let o = checked("provider = \"microsoft\"\nclient_id = \"abc\"").unwrap();
        assert_eq!(o.provider, Provider::Microsoft { tenant: "organizations".into() });
        assert_eq!(
            o.endpoints.token_url.as_deref(),
            Some("https://login.microsoftonline.com/organizations/oauth2/v2.0/token")
        );
        assert!(o.scopes.contains(&"offline_access".to_string()));
        assert!(o.scopes.contains(&"https://outlook.office.com/SMTP.Send".to_string()));
        assert_eq!(o.imap_mechanism, Mechanism::Xoauth2);
        assert!(o.default_flow_is_device());
    }

    #[test]
    fn google_logs_in_through_the_browser() {
        let o = checked("provider = \"google\"\nclient_id = \"abc\"").unwrap();
        assert_eq!(o.scopes, vec!["https://mail.google.com/".to_string()]);
        assert!(!o.default_flow_is_device());
        assert_eq!(o.endpoints.device_authorization_url, None);
    }

    #[test]
    fn each_bad_key_is_named() {
        let cases = [
            ("provider = \"yahoo\"\nclient_id = \"a\"", "oauth2.provider: unknown provider \"yahoo\""),
            ("provider = \"custom\"\nclient_id = \"a\"", "a custom provider needs issuer"),
            ("provider = \"custom\"\nclient_id = \"a\"\nissuer = \"http://idp.example\"", "oauth2.issuer:"),
            ("provider = \"google\"\nclient_id = \"a\"\ntenant = \"x\"", "only a Microsoft provider has a tenant"),
            ("provider = \"google\"\nclient_id = \"\"", "oauth2.client_id: must not be empty"),
            ("provider = \"google\"\nclient_id = \"a\"\nimap_mechanism = \"plain\"", "oauth2.imap_mechanism"),
            ("provider = \"google\"\nclient_id = \"a\"\nscopes = [\"a b\"]", "is not one scope"),
            (
                "provider = \"custom\"\nclient_id = \"a\"\nauthorization_url = \"https://x.example/a\"",
                "without issuer needs token_url",
            ),
        ];
        for (text, expected) in cases {
            let problems = checked(text).unwrap_err();
            assert!(problems.iter().any(|(_, m)| m.contains(expected)), "{text}: {problems:?}");
        }
    }

    #[test]
    fn a_misspelt_provider_is_one_error() {
        let problems = checked("provider = \"microsft\"\nclient_id = \"a\"").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_loopback_issuer_may_be_plain_http() {
        let o = checked("provider = \"custom\"\nclient_id = \"a\"\nissuer = \"http://127.0.0.1:4000/\"").unwrap();
        assert_eq!(o.issuer.as_deref(), Some("http://127.0.0.1:4000"));
        assert!(o.default_flow_is_device());
    }

    #[test]
    fn an_unknown_key_is_refused() {
        assert!(toml::from_str::<RawOAuth2>("provider = \"google\"\nclient_id = \"a\"\nsecret = \"x\"").is_err());
    }
}
