use chrono::TimeZone;

use super::*;
use crate::core::doctor::Level;

fn mx_record(preference: u16, exchange: &str) -> MxRecord {
    MxRecord { preference, exchange: exchange.into() }
}

fn txts(records: &[&str]) -> Lookup<String> {
    Ok(records.iter().map(|r| r.to_string()).collect())
}

fn failed() -> Failure {
    Failure::Failed("SERVFAIL".into())
}

#[test]
fn mx_present_null_missing_and_unknown() {
    let ok = mx(
        "example.com",
        &Ok(vec![mx_record(20, "b.example.com"), mx_record(10, "a.example.com")]),
        Provider::Other,
        None,
    );
    assert_eq!((ok.level, ok.message.as_str()), (Level::Ok, "MX 10 a.example.com, 20 b.example.com"));
    let null = mx("example.com", &Ok(vec![mx_record(0, "")]), Provider::Google, None);
    assert_eq!(null.level, Level::Error);
    assert!(null.message.contains("null MX (RFC 7505)"), "{}", null.message);
    assert_eq!(null.publish.unwrap().to_string(), "example.com MX 1 smtp.google.com.");
    let none = mx("example.com", &Ok(vec![]), Provider::Microsoft, None);
    assert_eq!(none.level, Level::Error);
    assert_eq!(none.publish.unwrap().value, "0 example-com.mail.protection.outlook.com.");
    let other = mx("example.com", &Ok(vec![]), Provider::Other, Some("imap.example.net"));
    assert_eq!(other.publish.unwrap().value, "10 imap.example.net.");
    assert_eq!(mx("example.com", &Err(Failure::NoDomain), Provider::Other, None).level, Level::Error);
    let unknown = mx("example.com", &Err(failed()), Provider::Other, None);
    assert_eq!(unknown.level, Level::Warning);
    assert!(unknown.message.starts_with("could not check"), "{}", unknown.message);
}

#[test]
fn spf_one_none_many_broken_unknown() {
    let (f, record) = spf("example.com", &txts(&["v=spf1 mx -all", "other"]), "a:smtp.example.com");
    assert_eq!((f.level, record), (Level::Ok, SpfRecord::One("v=spf1 mx -all".into())));
    let (f, record) = spf("example.com", &txts(&["other"]), "a:smtp.example.com");
    assert_eq!((f.level, record), (Level::Error, SpfRecord::Unusable));
    assert_eq!(f.publish.unwrap().to_string(), "example.com TXT \"v=spf1 a:smtp.example.com ~all\"");
    let (f, _) = spf("example.com", &txts(&["v=spf1 mx -all", "v=spf1 include:_spf.google.com ~all"]), "a");
    assert_eq!(f.level, Level::Error);
    assert!(f.message.starts_with("2 SPF records"), "{}", f.message);
    assert_eq!(f.publish.unwrap().value, "v=spf1 mx include:_spf.google.com -all");
    let (f, _) = spf("example.com", &txts(&["v=spf1 mx:"]), "a");
    assert_eq!(f.level, Level::Error);
    assert!(f.message.contains("does not parse"), "{}", f.message);
    let (f, record) = spf("example.com", &Err(failed()), "a");
    assert_eq!((f.level, record), (Level::Warning, SpfRecord::Unusable));
}

#[test]
fn spf_limit_over_ten_is_an_error() {
    let ok = spf_limit(&Count { terms: 10, problems: vec![] });
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].level, Level::Ok);
    let over = spf_limit(&Count { terms: 11, problems: vec!["x.example has no SPF record".into()] });
    assert_eq!(over.iter().map(|f| f.level).collect::<Vec<_>>(), [Level::Error, Level::Error]);
    assert!(over[0].message.starts_with("11 DNS-querying terms"), "{}", over[0].message);
}

#[test]
fn spf_providers_need_their_include() {
    let f = spf_provider("example.com", "v=spf1 mx -all", Provider::Microsoft, false);
    assert_eq!(f.level, Level::Error);
    assert_eq!(f.publish.unwrap().value, "v=spf1 mx include:spf.protection.outlook.com -all");
    assert_eq!(
        spf_provider("example.com", "v=spf1 include:_spf.google.com ~all", Provider::Google, true).level,
        Level::Ok
    );
}

#[test]
fn spf_host_passes_fails_or_cannot_tell() {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let pass = spf_host("example.com", "v=spf1 mx -all", "smtp.example.com", &[(ip, Outcome::Pass)]);
    assert_eq!(pass.level, Level::Ok);
    let fail = spf_host("example.com", "v=spf1 mx -all", "smtp.example.com", &[(ip, Outcome::Fail)]);
    assert_eq!(fail.level, Level::Error);
    assert!(fail.message.contains("127.0.0.1: fail"), "{}", fail.message);
    assert_eq!(fail.publish.unwrap().value, "v=spf1 mx a:smtp.example.com -all");
    let literal =
        spf_host("example.com", "v=spf1 -all", "192.0.2.1", &[("192.0.2.1".parse().unwrap(), Outcome::SoftFail)]);
    assert_eq!(literal.publish.unwrap().value, "v=spf1 ip4:192.0.2.1 -all");
    let broken = spf_host("example.com", "v=spf1 -all", "smtp.example.com", &[(ip, Outcome::PermError("x".into()))]);
    assert_eq!(broken.level, Level::Error);
    assert_eq!(broken.publish, None, "adding a term to a broken record fixes nothing");
    let unknown = spf_host("example.com", "v=spf1 -all", "smtp.example.com", &[(ip, Outcome::TempError("x".into()))]);
    assert_eq!(unknown.level, Level::Warning);
    assert_eq!(spf_host("example.com", "v=spf1 -all", "smtp.example.com", &[]).level, Level::Warning);
}

