//! What `report`, the dashboard and `/metrics` read: the tallies the
//! schema's triggers keep (see the last migration in [`super::schema`]),
//! enrollments per state, what is due, inbox reads, and
//! lead search. Nothing here scans the touchpoints; the one write is the
//! daily roll-up of quarter-hour tallies into day rows.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::core::report::{self, Buckets, DAY, Defined, Input, Period, QUARTER, Report, Tally, What};
use crate::model::State;
use crate::time::from_unix;

/// Active enrollments of a cadence whose next step is due by some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DueCount {
    pub due: u64,
    /// Of those, the ones due before the overdue line.
    pub overdue: u64,
}

impl Store {
    /// The report of `period` for the cadences `defined` (and any other with
    /// leads or history), of `only` that cadence when given; `mailboxes` are
    /// listed even when they sent nothing.
    pub fn report(
        &self,
        period: Period,
        defined: Vec<Defined>,
        only: Option<&str>,
        mailboxes: Vec<String>,
    ) -> Result<Report> {
        let buckets = period.buckets(self.tallies_rolled_until()?);
        let input = Input {
            defined,
            only: only.map(str::to_string),
            states: self.enrollment_states(only)?,
            tallies: self.tallies(&buckets)?,
            delays: self.reply_delays(&period)?,
            variant_tallies: self.variant_tallies(&buckets, only)?,
            winners: self.winners()?,
            mailboxes,
        };
        Ok(report::assemble(period, input))
    }

