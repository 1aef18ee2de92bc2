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
const VARIANTS_AND_OUTCOMES: &str = r"
ALTER TABLE touchpoints ADD COLUMN variant TEXT;
-- When the first reply in this touchpoint's window came (see above).
ALTER TABLE touchpoints ADD COLUMN window_reply INTEGER;

CREATE TABLE outcomes (
    id            INTEGER PRIMARY KEY,
    lead_id       INTEGER NOT NULL REFERENCES leads(id),
    outcome       TEXT NOT NULL CHECK (outcome IN ('meeting', 'won', 'lost')),
    value         REAL,
    at            INTEGER NOT NULL,
    note          TEXT,
    source        TEXT NOT NULL CHECK (source IN ('cli', 'api')),
    -- The touchpoint it is credited to: the email the lead replied to, else
    -- the last touch before it; NULL when the lead had none.
    touchpoint_id INTEGER REFERENCES touchpoints(id),
    cadence       TEXT,
    step          TEXT,
    variant       TEXT,
    recorded_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX outcomes_lead ON outcomes (lead_id, at);
CREATE INDEX outcomes_at ON outcomes (at);

-- pick_winner: the variant every new lead gets at a step, since when.
CREATE TABLE winners (
    cadence TEXT NOT NULL,
    step    TEXT NOT NULL,
    variant TEXT NOT NULL,
    since   INTEGER NOT NULL,
    PRIMARY KEY (cadence, step)
) STRICT;

CREATE TABLE variant_tallies (
    span    INTEGER NOT NULL,
    start   INTEGER NOT NULL,
    cadence TEXT NOT NULL,
    step    TEXT NOT NULL,
    variant TEXT NOT NULL,
    what    TEXT NOT NULL,
    n       INTEGER NOT NULL,
    value   REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (span, start, cadence, step, variant, what)
) STRICT, WITHOUT ROWID;

-- The key a touchpoint is counted under.
CREATE VIEW touchpoint_variants (touchpoint_id, variant) AS
    SELECT id, COALESCE(variant, CASE WHEN reason = 'holdout' THEN ':holdout' ELSE '' END) FROM touchpoints;

CREATE TRIGGER variant_touchpoint_insert AFTER INSERT ON touchpoints
    WHEN NEW.status <> 'sending' AND (NEW.variant IS NOT NULL OR NEW.reason = 'holdout')
BEGIN
    INSERT INTO variant_tallies (span, start, cadence, step, variant, what, n)
    SELECT b.span, b.start, b.cadence, b.step, v.variant, 'reached', 1
    FROM touchpoint_buckets b JOIN touchpoint_variants v ON v.touchpoint_id = b.touchpoint_id
    WHERE b.touchpoint_id = NEW.id
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER variant_touchpoint_leave BEFORE UPDATE OF status, at, cadence, step, variant, reason ON touchpoints
    WHEN OLD.status <> 'sending' AND (OLD.variant IS NOT NULL OR OLD.reason = 'holdout')
     AND (OLD.status IS NOT NEW.status OR OLD.at IS NOT NEW.at OR OLD.cadence IS NOT NEW.cadence
          OR OLD.step IS NOT NEW.step OR OLD.variant IS NOT NEW.variant OR OLD.reason IS NOT NEW.reason)
BEGIN
    UPDATE variant_tallies SET n = n - 1
    WHERE what = 'reached' AND (span, start, cadence, step, variant) IN (
        SELECT b.span, b.start, b.cadence, b.step, v.variant
        FROM touchpoint_buckets b JOIN touchpoint_variants v ON v.touchpoint_id = b.touchpoint_id
        WHERE b.touchpoint_id = OLD.id);
END;
CREATE TRIGGER variant_touchpoint_enter AFTER UPDATE OF status, at, cadence, step, variant, reason ON touchpoints
    WHEN NEW.status <> 'sending' AND (NEW.variant IS NOT NULL OR NEW.reason = 'holdout')
     AND (OLD.status IS NOT NEW.status OR OLD.at IS NOT NEW.at OR OLD.cadence IS NOT NEW.cadence
          OR OLD.step IS NOT NEW.step OR OLD.variant IS NOT NEW.variant OR OLD.reason IS NOT NEW.reason)
BEGIN
    INSERT INTO variant_tallies (span, start, cadence, step, variant, what, n)
    SELECT b.span, b.start, b.cadence, b.step, v.variant, 'reached', 1
    FROM touchpoint_buckets b JOIN touchpoint_variants v ON v.touchpoint_id = b.touchpoint_id
    WHERE b.touchpoint_id = NEW.id
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER variant_touchpoint_delete BEFORE DELETE ON touchpoints
    WHEN OLD.status <> 'sending' AND (OLD.variant IS NOT NULL OR OLD.reason = 'holdout')
BEGIN
    UPDATE variant_tallies SET n = n - 1
    WHERE what = 'reached' AND (span, start, cadence, step, variant) IN (
        SELECT b.span, b.start, b.cadence, b.step, v.variant
        FROM touchpoint_buckets b JOIN touchpoint_variants v ON v.touchpoint_id = b.touchpoint_id
        WHERE b.touchpoint_id = OLD.id);
END;

-- A reply: the email it answers counts as replied for its variant (once per
-- email), and the touchpoint whose window it fell in as window_replied.
CREATE TRIGGER variant_reply_insert AFTER INSERT ON inbound WHEN NEW.kind = 'reply'
BEGIN
    INSERT INTO variant_tallies (span, start, cadence, step, variant, what, n)
    SELECT b.span, b.start, b.cadence, b.step, t.variant, 'replied', 1
    FROM touchpoint_buckets b JOIN touchpoints t ON t.id = b.touchpoint_id
    WHERE b.touchpoint_id = NEW.touchpoint_id AND t.variant IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM inbound o WHERE o.touchpoint_id = NEW.touchpoint_id AND o.kind = 'reply'
                      AND o.id <> NEW.id)
    ON CONFLICT DO UPDATE SET n = n + 1;
    UPDATE touchpoints SET window_reply = NEW.at
    WHERE id = (SELECT id FROM touchpoints
                WHERE lead_id = NEW.lead_id AND (NEW.cadence IS NULL OR cadence = NEW.cadence)
                  AND at <= NEW.at AND status <> 'sending'
                ORDER BY at DESC, id DESC LIMIT 1)
      AND window_reply IS NULL;
