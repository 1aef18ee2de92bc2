//! PURE: per-lead unsubscribe tokens. Every email to a lead carries
//! `List-Unsubscribe: <mailto:LOCAL+unsubscribe-TOKEN@DOMAIN>` (on the
//! mailbox's own address, or on its `unsubscribe_address`); mail that arrives
//! for that address unsubscribes exactly that lead, whatever its subject and
//! body say. The one-click URL (`/u/TOKEN`) carries the same token.
//!
//! A token is the lead's id and an HMAC-SHA256 of it under a secret kept in
//! the database: it names one lead, cannot be guessed for another, and needs
//! no table to look up.

use ring::hmac;

/// What comes before the token in the plus-addressed local part.
const TAG: &str = "+unsubscribe-";
/// Hex digits of the MAC kept in a token (80 bits).
const MAC_HEX: usize = 20;

/// The token of lead `lead_id`: `ID-MAC`, lowercase (it goes into an address).
pub fn token(secret: &[u8], lead_id: i64) -> String {
    format!("{lead_id}-{}", mac(secret, lead_id))
}

fn mac(secret: &[u8], lead_id: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, format!("unsubscribe:{lead_id}").as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()[..MAC_HEX].to_string()
}

/// The lead a token names, if its MAC is right (compared in constant time).
pub fn lead_of(secret: &[u8], token: &str) -> Option<i64> {
    let (id, given) = token.trim().split_once('-')?;
    let lead_id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    let expected = mac(secret, lead_id);
    let given = given.to_ascii_lowercase();
    (given.len() == expected.len() && same(given.as_bytes(), expected.as_bytes())).then_some(lead_id)
}

/// Constant-time equality of two byte strings of the same length.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The unsubscribe address carrying `token`, on `address` (`local@domain`):
/// `local+unsubscribe-TOKEN@domain`.
pub fn address(address: &str, token: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            // An address that already has a tag: the token replaces it.
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}{TAG}{token}@{domain}")
        }
        None => format!("{address}{TAG}{token}"),
    }
}

/// The token in an address of the form [`address`] makes, if any.
pub fn token_in(address: &str) -> Option<&str> {
    let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
    let at = local.to_ascii_lowercase().find(TAG)?;
    local.get(at + TAG.len()..)
}

/// The lead whose unsubscribe address `raw`, a whole message, was sent to:
/// its top-level recipient headers only (To, Cc, Delivered-To,
/// X-Original-To, Envelope-To), so that the copy of an email quoted inside a
/// bounce or a reply never counts.
pub fn addressed_lead(secret: &[u8], raw: &[u8]) -> Option<i64> {
    let end = header_end(raw);
    let headers = String::from_utf8_lossy(&raw[..end]);
    let mut unfolded: Vec<String> = Vec::new();
    for line in headers.split('\n') {
        let line = line.trim_end_matches('\r');
        match unfolded.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => unfolded.push(line.to_string()),
        }
    }
    const NAMES: [&str; 5] = ["to", "cc", "delivered-to", "x-original-to", "envelope-to"];
    unfolded
        .iter()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| NAMES.contains(&name.trim().to_ascii_lowercase().as_str()))
        .flat_map(|(_, value)| value.split([',', ' ', '<', '>', '"', '\t']).map(str::to_string).collect::<Vec<_>>())
        .find_map(|word| token_in(&word).and_then(|t| lead_of(secret, t)))
}

/// Where the header section of `raw` ends (the blank line), or its length.
fn header_end(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = raw.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => raw.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of the database";

    #[test]
    fn a_token_names_its_lead_and_no_other() {
        let t = token(SECRET, 42);
        assert_eq!(lead_of(SECRET, &t), Some(42));
        assert_eq!(lead_of(SECRET, &t.to_ascii_uppercase()), Some(42), "addresses may change case");
        assert_eq!(lead_of(b"another database", &t), None);
        let (_, mac) = t.split_once('-').unwrap();
        assert_eq!(lead_of(SECRET, &format!("43-{mac}")), None, "the MAC is the lead's own");
        for bad in ["", "42", "42-", "x-abc", "-1-abc", "0-abc", &format!("42-{}", &mac[1..])] {
            assert_eq!(lead_of(SECRET, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_address_carries_the_token_on_the_mailbox_address() {
        let t = token(SECRET, 7);
        let a = address("ada@seller.test", &t);
        assert_eq!(a, format!("ada+unsubscribe-{t}@seller.test"));
        assert_eq!(address("ada+sales@seller.test", &t), a, "an existing tag is replaced");
        assert_eq!(token_in(&a), Some(t.as_str()));
        assert!(a.split('@').next().unwrap().len() <= 64, "a local part fits SMTP's limit");
    }

    #[test]
    fn only_top_level_recipients_count() {
        let t = token(SECRET, 7);
        let to = address("ada@seller.test", &t);
        let mail = format!("From: j@acme.test\r\nTo: \"Ada\" <{to}>\r\nSubject: whatever\r\n\r\nkeep me posted\r\n");
        assert_eq!(addressed_lead(SECRET, mail.as_bytes()), Some(7));
        let folded = format!("From: j@acme.test\nTo: a@b.test,\n  <{to}>\n\nhi\n");
        assert_eq!(addressed_lead(SECRET, folded.as_bytes()), Some(7));
        let bounce = format!("From: MAILER-DAEMON@x\r\nTo: ada@seller.test\r\n\r\nList-Unsubscribe: <mailto:{to}>\r\n");
        assert_eq!(addressed_lead(SECRET, bounce.as_bytes()), None, "a quoted copy is not a request");
        let forged = "To: ada+unsubscribe-7-00000000000000000000@seller.test\r\n\r\n";
        assert_eq!(addressed_lead(SECRET, forged.as_bytes()), None);
    }
}
