//! PURE: the rules of cadenced over plain data, with the clock as an
//! argument. Nothing here reads a clock, a file, the database or the network:
//! the tick, the CLI and the tests call the same functions with the instants
//! they choose.
//!
//! * [`plan`]: where a lead goes next in its cadence.
//! * [`pacing`]: a mailbox's caps (`daily_limit`, `min_gap`).
//! * [`react`]: what an inbound message does to its lead.
//! * [`changes`]: what an edit of a cadence file does to the leads in flight.
//! * [`decide`]: what happens to one due step, and what a send's end comes to.
//! * [`reminders`]: owners' digests: when, and what they say.
//! * [`forecast`]: the load ahead, per mailbox and day.
//! * [`unsubscribe`]: per-lead unsubscribe tokens and addresses.
//! * [`report`]: which tallies make up a period; each step's funnel and rates.
//! * [`doctor`]: what `cadenced doctor` makes of a sending domain's MX, SPF,
//!   DKIM and DMARC records and of a mailbox's sending config.
//! * [`verify`]: the lead preflight: an address's syntax, role addresses, and
//!   what DNS answers about its domain come to (dead, disposable, unknown).
//! * [`restore`]: whether the database is a restored copy, and which emails
//!   found in a Sent folder are sends it lacks.

pub mod changes;
pub mod decide;
pub mod disposable;
pub mod doctor;
pub mod forecast;
pub mod freemail;
pub mod pacing;
pub mod plan;
pub mod react;
pub mod reminders;
pub mod report;
pub mod restore;
pub mod stats;
pub mod unsubscribe;
pub mod variants;
pub mod verify;
