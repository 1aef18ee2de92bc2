//! The OAuth harness itself, through real protocols only and without the
//! product: oidc-provider's device and browser (PKCE, loopback redirect)
//! flows with the human played in Chromium, Dovecot's IMAP and submission
//! taking the access token over STARTTLS (XOAUTH2, OAUTHBEARER) and nothing
//! else, refresh-token rotation and reuse detection, revocation, expiry.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::browser::Browser;
use crate::support::oauth::{self, OidcProvider, SCOPES, Tokens, USER};
use crate::support::oauth_human::{approve_browser, approve_device};
use crate::support::oauth_mail::{self, OAuthMail, Sasl};

const WAIT: Duration = Duration::from_secs(15);
const JANE: &str = "jane@acme.test";

/// A token refused as Dovecot does: a base64 JSON challenge
/// (`{"status":"401","schemes":"bearer","scope":"mail"}` for XOAUTH2,
/// `{"status":"invalid_token"}` for OAUTHBEARER), then the final refusal.
fn assert_token_refused(refused: &oauth_mail::AuthRefused, mech: Sasl, final_prefix: &str) {
    let challenge = refused.challenge.as_deref().unwrap_or_else(|| panic!("no challenge: {refused:?}"));
    let json: serde_json::Value =
        serde_json::from_str(challenge).unwrap_or_else(|e| panic!("challenge not JSON ({e}): {challenge}"));
    let status = if mech == Sasl::Xoauth2 { "401" } else { "invalid_token" };
    assert_eq!(json["status"], status, "{json}");
    assert!(refused.reply.starts_with(final_prefix), "{refused:?}");
}

#[test]
fn a_device_flow_token_signs_in_to_imap_and_submission_only_after_starttls() {
    let provider = OidcProvider::start();
    let mail = OAuthMail::start(&provider);
    let browser = Browser::start();

    // The device flow, as a CLI does it; the human approves in the browser.
    let device = provider.device_authorize(SCOPES);
    assert_eq!(device.verification_uri, provider.url("/device"));
    let pending = provider.device_token(&device.device_code).unwrap_err();
    assert_eq!(pending.error, "authorization_pending", "{pending:?}");
    approve_device(&browser, &device.verification_uri, &device.user_code, USER);
    let tokens = provider.poll_device_token(&device.device_code, WAIT).expect("tokens after approval");
    assert!(tokens.refresh_token.is_some(), "offline_access gives a refresh token: {tokens:?}");
    assert_eq!(tokens.expires_in, 60);
    assert_eq!(tokens.token_type, "Bearer");
    for scope in ["openid", "email", "offline_access", "mail"] {
        assert!(tokens.scope.split(' ').any(|s| s == scope), "{scope} granted: {tokens:?}");
    }
    // Opaque, and what Dovecot learns of it.
    assert_eq!(tokens.access_token.matches('.').count(), 0, "opaque: {}", tokens.access_token);
    let info = provider.introspect(&tokens.access_token);
    assert_eq!((info["active"].as_bool(), info["sub"].as_str()), (Some(true), Some(USER)), "{info}");
    let refresh = tokens.refresh_token.clone().unwrap();
    assert_eq!(provider.introspect(&refresh)["active"], false, "not a bearer token for Dovecot");
    let me = provider.userinfo(&tokens.access_token);
    assert_eq!(me.json()["email"], USER, "{}", me.body);

    // Before STARTTLS, IMAP takes no login at all.
    let (mut plain, greeting) = mail.imap_plain();
    assert!(greeting.contains("STARTTLS") && greeting.contains("LOGINDISABLED"), "{greeting}");
    assert!(!greeting.contains("AUTH="), "no mechanism offered in the clear: {greeting}");
    let refused = oauth_mail::imap_authenticate(&mut plain, Sasl::Xoauth2, USER, &tokens.access_token, mail.imap_port)
        .expect_err("AUTHENTICATE before STARTTLS");
    assert!(refused.challenge.is_none() && refused.reply.starts_with("a NO"), "{refused:?}");
    assert!(!plain.is_tls());

    // After it, the token logs in with either mechanism and sees the INBOX,
    // where LMTP delivers.
    assert_eq!(mail.imap_count(Sasl::Xoauth2, USER, &tokens.access_token, "INBOX").map_err(|r| r.reply), Ok(0));
    mail.deliver(
        JANE,
        &mail
            .email(USER, "Re: Quick question")
            .replace(&format!("From: Ada Sales <{USER}>"), "From: Jane <jane@acme.test>"),
    );
    assert_eq!(mail.wait_for("INBOX", 1, WAIT)[0].header("Subject").as_deref(), Some("Re: Quick question"));
    assert_eq!(mail.imap_count(Sasl::OAuthBearer, USER, &tokens.access_token, "INBOX").map_err(|r| r.reply), Ok(1));
    assert_eq!(mail.imap_count(Sasl::Xoauth2, USER, &tokens.access_token, "Sent").map_err(|r| r.reply), Ok(0));

    // A wrong token, or someone else's name with the right one: the JSON challenge, then NO.
    let wrong = mail.imap_login(Sasl::Xoauth2, USER, "not-a-token").err().expect("a wrong token is refused");
    assert_token_refused(&wrong, Sasl::Xoauth2, "a NO");
    let other = mail.imap_login(Sasl::OAuthBearer, "bob@seller.test", &tokens.access_token).err().expect("not bob's");
    assert_token_refused(&other, Sasl::OAuthBearer, "a NO");
    let refresh_as_bearer = mail.imap_login(Sasl::Xoauth2, USER, &refresh).err().expect("a refresh token is refused");
    assert_token_refused(&refresh_as_bearer, Sasl::Xoauth2, "a NO");

    // Submission: refused before STARTTLS, taken after it, relayed as submitted.
    let mut clear = oauth_mail::Conn::connect(oauth_mail::HOST, mail.submission_port).unwrap();
    clear.smtp_reply(220).unwrap();
    clear.send("EHLO client.seller.test").unwrap();
    let ehlo = clear.smtp_reply(250).unwrap();
    assert!(ehlo.contains("STARTTLS") && !ehlo.contains("AUTH "), "{ehlo}");
    clear
        .send(&format!("AUTH XOAUTH2 {}", oauth_mail::sasl_payload(Sasl::Xoauth2, USER, &tokens.access_token, 0)))
        .unwrap();
    let reply = clear.smtp_any().unwrap();
    assert!(reply.starts_with("5"), "AUTH before STARTTLS: {reply}");

    let email = mail.email(JANE, "Quick question");
    let done = mail.submit(Sasl::Xoauth2, &tokens.access_token, USER, JANE, &email);
    assert!(done.as_deref().is_ok_and(|r| r.starts_with("250")), "{done:?}\n{}", mail.log());
    let relayed = mail.relay().wait_for(1, WAIT);
    assert_eq!(relayed.len(), 1, "{}", mail.log());
    assert_eq!(relayed[0].mail_from, USER);
    assert_eq!(relayed[0].rcpt_to, vec![JANE.to_string()]);
    assert!(relayed[0].data.contains("Subject: Quick question"), "{}", relayed[0].data);
    let by_bearer = mail.submit(Sasl::OAuthBearer, &tokens.access_token, USER, JANE, &mail.email(JANE, "Second"));
    assert!(by_bearer.is_ok(), "{by_bearer:?}");
    assert_eq!(mail.relay().wait_for(2, WAIT).len(), 2);

    let bad = mail.submission_login(Sasl::Xoauth2, USER, "not-a-token").err().expect("a wrong token is refused");
    assert_token_refused(&bad, Sasl::Xoauth2, "535");
    assert_eq!(mail.relay().messages().len(), 2);

    // A device code is good for one token response: polling again after it
    // is taken as a replay, answered invalid_grant, and revokes the grant.
    let again = provider.device_token(&device.device_code).unwrap_err();
    assert_eq!(again.error, "invalid_grant", "{again:?}");
    assert_eq!(provider.introspect(&tokens.access_token)["active"], false);
    let replayed = mail.imap_login(Sasl::Xoauth2, USER, &tokens.access_token).err().expect("revoked with the grant");
    assert_token_refused(&replayed, Sasl::Xoauth2, "a NO");
    assert_eq!(provider.refresh(&refresh).unwrap_err().error, "invalid_grant");
}

