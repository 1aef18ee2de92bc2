//! The lead preflight end to end against a real DNS server (unbound on
//! loopback, `support::dns`): `verify` on a file and on addresses, `import
//! --verify`, `enroll --verify` and `verify_leads = true`. Refused addresses
//! are not enrolled and stay suppressed; a SERVFAIL or a timeout never
//! refuses anyone.

use crate::support::Project;
use crate::support::dns::DnsServer;

const AT: &str = "2026-03-02T08:00:00Z";

/// A project whose config asks `dns` and takes `burner.test` as disposable,
/// with `top` added to the top-level keys, and a one-step cadence `intro`.
fn project(dns: &DnsServer, top: &str) -> Project {
    let p = Project::new();
    let config = std::fs::read_to_string(p.path("config.toml")).unwrap();
    p.write("config.toml", &format!("{}disposable_domains = [\"burner.test\"]\n{top}{config}", dns.config_line()));
    p.cadence("intro", "[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"b\"\n");
    p
}

/// Every kind of address, one per row (line 2 onwards), and what the
/// preflight must make of it.
const ROWS: &[(&str, &str)] = &[
    ("jane@good.test", "ok"),
    ("x@nxdomain.test", "dead"),
    ("y@nullmx.test", "dead"),
    ("z@a-only.test", "ok"),
    ("w@burner.test", "disposable"),
    ("v@mailinator.com", "disposable"),
    ("info@good.test", "ok"),
    ("u@servfail.test", "unknown"),
    ("t@slow.test", "unknown"),
    ("s@txt-only.test", "dead"),
    ("r@mx-noaddr.test", "dead"),
    ("q@acme..test", "invalid"),
    ("Sales+eu@A-Only.test", "ok"),
];

fn csv() -> String {
    let mut text = String::from("email,first_name\n");
    for (email, _) in ROWS {
        text.push_str(&format!("{email},F\n"));
    }
    text
}

fn enrolled(p: &Project, email: &str) -> bool {
    let out = p.run(&["status", email, "--json"]);
    out.status.success() && {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["enrollments"].as_array().is_some_and(|e| !e.is_empty())
    }
}

