//! Everyday questions without IMAP: mail fed in by hand (`ingest`), a reply
//! that came by phone (`mark`), and a colleague's reply that ends the whole
//! company's cadence (`stop_on = ["domain_reply"]`).

use crate::support::Project;

const TWO: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"Hello\"\n\n\
                   [[steps]]\nid = \"bump\"\nwait = \"1d\"\nkind = \"email\"\nbody = \"Again\"\n";

fn enroll(p: &Project, email: &str, cadence: &str) {
    p.ok(&["enroll", email, "--cadence", cadence, "--at", "2026-03-02T09:00:00Z"]);
}

fn state(p: &Project, email: &str) -> String {
    p.status(email)["enrollments"][0]["state"].as_str().unwrap_or_default().to_string()
}

#[test]
fn ingest_acts_on_a_saved_reply_once() {
    let p = Project::new();
    p.cadence("two", TWO);
    enroll(&p, "jane@acme.test", "two");
    p.tick("2026-03-02T09:00:00Z");
    let id = p.smtp.messages()[0].message_id().unwrap();
    p.write(
        "reply.eml",
        &format!(
            "From: Jane <jane@acme.test>\nTo: ada@seller.test\nSubject: Re: Hi\nMessage-ID: <r1@acme.test>\n\
             In-Reply-To: {id}\nDate: Mon, 2 Mar 2026 12:00:00 +0100\n\nYes, let's talk.\n"
        ),
    );
    let file = p.path("reply.eml");
    let out = p.ok(&["ingest", file.to_str().unwrap(), "--at", "2026-03-02T12:00:00Z"]);
    assert!(out.contains("reply") && out.contains("jane@acme.test") && out.contains("stopped two"), "{out}");
    assert_eq!(state(&p, "jane@acme.test"), "replied");
    let inbound = &p.status("jane@acme.test")["inbound"][0];
    assert_eq!((inbound["kind"].as_str(), inbound["at"].as_str()), (Some("reply"), Some("2026-03-02T11:00:00Z")));
    // Once: the same Message-ID again does nothing.
    let again = p.json(&["ingest", file.to_str().unwrap(), "--json", "--at", "2026-03-02T12:05:00Z"]);
    assert_eq!(again["messages"][0]["handled"], false, "{again}");
    assert_eq!(p.status("jane@acme.test")["inbound"].as_array().map(Vec::len), Some(1));
}

#[test]
fn an_ingested_bounce_of_a_dead_address_suppresses_it() {
    let p = Project::new();
    p.cadence("two", TWO);
    enroll(&p, "gone@acme.test", "two");
    p.tick("2026-03-02T09:00:00Z");
    let id = p.smtp.messages()[0].message_id().unwrap();
    p.write(
        "bounce.eml",
        &format!(
            "From: MAILER-DAEMON@mx.acme.test\nTo: ada@seller.test\nSubject: Undelivered Mail Returned to Sender\n\
             Message-ID: <b1@mx.acme.test>\nMIME-Version: 1.0\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\n\
             Content-Type: text/plain\n\nThe mail could not be delivered.\n\n--B\n\
             Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.test\n\n\
             Final-Recipient: rfc822; gone@acme.test\nAction: failed\nStatus: 5.1.1\n\
             Diagnostic-Code: smtp; 550 5.1.1 <gone@acme.test>: Recipient address rejected: User unknown\n\n--B\n\
             Content-Type: text/rfc822-headers\n\nMessage-ID: {id}\nTo: gone@acme.test\n\n--B--\n"
        ),
    );
    let out = p.ok(&["ingest", p.path("bounce.eml").to_str().unwrap(), "--at", "2026-03-02T10:00:00Z"]);
    assert!(out.contains("bounce"), "{out}");
    assert_eq!(state(&p, "gone@acme.test"), "bounced");
    assert_eq!(p.status("gone@acme.test")["suppressed"], "bounced");
}

#[test]
fn a_bounce_naming_no_recipient_finds_its_lead_by_the_returned_message_id() {
    let p = Project::new();
    p.cadence("two", TWO);
    enroll(&p, "gone@acme.test", "two");
    enroll(&p, "stays@acme.test", "two");
    p.tick("2026-03-02T09:00:00Z");
    let sent = p.smtp.messages();
    let to_gone = sent.iter().find(|m| m.rcpt_to == ["gone@acme.test"]).unwrap();
    let id = to_gone.message_id().unwrap();
    // A notice that names no recipient, the copy of the message cut to a few headers (no To):
    // only the returned Message-ID says whose email failed.
    p.write(
        "bounce.eml",
        &format!(
            "From: MAILER-DAEMON@mx.acme.test\nTo: ada@seller.test\nSubject: failure notice\n\
             Message-ID: <q1@mx.acme.test>\n\n\
             Hi. This is the qmail-send program at mx.acme.test.\n\
             I'm afraid I wasn't able to deliver your message to the following addresses.\n\
             This is a permanent error; I've given up. Sorry it didn't work out.\n\n\
             Sorry, no mailbox here by that name. (#5.1.1)\n\n\
             --- Below this line is a copy of the message.\n\n\
             Message-ID: {id}\nSubject: Hi\nDate: Mon, 2 Mar 2026 09:00:00 +0000\n\nHello\n"
        ),
    );
    let out = p.ok(&["ingest", p.path("bounce.eml").to_str().unwrap(), "--at", "2026-03-02T10:00:00Z"]);
    assert!(out.contains("bounce"), "{out}");
    assert_eq!(state(&p, "gone@acme.test"), "bounced", "{out}");
    assert_eq!(p.status("gone@acme.test")["suppressed"], "bounced");
    assert_eq!(state(&p, "stays@acme.test"), "active", "only the lead the Message-ID names");
    // Its cadence stopped: the next step goes to the other lead only.
    p.tick("2026-03-03T09:00:00Z");
    let later: Vec<Vec<String>> = p.smtp.messages().into_iter().skip(sent.len()).map(|m| m.rcpt_to).collect();
    assert_eq!(later, [vec!["stays@acme.test".to_string()]]);
}

