//! Secrets read from files or the environment: a password or an OAuth
//! client secret, never printed, from a file nobody else can read.

use std::fmt;
use std::path::{Path, PathBuf};

/// A password; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a mailbox's password (or OAuth client secret) could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum PasswordError {
    #[error("set either password_file or password_env, not both")]
    Both,
    #[error("{key}: cannot read {}: {error}{}", path.display(), unreadable_hint(error))]
    Unreadable { key: &'static str, path: PathBuf, error: std::io::Error },
    #[error("{key}: {} is readable by every user (mode {mode:o}); run chmod o-rwx on it", path.display())]
    WorldReadable { key: &'static str, path: PathBuf, mode: u32 },
    #[error(
        "password_env: environment variable {0} is not set: set it where cadenced runs (systemd: \
         Environment= or EnvironmentFile= in an override), or use password_file"
    )]
    EnvUnset(String),
}

/// What to do about a password file that cannot be read.
fn unreadable_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => " (create it with the password on one line, then chmod 600 it)",
        std::io::ErrorKind::PermissionDenied => " (make it readable by the user cadenced runs as)",
        _ => "",
    }
}

/// A secret on the first line of `path` (`key` names the setting in errors).
/// A file others can read is a leak waiting to happen: refused.
pub(super) fn read_secret_file(path: &Path, key: &'static str) -> Result<Secret, PasswordError> {
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |error| PasswordError::Unreadable { key, path: path.to_path_buf(), error };
    let mode = std::fs::metadata(path).map_err(unreadable)?.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(PasswordError::WorldReadable { key, path: path.to_path_buf(), mode: mode & 0o777 });
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    Ok(Secret::new(text.trim_end_matches(['\r', '\n']).to_string()))
}
