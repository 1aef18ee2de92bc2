//! `cadenced doctor` against a real DNS server (unbound on loopback, the
//! standard `test.` zones of `support::dns` plus records of its own), and
//! with `--connect` against the Postfix/Dovecot pair with its private CA.

use serde_json::Value;

use crate::support::Project;
use crate::support::dns::{DnsServer, KEY_2048, txt};
use crate::support::mailserver::MailServer;

/// A mailbox table sending as `ada@DOMAIN` through `mx.DOMAIN` (127.0.0.1
/// in the standard zones), with its key at `s1`, 30 a day.
fn mailbox(name: &str, domain: &str) -> String {
    format!(
        "[mailboxes.{name}]\nfrom = \"Ada <ada@{domain}>\"\nsmtp = \"smtp+starttls://mx.{domain}:587\"\n\
         daily_limit = 30\ndkim_selectors = [\"s1\"]\n"
    )
}

/// Writes a config that asks `dns` and has one-click unsubscribe on.
fn configure(p: &Project, dns: &DnsServer, mailboxes: &str) {
    p.write(
        "config.toml",
        &format!(
            "database = \"cadenced.db\"\ncadences = \"cadences\"\n{}\n[http]\npublic_url = \"https://go.example.com\"\n\n\
             {mailboxes}",
            dns.config_line()
        ),
    );
}

/// `(check, level, message, publish value)` of a mailbox's domain `index`.
fn findings(report: &Value, mailbox: &str, index: usize) -> Vec<(String, String, String, Option<String>)> {
    let mailbox = report["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == mailbox)
        .unwrap_or_else(|| panic!("no mailbox {mailbox} in {report}"));
    mailbox["domains"][index]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["level"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
                f["publish"]["value"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn find<'a>(
    found: &'a [(String, String, String, Option<String>)],
    check: &str,
) -> &'a (String, String, String, Option<String>) {
    found.iter().find(|f| f.0 == check).unwrap_or_else(|| panic!("no {check} finding in {found:?}"))
}

fn run_json(p: &Project, args: &[&str]) -> (bool, Value) {
    let out = p.run(args);
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), json)
}

#[test]
fn doctor_passes_a_domain_with_everything_right_and_creates_no_database() {
    let dns = DnsServer::start(&[]);
    let p = Project::new();
    configure(&p, &dns, &mailbox("sales", "good.test"));
    let out = p.ok(&["doctor"]);
    for line in [
        "mailbox sales: Ada <ada@good.test>",
        "  good.test (From domain)",
        "    ok       mx                MX 10 mx.good.test",
        "    ok       spf               \"v=spf1 mx ip4:127.0.0.0/8 ~all\"",
        "    ok       spf-limit         1 of at most 10 DNS-querying terms",
        "    ok       spf-host          authorises the SMTP server mx.good.test (127.0.0.1: pass)",
        "    ok       dkim              2048-bit RSA key at s1._domainkey.good.test",
        "    ok       dmarc             policy reject, alignment DKIM strict, SPF strict, reports to mailto:dmarc@good.test",
        "    ok       one-click         one-click unsubscribe (RFC 8058) at https://go.example.com/u/…",
        "    ok       daily-limit       daily_limit = 30: suits a mailbox that has sent nothing yet",
        "9 ok, 0 warning(s), 0 error(s): ready to send",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
    }
    assert!(!p.path("cadenced.db").exists(), "doctor created the database");
}

