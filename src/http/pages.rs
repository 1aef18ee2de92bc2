//! The HTML pages: minijinja templates compiled into the binary (no file,
//! no external asset, no script), escaped for HTML, and the small helpers
//! they need (a path segment, a masked address).

use minijinja::Environment;
use serde::Serialize;
use tracing::error;

const TEMPLATES: [(&str, &str); 7] = [
    ("base.html", include_str!("templates/base.html")),
    ("app.html", include_str!("templates/app.html")),
    ("login.html", include_str!("templates/login.html")),
    ("home.html", include_str!("templates/home.html")),
    ("leads.html", include_str!("templates/leads.html")),
    ("lead.html", include_str!("templates/lead.html")),
    ("unsubscribe.html", include_str!("templates/unsubscribe.html")),
];

pub(super) struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub(super) fn new() -> anyhow::Result<Pages> {
        // `.html` names are escaped for HTML (minijinja's default).
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Pages { env })
    }

    /// Renders template `name` with `context`.
    pub(super) fn render(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }

    /// The login form (`wrong`: after a wrong token; `configured`: a token exists).
    pub(super) fn login(&self, wrong: bool, configured: bool) -> String {
        self.render("login.html", minijinja::context! { wrong, configured }).unwrap_or_else(|e| {
            error!("rendering the login page: {e}");
            "cadenced: the login page could not be shown; see the daemon's log".into()
        })
    }
}

/// `text` as one URL path segment (percent-encoded but for unreserved characters and `@`).
pub(super) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `jane.doe@acme.example` as `j***@a***.example`: enough for its owner to
/// recognise it, too little to learn it (the stars hide the lengths).
pub fn mask(email: &str) -> String {
    let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    let (name, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let tld = if tld.is_empty() { String::new() } else { format!(".{tld}") };
    format!("{}***@{}***{tld}", first(local), first(name))
}

/// A masked address for a token that names no lead, made from `seed` (a MAC
/// of the token) so that the page looks the same as for a known one, and
/// the same on every visit.
pub fn decoy(seed: &[u8]) -> String {
    const TLDS: [&str; 8] = ["com", "net", "org", "io", "de", "co", "fr", "nl"];
    let byte = |i: usize| usize::from(seed.get(i).copied().unwrap_or(0));
    let letter = |i: usize| char::from(b'a' + (byte(i) % 26) as u8);
    format!("{}***@{}***.{}", letter(0), letter(1), TLDS[byte(2) % TLDS.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        assert!(Pages::new().is_ok());
    }

    #[test]
    fn masks_hide_all_but_first_letters_and_the_tld() {
        assert_eq!(mask("jane.doe@acme.example"), "j***@a***.example");
        assert_eq!(mask("x@localhost"), "x***@l***");
        assert_eq!(mask("Ünal@büro.de"), "Ü***@b***.de");
        assert_eq!(mask(""), "***@***");
        let d = decoy(&[3, 250, 9]);
        assert_eq!(d, "d***@q***.net");
        assert_eq!(mask("dan@quux.net"), d, "a decoy looks like a real mask");
    }

    #[test]
    fn path_segments_keep_addresses_readable() {
        assert_eq!(path_segment("jane+x@acme.test"), "jane%2Bx@acme.test");
        assert_eq!(path_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let pages = Pages::new().unwrap();
        let html = pages
            .render("unsubscribe.html", minijinja::context! { masked => "<script>x</script>", done => false })
            .unwrap();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>x"), "{html}");
    }
}
