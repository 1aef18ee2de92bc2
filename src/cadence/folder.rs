//! The cadence folder: every `*.toml` in it loaded in name order, a broken
//! file listed with its errors beside the ones that loaded, and a reload that
//! keeps a broken file's last good version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Cadence, Setting};
use crate::location::{FileErrors, SourceError};

/// Every cadence in the folder that loaded, and every file that did not.
#[derive(Debug, Default)]
pub struct Cadences {
    pub by_name: BTreeMap<String, Cadence>,
    pub broken: Vec<FileErrors>,
}

impl Cadences {
    /// Loads `config.cadences_dir/*.toml`, in name order.
    pub fn load(config: &(impl Setting + ?Sized)) -> Cadences {
        let dir = config.cadences_dir();
        let mut out = Cadences::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                out.broken.push(FileErrors {
                    file: dir.to_path_buf(),
                    errors: vec![SourceError::at(dir, "", None, format!("cannot read cadence folder: {e}"))],
                });
                return out;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        files.sort();
        for file in files {
            match Cadence::load(&file, config) {
                Ok(c) => {
                    out.by_name.insert(c.name.clone(), c);
                }
                Err(e) => out.broken.push(e),
            }
        }
        out
    }

    pub fn get(&self, name: &str) -> Option<&Cadence> {
        self.by_name.get(name)
    }

    /// Loads the folder again for a running daemon: a file that no longer
    /// loads keeps its last good version (listed in `kept`, its errors in
    /// `broken`); a file that is gone is dropped, leaving its leads orphaned
    /// until it returns.
    pub fn reload(mut previous: Cadences, config: &(impl Setting + ?Sized)) -> (Cadences, Vec<String>) {
        let mut fresh = Cadences::load(config);
        let mut kept = Vec::new();
        for broken in &fresh.broken {
            let Some(stem) = broken.file.file_stem().map(|s| s.to_string_lossy().into_owned()) else { continue };
            if let Some(old) = previous.by_name.remove(&stem) {
                fresh.by_name.insert(stem.clone(), old);
                kept.push(stem);
            }
        }
        (fresh, kept)
    }

    /// Names of the cadences that loaded.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

impl Cadence {
    pub fn load(file: &Path, config: &(impl Setting + ?Sized)) -> Result<Cadence, FileErrors> {
        let source = std::fs::read_to_string(file).map_err(|e| FileErrors {
            file: file.to_path_buf(),
            errors: vec![SourceError::at(file, "", None, format!("cannot read cadence file: {e}"))],
        })?;
        Cadence::parse(file, &source, config)
    }
}