#[test]
fn doctor_names_each_broken_record_and_what_to_publish() {
    let spf_host = [
        "doctor-spf.test. 300 IN MX 10 mx.doctor-spf.test.".to_string(),
        "mx.doctor-spf.test. 300 IN A 127.0.0.1".to_string(),
        "smtp.doctor-spf.test. 300 IN A 127.0.0.1".to_string(),
        txt("doctor-spf.test", "v=spf1 ip4:192.0.2.0/24 -all"),
        txt("s1._domainkey.doctor-spf.test", &format!("v=DKIM1; k=rsa; p={KEY_2048}")),
        txt("_dmarc.doctor-spf.test", "v=DMARC1; p=reject; rua=mailto:dmarc@doctor-spf.test"),
    ];
    let extra: Vec<&str> = spf_host.iter().map(String::as_str).collect();
    let dns = DnsServer::start(&extra);
    let p = Project::new();
    let mut tables = String::new();
    for (name, domain) in [
        ("nodmarc", "nodmarc.test"),
        ("dkim1024", "dkim1024.test"),
        ("dkim512", "dkim512.test"),
        ("spftwo", "spf-two.test"),
        ("spfmany", "spf-many.test"),
        ("spfdeep", "spf-deep.test"),
        ("nullmx", "nullmx.test"),
    ] {
        tables.push_str(&mailbox(name, domain));
    }
    tables.push_str(
        "[mailboxes.spfhost]\nfrom = \"ada@doctor-spf.test\"\nsmtp = \"smtp+starttls://smtp.doctor-spf.test:587\"\n\
         daily_limit = 30\ndkim_selectors = [\"s1\"]\n\
         [mailboxes.office]\nfrom = \"ada@good.test\"\nsmtp = \"smtp+starttls://smtp.office365.com:587\"\n\
         daily_limit = 200\nunsubscribe_address = \"unsub@nxdomain.test\"\n",
    );
    configure(&p, &dns, &tables);
    let (success, report) = run_json(&p, &["doctor", "--json"]);
    assert!(!success, "errors must fail the command");

    // The document's shape.
    assert_eq!(report["mailboxes"].as_array().unwrap().len(), 9);
    let first = &report["mailboxes"][0];
    assert_eq!(first["name"], "dkim1024");
    assert_eq!(first["from"], "Ada <ada@dkim1024.test>");
    assert_eq!(first["domains"][0]["domain"], "dkim1024.test");
    assert_eq!(first["domains"][0]["role"], "from");
    let finding = &first["domains"][0]["findings"][0];
    for key in ["check", "level", "message", "publish"] {
        assert!(finding.get(key).is_some(), "no {key} in {finding}");
    }
    assert!(report["summary"]["error"].as_u64().unwrap() >= 9, "{}", report["summary"]);

    let dmarc = findings(&report, "nodmarc", 0);
    let missing = find(&dmarc, "dmarc");
    assert_eq!(missing.1, "error");
    assert_eq!(missing.3.as_deref(), Some("v=DMARC1; p=none; rua=mailto:dmarc-reports@nodmarc.test"));
    let publish = &report["mailboxes"].as_array().unwrap().iter().find(|m| m["name"] == "nodmarc").unwrap()["domains"]
        [0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "dmarc")
        .unwrap()["publish"];
    assert_eq!(publish["name"], "_dmarc.nodmarc.test");
    assert_eq!(publish["type"], "TXT");

    let small = findings(&report, "dkim1024", 0);
    let key = find(&small, "dkim");
    assert_eq!(key.1, "warning");
    assert!(key.2.starts_with("1024-bit RSA key at s1._domainkey.dkim1024.test"), "{key:?}");
    let tiny = findings(&report, "dkim512", 0);
    assert_eq!(find(&tiny, "dkim").1, "error");

    let two = findings(&report, "spftwo", 0);
    let spf = find(&two, "spf");
    assert_eq!(spf.1, "error");
    assert!(spf.2.starts_with("2 SPF records"), "{spf:?}");
    let merged = spf.3.as_deref().unwrap();
    assert!(merged.starts_with("v=spf1 ") && merged.contains("ip4:192.0.2.1") && merged.contains("mx"), "{merged}");

    for (mailbox, terms) in [("spfmany", 11), ("spfdeep", 12)] {
        let found = findings(&report, mailbox, 0);
        let limit = find(&found, "spf-limit");
        assert_eq!(limit.1, "error", "{mailbox}: {limit:?}");
        assert!(limit.2.starts_with(&format!("{terms} DNS-querying terms")), "{mailbox}: {limit:?}");
        // Receivers stop at the 11th term: no term to add would help.
        let host = find(&found, "spf-host");
        assert_eq!((host.1.as_str(), host.3.as_deref()), ("error", None), "{mailbox}: {host:?}");
        assert!(host.2.contains("permerror (more than 10 DNS-querying terms)"), "{mailbox}: {host:?}");
    }

    let null = findings(&report, "nullmx", 0);
    let mx = find(&null, "mx");
    assert_eq!(mx.1, "error");
    assert!(mx.2.starts_with("null MX (RFC 7505)"), "{mx:?}");
    assert_eq!(mx.3.as_deref(), Some("10 <your mail server's host name>"));

    let host = findings(&report, "spfhost", 0);
    let authorised = find(&host, "spf-host");
    assert_eq!(authorised.1, "error");
    assert!(authorised.2.contains("smtp.doctor-spf.test (127.0.0.1: fail)"), "{authorised:?}");
    assert_eq!(authorised.3.as_deref(), Some("v=spf1 ip4:192.0.2.0/24 a:smtp.doctor-spf.test -all"));
    assert!(host.iter().filter(|f| f.0 != "spf-host").all(|f| f.1 == "ok"), "{host:?}");

    // Microsoft 365: its include and its selectors, whatever the addresses.
    let office = findings(&report, "office", 0);
    let include = find(&office, "spf-host");
    assert_eq!(include.1, "error");
    assert_eq!(include.3.as_deref(), Some("v=spf1 mx ip4:127.0.0.0/8 include:spf.protection.outlook.com ~all"));
    let selectors: Vec<_> = office.iter().filter(|f| f.0 == "dkim").collect();
    assert_eq!(selectors.len(), 2, "{office:?}");
    assert!(selectors[0].2.contains("selector1._domainkey.good.test"), "{selectors:?}");
    // The unsubscribe address's domain does not exist; a new mailbox at 200 a day.
    let unsubscribe = findings(&report, "office", 1);
    assert_eq!((unsubscribe[0].0.as_str(), unsubscribe[0].1.as_str()), ("mx", "error"));
    let office_config =
        &report["mailboxes"].as_array().unwrap().iter().find(|m| m["name"] == "office").unwrap()["findings"];
    let limit = office_config.as_array().unwrap().iter().find(|f| f["check"] == "daily-limit").unwrap();
    assert_eq!(limit["level"], "warning");

    // The same for one mailbox, as people read it.
    let out = p.run(&["doctor", "--mailbox", "nodmarc"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "    error    dmarc             no DMARC record at _dmarc.nodmarc.test: Gmail and Yahoo require one of bulk \
             senders\n                               publish: _dmarc.nodmarc.test TXT \"v=DMARC1; p=none; \
             rua=mailto:dmarc-reports@nodmarc.test\"\n"
        ),
        "{text}"
    );
    assert!(!text.contains("mailbox dkim1024"), "{text}");
    assert!(text.trim_end().ends_with("before the first send, then run doctor again"), "{text}");
    let err = p.fails(&["doctor", "--mailbox", "nope"]);
    assert!(err.contains("unknown mailbox \"nope\" (configured: "), "{err}");
}

