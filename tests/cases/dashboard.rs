//! The dashboard in a real headless Chromium over WebDriver: log in, read
//! each step's funnel off the page and compare it with `report --json`,
//! search a lead and open its timeline; read each variant's bar and whiskers
//! (their `<title>`s and labels), the verdict, a holdout's lift and the
//! outcomes off the page and compare them with `report --json` too.

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

/// The history of the variants test, played through the harness's SMTP
/// server: cadence `seq` (subjects a and b, a LinkedIn step with a holdout, a
/// bump) with replies, a meeting, a deal won and one lost; cadence `pick`
/// (`pick_winner`) where every lead of b answers and none of a, so that b
/// wins. Nothing is left active.
fn experiments(p: &Project) {
    p.cadence("seq", super::variants::CADENCE);
    let intro_only = super::variants::CADENCE.split("[[steps]]\nid = \"like\"").next().expect("an intro");
    p.cadence("pick", &intro_only.replace("min_sample = 3", "min_sample = 6\npick_winner = true"));
    let seq: Vec<String> = (0..16).map(email).collect();
    let pick: Vec<String> = (0..40).map(|i| format!("pick{i}@acme.test")).collect();
    for lead in &seq {
        p.ok(&["enroll", lead, "--cadence", "seq", "--at", "2026-03-02T09:00:00Z"]);
    }
    for lead in &pick {
        p.ok(&["enroll", lead, "--cadence", "pick", "--at", "2026-03-02T09:00:00Z"]);
    }
    p.tick("2026-03-02T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), seq.len() + pick.len(), "every intro left through SMTP");
    let variant_of = |lead: &str| {
        let s = p.status(lead);
        let intro = s["enrollments"][0]["touchpoints"].as_array().and_then(|t| t.iter().find(|t| t["step"] == "intro"));
        intro
            .and_then(|t| t["variant"].as_str())
            .unwrap_or_else(|| panic!("{lead} has no intro variant: {s}"))
            .to_string()
    };
    let of =
        |leads: &[String], v: &str| -> Vec<String> { leads.iter().filter(|l| variant_of(l) == v).cloned().collect() };
    let (a, b) = (of(&seq, "a"), of(&seq, "b"));
    assert!(a.len() >= 3 && b.len() >= 3, "both variants in use: {a:?} {b:?}");
    for lead in [&a[0], &a[1], &b[0]] {
        p.ok(&["mark", lead, "replied", "--at", "2026-03-02T10:00:00Z"]);
    }
    p.ok(&["mark", &a[0], "meeting", "--value", "500", "--at", "2026-03-02T13:00:00Z"]);
    p.ok(&["mark", &a[1], "won", "--value", "1200", "--at", "2026-03-02T14:00:00Z"]);
    p.ok(&["mark", &b[1], "lost", "--at", "2026-03-02T15:00:00Z"]);
    let (pick_a, pick_b) = (of(&pick, "a"), of(&pick, "b"));
    assert!(pick_a.len() >= 6 && pick_b.len() >= 6, "{pick_a:?} {pick_b:?}");
    for lead in &pick_b {
        p.ok(&["mark", lead, "replied", "--at", "2026-03-02T10:00:00Z"]);
    }
    // The tick names pick's winner; the LinkedIn step holds some of seq out.
    p.tick("2026-03-02T11:00:00Z");
    p.tick("2026-03-03T09:00:00Z");
    let got_like = seq.iter().find(|lead| {
        let s = p.status(lead);
        s["enrollments"][0]["touchpoints"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["step"] == "like" && t["status"] == "open"))
    });
    let got_like = got_like.expect("someone got the LinkedIn step");
    p.ok(&["mark", got_like, "replied", "--at", "2026-03-03T12:00:00Z"]);
    p.tick("2026-03-04T09:00:00Z");
    for lead in seq.iter().chain(&pick) {
        let _ = p.run(&["stop", lead]);
    }
    assert_eq!(p.db().enrollments_in_state("active") + p.db().enrollments_in_state("paused"), 0);
}

