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
