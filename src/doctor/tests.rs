use std::path::Path;

use chrono::TimeZone;

use super::*;
use crate::dns::{Mx, Static};

fn config(mailboxes: &str) -> Config {
    Config::parse(Path::new("/etc/cadenced/config.toml"), mailboxes).unwrap()
}

fn txt(world: &mut Static, name: &str, records: &[&str]) {
    world.txt.insert(name.into(), Ok(records.iter().map(|r| r.to_string()).collect()));
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn run(world: &Static, config: &Config, firsts: &FirstSends) -> Report {
    let mailboxes: Vec<&Mailbox> = config.mailboxes.values().collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(examine(world, config, &mailboxes, firsts, now()))
}

fn levels(findings: &[Finding]) -> Vec<(&'static str, Level)> {
    findings.iter().map(|f| (f.check, f.level)).collect()
}

/// A domain with everything right for a server of its own at 192.0.2.25.
fn good_world() -> Static {
    let mut world = Static::default();
    world.mx.insert("seller.test".into(), Ok(vec![Mx { preference: 10, exchange: "mx.seller.test".into() }]));
    txt(&mut world, "seller.test", &["v=spf1 a:smtp.seller.test -all"]);
    world.ips.insert("smtp.seller.test".into(), Ok(vec!["192.0.2.25".parse().unwrap()]));
    let key = crate::core::doctor::dkim::tests_support::spki(2048);
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    txt(&mut world, "s1._domainkey.seller.test", &[&format!("v=DKIM1; k=rsa; p={key}")]);
    txt(&mut world, "_dmarc.seller.test", &["v=DMARC1; p=quarantine; rua=mailto:dmarc@seller.test"]);
    world
}

const GOOD: &str = "[http]\npublic_url = \"https://go.seller.test\"\n\
    [mailboxes.sales]\nfrom = \"Ada <ada@seller.test>\"\nsmtp = \"smtp+starttls://smtp.seller.test:587\"\n\
    daily_limit = 30\ndkim_selectors = [\"s1\"]\n";

#[test]
fn a_domain_with_everything_right_is_all_ok() {
    let report = run(&good_world(), &config(GOOD), &Ok(BTreeMap::new()));
    let mailbox = &report.mailboxes[0];
    assert_eq!(mailbox.domains.len(), 1);
    assert_eq!(
        levels(&mailbox.domains[0].findings),
        [
            ("mx", Level::Ok),
            ("spf", Level::Ok),
            ("spf-limit", Level::Ok),
            ("spf-host", Level::Ok),
            ("dkim", Level::Ok),
            ("dmarc", Level::Ok)
        ]
    );
    assert_eq!(
        levels(&mailbox.findings),
        [("list-unsubscribe", Level::Ok), ("one-click", Level::Ok), ("daily-limit", Level::Ok)]
    );
    assert_eq!(report.count(Level::Error) + report.count(Level::Warning), 0);
}

#[test]
fn the_smtp_host_outside_spf_is_an_error_with_the_fix() {
    let mut world = good_world();
    world.ips.insert("smtp.seller.test".into(), Ok(vec!["127.0.0.1".parse().unwrap()]));
    txt(&mut world, "seller.test", &["v=spf1 ip4:192.0.2.0/24 -all"]);
    let report = run(&world, &config(GOOD), &Ok(BTreeMap::new()));
    let host = report.mailboxes[0].domains[0].findings.iter().find(|f| f.check == "spf-host").unwrap();
    assert_eq!(host.level, Level::Error);
    assert!(host.message.contains("127.0.0.1: fail"), "{}", host.message);
    assert_eq!(host.publish.as_ref().unwrap().value, "v=spf1 ip4:192.0.2.0/24 a:smtp.seller.test -all");
}

#[test]
fn a_servfail_is_a_warning_never_a_missing_record() {
    let mut world = Static::default();
    let servfail = DnsError::Failed("SERVFAIL".into());
    world.mx.insert("seller.test".into(), Err(servfail.clone()));
    world.txt.insert("seller.test".into(), Err(servfail.clone()));
    world.txt.insert("s1._domainkey.seller.test".into(), Err(servfail.clone()));
    world.txt.insert("_dmarc.seller.test".into(), Err(servfail.clone()));
    let report = run(&world, &config(GOOD), &Ok(BTreeMap::new()));
    let findings = &report.mailboxes[0].domains[0].findings;
    assert_eq!(
        levels(findings),
        [("mx", Level::Warning), ("spf", Level::Warning), ("dkim", Level::Warning), ("dmarc", Level::Warning)]
    );
    assert!(findings.iter().all(|f| f.message.starts_with("could not check")), "{findings:?}");
}

#[test]
fn providers_are_known_by_their_include_and_selectors() {
    let mut world = good_world();
    txt(&mut world, "seller.test", &["v=spf1 include:_spf.seller.test -all"]);
    txt(&mut world, "_spf.seller.test", &["v=spf1 include:spf.protection.outlook.com -all"]);
    txt(&mut world, "spf.protection.outlook.com", &["v=spf1 ip4:40.92.0.0/15 -all"]);
    let text = "[mailboxes.sales]\nfrom = \"ada@seller.test\"\nsmtp = \"smtp+starttls://smtp.office365.com:587\"\n\
                daily_limit = 20\nunsubscribe_address = \"unsub@gone.test\"\n";
    let report = run(&world, &config(text), &Ok(BTreeMap::new()));
    let mailbox = &report.mailboxes[0];
    let from = &mailbox.domains[0].findings;
    let host = from.iter().find(|f| f.check == "spf-host").unwrap();
    assert_eq!(
        (host.level, host.message.as_str()),
        (Level::Ok, "authorises Microsoft 365 (include:spf.protection.outlook.com)")
    );
    let dkim: Vec<_> = from.iter().filter(|f| f.check == "dkim").collect();
    assert_eq!(dkim.len(), 2, "selector1 and selector2: {dkim:?}");
    assert!(dkim.iter().all(|f| f.level == Level::Error));
    // The unsubscribe address's domain is checked for MX: it does not exist.
    assert_eq!(mailbox.domains[1].role, Role::Unsubscribe);
    assert_eq!(levels(&mailbox.domains[1].findings), [("mx", Level::Error)]);
    // No [http]: one-click is a warning.
    assert_eq!(mailbox.findings[1].level, Level::Warning);
}

#[test]
fn an_unknown_server_gets_a_guess_at_its_selectors_and_an_outbox_no_host_check() {
    let mut world = good_world();
    world.txt.remove("s1._domainkey.seller.test");
    let text = "[mailboxes.sales]\nfrom = \"ada@seller.test\"\noutbox = \"out\"\n";
    let report = run(&world, &config(text), &Ok(BTreeMap::from([("sales".to_string(), now())])));
    let from = &report.mailboxes[0].domains[0].findings;
    let dkim = from.iter().find(|f| f.check == "dkim").unwrap();
    assert_eq!(dkim.level, Level::Warning);
    assert!(dkim.message.contains("set dkim_selectors"), "{}", dkim.message);
    let host = from.iter().find(|f| f.check == "spf-host").unwrap();
    assert_eq!(host.level, Level::Warning);
    assert!(host.message.contains("outbox"), "{}", host.message);
    // Sent today for the first time, with no limit: too fast for a new mailbox.
    let limit = report.mailboxes[0].findings.iter().find(|f| f.check == "daily-limit").unwrap();
    assert_eq!(limit.level, Level::Warning);
}

#[test]
fn guessed_selectors_that_cannot_be_asked_are_could_not_check() {
    let mut world = good_world();
    for selector in COMMON_SELECTORS {
        world.txt.insert(format!("{selector}._domainkey.seller.test"), Err(DnsError::Failed("SERVFAIL".into())));
    }
    let text = "[mailboxes.sales]\nfrom = \"ada@seller.test\"\noutbox = \"out\"\n";
    let report = run(&world, &config(text), &Ok(BTreeMap::new()));
    let dkim = report.mailboxes[0].domains[0].findings.iter().find(|f| f.check == "dkim").unwrap();
    assert_eq!(dkim.level, Level::Warning);
    assert!(dkim.message.starts_with("could not check"), "{}", dkim.message);
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// Whatever the records say, doctor reports and does not panic.
    #[test]
    fn hostile_records_never_panic(
        spf in "v=spf1( [-+~?]?(a|mx|ip4|ip6|include|exists|ptr|all|redirect|exp)[:=/]?[%{}a-z0-9./:_-]{0,24}){0,12}",
        include in "\\PC{0,120}",
        dkim in "\\PC{0,200}",
        dmarc in "v=DMARC1;\\PC{0,120}",
        exchange in "[a-z.]{0,12}",
    ) {
        let mut world = Static::default();
        world.mx.insert("seller.test".into(), Ok(vec![Mx { preference: 0, exchange }]));
        txt(&mut world, "seller.test", &[&spf]);
        for target in ["a.seller.test", "b.seller.test", "x.y"] {
            txt(&mut world, target, &[&include, &spf]);
        }
        world.ips.insert("smtp.seller.test".into(), Ok(vec!["192.0.2.25".parse().unwrap()]));
        txt(&mut world, "s1._domainkey.seller.test", &[&dkim]);
        txt(&mut world, "_dmarc.seller.test", &[&dmarc]);
        let report = run(&world, &config(GOOD), &Ok(BTreeMap::new()));
        proptest::prop_assert!(report.findings().count() >= 6);
    }
}

#[test]
fn providers_are_known_by_host_or_sign_in() {
    assert_eq!(Provider::of("smtp.office365.com", None), Provider::Microsoft);
    assert_eq!(Provider::of("Outlook.Office365.com.", None), Provider::Microsoft);
    assert_eq!(Provider::of("mail.example.com", Some("microsoft")), Provider::Microsoft);
    assert_eq!(Provider::of("smtp.gmail.com", None), Provider::Google);
    assert_eq!(Provider::of("", Some("google")), Provider::Google);
    assert_eq!(Provider::of("mail.example.com", Some("custom")), Provider::Other);
}
