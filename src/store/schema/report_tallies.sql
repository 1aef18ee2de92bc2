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
