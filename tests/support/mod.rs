//! The test harness: a temporary project folder (config, cadences, database),
//! a real SMTP server on a loopback port, and the real `cadenced` binary.

pub mod browser;
pub mod ca;
pub mod db;
pub mod dns;
pub mod dovecot;
pub mod http;
pub mod lead;
pub mod litestream;
pub mod mailserver;
pub mod oauth;
pub mod oauth_human;
pub mod oauth_mail;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub use smtp::{Fault, SmtpServer};

pub const BIN: &str = env!("CARGO_BIN_EXE_cadenced");

/// A project folder with its own config, cadences and database.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub smtp: SmtpServer,
}

#[allow(dead_code)]
impl Project {
    /// A project whose one mailbox `sales` sends to a fresh SMTP server, in
    /// zone `Europe/Berlin` by default.
    pub fn new() -> Project {
        let smtp = SmtpServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("cadences")).expect("cadences dir");
        let project = Project { dir, smtp };
        project.write_config("");
        project
    }

    /// A project with copies of the repository's own `config.toml` (one
    /// mailbox writing `.eml` files to `outbox/`) and `cadences/`, as a user
    /// starts out. The SMTP server runs but the shipped config does not use it.
    pub fn shipped() -> Project {
        let project = Project::new();
        std::fs::copy(repo().join("config.toml"), project.path("config.toml")).expect("copy config.toml");
        for entry in std::fs::read_dir(repo().join("cadences")).expect("read cadences/") {
            let path = entry.expect("cadences/ entry").path();
            std::fs::copy(&path, project.path("cadences").join(path.file_name().expect("file name")))
                .expect("copy a cadence");
        }
        project
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes config.toml, with `extra` lines appended to the `sales` mailbox.
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\ntick_interval = \"1s\"\n\n\
             [mailboxes.sales]\nfrom = \"Ada Sales <ada@seller.test>\"\nsmtp = \"{}\"\n{extra}\n",
            self.smtp.url()
        );
        self.write("config.toml", &text);
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    pub fn cadence(&self, name: &str, text: &str) {
        self.write(&format!("cadences/{name}.toml"), text);
    }

    /// Runs `cadenced --config <project>/config.toml ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(self.path("config.toml"))
            .args(args)
            .env("CADENCED_LOG", "warn")
            .output()
            .expect("run cadenced")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cadenced {args:?} failed: {}\nstdout: {}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "cadenced {args:?} should have failed; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    pub fn status(&self, email: &str) -> Value {
        self.json(&["status", email, "--json"])
    }

    pub fn tick(&self, at: &str) -> String {
        self.ok(&["tick", "--at", at])
    }

    /// The project's database, for probes (see [`db::Db`]).
    pub fn db(&self) -> db::Db {
        db::Db::open(&self.path("cadenced.db"))
    }

    /// Ticks at each next due time of `email`'s first enrollment until it has
    /// no next step; returns the instants ticked. Bounded.
    pub fn run_to_end(&self, email: &str) -> Vec<String> {
        let mut ticks = Vec::new();
        for _ in 0..50 {
            let status = self.status(email);
            let e = &status["enrollments"][0];
            if e["state"] != "active" {
                return ticks;
            }
            let due = e["next_due_at"].as_str().expect("next_due_at").to_string();
            self.tick(&due);
            ticks.push(due);
        }
        panic!("{email} did not finish in 50 ticks");
    }
}

impl Project {
    /// Ticks at the earliest due time of any active enrollment, again and again,
    /// until none is active; returns the instants ticked. Bounded.
    #[allow(dead_code)]
    pub fn run_until_idle(&self) -> Vec<String> {
        let mut ticks = Vec::new();
        for _ in 0..1000 {
            let leads = self.json(&["leads", "--state", "active", "--json"]);
            let next = leads["leads"].as_array().expect("leads").iter().filter_map(|l| l["next_due_at"].as_str()).min();
            let Some(next) = next.map(str::to_string) else { return ticks };
            self.tick(&next);
            ticks.push(next);
        }
        panic!("still active after 1000 ticks");
    }

    /// Touchpoints of `email`'s first enrollment as (step, status, at, reason).
    #[allow(dead_code)]
    pub fn timeline(&self, email: &str) -> Vec<(String, String, String, Option<String>)> {
        let s = self.status(email);
        s["enrollments"][0]["touchpoints"]
            .as_array()
            .expect("touchpoints")
            .iter()
            .map(|t| {
                (
                    t["step"].as_str().unwrap_or_default().to_string(),
                    t["status"].as_str().unwrap_or_default().to_string(),
                    t["at"].as_str().unwrap_or_default().to_string(),
                    t["reason"].as_str().map(str::to_string),
                )
            })
            .collect()
    }
}

impl Project {
    /// Starts `cadenced run` on this project, stderr captured, with `env` set.
    #[allow(dead_code)]
    pub fn spawn_daemon(&self, env: &[(&str, &str)]) -> std::process::Child {
        Command::new(BIN)
            .arg("--config")
            .arg(self.path("config.toml"))
            .arg("run")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start cadenced run")
    }
}

/// Sends `signal` (e.g. "TERM", "HUP", "KILL") to process `pid`.
#[allow(dead_code)]
pub fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("kill");
    assert!(ok.success(), "kill -{signal} {pid}");
}

/// The repository's own folder (for the shipped config and cadences).
#[allow(dead_code)]
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
