//! A mailbox whose sending is refused (a block list) pauses itself: nothing
//! more leaves it, even within the tick that found out.

use crate::support::{Fault, Project};

#[test]
fn a_blocklisted_mailbox_stops_claiming_within_the_tick_that_finds_out() {
    let p = Project::new();
    p.write_config("pause_after_refusals = 3\n");
    p.cadence(
        "one",
        "[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"Hi\"\n",
    );
    let mut csv = String::from("email\n");
    for i in 0..400 {
        csv.push_str(&format!("lead{i}@acme.test\n"));
    }
    p.write("leads.csv", &csv);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "one", "--at", "2026-03-02T09:00:00Z"]);
    p.smtp.set_faults(vec![Fault::RejectRcpt {
        address_contains: "@acme.test".into(),
        code: 554,
        text: "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org".into(),
    }]);
    p.tick("2026-03-02T09:00:00Z");
    let refused = p.db().refusals();
    // The first group (128) and the one claimed while it was on the wire; none after the pause.
    assert!((3..=256).contains(&refused), "{refused} refusals");
    assert_eq!(p.db().enrollments_in_state("active"), 400, "no lead is blamed");
    assert_eq!(p.db().suppressions(), 0);
    let boxes = p.json(&["mailboxes", "--json", "--at", "2026-03-02T09:01:00Z"]);
    assert_eq!(boxes["mailboxes"][0]["state"], "paused", "{boxes}");
    // Later ticks send nothing until it is resumed.
    p.tick("2026-03-02T09:30:00Z");
    assert_eq!(p.db().refusals(), refused);
}
