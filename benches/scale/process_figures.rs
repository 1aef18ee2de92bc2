//! Figures of whole processes: one run of the real binary (a CLI command),
//! and the daemon's peak memory over its first tick.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::workdir::Workdir;

/// Output of one run of the real binary.
pub struct Run {
    pub seconds: f64,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub ok: bool,
}

/// Runs `bin --config CONFIG ARGS...`; stdout to /dev/null unless `capture`
/// (as a user would run a listing into a file or a pipe that reads it all).
pub fn run_cli(bin: &Path, config: &Path, args: &[&str], capture: bool) -> Run {
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(config).args(args).env("CADENCED_LOG", "warn").stdin(Stdio::null());
    cmd.stdout(if capture { Stdio::piped() } else { Stdio::null() }).stderr(Stdio::piped());
    let started = Instant::now();
    let out = cmd.output().expect("run cadenced");
    Run {
        seconds: started.elapsed().as_secs_f64(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

/// Runs `cadenced run` on `work` until its first tick is done, then SIGTERM.
/// Returns (peak resident set in KiB (VmHWM), seconds to the end of the first
/// tick, the tick's log line).
pub fn daemon_peak(bin: &Path, work: &Workdir) -> (u64, f64, String) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(work.config())
        .arg("run")
        .env("CADENCED_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cadenced run");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut done = String::new();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if line.contains("tick done") || line.contains("tick failed") {
            done = line;
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    // Drain the rest so the daemon never blocks on a full pipe while stopping.
    for _ in lines {}
    let _ = child.wait();
    (hwm, seconds, done)
}