    /// The instant before which day rows hold the tallies (a UTC midnight).
    pub fn tallies_rolled_until(&self) -> Result<i64> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'tallies_days_until'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|t| t.parse().ok()).unwrap_or(i64::MIN))
    }

    /// Rolls the quarter-hour tallies of the days before `now`'s UTC day up
    /// into day rows, so that a report of many days reads one row per day.
    /// Cheap when done already today (one read); the triggers keep the day
    /// rows of rolled-up days up to date from then on.
    pub fn roll_up_tallies(&mut self, now: DateTime<Utc>) -> Result<()> {
        let today = now.timestamp().div_euclid(DAY) * DAY;
        if self.tallies_rolled_until()? >= today {
            return Ok(());
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rolled: Option<String> =
            tx.query_row("SELECT value FROM meta WHERE key = 'tallies_days_until'", [], |r| r.get(0)).optional()?;
        let from = rolled.and_then(|t| t.parse::<i64>().ok()).unwrap_or(i64::MIN);
        if from < today {
            tx.execute(
                "INSERT INTO tallies (span, start, cadence, step, mailbox, what, kind, n)
                 SELECT ?1, start - (start % ?1 + ?1) % ?1, cadence, step, mailbox, what, max(kind), sum(n)
                 FROM tallies WHERE span = ?2 AND start >= ?3 AND start < ?4
                 GROUP BY 2, cadence, step, mailbox, what
                 ON CONFLICT DO UPDATE SET n = n + excluded.n",
                params![DAY, QUARTER, from, today],
            )?;
            tx.execute(
                "INSERT INTO variant_tallies (span, start, cadence, step, variant, what, n, value)
                 SELECT ?1, start - (start % ?1 + ?1) % ?1, cadence, step, variant, what, sum(n), sum(value)
                 FROM variant_tallies WHERE span = ?2 AND start >= ?3 AND start < ?4
                 GROUP BY 2, cadence, step, variant, what
                 ON CONFLICT DO UPDATE SET n = n + excluded.n, value = value + excluded.value",
                params![DAY, QUARTER, from, today],
            )?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('tallies_days_until', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = ?1",
                [today.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The tallies of `buckets`, summed per cadence, step, mailbox and what.
    pub fn tallies(&self, buckets: &Buckets) -> Result<Vec<Tally>> {
        let none = (0, 0);
        let days = buckets.days.unwrap_or(none);
        let q1 = buckets.quarters.first().copied().unwrap_or(none);
        let q2 = buckets.quarters.get(1).copied().unwrap_or(none);
        let mut stmt = self.conn.prepare_cached(
            "SELECT cadence, step, mailbox, what, max(kind), sum(n) FROM tallies
             WHERE (span = ?1 AND start >= ?2 AND start < ?3)
                OR (span = ?4 AND start >= ?5 AND start < ?6)
                OR (span = ?4 AND start >= ?7 AND start < ?8)
             GROUP BY cadence, step, mailbox, what",
        )?;
        let rows = stmt.query_map(params![DAY, days.0, days.1, QUARTER, q1.0, q1.1, q2.0, q2.1], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (cadence, step, mailbox, what, kind, n) = row?;
            // A name this version does not know (written by a newer one) is left out, not guessed.
            let Some(what) = What::parse(&what) else { continue };
            if n > 0 {
                out.push(Tally { cadence, step, mailbox, what, kind, n: n.unsigned_abs() });
            }
        }
        Ok(out)
    }

    /// Seconds from each email of `period` that got a reply to its first
    /// reply: (cadence, step, seconds).
    pub fn reply_delays(&self, period: &Period) -> Result<Vec<(String, String, i64)>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT cadence, step, seconds FROM reply_delays WHERE at >= ?1 AND at < ?2")?;
        let rows = stmt.query_map(params![period.since.unwrap_or(i64::MIN), period.until], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Enrollments per cadence and state, now (of `cadence` only, when given),
    /// from the counts the schema's triggers keep.
    pub fn enrollment_states(&self, cadence: Option<&str>) -> Result<Vec<(String, State, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT cadence, state, n FROM enrollment_counts WHERE (?1 IS NULL OR cadence = ?1) AND n > 0",
        )?;
        let rows = stmt.query_map([cadence], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.unsigned_abs())))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Per cadence, the active enrollments whose next step is due before
    /// `until`, and how many of them were due before `overdue_before`.
    pub fn due_counts(
        &self,
        from: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
        overdue_before: DateTime<Utc>,
    ) -> Result<Vec<(String, DueCount)>> {
        let mut stmt = self.conn.prepare_cached(
            // Answered from the due index alone.
            "SELECT cadence, count(*), sum(next_due_at < ?3) FROM enrollments
             WHERE state = 'active' AND next_due_at >= ?1 AND next_due_at < ?2
             GROUP BY cadence",
        )?;
        let from = from.map_or(i64::MIN, |t| t.timestamp());
        let rows = stmt.query_map(params![from, until.timestamp(), overdue_before.timestamp()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                DueCount { due: r.get::<_, i64>(1)?.unsigned_abs(), overdue: r.get::<_, i64>(2)?.unsigned_abs() },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// When each watched inbox was last read completely.
    pub fn inbox_reads(&self) -> Result<Vec<(String, DateTime<Utc>)>> {
        let mut stmt = self.conn.prepare_cached("SELECT mailbox, checked_at FROM inbox_checks ORDER BY mailbox")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, from_unix(r.get(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Inbound messages per mailbox and kind, all time.
    pub fn inbound_kinds(&self) -> Result<Vec<(String, String, u64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT mailbox, kind, n FROM inbound_kinds WHERE n > 0 ORDER BY mailbox, kind")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.unsigned_abs())))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Bounces (inbound and refusals met while sending) per mailbox, blame
    /// (address, sender, passing) and reason, all time.
    pub fn bounce_reasons(&self) -> Result<Vec<(String, String, String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT mailbox, blame, reason, n FROM bounce_reasons WHERE n > 0 ORDER BY mailbox, blame, reason",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?.unsigned_abs())))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Up to `limit` leads whose address starts with `prefix` (any case), in
    /// address order, from the address index.
    pub fn search_leads(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        // A range on the case-insensitive address index: every address that
        // starts with `prefix` sorts between it and it followed by the last
        // code point.
        let prefix = prefix.trim();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT email FROM leads WHERE email >= ?1 AND email < ?2 ORDER BY email LIMIT ?3")?;
        let rows = stmt.query_map(params![prefix, format!("{prefix}{}", char::MAX), limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use rusqlite::params;

    use super::*;
    use crate::time::{from_unix, parse_instant};

    fn t(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db")).unwrap();
        (dir, store)
    }

    /// A small deterministic pseudo-random sequence.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    type Key = (String, String, String, String);

    /// What the tallies must say for `period`, counted from the rows themselves.
    fn counted(s: &Store, period: &Period) -> BTreeMap<Key, u64> {
        let (since, until) = (period.since.unwrap_or(i64::MIN), period.until);
        let mut out = BTreeMap::new();
        let queries = [
            // Touchpoints by status.
            "SELECT cadence, step, COALESCE(mailbox, ''), status, count(*) FROM touchpoints
             WHERE status <> 'sending' AND at >= ?1 AND at < ?2 GROUP BY 1, 2, 3, 4",
            // Emails by what their inbound messages say, once each.
            "SELECT t.cadence, t.step, COALESCE(t.mailbox, ''), w.what, count(DISTINCT t.id)
             FROM inbound o JOIN inbound_whats w ON w.kind = o.kind
               AND w.blame IN ('', COALESCE(o.blame, CASE WHEN o.permanent = 1 THEN 'address' ELSE 'passing' END))
             JOIN touchpoints t ON t.id = o.touchpoint_id
             WHERE t.at >= ?1 AND t.at < ?2 GROUP BY 1, 2, 3, 4",
            // Refusals.
            "SELECT cadence, step, mailbox, 'bounced_' || blame, count(*) FROM refusals
             WHERE blame IN ('address', 'sender') AND at >= ?1 AND at < ?2 GROUP BY 1, 2, 3, 4",
        ];
        for sql in queries {
            let mut stmt = s.conn.prepare(sql).unwrap();
            let rows = stmt
                .query_map(params![since, until], |r| {
                    Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get::<_, i64>(4)?))
                })
                .unwrap();
            for row in rows {
                let (key, n) = row.unwrap();
                *out.entry(key).or_default() += n.unsigned_abs();
            }
        }
        out.retain(|_, n| *n > 0);
        out
    }

    fn tallied(s: &Store, period: &Period) -> BTreeMap<Key, u64> {
        let buckets = period.buckets(s.tallies_rolled_until().unwrap());
        s.tallies(&buckets)
            .unwrap()
            .into_iter()
            .map(|t| ((t.cadence, t.step, t.mailbox, t.what.as_str().to_string()), t.n))
            .collect()
    }

    #[test]
    fn tallies_equal_a_count_of_the_rows_through_any_change() {
        let (_dir, mut s) = store();
        let base = t("2026-03-01T00:00:00Z").timestamp();
        // Nothing is rolled up at first (the migration rolled up to the real today).
        s.conn.execute("UPDATE meta SET value = ?1 WHERE key = 'tallies_days_until'", [base.to_string()]).unwrap();
        for lead in 1..=30 {
            s.conn
                .execute(
                    "INSERT INTO leads (id, email, created_at, updated_at) VALUES (?1, ?2, 0, 0)",
                    params![lead, format!("l{lead}@x.test")],
                )
                .unwrap();
            for (e, cadence) in ["a", "b"].iter().enumerate() {
                s.conn
                    .execute(
                        "INSERT INTO enrollments (id, lead_id, cadence, state, enrolled_at, updated_at)
                         VALUES (?1, ?2, ?3, 'active', 0, 0)",
                        params![lead * 2 + e as i64, lead, cadence],
                    )
                    .unwrap();
            }
        }
        let statuses = ["sending", "sent", "failed", "uncertain", "skipped", "open", "done"];
        let kinds = ["reply", "auto_reply", "bounce", "unsubscribe", "complaint", "other"];
        let blames = [None, Some("address"), Some("sender"), Some("passing")];
        let steps = ["s1", "s2", "s3"];
        let mut rng = Rng(7);
        let mut next_touchpoint: i64 = 1;
        let mut uid: i64 = 1;
        for round in 0..600 {
            let at = base + rng.below(6 * 86_400) as i64;
            match rng.below(10) {
                0..=3 => {
                    let lead = 1 + rng.below(30) as i64;
                    let e = rng.below(2) as i64;
                    let step = steps[rng.below(3) as usize];
                    let email = rng.below(4) > 0;
                    let mailbox = if email { Some(["sales", "ops"][rng.below(2) as usize]) } else { None };
                    let status = statuses[rng.below(7) as usize];
                    s.conn
                        .execute(
                            "INSERT INTO touchpoints (id, enrollment_id, lead_id, cadence, step, kind, status, at, mailbox)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
                            params![
                                next_touchpoint,
                                lead * 2 + e,
                                lead,
                                ["a", "b"][e as usize],
                                step,
                                if email { "email" } else { "call" },
                                status,
                                at,
                                mailbox
                            ],
                        )
                        .unwrap();
                    next_touchpoint += 1;
                }
                4 | 5 => {
                    let id = 1 + rng.below(next_touchpoint.unsigned_abs()) as i64;
                    let status = statuses[rng.below(7) as usize];
                    let moved = if rng.below(3) == 0 { at } else { -1 };
                    s.conn
                        .execute(
                            "UPDATE touchpoints SET status = ?2, at = CASE WHEN ?3 < 0 THEN at ELSE ?3 END WHERE id = ?1",
                            params![id, status, moved],
                        )
                        .unwrap();
                }
                6 => {
                    let id = 1 + rng.below(next_touchpoint.unsigned_abs()) as i64;
                    s.conn.execute("DELETE FROM touchpoints WHERE id = ?1", [id]).unwrap();
                }
                7 | 8 => {
                    // Inbound mail answers emails that exist.
                    let touchpoint = (rng.below(5) > 0 && next_touchpoint > 1)
                        .then(|| 1 + rng.below((next_touchpoint - 1).unsigned_abs()) as i64);
                    let kind = kinds[rng.below(6) as usize];
                    let blame = blames[rng.below(4) as usize];
                    s.conn
                        .execute(
                            "INSERT INTO inbound (mailbox, folder, uidvalidity, uid, kind, permanent, at, touchpoint_id, blame)
                             VALUES ('sales', 'INBOX', 1, ?1, ?2, ?3, ?4, ?5, ?6)",
                            params![uid, kind, rng.below(2) as i64, at, touchpoint, blame],
                        )
                        .unwrap();
                    uid += 1;
                }
                _ => match rng.below(5) {
                    0 => {
                        let id = 1 + rng.below(uid.unsigned_abs()) as i64;
                        s.conn.execute("DELETE FROM inbound WHERE uid = ?1", [id]).unwrap();
                    }
                    1 => {
                        let id = 1 + rng.below(uid.unsigned_abs()) as i64;
                        let kind = kinds[rng.below(6) as usize];
                        let touchpoint = 1 + rng.below((next_touchpoint - 1).max(1).unsigned_abs()) as i64;
                        s.conn
                            .execute(
                                "UPDATE inbound SET kind = ?2, touchpoint_id = ?3, blame = ?4 WHERE uid = ?1",
                                params![id, kind, touchpoint, blames[rng.below(4) as usize]],
                            )
                            .unwrap();
                    }
                    2 => {
                        let blame = ["address", "sender", "passing"][rng.below(3) as usize];
                        s.conn
                            .execute(
                                "INSERT INTO refusals (mailbox, lead_id, cadence, step, at, reason, blame, reply)
                                 VALUES ('sales', 1, 'a', ?1, ?2, 'blocked', ?3, '550 no')",
                                params![steps[rng.below(3) as usize], at, blame],
                            )
                            .unwrap();
                    }
                    3 => {
                        let lead = 1 + rng.below(30) as i64;
                        let state = ["active", "paused", "replied", "bounced", "finished"][rng.below(5) as usize];
                        s.conn
                            .execute("UPDATE enrollments SET state = ?2 WHERE id = ?1", params![lead * 2, state])
                            .unwrap();
                    }
                    _ => s.roll_up_tallies(from_unix(base + (round as i64 / 100) * 86_400)).unwrap(),
                },
            }
        }
        assert!(s.tallies_rolled_until().unwrap() > base, "some days were rolled up");
        let periods = [
            Period::new(None, from_unix(base + 7 * 86_400)),
            Period::new(Some(from_unix(base + 86_400)), from_unix(base + 3 * 86_400)),
            Period::new(Some(from_unix(base + 3600 + 1800)), from_unix(base + 4 * 86_400 + 6 * 3600)),
            Period::new(Some(from_unix(base + 5 * 86_400 + 900)), from_unix(base + 5 * 86_400 + 7200)),
        ];
        assert!(counted(&s, &periods[0]).len() > 50, "the sequence made a varied history");
        for period in &periods {
            let expected = counted(&s, period);
            let got = tallied(&s, period);
            let differ: Vec<_> = expected
                .keys()
                .chain(got.keys())
                .filter(|k| expected.get(*k) != got.get(*k))
                .map(|k| (k, expected.get(k), got.get(k)))
                .collect();
            assert!(differ.is_empty(), "{period:?}: (key, counted, tallied): {differ:?}");
        }
        // The first reply to each email, and bounces by reason, from the rows too.
        let delays: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM (SELECT t.id, max(min(o.at) - t.at, 0) AS d FROM inbound o
                 JOIN touchpoints t ON t.id = o.touchpoint_id WHERE o.kind = 'reply' GROUP BY t.id) x
                 JOIN reply_delays r ON r.touchpoint_id = x.id AND r.seconds = x.d",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let replied: i64 = s
            .conn
            .query_row(
                "SELECT count(DISTINCT o.touchpoint_id) FROM inbound o JOIN touchpoints t ON t.id = o.touchpoint_id
                 WHERE o.kind = 'reply'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let stored: i64 = s.conn.query_row("SELECT count(*) FROM reply_delays", [], |r| r.get(0)).unwrap();
        assert_eq!((delays, stored), (replied, replied));
        let kinds_ok: bool = s
            .conn
            .query_row(
                "SELECT NOT EXISTS (SELECT mailbox, kind, count(*) FROM inbound GROUP BY 1, 2
                                    EXCEPT SELECT mailbox, kind, n FROM inbound_kinds WHERE n > 0)
                    AND NOT EXISTS (SELECT mailbox, kind, n FROM inbound_kinds WHERE n > 0
                                    EXCEPT SELECT mailbox, kind, count(*) FROM inbound GROUP BY 1, 2)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(kinds_ok, "inbound_kinds counts the inbound table");
        let mut states: Vec<(String, String, u64)> =
            s.enrollment_states(None).unwrap().into_iter().map(|(c, st, n)| (c, st.as_str().to_string(), n)).collect();
        states.sort();
        let counted: Vec<(String, String, u64)> = s
            .conn
            .prepare("SELECT cadence, state, count(*) FROM enrollments GROUP BY 1, 2 ORDER BY 1, 2")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.unsigned_abs())))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(states, counted);
        assert!(states.len() > 3, "states changed: {states:?}");
    }

    #[test]
    fn a_report_reads_the_period_and_the_states_now() {
        let (_dir, mut s) = store();
        s.conn
            .execute_batch(
                "INSERT INTO leads (id, email, created_at, updated_at) VALUES (1, 'a@x.test', 0, 0), (2, 'b@x.test', 0, 0);
                 INSERT INTO enrollments (id, lead_id, cadence, state, enrolled_at, updated_at)
                     VALUES (1, 1, 'c', 'active', 0, 0), (2, 2, 'c', 'replied', 0, 0);",
            )
            .unwrap();
        let day = |d: &str| t(&format!("2026-03-{d}T10:00:00Z")).timestamp();
        for (id, lead, step, at) in [(1, 1, "intro", day("02")), (2, 2, "intro", day("02")), (3, 2, "bump", day("04"))]
        {
            s.conn
                .execute(
                    "INSERT INTO touchpoints (id, enrollment_id, lead_id, cadence, step, kind, status, at, mailbox)
                     VALUES (?1, ?2, ?2, 'c', ?3, 'email', 'sent', ?4, 'sales')",
                    params![id, lead, step, at],
                )
                .unwrap();
        }
        s.conn
            .execute(
                "INSERT INTO inbound (mailbox, folder, uidvalidity, uid, lead_id, kind, at, touchpoint_id)
                 VALUES ('sales', 'INBOX', 1, 1, 2, 'reply', ?1, 3)",
                [day("04") + 5400],
            )
            .unwrap();
        s.roll_up_tallies(t("2026-03-05T00:00:00Z")).unwrap();
        let defined = vec![Defined {
            name: "c".into(),
            steps: vec![("intro".into(), "email".into()), ("bump".into(), "email".into())],
            tests: Vec::new(),
        }];
        let all = s.report(Period::new(None, t("2026-03-06T00:00:00Z")), defined.clone(), None, vec![]).unwrap();
        let c = &all.cadences[0];
        assert_eq!((c.enrolled, c.states["active"], c.states["replied"]), (2, 1, 1));
        assert_eq!((c.steps[0].sent, c.steps[1].sent, c.steps[1].replied), (2, 1, 1));
        assert_eq!(c.steps[1].median_hours_to_reply, Some(1.5));
        let third = s
            .report(Period::new(Some(t("2026-03-03T00:00:00Z")), t("2026-03-06T00:00:00Z")), defined, None, vec![])
            .unwrap();
        assert_eq!((third.cadences[0].steps[0].sent, third.cadences[0].steps[1].sent), (0, 1));
        assert_eq!(third.mailboxes[0].sent, 1);
        assert_eq!(s.due_counts(None, t("2026-03-06T00:00:00Z"), t("2026-03-06T00:00:00Z")).unwrap(), vec![]);
        assert_eq!(s.search_leads("A@", 5).unwrap(), ["a@x.test"]);
        assert_eq!(s.search_leads("x", 5).unwrap(), Vec::<String>::new());
    }
}
