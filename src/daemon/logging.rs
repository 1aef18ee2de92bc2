//! Where log lines go, chosen once at start-up:
//!
//! - **Under systemd** (`JOURNAL_STREAM` names the device and inode of
//!   stderr, so stderr is the journal's stream): each line is a journal
//!   entry with its priority and fields ([`super::journal`]). If journald's
//!   socket cannot be opened, each line goes to stderr with a `<N>`
//!   priority prefix instead, which journald's stream reads as the priority.
//!   The socket is `/run/systemd/journal/socket`; `CADENCED_JOURNAL_SOCKET`
//!   names another, which the tests use to receive the entries themselves.
//! - **Anywhere else** (a terminal, a file, a pipe): tracing's own format on
//!   stderr, with colours only on a terminal.
//!
//! `CADENCED_LOG` (an `EnvFilter`, e.g. `debug` or `cadenced=debug`)
//! overrides the level.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::journal::{self, Journal};

/// Where log lines went, as [`init_logging`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logging {
    /// Journal entries (or `<N>`-prefixed lines on the journal's stream).
    Journal,
    /// tracing's own format on stderr.
    Stderr,
}

/// Sets up logging at level `default` unless `CADENCED_LOG` says otherwise.
pub fn init_logging(default: &str) -> Logging {
    let filter = || EnvFilter::try_from_env("CADENCED_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    if !stderr_is_the_journal() {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let _ =
            tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).with_ansi(ansi).try_init();
        return Logging::Stderr;
    }
    let path =
        std::env::var_os("CADENCED_JOURNAL_SOCKET").map_or_else(|| PathBuf::from(journal::SOCKET), PathBuf::from);
    let (layer, unreachable) = match Journal::connect(&path) {
        Ok(layer) => (layer, None),
        Err(e) => (Journal::stderr(), Some(e)),
    };
    if tracing_subscriber::registry().with(filter()).with(layer).try_init().is_ok()
        && let Some(e) = unreachable
    {
        tracing::warn!("cannot open the journal socket {}: {e}; logging to stderr", path.display());
    }
    Logging::Journal
}

/// Whether `JOURNAL_STREAM` (`DEVICE:INODE`, set by systemd) names stderr.
/// A child that inherited the variable but not the stream does not match.
pub fn stderr_is_the_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else { return false };
    std::fs::File::from(fd).metadata().is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}
