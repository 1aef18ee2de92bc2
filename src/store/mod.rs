//! Every SQL statement of cadenced, behind domain operations (enroll, claim a
//! due step, record a touchpoint, ...). The scheduler never sees SQL or a
//! connection. SQLite in WAL mode with a busy timeout, so that the admin CLI and
//! the daemon share one file; every transaction that reads then writes begins
//! IMMEDIATE so that a second process waits instead of failing.
//!
//! One file per concept: [`enroll`](Store::enroll_many) (enrollment and
//! import), `claims` (what is due, claims and outcomes), `state` (changes
//! asked from the CLI), `views` (what the CLI reads), `inbox` (what the inbox
//! watcher records), `tasks` and `digests` (manual steps and reminders),
//! `history` (what `log` lists), `versions` (the cadence versions leads were
//! planned against, and loading an edit), `backup`, `report` (what the report,
//! the dashboard and the metrics read, from tallies the schema's triggers
//! keep), `unsubscribe` (from the web), `restore` (reconciling a restored
//! copy), the `schema` migrations, the [`sendlog`] and [`sendmark`]
//! beside the database, and [`first_sends`], read without opening a `Store`.

mod backup;
mod claims;
mod digests;
mod enroll;
pub mod first_sends;
mod history;
mod inbox;
mod lock;
mod lookahead;
mod mailboxes;
mod outcomes;
mod report;
mod restore;
mod schema;
pub mod sendlog;
pub mod sendmark;
mod state;
mod tasks;
mod unsubscribe;
mod versions;
mod views;

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql};

use crate::model::{InboundKind, Reason, State, Status};

pub use claims::{Claim, Content, Interrupted, NewSend, Settlement};
pub use digests::{DigestRecord, OwnerTasks};
pub use enroll::{EnrollOutcome, Enrolling, NewEnrollment};
pub use history::{Event, LogFilter};
pub use inbox::{Answered, DomainLead, FolderState, Inbound, InboundMessage, LeadEnrollment, LeadRef, Source};
pub use lock::DispatchLock;
pub use lookahead::{LookAhead, NextDue};
pub use mailboxes::{MailboxCounts, Pause};
pub use outcomes::{LeadOutcome, NewOutcome, OutcomeKind, Recorded, VariantTally, Winner, parse_amount};
pub use report::DueCount;
pub use restore::{FoundSend, Hold, Reconciliation, Target};
pub use sendlog::{SendGroup, SendLog};
pub use state::{Change, Changed};
pub use tasks::TaskFilter;
pub use unsubscribe::Unsubscribed;
pub use versions::{InFlightRow, Version};
pub use views::{ActiveRow, EnrollmentRow, EnrollmentView, LeadFilter, LeadView, MailboxSends, Touchpoint};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("database {path}: migrating the schema: {source}")]
    Migrate { path: String, source: rusqlite_migration::Error },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database: stored fields are not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("database {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The tick's sending thread died; what it sent is in the send log.
    #[error("the sending thread stopped: {0}")]
    Sender(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The SQLite database.
pub struct Store {
    conn: Connection,
    path: String,
    /// A token unique to this database, part of every Message-ID it sends.
    instance: String,
    /// The key of the leads' unsubscribe tokens, kept in the database.
    secret: Vec<u8>,
}

impl Store {
    /// Opens (creating it mode 0600 when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: shown.clone(), source })?;
        }
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Lead data is personal data: only the service's user may read it.
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| StoreError::Io { path: shown.clone(), source })?;
        }
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open { path: shown.clone(), source })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a claim is on disk before the first SMTP byte, even across a power loss.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The WAL is folded back into the database after each tick (see
        // `checkpoint`), not every 4 MB in the middle of one: a tick at a
        // million leads dirties pages all over the file, and each checkpoint
        // writes them back at random places and fsyncs. Up to 120 MB of WAL.
        conn.pragma_update(None, "wal_autocheckpoint", 30000)?;
        // Every statement of a tick stays prepared (the default keeps 16).
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate { path: shown.clone(), source })?;
        let instance = instance_id(&conn)?;
        let secret = unsubscribe_secret(&conn)?;
        let store = Store { conn, path: shown, instance, secret };
        store.adopt_in_place(path)?;
        Ok(store)
    }

    /// A database that was here before send marks existed (the migration that
    /// brought them says so) gets its mark now, once: it is where it was, not
    /// a restored copy. Done at open, so that no backup carries the word.
    fn adopt_in_place(&self, path: &Path) -> Result<()> {
        let adopt: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'send_mark_adopt'", [], |r| r.get(0)).optional()?;
        if adopt.is_none() {
            return Ok(());
        }
        if sendmark::read(path)? == crate::core::restore::Found::Missing {
            let recorded = self.recorded_sends()?;
            let mark = crate::core::restore::Mark { instance: recorded.instance, last_claim: recorded.last_claim };
            sendmark::write(path, &mark)?;
        }
        self.conn.execute("DELETE FROM meta WHERE key = 'send_mark_adopt'", [])?;
        Ok(())
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Copies the WAL back into the database, as far as no reader needs it
    /// (PASSIVE: waits for no one), so that the next writes start it over.
    /// The daemon calls it after each tick, while it waits for the next.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Leaves checkpoints to Litestream: no automatic checkpoint on this
    /// connection (Litestream copies the WAL and then checkpoints it itself;
    /// a checkpoint it did not make can cost it a full snapshot).
    pub fn leave_checkpoints_to_litestream(&self) -> Result<()> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    }

    /// A token unique to this database, part of every Message-ID it sends.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The key of the leads' unsubscribe tokens (see [`crate::core::unsubscribe`]).
    pub fn unsubscribe_secret(&self) -> &[u8] {
        &self.secret
    }
}

