//! Property tests of the schedule.
//!
//! * `timeline_obeys_the_rules` (pure, no I/O): for random cadences, windows,
//!   zones, start instants (many of them just before a DST change) and
//!   calendars, every step `plan::timeline` (what `cadenced preview` prints)
//!   plans obeys the documented rules: never earlier than its wait allows,
//!   manual steps and window-less emails exactly at their wait, windowed emails
//!   on a window slot of a workday with no earlier such slot, times
//!   non-decreasing.
//! * `virtual_run_equals_preview` (real SQLite file and outbox folder): ticking
//!   the real dispatcher at each next due time produces exactly the preview's
//!   touchpoints, and a second tick at the same instant never adds anything.
//! * Plain regression tests for Australia/Lord_Howe and America/Santiago around
//!   their 2026 changes, with the expected instants written out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cadenced::cadence::{Cadence, Cadences, Fields};
use cadenced::config::Config;
use cadenced::core::plan;
use cadenced::intake::{self, LeadInput};
use cadenced::model::LeadTime;
use cadenced::schedule::{Calendar, Wait, Window};
use cadenced::store::Store;
use cadenced::tick::{self, Transports};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const ZONES: [&str; 8] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Asia/Kathmandu",
];

const WINDOWS: [Option<&str>; 7] = [
    None,
    Some("0 * 9-16 * * Mon-Fri"),
    Some("0 30 9 * * *"),
    Some("0 30 2 * * *"), // inside the spring-forward gap in several zones
    Some("0 30 1 * * *"), // inside the repeated autumn hour in several zones
    Some("0 0,30 8-11 * * Tue,Thu"),
    Some("0 */15 0-23 * * *"),
];

/// A UTC instant as (year, month, day, hour, minute).
type Ymdhm = (i32, u32, u32, u32, u32);

/// Every DST change of the zones above in 2026-2027 (UTC instant of the
/// change), as chrono-tz has them.
const TRANSITIONS: [(&str, Ymdhm); 20] = [
    ("America/New_York", (2026, 3, 8, 7, 0)),
    ("America/New_York", (2026, 11, 1, 6, 0)),
    ("America/New_York", (2027, 3, 14, 7, 0)),
    ("America/New_York", (2027, 11, 7, 6, 0)),
    ("Europe/Berlin", (2026, 3, 29, 1, 0)),
    ("Europe/Berlin", (2026, 10, 25, 1, 0)),
    ("Europe/Berlin", (2027, 3, 28, 1, 0)),
    ("Europe/Berlin", (2027, 10, 31, 1, 0)),
    ("Australia/Lord_Howe", (2026, 4, 4, 15, 0)), // 02:00 +11 -> 01:30 +10:30
    ("Australia/Lord_Howe", (2026, 10, 3, 15, 30)), // 02:00 +10:30 -> 02:30 +11 (Sun 2026-10-04)
    ("Australia/Lord_Howe", (2027, 4, 3, 15, 0)),
    ("Australia/Lord_Howe", (2027, 10, 2, 15, 30)),
    ("America/Santiago", (2026, 4, 5, 3, 0)), // Sat 24:00 -03 -> 23:00 -04 (23:00-24:00 twice)
    ("America/Santiago", (2026, 9, 6, 4, 0)), // Sun 00:00 -04 -> 01:00 -03 (00:00-01:00 missing)
    ("America/Santiago", (2027, 4, 4, 3, 0)),
    ("America/Santiago", (2027, 9, 5, 4, 0)),
    ("Pacific/Chatham", (2026, 4, 4, 14, 0)),
    ("Pacific/Chatham", (2026, 9, 26, 14, 0)),
    ("Pacific/Chatham", (2027, 4, 3, 14, 0)),
    ("Pacific/Chatham", (2027, 9, 25, 14, 0)),
];

const ALL_DAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn zone(name: &str) -> Tz {
    name.parse().unwrap()
}

fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

// ---- scenarios --------------------------------------------------------------

#[derive(Debug, Clone)]
struct StepSpec {
    wait: String,
    kind: &'static str,
}

