//! The send log: a small file beside the database (`DB-sends`) that the
//! sending thread appends to as each claimed email of a group starts and ends,
//! one JSON line per event, without an fsync.
//!
//! A group of emails is claimed in one durable commit and its outcomes are
//! recorded together afterwards, so after a crash the database alone cannot
//! tell which of the group's claimed sends left. The log can: its lines reach
//! the operating system before the SMTP bytes do, and the operating system
//! keeps them when the process dies. It does not keep them across a reboot, so
//! the log is believed only on the boot that claimed the group; after a
//! reboot every unrecorded send of the group is `uncertain`, never repeated.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Result, StoreError};
use crate::model::Ended;

/// The claimed group of sends: the machine's boot, a token of the claim, and
/// the group's first and last touchpoint ids (sent in id order). Stored in
/// the database with the claim and written first into the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendGroup {
    pub boot: Option<String>,
    pub token: String,
    pub first: i64,
    pub last: i64,
}

impl SendGroup {
    /// A group claimed now, on this boot.
    pub fn new(first: i64, last: i64) -> SendGroup {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        SendGroup { boot: boot_id(), token: format!("{nanos:x}.{:x}", std::process::id()), first, last }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// The lines after it, up to the next `Group`, are of this group.
    Group(SendGroup),
    /// The send of this touchpoint is about to start.
    Start(i64),
    /// It ended so.
    End(i64, Ended),
}

/// The log of the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-sends");
    PathBuf::from(name)
}

/// The open log, appended to by the sending thread.
#[derive(Debug)]
pub struct SendLog {
    file: File,
    path: PathBuf,
    line: Vec<u8>,
}

impl SendLog {
    /// Opens (creating it mode 0600) the log of the database at `db`.
    pub fn open(db: &Path) -> Result<SendLog> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = path_for(db);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Io { path: path.display().to_string(), source })?;
        Ok(SendLog { file, path, line: Vec::new() })
    }

    /// Starts the log of a group, before its first send.
    pub fn group(&mut self, group: &SendGroup) -> std::io::Result<()> {
        self.write(&Line::Group(group.clone()))
    }

    /// Notes that touchpoint `id` is about to be sent; must succeed before the
    /// first byte of it leaves.
    pub fn start(&mut self, id: i64) -> std::io::Result<()> {
        self.write(&Line::Start(id))
    }

    /// Notes how the send of touchpoint `id` ended.
    pub fn end(&mut self, id: i64, ended: &Ended) -> std::io::Result<()> {
        self.write(&Line::End(id, ended.clone()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One line, in one `write`, so a crash leaves at most a torn last line.
    fn write(&mut self, line: &Line) -> std::io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, line).map_err(std::io::Error::other)?;
        self.line.push(b'\n');
        self.file.write_all(&self.line)
    }
}

/// The lines of the log at `log`, up to a torn last line (a crash mid-write);
/// none when it is missing, `None` when it cannot be read.
pub fn read(log: &Path) -> Option<Vec<Line>> {
    let bytes = match std::fs::read(log) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::warn!(log = %log.display(), "cannot read the send log, every interrupted send is uncertain: {e}");
            return None;
        }
    };
    Some(parse(&bytes))
}

/// The log's lines from its bytes, up to the first that does not parse.
fn parse(bytes: &[u8]) -> Vec<Line> {
    bytes.split(|b| *b == b'\n').map_while(|l| serde_json::from_slice::<Line>(l).ok()).collect()
}

/// Empties the log once what it told is in the database.
pub fn clear(log: &Path) -> Result<()> {
    match OpenOptions::new().write(true).truncate(true).open(log) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io { path: log.display().to_string(), source }),
    }
}

/// This boot of the machine (Linux), `None` where it cannot be read.
pub fn boot_id() -> Option<String> {
    static BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_ends_the_log() {
        let g = SendGroup { boot: Some("b1".into()), token: "t1".into(), first: 10, last: 14 };
        let mut bytes = Vec::new();
        for l in [Line::Group(g.clone()), Line::Start(11)] {
            serde_json::to_writer(&mut bytes, &l).unwrap();
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(b"{\"end\":[11,\"se");
        assert_eq!(parse(&bytes), vec![Line::Group(g), Line::Start(11)]);
        assert_eq!(parse(b""), Vec::<Line>::new());
    }

    #[test]
    fn the_log_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        assert_eq!(read(&path_for(&db)), Some(Vec::new()), "a missing log has no lines");
        let g = SendGroup::new(1, 2);
        let mut file = SendLog::open(&db).unwrap();
        file.group(&g).unwrap();
        file.start(1).unwrap();
        file.end(1, &Ended::Uncertain("connection lost".into())).unwrap();
        assert_eq!(
            read(file.path()),
            Some(vec![Line::Group(g), Line::Start(1), Line::End(1, Ended::Uncertain("connection lost".into()))])
        );
        clear(file.path()).unwrap();
        assert_eq!(std::fs::read(file.path()).unwrap(), b"");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o077, 0);
    }
}
