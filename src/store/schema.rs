//! Versioned migrations of the SQLite schema. Append new migrations; never edit
//! one that has shipped.

use rusqlite_migration::{M, Migrations};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE leads (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL COLLATE NOCASE UNIQUE,
    fields     TEXT NOT NULL DEFAULT '{}',   -- JSON object of strings
    timezone   TEXT,                         -- IANA name; NULL = the config's zone
    created_at INTEGER NOT NULL,             -- Unix seconds, UTC
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE enrollments (
    id          INTEGER PRIMARY KEY,
    lead_id     INTEGER NOT NULL REFERENCES leads(id),
    cadence     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN
                ('active', 'paused', 'finished', 'stopped', 'replied', 'bounced', 'unsubscribed')),
    step        TEXT,              -- id of the next step; NULL once finished
    next_due_at INTEGER,           -- when that step is due (UTC); NULL once finished
    reason      TEXT,              -- why next_due_at is later than planned (window, retry, ...)
    enrolled_at INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,   -- temporary failures of the next step
    last_error  TEXT,
    updated_at  INTEGER NOT NULL,
    UNIQUE (lead_id, cadence)
) STRICT;

-- A tick reads only what is due: active enrollments by due time.
CREATE INDEX enrollments_due ON enrollments (next_due_at) WHERE state = 'active';
CREATE INDEX enrollments_cadence_state ON enrollments (cadence, state);

