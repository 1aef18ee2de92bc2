//! The daemon's HTTP side over real sockets: one-click unsubscribe (RFC
//! 8058) from the link an email carries, the enrollment API, the 401s and
//! their log lines, the body limit, /metrics and /healthz.

use std::time::Duration;

use crate::support::Project;
use crate::support::http::{Served, TOKEN, http_config};

const INTRO: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello {{ first_name }}\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"3d\"\nkind = \"email\"\nsubject = \"Bump\"\nbody = \"b\"\n";

fn served() -> (Project, Served) {
    let p = Project::new();
    let (table, addr) = http_config(&p);
    p.write_config(&table);
    p.cadence("hello", INTRO);
    p.cadence("other", INTRO);
    let served = Served::start(&p, &addr);
    (p, served)
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// The `<https://...>` link of a List-Unsubscribe value, and its token.
fn one_click_link(list_unsubscribe: &str) -> (String, String) {
    let https = list_unsubscribe
        .split(',')
        .map(|part| part.trim().trim_start_matches('<').trim_end_matches('>'))
        .find(|part| part.starts_with("https://"))
        .unwrap_or_else(|| panic!("no https link in {list_unsubscribe:?}"))
        .to_string();
    let token = https.rsplit('/').next().unwrap().to_string();
    (https, token)
}

#[test]
fn one_click_unsubscribe_from_the_link_an_email_carries() {
    let (p, served) = served();
    p.ok(&["enroll", "jane@acme.test", "--cadence", "hello", "--field", "first_name=Jane"]);
    p.ok(&["enroll", "jane@acme.test", "--cadence", "other", "--field", "first_name=Jane"]);
    let sent = p.smtp.wait_for(2, Duration::from_secs(30));
    let email = &sent[0];
    let list = email.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert_eq!(email.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    let (link, token) = one_click_link(&list);
    assert_eq!(link, format!("https://go.example.test/u/{token}"));
    assert!(list.contains(&format!("<mailto:ada+unsubscribe-{token}@seller.test?subject=unsubscribe>")), "{list}");

    // The page names the masked address and changes nothing (link scanners GET every URL).
    let page = served.get(&format!("/u/{token}"), &[]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("j***@a***.test"), "{}", page.body);
    assert!(!page.body.contains("jane"), "nothing of the lead but the masked address: {}", page.body);
    assert!(page.header("Set-Cookie").is_none());
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["state"], "active");

    // RFC 8058: POST with List-Unsubscribe=One-Click; 200, no cookie, no redirect.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let done = served.post(&format!("/u/{token}"), &form, b"List-Unsubscribe=One-Click");
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.header("Set-Cookie").is_none() && done.header("Location").is_none());
    assert!(done.body.contains("You are unsubscribed") && done.body.contains("j***@a***.test"), "{}", done.body);
    let status = p.status("jane@acme.test");
    for e in status["enrollments"].as_array().unwrap() {
        assert_eq!(e["state"], "unsubscribed", "{e}");
    }
    assert_eq!(status["suppressed"], "unsubscribed");
    let inbound = status["inbound"].as_array().unwrap();
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    assert_eq!(inbound[0]["kind"], "unsubscribe");
    assert!(inbound[0]["detail"].as_str().unwrap().contains("one-click"), "{inbound:?}");

    // Idempotent: again, same answer, nothing more recorded.
    let again = served.post(&format!("/u/{token}"), &form, b"List-Unsubscribe=One-Click");
    assert_eq!((again.status, again.body.clone()), (200, done.body.clone()));
    assert_eq!(p.db().inbound_messages(), 1);
    let err = p.fails(&["enroll", "jane@acme.test", "--cadence", "hello", "--field", "first_name=Jane"]);
    assert!(err.contains("suppression list (unsubscribed)"), "{err}");

    // The report counts it once, for the last email before it (of either cadence: both left at once).
    let report = p.json(&["report", "--json"]);
    let intros: Vec<&serde_json::Value> =
        report["cadences"].as_array().unwrap().iter().map(|c| &c["steps"][0]).collect();
    assert!(intros.iter().all(|s| s["sent"] == 1), "{report}");
    assert_eq!(intros.iter().map(|s| s["unsubscribed"].as_u64().unwrap()).sum::<u64>(), 1, "{report}");

    // A token that names no lead gets the same pages, and changes nothing.
    let (id, mac) = token.split_once('-').unwrap();
    let forged = format!("{}-{mac}", id.parse::<i64>().unwrap() + 1);
    for path in [format!("/u/{forged}"), "/u/not-a-token".to_string()] {
        let page = served.get(&path, &[]);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("***@") && page.body.contains("Unsubscribe"), "{}", page.body);
        assert_eq!(page.body.len(), served.get(&path, &[]).body.len(), "the same page at every visit");
        let done = served.post(&path, &form, b"List-Unsubscribe=One-Click");
        assert_eq!(done.status, 200);
        assert!(done.body.contains("You are unsubscribed"));
        assert!(done.header("Set-Cookie").is_none());
    }
    assert_eq!((p.db().leads(), p.db().inbound_messages()), (1, 1), "nothing recorded for unknown tokens");
    served.stop();
}