/// A loopback HTTP listener standing in for the product's CLI at sign-in:
/// the request target of the first `GET /callback...` it is sent.
struct Callback {
    port: u16,
    got: mpsc::Receiver<String>,
}

impl Callback {
    fn listen() -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let (tx, got) = mpsc::channel();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let tx = tx.clone();
                // Each connection on its own (the browser may open one it never uses).
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                    let page = "<!DOCTYPE html><title>Signed in</title><p>You can close this window.</p>";
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    if target.starts_with("/callback") {
                        let _ = tx.send(target);
                    }
                });
            }
        });
        Callback { port, got }
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }
}

/// The browser flow from the authorization URL to the token response.
fn browser_sign_in(provider: &OidcProvider, browser: &Browser, state: &str) -> Tokens {
    let callback = Callback::listen();
    let (verifier, challenge) = oauth::pkce();
    let url = provider.authorization_url(&callback.redirect_uri(), state, &challenge);
    let landed = approve_browser(browser, &url, USER);
    assert!(landed.starts_with(&callback.redirect_uri()), "{landed}");
    let target = callback.got.recv_timeout(WAIT).expect("the callback was requested");
    let code = oauth::query_param(&target, "code").unwrap_or_else(|| panic!("no code in {target}"));
    assert_eq!(oauth::query_param(&target, "state").as_deref(), Some(state), "{target}");
    assert_eq!(oauth::query_param(&target, "iss"), Some(provider.issuer()), "RFC 9207 iss: {target}");
    provider.exchange_code(&code, &callback.redirect_uri(), &verifier).expect("code exchange")
}