/// One lead in one cadence: everything a test case is made of.
#[derive(Debug, Clone)]
struct Scenario {
    steps: Vec<StepSpec>,
    window: Option<&'static str>,
    zone: &'static str,
    start: DateTime<Utc>,
    workdays: Vec<Weekday>,
    holidays: Vec<NaiveDate>,
    /// The zone is the config's `timezone` and the lead has none of its own.
    zone_in_config: bool,
    /// The calendar is the lead's `calendar` field rather than the cadence's.
    calendar_on_lead: bool,
}

impl Scenario {
    fn tz(&self) -> Tz {
        zone(self.zone)
    }

    fn calendar(&self) -> Calendar {
        Calendar::new(&self.workdays, self.holidays.iter().copied()).unwrap()
    }

    fn has_windowed_email(&self) -> bool {
        self.window.is_some() && self.steps.iter().any(|s| s.kind == "email")
    }

    /// True when the window has no slot on any workday of the week (so a
    /// windowed email can never be planned).
    fn window_misses_every_workday(&self) -> bool {
        self.window.is_some_and(|w| !window_days(w).iter().any(|d| self.workdays.contains(d)))
    }

    fn config_toml(&self) -> String {
        let quoted = |items: Vec<String>| items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        let workdays = quoted(self.workdays.iter().map(|d| d.to_string()).collect());
        let holidays = quoted(self.holidays.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect());
        let zone = if self.zone_in_config { self.zone } else { "UTC" };
        format!(
            "database = \"c.db\"\ncadences = \"cadences\"\ntimezone = {zone:?}\n\n\
             [calendars.cal]\nworkdays = [{workdays}]\nholidays = [{holidays}]\n\n\
             [mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"outbox\"\n"
        )
    }

    fn cadence_toml(&self) -> String {
        let steps: Vec<(&str, &str)> = self.steps.iter().map(|s| (s.wait.as_str(), s.kind)).collect();
        cadence_toml(self.window, &steps, !self.calendar_on_lead)
    }

    fn fields(&self) -> Fields {
        let mut fields = first_name();
        if self.calendar_on_lead {
            fields.insert("calendar".into(), "cal".into());
        }
        fields
    }

    /// The zone the lead is enrolled with (`None`: the config's).
    fn lead_tz(&self) -> Option<&str> {
        if self.zone_in_config { None } else { Some(self.zone) }
    }
}

fn first_name() -> Fields {
    Fields::from([("first_name".to_string(), "Jane".to_string())])
}

/// Cadence text with steps `s0`, `s1`, ... whose templates use only
/// `first_name`; with `calendar = "cal"` when `calendar` is set.
fn cadence_toml(window: Option<&str>, steps: &[(&str, &str)], calendar: bool) -> String {
    let mut out = String::new();
    if let Some(w) = window {
        writeln!(out, "window = {w:?}").unwrap();
    }
    if calendar {
        out.push_str("calendar = \"cal\"\n");
    }
    for (i, (wait, kind)) in steps.iter().enumerate() {
        writeln!(out, "\n[[steps]]\nid = \"s{i}\"\nwait = {wait:?}\nkind = {kind:?}").unwrap();
        if *kind == "email" {
            writeln!(out, "subject = \"Step {i} for {{{{ first_name }}}}\"").unwrap();
        } else {
            // The properties are about the plain schedule: a task opens and the cadence goes on.
            out.push_str("blocking = false\n");
        }
        writeln!(out, "body = \"Hello {{{{ first_name }}}}, step {i}.\"").unwrap();
    }
    out
}

/// The days of the week a window's day-of-week field allows.
fn window_days(window: &str) -> Vec<Weekday> {
    match window.split_whitespace().nth(5) {
        Some("Mon-Fri") => ALL_DAYS[..5].to_vec(),
        Some("Tue,Thu") => vec![Weekday::Tue, Weekday::Thu],
        Some("*") => ALL_DAYS.to_vec(),
        other => panic!("window_days: add {other:?}"),
    }
}

fn wait_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![0u32, 1, 15, 30, 59, 90, 600, 1439]).prop_map(|n| format!("{n}m")),
        prop::sample::select(vec![0u32, 1, 2, 5, 23, 24, 25, 49]).prop_map(|n| format!("{n}h")),
        (0u32..=4).prop_map(|n| format!("{n}d")),
        (0u32..=2).prop_map(|n| format!("{n}w")),
        (0u32..=6).prop_map(|n| format!("{n}bd")),
    ]
}

