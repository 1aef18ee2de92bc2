//! `cargo bench --bench scale`: cadenced at 10 k, 100 k and 1 M leads on this
//! machine, each figure against its reference, measured in the same run. It
//! prints the table and writes it, with the machine and the commit, between
//! the markers of BENCHMARKS.md (the prose around them is left alone).
//!
//! Environment: `SCALE_SIZES=10000,100000` (other sizes; BENCHMARKS.md is then
//! left alone), `SCALE_RUNS=N` (runs of the slow figures, default 3), `SCALE_KEEP=DIR`
//! (keep the built databases and work folders there, to profile them), `SCALE_ONLY=cli,web,tick,daemon,send,import,preview`
//! (only those groups; `send` needs `tick`).
//! `cargo test` runs this target without `--bench`: it then does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

#[path = "scale/report.rs"]
mod report;
#[path = "scale/core.rs"]
mod scale_core;
#[path = "scale/web.rs"]
mod web;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use scale_core::library_figures::{due_messages, forecast_read_only, lettre_loop, library_tick, sink_capacity};
use scale_core::median;
use scale_core::population::{Population, build_db, default_t0, email_of, write_csv};
use scale_core::process_figures::{daemon_peak, run_cli};
use scale_core::smtp::SmtpServer;
use scale_core::workdir::Workdir;

use report::{Bar, Conditions, Row, Unit, markdown, section, size_name, write_section};

const DUE: usize = 10_000;
const IMPORT_ROWS: usize = 100_000;
const CLI_RUNS: usize = 7;
/// Sends of the figure against a server with delayed ACKs (each costs ~40 ms).
const NAGLE_DUE: usize = 50;

fn say(text: &str) {
    eprintln!("[scale] {text}");
}

/// Runs `cadenced --config CONFIG ARGS...` `times` times (stdout to /dev/null); the wall times.
fn time_cli(bin: &Path, config: &Path, args: &[&str], times: usize) -> Vec<f64> {
    (0..times)
        .map(|_| {
            let r = run_cli(bin, config, args, false);
            assert!(r.ok, "cadenced {args:?} failed: {}", r.stderr);
            r.seconds
        })
        .collect()
}

/// Lines a command prints (its stdout captured once).
fn lines_of(bin: &Path, config: &Path, args: &[&str]) -> usize {
    let r = run_cli(bin, config, args, true);
    assert!(r.ok, "cadenced {args:?} failed: {}", r.stderr);
    r.stdout.iter().filter(|b| **b == b'\n').count()
}

fn bar_50ms(figure: String, size: usize, times: &[f64]) -> Row {
    bar_ms(figure, size, times, 50)
}