CREATE TABLE touchpoints (
    id            INTEGER PRIMARY KEY,
    enrollment_id INTEGER NOT NULL REFERENCES enrollments(id),
    lead_id       INTEGER NOT NULL REFERENCES leads(id),
    cadence       TEXT NOT NULL,
    step          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN
                  ('sending', 'sent', 'skipped', 'failed', 'uncertain', 'open', 'done')),
    at            INTEGER NOT NULL,
    message_id    TEXT,
    subject       TEXT,
    body          TEXT,
    detail        TEXT,            -- server reply, skip reason, error
    -- One touchpoint per lead, cadence and step: a double send cannot be recorded.
    UNIQUE (lead_id, cadence, step)
) STRICT;
CREATE INDEX touchpoints_enrollment ON touchpoints (enrollment_id);
CREATE INDEX touchpoints_sending ON touchpoints (status) WHERE status = 'sending';
",
        ),
        // Calendars and pacing: why a step is later than planned, and sends per mailbox per day.
        M::up(
            r"
-- The plain planned time of the next step (previous step + wait): lateness and
-- fairness count from it, whatever window or pacing moved next_due_at to.
ALTER TABLE enrollments ADD COLUMN planned_at INTEGER;
UPDATE enrollments SET planned_at = next_due_at;
ALTER TABLE touchpoints ADD COLUMN mailbox TEXT;
ALTER TABLE touchpoints ADD COLUMN reason TEXT;
CREATE INDEX touchpoints_mailbox_at ON touchpoints (mailbox, at) WHERE mailbox IS NOT NULL;
",
        ),
        // Manual steps: owners, tasks that hold a cadence, and reminder digests.
        M::up(
            r"
ALTER TABLE enrollments ADD COLUMN owner TEXT;
-- The open blocking task the enrollment waits for (a touchpoint id).
ALTER TABLE enrollments ADD COLUMN task_id INTEGER;
ALTER TABLE touchpoints ADD COLUMN owner TEXT;
ALTER TABLE touchpoints ADD COLUMN closed_at INTEGER;
ALTER TABLE touchpoints ADD COLUMN note TEXT;
CREATE INDEX touchpoints_open ON touchpoints (owner, at) WHERE status = 'open';
CREATE INDEX enrollments_owner ON enrollments (owner);

CREATE TABLE digests (
    id         INTEGER PRIMARY KEY,
    owner      TEXT NOT NULL,
    slot_at    INTEGER NOT NULL,            -- the digest schedule's slot this digest is for
    status     TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'uncertain')),
    sent_at    INTEGER NOT NULL,
    mailbox    TEXT NOT NULL,
    message_id TEXT,
    tasks      INTEGER NOT NULL DEFAULT 0,
    detail     TEXT,
    -- One digest per owner and slot, also across restarts.
    UNIQUE (owner, slot_at)
) STRICT;
",
        ),
        // The inbox: what was read, what it did, and who must never get mail again.
        M::up(
            r"
CREATE TABLE imap_state (
    mailbox     TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,           -- every message up to it was handled
    PRIMARY KEY (mailbox, folder)
) STRICT;
CREATE TABLE inbox_checks (
    mailbox    TEXT PRIMARY KEY,
    checked_at INTEGER NOT NULL              -- the last complete read of all its folders
) STRICT;
CREATE TABLE inbound (
    id          INTEGER PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    lead_id     INTEGER REFERENCES leads(id),
    kind        TEXT NOT NULL,               -- reply, auto_reply, bounce, complaint, unsubscribe, other
    permanent   INTEGER,                     -- bounces
    at          INTEGER NOT NULL,
    subject     TEXT,
    message_id  TEXT,
    sender      TEXT,
    detail      TEXT,                        -- what it did
    -- Each message is handled once, also across restarts.
    UNIQUE (mailbox, folder, uidvalidity, uid)
) STRICT;
CREATE INDEX inbound_lead ON inbound (lead_id);
CREATE TABLE suppressions (
    email  TEXT PRIMARY KEY COLLATE NOCASE,
    reason TEXT NOT NULL,                    -- bounced, unsubscribed
    at     INTEGER NOT NULL
) STRICT;
CREATE INDEX touchpoints_message_id ON touchpoints (message_id) WHERE message_id IS NOT NULL;
-- An out-of-office pause ends by itself at this time.
ALTER TABLE enrollments ADD COLUMN resume_at INTEGER;
",
        ),
        // `leads --owner X --state Y` reads only the matching rows.
        M::up(
            r"
-- Owners are written lowercased; `leads --owner` compares them exactly, so make
-- sure no row says otherwise (lower() folds ASCII only, as the code does).
UPDATE enrollments SET owner = lower(owner) WHERE owner <> lower(owner);
DROP INDEX enrollments_owner;
CREATE INDEX enrollments_owner_state ON enrollments (owner, state);
",
        ),
        // Every send wrote two indexes at random places for the same thing: an
        // enrollment's touchpoints are found by (lead_id, cadence), the unique index.
        // A mailbox's sends of a day are counted from the index alone, and a
        // tick orders what is due (by planned time, for its cadences) from the
        // due index alone, without reading each enrollment.
        M::up(
            "DROP INDEX touchpoints_enrollment;
DROP INDEX touchpoints_mailbox_at;
CREATE INDEX touchpoints_mailbox_at ON touchpoints (mailbox, at, status) WHERE mailbox IS NOT NULL;
DROP INDEX enrollments_due;
CREATE INDEX enrollments_due ON enrollments (next_due_at, planned_at, cadence, state) WHERE state = 'active';",
        ),
        // Bounce reasons that protect the sender: what an inbound message
        // answers and why a bounce bounced; refusals met while sending; mailboxes
        // that paused themselves.
        M::up(
            r"
-- How the message was matched to its lead: message_id (it names an email we
-- sent), token (sent to the lead's unsubscribe address) or address.
ALTER TABLE inbound ADD COLUMN matched TEXT;
-- The email it answers or bounced (by Message-ID, else the lead's last email
-- in the cadence before it arrived), and that email's cadence and step.
ALTER TABLE inbound ADD COLUMN touchpoint_id INTEGER;
ALTER TABLE inbound ADD COLUMN cadence TEXT;
ALTER TABLE inbound ADD COLUMN step TEXT;
-- Bounces: why (the reference vocabulary: userunknown, blocked, ...) and who
-- it blames: address (dead), sender (the mailbox) or passing (trouble).
ALTER TABLE inbound ADD COLUMN reason TEXT;
ALTER TABLE inbound ADD COLUMN blame TEXT CHECK (blame IN ('address', 'sender', 'passing'));
-- A refusal met while sending: the server answered RCPT or DATA with a 5xx.
CREATE TABLE refusals (
    id      INTEGER PRIMARY KEY,
    mailbox TEXT NOT NULL,
    lead_id INTEGER NOT NULL REFERENCES leads(id),
    cadence TEXT NOT NULL,
    step    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    reason  TEXT NOT NULL,
    blame   TEXT NOT NULL CHECK (blame IN ('address', 'sender', 'passing')),
    reply   TEXT NOT NULL
) STRICT;
CREATE INDEX refusals_mailbox_at ON refusals (mailbox, at);
CREATE INDEX refusals_lead ON refusals (lead_id);
CREATE INDEX inbound_blame_at ON inbound (mailbox, at) WHERE blame IS NOT NULL;
-- A mailbox that paused itself (too many refusals aimed at it) until resumed.
CREATE TABLE mailbox_pauses (
    mailbox    TEXT PRIMARY KEY,
    paused_at  INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    resumed_at INTEGER                      -- NULL while paused
) STRICT;
",
        ),
        // Issue 16 (h-ux2): what each cadence looked like when its leads were
        // planned, for `check --plan` and the reload.
        M::up(
            r"
CREATE TABLE cadence_versions (
    id        INTEGER PRIMARY KEY,
    cadence   TEXT NOT NULL,
    loaded_at INTEGER NOT NULL,             -- when a tick or the daemon loaded it
    snapshot  TEXT NOT NULL                 -- JSON: steps, kinds, waits, window, texts
) STRICT;
CREATE INDEX cadence_versions_cadence ON cadence_versions (cadence, id);
",
        ),
        // Issue 16 (h-ux2): `cadenced log` reads what happened since a time.
        M::up(
            r"
-- Appended to in time order (a touchpoint is made at its time): cheap to keep.
CREATE INDEX touchpoints_at ON touchpoints (at);
CREATE INDEX touchpoints_closed_at ON touchpoints (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX inbound_at ON inbound (at);
",
        ),
        // Mail fed in by hand (`ingest`) and replies marked by hand (`mark`)
        // beside the inbox's; what ended an enrollment, when a person or a
        // colleague did (`stop_on = ["domain_reply"]`).
        M::up(
            r"
ALTER TABLE inbound ADD COLUMN source TEXT NOT NULL DEFAULT 'imap' CHECK (source IN ('imap', 'ingest', 'mark', 'web'));
CREATE INDEX inbound_message_id ON inbound (message_id) WHERE message_id IS NOT NULL;
ALTER TABLE enrollments ADD COLUMN ended_by TEXT;
",
        ),
        // `cadenced report`, the dashboard and /metrics: tallies per step and
        // time bucket, kept up to date by triggers in the same transaction as
        // the touchpoints, inbound messages and refusals they count, so that
        // reading them never scans those tables. Filled from what is there.
        M::up(REPORT_TALLIES),
        // Issue 19: a mailbox also pauses when its OAuth sign-in is lost;
        // `cadenced login` resumes only that kind of pause.
        M::up(
            r"
ALTER TABLE mailbox_pauses ADD COLUMN cause TEXT NOT NULL DEFAULT 'refusals' CHECK (cause IN ('refusals', 'sign_in'));
",
        ),
        // Issue 20: variants, holdouts and outcomes, and the tallies the
        // report compares them with.
        M::up(VARIANTS_AND_OUTCOMES),
        // Issue 21: a restored copy of the database is reconciled from each
        // mailbox's Sent folder (or outbox) before anything is sent.
        M::up(
            r"
-- One reconciliation of one mailbox: after a restore was noticed (the
-- mailbox is held until it is done or confirmed), or asked for by hand.
CREATE TABLE reconciliations (
    id          INTEGER PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    since       INTEGER NOT NULL,          -- the Sent folder is read from this time on
    why         TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'unreadable', 'done', 'confirmed')),
    finished_at INTEGER,
    found       INTEGER NOT NULL DEFAULT 0, -- cadenced's emails found there
    recorded    INTEGER NOT NULL DEFAULT 0, -- of them, sends the database lacked, recorded now
    detail      TEXT
) STRICT;
CREATE INDEX reconciliations_open ON reconciliations (mailbox) WHERE state IN ('pending', 'unreadable');
-- A database that was here before this migration is where it was: its first
-- start writes the send mark beside it instead of taking it for a restored copy.
INSERT INTO meta (key, value) VALUES ('send_mark_adopt', '1') ON CONFLICT DO NOTHING;
",
        ),
    ])
}