fn step_strategy() -> impl Strategy<Value = StepSpec> {
    let kind = prop_oneof![6 => Just("email"), 1 => Just("call"), 1 => Just("task"), 1 => Just("linkedin")];
    (wait_strategy(), kind).prop_map(|(wait, kind)| StepSpec { wait, kind })
}

/// A zone and a start: anywhere in 2026-2027 in any zone, or up to a day
/// before one of the zone's DST changes.
fn start_strategy() -> impl Strategy<Value = (&'static str, DateTime<Utc>)> {
    let from = utc(2026, 1, 1, 0, 0).timestamp();
    let to = utc(2028, 1, 1, 0, 0).timestamp();
    prop_oneof![
        (prop::sample::select(ZONES.to_vec()), from..to)
            .prop_map(|(z, secs)| (z, DateTime::<Utc>::from_timestamp(secs, 0).unwrap())),
        (prop::sample::select(TRANSITIONS.to_vec()), 0i64..=86_400)
            .prop_map(|((z, (y, mo, d, h, mi)), before)| { (z, utc(y, mo, d, h, mi) - Duration::seconds(before)) }),
    ]
}

/// A random calendar: a non-empty set of workdays, and up to 12 holidays from
/// a few days before the start to three months after it.
fn calendar_strategy() -> impl Strategy<Value = (Vec<Weekday>, Vec<i64>)> {
    let workdays = (1u8..=127)
        .prop_map(|mask| ALL_DAYS.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, d)| *d).collect());
    (workdays, prop::collection::vec(-3i64..90, 0..=12))
}

fn scenario_strategy(max_steps: usize) -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(step_strategy(), 1..=max_steps),
        prop::sample::select(WINDOWS.to_vec()),
        start_strategy(),
        calendar_strategy(),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(|(steps, window, (zone, start), (workdays, offsets), (zone_in_config, calendar_on_lead))| {
            let first = start.date_naive();
            let mut holidays: Vec<NaiveDate> =
                offsets.iter().map(|o| first.checked_add_signed(Duration::days(*o)).unwrap()).collect();
            holidays.sort();
            holidays.dedup();
            Scenario { steps, window, zone, start, workdays, holidays, zone_in_config, calendar_on_lead }
        })
}

// ---- pure: the timeline obeys the rules -------------------------------------

/// A config and cadence parsed from text, with no file read or written.
fn parse_in_memory(s: &Scenario) -> (Config, Cadence) {
    let config = Config::parse(Path::new("/nonexistent/config.toml"), &s.config_toml()).unwrap();
    let cadence = Cadence::parse(Path::new("/nonexistent/cadences/p.toml"), &s.cadence_toml(), &config).unwrap();
    (config, cadence)
}

/// Whole-minute instants in `[from, to)`, at most `limit` from each end.
fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Vec<DateTime<Utc>> {
    let first = DateTime::<Utc>::from_timestamp((from.timestamp() + 59).div_euclid(60) * 60, 0).unwrap();
    let mut out = Vec::new();
    let mut m = first;
    while m < to && out.len() < limit as usize {
        out.push(m);
        m += Duration::minutes(1);
    }
    let mut m = DateTime::<Utc>::from_timestamp((to.timestamp() - 1).div_euclid(60) * 60, 0).unwrap();
    let mut back = 0;
    while m >= first && back < limit && out.last().is_some_and(|l| m > *l) {
        out.push(m);
        m -= Duration::minutes(1);
        back += 1;
    }
    out
}

