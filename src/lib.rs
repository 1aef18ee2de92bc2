//! cadenced: a self-hosted follow-up cadence daemon.
//!
//! Read it top-down:
//!
//! * [`model`]: the domain's words (an enrollment's [`model::State`], a
//!   touchpoint's [`model::Status`], where a lead goes [`model::Next`], a
//!   [`model::DueStep`]), shared by the pure core and the store.
//! * [`schedule`] and [`time`]: PURE waits, send windows and calendars, and
//!   local wall-clock time to instants, which the model, the cadence files and
//!   the core all use.
//! * [`core`]: PURE rules over that model with the clock as an argument: when
//!   a step is due ([`core::plan`]), the mailbox's caps
//!   ([`core::pacing`]), what inbound mail does ([`core::react`]), owners'
//!   digests and the forecast.
//! * [`cadence`] and [`config`]: the files a user edits, read into checked
//!   values with `file:line:col` errors.
//! * [`store`]: every SQL statement, behind domain operations.
//! * [`send`] and [`imap`]: the mailbox's SMTP (or outbox) and IMAP sides;
//!   [`inbound`] classifies what the inbox receives.
//! * [`tick`]: one pass over everything due: gather the facts, decide, apply.
//! * [`daemon`]: ticks on an interval until SIGTERM; the clock's reader, with
//!   its [`http`] side (one-click unsubscribe, metrics, health, the API and
//!   the dashboard).
//! * [`views`]: what the CLI and the HTTP side both show.
//! * [`doctor`]: the DNS and TLS questions `cadenced doctor` asks (what
//!   the answers mean is [`core::doctor`]'s).
//! * [`cli`]: one file per subcommand, calling the same code with `--at`
//!   standing in for the clock.

pub mod cadence;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod dns;
pub mod doctor;
pub mod http;
pub mod imap;
pub mod inbound;
pub mod intake;
pub mod location;
pub mod model;
pub mod oauth;
pub mod preflight;
pub mod schedule;
pub mod send;
pub mod store;
pub mod tick;
pub mod time;
pub mod tls;
pub mod views;