fn bar_ms(figure: String, size: usize, times: &[f64], ms: u32) -> Row {
    Row {
        figure,
        size: size_name(size),
        value: median(times),
        runs: times.len(),
        unit: Unit::Seconds,
        reference: format!("bar: {ms} ms"),
        ref_value: Some(f64::from(ms) / 1000.0),
        bar: Bar::AtMost(1.0),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale: a benchmark; run it with `cargo bench --bench scale` (skipped under cargo test)");
        return;
    }
    let started = Instant::now();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_cadenced"));
    assert!(bin.exists(), "{} is missing: cargo bench builds it", bin.display());
    let custom_sizes = std::env::var("SCALE_SIZES").ok();
    let sizes: Vec<usize> = custom_sizes
        .as_deref()
        .unwrap_or("10000,100000,1000000")
        .split(',')
        .map(|s| s.trim().replace('_', "").parse().expect("SCALE_SIZES: numbers"))
        .collect();
    let runs: usize = std::env::var("SCALE_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let only = std::env::var("SCALE_ONLY").ok();
    let want = |group: &str| only.as_deref().is_none_or(|o| o.split(',').any(|g| g.trim() == group));
    let partial = custom_sizes.is_some() || only.is_some();
    let target_dir = bin.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    // SCALE_KEEP=DIR keeps the master databases there (for profiling), instead of a scratch folder.
    let keep = std::env::var_os("SCALE_KEEP").map(PathBuf::from);
    let scratch = tempfile::Builder::new().prefix("scale-").tempdir_in(&target_dir).expect("scratch dir");
    let root = keep.as_deref().unwrap_or(scratch.path());
    std::fs::create_dir_all(root).expect("SCALE_KEEP folder");
    let sqlite3 = !want("import") || sqlite3_tool();
    if !sqlite3 {
        say("sqlite3 is NOT installed: the import reference is skipped (apt-get install -y sqlite3)");
    }
    // This is a latency benchmark: keep idle CPUs polling rather than halted, so that a wakeup (an
    // SMTP reply, an fsync completion) does not pay a VM's or a deep C-state's exit latency, which
    // otherwise dominates every round trip and makes the figures depend on how busy the machine is.
    // Held while the file is open (needs root; without it the run says so in BENCHMARKS.md).
    let dma_latency = low_latency();
    say(if dma_latency.is_some() {
        "CPU idle states held to polling (/dev/cpu_dma_latency = 0) during the run"
    } else {
        "cannot write /dev/cpu_dma_latency (not root?): idle-state wakeup latency is part of every figure"
    });
    let sink = SmtpServer::sink(true);
    let t0 = default_t0();
    let at = cadenced::time::rfc3339(t0);
    say(&format!("t0 = {at}, sizes {sizes:?}, {runs} runs, scratch {}", root.display()));

    let mut rows: Vec<Row> = Vec::new();
    let mut tick_medians: Vec<(usize, f64)> = Vec::new();
    let mut peaks: Vec<(usize, f64)> = Vec::new();
    let mut build_notes = Vec::new();
    let smallest = sizes.iter().copied().min().unwrap_or(DUE);
    let largest = sizes.iter().copied().max().unwrap_or(DUE);

    for &n in &sizes {
        let pop = Population { leads: n, due: DUE.min(n) };
        let master = root.join(format!("master-{n}.db"));
        let built = build_db(&master, pop, t0);
        // Replies, bounces, unsubscribes and auto-replies, as the inbox watcher records them.
        let responses = web::add_responses(&master);
        let note = format!(
            "{} leads: {} enrollments, {} touchpoints, {} inbound messages, {} due at t0, {:.0} MiB, built in {:.1} s",
            size_name(built.leads),
            built.enrollments,
            built.touchpoints,
            responses.inbound,
            built.due,
            std::fs::metadata(&master).map_or(0, |m| m.len()) as f64 / 1048576.0,
            built.seconds + responses.seconds
        );
        say(&note);
        build_notes.push(note);
        let work = Workdir::new(&root.join(format!("work-{n}")), sink.port());
        work.load_db(&master);
        let config = work.config();

        if want("cli") {
            // Read-only commands, on a fresh copy.
            let probe = email_of(n / 2 + 1);
            let check = run_cli(&bin, &config, &["status", &probe], true);
            assert!(check.ok && String::from_utf8_lossy(&check.stdout).contains(&probe), "status: {}", check.stderr);
            rows.push(bar_50ms("`status EMAIL`".into(), n, &time_cli(&bin, &config, &["status", &probe], CLI_RUNS)));
            let owner = ["leads", "--owner", "rep7@seller.test", "--state", "paused"];
            let count = lines_of(&bin, &config, &owner).saturating_sub(2);
            rows.push(bar_50ms(
                format!("`leads --owner rep7@seller.test --state paused` ({count} rows)"),
                n,
                &time_cli(&bin, &config, &owner, CLI_RUNS),
            ));
            let paused = ["leads", "--cadence", "seven-touch", "--state", "paused"];
            let count = lines_of(&bin, &config, &paused).saturating_sub(2);
            rows.push(bar_50ms(
                format!("`leads --cadence seven-touch --state paused` ({count} rows)"),
                n,
                &time_cli(&bin, &config, &paused, CLI_RUNS),
            ));
            if n == largest {
                let active = ["leads", "--cadence", "seven-touch", "--state", "active"];
                let count = lines_of(&bin, &config, &active).saturating_sub(2);
                rows.push(bar_50ms(
                    format!("`leads --cadence seven-touch --state active` ({count} rows)"),
                    n,
                    &time_cli(&bin, &config, &active, runs),
                ));
                let forecast = ["forecast", "--days", "30", "--at", at.as_str()];
                let times = time_cli(&bin, &config, &forecast, runs);
                let reads = [forecast_read_only(&work.db()).0];
                rows.push(Row {
                    figure: "`forecast --days 30`".into(),
                    size: size_name(n),
                    value: median(&times),
                    runs,
                    unit: Unit::Seconds,
                    reference: "its SQL query alone, streamed in-process".into(),
                    ref_value: Some(median(&reads)),
                    bar: Bar::None,
                });
            }
        }

        if want("web") {
            // The report as a whole process, then the daemon's pages over a socket, on a fresh copy.
            work.load_db(&master);
            for args in [&["report"][..], &["report", "--json"][..]] {
                let times = time_cli(&bin, &config, args, CLI_RUNS);
                rows.push(bar_ms(format!("`{}` (whole process)", args.join(" ")), n, &times, 200));
            }
            let daemon = web::Daemon::start(&bin, &work);
            let month = (t0 - chrono::Duration::days(29)).format("%Y-%m-%d").to_string();
            // The dashboard measured is the whole of it: the variants' bars and the holdout's lift too.
            let (_, _, home) = daemon.get("/");
            assert!(
                home.contains("<svg class=\"variants\"") && home.contains("<svg class=\"lift\""),
                "the dashboard shows no variants or lift:\n{home}"
            );
            for (figure, path) in web::pages(n, &month) {
                let times = daemon.time(&path, CLI_RUNS);
                rows.push(bar_ms(format!("{figure} (daemon, over a socket)"), n, &times, 100));
            }
            drop(daemon);
        }

        if want("tick") {
            // The tick through the library, on a fresh copy each run.
            let mut ticks = Vec::new();
            let mut checkpoints = Vec::new();
            // The 1.5x bar compares the largest size with the smallest: those get every run.
            let tick_runs = if n == smallest || n == largest { runs } else { 1 };
            for run in 0..tick_runs {
                work.load_db(&master);
                let tick = library_tick(&work, &sink, t0);
                assert_eq!(tick.report.sent, pop.due, "run {run}: {:?}", tick.report);
                assert_eq!(tick.received, pop.due as u64, "the sink got another number of messages");
                say(&format!(
                    "{} leads: tick {} sent in {:.2} s, then checkpoint {:.2} s",
                    size_name(n),
                    tick.report.sent,
                    tick.seconds,
                    tick.checkpoint
                ));
                ticks.push(tick.seconds);
                checkpoints.push(tick.checkpoint);
            }
            let tick = median(&ticks);
            tick_medians.push((n, tick));
            let reference = tick_medians.first().copied().filter(|(m, _)| *m != n);
            rows.push(Row {
                figure: format!("tick, {} email steps due (library, SMTP sink)", size_name(pop.due)),
                size: size_name(n),
                value: tick,
                runs: tick_runs,
                unit: Unit::Seconds,
                reference: reference.map_or_else(
                    || "(the reference of the rows below)".into(),
                    |(m, _)| format!("same tick at {}", size_name(m)),
                ),
                ref_value: reference.map(|(_, v)| v),
                bar: if reference.is_some() { Bar::AtMost(1.5) } else { Bar::None },
            });
            rows.push(Row {
                figure: "checkpoint after that tick (the daemon's, between ticks)".into(),
                size: size_name(n),
                value: median(&checkpoints),
                runs: tick_runs,
                unit: Unit::Seconds,
                reference: "the tick".into(),
                ref_value: Some(tick),
                bar: Bar::None,
            });
            if (n == smallest || n == largest) && Path::new("/dev/shm").is_dir() {
                // The same tick with the database on tmpfs: what the fsyncs cost.
                let shm = tempfile::Builder::new().prefix("scale-").tempdir_in("/dev/shm").expect("tmpfs dir");
                let fast = Workdir::new(shm.path(), sink.port());
                let mut shm_ticks = Vec::new();
                // Informational: one run at the largest size keeps the whole command under ten minutes.
                let shm_runs = if n == smallest { runs } else { 1 };
                for _ in 0..shm_runs {
                    fast.load_db(&master);
                    let t = library_tick(&fast, &sink, t0);
                    assert_eq!(t.report.sent, pop.due);
                    shm_ticks.push(t.seconds);
                }
                fast.remove_db();
                rows.push(Row {
                    figure: format!("tick, {} due, database on tmpfs (fsync free)", size_name(pop.due)),
                    size: size_name(n),
                    value: median(&shm_ticks),
                    runs: shm_runs,
                    unit: Unit::Seconds,
                    reference: "same tick on disk".into(),
                    ref_value: Some(tick),
                    bar: Bar::None,
                });
            }
        }

        if want("daemon") {
            // The daemon's peak memory over its first tick.
            work.load_db(&master);
            let (hwm_kib, secs, line) = daemon_peak(&bin, &work);
            assert!(line.contains("tick done"), "daemon: {line}");
            say(&format!("{} leads: daemon tick done after {secs:.1} s, VmHWM {hwm_kib} KiB", size_name(n)));
            let mib = hwm_kib as f64 / 1024.0;
            peaks.push((n, mib));
            rows.push(Row {
                figure: format!("daemon peak RSS (VmHWM), `run`, first tick ({} sends)", size_name(pop.due)),
                size: size_name(n),
                value: mib,
                runs: 1,
                unit: Unit::Mib,
                reference: "bar: 100 MiB".into(),
                ref_value: Some(100.0),
                bar: Bar::AtMost(1.0),
            });
        }
        work.remove_db();
        if keep.is_none() {
            let _ = std::fs::remove_file(&master);
        }
    }
    if let (Some(&(a, low)), Some(&(b, high))) = (peaks.first(), peaks.last())
        && a != b
    {
        rows.push(Row {
            figure: "daemon peak RSS growth".into(),
            size: format!("{} → {}", size_name(a), size_name(b)),
            value: high,
            runs: 1,
            unit: Unit::Mib,
            reference: format!("peak at {}", size_name(a)),
            ref_value: Some(low),
            bar: Bar::None,
        });
    }

    if want("send") {
        send_figures(&mut rows, &sink, root, runs, t0, tick_medians.first().copied());
    }

    if want("import") {
        // Import of a 100 k-row CSV against sqlite3's .import of the same file.
        let csv = root.join("import.csv");
        write_csv(&csv, IMPORT_ROWS);
        let work = Workdir::new(&root.join("import"), sink.port());
        let csv_arg = csv.to_string_lossy().into_owned();
        let import_args = ["import", csv_arg.as_str(), "--cadence", "seven-touch", "--at", at.as_str()];
        let mut imports = Vec::new();
        for run in 0..runs {
            work.remove_db();
            let r = run_cli(&bin, &work.config(), &import_args, true);
            let out = String::from_utf8_lossy(&r.stdout);
            assert!(r.ok && out.contains(&format!("{IMPORT_ROWS} enrolled")), "import run {run}: {out} {}", r.stderr);
            imports.push(r.seconds);
        }
        work.remove_db();
        let reference = sqlite3.then(|| {
            let db = root.join("bare.db");
            let times: Vec<f64> = (0..runs)
                .map(|_| {
                    let _ = std::fs::remove_file(&db);
                    let t = Instant::now();
                    let ok = Command::new("sqlite3")
                        .arg(&db)
                        .arg(".mode csv")
                        .arg(format!(".import {} leads", csv.display()))
                        .status()
                        .is_ok_and(|s| s.success());
                    assert!(ok, "sqlite3 .import failed");
                    t.elapsed().as_secs_f64()
                })
                .collect();
            let _ = std::fs::remove_file(&db);
            median(&times)
        });
        rows.push(Row {
            figure: "`import` of a 100 k-row CSV into a new database".into(),
            size: "100 k rows".into(),
            value: median(&imports),
            runs,
            unit: Unit::Seconds,
            reference: if sqlite3 {
                "`sqlite3` `.import` of the file into a bare table".into()
            } else {
                "sqlite3 NOT INSTALLED".into()
            },
            ref_value: reference,
            bar: Bar::AtMost(5.0),
        });
    }

    if want("preview") {
        // preview, against the floor of starting the process at all.
        let work = Workdir::new(&root.join("preview"), sink.port());
        let args = ["preview", "seven-touch", "--start", at.as_str(), "--tz", "America/New_York"];
        let preview = time_cli(&bin, &work.config(), &args, CLI_RUNS);
        let floor: Vec<f64> = (0..CLI_RUNS)
            .map(|_| {
                let t = Instant::now();
                let ok = Command::new(&bin).arg("--version").output().is_ok_and(|o| o.status.success());
                assert!(ok, "cadenced --version");
                t.elapsed().as_secs_f64()
            })
            .collect();
        rows.push(Row {
            figure: "`preview seven-touch`".into(),
            size: "—".into(),
            value: median(&preview),
            runs: CLI_RUNS,
            unit: Unit::Seconds,
            reference: "`cadenced --version` (process start)".into(),
            ref_value: Some(median(&floor)),
            bar: Bar::None,
        });
    }

    let elapsed = started.elapsed().as_secs_f64();
    let table = markdown(&rows);
    println!("\n{table}");
    println!("bench run: {elapsed:.0} s (build not included)");
    drop(sink);
    if partial {
        say("SCALE_SIZES or SCALE_ONLY set: BENCHMARKS.md left alone");
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let conditions = Conditions { runs, cli_runs: CLI_RUNS, elapsed, polling: dma_latency.is_some() };
    let section = section(&table, &build_notes, &conditions, manifest, root);
    drop(dma_latency);
    write_section(&manifest.join("BENCHMARKS.md"), &section);
    say("BENCHMARKS.md updated");
}

/// Send throughput (the smallest size's tick against a plain lettre loop),
/// the sink's own capacity, and what an ordinary server's delayed ACK costs.
fn send_figures(
    rows: &mut Vec<Row>,
    sink: &SmtpServer,
    root: &Path,
    runs: usize,
    t0: chrono::DateTime<chrono::Utc>,
    first_tick: Option<(usize, f64)>,
) {
    let Some((n, tick)) = first_tick else {
        say("send figures need the tick figures (SCALE_ONLY=tick,send)");
        return;
    };
    let pop = Population { leads: n, due: DUE.min(n) };
    let work = Workdir::new(&root.join("lettre"), sink.port());
    let messages = due_messages(&work, pop);
    let lettre: Vec<f64> = (0..runs)
        .map(|_| {
            let rate = lettre_loop(sink.port(), &messages);
            say(&format!("lettre loop: {rate:.0} msg/s"));
            rate
        })
        .collect();
    let lettre = median(&lettre);
    rows.push(Row {
        figure: "send throughput: the tick above, end to end, 1 connection".into(),
        size: size_name(n),
        value: pop.due as f64 / tick,
        runs,
        unit: Unit::PerSecond,
        reference: "plain lettre `SmtpConnection::send` loop, same messages, 1 connection".into(),
        ref_value: Some(lettre),
        bar: Bar::AtLeast(0.8),
    });
    let sample = messages.first().map(lettre::Message::formatted).unwrap_or_default();
    let capacity = sink_capacity(sink.port(), &sample, 100_000);
    rows.push(Row {
        figure: "the SMTP sink's own capacity (pipelining client, 1 connection)".into(),
        size: "100 k msgs".into(),
        value: capacity,
        runs: 1,
        unit: Unit::PerSecond,
        reference: "the lettre loop above".into(),
        ref_value: Some(lettre),
        bar: Bar::AtLeast(5.0),
    });
    // The same against a server whose TCP stack delays its ACKs, as real servers' do.
    let plain = SmtpServer::sink(false);
    let small = Population { leads: 1000, due: NAGLE_DUE };
    let master = root.join("master-nagle.db");
    build_db(&master, small, t0);
    let nagle = Workdir::new(&root.join("nagle"), plain.port());
    nagle.load_db(&master);
    let tick = library_tick(&nagle, &plain, t0);
    assert_eq!(tick.report.sent, NAGLE_DUE);
    let messages = due_messages(&nagle, small);
    let lettre_plain = lettre_loop(plain.port(), &messages);
    nagle.remove_db();
    let _ = std::fs::remove_file(&master);
    rows.push(Row {
        figure: format!("tick of {NAGLE_DUE} sends, server with ordinary delayed ACKs"),
        size: "1 k".into(),
        value: NAGLE_DUE as f64 / tick.seconds,
        runs: 1,
        unit: Unit::PerSecond,
        reference: "plain lettre loop to that server".into(),
        ref_value: Some(lettre_plain),
        bar: Bar::None,
    });
}

/// Whether the `sqlite3` tool is there for the import reference; as root on
/// Debian, installs it when it is not (as `scripts/test.sh` does for Dovecot).
fn sqlite3_tool() -> bool {
    let present = || Command::new("sqlite3").arg("-version").output().is_ok_and(|o| o.status.success());
    if present() {
        return true;
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        return false;
    }
    say("sqlite3 is missing: apt-get install -y sqlite3 (the import reference)");
    let apt = |args: &[&str]| {
        Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().is_ok_and(|s| s.success())
    };
    apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "--no-install-recommends", "sqlite3"]) && present()
}

/// Asks the kernel for zero wakeup latency (the CPU idle governor polls) while the file stays open.
fn low_latency() -> Option<std::fs::File> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().write(true).open("/dev/cpu_dma_latency").ok()?;
    file.write_all(&0i32.to_le_bytes()).ok()?;
    Some(file)
}