fn check_timeline(s: &Scenario) -> Result<(), TestCaseError> {
    let (_config, cadence) = parse_in_memory(s);
    let tz = s.tz();
    let cal = s.calendar();
    let lead = LeadTime { tz, calendar: &cal };
    let plan = match plan::timeline(&cadence, s.start, lead) {
        Ok(plan) => plan,
        Err(why) => {
            prop_assert!(
                s.has_windowed_email() && s.window_misses_every_workday(),
                "timeline failed but the window has workday slots: {why}"
            );
            return Ok(());
        }
    };
    prop_assert!(
        !(s.has_windowed_email() && s.window_misses_every_workday()),
        "a windowed email was planned although the window has no workday slot: {plan:?}"
    );
    prop_assert_eq!(plan.len(), cadence.steps.len());
    let mut prev = s.start;
    for (p, step) in plan.iter().zip(&cadence.steps) {
        prop_assert_eq!(&p.step, &step.id);
        prop_assert_eq!(p.kind, step.kind.as_str());
        let planned = step.wait.after(prev, tz, &cal);
        prop_assert!(p.at >= planned, "step {} at {} is before its wait allows ({})", p.step, p.at, planned);
        prop_assert!(p.at >= prev, "step {} at {} is before the previous step ({})", p.step, p.at, prev);
        prop_assert_eq!(
            p.reason.is_none(),
            p.at == planned,
            "reason {:?} for {} (planned {})",
            p.reason,
            p.at,
            planned
        );
        match cadence.window_for(step) {
            None => prop_assert_eq!(p.at, planned, "step {} ({}) is not at its plain wait", p.step, p.kind),
            Some(window) => {
                prop_assert!(window.contains(p.at, tz), "email {} at {} is not a window slot", p.step, p.at);
                let day = local_date(p.at, tz);
                prop_assert!(cal.is_workday(day), "email {} at {} falls on non-workday {}", p.step, p.at, day);
                // No earlier workday slot between the plain wait and the due
                // time (checked a minute at a time near both ends).
                for m in minutes_between(planned, p.at, 90) {
                    prop_assert!(
                        !(window.contains(m, tz) && cal.is_workday(local_date(m, tz))),
                        "email {} at {} skips the earlier workday slot {} (planned {})",
                        p.step,
                        p.at,
                        m,
                        planned
                    );
                }
            }
        }
        prev = p.at;
    }
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    // No failure persistence: it would write a file next to this one.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn timeline_obeys_the_rules(s in scenario_strategy(6)) {
        check_timeline(&s)?;
    }
}

// ---- in process: a virtual-time run equals the preview ----------------------

const EMAIL: &str = "lead@buyer.test";

/// A project folder with a config, one cadence `p`, a database and an outbox.
struct Sandbox {
    dir: tempfile::TempDir,
    config: Config,
    cadences: Cadences,
    /// The lead's fields.
    fields: Fields,
}

impl Sandbox {
    fn new(config_toml: &str, cadence_toml: &str, fields: Fields) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cadences")).unwrap();
        std::fs::write(dir.path().join("cadences/p.toml"), cadence_toml).unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config_toml).unwrap();
        let config = Config::parse(&path, config_toml).unwrap();
        let cadences = Cadences::load(&config);
        assert!(cadences.broken.is_empty(), "{:?}", cadences.broken);
        Sandbox { dir, config, cadences, fields }
    }

    fn cadence(&self) -> &Cadence {
        self.cadences.get("p").unwrap()
    }

    fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    fn emls(&self) -> usize {
        match std::fs::read_dir(self.outbox()) {
            Ok(entries) => {
                entries.filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml")).count()
            }
            Err(_) => 0,
        }
    }

    /// The timeline `cadenced preview NAME --start START --tz ZONE` (plus
    /// `--calendar` for a lead with a `calendar` field) prints.
    fn preview(&self, tz_name: &str, start: DateTime<Utc>) -> Result<Vec<plan::Planned>, plan::TimelineError> {
        let lead = self.config.lead_time(self.cadence().calendar.as_deref(), Some(tz_name), &self.fields);
        plan::timeline(self.cadence(), start, lead)
    }

    /// Enrolls the lead (in zone `lead_tz`, or the config's) at `start`,
    /// then ticks at each next due time until the enrollment is no longer
    /// active, ticking twice at every instant.
    fn run(&self, lead_tz: Option<&str>, start: DateTime<Utc>) -> Run {
        let mut store = Store::open(&self.config.database).unwrap();
        let input = LeadInput { email: EMAIL.into(), fields: self.fields.clone(), timezone: lead_tz.map(Into::into) };
        let row = intake::prepare(&input, self.cadence(), &self.config, start).unwrap();
        store.enroll_many(&[row], start).unwrap();
        let mut transports = Transports::new();
        let stop = tick::Control::default();
        let mut ticks = Vec::new();
        let mut repeats_added = Vec::new();
        let state = loop {
            let lead = store.lead(EMAIL).unwrap().unwrap();
            let e = &lead.enrollments[0];
            if e.state.as_str() != "active" || ticks.len() >= 3 * self.cadence().steps.len() + 2 {
                break e.state.as_str().to_string();
            }
            let now = e.next_due_at.unwrap();
            tick::run(&mut store, &self.config, &self.cadences, &mut transports, now, &stop).unwrap();
            let touchpoints = store.lead(EMAIL).unwrap().unwrap().enrollments[0].touchpoints.len();
            let emls = self.emls();
            let again = tick::run(&mut store, &self.config, &self.cadences, &mut transports, now, &stop).unwrap();
            let touchpoints_after = store.lead(EMAIL).unwrap().unwrap().enrollments[0].touchpoints.len();
            if touchpoints_after != touchpoints || self.emls() != emls || again.sent + again.opened != 0 {
                repeats_added.push(format!(
                    "at {now}: touchpoints {touchpoints} -> {touchpoints_after}, .eml files {emls} -> {}, {again:?}",
                    self.emls()
                ));
            }
            ticks.push(now);
        };
        let lead = store.lead(EMAIL).unwrap().unwrap();
        let touchpoints = lead.enrollments[0]
            .touchpoints
            .iter()
            .map(|t| Touched {
                step: t.step.clone(),
                kind: t.kind.clone(),
                status: t.status.as_str().to_string(),
                at: t.at,
                reason: t.reason,
            })
            .collect();
        Run { state, ticks, touchpoints, emls: self.emls(), repeats_added }
    }
}

