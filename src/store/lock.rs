//! One dispatcher at a time: the daemon's tick and a `cadenced tick` from the
//! CLI take turns. Holding the lock is also what makes a `sending` touchpoint
//! found at the start of a tick certainly a dead process's.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::{Result, StoreError};

/// Held for the length of one tick; released when dropped.
#[derive(Debug)]
pub struct DispatchLock {
    _file: File,
}

impl DispatchLock {
    /// Waits until no other process is dispatching for the database at `db`.
    pub fn acquire(db: &Path) -> Result<DispatchLock> {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let path = Path::new(&name);
        let io = |source| StoreError::Io { path: path.display().to_string(), source };
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path).map_err(io)?;
        file.lock().map_err(io)?;
        Ok(DispatchLock { _file: file })
    }
}