#[test]
fn doctor_reads_servfail_and_timeouts_as_could_not_check() {
    let dns = DnsServer::start(&[]);
    let p = Project::new();
    configure(&p, &dns, &format!("{}{}", mailbox("broken", "servfail.test"), mailbox("slow", "slow.test")));
    let (success, report) = run_json(&p, &["doctor", "--json"]);
    assert!(success, "a lookup that could not be made is no error: {report}");
    for name in ["broken", "slow"] {
        let found = findings(&report, name, 0);
        let checks: Vec<(&str, &str)> = found.iter().map(|f| (f.0.as_str(), f.1.as_str())).collect();
        assert_eq!(
            checks,
            [("mx", "warning"), ("spf", "warning"), ("dkim", "warning"), ("dmarc", "warning")],
            "{name}"
        );
        assert!(found.iter().all(|f| f.2.starts_with("could not check")), "{name}: {found:?}");
    }
    assert_eq!(report["summary"]["error"], 0);
}

#[test]
fn doctor_knows_a_mailbox_that_has_sent_from_one_that_has_not() {
    let dns = DnsServer::start(&[]);
    let p = Project::new();
    let limits = |daily: u32| {
        format!("[mailboxes.sales]\nfrom = \"ada@good.test\"\nsmtp = \"{}\"\ndaily_limit = {daily}\n", p.smtp.url())
    };
    configure(&p, &dns, &limits(200));
    let level = |p: &Project| {
        let (_, report) = run_json(p, &["doctor", "--json"]);
        let findings = report["mailboxes"][0]["findings"].as_array().unwrap().clone();
        findings.iter().find(|f| f["check"] == "daily-limit").unwrap()["level"].as_str().unwrap().to_string()
    };
    assert_eq!(level(&p), "warning");
    // A send two months ago: no longer new.
    p.cadence(
        "one",
        "mailbox = \"sales\"\n[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"b\"\n",
    );
    p.ok(&["enroll", "lead@acme.test", "--cadence", "one", "--at", "2020-03-02T09:00:00Z"]);
    p.tick("2020-03-02T09:00:00Z");
    assert_eq!(p.db().touchpoints_with_status("sent"), 1);
    assert_eq!(level(&p), "ok");
}

