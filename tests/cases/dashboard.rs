//! The dashboard in a real headless Chromium over WebDriver: log in, read
//! each step's funnel off the page and compare it with `report --json`,
//! search a lead and open its timeline.

use serde_json::Value;

use crate::support::Project;
use crate::support::browser::Browser;
use crate::support::dovecot::{Dovecot, USER};
use crate::support::http::{Served, TOKEN, http_config};

const CADENCE: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"1d\"\nkind = \"email\"\nbody = \"Just bumping this.\"\n\
    [[steps]]\nid = \"call-1\"\nwait = \"1d\"\nkind = \"call\"\nbody = \"Call them\"\n\
    [[steps]]\nid = \"breakup\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Last one\"\nbody = \"b\"\n";

fn email(i: usize) -> String {
    format!("lead{i}@acme.test")
}

/// A history with sends, a reply, a task done and one skipped; nothing left
/// active, so that the running daemon changes nothing while the page is read.
fn history(p: &Project, imap: &Dovecot) {
    p.cadence("seq", CADENCE);
    p.cadence("short", "[[steps]]\nid = \"only\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"b\"\n");
    for i in 0..6 {
        p.ok(&["enroll", &email(i), "--cadence", "seq", "--at", "2026-03-02T09:00:00Z"]);
    }
    p.ok(&["enroll", &email(9), "--cadence", "short", "--at", "2026-03-02T09:00:00Z"]);
    p.tick("2026-03-02T09:00:00Z");
    let intro = p.status(&email(1))["enrollments"][0]["touchpoints"][0]["message_id"].as_str().unwrap().to_string();
    imap.deliver(
        "INBOX",
        &format!(
            "From: {}\nTo: {USER}\nSubject: Re: Hello\nDate: Mon, 2 Mar 2026 12:00:00 +0000\nMessage-ID: <r1@acme.test>\n\
             In-Reply-To: {intro}\nReferences: {intro}\n\nTell me more.\n",
            email(1)
        ),
    );
    p.tick("2026-03-02T12:00:00Z");
    p.ok(&["stop", &email(5)]);
    p.tick("2026-03-03T09:00:00Z");
    p.tick("2026-03-04T09:00:00Z");
    let tasks = p.json(&["tasks", "--json"]);
    let ids: Vec<String> = tasks["tasks"].as_array().unwrap().iter().map(|t| t["id"].to_string()).collect();
    assert_eq!(ids.len(), 4, "{tasks}");
    p.ok(&["task", "done", &ids[0], "--at", "2026-03-04T10:00:00Z"]);
    p.ok(&["task", "skip", &ids[1], "--at", "2026-03-04T10:00:00Z"]);
    for i in 0..6 {
        let _ = p.run(&["stop", &email(i)]);
    }
    assert_eq!(p.db().enrollments_in_state("active") + p.db().enrollments_in_state("paused"), 0);
}

#[test]
fn the_funnel_on_the_page_is_the_report_and_a_search_opens_a_timeline() {
    let imap = Dovecot::start();
    let p = Project::new();
    let (table, addr) = http_config(&p);
    p.write_config(&format!("{}{table}", imap.mailbox_config(p.dir.path(), None)));
    history(&p, &imap);
    let served = Served::start(&p, &addr);
    served.wait_health(200);
    let report = p.json(&["report", "--json"]);
    assert!(report["cadences"][0]["steps"][0]["replied"].as_u64() > Some(0), "{report}");

    let browser = Browser::start();
    browser.goto(&format!("http://{addr}/"));
    browser.find("#token").type_text(TOKEN);
    browser.find("#login").click();
    browser.find("svg.funnel");
    for cadence in report["cadences"].as_array().unwrap() {
        let name = cadence["cadence"].as_str().unwrap();
        let section = format!("section.cadence[data-cadence='{name}']");
        assert_eq!(browser.find(&format!("{section} .enrolled")).text(), cadence["enrolled"].to_string());
        for step in cadence["steps"].as_array().unwrap() {
            let id = step["step"].as_str().unwrap();
            let g = browser.find(&format!("{section} g.step[data-step='{id}']"));
            let shown = |class: &str| {
                let found = g.find_all(&format!("tspan.{class}"));
                assert_eq!(found.len(), 1, "{name}/{id}: one .{class}");
                found[0].text()
            };
            let keys: &[&str] = if step["kind"] == "email" {
                &["reached", "sent", "replied", "bounced", "unsubscribed"]
            } else {
                &["reached", "done", "skipped"]
            };
            for key in keys {
                assert_eq!(shown(key), step[*key].to_string(), "{name}/{id}: {key}");
            }
            if step["kind"] == "email" {
                let rate = format!("{:.1}%", step["reply_rate"].as_f64().unwrap() * 100.0);
                assert_eq!(shown("rate"), rate, "{name}/{id}: reply rate");
            }
        }
    }

    // Search by the start of an address, then open the lead.
    let search = browser.find("#search");
    search.type_text("LEAD1\u{E007}");
    let results = browser.find("#results");
    let links = results.find_all("a.lead");
    assert_eq!(links.len(), 1, "{}", browser.source());
    assert_eq!(links[0].text(), email(1));
    links[0].click();
    assert_eq!(browser.find("#lead").text(), email(1));
    let status = p.status(&email(1));
    let expected: Vec<(String, String)> = status["enrollments"][0]["touchpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["step"].as_str().unwrap().to_string(), t["status"].as_str().unwrap().to_string()))
        .collect();
    let shown: Vec<(String, String)> = browser
        .find_all("tr.touchpoint")
        .iter()
        .map(|row| (row.attribute("data-step").unwrap_or_default(), row.find_all("td.status")[0].text()))
        .collect();
    assert_eq!(shown, expected);
    assert!(expected.iter().any(|(step, status)| step == "inbound" && status == "received"), "{status}");
    assert_eq!(browser.find(".enrollment .state").text(), status["enrollments"][0]["state"].as_str().unwrap());
    drop(browser);
    let after: Value = p.json(&["report", "--json"]);
    assert_eq!(after["cadences"], report["cadences"], "nothing changed while the page was read");
    served.stop();
}