/// The numbers after `marker` in `text` (a `%` or ` points` after each
/// allowed), as rates: `"95% interval 7.15% to 59.07%"` gives 0.0715 and 0.5907.
fn rates_after(text: &str, marker: &str) -> (f64, f64) {
    let rest = text.split_once(marker).unwrap_or_else(|| panic!("no {marker:?} in {text:?}")).1;
    let number = |s: &str| -> f64 {
        let s = s.trim().trim_end_matches(['%', ';', ',']).trim_end_matches(" points");
        s.parse::<f64>().unwrap_or_else(|_| panic!("{s:?} in {text:?} is not a number")) / 100.0
    };
    let (lo, rest) = rest.split_once(" to ").unwrap_or_else(|| panic!("no \" to \" in {text:?}"));
    let hi = rest.split([';', ',']).next().unwrap_or_default().trim_end_matches(" points");
    (number(lo), number(hi))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn attr(e: &crate::support::browser::Element<'_>, name: &str) -> f64 {
    let text = e.attribute(name).unwrap_or_else(|| panic!("no {name}"));
    text.parse().unwrap_or_else(|_| panic!("{name}={text:?}"))
}

#[test]
fn variants_intervals_verdicts_lift_and_outcomes_on_the_page_are_the_report() {
    let p = Project::new();
    let (table, addr) = http_config(&p);
    p.write_config(&table);
    experiments(&p);
    let served = Served::start(&p, &addr);
    served.wait_health(200);
    let report = p.json(&["report", "--json"]);
    let cadence =
        |name: &str| report["cadences"].as_array().unwrap().iter().find(|c| c["cadence"] == name).unwrap().clone();
    let step = |c: &Value, id: &str| c["steps"].as_array().unwrap().iter().find(|s| s["step"] == id).unwrap().clone();
    let (seq, pick) = (cadence("seq"), cadence("pick"));
    let seq_intro = step(&seq, "intro");
    assert_eq!(seq_intro["comparison"]["winner"], "not yet", "{seq_intro}");
    assert_eq!(step(&pick, "intro")["comparison"]["winner"], "b");
    assert!(step(&seq, "like")["lift"]["held_out"].as_u64() > Some(0));

    // Only inline markup: the page keeps the policy that forbids anything from elsewhere and any script.
    let bearer = format!("Bearer {TOKEN}");
    let page = served.get("/", &[("Authorization", bearer.as_str())]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Security-Policy"),
        Some(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'"
        )
    );
    assert!(page.body.contains("<svg class=\"variants\""), "the bars are in the page itself");
    assert!(!page.body.contains("<script") && !page.body.contains(" src="), "no script, no external asset");

    let browser = Browser::start();
    browser.goto(&format!("http://{addr}/"));
    browser.find("#token").type_text(TOKEN);
    browser.find("#login").click();
    browser.find("svg.variants");
    let mut bars = 0;
    let mut lifts = 0;
    for c in [&seq, &pick] {
        let name = c["cadence"].as_str().unwrap();
        for s in c["steps"].as_array().unwrap() {
            let id = s["step"].as_str().unwrap();
            let block = format!("section.cadence[data-cadence='{name}'] div.experiment[data-step='{id}']");
            let has_outcomes =
                s["meetings"].as_u64().unwrap() + s["won"].as_u64().unwrap() + s["lost"].as_u64().unwrap() > 0;
            let variants = s["variants"].as_array().cloned().unwrap_or_default();
            if variants.is_empty() && s["lift"].is_null() && !has_outcomes {
                assert!(browser.find_all(&block).is_empty(), "{name}/{id} has nothing to compare");
                continue;
            }
            let div = browser.find(&block);
            assert_eq!(div.find_all("g.variant").len(), variants.len(), "{name}/{id}: one bar per variant");
            for v in &variants {
                let vid = v["id"].as_str().unwrap();
                let what = format!("{name}/{id}/{vid}");
                let g = div.find_all(&format!("g.variant[data-variant='{vid}']"));
                assert_eq!(g.len(), 1, "{what}");
                let g = &g[0];
                let [lo, hi] = [0, 1].map(|i| v["reply_interval"][i].as_f64().unwrap());
                let rate = v["reply_rate"].as_f64().unwrap();
                // The whisker's own title and the bar's, to the report's four decimals.
                let whisker = g.find_all(":scope > g.whisker > title")[0].property("textContent").unwrap();
                let (shown_lo, shown_hi) = rates_after(&whisker, "95% interval ");
                assert!(close(shown_lo, lo) && close(shown_hi, hi), "{what}: {whisker:?} against [{lo}, {hi}]");
                let title = g.find_all(":scope > title")[0].property("textContent").unwrap();
                assert_eq!(rates_after(&title, "95% interval "), (shown_lo, shown_hi), "{what}: {title:?}");
                assert!(title.contains(&format!("{} of {} replied", v["replied"], v["reached"])), "{what}: {title:?}");
                assert!(
                    title.contains(&format!(
                        "{} meetings, {} won, {} lost, value {}",
                        v["meetings"],
                        v["won"],
                        v["lost"],
                        v["value"].as_f64().unwrap()
                    )),
                    "{what}: {title:?}"
                );
                // The labels a reader sees.
                let label = |class: &str| g.find_all(&format!("tspan.{class}"))[0].text();
                let pct = |x: f64| format!("{:.1}%", x * 100.0);
                assert_eq!((label("lo"), label("rate"), label("hi")), (pct(lo), pct(rate), pct(hi)), "{what}");
                for key in ["replied", "reached", "meetings", "won"] {
                    assert_eq!(label(key), v[key].to_string(), "{what}: {key}");
                }
                assert_eq!(label("value"), format!("{}", v["value"].as_f64().unwrap()), "{what}: value");
                // The drawing: the whisker spans lo to hi and the bar ends at the rate, on one scale from the bar's start.
                let bar = &g.find_all("rect.bar")[0];
                let line = &g.find_all("g.whisker line.span")[0];
                let (x0, w, x1, x2) = (attr(bar, "x"), attr(bar, "width"), attr(line, "x1"), attr(line, "x2"));
                assert!(x0 <= x1 && x1 <= x0 + w + 0.1 && x0 + w <= x2 + 0.1 && x1 < x2, "{what}: {x0} {w} {x1} {x2}");
                let scale = (x2 - x0) / hi;
                assert!(((x1 - x0) - lo * scale).abs() < 0.5, "{what}: low whisker at {x1}, scale {scale}");
                assert!((w - rate * scale).abs() < 0.5, "{what}: bar {w} wide, scale {scale}");
                bars += 1;
            }
            if let Some(cmp) = s["comparison"].as_object() {
                let verdict = div.find_all("p.verdict .verdict-text")[0].text();
                if cmp["winner"] == "not yet" {
                    let n = cmp["leads_needed"].as_u64().unwrap();
                    assert!(verdict.starts_with(&format!("not yet: about {n} more leads")), "{name}/{id}: {verdict}");
                } else {
                    let winner = cmp["winner"].as_str().unwrap();
                    assert!(verdict.starts_with(&format!("winner: {winner} since ")), "{name}/{id}: {verdict}");
                    let since = s["winner_since"].as_str().unwrap();
                    assert_eq!(div.find_all("p.verdict")[0].attribute("data-since").as_deref(), Some(since));
                    assert!(verdict.contains(&format!("({} UTC)", &since[11..16])), "{verdict} since {since}");
                    assert_eq!(div.find_all("g.variant.winner").len(), 1);
                    assert_eq!(div.find_all("g.variant.winner")[0].attribute("data-variant").as_deref(), Some(winner));
                }
            } else {
                assert!(div.find_all("p.verdict").is_empty(), "{name}/{id}");
            }
            if let Some(lift) = s["lift"].as_object() {
                let shown = |class: &str| div.find_all(&format!("p.lift .{class}"))[0].text();
                let points = |x: &Value| format!("{:+.1}", x.as_f64().unwrap() * 100.0);
                assert_eq!(shown("lift-value"), points(&lift["value"]), "{name}/{id}");
                assert_eq!(shown("lift-lo"), points(&lift["interval"][0]), "{name}/{id}");
                assert_eq!(shown("lift-hi"), points(&lift["interval"][1]), "{name}/{id}");
                let title = div.find_all("svg.lift g.lift > title")[0].property("textContent").unwrap();
                let (lo, hi) = rates_after(&title, "95% interval ");
                assert!(close(lo, lift["interval"][0].as_f64().unwrap()), "{title}");
                assert!(close(hi, lift["interval"][1].as_f64().unwrap()), "{title}");
                let text = div.find_all("p.lift")[0].text();
                assert!(
                    text.contains(&format!(
                        "{} of {} who got it, {} of {} held out",
                        lift["replied"], lift["reached"], lift["held_out_replied"], lift["held_out"]
                    )),
                    "{text}"
                );
                lifts += 1;
            }
            if has_outcomes {
                let shown = |class: &str| div.find_all(&format!("p.outcomes .{class}"))[0].text();
                for key in ["meetings", "won", "lost"] {
                    assert_eq!(shown(key), s[key].to_string(), "{name}/{id}: {key}");
                }
                assert_eq!(shown("value"), format!("{}", s["value"].as_f64().unwrap()), "{name}/{id}: value");
            }
        }
    }
    assert_eq!((bars, lifts), (4, 1), "two variants in each of two cadences, one holdout");
    assert_eq!(
        (seq_intro["meetings"].as_u64(), seq_intro["won"].as_u64(), seq_intro["value"].as_f64()),
        (Some(1), Some(1), Some(1700.0))
    );
    drop(browser);
    let after: Value = p.json(&["report", "--json"]);
    assert_eq!(after["cadences"], report["cadences"], "nothing changed while the page was read");
    served.stop();
}
