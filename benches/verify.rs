//! `cargo bench --bench verify`: the lead preflight's cost (issue 23). The
//! real binary imports a 100 k-row CSV over 10 k domains into a new database,
//! with and without `--verify`, against unbound on loopback serving those
//! domains (the tests' DNS server, `tests/support/dns.rs`). Target: the
//! import with `--verify` takes at most 2× the one without.
//!
//! The domains are a business list's mix: 45% on one large provider's mail
//! hosts, 25% on another's, 25% with a mail host of their own, 2% without
//! MX but with an A record, and 3% dead (2% that do not exist, 1% null MX),
//! whose rows are refused and suppressed. Runs alternate with and without,
//! on a fresh database each; the figures are medians.
//!
//! `VERIFY_RUNS=N` (default 5). `cargo test` runs this target without
//! `--bench`: it then does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

#[allow(dead_code)]
#[path = "../tests/support/dns.rs"]
mod dns;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_cadenced");
const ROWS: usize = 100_000;
const DOMAINS: usize = 10_000;
const AT: &str = "2026-03-02T08:00:00Z";
const CADENCE: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\n\
                       subject = \"Hello {{ first_name }}\"\nbody = \"About {{ company }}\"\n";

/// What domain `d` is, as a share of the list (see the module's story).
enum Kind {
    ProviderA,
    ProviderB,
    OwnHost,
    AOnly,
    NxDomain,
    NullMx,
}

fn kind(d: usize) -> Kind {
    match (d * 7919) % 100 {
        0..45 => Kind::ProviderA,
        45..70 => Kind::ProviderB,
        70..95 => Kind::OwnHost,
        95..97 => Kind::AOnly,
        97..99 => Kind::NxDomain,
        _ => Kind::NullMx,
    }
}

fn domain(d: usize) -> String {
    format!("d{d:05}.bench.test")
}

/// unbound `local-data` for every domain that exists.
fn records() -> Vec<String> {
    let mut r = vec![
        "mx1.provider-a.test. 300 IN A 192.0.2.10".to_string(),
        "mx2.provider-a.test. 300 IN A 192.0.2.11".to_string(),
        "mail.provider-b.test. 300 IN A 192.0.2.20".to_string(),
        "mail.provider-b.test. 300 IN AAAA 2001:db8::20".to_string(),
    ];
    for d in 0..DOMAINS {
        let name = domain(d);
        match kind(d) {
            Kind::ProviderA => {
                r.push(format!("{name}. 300 IN MX 1 mx1.provider-a.test."));
                r.push(format!("{name}. 300 IN MX 5 mx2.provider-a.test."));
            }
            Kind::ProviderB => r.push(format!("{name}. 300 IN MX 0 mail.provider-b.test.")),
            Kind::OwnHost => {
                r.push(format!("{name}. 300 IN MX 10 mx.{name}."));
                r.push(format!("mx.{name}. 300 IN A 198.51.100.{}", d % 250 + 1));
            }
            Kind::AOnly => r.push(format!("{name}. 300 IN A 203.0.113.{}", d % 250 + 1)),
            Kind::NxDomain => {}
            Kind::NullMx => r.push(format!("{name}. 300 IN MX 0 .")),
        }
    }
    r
}

/// Rows refused: those at a dead domain.
fn dead_rows() -> usize {
    (0..ROWS).filter(|i| matches!(kind(i % DOMAINS), Kind::NxDomain | Kind::NullMx)).count()
}

fn write_csv(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "email,first_name,company").unwrap();
    for i in 0..ROWS {
        writeln!(out, "lead{i:06}@{},Jane{},Company {}", domain(i % DOMAINS), i % 97, i % DOMAINS).unwrap();
    }
    out.flush().unwrap();
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// One import into a fresh database: seconds and stdout.
fn import(dir: &Path, csv: &Path, verify: bool) -> (f64, String) {
    for suffix in ["", "-wal", "-shm", ".lock", "-sends", "-sendmark"] {
        let _ = std::fs::remove_file(dir.join(format!("cadenced.db{suffix}")));
    }
    let mut args = vec!["import", csv.to_str().unwrap(), "--cadence", "intro", "--at", AT];
    if verify {
        args.push("--verify");
    }
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(&args)
        .env("CADENCED_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "import {args:?} failed");
    (seconds, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("verify: a benchmark; run it with `cargo bench --bench verify` (skipped under cargo test)");
        return;
    }
    let runs: usize = std::env::var("VERIFY_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let records = records();
    let refs: Vec<&str> = records.iter().map(String::as_str).collect();
    let started = Instant::now();
    let server = dns::DnsServer::start(&refs);
    eprintln!("[verify] unbound serving {} records started in {:.2} s", records.len(), started.elapsed().as_secs_f64());
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::create_dir(dir.join("cadences")).unwrap();
    std::fs::write(dir.join("cadences/intro.toml"), CADENCE).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "{}database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"UTC\"\n\n\
             [mailboxes.sales]\nfrom = \"Ada <ada@seller.test>\"\noutbox = \"outbox\"\n",
            server.config_line()
        ),
    )
    .unwrap();
    let csv = dir.join("leads.csv");
    write_csv(&csv);
    let dead = dead_rows();
    let (mut plain, mut verified) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (seconds, out) = import(dir, &csv, false);
        assert!(out.contains(&format!("{ROWS} enrolled")), "run {run}: {out}");
        plain.push(seconds);
        let (seconds, out) = import(dir, &csv, true);
        let want = format!("{} enrolled in intro", ROWS - dead);
        assert!(out.contains(&want) && out.contains(&format!("{dead} refused")), "run {run}: {out}");
        verified.push(seconds);
        eprintln!("[verify] run {run}: import {:.3} s, import --verify {seconds:.3} s", plain[run]);
    }
    let (p, v) = (median(&plain), median(&verified));
    let ratio = v / p;
    println!("| figure | value | reference | ratio | bar | verdict |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| `import --verify` of {} k rows over {} k domains ({dead} rows refused) | {:.0} ms | `import` of the same file without `--verify`: {:.0} ms | {ratio:.2}× | ≤ 2× | {} |",
        ROWS / 1000,
        DOMAINS / 1000,
        v * 1000.0,
        p * 1000.0,
        if ratio <= 2.0 { "met" } else { "**MISSED**" }
    );
    println!("(median of {runs} runs each, alternating; unbound on loopback, {} records)", records.len());
}
