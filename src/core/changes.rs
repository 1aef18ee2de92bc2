//! PURE: what an edit of a cadence file does to the leads in flight, before
//! and when it takes effect (`cadenced check --plan`, and the daemon's reload).
//!
//! The database keeps a [`Snapshot`] of each cadence as it was loaded (its
//! step ids, kinds, waits, window and texts): what its leads were planned
//! against. [`edits`] compares one with the file on disk; an [`Analysis`]
//! then takes the cadence's in-flight leads one at a time and tells where
//! each goes:
//!
//! * A lead waiting for a step that is gone is skipped on at that step's due
//!   time, exactly as the tick does it ([`plan::after_removed`]): it goes on
//!   at the first later step it has not had, planned from the skip.
//! * A lead waiting for a step whose timing changed (its wait or kind, the
//!   window, the calendar) is planned again from its last touch with the
//!   new cadence ([`plan::next`]); loading the edit writes that plan.
//! * Steps added, texts changed and other settings only need counting.
//!
//! No clock, no database: the caller hands in the leads, their touchpoints
//! and `now`.
//!
//! [`Snapshot`] and [`Edit`] live in `snapshot.rs`, the leads and where they
//! go in `moves.rs`, the reading of them in `analysis.rs`, and the plan in
//! words and JSON in `wording.rs`.
//!
//! [`plan::after_removed`]: crate::core::plan::after_removed
//! [`plan::next`]: crate::core::plan::next

mod analysis;
mod moves;
mod snapshot;
mod wording;

pub use analysis::{Analysis, CadencePlan, Change};
pub use moves::{Cause, Counts, InFlight, Move, Target, Touch};
pub use snapshot::{Edit, Snapshot, StepSnapshot, edits};
pub use wording::{Plan, grouped, span};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