#[test]
fn doctor_connect_opens_tls_to_smtp_and_imap_and_names_what_fails() {
    let dns = DnsServer::start(&[]);
    let server = MailServer::start();
    let p = Project::new();
    let trusting =
        format!("[mailboxes.sales]\nfrom = \"ada@seller.test\"\n{}", server.mailbox_config(p.dir.path(), None));
    configure(&p, &dns, &trusting);
    let (_, report) = run_json(&p, &["doctor", "--connect", "--json"]);
    let config = report["mailboxes"][0]["findings"].as_array().unwrap();
    let tls: Vec<(&str, &str, &str)> = config
        .iter()
        .filter(|f| f["check"].as_str().unwrap().ends_with("-tls"))
        .map(|f| (f["check"].as_str().unwrap(), f["level"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(tls.len(), 2, "{config:?}");
    assert_eq!((tls[0].0, tls[0].1), ("smtp-tls", "ok"), "{tls:?}");
    assert!(tls[0].2.ends_with(": STARTTLS"), "{tls:?}");
    assert_eq!((tls[1].0, tls[1].1), ("imap-tls", "ok"), "{tls:?}");

    // Without the private CA: the certificate is refused, and it says what to set;
    // a closed port: refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let untrusting = trusting
        .lines()
        .filter(|l| !l.starts_with("tls_ca_file"))
        .map(|l| {
            if l.starts_with("smtp =") {
                format!("smtp = \"smtp+starttls://localhost:{closed}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    configure(&p, &dns, &format!("{untrusting}\n"));
    let (success, report) = run_json(&p, &["doctor", "--connect", "--json"]);
    assert!(!success);
    let config = report["mailboxes"][0]["findings"].as_array().unwrap();
    let level_of = |check: &str| config.iter().find(|f| f["check"] == check).unwrap().clone();
    let smtp = level_of("smtp-tls");
    assert_eq!(smtp["level"], "error");
    assert!(smtp["message"].as_str().unwrap().contains("cannot connect"), "{smtp}");
    let imap = level_of("imap-tls");
    assert_eq!(imap["level"], "error");
    assert!(imap["message"].as_str().unwrap().contains("tls_ca_file"), "{imap}");
}