#[derive(Debug)]
struct Run {
    state: String,
    ticks: Vec<DateTime<Utc>>,
    touchpoints: Vec<Touched>,
    emls: usize,
    /// Ticks whose repetition at the same instant did something, described.
    repeats_added: Vec<String>,
}

/// One touchpoint as recorded.
#[derive(Debug)]
struct Touched {
    step: String,
    kind: String,
    status: String,
    at: DateTime<Utc>,
    reason: Option<cadenced::model::Reason>,
}

impl Run {
    fn steps_at(&self) -> Vec<(String, DateTime<Utc>)> {
        self.touchpoints.iter().map(|t| (t.step.clone(), t.at)).collect()
    }
}

fn steps_at(preview: &[plan::Planned]) -> Vec<(String, DateTime<Utc>)> {
    preview.iter().map(|p| (p.step.clone(), p.at)).collect()
}

/// Runs a lead in zone `tz_name` (given at enrollment when `tz_given`, else
/// the config's) from `start` and checks the run against the preview.
fn check_run(sandbox: &Sandbox, tz_name: &str, tz_given: bool, start: DateTime<Utc>) -> Result<Run, TestCaseError> {
    let preview = sandbox.preview(tz_name, start).map_err(|e| TestCaseError::fail(format!("preview failed: {e}")))?;
    let run = sandbox.run(tz_given.then_some(tz_name), start);
    prop_assert_eq!(&run.state, "finished", "run did not finish: {:?}", run);
    prop_assert_eq!(run.steps_at(), steps_at(&preview), "virtual run differs from preview; run {:?}", run);
    for (t, p) in run.touchpoints.iter().zip(&preview) {
        let want = if t.kind == "email" { "sent" } else { "open" };
        prop_assert_eq!(t.status.as_str(), want, "{} ({}) at {}", t.step, t.kind, t.at);
        prop_assert_eq!(t.kind.as_str(), p.kind, "kind of {}", t.step);
        // What status shows as the reason is what preview shows as "moved: ...".
        prop_assert_eq!(&t.reason, &p.reason, "reason of {} at {}", t.step, t.at);
    }
    let emails = preview.iter().filter(|p| p.kind == "email").count();
    prop_assert_eq!(run.emls, emails, ".eml files in the outbox");
    prop_assert!(
        run.repeats_added.is_empty(),
        "a second tick at the same instant did something: {:?}",
        run.repeats_added
    );
    prop_assert!(run.ticks.windows(2).all(|w| w[0] <= w[1]), "ticks went back in time: {:?}", run.ticks);
    Ok(run)
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn virtual_run_equals_preview(mut s in scenario_strategy(5)) {
        // Every windowed email must have a workday slot, or the lead is held.
        if let Some(w) = s.window.filter(|_| s.window_misses_every_workday()) {
            s.workdays.push(window_days(w)[0]);
        }
        let sandbox = Sandbox::new(&s.config_toml(), &s.cadence_toml(), s.fields());
        check_run(&sandbox, s.zone, s.lead_tz().is_some(), s.start)?;
    }
}

