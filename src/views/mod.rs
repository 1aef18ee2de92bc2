//! What the CLI and the HTTP side both show: a lead's status, and the
//! answer to a name that is not there, which always lists what is.

pub mod status;

use crate::cadence::Cadences;
use crate::config::Config;

/// `unknown cadence "x" (loaded: nurture, seven-touch)`.
pub fn unknown_cadence(cadences: &Cadences, name: &str) -> String {
    let names = cadences.names();
    if names.is_empty() {
        format!("unknown cadence {name:?}: no cadence is loaded (run `cadenced check`)")
    } else {
        format!("unknown cadence {name:?} (loaded: {})", names.join(", "))
    }
}

/// `unknown mailbox "x" (configured: sales, support)`.
pub fn unknown_mailbox(config: &Config, name: &str) -> String {
    let known: Vec<&str> = config.mailboxes.keys().map(String::as_str).collect();
    format!("unknown mailbox {name:?} (configured: {})", known.join(", "))
}