#[test]
fn verify_gives_each_address_its_verdict_and_fails_when_any_is_refused() {
    let dns = DnsServer::start(&[]);
    let p = project(&dns, "");
    p.write("leads.csv", &csv());
    let file = p.path("leads.csv");
    let out = p.run(&["verify", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "a refused address fails it");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let addresses = doc["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), ROWS.len());
    for (i, ((email, verdict), got)) in ROWS.iter().zip(addresses).enumerate() {
        assert_eq!(got["email"], *email);
        assert_eq!(got["verdict"], *verdict, "{got}");
        assert_eq!(got["line"], i as u64 + 2);
        assert_eq!(got["refused"], ["dead", "disposable", "invalid"].contains(verdict), "{got}");
    }
    let by = |email: &str| addresses.iter().find(|a| a["email"] == email).unwrap().clone();
    assert!(by("x@nxdomain.test")["reason"].as_str().unwrap().contains("NXDOMAIN"));
    assert!(by("y@nullmx.test")["reason"].as_str().unwrap().contains("null MX"));
    assert!(by("s@txt-only.test")["reason"].as_str().unwrap().contains("no MX and no A/AAAA"));
    assert!(by("r@mx-noaddr.test")["reason"].as_str().unwrap().contains("mail.mx-noaddr.test"));
    assert!(by("u@servfail.test")["reason"].as_str().unwrap().contains("DNS could not tell"));
    assert!(by("t@slow.test")["reason"].as_str().unwrap().contains("timed out"));
    assert_eq!(by("info@good.test")["role"], true);
    assert_eq!(by("Sales+eu@A-Only.test")["role"], true);
    assert_eq!(by("jane@good.test")["role"], false);
    assert_eq!(doc["counts"]["refused"], 7);
    assert_eq!(doc["counts"]["unknown"], 2);
    assert_eq!(doc["counts"]["role"], 2);

    // Text: one line per address with file and line, and a summary.
    let out = p.run(&["verify", "jane@good.test", "info@good.test", "u@servfail.test"]);
    assert_eq!(out.status.code(), Some(0), "unknown and role do not fail it");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("jane@good.test: ok\n"), "{text}");
    assert!(text.contains("info@good.test: ok; warning: a role address, not a person"), "{text}");
    assert!(text.contains("u@servfail.test: unknown, DNS could not tell"), "{text}");
    assert!(text.contains("3 addresses (2 domains looked up): 2 ok, 1 unknown"), "{text}");
    let out = p.run(&["verify", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("leads.csv:3: x@nxdomain.test: refused, dead: nxdomain.test does not exist (NXDOMAIN)"),
        "{text}"
    );
    // verify writes nothing.
    assert!(!enrolled(&p, "jane@good.test"));
    assert!(p.run(&["enroll", "x@nxdomain.test", "--cadence", "intro", "--at", AT]).status.success());
}

#[test]
fn import_verify_refuses_and_suppresses_the_dead_and_enrolls_the_unknown() {
    let dns = DnsServer::start(&[]);
    let p = project(&dns, "");
    p.write("leads.csv", &csv());
    let file = p.path("leads.csv");
    let out = p.run(&["import", file.to_str().unwrap(), "--cadence", "intro", "--verify", "--at", AT]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(
            "13 rows read: 6 enrolled in intro, 0 already in intro (left unchanged), 0 skipped, \
             7 refused by the preflight (suppressed), 2 unknown: DNS could not tell (enrolled)"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("leads.csv:3: x@nxdomain.test: refused, dead: nxdomain.test does not exist (NXDOMAIN): not enrolled, suppressed"),
        "{stderr}"
    );
    assert!(stderr.contains("leads.csv:6: w@burner.test: refused, disposable"), "{stderr}");
    assert!(stderr.contains("leads.csv:13: q@acme..test: refused, invalid"), "{stderr}");
    assert!(stderr.contains("leads.csv:8: warning: info@good.test is a role address, not a person"), "{stderr}");
    for (email, verdict) in ROWS {
        let refused = ["dead", "disposable", "invalid"].contains(verdict);
        assert_eq!(enrolled(&p, email), !refused, "{email} ({verdict})");
    }
    // Suppressed like a dead bounce: a later plain enroll or import is refused too.
    let err = p.fails(&["enroll", "y@nullmx.test", "--cadence", "intro", "--at", AT]);
    assert!(
        err.contains("y@nullmx.test is on the suppression list (preflight: dead, nullmx.test publishes a null MX"),
        "{err}"
    );
    p.write("again.csv", "email\nx@nxdomain.test\n");
    let again = p.path("again.csv");
    let out = p.run(&["import", again.to_str().unwrap(), "--cadence", "intro", "--no-verify", "--at", AT]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("x@nxdomain.test is on the suppression list (preflight: dead")
    );
    assert!(!enrolled(&p, "x@nxdomain.test"));
    // The log says why.
    let log = p.json(&["log", "--since", "2000-01-01", "--json"]);
    let refusals: Vec<&serde_json::Value> =
        log["events"].as_array().unwrap().iter().filter(|e| e["what"] == "refused").collect();
    assert_eq!(refusals.len(), 7, "{log}");
    assert!(
        refusals.iter().any(|e| e["email"] == "x@nxdomain.test" && e["detail"].as_str().unwrap().contains("NXDOMAIN"))
    );
    let text = p.ok(&["log", "--since", "2000-01-01"]);
    assert!(text.contains("refused") && text.contains("x@nxdomain.test (preflight)"), "{text}");
}

#[test]
fn verify_leads_makes_it_the_default_and_enroll_verify_refuses_one_address() {
    let dns = DnsServer::start(&[]);
    let p = project(&dns, "verify_leads = true\n");
    // From the config: refused and suppressed.
    let err = p.fails(&["enroll", "x@nxdomain.test", "--cadence", "intro", "--at", AT]);
    assert!(
        err.contains(
            "x@nxdomain.test: refused, dead: nxdomain.test does not exist (NXDOMAIN): not enrolled, suppressed"
        ),
        "{err}"
    );
    let status = p.run(&["status", "x@nxdomain.test"]);
    assert!(!status.status.success(), "never became a lead");
    // --no-verify overrides the config; the suppression stays.
    let err = p.fails(&["enroll", "x@nxdomain.test", "--cadence", "intro", "--no-verify", "--at", AT]);
    assert!(err.contains("on the suppression list (preflight: dead"), "{err}");
    // Unknown goes in, with a note; a role address goes in with a warning.
    let out = p.ok(&["enroll", "u@servfail.test", "--cadence", "intro", "--at", AT]);
    assert!(out.contains("note: the preflight could not verify it: DNS could not tell"), "{out}");
    let out = p.run(&["enroll", "info@good.test", "--cadence", "intro", "--at", AT]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: info@good.test is a role address"));
    // An import reads the config too.
    p.write("leads.csv", "email\njane@good.test\ny@nullmx.test\n");
    let file = p.path("leads.csv");
    let out = p.ok(&["import", file.to_str().unwrap(), "--cadence", "intro", "--at", AT]);
    assert!(out.contains("1 enrolled in intro") && out.contains("1 refused by the preflight"), "{out}");

    // A lead enrolled before the preflight, found dead later: its cadence
    // ends as bounced, as after a dead bounce.
    let q = project(&dns, "");
    q.ok(&["enroll", "old@nxdomain.test", "--cadence", "intro", "--at", AT]);
    q.cadence("other", "[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"b\"\n");
    let err = q.fails(&["enroll", "old@nxdomain.test", "--cadence", "other", "--verify", "--at", AT]);
    assert!(err.contains("refused, dead"), "{err}");
    let status = q.status("old@nxdomain.test");
    assert_eq!(status["enrollments"][0]["state"], "bounced", "{status}");
    assert!(status["suppressed"].as_str().unwrap().starts_with("preflight: dead"), "{status}");
}

#[test]
fn the_api_runs_the_preflight_when_verify_leads_is_on() {
    use crate::support::http::{Served, TOKEN, http_config};
    let dns = DnsServer::start(&[]);
    let p = project(&dns, "verify_leads = true\n");
    let (table, addr) = http_config(&p);
    let config = std::fs::read_to_string(p.path("config.toml")).unwrap();
    p.write("config.toml", &format!("{config}{table}"));
    let served = Served::start(&p, &addr);
    let auth = format!("Bearer {TOKEN}");
    let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    let post = |email: &str| {
        let body = format!(r#"{{"email": "{email}", "cadence": "intro"}}"#);
        served.post("/api/v1/enrollments", &headers, body.as_bytes())
    };
    let dead = post("x@nxdomain.test");
    assert_eq!(dead.status, 422, "{}", dead.body);
    assert!(dead.body.contains("refused (preflight: dead, nxdomain.test does not exist (NXDOMAIN))"), "{}", dead.body);
    let disposable = post("w@burner.test");
    assert_eq!(disposable.status, 422, "{}", disposable.body);
    assert_eq!(post("jane@good.test").status, 201);
    assert_eq!(post("u@servfail.test").status, 201, "DNS that cannot tell lets the lead in");
    served.stop();
    let err = p.fails(&["enroll", "x@nxdomain.test", "--cadence", "intro", "--no-verify", "--at", AT]);
    assert!(err.contains("on the suppression list (preflight: dead"), "{err}");
    assert!(enrolled(&p, "jane@good.test") && enrolled(&p, "u@servfail.test"));
}

#[test]
fn a_resolver_that_denies_our_own_domain_too_refuses_no_one() {
    // The sending domain is one this DNS server says does not exist, as a resolver answering
    // NXDOMAIN for every name would (no network, a captive or broken one): its NXDOMAIN about a
    // lead's domain is no news, and nobody is refused or suppressed for it.
    let dns = DnsServer::start(&[]);
    let p = project(&dns, "");
    let config = std::fs::read_to_string(p.path("config.toml")).unwrap();
    assert!(config.contains("ada@seller.test"), "{config}");
    p.write("config.toml", &config.replace("ada@seller.test", "ada@gone-own.test"));
    let out = p.run(&["verify", "x@nxdomain.test", "y@nullmx.test", "--json"]);
    assert_eq!(out.status.code(), Some(1), "the null MX is still refused");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let x = &doc["addresses"][0];
    assert_eq!(x["verdict"], "unknown", "{x}");
    assert_eq!(x["refused"], false);
    assert!(x["reason"].as_str().unwrap().contains("gone-own.test"), "{x}");
    assert_eq!(doc["addresses"][1]["verdict"], "dead");
    // And through import --verify: the lead is enrolled, not suppressed.
    p.write("leads.csv", "email,first_name\nx@nxdomain.test,X\n");
    let file = p.path("leads.csv");
    p.ok(&["import", file.to_str().unwrap(), "--cadence", "intro", "--verify", "--at", AT]);
    assert!(enrolled(&p, "x@nxdomain.test"));
}