#[test]
fn a_browser_sign_in_redirects_to_any_loopback_port_and_rotation_reuse_or_revocation_ends_the_grant() {
    let provider = OidcProvider::start();
    let mail = OAuthMail::start(&provider);
    let browser = Browser::start();

    // PKCE is required: without a challenge the provider sends an error back.
    let callback = Callback::listen();
    let no_pkce = provider.authorization_url(&callback.redirect_uri(), "s0", "x").replace("&code_challenge=x", "");
    let landed = approve_browser(&browser, &no_pkce, USER);
    assert_eq!(oauth::query_param(&landed, "error").as_deref(), Some("invalid_request"), "{landed}");
    assert!(oauth::query_param(&landed, "error_description").unwrap().contains("code_challenge"), "{landed}");
    // A redirect URI that is not the registered one (on any port) is refused on the provider's page.
    let elsewhere = provider.authorization_url("http://127.0.0.1:9/elsewhere", "s0", "x");
    browser.goto(&elsewhere);
    assert!(browser.source().contains("redirect_uri did not match"), "{}", browser.source());

    // Two sign-ins, each redirected to a fresh port.
    let first = browser_sign_in(&provider, &browser, "state-1");
    let refresh1 = first.refresh_token.clone().expect("prompt=consent keeps offline_access: a refresh token");
    assert_eq!(mail.imap_count(Sasl::Xoauth2, USER, &first.access_token, "INBOX").map_err(|r| r.reply), Ok(0));

    // Rotation: each refresh gives a new refresh token and access token.
    let second = provider.refresh(&refresh1).expect("refresh");
    let refresh2 = second.refresh_token.clone().expect("a rotated refresh token");
    assert_ne!(refresh2, refresh1);
    assert_ne!(second.access_token, first.access_token);
    assert!(mail.imap_login(Sasl::Xoauth2, USER, &second.access_token).is_ok());
    // The rotated-out one presented again: invalid_grant, and the whole grant
    // is gone: the newest refresh token and the access tokens too.
    let reuse = provider.refresh(&refresh1).unwrap_err();
    assert_eq!((reuse.status, reuse.error.as_str()), (400, "invalid_grant"), "{reuse:?}");
    let after = provider.refresh(&refresh2).unwrap_err();
    assert_eq!(after.error, "invalid_grant", "{after:?}");
    assert_eq!(provider.introspect(&second.access_token)["active"], false);
    let revoked = mail.imap_login(Sasl::Xoauth2, USER, &second.access_token).err().expect("revoked with the grant");
    assert_token_refused(&revoked, Sasl::Xoauth2, "a NO");

    // Revocation at the standard endpoint ends a grant too.
    let third = browser_sign_in(&provider, &browser, "state-3");
    let refresh3 = third.refresh_token.clone().expect("a refresh token");
    assert!(mail.imap_login(Sasl::OAuthBearer, USER, &third.access_token).is_ok());
    assert_eq!(provider.revoke(&refresh3, "refresh_token"), 200);
    let gone = provider.refresh(&refresh3).unwrap_err();
    assert_eq!(gone.error, "invalid_grant", "{gone:?}");
    let refused = mail.submission_login(Sasl::Xoauth2, USER, &third.access_token).err().expect("revoked");
    assert_token_refused(&refused, Sasl::Xoauth2, "535");
    assert!(mail.log().contains("auth failed"), "{}", mail.log());
}

#[test]
fn an_access_token_stops_working_after_access_ttl_and_a_refresh_gives_a_working_one() {
    let provider = OidcProvider::with_access_ttl(4);
    let mail = OAuthMail::start(&provider);
    let browser = Browser::start();
    let device = provider.device_authorize(SCOPES);
    approve_device(&browser, &device.verification_uri, &device.user_code, USER);
    let tokens = provider.poll_device_token(&device.device_code, WAIT).expect("tokens");
    assert_eq!(tokens.expires_in, 4);
    assert!(mail.imap_login(Sasl::Xoauth2, USER, &tokens.access_token).is_ok(), "fresh, it works");
    let deadline = Instant::now() + WAIT;
    let expired = loop {
        match mail.imap_login(Sasl::Xoauth2, USER, &tokens.access_token) {
            Err(refused) => break refused,
            Ok(_) => assert!(Instant::now() < deadline, "the access token still works after {WAIT:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_token_refused(&expired, Sasl::Xoauth2, "a NO");
    assert_eq!(provider.introspect(&tokens.access_token)["active"], false);
    let fresh = provider.refresh(tokens.refresh_token.as_deref().expect("refresh token")).expect("refresh");
    assert!(mail.imap_login(Sasl::Xoauth2, USER, &fresh.access_token).is_ok(), "{}", mail.log());

    // Dovecot wants the mail scope: a token without it is refused.
    let rotated = fresh.refresh_token.as_deref().expect("rotated refresh token");
    let narrow = provider.refresh_with_scope(rotated, "openid email offline_access").expect("narrower refresh");
    assert_eq!(narrow.scope, "openid email offline_access");
    let unscoped = mail.imap_login(Sasl::Xoauth2, USER, &narrow.access_token).err().expect("no mail scope");
    assert_token_refused(&unscoped, Sasl::Xoauth2, "a NO");
    assert!(mail.log().contains("Token is not valid for scope 'mail'"), "{}", mail.log());
}
