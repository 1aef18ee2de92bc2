//! The human of an OAuth sign-in, played in the real headless Chromium of
//! [`browser`](super::browser) on the pages of the test's
//! [`OidcProvider`](super::oauth::OidcProvider) (oidc-provider's own
//! device-code and dev-interaction pages):
//!
//! - device flow: the page at `verification_uri` ("Sign-in / Enter the code
//!   displayed on your device", an input `user_code` and Continue), then
//!   "Confirm Device" (the code again, Continue or [ Abort ]), then the login
//!   page (`login` and `password`, any password; "Sign-in"), then the consent
//!   page ("Authorize", Continue), then "Sign-in Success";
//! - browser flow: the authorization URL opens the login page, then consent,
//!   then the provider redirects the browser to the client's loopback
//!   `redirect_uri` with `code` and `state`.
//!
//! A step the provider skips (it remembers the login in a cookie, or a grant
//! needing no new consent) is simply not taken.

use std::time::{Duration, Instant};

use super::browser::{Browser, Element};

/// The password typed on the login page (the provider takes any).
pub const PASSWORD: &str = "any-password";

const STEP: Duration = Duration::from_secs(30);

/// Approves a device code: opens `verification_uri`, types `user_code`,
/// confirms, logs in as `login` and consents; returns once the provider shows
/// its success page. Panics (with the page) on an error page or when stuck.
#[allow(dead_code)]
pub fn approve_device(browser: &Browser, verification_uri: &str, user_code: &str, login: &str) {
    browser.goto(verification_uri);
    let input = browser.find("input[name=user_code]");
    input.type_text(user_code);
    submit(&input, &browser.find("button[form='op.deviceInputForm']"));
    let deadline = Instant::now() + STEP;
    loop {
        if first(browser, "h1").is_some_and(|h| h.text().contains("Sign-in Success")) {
            return;
        }
        if let Some(wrong) = first(browser, "p.red") {
            panic!("the device page says: {}\n{}", wrong.text(), browser.source());
        }
        if let Some(confirm) = first(browser, "button[form='op.deviceConfirmForm']:not([name=abort])") {
            submit(&confirm, &confirm);
        } else if !sign_in_step(browser, login) {
            assert!(Instant::now() < deadline, "the device flow is stuck at {}:\n{}", browser.url(), browser.source());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Opens `authorization_url`, logs in as `login` and consents; returns the URL
/// the provider sent the browser to (the client's `redirect_uri` with `code`
/// and `state`, or `error`) once the browser has left the provider's origin.
/// What is served there can be any page, or none.
#[allow(dead_code)]
pub fn approve_browser(browser: &Browser, authorization_url: &str, login: &str) -> String {
    let provider = origin(authorization_url);
    browser.goto(authorization_url);
    let deadline = Instant::now() + STEP;
    loop {
        let url = browser.url();
        if !url.is_empty() && origin(&url) != provider && !url.starts_with("about:") {
            return url;
        }
        if !sign_in_step(browser, login) {
            assert!(Instant::now() < deadline, "the sign-in is stuck at {url}:\n{}", browser.source());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One step on the provider's login or consent page, if the browser shows
/// one: true if it took one. Panics on the provider's error page.
fn sign_in_step(browser: &Browser, login: &str) -> bool {
    if first(browser, "#error").is_some() || browser.source().contains("oops! something went wrong") {
        panic!("the provider answered an error at {}:\n{}", browser.url(), browser.source());
    }
    if let Some(name) = first(browser, "input[name=login]") {
        // A login_hint may have filled it in already.
        name.clear();
        name.type_text(login);
        browser.find("input[name=password]").type_text(PASSWORD);
        let button = browser.find("button.login-submit");
        submit(&button, &button);
        return true;
    }
    if first(browser, "input[name=prompt][value=consent]").is_some() {
        let button = browser.find("button.login-submit");
        submit(&button, &button);
        return true;
    }
    false
}

fn first<'a>(browser: &'a Browser, css: &str) -> Option<Element<'a>> {
    browser.find_all(css).into_iter().next()
}

/// Clicks `button` and waits until `on_page` has left the document (the form
/// was posted and the next page replaced it).
fn submit(on_page: &Element<'_>, button: &Element<'_>) {
    button.click();
    let deadline = Instant::now() + STEP;
    while !on_page.is_stale() {
        assert!(Instant::now() < deadline, "the page did not change after a click");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{authority}")
}