// ---- regressions: the zones of the issue, spelled out -----------------------

fn all_days_config(holidays: &[&str]) -> String {
    let holidays = holidays.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
    format!(
        "database = \"c.db\"\ncadences = \"cadences\"\ntimezone = \"UTC\"\n\n\
         [calendars.cal]\nworkdays = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\n\
         holidays = [{holidays}]\n\n\
         [mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"outbox\"\n"
    )
}

/// Runs `steps` for a lead in `tz_name` enrolled at `start`, checks the run
/// against the preview and both against `want` (UTC instants of s0, s1, ...).
fn regression(
    window: Option<&str>,
    steps: &[(&str, &str)],
    holidays: &[&str],
    tz_name: &str,
    start: DateTime<Utc>,
    want: &[DateTime<Utc>],
) {
    let sandbox = Sandbox::new(&all_days_config(holidays), &cadence_toml(window, steps, true), first_name());
    let preview = sandbox.preview(tz_name, start).unwrap();
    let want: Vec<(String, DateTime<Utc>)> = want.iter().enumerate().map(|(i, at)| (format!("s{i}"), *at)).collect();
    assert_eq!(steps_at(&preview), want, "preview");
    let run = check_run(&sandbox, tz_name, true, start).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.steps_at(), want, "virtual run");
}

#[test]
fn lord_howe_spring_forward_2026_10_04_preview_equals_run() {
    // Sun 2026-10-04 02:00 +10:30 jumps to 02:30 +11 (15:30Z on the 3rd):
    // 02:00-02:29 local does not exist.
    let tz = "Australia/Lord_Howe";
    regression(
        Some("0 */15 0-23 * * *"),
        &[
            ("0m", "email"),  // Sat 02:10 -> the 02:15 slot
            ("1d", "email"),  // Sun 02:15 is in the gap -> 02:30 +11, the gap's end
            ("0m", "email"),  // the 02:00 and 02:15 slots both mean 02:30: the same instant, once
            ("15m", "email"), // 02:45 +11
            ("1d", "call"),   // Mon 02:45 +11
            ("1bd", "task"),  // Tue 02:45
        ],
        &[],
        tz,
        utc(2026, 10, 2, 15, 40), // Sat 2026-10-03 02:10 +10:30
        &[
            utc(2026, 10, 2, 15, 45),
            utc(2026, 10, 3, 15, 30),
            utc(2026, 10, 3, 15, 30),
            utc(2026, 10, 3, 15, 45),
            utc(2026, 10, 4, 15, 45),
            utc(2026, 10, 5, 15, 45),
        ],
    );
    // The gap's slot of a daily window, reached by a d wait and by a bd wait
    // over a holiday.
    regression(
        Some("0 0 2 * * *"),
        &[("0m", "email"), ("1d", "email"), ("1bd", "email"), ("1d", "task")],
        &["2026-10-05"],
        tz,
        utc(2026, 10, 2, 15, 0), // Sat 2026-10-03 01:30 +10:30
        &[
            utc(2026, 10, 2, 15, 30), // Sat 02:00 +10:30
            utc(2026, 10, 3, 15, 30), // Sun 02:00 does not exist -> 02:30 +11
            utc(2026, 10, 6, 15, 0),  // Sun 02:30 + 1bd (Mon is a holiday) = Tue 02:30 -> Wed 02:00 +11
            utc(2026, 10, 7, 15, 0),  // Thu 02:00 +11
        ],
    );
}

