//! Agreement with the reference parser's verdicts on the shared bounce fixtures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::FIXTURES;
use crate::inbound::{BounceReason, Kind, classify};

#[derive(Debug, Clone, Default)]
struct Row {
    recipient: String,
    reason: String,
    softbounce: Option<i32>,
    status: String,
}

/// Expected kind for a fixture.
fn expected_kind(file: &str, rows: &[Row]) -> Kind {
    if let Some((kind, _)) = correction(file) {
        return kind;
    }
    let reason = rows.first().map(|r| r.reason.as_str()).unwrap_or("");
    match reason {
        "feedback" => Kind::Complaint,
        "vacation" => Kind::AutoReply,
        // A delivery (success) notification: not a bounce.
        "delivered" => Kind::Other,
        _ => Kind::Bounce,
    }
}

/// The 14 `none` rows of expected.tsv, checked by hand: the reference parser does not know the
/// DragonFly Mail Agent format and missed three more failure notices; two messages are from people.
/// The reasons are ours (`softbounce` 0 only for a dead address); the reference rates leave them out.
fn correction(file: &str) -> Option<(Kind, Vec<Row>)> {
    let bounce = |addr: &str, reason: &str, status: &str| {
        let dead = BounceReason::parse(reason).is_some_and(BounceReason::is_dead_address);
        Some((
            Kind::Bounce,
            vec![Row {
                recipient: addr.to_string(),
                reason: format!("corrected:{reason}"),
                softbounce: Some(if dead { 0 } else { 1 }),
                status: status.to_string(),
            }],
        ))
    };
    match file {
        "is-not-bounce-01.eml" | "is-not-bounce-02.eml" => Some((Kind::Reply, Vec::new())),
        // "554 5.7.9 Message not accepted for policy reasons".
        "lhost-dragonfly-03.eml" => bounce("pseudo-local-part@yahoo-inc.example.com", "policyviolation", "5.7.9"),
        "lhost-dragonfly-06.eml" => bounce("blocked@libsisimai.net", "blocked", "5.7.25"),
        // "550 5.2.1 ...: Recipient address rejected: User unknown" to RCPT TO: the reference reads
        // this as userunknown (as in lhost-postfix-57), whatever the local part says.
        "lhost-dragonfly-09.eml" => bounce("filtered@libsisimai.net", "userunknown", "5.2.1"),
        "lhost-dragonfly-12.eml" => bounce("mailboxfull@libsisimai.net", "mailboxfull", "5.2.2"),
        "lhost-dragonfly-15.eml" => bounce("norelaying@libsisimai.net", "norelaying", "5.7.0"),
        "lhost-dragonfly-18.eml" => bounce("policyviolation@libsisimai.net", "policyviolation", "5.7.0"),
        "lhost-dragonfly-21.eml" => bounce("suspend@libsisimai.net", "suspend", "5.7.13"),
        "lhost-dragonfly-24.eml" => bounce("userunknown@libsisimai.net", "userunknown", "5.1.1"),
        // 5.7.13: user account disabled.
        "lhost-dragonfly-27.eml" => bounce("neko-nyaan@example.org", "suspend", "5.7.13"),
        // "Could not deliver for the last 432000 seconds. Giving up." - no code.
        "lhost-dragonfly-30.eml" => bounce("neko@nyaan.jp", "expired", ""),
        // Status: 5.0.0 with "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain".
        "lhost-mimecast-02.eml" => bounce("sabatora@example.net", "norelaying", ""),
        // "reject reason: Mailbox full", no code.
        "rb-issue-368-bug.eml" => bounce("xxxx@yyyyyy.net", "mailboxfull", ""),
        _ => None,
    }
}

fn load_expected(dir: &Path) -> BTreeMap<String, Vec<Row>> {
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    let mut map: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let file = cols.first().copied().unwrap_or("").to_string();
        if file.is_empty() {
            continue;
        }
        let row = Row {
            recipient: cols.get(1).copied().unwrap_or("").to_lowercase(),
            reason: cols.get(2).copied().unwrap_or("").to_string(),
            softbounce: cols.get(3).and_then(|s| s.trim().parse().ok()),
            status: cols.get(4).copied().unwrap_or("").trim().to_string(),
        };
        let entry = map.entry(file).or_default();
        if row.recipient != "none" {
            entry.push(row);
        }
    }
    map
}

