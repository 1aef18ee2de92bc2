use super::*;

fn txt(answers: &mut Answers, name: &str, records: &[&str]) {
    answers.txt.insert(name.to_string(), Ok(records.iter().map(|r| r.to_string()).collect()));
}

fn ips(answers: &mut Answers, name: &str, found: &[&str]) {
    answers.ips.insert(name.to_string(), Ok(found.iter().map(|a| a.parse().unwrap()).collect()));
}

/// Runs `f` as the shell does, answering each question from `world`
/// (a name missing there does not exist); returns the result and the
/// questions asked.
fn run<T>(world: &Answers, f: impl Fn(&Answers) -> Result<T, Need>) -> (T, Vec<Query>) {
    let mut known = Answers::default();
    let mut asked = Vec::new();
    loop {
        match f(&known) {
            Ok(result) => return (result, asked),
            Err(Need(query)) => {
                assert!(!asked.contains(&query), "asked twice: {query:?}");
                assert!(asked.len() < 200, "too many questions");
                asked.push(query.clone());
                match query {
                    Query::Txt(n) => {
                        known.txt.insert(n.clone(), world.txt.get(&n).cloned().unwrap_or(Err(Failure::NoDomain)));
                    }
                    Query::Ips(n) => {
                        known.ips.insert(n.clone(), world.ips.get(&n).cloned().unwrap_or(Err(Failure::NoDomain)));
                    }
                    Query::Mx(n) => {
                        known.mx.insert(n.clone(), world.mx.get(&n).cloned().unwrap_or(Err(Failure::NoDomain)));
                    }
                }
            }
        }
    }
}

fn check(world: &Answers, domain: &str, ip: &str) -> Outcome {
    let sender = Sender { ip: ip.parse().unwrap(), address: "sales@example.com" };
    run(world, |a| evaluate(a, domain, &sender)).0
}

#[test]
fn parses_every_mechanism_and_modifier() {
    let r = parse("v=spf1 +a -mx:mail.example.com/24//64 ~ip4:192.0.2.0/24 ?ip6:2001:db8::/32 include:_spf.example.net exists:%{i}._spf.example.com ptr all redirect=other.example.com exp=explain.example.com foo=bar").unwrap();
    assert_eq!(r.directives.len(), 8);
    assert_eq!(
        r.directives[0],
        Directive { qualifier: Qualifier::Pass, mechanism: Mechanism::A { domain: None, v4: 32, v6: 128 } }
    );
    assert_eq!(
        r.directives[1],
        Directive {
            qualifier: Qualifier::Fail,
            mechanism: Mechanism::Mx { domain: Some("mail.example.com".into()), v4: 24, v6: 64 }
        }
    );
    assert_eq!(r.directives[2].mechanism, Mechanism::Ip4("192.0.2.0".parse().unwrap(), 24));
    assert_eq!(r.directives[2].qualifier, Qualifier::SoftFail);
    assert_eq!(r.directives[3].mechanism, Mechanism::Ip6("2001:db8::".parse().unwrap(), 32));
    assert_eq!(r.directives[4].mechanism, Mechanism::Include("_spf.example.net".into()));
    assert_eq!(r.directives[5].mechanism, Mechanism::Exists("%{i}._spf.example.com".into()));
    assert_eq!(r.redirect.as_deref(), Some("other.example.com"));
    assert_eq!(r.exp.as_deref(), Some("explain.example.com"));
    // include, a, mx, exists, ptr, redirect
    assert_eq!(r.lookup_terms(), 6);
    // Case does not matter; several spaces are tolerated.
    assert_eq!(parse("V=SPF1  IP4:192.0.2.1   -ALL").unwrap().directives.len(), 2);
}

#[test]
fn broken_records_say_why() {
    assert_eq!(parse("v=spf2 -all"), Err(ParseError::NotSpf));
    assert!(matches!(parse("v=spf1 include -all"), Err(ParseError::UnknownTerm(_))));
    assert!(matches!(parse("v=spf1 allow"), Err(ParseError::UnknownTerm(_))));
    assert!(matches!(parse("v=spf1 all:x"), Err(ParseError::UnknownTerm(_))));
    assert!(matches!(parse("v=spf1 ip4:300.1.1.1"), Err(ParseError::BadAddress(_))));
    assert!(matches!(parse("v=spf1 ip4:1.2.3.4/33"), Err(ParseError::BadCidr(_))));
    assert!(matches!(parse("v=spf1 ip4:1.2.3.4/024"), Err(ParseError::BadCidr(_))));
    assert!(matches!(parse("v=spf1 ip6:::1/129"), Err(ParseError::BadCidr(_))));
    assert!(matches!(parse("v=spf1 include:localhost"), Err(ParseError::BadDomain(_))));
    assert!(matches!(parse("v=spf1 include:a..b"), Err(ParseError::BadDomain(_))));
    assert!(matches!(parse("v=spf1 exists:%{z}.example.com"), Err(ParseError::BadMacro(_))));
    assert!(matches!(parse("v=spf1 exists:%x.example.com"), Err(ParseError::BadMacro(_))));
    assert_eq!(parse("v=spf1 redirect=a.example.com redirect=b.example.com"), Err(ParseError::Duplicate("redirect")));
}

