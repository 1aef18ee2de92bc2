//! When each mailbox first sent, for `cadenced doctor` (is it a new
//! mailbox?), read without side effects: a missing database is read as
//! "nothing sent" and not created, an existing one is opened read-only and
//! not migrated.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

use super::{Result, StoreError};
use crate::time::from_unix;

/// The first send (sent, or possibly sent) of each mailbox that has one.
pub fn first_sends(db: &Path) -> Result<BTreeMap<String, DateTime<Utc>>> {
    if !db.exists() {
        return Ok(BTreeMap::new());
    }
    let shown = db.display().to_string();
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| StoreError::Open { path: shown, source })?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut stmt = conn.prepare(
        "SELECT mailbox, min(at) FROM touchpoints
         WHERE mailbox IS NOT NULL AND status IN ('sent', 'uncertain') GROUP BY mailbox",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, from_unix(r.get(1)?))))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
