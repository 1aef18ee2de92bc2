//! `cargo bench --bench restore`: surviving the loss of the machine (issue
//! 21), measured with the real binary and real Litestream (0.5):
//!
//! * **reconcile 10 k**: 10,000 emails left through an outbox mailbox after a
//!   backup; the backup restored, `cadenced reconcile` finds and records them
//!   (target: 10 s).
//! * **replica lag**: the daemon sends a burst of emails (outbox) while
//!   Litestream replicates to a file replica; every 0.5 s the replica is
//!   restored and its count of sent emails compared with the time the local
//!   database reached it (target: 1 s at 100 emails/s).
//! * **1,000 ticks**: one email per tick (`cadenced tick --at`), Litestream
//!   replicating, with `checkpoints = "cadenced"` and `"litestream"`: the full
//!   snapshots Litestream took after its first (a checkpoint it did not make
//!   makes it snapshot the whole database again).
//!
//! Prints the figures; `RESTORE_ONLY=reconcile,lag,ticks` picks some,
//! `RESTORE_TICKS=N` changes the tick count. `cargo test` runs this target
//! without `--bench`: it then does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cadenced");
const ONE_EMAIL: &str =
    "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"b\"\n";

fn litestream() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("litestream")).find(|b| b.is_file()));
    on_path.unwrap_or_else(|| {
        let out = Command::new("python3")
            .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
            .output()
            .expect("python3");
        Path::new(String::from_utf8_lossy(&out.stdout).trim()).join("litestream")
    })
}

struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new(checkpoints: &str) -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cadences")).unwrap();
        std::fs::write(dir.path().join("cadences/one.toml"), ONE_EMAIL).unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            format!(
                "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"UTC\"\ntick_interval = \"1s\"\n\
                 checkpoints = \"{checkpoints}\"\n\n[mailboxes.sales]\nfrom = \"Ada <ada@seller.test>\"\noutbox = \"outbox\"\n"
            ),
        )
        .unwrap();
        Work { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(self.path("config.toml"))
            .args(args)
            .env("CADENCED_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "cadenced {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn import(&self, n: usize, at: &str) {
        let mut csv = String::from("email\n");
        for i in 0..n {
            csv.push_str(&format!("lead{i}@acme.test\n"));
        }
        std::fs::write(self.path("leads.csv"), csv).unwrap();
        self.cli(&["import", self.path("leads.csv").to_str().unwrap(), "--cadence", "one", "--at", at]);
    }

    fn litestream(&self, log: &str) -> Child {
        std::fs::write(
            self.path("litestream.yml"),
            format!(
                "dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n      sync-interval: 1s\n",
                self.path("cadenced.db").display(),
                self.path("replica").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.path(log)).unwrap();
        Command::new(litestream())
            .args(["replicate", "-log-level", "debug", "-config"])
            .arg(self.path("litestream.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn sent(&self, db: &Path) -> i64 {
        let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.query_row("SELECT count(*) FROM touchpoints WHERE status = 'sent'", [], |r| r.get(0)).unwrap()
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

fn wait_for_sync(log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(log).unwrap_or_default().contains("msg=sync") {
        assert!(Instant::now() < deadline, "litestream did not sync");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn reconcile_10k() {
    let w = Work::new("cadenced");
    w.import(10_000, "2026-03-02T09:00:00Z");
    w.cli(&["backup", w.path("backup.db").to_str().unwrap()]);
    let started = Instant::now();
    w.cli(&["tick", "--at", "2026-03-02T09:00:00Z"]);
    let send = started.elapsed().as_secs_f64();
    for suffix in ["", "-wal", "-shm", "-sends", "-sendmark"] {
        let _ = std::fs::remove_file(w.path(&format!("cadenced.db{suffix}")));
    }
    std::fs::copy(w.path("backup.db"), w.path("cadenced.db")).unwrap();
    let started = Instant::now();
    let out = w.cli(&["reconcile", "--json", "--at", "2026-03-02T10:00:00Z"]);
    let took = started.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let recorded = v["reconciled"][0]["recorded"].as_i64().unwrap_or_default();
    assert_eq!(recorded, 10_000, "{out}");
    println!(
        "reconcile 10 k (outbox, restored backup): {took:.2} s (target 10 s): {recorded} recorded; the 10 k sends took {send:.1} s"
    );
}

fn replica_lag() {
    const N: usize = 3000;
    let w = Work::new("auto");
    w.import(N, "2026-03-02T09:00:00Z");
    let ls = w.litestream("litestream.log");
    wait_for_sync(&w.path("litestream.log"));
    let log = std::fs::File::create(w.path("daemon.log")).unwrap();
    let daemon = Command::new(BIN)
        .arg("--config")
        .arg(w.path("config.toml"))
        .arg("run")
        .env("CADENCED_LOG", "warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let db = w.path("cadenced.db");
    let t0 = Instant::now();
    let mut local: Vec<(f64, i64)> = Vec::new();
    let mut lags = Vec::new();
    let mut last_restore = 0.0;
    let mut done_at = None;
    loop {
        let now = t0.elapsed().as_secs_f64();
        let count = w.sent(&db);
        local.push((now, count));
        if count as usize >= N && done_at.is_none() {
            done_at = Some(now);
        }
        if now - last_restore >= 0.5 {
            last_restore = now;
            let out = w.path("restored.db");
            let _ = std::fs::remove_file(&out);
            let ok = Command::new(litestream())
                .args(["restore", "-config"])
                .arg(w.path("litestream.yml"))
                .arg("-o")
                .arg(&out)
                .arg(&db)
                .output()
                .unwrap();
            if ok.status.success() {
                let replica = w.sent(&out);
                // How long the local database has had something the replica lacks.
                let lag = local.iter().find(|(_, c)| *c > replica).map_or(0.0, |(t, _)| now - t);
                if count > 0 && (done_at.is_none() || now - done_at.unwrap_or(now) < 1.0) {
                    lags.push(lag);
                }
            }
        }
        if done_at.is_some_and(|d| now - d > 3.0) {
            break;
        }
        assert!(now < 300.0, "the burst did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(daemon);
    stop(ls);
    let rate = N as f64 / done_at.unwrap_or(1.0);
    lags.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let max = lags.last().copied().unwrap_or_default();
    let median = lags.get(lags.len() / 2).copied().unwrap_or_default();
    println!(
        "replica lag while sending {N} emails at {rate:.0}/s (outbox, file replica, sync-interval 1s): \
         median {median:.2} s, max {max:.2} s over {} samples (target 1 s)",
        lags.len()
    );
}

fn ticks(mode: &str, n: usize) {
    let w = Work::new(mode);
    // Litestream first: its folder beside the database is there before the first tick.
    w.cli(&["check"]);
    w.import(1, "2026-03-02T09:00:00Z");
    let ls = w.litestream("litestream.log");
    wait_for_sync(&w.path("litestream.log"));
    let started = Instant::now();
    for i in 0..n {
        let at = chrono_like(i as i64);
        w.cli(&["enroll", &format!("t{i}@acme.test"), "--cadence", "one", "--at", &at]);
        w.cli(&["tick", "--at", &at]);
    }
    let took = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    stop(ls);
    let log = std::fs::read_to_string(w.path("litestream.log")).unwrap_or_default();
    let syncs = log.lines().filter(|l| l.contains("msg=sync") && l.contains("txid=")).count();
    let snaps: Vec<&str> =
        log.lines().filter(|l| l.contains("msg=sync") && l.contains("snap=true") && l.contains("reason=")).collect();
    let reasons: std::collections::BTreeSet<String> =
        snaps.iter().filter_map(|l| l.split("reason=").nth(1).map(|r| r.trim_matches('"').to_string())).collect();
    println!(
        "{n} ticks, checkpoints = \"{mode}\": {} full snapshots after the first ({reasons:?}), {syncs} syncs, {took:.0} s",
        snaps.len()
    );
}

/// 2026-03-02T09:00:00Z plus `minutes`, RFC 3339.
fn chrono_like(minutes: i64) -> String {
    let t = 1_772_442_000 + minutes * 60;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let only = std::env::var("RESTORE_ONLY").unwrap_or_else(|_| "reconcile,lag,ticks".into());
    let n: usize = std::env::var("RESTORE_TICKS").ok().and_then(|t| t.parse().ok()).unwrap_or(1000);
    if only.contains("reconcile") {
        reconcile_10k();
    }
    if only.contains("lag") {
        replica_lag();
    }
    if only.contains("ticks") {
        ticks("cadenced", n);
        ticks("litestream", n);
    }
}