/// Issue 20. A touchpoint records the variant its lead got; a lead's reply
/// marks the touchpoint whose window it fell in (the lead's last touchpoint
/// in the cadence before it: from a step's time until the next step's), for
/// a holdout's lift; outcomes (meeting, won, lost) are credited to a
/// touchpoint. `variant_tallies` counts, per step and variant (`''` for a
/// step without variants, `':holdout'` for the leads held out), in the
/// buckets of the touchpoint's time as `tallies` does: `reached` (only
/// touchpoints with a variant or held out: the others are in `tallies`),
/// `replied` (emails answered, once each), `window_replied` (touchpoints
/// whose window got a reply), `meeting`, `won` and `lost` (with `value`, the
/// sum of their amounts). Inbound messages are only ever inserted, so only
/// their inserts are counted.
const VARIANTS_AND_OUTCOMES: &str = include_str!("schema/variants_and_outcomes.sql");

/// The report's tallies (see `core::report`): what each step's touchpoints
/// came to, per quarter hour, and per UTC day for the days before the
/// watermark `meta.tallies_days_until` (a period's whole days are read from
/// the day rows, its ends and the days since the watermark from the quarter
/// hours; [`crate::store::Store::roll_up_tallies`] moves the watermark).
///
/// A touchpoint counts under its status, except while `sending`; an inbound
/// message attributed to an email (`inbound.touchpoint_id`) counts that email
/// as replied, auto-replied, bounced (dead address or sender), unsubscribed
/// or complained about, once per email whatever the number of messages, in
/// the bucket of the email's own time; a refusal met while sending counts as
/// a bounce of its step. Every trigger undoes on UPDATE and DELETE what it
/// did on INSERT, so the tallies stay equal to a count of the rows.
///
/// What a send costs: one upsert of a quarter-hour row when its claim is
/// settled (a claim, `sending`, counts for nothing); day rows are written
/// only for the (rare) changes to touchpoints of days already rolled up.
const REPORT_TALLIES: &str = include_str!("schema/report_tallies.sql");

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