/// This database's instance token, made on first use.
fn instance_id(conn: &Connection) -> Result<String> {
    let id = fresh_instance()?;
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', ?1)", [id])?;
    Ok(conn.query_row("SELECT value FROM meta WHERE key = 'instance'", [], |r| r.get(0))?)
}

/// A new instance token: the time, and 48 random bits (two copies of one
/// database restored at the same instant still differ).
fn fresh_instance() -> Result<String> {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let mut random = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).map_err(|_| StoreError::Io {
        path: "the system's random source".into(),
        source: std::io::Error::other("unavailable"),
    })?;
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{nanos:x}{random}"))
}

/// The key of the unsubscribe tokens: 32 random bytes, made on first use.
fn unsubscribe_secret(conn: &Connection) -> Result<Vec<u8>> {
    let stored: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'unsubscribe_secret'", [], |r| r.get(0)).optional()?;
    if let Some(hex) = stored.as_deref().and_then(from_hex) {
        return Ok(hex);
    }
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(|_| StoreError::Io {
        path: "the system's random source".into(),
        source: std::io::Error::other("unavailable"),
    })?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('unsubscribe_secret', ?1)", [hex])?;
    // Another process may have made it first: its key is the key.
    let stored: String = conn.query_row("SELECT value FROM meta WHERE key = 'unsubscribe_secret'", [], |r| r.get(0))?;
    from_hex(&stored).ok_or_else(|| StoreError::Io {
        path: "meta.unsubscribe_secret".into(),
        source: std::io::Error::other("not hexadecimal"),
    })
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    (text.len().is_multiple_of(2) && !text.is_empty())
        .then(|| (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

/// `conn.execute`, with the statement kept prepared: for the statements every send runs.
fn execute_cached(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

/// The domain's enums go into the database as their names, and come back
/// from them (an unknown name is an error, not a guess).
macro_rules! sql_text {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }
        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                <$t>::parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown value {text:?}").into()))
            }
        }
    )*};
}

sql_text!(State, Status, Reason, InboundKind);

#[cfg(test)]
mod tests;