END;
CREATE TRIGGER variant_window_reply AFTER UPDATE OF window_reply ON touchpoints
    WHEN OLD.window_reply IS NULL AND NEW.window_reply IS NOT NULL
BEGIN
    INSERT INTO variant_tallies (span, start, cadence, step, variant, what, n)
    SELECT b.span, b.start, b.cadence, b.step, v.variant, 'window_replied', 1
    FROM touchpoint_buckets b JOIN touchpoint_variants v ON v.touchpoint_id = b.touchpoint_id
    WHERE b.touchpoint_id = NEW.id
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Outcomes count for the touchpoint they are credited to.
CREATE TRIGGER variant_outcome_insert AFTER INSERT ON outcomes WHEN NEW.touchpoint_id IS NOT NULL
BEGIN
    INSERT INTO variant_tallies (span, start, cadence, step, variant, what, n, value)
    SELECT b.span, b.start, b.cadence, b.step, v.variant, NEW.outcome, 1, COALESCE(NEW.value, 0)
    FROM touchpoint_buckets b JOIN touchpoint_variants v ON v.touchpoint_id = b.touchpoint_id
    WHERE b.touchpoint_id = NEW.touchpoint_id
    ON CONFLICT DO UPDATE SET n = n + 1, value = value + excluded.value;
END;
CREATE TRIGGER variant_outcome_delete AFTER DELETE ON outcomes WHEN OLD.touchpoint_id IS NOT NULL
BEGIN
    UPDATE variant_tallies SET n = n - 1, value = value - COALESCE(OLD.value, 0)
    WHERE what = OLD.outcome AND (span, start, cadence, step, variant) IN (
        SELECT b.span, b.start, b.cadence, b.step, v.variant
        FROM touchpoint_buckets b JOIN touchpoint_variants v ON v.touchpoint_id = b.touchpoint_id
        WHERE b.touchpoint_id = OLD.touchpoint_id);