#[test]
fn only_spf_records_are_picked() {
    let txts: Vec<String> = ["v=spf1 -all", "v=spf10 -all", "google-site-verification=x", "v=spf1", "v=DMARC1; p=none"]
        .map(String::from)
        .into();
    assert_eq!(records(&txts), ["v=spf1 -all", "v=spf1"]);
}

#[test]
fn lookups_are_counted_through_includes() {
    let mut world = Answers::default();
    txt(
        &mut world,
        "example.com",
        &["v=spf1 a mx include:one.example.net include:two.example.net redirect=r.example.org"],
    );
    txt(
        &mut world,
        "one.example.net",
        &["v=spf1 ip4:192.0.2.0/24 include:three.example.net exists:%{i}.x.example.net"],
    );
    txt(&mut world, "two.example.net", &["v=spf1 a:a.example.net mx:b.example.net ptr -all"]);
    txt(&mut world, "three.example.net", &["v=spf1 ip4:198.51.100.1 -all"]);
    txt(&mut world, "r.example.org", &["v=spf1 include:one.example.net"]);
    let (count, _) = run(&world, |a| count_lookups(a, "example.com"));
    // 5 + (2) + (3) + (0) + r's (1); one.example.net again is a problem, not counted twice.
    assert_eq!(count.terms, 11);
    assert_eq!(count.problems, ["one.example.net is included twice or in a loop"]);
}

#[test]
fn an_include_loop_ends() {
    let mut world = Answers::default();
    txt(&mut world, "a.example", &["v=spf1 include:b.example -all"]);
    txt(&mut world, "b.example", &["v=spf1 include:a.example -all"]);
    let (count, asked) = run(&world, |a| count_lookups(a, "a.example"));
    assert_eq!(count.terms, 2);
    assert_eq!(asked.len(), 2);
    assert_eq!(check(&world, "a.example", "192.0.2.1"), Outcome::PermError("more than 10 DNS-querying terms".into()));
}

#[test]
fn missing_and_broken_includes_are_problems() {
    let mut world = Answers::default();
    txt(&mut world, "example.com", &["v=spf1 include:gone.example include:bad.example include:two.example -all"]);
    txt(&mut world, "bad.example", &["v=spf1 frob"]);
    txt(&mut world, "two.example", &["v=spf1 -all", "v=spf1 +all"]);
    let (count, _) = run(&world, |a| count_lookups(a, "example.com"));
    assert_eq!(count.terms, 3);
    assert_eq!(count.problems.len(), 3, "{:?}", count.problems);
    assert!(count.problems[0].contains("gone.example has no SPF record"));
    assert!(count.problems[2].contains("2 SPF records at two.example"));
}

#[test]
fn evaluation_follows_ip_a_mx_include_and_redirect() {
    let mut world = Answers::default();
    txt(&mut world, "example.com", &["v=spf1 ip4:192.0.2.0/24 a:web.example.com mx include:_spf.mail.example ~all"]);
    ips(&mut world, "web.example.com", &["198.51.100.7", "2001:db8::7"]);
    world.mx.insert("example.com".into(), Ok(vec![MxRecord { preference: 10, exchange: "mx.example.com".into() }]));
    ips(&mut world, "mx.example.com", &["203.0.113.25"]);
    txt(&mut world, "_spf.mail.example", &["v=spf1 ip6:2001:db8:5::/48 -all"]);
    assert_eq!(check(&world, "example.com", "192.0.2.200"), Outcome::Pass);
    assert_eq!(check(&world, "example.com", "198.51.100.7"), Outcome::Pass);
    assert_eq!(check(&world, "example.com", "2001:db8::7"), Outcome::Pass);
    assert_eq!(check(&world, "example.com", "203.0.113.25"), Outcome::Pass);
    assert_eq!(check(&world, "example.com", "2001:db8:5::1"), Outcome::Pass);
    assert_eq!(check(&world, "example.com", "127.0.0.1"), Outcome::SoftFail);
    txt(&mut world, "other.example", &["v=spf1 -ip4:127.0.0.0/8 redirect=example.com"]);
    assert_eq!(check(&world, "other.example", "127.0.0.1"), Outcome::Fail);
    assert_eq!(check(&world, "other.example", "192.0.2.1"), Outcome::Pass);
    assert_eq!(check(&world, "nothing.example", "192.0.2.1"), Outcome::None);
    txt(&mut world, "neutral.example", &["v=spf1 ip4:192.0.2.1"]);
    assert_eq!(check(&world, "neutral.example", "192.0.2.9"), Outcome::Neutral);
}