#[test]
fn the_api_enrolls_like_the_cli_and_wants_the_token() {
    let (p, served) = served();
    let json = [("Content-Type", "application/json")];
    let body = br#"{"email": "omar@acme.test", "cadence": "hello", "fields": {"first_name": "Omar", "score": 7},
                    "timezone": "America/New_York", "owner": "rep@seller.test"}"#;

    let missing = served.post("/api/v1/enrollments", &json, body);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("WWW-Authenticate"), Some("Bearer"));
    let wrong_token = "Bearer wrong-token-0123456789abcdef";
    let wrong = served.post("/api/v1/enrollments", &[json[0], ("Authorization", wrong_token)], body);
    assert_eq!(wrong.status, 401);
    assert_eq!(p.db().leads(), 0);

    let auth = bearer();
    let headers = [json[0], ("Authorization", auth.as_str())];
    let created = served.post("/api/v1/enrollments", &headers, body);
    assert_eq!(created.status, 201, "{}", created.body);
    let doc = created.json();
    assert_eq!((doc["enrolled"].as_bool(), doc["first_step"].as_str()), (Some(true), Some("intro")));
    let status = p.status("omar@acme.test");
    assert_eq!(status["timezone"], "America/New_York");
    assert_eq!(status["fields"]["score"], "7");
    assert_eq!(status["enrollments"][0]["owner"], "rep@seller.test");

    let again = served.post("/api/v1/enrollments", &headers, body);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["enrolled"], false);

    let cases: [(&[u8], &str, &str); 5] = [
        (
            br#"{"email": "x@acme.test", "cadence": "nope", "fields": {"first_name": "X"}}"#,
            "cadence",
            "unknown cadence",
        ),
        (
            br#"{"email": "not an address", "cadence": "hello", "fields": {"first_name": "X"}}"#,
            "email",
            "invalid address",
        ),
        (br#"{"email": "x@acme.test", "cadence": "hello"}"#, "first_name", ""),
        (
            br#"{"email": "x@acme.test", "cadence": "hello", "fields": {"first_name": ["a"]}}"#,
            "fields.first_name",
            "string",
        ),
        (br#"{"email": "x@acme.test", "cadense": "hello"}"#, "body", "unknown field `cadense`"),
    ];
    for (body, field, message) in cases {
        let r = served.post("/api/v1/enrollments", &headers, body);
        assert_eq!(r.status, 422, "{}: {}", String::from_utf8_lossy(body), r.body);
        let e = &r.json()["errors"][0];
        assert_eq!(e["field"], field, "{}", r.body);
        assert!(e["message"].as_str().unwrap().contains(message), "{}", r.body);
    }
    assert!(!p.db().has_lead("x@acme.test"));

    // The lead as `status --json` shows it.
    let lead = served.get("/api/v1/leads/omar@acme.test", &[("Authorization", auth.as_str())]);
    assert_eq!(lead.status, 200);
    assert_eq!(lead.json(), p.status("omar@acme.test"));
    assert_eq!(served.get("/api/v1/leads/nobody@acme.test", &[("Authorization", auth.as_str())]).status, 404);
    assert_eq!(served.get("/api/v1/leads/omar@acme.test", &[]).status, 401);

    // Bodies over 64 KiB are refused.
    let big = format!(
        r#"{{"email": "big@acme.test", "cadence": "hello", "fields": {{"first_name": "{}"}}}}"#,
        "x".repeat(70_000)
    );
    let refused = served.post("/api/v1/enrollments", &headers, big.as_bytes());
    assert_eq!(refused.status, 413);
    assert!(!p.db().has_lead("big@acme.test"));

    let log = served.stop();
    assert!(log.contains("401"), "refusals are logged:\n{log}");
    assert!(!log.contains("wrong-token-0123456789abcdef") && !log.contains(TOKEN), "no token in the log:\n{log}");
}

#[test]
fn the_dashboard_wants_a_login_and_sets_a_strict_cookie() {
    let (_p, served) = served();
    let page = served.get("/", &[]);
    assert_eq!(page.status, 401);
    assert!(page.body.contains("name=\"token\""), "{}", page.body);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let wrong = served.post("/login", &form, b"token=guess");
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("Set-Cookie").is_none());
    let ok = served.post("/login", &[form[0], ("X-Forwarded-Proto", "https")], format!("token={TOKEN}").as_bytes());
    assert_eq!(ok.status, 303);
    let cookie = ok.header("Set-Cookie").expect("a session cookie").to_string();
    for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains(TOKEN), "the cookie is not the token: {cookie}");
    let session = cookie.split(';').next().unwrap();
    let home = served.get("/", &[("Cookie", session)]);
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Mailboxes"), "{}", home.body);
    assert_eq!(served.get("/", &[("Authorization", &bearer())]).status, 200);
    assert_eq!(served.get("/", &[("Cookie", "cadenced_session=0123abcd")]).status, 401);
    assert_eq!(served.get("/leads?q=a", &[]).status, 401);
    served.stop();
}

