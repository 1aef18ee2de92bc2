//! `tokens/NAME.json` beside the database: a mailbox's OAuth tokens. The
//! folder is 0700 and the file 0600, owned by the user cadenced runs as; a
//! file or folder that group or others may read is refused rather than
//! used. Writes go to a temporary file that is synced, then renamed over
//! the old one, so that a crash leaves the old tokens or the new, never
//! half of either. Nothing here logs a token.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// What the token file holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// The account signed in (the SASL user name).
    pub account: String,
    pub scopes: Vec<String>,
    pub access_token: String,
    /// When the access token ends (the server's `expires_in` after it was issued).
    pub expires_at: DateTime<Utc>,
    /// When the access token was issued.
    pub obtained_at: DateTime<Utc>,
    pub refresh_token: Option<String>,
    /// When the refresh token was last used (or obtained).
    pub refresh_used_at: DateTime<Utc>,
    /// The token endpoint the tokens came from (a custom issuer's is discovered by `login`).
    pub token_url: String,
    /// When `cadenced login` signed in.
    pub signed_in_at: DateTime<Utc>,
    /// Why the provider refused a refresh for good (`invalid_grant: ...`):
    /// kept so that nobody retries a dead grant; a new login clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("account", &self.account)
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn access(&self) -> Secret {
        Secret::new(self.access_token.clone())
    }
}

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not signed in: {} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read {}: {error}", path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    #[error("{} is not a token file cadenced wrote ({error}); run `cadenced login` again", path.display())]
    Corrupt { path: PathBuf, error: serde_json::Error },
    #[error("{} may be read by others (mode {mode:o}); run chmod {want:o} on it", path.display())]
    Exposed { path: PathBuf, mode: u32, want: u32 },
    #[error("{} belongs to uid {owner}, not to uid {me} that runs cadenced; run `cadenced login` as that user", path.display())]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
}

/// The uid this process runs as (the owner of `/proc/self`).
fn my_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Refuses `path` when group or others have any right to it, or another
/// user owns it.
fn check_private(path: &Path, meta: &std::fs::Metadata, want: u32) -> Result<(), FileError> {
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(FileError::Exposed { path: path.to_path_buf(), mode, want });
    }
    if let Some(me) = my_uid()
        && meta.uid() != me
    {
        return Err(FileError::Owner { path: path.to_path_buf(), owner: meta.uid(), me });
    }
    Ok(())
}

/// Checks the file and its folder without reading the tokens (`cadenced check`).
pub fn check(path: &Path) -> Result<(), FileError> {
    let meta = std::fs::metadata(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => FileError::Missing { path: path.to_path_buf() },
        _ => FileError::Unreadable { path: path.to_path_buf(), error },
    })?;
    check_private(path, &meta, 0o600)?;
    if let Some(dir) = path.parent() {
        let dir_meta =
            std::fs::metadata(dir).map_err(|error| FileError::Unreadable { path: dir.to_path_buf(), error })?;
        check_private(dir, &dir_meta, 0o700)?;
    }
    Ok(())
}

/// Reads the tokens, refusing a file others may read.
pub fn load(path: &Path) -> Result<Tokens, FileError> {
    check(path)?;
    let text =
        std::fs::read_to_string(path).map_err(|error| FileError::Unreadable { path: path.to_path_buf(), error })?;
    serde_json::from_str(&text).map_err(|error| FileError::Corrupt { path: path.to_path_buf(), error })
}

/// Writes the tokens atomically: a 0600 temporary file in the same folder
/// (0700, created if missing), synced, renamed over `path`, the folder synced.
pub fn save(path: &Path, tokens: &Tokens) -> Result<(), FileError> {
    let write = |error| FileError::Write { path: path.to_path_buf(), error };
    let dir = path.parent().ok_or_else(|| write(std::io::Error::other("no folder")))?;
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(write)?;
    }
    let dir_meta = std::fs::metadata(dir).map_err(write)?;
    check_private(dir, &dir_meta, 0o700)?;
    let text = serde_json::to_vec_pretty(tokens).map_err(|e| write(std::io::Error::other(e)))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("tokens.json");
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
        file.write_all(&text)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(write)
}

/// Holds `NAME.lock` beside the token file: one refresh at a time, across
/// the daemon's threads and every cadenced process.
pub struct Lock(#[allow(dead_code)] std::fs::File);

impl Lock {
    pub fn acquire(token_file: &Path) -> Result<Lock, FileError> {
        let path = token_file.with_extension("lock");
        let write = |error| FileError::Write { path: path.clone(), error };
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(write)?;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(write)?;
        file.lock().map_err(write)?;
        Ok(Lock(file))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let at = DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z").unwrap().with_timezone(&Utc);
        Tokens {
            account: "ada@example.com".into(),
            scopes: vec!["mail".into()],
            access_token: "access-secret".into(),
            expires_at: at,
            obtained_at: at,
            refresh_token: Some("refresh-secret".into()),
            refresh_used_at: at,
            token_url: "https://idp.example/token".into(),
            signed_in_at: at,
            lost: None,
        }
    }

    #[test]
    fn saved_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens").join("sales.json");
        save(&path, &tokens()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(load(&path).unwrap().refresh_token.as_deref(), Some("refresh-secret"));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens").join("sales.json");
        save(&path, &tokens()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load(&path).unwrap_err();
        assert!(matches!(e, FileError::Exposed { mode: 0o640, .. }), "{e}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(path.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(check(&path).unwrap_err(), FileError::Exposed { want: 0o700, .. }));
    }

    #[test]
    fn missing_and_corrupt_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sales.json");
        assert!(matches!(load(&path).unwrap_err(), FileError::Missing { .. }));
        std::fs::write(&path, "{").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(load(&path).unwrap_err(), FileError::Corrupt { .. }));
    }

    #[test]
    fn debug_never_shows_a_token() {
        let text = format!("{:?}", tokens());
        assert!(!text.contains("secret"), "{text}");
    }
}