/// The blind reading of each fixture row, `truth.tsv` (`file#recipient`, `yes`/`no`/`unclear`, the
/// decisive words): whether the notice says the address itself is dead. Readers saw the message only,
/// neither our verdict nor the reference's; `unclear` rows are left out of the rate.
fn load_truth(dir: &Path) -> BTreeMap<String, bool> {
    let tsv = std::fs::read_to_string(dir.join("truth.tsv")).expect("truth.tsv");
    tsv.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let key = cols.next()?;
            match cols.next()? {
                "yes" => Some((key.to_string(), true)),
                "no" => Some((key.to_string(), false)),
                _ => None,
            }
        })
        .collect()
}

struct Rate {
    name: &'static str,
    ok: usize,
    total: usize,
}

impl Rate {
    fn new(name: &'static str) -> Rate {
        Rate { name, ok: 0, total: 0 }
    }
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.ok += usize::from(ok);
    }
    fn pct(&self) -> f64 {
        if self.total == 0 { 100.0 } else { 100.0 * self.ok as f64 / self.total as f64 }
    }
    fn print(&self) {
        println!("{:<62} {:>4}/{:<4} = {:6.2}%", self.name, self.ok, self.total, self.pct());
    }
}

/// Sisimai's own pseudo status codes (X.0.9xx) that no message contains.
fn is_pseudo_status(s: &str) -> bool {
    let mut parts = s.split('.');
    let (_, sub, detail) = (parts.next(), parts.next(), parts.next());
    sub == Some("0") && detail.is_some_and(|d| d.len() == 3 && d.starts_with('9'))
}

/// The half of the fixtures a file belongs to, by a hash of its name: the reason rules were tuned
/// looking only at the failures of half 0; half 1 was held out to measure them.
fn half(file: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h % 2).unwrap_or(0)
}

/// The three agreement rates the product targets, for one set of fixtures.
struct Targets {
    rcpt: Rate,
    reason: Rate,
    dead: Rate,
}

impl Targets {
    fn new(rcpt: &'static str, reason: &'static str, dead: &'static str) -> Targets {
        Targets { rcpt: Rate::new(rcpt), reason: Rate::new(reason), dead: Rate::new(dead) }
    }
}