#[test]
fn mark_records_a_reply_that_came_by_phone() {
    let p = Project::new();
    p.cadence("two", TWO);
    p.cadence("other", TWO);
    enroll(&p, "jane@acme.test", "two");
    enroll(&p, "jane@acme.test", "other");
    let out = p.ok(&["mark", "jane@acme.test", "replied", "--cadence", "two", "--note", "called back, March"]);
    assert!(out.contains("stopped two"), "{out}");
    let s = p.status("jane@acme.test");
    let states: Vec<&str> = s["enrollments"].as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["replied", "active"], "only the cadence named");
    assert!(s["inbound"][0]["detail"].as_str().unwrap().contains("marked replied by hand: called back, March"));
    p.ok(&["mark", "jane@acme.test", "replied"]);
    assert_eq!(p.status("jane@acme.test")["enrollments"][1]["state"], "replied", "every cadence without --cadence");
    let err = p.fails(&["mark", "nobody@acme.test", "replied"]);
    assert!(err.contains("no lead nobody@acme.test"), "{err}");
    let err = p.fails(&["mark", "jane@acme.test", "bounced"]);
    assert!(err.contains("replied"), "lists what can be marked: {err}");
}

#[test]
fn a_colleagues_reply_stops_every_lead_of_the_company_in_domain_reply_cadences() {
    let p = Project::new();
    p.cadence("accounts", &format!("stop_on = [\"reply\", \"domain_reply\"]\n{TWO}"));
    p.cadence("personal", TWO);
    for lead in ["ann@acme.test", "bob@acme.test", "cy@other.test"] {
        enroll(&p, lead, "accounts");
    }
    enroll(&p, "dee@acme.test", "personal");
    // A colleague nobody enrolled answers.
    p.write(
        "no.eml",
        "From: Boss <boss@acme.test>\nTo: ada@seller.test\nSubject: Re: Hi\nMessage-ID: <n1@acme.test>\n\
         Date: Mon, 2 Mar 2026 15:00:00 +0000\n\nWe are not interested, please stop.\n",
    );
    p.ok(&["ingest", p.path("no.eml").to_str().unwrap(), "--at", "2026-03-02T15:00:00Z"]);
    for lead in ["ann@acme.test", "bob@acme.test"] {
        let e = &p.status(lead)["enrollments"][0];
        assert_eq!(e["state"], "replied", "{lead}");
        assert!(e["ended_by"].as_str().unwrap_or_default().contains("boss@acme.test answered for acme.test"), "{e}");
    }
    assert_eq!(state(&p, "cy@other.test"), "active", "another company");
    assert_eq!(state(&p, "dee@acme.test"), "active", "a cadence without domain_reply");
}

#[test]
fn a_reply_from_free_mail_or_from_before_enrollment_stops_no_company() {
    let p = Project::new();
    p.write_config("");
    p.cadence("accounts", &format!("stop_on = [\"domain_reply\"]\n{TWO}"));
    enroll(&p, "ann@gmail.com", "accounts");
    enroll(&p, "bo@gmail.com", "accounts");
    enroll(&p, "cat@acme.test", "accounts");
    p.write("free.eml", "From: zed@gmail.com\nTo: ada@seller.test\nSubject: hi\nMessage-ID: <f1@gmail.com>\nDate: Mon, 2 Mar 2026 15:00:00 +0000\n\nhello\n");
    p.ok(&["ingest", p.path("free.eml").to_str().unwrap(), "--at", "2026-03-02T15:00:00Z"]);
    assert_eq!(state(&p, "ann@gmail.com"), "active", "gmail.com is nobody's company");
    p.write("old.eml", "From: boss@acme.test\nTo: ada@seller.test\nSubject: lunch\nMessage-ID: <o1@acme.test>\nDate: Sun, 1 Mar 2026 15:00:00 +0000\n\nlunch?\n");
    p.ok(&["ingest", p.path("old.eml").to_str().unwrap(), "--at", "2026-03-02T15:00:00Z"]);
    assert_eq!(state(&p, "cat@acme.test"), "active", "written before the lead's enrollment, naming nothing we sent");
    let err = {
        p.cadence("bad", &format!("stop_on = [\"domain_replies\"]\n{TWO}"));
        p.fails(&["check"])
    };
    assert!(err.contains("expected reply, bounce, unsubscribe or domain_reply"), "{err}");
}
