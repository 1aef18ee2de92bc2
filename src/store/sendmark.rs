//! The send mark: a small file beside the database (`DB-sendmark`) that says
//! how far this machine's sends went: the database's instance and the last
//! email touchpoint claimed. It is rewritten (and fsynced) after each claim,
//! before any email of it leaves, and is never replicated nor backed up with
//! the database: a database restored from a replica or a backup is behind it,
//! or finds none (a new machine), and is reconciled before it sends (see
//! [`crate::core::restore::judge`]).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Result, StoreError};
use crate::core::restore::{Found, Mark};

#[derive(Serialize, Deserialize)]
struct Stored {
    instance: String,
    last_claim: i64,
}

/// The mark of the database at `db`.
pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-sendmark");
    PathBuf::from(name)
}

/// The mark beside the database at `db`, as found. A file that cannot be read
/// for another reason than its absence (permissions) is an error, not a verdict.
pub fn read(db: &Path) -> Result<Found> {
    let path = path_for(db);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(match serde_json::from_slice::<Stored>(&bytes) {
            Ok(s) if !s.instance.is_empty() => Found::Mark(Mark { instance: s.instance, last_claim: s.last_claim }),
            _ => Found::Unreadable,
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Found::Missing),
        Err(source) => Err(StoreError::Io { path: path.display().to_string(), source }),
    }
}

/// Writes the mark (mode 0600, under a temporary name, fsynced, renamed into
/// place): on disk before the sends it covers start.
pub fn write(db: &Path, mark: &Mark) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = path_for(db);
    let io = |source| StoreError::Io { path: path.display().to_string(), source };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let text = serde_json::to_vec(&Stored { instance: mark.instance.clone(), last_claim: mark.last_claim })?;
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    file.write_all(&text).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_round_trips_and_a_torn_one_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        assert_eq!(read(&db).unwrap(), Found::Missing);
        let mark = Mark { instance: "abc".into(), last_claim: 42 };
        write(&db, &mark).unwrap();
        assert_eq!(read(&db).unwrap(), Found::Mark(mark));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path_for(&db)).unwrap().permissions().mode() & 0o077, 0);
        std::fs::write(path_for(&db), b"{\"instance\":\"ab").unwrap();
        assert_eq!(read(&db).unwrap(), Found::Unreadable);
    }
}