END;
";

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
const REPORT_TALLIES: &str = r"
CREATE TABLE tallies (
    span    INTEGER NOT NULL,           -- 900: a quarter hour; 86400: a UTC day
    start   INTEGER NOT NULL,           -- the bucket's first second (Unix), a multiple of span
    cadence TEXT NOT NULL,
    step    TEXT NOT NULL,
    mailbox TEXT NOT NULL,              -- the email's mailbox; '' for manual steps
    what    TEXT NOT NULL,              -- sent, failed, ..., replied, bounced_address, ... (core::report::What)
    kind    TEXT NOT NULL,              -- the step's kind
    n       INTEGER NOT NULL,
    PRIMARY KEY (span, start, cadence, step, mailbox, what)
) STRICT, WITHOUT ROWID;
CREATE TABLE tally_spans (span INTEGER PRIMARY KEY) STRICT;
INSERT INTO tally_spans (span) VALUES (86400), (900);
-- Day rows hold every day before this instant (a UTC midnight).
INSERT INTO meta (key, value) VALUES ('tallies_days_until', CAST(CAST(strftime('%s', 'now') AS INTEGER) / 86400 * 86400 AS TEXT))
    ON CONFLICT (key) DO NOTHING;

-- What an inbound message says about the email it is attributed to. blame ''
-- matches any; a bounce without blame (recorded before blame existed) blames
-- the address when permanent.
CREATE TABLE inbound_whats (
    kind  TEXT NOT NULL,
    blame TEXT NOT NULL,
    what  TEXT NOT NULL,
    PRIMARY KEY (kind, blame, what)
) STRICT, WITHOUT ROWID;
INSERT INTO inbound_whats (kind, blame, what) VALUES
    ('reply', '', 'replied'), ('auto_reply', '', 'auto_reply'),
    ('bounce', 'address', 'bounced_address'), ('bounce', 'sender', 'bounced_sender'),
    ('unsubscribe', '', 'unsubscribed'), ('complaint', '', 'unsubscribed'), ('complaint', '', 'complaint');

-- The first reply to each answered email, for the median time to reply.
CREATE TABLE reply_delays (
    touchpoint_id INTEGER PRIMARY KEY,
    cadence       TEXT NOT NULL,
    step          TEXT NOT NULL,
    at            INTEGER NOT NULL,     -- the email's time
    seconds       INTEGER NOT NULL      -- from it to its first reply
) STRICT;
CREATE INDEX reply_delays_at ON reply_delays (at, cadence, step, seconds);