#[test]
fn evaluation_stops_at_the_first_match() {
    let mut world = Answers::default();
    txt(&mut world, "example.com", &["v=spf1 ip4:192.0.2.1 include:far.example -all"]);
    let sender = Sender { ip: "192.0.2.1".parse().unwrap(), address: "a@example.com" };
    let (outcome, asked) = run(&world, |a| evaluate(a, "example.com", &sender));
    assert_eq!(outcome, Outcome::Pass);
    assert_eq!(asked, [Query::Txt("example.com".into())]);
}

#[test]
fn eleven_lookups_are_a_permerror_when_reached() {
    let mut world = Answers::default();
    let terms: Vec<String> = (0..11).map(|i| format!("a:h{i}.example.com")).collect();
    txt(&mut world, "example.com", &[&format!("v=spf1 {} ip4:192.0.2.1 -all", terms.join(" "))]);
    for i in 0..11 {
        ips(&mut world, &format!("h{i}.example.com"), &["198.51.100.1"]);
    }
    assert_eq!(check(&world, "example.com", "192.0.2.1"), Outcome::PermError("more than 10 DNS-querying terms".into()));
    assert_eq!(check(&world, "example.com", "198.51.100.1"), Outcome::Pass);
}

#[test]
fn a_third_void_lookup_is_a_permerror() {
    let mut world = Answers::default();
    txt(&mut world, "example.com", &["v=spf1 a:gone1.example a:gone2.example a:gone3.example -all"]);
    assert_eq!(check(&world, "example.com", "192.0.2.1"), Outcome::PermError("more than 2 void lookups".into()));
    txt(&mut world, "example.com", &["v=spf1 a:gone1.example a:gone2.example -all"]);
    assert_eq!(check(&world, "example.com", "192.0.2.1"), Outcome::Fail);
}

#[test]
fn a_failed_lookup_is_a_temperror_not_a_fail() {
    let mut world = Answers::default();
    txt(&mut world, "example.com", &["v=spf1 include:flaky.example -all"]);
    world.txt.insert("flaky.example".into(), Err(Failure::Failed("SERVFAIL".into())));
    assert!(matches!(check(&world, "example.com", "192.0.2.1"), Outcome::TempError(_)));
    world.txt.insert("down.example".into(), Err(Failure::Failed("timeout".into())));
    assert!(matches!(check(&world, "down.example", "192.0.2.1"), Outcome::TempError(_)));
}

#[test]
fn macros_expand_for_exists() {
    let mut world = Answers::default();
    txt(&mut world, "example.com", &["v=spf1 exists:%{ir}.%{l1r-}.%{d2}.allow.example -all"]);
    ips(&mut world, "1.2.0.192.sales.example.com.allow.example", &["127.0.0.2"]);
    assert_eq!(check(&world, "example.com", "192.0.2.1"), Outcome::Pass);
    assert_eq!(check(&world, "example.com", "192.0.2.2"), Outcome::Fail);
}

#[test]
fn a_term_goes_before_all() {
    assert_eq!(with_term("v=spf1 mx ~all", "a:smtp.example.com"), "v=spf1 mx a:smtp.example.com ~all");
    assert_eq!(
        with_term("v=spf1 mx redirect=x.example", "ip4:192.0.2.1"),
        "v=spf1 mx ip4:192.0.2.1 redirect=x.example"
    );
    assert_eq!(with_term("v=spf1 mx", "a"), "v=spf1 mx a");
    assert_eq!(with_term("v=spf1 -all", "a"), "v=spf1 a -all");
    assert_eq!(with_term("", "a"), "v=spf1 a ~all");
}

#[test]
fn includes_are_found_anywhere_in_the_tree() {
    let mut world = Answers::default();
    txt(&mut world, "example.com", &["v=spf1 include:_spf.example.com -all"]);
    txt(&mut world, "_spf.example.com", &["v=spf1 include:spf.protection.outlook.com -all"]);
    assert!(run(&world, |a| includes(a, "example.com", "spf.protection.outlook.com")).0);
    assert!(!run(&world, |a| includes(a, "example.com", "_spf.google.com")).0);
}

proptest::proptest! {
    #[test]
    fn no_record_panics(text in "\\PC{0,200}", terms in proptest::collection::vec("[-+~?]?(a|mx|ip4|ip6|include|exists|ptr|all|redirect|exp)[:=/]?[%{}a-z0-9./:_-]{0,20}", 0..12)) {
        let _ = parse(&text);
        let record = format!("v=spf1 {}", terms.join(" "));
        let _ = parse(&record);
        let mut world = Answers::default();
        txt(&mut world, "example.com", &[&record]);
        let sender = Sender { ip: "192.0.2.1".parse().unwrap(), address: "a@example.com" };
        let _ = run(&world, |a| evaluate(a, "example.com", &sender));
        let _ = run(&world, |a| count_lookups(a, "example.com"));
    }
}
