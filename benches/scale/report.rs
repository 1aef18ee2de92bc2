//! The figures' table and its place in BENCHMARKS.md: how a figure compares
//! with its reference, the markdown table, and the section between the
//! markers with the machine, the commit and the databases built.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

pub const BEGIN: &str = "<!-- scale:begin (written by `cargo bench --bench scale`; edit outside the markers) -->";
pub const END: &str = "<!-- scale:end -->";

/// How a figure compares with its reference.
#[derive(Clone, Copy)]
pub enum Bar {
    /// value / reference at most this (times, memory).
    AtMost(f64),
    /// value / reference at least this (throughput).
    AtLeast(f64),
    /// Shown for information.
    None,
}

#[derive(Clone, Copy)]
pub enum Unit {
    Seconds,
    PerSecond,
    Mib,
}

pub fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Seconds if v < 1.0 => format!("{:.1} ms", v * 1000.0),
        Unit::Seconds => format!("{v:.2} s"),
        Unit::PerSecond => format!("{v:.0} msg/s"),
        Unit::Mib => format!("{v:.1} MiB"),
    }
}

pub struct Row {
    pub figure: String,
    pub size: String,
    pub value: f64,
    pub runs: usize,
    pub unit: Unit,
    pub reference: String,
    pub ref_value: Option<f64>,
    pub bar: Bar,
}

impl Row {
    pub fn ratio(&self) -> Option<f64> {
        self.ref_value.filter(|r| *r > 0.0).map(|r| self.value / r)
    }

    pub fn target(&self) -> String {
        match self.bar {
            Bar::AtMost(x) => format!("≤ {x}×"),
            Bar::AtLeast(x) => format!("≥ {x}×"),
            Bar::None => "—".into(),
        }
    }

    pub fn verdict(&self) -> &'static str {
        match (self.bar, self.ratio()) {
            (Bar::None, _) => "info",
            (_, None) => "n/a",
            (Bar::AtMost(x), Some(r)) if r <= x => "met",
            (Bar::AtLeast(x), Some(r)) if r >= x => "met",
            _ => "**MISSED**",
        }
    }

    pub fn cells(&self) -> [String; 8] {
        [
            self.figure.clone(),
            self.size.clone(),
            format!("{} ({}×)", show(self.value, self.unit), self.runs),
            self.reference.clone(),
            self.ref_value.map_or_else(|| "—".into(), |v| show(v, self.unit)),
            self.ratio().map_or_else(|| "—".into(), |r| format!("{r:.2}×")),
            self.target(),
            self.verdict().into(),
        ]
    }
}

pub fn size_name(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{} k", n / 1000),
        n => n.to_string(),
    }
}

pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Figure | Size | Median (runs) | Reference | Reference median | Ratio | Target | Result |\n\
         | --- | --- | ---: | --- | ---: | ---: | :---: | --- |\n",
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.cells().join(" | "));
    }
    out
}

/// The first line of `key` in a /proc file, after the colon.
pub fn proc_value(file: &str, key: &str) -> String {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "?".into())
}

pub fn git(manifest: &Path, args: &[&str]) -> String {
    Command::new("git")
        .arg("-C")
        .arg(manifest)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The filesystem type the scratch folder is on (from /proc/mounts).
pub fn filesystem(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best = ("?".to_string(), 0);
    for line in mounts.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [device, point, kind, ..] = parts[..]
            && path.starts_with(point)
            && point.len() >= best.1
        {
            best = (format!("{kind} on {device}"), point.len());
        }
    }
    best.0
}

/// How the figures were taken, for the section's preamble.
pub struct Conditions {
    /// Runs of the slow figures.
    pub runs: usize,
    /// Runs of the whole-process command figures.
    pub cli_runs: usize,
    /// Seconds the bench ran (after the build).
    pub elapsed: f64,
    /// Whether CPU idle states were held to polling.
    pub polling: bool,
}

/// The text between the markers of BENCHMARKS.md: machine, commit, the table, the databases built.
pub fn section(table: &str, builds: &[String], conditions: &Conditions, manifest: &Path, scratch: &Path) -> String {
    let Conditions { runs, cli_runs, elapsed, polling } = *conditions;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = proc_value("/proc/cpuinfo", "model name");
    let mem_kib: f64 = proc_value("/proc/meminfo", "MemTotal").trim_end_matches("kB").trim().parse().unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let commit = git(manifest, &["rev-parse", "--short", "HEAD"]);
    let dirty = !git(manifest, &["status", "--porcelain", "--untracked-files=no"]).is_empty();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}\n");
    let _ = writeln!(
        out,
        "Last full run: {date}, commit `{commit}`{}.",
        if dirty { " (with uncommitted changes in the working tree)" } else { "" }
    );
    let _ = writeln!(
        out,
        "Machine: {cores} cores ({model}), {:.1} GiB memory (MemTotal), Linux {kernel}; databases on {}.",
        mem_kib / 1048576.0,
        filesystem(scratch)
    );
    let _ = writeln!(
        out,
        "Bench run (after the build): {elapsed:.0} s. Slow figures: median of {runs} runs; whole-process \
         command figures: median of {cli_runs} runs. {}\n",
        if polling {
            "CPU idle states held to polling during the run (`/dev/cpu_dma_latency` = 0)."
        } else {
            "CPU idle states NOT held (no write access to `/dev/cpu_dma_latency`): wakeup latency is in every figure."
        }
    );
    let _ = writeln!(out, "{table}");
    let _ = writeln!(out, "Databases (built with direct SQL in one transaction, copied for every run that writes):\n");
    for b in builds {
        let _ = writeln!(out, "- {b}");
    }
    let _ = writeln!(out, "\n{END}");
    out
}

/// Replaces the part between the markers of `path`, or writes a skeleton.
pub fn write_section(path: &Path, section: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{}{}", &old[..a], section.trim_end(), &old[b + END.len()..]),
        _ => format!(
            "# Benchmarks\n\nRun: `cargo bench --bench scale`.\n\n{section}\n## What each change bought\n\nNone yet.\n\n\
             ## Bars missed and why\n\n(to be written)\n"
        ),
    };
    std::fs::write(path, text).expect("write BENCHMARKS.md");
}