#[test]
fn lord_howe_fall_back_2026_04_05_preview_equals_run() {
    // Sun 2026-04-05 02:00 +11 goes back to 01:30 +10:30 (15:00Z on the 4th):
    // 01:30-01:59 local happens twice; a slot in it fires once, the first time.
    regression(
        Some("0 */15 0-23 * * *"),
        &[
            ("1d", "email"),  // Sun 01:45 +11 (first pass)
            ("15m", "email"), // 01:30 +10:30 (second pass): its slots went by -> 02:00 +10:30
            ("0m", "call"),
            ("30m", "task"),
            ("1d", "email"),
        ],
        &[],
        "Australia/Lord_Howe",
        utc(2026, 4, 3, 14, 45), // Sat 2026-04-04 01:45 +11
        &[
            utc(2026, 4, 4, 14, 45),
            utc(2026, 4, 4, 15, 30),
            utc(2026, 4, 4, 15, 30),
            utc(2026, 4, 4, 16, 0),
            utc(2026, 4, 5, 16, 0),
        ],
    );
}

#[test]
fn santiago_2026_changes_preview_equals_run() {
    let tz = "America/Santiago";
    // Sat 2026-04-04 24:00 -03 goes back to 23:00 -04 (03:00Z on the 5th):
    // 23:00-23:59 on Saturday happens twice.
    regression(
        Some("0 0,30 * * * *"),
        &[
            ("0m", "email"), // Sat 23:00 -03
            ("1h", "email"), // 23:00 -04 (second pass): its slots went by -> Sun 00:00 -04
            ("1d", "email"), // Mon 00:00 -04
            ("1d", "call"),
        ],
        &[],
        tz,
        utc(2026, 4, 5, 1, 50), // Sat 2026-04-04 22:50 -03
        &[utc(2026, 4, 5, 2, 0), utc(2026, 4, 5, 4, 0), utc(2026, 4, 6, 4, 0), utc(2026, 4, 7, 4, 0)],
    );
    // Sun 2026-09-06 00:00 -04 jumps to 01:00 -03 (04:00Z): the day starts at 01:00.
    regression(
        Some("0 0,30 * * * *"),
        &[
            ("10m", "email"), // Sat 23:50 -> Sun 00:00, which is 01:00 -03
            ("0m", "email"),  // the 00:30 slot is the same instant
            ("1d", "task"),   // Mon 01:00 -03
        ],
        &[],
        tz,
        utc(2026, 9, 6, 3, 40), // Sat 2026-09-05 23:40 -04
        &[utc(2026, 9, 6, 4, 0), utc(2026, 9, 6, 4, 0), utc(2026, 9, 7, 4, 0)],
    );
    // A d wait and a bd wait landing in the missing hour, with no window.
    regression(
        None,
        &[("1d", "call"), ("0m", "email"), ("1bd", "email")],
        &["2026-09-07"],
        tz,
        utc(2026, 9, 5, 4, 30), // Sat 2026-09-05 00:30 -04
        &[
            utc(2026, 9, 6, 4, 0), // Sun 00:30 does not exist -> 01:00 -03
            utc(2026, 9, 6, 4, 0), // at once
            utc(2026, 9, 8, 4, 0), // Sun 01:00 + 1bd (Mon is a holiday) = Tue 01:00 -03
        ],
    );
}

/// The schedule primitives on their own, at the same changes.
#[test]
fn window_and_wait_at_the_issue_changes() {
    let lh = zone("Australia/Lord_Howe");
    let every_day = Calendar::new(&ALL_DAYS, []).unwrap();
    let gap: Window = "0 15 2 * * *".parse().unwrap();
    assert_eq!(gap.next_slot(utc(2026, 10, 3, 10, 0), lh, &every_day), Some(utc(2026, 10, 3, 15, 30)));
    assert!(gap.contains(utc(2026, 10, 3, 15, 30), lh));
    let wait: Wait = "1d".parse().unwrap();
    assert_eq!(wait.after(utc(2026, 10, 2, 15, 45), lh, &every_day), utc(2026, 10, 3, 15, 30));
    let santiago = zone("America/Santiago");
    let midnight: Window = "0 0 0 * * *".parse().unwrap();
    assert_eq!(midnight.next_slot(utc(2026, 9, 6, 1, 0), santiago, &every_day), Some(utc(2026, 9, 6, 4, 0)));
    assert_eq!(local_date(utc(2026, 9, 6, 4, 0), santiago), date(2026, 9, 6));
    assert_eq!(utc(2026, 9, 6, 4, 0).with_timezone(&santiago).hour(), 1);
}
