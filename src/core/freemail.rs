//! PURE: the domains of free mail services. A reply from one of them says
//! nothing about a company: `stop_on = ["domain_reply"]` ignores them (the
//! config's `free_mail_domains` adds more).

/// Widely used free mail domains (lowercase).
pub const DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "ymail.com",
    "rocketmail.com",
    "outlook.com",
    "outlook.de",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "live.com",
    "live.de",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "gmx.at",
    "web.de",
    "t-online.de",
    "freenet.de",
    "mail.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "tutanota.com",
    "tuta.io",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "virgilio.it",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "naver.com",
    "rediffmail.com",
];

/// The domain of `address`, lowercase, unless it is a free-mail one (by
/// `free`): the company a reply from it speaks for.
pub fn company_domain(address: &str, free: &std::collections::BTreeSet<String>) -> Option<String> {
    let domain = address.rsplit_once('@')?.1.trim().trim_end_matches('>').to_ascii_lowercase();
    (!domain.is_empty() && !free.contains(&domain)).then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_company_domain_is_any_but_free_mail() {
        let free = DOMAINS.iter().map(|d| (*d).to_string()).collect();
        assert_eq!(company_domain("Bob@Acme.TEST", &free).as_deref(), Some("acme.test"));
        assert_eq!(company_domain("someone@gmail.com", &free), None);
        assert_eq!(company_domain("no-at-sign", &free), None);
    }
}
