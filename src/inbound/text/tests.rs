//! Addresses, codes, fields and HTML found in a notice's text.

use super::*;

#[test]
fn a_quoted_local_part_keeps_its_quotes() {
    let found = find_addresses("550 5.1.1 <\"neko..nyaan.\"@example.org>: User unknown");
    assert_eq!(found.iter().map(|f| f.address.as_str()).collect::<Vec<_>>(), ["\"neko..nyaan.\"@example.org"]);
    // A display name's quotes are not a local part's.
    let found = find_addresses("\"Jane Doe\" <jane@example.org>, \"x\" y@example.org");
    assert_eq!(found.iter().map(|f| f.address.as_str()).collect::<Vec<_>>(), ["jane@example.org", "y@example.org"]);
}

#[test]
fn addresses() {
    let found = find_addresses("<Kijitora@Example.JP>: host said 550. Mail to a.b@c.d is bad; x@y.");
    let addrs: Vec<_> = found.iter().map(|f| f.address.as_str()).collect();
    assert_eq!(addrs, ["kijitora@example.jp"]);
    assert_eq!(first_address("rfc822; <neko@nyaan.example.org>").as_deref(), Some("neko@nyaan.example.org"));
    assert!(find_addresses("@@@ é@ü @. a@ b@c").is_empty());
}

#[test]
fn codes() {
    let c: Vec<_> =
        enhanced_codes("550 5.1.1 <a@b.c> 192.0.2.5 v5.0.1.2 (#5.5.0) 4.4.7.").into_iter().map(|c| c.code).collect();
    assert_eq!(c, ["5.1.1", "5.5.0", "4.4.7"]);
    let s: Vec<_> = smtp_codes("550 5.1.1 user unknown\nport 465 and 432000 seconds\nsaid: 452 full")
        .into_iter()
        .map(|c| c.code)
        .collect();
    assert_eq!(s, ["550", "452"]);
}

#[test]
fn fields() {
    let groups = field_groups(
        "Reporting-MTA: dns; x\n\nAction : failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550\n  user unknown\n",
    );
    assert_eq!(groups.len(), 2);
    assert_eq!(field(&groups[1], "diagnostic-code"), Some("smtp; 550 user unknown"));
    assert_eq!(field(&groups[1], "action"), Some("failed"));
}

#[test]
fn html() {
    assert_eq!(html_to_text("<p>Hi&nbsp;there</p><style>x{}</style>a &amp; b<br>c &#233;"), "\nHi there\na & b\nc é");
    assert_eq!(truncate("héllo", 2), "h");
    assert_eq!(ids_in("<a@b> <c@d>"), ["<a@b>", "<c@d>"]);
    assert_eq!(ids_in("0000@example.net"), ["<0000@example.net>"]);
}
