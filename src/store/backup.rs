//! A consistent copy of the database while the daemon runs.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::{Result, Store, StoreError};

impl Store {
    /// A consistent copy of the database at `dest` (SQLite's online backup,
    /// safe while the daemon writes), created mode 0600 under a temporary
    /// name and renamed into place when complete.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        let shown = dest.display().to_string();
        let io = |source| StoreError::Io { path: shown.clone(), source };
        if dest.exists() {
            return Err(io(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "file exists; not overwriting")));
        }
        let mut tmp_name = dest.as_os_str().to_owned();
        tmp_name.push(".partial");
        let tmp = Path::new(&tmp_name);
        {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new().create_new(true).write(true).mode(0o600).open(tmp).map_err(io)?;
        }
        let result = (|| -> Result<()> {
            let mut target = Connection::open(tmp)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut target)?;
            backup.run_to_completion(1024, Duration::from_millis(5), None)?;
            drop(backup);
            target.pragma_update(None, "journal_mode", "DELETE")?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(tmp);
            return Err(e);
        }
        std::fs::rename(tmp, dest).map_err(io)
    }
}