#[test]
fn dkim_sizes_and_absences() {
    use base64::Engine as _;
    let key = |bits: usize| {
        let der = crate::core::doctor::dkim::tests_support::spki(bits);
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    let at = |record: &str, source| dkim("example.com", "s1", &txts(&[record]), source).unwrap();
    assert_eq!(at(&format!("v=DKIM1; k=rsa; p={}", key(2048)), SelectorSource::Configured).level, Level::Ok);
    let small = at(&format!("v=DKIM1; k=rsa; p={}", key(1024)), SelectorSource::Configured);
    assert_eq!(small.level, Level::Warning);
    assert!(small.message.starts_with("1024-bit RSA key at s1._domainkey.example.com"), "{}", small.message);
    assert_eq!(at(&format!("v=DKIM1; k=rsa; p={}", key(768)), SelectorSource::Configured).level, Level::Error);
    assert_eq!(at("v=DKIM1; k=rsa; p=", SelectorSource::Configured).level, Level::Error);
    assert_eq!(at(&format!("v=DKIM1; t=y; p={}", key(2048)), SelectorSource::Configured).level, Level::Warning);
    // Nothing there: an error where a key must be, silence on a guess.
    let missing = dkim("example.com", "google", &Ok(vec![]), SelectorSource::Provider(Provider::Google)).unwrap();
    assert_eq!(missing.level, Level::Error);
    assert_eq!(missing.publish.unwrap().name, "google._domainkey.example.com");
    let ms = dkim("example.com", "selector1", &Err(Failure::NoDomain), SelectorSource::Provider(Provider::Microsoft));
    let ms = ms.unwrap().publish.unwrap();
    assert_eq!(ms.kind, "CNAME");
    assert_eq!(ms.value, "<the selector1 target the Microsoft Defender portal shows>");
    assert_eq!(dkim("example.com", "s1", &Err(Failure::NoDomain), SelectorSource::Guess), None);
    assert_eq!(dkim("example.com", "s1", &Err(failed()), SelectorSource::Guess), None);
    assert_eq!(dkim("example.com", "s1", &Err(failed()), SelectorSource::Configured).unwrap().level, Level::Warning);
    assert_eq!(dkim_none_found("example.com", &["default", "s1"]).level, Level::Warning);
}

#[test]
fn dmarc_found_inherited_missing_doubled_unknown() {
    let own = |lookup: Lookup<String>| vec![("_dmarc.example.com".to_string(), lookup)];
    let ok = dmarc("example.com", &own(txts(&["v=DMARC1; p=reject; rua=mailto:d@example.com; adkim=s"])));
    assert_eq!(ok.level, Level::Ok);
    assert_eq!(ok.message, "policy reject, alignment DKIM strict, SPF relaxed, reports to mailto:d@example.com");
    let missing = dmarc("example.com", &own(txts(&["v=spf1 -all"])));
    assert_eq!(missing.level, Level::Error);
    assert_eq!(
        missing.publish.unwrap().to_string(),
        "_dmarc.example.com TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com\""
    );
    let two = dmarc("example.com", &own(txts(&["v=DMARC1; p=none", "v=DMARC1; p=reject"])));
    assert_eq!(two.level, Level::Error);
    let no_rua = dmarc("example.com", &own(txts(&["v=DMARC1; p=quarantine;"])));
    assert_eq!(no_rua.level, Level::Warning);
    assert_eq!(no_rua.publish.unwrap().value, "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com");
    assert_eq!(dmarc("example.com", &own(Err(failed()))).level, Level::Warning);
    let inherited = dmarc(
        "mail.example.com",
        &[
            ("_dmarc.mail.example.com".to_string(), Err(Failure::NoDomain)),
            ("_dmarc.example.com".to_string(), txts(&["v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"])),
        ],
    );
    assert_eq!(inherited.level, Level::Ok);
    assert!(inherited.message.contains("_dmarc.example.com applies: policy quarantine"), "{}", inherited.message);
    assert_eq!(dmarc_names("mail.example.com"), ["_dmarc.mail.example.com", "_dmarc.example.com"]);
    assert_eq!(dmarc_names("example.com"), ["_dmarc.example.com"]);
}

#[test]
fn the_sending_config() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let https = OneClick::At("https://go.example.com".into());
    let levels = |findings: Vec<Finding>| findings.iter().map(|f| (f.check, f.level)).collect::<Vec<_>>();
    assert_eq!(
        levels(sending(true, &https, Some(30), &History::Never, now)),
        [("list-unsubscribe", Level::Ok), ("one-click", Level::Ok), ("daily-limit", Level::Ok)]
    );
    assert_eq!(
        levels(sending(true, &OneClick::NoHttp, Some(200), &History::Never, now)),
        [("list-unsubscribe", Level::Ok), ("one-click", Level::Warning), ("daily-limit", Level::Warning)]
    );
    // No limit at all on a new mailbox; a young one; an old one.
    assert_eq!(sending(true, &https, None, &History::Never, now)[2].level, Level::Warning);
    let young = History::Since(now - chrono::Duration::days(10));
    assert_eq!(sending(true, &https, Some(51), &young, now)[2].level, Level::Warning);
    let old = History::Since(now - chrono::Duration::days(60));
    assert_eq!(sending(true, &https, Some(500), &old, now)[2].level, Level::Ok);
    assert_eq!(
        levels(sending(false, &OneClick::NoPublicUrl, Some(20), &History::Unknown("locked".into()), now)),
        [("list-unsubscribe", Level::Warning), ("daily-limit", Level::Warning)]
    );
}
