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

use std::collections::BTreeMap;
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Group(SendGroup),
    Start(i64),
    End(i64, Ended),
}

/// What to make of a send found `sending` at the start of a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It certainly never started: give the claim back, the step is due again.
    NeverStarted,
    /// It ended so, and the process died before recording it.
    Ended(Ended),
    /// It may have left: `uncertain`, never repeated.
    Unknown,
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

/// Decides each of the `sending` touchpoints `ids` from the groups still
/// being sent when the process stopped (stored with their claims) and the log
/// at `log` (which may be missing). An unreadable log, a group from another
/// boot, a send outside the groups: all [`Verdict::Unknown`].
pub fn verdicts(ids: &[i64], groups: &[SendGroup], log: &Path) -> BTreeMap<i64, Verdict> {
    let text = match std::fs::read(log) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => Some(Vec::new()),
        Err(e) => {
            tracing::warn!(log = %log.display(), "cannot read the send log, every interrupted send is uncertain: {e}");
            None
        }
    };
    decide(ids, groups, boot_id().as_deref(), text.as_deref())
}

/// Empties the log once what it told is in the database.
pub fn clear(log: &Path) -> Result<()> {
    match OpenOptions::new().write(true).truncate(true).open(log) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io { path: log.display().to_string(), source }),
    }
}

