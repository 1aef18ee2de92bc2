//! The outbox transport: each email becomes one `.eml` file, written under a
//! temporary name and renamed, so a reader never sees half a message.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use lettre::Message;

use super::{SendError, Transport};

pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: PathBuf) -> Outbox {
        Outbox { dir }
    }
}

impl Transport for Outbox {
    fn send(&mut self, message: &Message, label: &str) -> Result<(), SendError> {
        let fail = |what: &str, e: std::io::Error| {
            SendError::Unavailable(format!("outbox {}: {what}: {e}", self.dir.display()))
        };
        fs::create_dir_all(&self.dir).map_err(|e| fail("cannot create folder", e))?;
        let name: String =
            label.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(format!("{name}.eml"));
        // An email is personal data: readable by the service's user only, like the database.
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)
        }
        .map_err(|e| fail("cannot create file", e))?;
        file.write_all(&message.formatted()).map_err(|e| fail("cannot write", e))?;
        file.sync_all().map_err(|e| fail("cannot sync", e))?;
        fs::rename(&tmp, &path).map_err(|e| fail("cannot rename", e))?;
        Ok(())
    }
}
