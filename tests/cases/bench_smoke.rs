//! The scale benchmark (`cargo bench --bench scale`) at a tiny size: the same
//! code builds a database of a thousand leads, a hundred of them due, and the
//! checks are about correctness only (no timing): the tick handles exactly the
//! due steps, the commands the benchmark times answer about the right leads.

#[allow(dead_code)]
#[path = "../../benches/scale/core.rs"]
mod scale_core;

use std::path::Path;

use scale_core::library_figures::{due_messages, forecast_read_only, lettre_loop, library_tick, sink_capacity};
use scale_core::population::{Population, build_db, default_t0, email_of, is_due, write_csv};
use scale_core::process_figures::{Run, daemon_peak, run_cli};
use scale_core::smtp::SmtpServer;
use scale_core::workdir::Workdir;

use crate::support::BIN;
use crate::support::db::Db;

const POP: Population = Population { leads: 1000, due: 100 };

fn stdout(run: &Run) -> String {
    assert!(run.ok, "cadenced failed: {}", run.stderr);
    String::from_utf8_lossy(&run.stdout).into_owned()
}

#[test]
fn the_scale_benchmark_at_a_thousand_leads() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpServer::sink(true);
    let t0 = default_t0();
    let master = dir.path().join("master.db");
    let built = build_db(&master, POP, t0);
    assert_eq!(built.leads, 1000);
    assert_eq!(built.due, 100);
    assert_eq!(built.enrollments, 1100, "one enrollment a lead, plus the due ones");
    assert!(built.touchpoints > 500, "history: {}", built.touchpoints);

    let work = Workdir::new(&dir.path().join("work"), sink.port());
    work.load_db(&master);
    let bin = Path::new(BIN);
    let config = work.config();
    assert!(stdout(&run_cli(bin, &config, &["check"], true)).contains("seven-touch"));

    // The commands the benchmark times name the leads they are about.
    let probe = email_of(POP.leads / 2 + 1);
    let status = stdout(&run_cli(bin, &config, &["status", &probe], true));
    assert!(status.contains(&probe), "{status}");
    let due_lead = email_of(10);
    assert!(is_due(POP, 10));
    let status = stdout(&run_cli(bin, &config, &["status", &due_lead, "--json"], true));
    let json: serde_json::Value = serde_json::from_str(&status).unwrap();
    let followup = json["enrollments"].as_array().unwrap().iter().find(|e| e["cadence"] == "followup").unwrap();
    assert_eq!(followup["state"], "active");
    assert!(followup["next_due_at"].as_str().unwrap() < cadenced::time::rfc3339(t0).as_str());
    let leads =
        stdout(&run_cli(bin, &config, &["leads", "--cadence", "followup", "--state", "active", "--json"], true));
    let leads: serde_json::Value = serde_json::from_str(&leads).unwrap();
    let due_listed = leads["leads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["next_due_at"].as_str().is_some_and(|d| d <= cadenced::time::rfc3339(t0).as_str()))
        .count();
    assert_eq!(due_listed, POP.due);
    let at = cadenced::time::rfc3339(t0);
    let forecast = stdout(&run_cli(bin, &config, &["forecast", "--days", "30", "--at", &at, "--json"], true));
    let forecast: serde_json::Value = serde_json::from_str(&forecast).unwrap();
    let sends: u64 =
        forecast["mailboxes"][0]["days"].as_array().unwrap().iter().map(|d| d["sends"].as_u64().unwrap()).sum();
    assert!(sends >= POP.due as u64, "forecast: {sends} sends");
    let (reads, rows) = forecast_read_only(&work.db());
    assert!(reads > 0.0 && rows > 0);

    // The tick handles exactly the due steps, and all of them reach the sink.
    let tick = library_tick(&work, &sink, t0);
    assert_eq!(tick.report.sent, POP.due, "{:?}", tick.report);
    assert_eq!(tick.report.opened + tick.report.failed + tick.report.retrying + tick.report.postponed, 0);
    assert_eq!(tick.received, POP.due as u64);
    let again = library_tick(&work, &sink, t0);
    assert!(again.report.is_empty(), "nothing else is due at t0: {:?}", again.report);
    assert_eq!(Db::open(&work.db()).touchpoints_with_status_at("sent", t0), POP.due);

    // The lettre reference sends the same messages; the sink keeps up with a pipelining client.
    let messages = due_messages(&work, POP);
    assert_eq!(messages.len(), POP.due);
    let before = sink.count();
    assert!(lettre_loop(sink.port(), &messages) > 0.0);
    assert_eq!(sink.count() - before, POP.due as u64);
    assert!(sink_capacity(sink.port(), &messages[0].formatted(), 1000) > 0.0);

    // Import of a small CSV, into a new database.
    let csv = dir.path().join("import.csv");
    write_csv(&csv, 100);
    let import = Workdir::new(&dir.path().join("import"), sink.port());
    let csv_arg = csv.to_string_lossy().into_owned();
    let out =
        stdout(&run_cli(bin, &import.config(), &["import", &csv_arg, "--cadence", "seven-touch", "--at", &at], true));
    assert!(out.contains("100 enrolled"), "{out}");

    // The daemon's first tick on a fresh copy sends the due steps, and its peak memory is read.
    work.load_db(&master);
    let before = sink.count();
    let (hwm_kib, _, line) = daemon_peak(bin, &work);
    assert!(line.contains("tick done"), "{line}");
    assert!(hwm_kib > 0);
    assert_eq!(sink.count() - before, POP.due as u64);
}
