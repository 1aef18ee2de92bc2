//! cadenced: a self-hosted follow-up cadence daemon.
//!
//! Cadences are TOML files ([`cadence`]); the daemon keeps every lead's state in
//! SQLite ([`store`]), works out when each step is due with a pure scheduling
//! core ([`schedule`]) that takes the clock as an argument, and sends due emails
//! through a mailbox's SMTP server or into an outbox folder ([`send`]). One pass
//! over everything due is a tick ([`dispatch`]); the daemon ([`daemon`]) runs
//! ticks on an interval until SIGTERM. The admin CLI ([`cli`]) calls the same
//! code, with `--at` standing in for the clock.

pub mod cadence;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dispatch;
pub mod forecast;
pub mod imap;
pub mod inbound;
pub mod intake;
pub mod location;
pub mod pacing;
pub mod plan;
pub mod react;
pub mod reminders;
pub mod schedule;
pub mod send;
pub mod store;
pub mod time;