#[test]
fn metrics_and_health() {
    let (p, served) = served();
    p.ok(&["enroll", "jane@acme.test", "--cadence", "hello", "--field", "first_name=Jane"]);
    p.smtp.wait_for(1, Duration::from_secs(30));
    let health = served.wait_health(200);
    assert_eq!(health.json()["status"], "ok");
    // The tick records its send before the next one: wait for the metrics to show it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let m = served.get("/metrics", &[]);
        if m.body.contains("outcome=\"sent\"") || std::time::Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(metrics.status, 200);
    assert!(metrics.header("Content-Type").unwrap().starts_with("application/openmetrics-text"));
    let line = metrics
        .body
        .lines()
        .find(|l| l.starts_with("cadenced_emails_total{") && l.contains("outcome=\"sent\""))
        .unwrap_or_else(|| panic!("{}", metrics.body));
    assert!(line.contains("cadence=\"hello\"") && line.contains("step=\"intro\"") && line.ends_with(" 1"), "{line}");
    for name in [
        "cadenced_steps_due",
        "cadenced_last_tick_duration_seconds",
        "cadenced_last_tick_end_timestamp_seconds",
        "cadenced_mailbox_paused{mailbox=\"sales\"} 0",
    ] {
        assert!(metrics.body.contains(name), "{name} missing:\n{}", metrics.body);
    }
    assert!(metrics.body.trim_end().ends_with("# EOF"));
    served.stop();
}

#[test]
fn health_is_503_with_the_reason_while_an_inbox_cannot_be_read() {
    let p = Project::new();
    let (table, addr) = http_config(&p);
    // An inbox on a port where nothing listens, to be read every second.
    p.write("imap.pass", "secret\n");
    std::fs::set_permissions(p.path("imap.pass"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let port = crate::support::http::free_port();
    p.write_config(&format!(
        "imap = \"imap+plain://127.0.0.1:{port}\"\nimap_username = \"ada\"\npassword_file = \"imap.pass\"\n\
         allow_plaintext_auth = true\n{table}"
    ));
    let text = std::fs::read_to_string(p.path("config.toml")).unwrap();
    p.write(
        "config.toml",
        &text.replace("tick_interval = \"1s\"\n", "tick_interval = \"1s\"\ninbox_max_age = \"1s\"\n"),
    );
    p.cadence("hello", INTRO);
    let served = Served::start(&p, &addr);
    let sick = served.wait_health(503);
    let reasons = sick.json()["reasons"].to_string();
    assert!(reasons.contains("inbox of mailbox sales"), "{reasons}");
    served.stop();
}