-- Enrollments per cadence and state, now: counting a million index entries
-- takes longer than a dashboard page may (one upsert per enrollment added,
-- and one per change of state).
CREATE TABLE enrollment_counts (
    cadence TEXT NOT NULL,
    state   TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (cadence, state)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER count_enrollment_insert AFTER INSERT ON enrollments
BEGIN
    INSERT INTO enrollment_counts VALUES (NEW.cadence, NEW.state, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER count_enrollment_update AFTER UPDATE OF state, cadence ON enrollments
    WHEN OLD.state IS NOT NEW.state OR OLD.cadence IS NOT NEW.cadence
BEGIN
    UPDATE enrollment_counts SET n = n - 1 WHERE cadence = OLD.cadence AND state = OLD.state;
    INSERT INTO enrollment_counts VALUES (NEW.cadence, NEW.state, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER count_enrollment_delete AFTER DELETE ON enrollments
BEGIN
    UPDATE enrollment_counts SET n = n - 1 WHERE cadence = OLD.cadence AND state = OLD.state;
END;
INSERT INTO enrollment_counts SELECT cadence, state, count(*) FROM enrollments GROUP BY 1, 2;

-- All time, for /metrics.
CREATE TABLE inbound_kinds (
    mailbox TEXT NOT NULL,
    kind    TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (mailbox, kind)
) STRICT, WITHOUT ROWID;
CREATE TABLE bounce_reasons (
    mailbox TEXT NOT NULL,
    blame   TEXT NOT NULL,
    reason  TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (mailbox, blame, reason)
) STRICT, WITHOUT ROWID;

CREATE INDEX inbound_touchpoint ON inbound (touchpoint_id) WHERE touchpoint_id IS NOT NULL;

-- Touchpoints: +1 under the new status, -1 under the old; the day row too
-- when the touchpoint's day is rolled up already.
CREATE TRIGGER tally_touchpoint_insert AFTER INSERT ON touchpoints WHEN NEW.status <> 'sending'
BEGIN
    INSERT INTO tallies VALUES (900, NEW.at - (NEW.at % 900 + 900) % 900, NEW.cadence, NEW.step,
                                COALESCE(NEW.mailbox, ''), NEW.status, NEW.kind, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tallies SELECT 86400, NEW.at - (NEW.at % 86400 + 86400) % 86400, NEW.cadence, NEW.step,
                               COALESCE(NEW.mailbox, ''), NEW.status, NEW.kind, 1
        WHERE NEW.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until')
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tally_touchpoint_leave AFTER UPDATE OF status, at, cadence, step, mailbox ON touchpoints
    WHEN OLD.status <> 'sending'
     AND (OLD.status IS NOT NEW.status OR OLD.at IS NOT NEW.at OR OLD.cadence IS NOT NEW.cadence
          OR OLD.step IS NOT NEW.step OR OLD.mailbox IS NOT NEW.mailbox)
BEGIN
    UPDATE tallies SET n = n - 1
        WHERE span = 900 AND start = OLD.at - (OLD.at % 900 + 900) % 900
          AND cadence = OLD.cadence AND step = OLD.step AND mailbox = COALESCE(OLD.mailbox, '') AND what = OLD.status;
    UPDATE tallies SET n = n - 1
        WHERE span = 86400 AND start = OLD.at - (OLD.at % 86400 + 86400) % 86400
          AND cadence = OLD.cadence AND step = OLD.step AND mailbox = COALESCE(OLD.mailbox, '') AND what = OLD.status
          AND OLD.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until');
END;
CREATE TRIGGER tally_touchpoint_enter AFTER UPDATE OF status, at, cadence, step, mailbox ON touchpoints
    WHEN NEW.status <> 'sending'
     AND (OLD.status IS NOT NEW.status OR OLD.at IS NOT NEW.at OR OLD.cadence IS NOT NEW.cadence
          OR OLD.step IS NOT NEW.step OR OLD.mailbox IS NOT NEW.mailbox)
BEGIN
    INSERT INTO tallies VALUES (900, NEW.at - (NEW.at % 900 + 900) % 900, NEW.cadence, NEW.step,
                                COALESCE(NEW.mailbox, ''), NEW.status, NEW.kind, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO tallies SELECT 86400, NEW.at - (NEW.at % 86400 + 86400) % 86400, NEW.cadence, NEW.step,
                               COALESCE(NEW.mailbox, ''), NEW.status, NEW.kind, 1
        WHERE NEW.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until')
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tally_touchpoint_delete AFTER DELETE ON touchpoints WHEN OLD.status <> 'sending'
BEGIN
    UPDATE tallies SET n = n - 1
        WHERE span = 900 AND start = OLD.at - (OLD.at % 900 + 900) % 900
          AND cadence = OLD.cadence AND step = OLD.step AND mailbox = COALESCE(OLD.mailbox, '') AND what = OLD.status;
    UPDATE tallies SET n = n - 1
        WHERE span = 86400 AND start = OLD.at - (OLD.at % 86400 + 86400) % 86400
          AND cadence = OLD.cadence AND step = OLD.step AND mailbox = COALESCE(OLD.mailbox, '') AND what = OLD.status
          AND OLD.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until');
END;

-- Inbound messages: an email counts as replied (...) once, however many
-- messages say so: +1 when the first such message comes, -1 when the last goes.
CREATE VIEW inbound_outcomes (id, touchpoint_id, what) AS
    SELECT o.id, o.touchpoint_id, w.what FROM inbound o JOIN inbound_whats w
        ON w.kind = o.kind
       AND w.blame IN ('', COALESCE(o.blame, CASE WHEN o.permanent = 1 THEN 'address' ELSE 'passing' END))
    WHERE o.touchpoint_id IS NOT NULL;
-- The buckets of touchpoint t's tallies: its quarter hour, and its day once rolled up.
CREATE VIEW touchpoint_buckets (touchpoint_id, span, start, cadence, step, mailbox, kind) AS
    SELECT t.id, s.span, t.at - (t.at % s.span + s.span) % s.span, t.cadence, t.step, COALESCE(t.mailbox, ''), t.kind
    FROM touchpoints t, tally_spans s
    WHERE s.span = 900 OR t.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until');
-- An email whose time, step or mailbox changes (a send settled after a crash)
-- takes what its inbound messages said along; one deleted takes it away.
CREATE TRIGGER tally_outcomes_leave BEFORE UPDATE OF at, cadence, step, mailbox ON touchpoints
    WHEN (OLD.at IS NOT NEW.at OR OLD.cadence IS NOT NEW.cadence OR OLD.step IS NOT NEW.step
          OR OLD.mailbox IS NOT NEW.mailbox)
     AND EXISTS (SELECT 1 FROM inbound WHERE touchpoint_id = OLD.id)
BEGIN
    UPDATE tallies SET n = n - 1
    WHERE (span, start, cadence, step, mailbox, what) IN (
        SELECT b.span, b.start, b.cadence, b.step, b.mailbox, w.what
        FROM touchpoint_buckets b, (SELECT DISTINCT what FROM inbound_outcomes WHERE touchpoint_id = OLD.id) w
        WHERE b.touchpoint_id = OLD.id);
END;
CREATE TRIGGER tally_outcomes_enter AFTER UPDATE OF at, cadence, step, mailbox ON touchpoints
    WHEN (OLD.at IS NOT NEW.at OR OLD.cadence IS NOT NEW.cadence OR OLD.step IS NOT NEW.step
          OR OLD.mailbox IS NOT NEW.mailbox)
     AND EXISTS (SELECT 1 FROM inbound WHERE touchpoint_id = NEW.id)
BEGIN
    INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
    SELECT b.span, b.start, b.cadence, b.step, b.mailbox, w.what, b.kind, 1
    FROM touchpoint_buckets b, (SELECT DISTINCT what FROM inbound_outcomes WHERE touchpoint_id = NEW.id) w
    WHERE b.touchpoint_id = NEW.id
    ON CONFLICT DO UPDATE SET n = n + 1;
    UPDATE reply_delays SET cadence = NEW.cadence, step = NEW.step, at = NEW.at,
           seconds = (SELECT max(min(o.at) - NEW.at, 0) FROM inbound o WHERE o.touchpoint_id = NEW.id AND o.kind = 'reply')
    WHERE touchpoint_id = NEW.id;
END;
CREATE TRIGGER tally_outcomes_delete BEFORE DELETE ON touchpoints
    WHEN EXISTS (SELECT 1 FROM inbound WHERE touchpoint_id = OLD.id)
BEGIN
    UPDATE tallies SET n = n - 1
    WHERE (span, start, cadence, step, mailbox, what) IN (
        SELECT b.span, b.start, b.cadence, b.step, b.mailbox, w.what
        FROM touchpoint_buckets b, (SELECT DISTINCT what FROM inbound_outcomes WHERE touchpoint_id = OLD.id) w
        WHERE b.touchpoint_id = OLD.id);
    DELETE FROM reply_delays WHERE touchpoint_id = OLD.id;
END;
CREATE TRIGGER tally_inbound_insert AFTER INSERT ON inbound WHEN NEW.touchpoint_id IS NOT NULL
BEGIN
    INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
    SELECT b.span, b.start, b.cadence, b.step, b.mailbox, w.what, b.kind, 1
    FROM touchpoint_buckets b, inbound_outcomes w
    WHERE b.touchpoint_id = NEW.touchpoint_id AND w.id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM inbound_outcomes o
                      WHERE o.touchpoint_id = NEW.touchpoint_id AND o.id <> NEW.id AND o.what = w.what)
    ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO reply_delays (touchpoint_id, cadence, step, at, seconds)
    SELECT t.id, t.cadence, t.step, t.at, max(NEW.at - t.at, 0) FROM touchpoints t
    WHERE t.id = NEW.touchpoint_id AND NEW.kind = 'reply'
    ON CONFLICT (touchpoint_id) DO UPDATE SET seconds = min(seconds, excluded.seconds);
END;
CREATE TRIGGER tally_inbound_delete BEFORE DELETE ON inbound WHEN OLD.touchpoint_id IS NOT NULL
BEGIN
    UPDATE tallies SET n = n - 1
    WHERE (span, start, cadence, step, mailbox, what) IN (
        SELECT b.span, b.start, b.cadence, b.step, b.mailbox, w.what
        FROM touchpoint_buckets b, inbound_outcomes w
        WHERE b.touchpoint_id = OLD.touchpoint_id AND w.id = OLD.id
          AND NOT EXISTS (SELECT 1 FROM inbound_outcomes o
                          WHERE o.touchpoint_id = OLD.touchpoint_id AND o.id <> OLD.id AND o.what = w.what));
    DELETE FROM reply_delays WHERE touchpoint_id = OLD.touchpoint_id AND OLD.kind = 'reply';
    INSERT INTO reply_delays (touchpoint_id, cadence, step, at, seconds)
    SELECT t.id, t.cadence, t.step, t.at, max(min(o.at) - t.at, 0)
    FROM touchpoints t JOIN inbound o ON o.touchpoint_id = t.id AND o.kind = 'reply' AND o.id <> OLD.id
    WHERE t.id = OLD.touchpoint_id AND OLD.kind = 'reply'
    GROUP BY t.id;
END;
-- An update is a delete of the old row and an insert of the new one.
CREATE TRIGGER tally_inbound_update_old BEFORE UPDATE OF touchpoint_id, kind, blame, permanent, at ON inbound
    WHEN OLD.touchpoint_id IS NOT NULL
BEGIN
    UPDATE tallies SET n = n - 1
    WHERE (span, start, cadence, step, mailbox, what) IN (
        SELECT b.span, b.start, b.cadence, b.step, b.mailbox, w.what
        FROM touchpoint_buckets b, inbound_outcomes w
        WHERE b.touchpoint_id = OLD.touchpoint_id AND w.id = OLD.id
          AND NOT EXISTS (SELECT 1 FROM inbound_outcomes o
                          WHERE o.touchpoint_id = OLD.touchpoint_id AND o.id <> OLD.id AND o.what = w.what));
END;
CREATE TRIGGER tally_inbound_update_new AFTER UPDATE OF touchpoint_id, kind, blame, permanent, at ON inbound
BEGIN
    INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
    SELECT b.span, b.start, b.cadence, b.step, b.mailbox, w.what, b.kind, 1
    FROM touchpoint_buckets b, inbound_outcomes w
    WHERE b.touchpoint_id = NEW.touchpoint_id AND w.id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM inbound_outcomes o
                      WHERE o.touchpoint_id = NEW.touchpoint_id AND o.id <> NEW.id AND o.what = w.what)
    ON CONFLICT DO UPDATE SET n = n + 1;
    DELETE FROM reply_delays WHERE touchpoint_id IN (OLD.touchpoint_id, NEW.touchpoint_id);
    INSERT INTO reply_delays (touchpoint_id, cadence, step, at, seconds)
    SELECT t.id, t.cadence, t.step, t.at, max(min(o.at) - t.at, 0)
    FROM touchpoints t JOIN inbound o ON o.touchpoint_id = t.id AND o.kind = 'reply'
    WHERE t.id IN (OLD.touchpoint_id, NEW.touchpoint_id)
    GROUP BY t.id;
END;

-- Inbound messages by kind, and bounces by reason, all time (/metrics).
CREATE TRIGGER count_inbound_insert AFTER INSERT ON inbound
BEGIN
    INSERT INTO inbound_kinds VALUES (NEW.mailbox, NEW.kind, 1) ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO bounce_reasons
    SELECT NEW.mailbox, COALESCE(NEW.blame, CASE WHEN NEW.permanent = 1 THEN 'address' ELSE 'passing' END),
           COALESCE(NEW.reason, 'unknown'), 1
    WHERE NEW.kind = 'bounce'
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER count_inbound_delete AFTER DELETE ON inbound
BEGIN
    UPDATE inbound_kinds SET n = n - 1 WHERE mailbox = OLD.mailbox AND kind = OLD.kind;
    UPDATE bounce_reasons SET n = n - 1
    WHERE OLD.kind = 'bounce' AND mailbox = OLD.mailbox AND reason = COALESCE(OLD.reason, 'unknown')
      AND blame = COALESCE(OLD.blame, CASE WHEN OLD.permanent = 1 THEN 'address' ELSE 'passing' END);
END;
CREATE TRIGGER count_inbound_update AFTER UPDATE OF mailbox, kind, blame, permanent, reason ON inbound
BEGIN
    UPDATE inbound_kinds SET n = n - 1 WHERE mailbox = OLD.mailbox AND kind = OLD.kind;
    UPDATE bounce_reasons SET n = n - 1
    WHERE OLD.kind = 'bounce' AND mailbox = OLD.mailbox AND reason = COALESCE(OLD.reason, 'unknown')
      AND blame = COALESCE(OLD.blame, CASE WHEN OLD.permanent = 1 THEN 'address' ELSE 'passing' END);
    INSERT INTO inbound_kinds VALUES (NEW.mailbox, NEW.kind, 1) ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO bounce_reasons
    SELECT NEW.mailbox, COALESCE(NEW.blame, CASE WHEN NEW.permanent = 1 THEN 'address' ELSE 'passing' END),
           COALESCE(NEW.reason, 'unknown'), 1
    WHERE NEW.kind = 'bounce'
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Refusals met while sending: a bounce of their step, in their own time.
CREATE TRIGGER tally_refusal_insert AFTER INSERT ON refusals
BEGIN
    INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
    SELECT s.span, NEW.at - (NEW.at % s.span + s.span) % s.span, NEW.cadence, NEW.step, NEW.mailbox,
           'bounced_' || NEW.blame, 'email', 1
    FROM tally_spans s
    WHERE NEW.blame IN ('address', 'sender')
      AND (s.span = 900 OR NEW.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until'))
    ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO bounce_reasons VALUES (NEW.mailbox, NEW.blame, NEW.reason, 1) ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tally_refusal_delete AFTER DELETE ON refusals
BEGIN
    UPDATE tallies SET n = n - 1
    WHERE (span, start, cadence, step, mailbox, what) IN (
        SELECT s.span, OLD.at - (OLD.at % s.span + s.span) % s.span, OLD.cadence, OLD.step, OLD.mailbox,
               'bounced_' || OLD.blame
        FROM tally_spans s
        WHERE OLD.blame IN ('address', 'sender')
          AND (s.span = 900 OR OLD.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until')));
    UPDATE bounce_reasons SET n = n - 1 WHERE mailbox = OLD.mailbox AND blame = OLD.blame AND reason = OLD.reason;
END;

-- What is there already.
INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
SELECT b.span, b.start, b.cadence, b.step, b.mailbox, t.status, max(b.kind), count(*)
FROM touchpoints t JOIN touchpoint_buckets b ON b.touchpoint_id = t.id WHERE t.status <> 'sending'
GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
SELECT b.span, b.start, b.cadence, b.step, b.mailbox, e.what, max(b.kind), count(*)
FROM (SELECT DISTINCT touchpoint_id, what FROM inbound_outcomes) e JOIN touchpoint_buckets b
  ON b.touchpoint_id = e.touchpoint_id
WHERE true
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT DO UPDATE SET n = n + excluded.n;
INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
SELECT s.span, r.at - (r.at % s.span + s.span) % s.span, r.cadence, r.step, r.mailbox, 'bounced_' || r.blame,
       'email', count(*)
FROM refusals r, tally_spans s
WHERE r.blame IN ('address', 'sender')
  AND (s.span = 900 OR r.at < (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'tallies_days_until'))
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT DO UPDATE SET n = n + excluded.n;
INSERT INTO reply_delays (touchpoint_id, cadence, step, at, seconds)
SELECT t.id, t.cadence, t.step, t.at, max(min(o.at) - t.at, 0)
FROM touchpoints t JOIN inbound o ON o.touchpoint_id = t.id AND o.kind = 'reply'
GROUP BY t.id;
INSERT INTO inbound_kinds SELECT mailbox, kind, count(*) FROM inbound GROUP BY 1, 2;
INSERT INTO bounce_reasons (mailbox, blame, reason, n)
SELECT mailbox, blame, reason, sum(n) FROM (
    SELECT mailbox, COALESCE(blame, CASE WHEN permanent = 1 THEN 'address' ELSE 'passing' END) AS blame,
           COALESCE(reason, 'unknown') AS reason, 1 AS n
    FROM inbound WHERE kind = 'bounce'
    UNION ALL SELECT mailbox, blame, reason, 1 FROM refusals)
GROUP BY 1, 2, 3;
";

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