/// [`verdicts`], pure: `boot` is this machine's boot, `log` the log's bytes
/// (`None`: unreadable).
fn decide(ids: &[i64], groups: &[SendGroup], boot: Option<&str>, log: Option<&[u8]>) -> BTreeMap<i64, Verdict> {
    let mut out: BTreeMap<i64, Verdict> = ids.iter().map(|id| (*id, Verdict::Unknown)).collect();
    let Some(log) = log else { return out };
    // Only the groups claimed on this boot: the log may have lost lines of another.
    let groups: Vec<&SendGroup> = groups.iter().filter(|g| g.boot.is_some() && g.boot.as_deref() == boot).collect();
    // Each line belongs to the group whose header it follows; a torn last line ends the log.
    let lines = log.split(|b| *b == b'\n').map_while(|l| serde_json::from_slice::<Line>(l).ok());
    let mut started: BTreeMap<i64, Option<Ended>> = BTreeMap::new();
    let mut current: Option<&SendGroup> = None;
    for line in lines {
        match line {
            Line::Group(g) => current = groups.iter().copied().find(|known| **known == g),
            Line::Start(id) => {
                if current.is_some_and(|g| (g.first..=g.last).contains(&id)) {
                    started.insert(id, None);
                }
            }
            Line::End(id, ended) => {
                if current.is_some_and(|g| (g.first..=g.last).contains(&id)) {
                    started.insert(id, Some(ended));
                }
            }
        }
    }
    for (id, verdict) in out.iter_mut() {
        if !groups.iter().any(|g| (g.first..=g.last).contains(id)) {
            continue;
        }
        *verdict = match started.remove(id) {
            None => Verdict::NeverStarted,
            Some(None) => Verdict::Unknown,
            Some(Some(ended)) => Verdict::Ended(ended),
        };
    }
    out
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

    fn group(boot: &str) -> SendGroup {
        SendGroup { boot: Some(boot.into()), token: "t1".into(), first: 10, last: 14 }
    }

    fn log(lines: &[Line]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            serde_json::to_writer(&mut out, l).unwrap();
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn each_send_of_the_group_is_judged_by_what_the_log_says() {
        let g = group("b1");
        let bytes = log(&[
            Line::Group(g.clone()),
            Line::Start(10),
            Line::End(10, Ended::Sent),
            Line::Start(11),
            Line::End(11, Ended::Refused("550 no such user".into())),
            Line::Start(12),
        ]);
        let v = decide(&[3, 10, 11, 12, 13, 14], std::slice::from_ref(&g), Some("b1"), Some(&bytes));
        assert_eq!(v[&3], Verdict::Unknown, "not of this group");
        assert_eq!(v[&10], Verdict::Ended(Ended::Sent));
        assert_eq!(v[&11], Verdict::Ended(Ended::Refused("550 no such user".into())));
        assert_eq!(v[&12], Verdict::Unknown, "started, never ended: it may have left");
        assert_eq!(v[&13], Verdict::NeverStarted);
        assert_eq!(v[&14], Verdict::NeverStarted);
    }

    #[test]
    fn after_a_reboot_or_without_a_readable_log_everything_may_have_left() {
        let g = group("b1");
        let bytes = log(&[Line::Group(g.clone()), Line::Start(10), Line::End(10, Ended::Sent)]);
        for (boot, bytes) in [(Some("b2"), Some(&bytes[..])), (None, Some(&bytes[..])), (Some("b1"), None)] {
            let v = decide(&[10, 11], std::slice::from_ref(&g), boot, bytes);
            assert!(v.values().all(|v| *v == Verdict::Unknown), "{boot:?}: {v:?}");
        }
        let unknown_boot = SendGroup { boot: None, ..g.clone() };
        let v = decide(&[10, 11], &[unknown_boot], None, Some(&bytes));
        assert!(v.values().all(|v| *v == Verdict::Unknown), "{v:?}");
        let v = decide(&[10, 11], &[], Some("b1"), Some(&bytes));
        assert!(v.values().all(|v| *v == Verdict::Unknown), "{v:?}");
    }

    #[test]
    fn lines_of_another_group_and_a_torn_tail_are_not_believed() {
        let g = group("b1");
        let old = SendGroup { token: "t0".into(), ..g.clone() };
        let mut bytes = log(&[
            Line::Group(old),
            Line::Start(10),
            Line::End(10, Ended::Sent),
            Line::Group(g.clone()),
            Line::Start(11),
        ]);
        bytes.extend_from_slice(b"{\"end\":[11,\"se");
        let v = decide(&[10, 11, 12], std::slice::from_ref(&g), Some("b1"), Some(&bytes));
        assert_eq!(v[&10], Verdict::NeverStarted, "the old group's lines are not this one's");
        assert_eq!(v[&11], Verdict::Unknown);
        assert_eq!(v[&12], Verdict::NeverStarted);
        // The group was claimed but its header never written: nothing of it started.
        let v = decide(&[10, 11], std::slice::from_ref(&g), Some("b1"), Some(b""));
        assert!(v.values().all(|v| *v == Verdict::NeverStarted), "{v:?}");
    }

    #[test]
    fn two_groups_out_at_once_are_each_judged_by_their_own_lines() {
        let a = group("b1");
        let b = SendGroup { token: "t2".into(), first: 15, last: 16, ..a.clone() };
        let bytes = log(&[
            Line::Group(a.clone()),
            Line::Start(10),
            Line::End(10, Ended::Sent),
            Line::Start(11),
            Line::End(11, Ended::Sent),
            Line::Group(b.clone()),
            Line::Start(15),
        ]);
        let v = decide(&[11, 12, 15, 16], &[a, b], Some("b1"), Some(&bytes));
        assert_eq!(v[&11], Verdict::Ended(Ended::Sent));
        assert_eq!(v[&12], Verdict::NeverStarted, "the sender moved on: 12 was not tried");
        assert_eq!(v[&15], Verdict::Unknown);
        assert_eq!(v[&16], Verdict::NeverStarted);
    }

    #[test]
    fn the_log_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let g = SendGroup::new(1, 2);
        let mut file = SendLog::open(&db).unwrap();
        file.group(&g).unwrap();
        file.start(1).unwrap();
        file.end(1, &Ended::Uncertain("connection lost".into())).unwrap();
        let v = verdicts(&[1, 2], std::slice::from_ref(&g), file.path());
        if boot_id().is_some() {
            assert_eq!(v[&1], Verdict::Ended(Ended::Uncertain("connection lost".into())));
            assert_eq!(v[&2], Verdict::NeverStarted);
        }
        clear(file.path()).unwrap();
        assert_eq!(std::fs::read(file.path()).unwrap(), b"");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o077, 0);
    }
}