#[test]
fn fixture_agreement() {
    let dir = Path::new(FIXTURES);
    if !dir.join("expected.tsv").exists() {
        panic!("fixtures not found at {FIXTURES}");
    }
    let expected = load_expected(dir);
    let truth = load_truth(dir);
    let started = std::time::Instant::now();

    let mut kind_raw = Rate::new("(a)  kind vs expected.tsv as given (none => not bounce)");
    let mut kind = Rate::new("(a') kind, 14 `none` rows checked by hand");
    let mut complaint_rcpt = Rate::new("(b') complained-about recipient set (ARF files)");
    let mut status = Rate::new("(d)  status == expected status (non-empty), per row");
    let mut status_real = Rate::new("(d') same, excluding Sisimai pseudo codes X.0.9xx");
    let mut all = Targets::new(
        "(b)  bounced recipient set (files expected Bounce)",
        "(e)  reason == expected reason, per recipient row",
        "(c)  permanent (dead address) == (softbounce == 0), per row",
    );
    let mut halves = [
        Targets::new("     half 0 (tuned on): recipient set", "     half 0: reason", "     half 0: dead address"),
        Targets::new("     half 1 (held out): recipient set", "     half 1: reason", "     half 1: dead address"),
    ];
    let mut hand_reason = Rate::new("(e') reason of the 12 rows checked by hand");
    let mut read = Targets::new("", "", "(c') permanent == the blind reading, per row read");
    let mut read_halves = [
        Targets::new("", "", "     half 0: dead address, blind reading"),
        Targets::new("", "", "     half 1: dead address, blind reading"),
    ];
    let mut failures: Vec<String> = Vec::new();
    let mut reason_misses: BTreeMap<String, usize> = BTreeMap::new();

    for (file, raw_rows) in &expected {
        let raw = std::fs::read(dir.join(file)).expect("fixture");
        let c = classify(&raw);
        let rows: Vec<Row> = correction(file).map(|(_, r)| r).unwrap_or_else(|| raw_rows.clone());
        let want = expected_kind(file, raw_rows);
        let h = half(file);

        let raw_want_bounce = !raw_rows.is_empty()
            && !matches!(raw_rows.first().map(|r| r.reason.as_str()), Some("feedback" | "vacation" | "delivered"));
        let raw_ok = match raw_rows.first().map(|r| r.reason.as_str()) {
            None => c.kind != Kind::Bounce,
            Some("feedback") => c.kind == Kind::Complaint,
            Some("vacation") => c.kind == Kind::AutoReply,
            _ if raw_want_bounce => c.kind == Kind::Bounce,
            _ => c.kind != Kind::Bounce,
        };
        kind_raw.add(raw_ok);
        kind.add(c.kind == want);
        if c.kind != want {
            failures.push(format!("KIND   {file}: got {:?}, want {want:?}", c.kind));
        }

        let got: BTreeSet<String> = c.recipients.iter().map(|r| r.address.to_lowercase()).collect();
        let want_set: BTreeSet<String> = rows.iter().map(|r| r.recipient.clone()).collect();
        if want == Kind::Bounce {
            let ok = got == want_set;
            all.rcpt.add(ok);
            halves[h].rcpt.add(ok);
            if !ok {
                failures.push(format!("RCPT   {file}: got {got:?}, want {want_set:?}"));
            }
        }
        if want == Kind::Complaint {
            // Sisimai reports a placeholder when the report names no recipient.
            let want_set: BTreeSet<String> = want_set.into_iter().filter(|a| !a.ends_with(".invalid")).collect();
            let ok = want_set.is_empty() || got == want_set;
            complaint_rcpt.add(ok);
            if !ok {
                failures.push(format!("CRCPT  {file}: got {got:?}, want {want_set:?}"));
            }
        }
        if want != Kind::Bounce {
            continue;
        }
        for row in &rows {
            let found = c.recipients.iter().find(|r| r.address.eq_ignore_ascii_case(&row.recipient));
            if let Some(soft) = row.softbounce.filter(|s| *s == 0 || *s == 1) {
                let ok = found.is_some_and(|r| r.permanent == (soft == 0));
                all.dead.add(ok);
                halves[h].dead.add(ok);
                if !ok {
                    failures.push(format!(
                        "DEAD   {file} {}: got {:?}, want permanent={} ({}, {})",
                        row.recipient,
                        found.map(|r| r.permanent),
                        soft == 0,
                        row.reason,
                        row.status
                    ));
                }
            }
            if let Some(dead) = truth.get(&format!("{file}#{}", row.recipient)) {
                // The product's outcome: an address not found in the notice is left alive, which is
                // right for one that is not dead, unless the notice was read as a reply.
                let ok = match found {
                    Some(r) => r.permanent == *dead,
                    None => !*dead && c.kind != Kind::Reply,
                };
                read.dead.add(ok);
                read_halves[h].dead.add(ok);
                if !ok {
                    failures.push(format!(
                        "READ   {file} {}: got {:?} ({:?}), read as dead={dead}",
                        row.recipient,
                        found.map(|r| r.permanent),
                        found.map(|r| r.reason)
                    ));
                }
            }
            if let Some(hand) = row.reason.strip_prefix("corrected:") {
                let ok = found.is_some_and(|r| r.reason.as_str() == hand);
                hand_reason.add(ok);
                if !ok {
                    failures.push(format!(
                        "HAND   {file} {}: got {:?}, want {hand}",
                        row.recipient,
                        found.map(|r| r.reason)
                    ));
                }
            }
            if BounceReason::parse(&row.reason).is_some() {
                let ok = found.is_some_and(|r| r.reason.as_str() == row.reason);
                all.reason.add(ok);
                halves[h].reason.add(ok);
                if !ok {
                    *reason_misses.entry(row.reason.clone()).or_default() += 1;
                    failures.push(format!(
                        "REASON {file} {}: got {:?}, want {} ({})",
                        row.recipient,
                        found.map(|r| r.reason.as_str()),
                        row.reason,
                        row.status
                    ));
                }
            }
            if !row.status.is_empty() {
                let ok = found.is_some_and(|r| r.status.as_deref() == Some(row.status.as_str()));
                status.add(ok);
                if !is_pseudo_status(&row.status) {
                    status_real.add(ok);
                    if !ok {
                        failures.push(format!(
                            "STATUS {file} {}: got {:?}, want {}",
                            row.recipient,
                            found.map(|r| r.status.clone()),
                            row.status
                        ));
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();

    for f in &failures {
        println!("{f}");
    }
    println!("reasons missed (expected reason: rows): {reason_misses:?}");
    println!("classified {} fixtures in {elapsed:?}", expected.len());
    for r in [&kind_raw, &kind, &complaint_rcpt, &status, &status_real, &hand_reason] {
        r.print();
    }
    for t in [&all, &halves[0], &halves[1]] {
        for r in [&t.rcpt, &t.reason, &t.dead] {
            r.print();
        }
    }
    for r in [&read.dead, &read_halves[0].dead, &read_halves[1].dead] {
        r.print();
    }

    // The targets: recipient >= 95% and reason >= 80% against the reference's verdicts, dead address
    // or not >= 95% against the blind reading of each notice (truth.tsv). The reference calls a
    // "user unknown" `filtered` (not dead) whenever it cannot tell which SMTP command was answered,
    // in some files and not in others with the same words; we read such a text as the dead address it
    // names (see reason::decide), as the blind reading does. Floors at what the classifier achieves
    // (numbers in the comments) so that a regression fails.
    for (rate, target) in [(&all.rcpt, 95.0), (&all.reason, 80.0), (&read.dead, 95.0)] {
        assert!(rate.pct() >= target, "{}: {:.2}% < target {target}%", rate.name, rate.pct());
    }
    assert!(read.dead.pct() >= 99.4, "dead address against the blind reading {:.2}%", read.dead.pct()); // 187/187
    assert!(read.dead.total >= 185, "rows read blind: {}", read.dead.total);
    assert!(all.reason.pct() >= 81.0, "reason agreement {:.2}%", all.reason.pct()); // 160/197
    assert!(all.dead.pct() >= 88.0, "dead address agreement with the reference {:.2}%", all.dead.pct()); // 185/209
    // The held-out half, whose reference failures were not studied to write rules: recipient
    // 104/104, reason 83/103 (80.6%). Later rules were tuned on other messages
    // (scripts/measure_bounces.py); regressions they caused here were seen, and those rules withdrawn.
    // The four rows both halves missed against the blind reading were looked at when it came (three
    // in this half): IMail's and Verizon's wordings, Gmail's "no MX and no address", a section
    // running into the next recipient's line. Now 96/96.
    assert!(halves[1].rcpt.pct() >= 99.0, "held-out recipient agreement {:.2}%", halves[1].rcpt.pct());
    assert!(halves[1].reason.pct() >= 80.0, "held-out reason agreement {:.2}%", halves[1].reason.pct());
    assert!(read_halves[1].dead.pct() >= 95.0, "held-out dead address {:.2}%", read_halves[1].dead.pct());
    assert!(kind.pct() >= 99.5, "kind agreement {:.2}%", kind.pct()); // 212/213
    assert!(kind_raw.pct() >= 93.5, "raw kind agreement {:.2}%", kind_raw.pct()); // 200/213
    assert!(all.rcpt.pct() >= 99.0, "recipient agreement {:.2}%", all.rcpt.pct()); // 201/203
    assert!(hand_reason.pct() >= 99.9, "reason of the rows checked by hand {:.2}%", hand_reason.pct()); // 12/12
    assert!(complaint_rcpt.pct() >= 99.9, "complaint recipient agreement {:.2}%", complaint_rcpt.pct()); // 6/6
    assert!(status_real.pct() >= 98.5, "status agreement (real codes) {:.2}%", status_real.pct()); // 151/153
    assert!(status.pct() >= 73.0, "status agreement {:.2}%", status.pct()); // 151/206
}
