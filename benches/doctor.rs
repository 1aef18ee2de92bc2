//! `cargo bench --bench doctor`: `cadenced doctor` (the real binary, a new
//! process each run, so nothing is cached between runs) over a config of six
//! mailboxes on five domains, against unbound on loopback serving the test
//! zones of `tests/support/dns.rs`. Target: under 2 s.
//!
//! The mailboxes: a domain with everything right, sending through its own
//! server (SPF evaluated for its address); the same domain through Google
//! (the include, the `google` selector); a 1024-bit key; SPF at 12 lookups
//! through an include; no DMARC; one whose unsubscribe address is on
//! another domain. Prints the first run, the median and the slowest of
//! `DOCTOR_RUNS` runs (default 15). `cargo test` runs this target without
//! `--bench`: it then does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

#[allow(dead_code)]
#[path = "../tests/support/dns.rs"]
mod dns;

use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_cadenced");

fn mailbox(name: &str, domain: &str, smtp: &str, extra: &str) -> String {
    format!(
        "[mailboxes.{name}]\nfrom = \"Ada <ada@{domain}>\"\nsmtp = \"smtp+starttls://{smtp}:587\"\ndaily_limit = 30\n{extra}"
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("DOCTOR_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(15);
    let server = dns::DnsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = format!(
        "database = \"cadenced.db\"\n{}\n[http]\npublic_url = \"https://go.example.com\"\n\n",
        server.config_line()
    );
    config.push_str(&mailbox("good", "good.test", "mx.good.test", "dkim_selectors = [\"s1\"]\n"));
    config.push_str(&mailbox("google", "good.test", "smtp.gmail.com", ""));
    config.push_str(&mailbox("small_key", "dkim1024.test", "mx.dkim1024.test", "dkim_selectors = [\"s1\"]\n"));
    config.push_str(&mailbox("deep_spf", "spf-deep.test", "mx.spf-deep.test", "dkim_selectors = [\"s1\"]\n"));
    config.push_str(&mailbox("no_dmarc", "nodmarc.test", "mx.nodmarc.test", ""));
    config.push_str(&mailbox(
        "unsub",
        "good.test",
        "mx.good.test",
        "dkim_selectors = [\"s1\"]\nunsubscribe_address = \"unsub@nodkim.test\"\n",
    ));
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let out = Command::new(BIN).arg("-c").arg(&path).args(["doctor", "--json"]).output().unwrap();
        times.push(started.elapsed().as_secs_f64());
        // Errors are expected (the broken domains): the document must be there.
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(report["mailboxes"].as_array().unwrap().len(), 6);
        assert!(report["summary"]["warning"].as_u64().unwrap() > 0);
    }
    let first = times[0];
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let slowest = sorted[sorted.len() - 1];
    println!("doctor, 6 mailboxes on 5 domains, {runs} runs against unbound on loopback:");
    println!(
        "  first run {:.0} ms, median {:.0} ms, slowest {:.0} ms (target: under 2000 ms)",
        first * 1e3,
        median * 1e3,
        slowest * 1e3
    );
    assert!(slowest < 2.0, "doctor took {slowest:.2} s, over the 2 s target");
}
