//! Fuzz-style property tests (issue 7, item 6): no input file or message
//! panics the library; a bad file gets a clear error instead.
//!
//! Four targets, each a pure, in-process call with generated input, both
//! arbitrary and structure-aware (well-formed documents, then mutated; real
//! files, mutated):
//!
//! * `cadence_files`: `Cadence::parse`; on success also `plan::timeline` for
//!   random starts, zones and calendars, and `Templates::render` with random
//!   fields. An error is one `file:line:col: message` per line, line and col >= 1.
//! * `config_files`: `Config::parse`, same error shape.
//! * `csv_rows`: `intake::read_rows` with `intake::prepare` as the check: every
//!   record is either enrolled or reported with a line number >= 1 (or the
//!   whole file is refused: no header, no `email` column).
//! * `inbound_messages`: `inbound::classify` on arbitrary bytes, mutations of
//!   the bounce fixtures in `tests/fixtures/bounces`, and generated MIME.
//!
//! A short run is part of the test suite; `scripts/fuzz.sh` runs each target
//! for minutes. Environment:
//!
//! * `CADENCED_FUZZ_CASES`: cases per batch (default: a short run);
//! * `CADENCED_FUZZ_SECONDS`: keep running batches, each from a fresh seed,
//!   until this many seconds have passed (default 0: one batch);
//! * `CADENCED_FUZZ_SEED`: the first batch's seed, a number or `random`
//!   (default: a fixed seed for a single batch, so the suite is reproducible;
//!   random for a timed run). A failure names the seed and case count that
//!   reproduce it.
//! * `CADENCED_FUZZ_SKIP_KNOWN=1`: leave out the inputs of the known bugs that
//!   the regression tests at the end of this file pin down, to look for new
//!   ones while those are unfixed.
//!
//! Each target ends with one line on stderr, `fuzz TARGET: N cases in S s ...`
//! (shown with `--nocapture`). No failure-persistence files are written.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cadenced::cadence::{Cadence, Fields};
use cadenced::config::Config;
use cadenced::core::plan;
use cadenced::inbound;
use cadenced::intake::{self, LeadInput};
use cadenced::location::FileErrors;
use cadenced::model::LeadTime;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use indicatif::ProgressBar;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};

// ---- harness ----------------------------------------------------------------

fn env_var<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// `CADENCED_FUZZ_SKIP_KNOWN=1`: leave out the inputs of the bugs the
/// regression tests at the end already pin down, to look for new ones while
/// those are unfixed.
fn skip_known() -> bool {
    std::env::var("CADENCED_FUZZ_SKIP_KNOWN").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

/// The next seed of a sequence (splitmix64), so batches do not repeat.
fn next_seed(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `test` on values of `strategy`: one batch of `CADENCED_FUZZ_CASES`
/// (else `default_cases`) cases, repeated with fresh seeds until
/// `CADENCED_FUZZ_SECONDS` have passed. Panics with the shrunk input and the
/// reproducing seed on the first failure (a panic in the library included).
/// `test` names each case's outcome ("parsed", "rejected", ...); the summary
/// line counts them, to show what the generators reach.
fn fuzz<S>(
    target: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<&'static str, TestCaseError>,
) where
    S: Strategy,
    S::Value: fmt::Debug,
{
    let cases = env_var::<u32>("CADENCED_FUZZ_CASES").filter(|n| *n > 0).unwrap_or(default_cases);
    let seconds = env_var::<f64>("CADENCED_FUZZ_SECONDS").unwrap_or(0.0);
    // A short run (the test suite) is reproducible; a timed run explores.
    let first_seed = match std::env::var("CADENCED_FUZZ_SEED").ok().map(|s| s.trim().to_string()) {
        Some(s) if s == "random" => random_seed(),
        Some(s) => s.parse().unwrap_or_else(|_| panic!("CADENCED_FUZZ_SEED={s:?}: expected a number or `random`")),
        None if seconds > 0.0 => random_seed(),
        None => 0x00C0_FFEE,
    };
    let started = Instant::now();
    let ran = Cell::new(0u64);
    let slowest = Cell::new(Duration::ZERO);
    let outcomes = RefCell::new(BTreeMap::<&'static str, u64>::new());
    let mut seed = first_seed;
    let mut batches = 0u32;
    loop {
        let config = ProptestConfig {
            cases,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(seed),
            ..ProptestConfig::default()
        };
        let mut runner = TestRunner::new(config);
        let outcome = runner.run(&strategy, |value| {
            let t = Instant::now();
            let result = test(value);
            ran.set(ran.get() + 1);
            slowest.set(slowest.get().max(t.elapsed()));
            let outcome = result?;
            *outcomes.borrow_mut().entry(outcome).or_default() += 1;
            Ok(())
        });
        batches += 1;
        if let Err(e) = outcome {
            panic!(
                "fuzz {target}: {e}\n(after {} cases; CADENCED_FUZZ_SEED={seed} CADENCED_FUZZ_CASES={cases} reproduces it)",
                ran.get()
            );
        }
        if started.elapsed().as_secs_f64() >= seconds {
            break;
        }
        seed = next_seed(seed);
    }
    let outcomes: Vec<String> = outcomes.borrow().iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "fuzz {target}: {} cases in {:.1} s ({}; {batches} batches of {cases}, first seed {first_seed}, slowest case {} ms)",
        ran.get(),
        started.elapsed().as_secs_f64(),
        outcomes.join(", "),
        slowest.get().as_millis()
    );
}

/// Raw bytes, shown as an escaped byte string when a case fails.
#[derive(Clone, PartialEq, Eq)]
struct Bytes(Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\" ({} bytes)", self.0.escape_ascii(), self.0.len())
    }
}

/// Every line of a rejected file's error is `FILE:LINE:COL: MESSAGE`, FILE
/// under `root`, LINE and COL >= 1, MESSAGE not empty.
fn check_located(errors: &FileErrors, root: &str) -> Result<(), TestCaseError> {
    prop_assert!(!errors.errors.is_empty(), "an error without a problem");
    if skip_known() && errors.errors.iter().any(|e| e.message.contains(['\n', '\r'])) {
        // Known: names and paths are printed raw (see `error_messages_with_line_breaks_*`).
        return Ok(());
    }
    for e in &errors.errors {
        prop_assert!(e.line >= 1 && e.col >= 1, "location {}:{} in {e}", e.line, e.col);
    }
    let text = errors.to_string();
    // A carriage return counts as a line break too: on a terminal it overwrites the line.
    for line in text.split(['\n', '\r']) {
        let rest = line.strip_prefix(root);
        prop_assert!(rest.is_some(), "error line not under {root}: {line:?}\nwhole error:\n{text}");
        let rest = rest.unwrap_or_default();
        // The file name has no ':' (the tests choose it).
        let after_file = rest.split_once(':').map(|(_, r)| r).unwrap_or_default();
        let mut parts = after_file.splitn(3, ':');
        let ln = parts.next().and_then(|n| n.parse::<usize>().ok());
        let col = parts.next().and_then(|n| n.parse::<usize>().ok());
        let message = parts.next().unwrap_or_default();
        prop_assert!(
            matches!((ln, col), (Some(l), Some(c)) if l >= 1 && c >= 1)
                && message.starts_with(' ')
                && !message.trim().is_empty(),
            "error line not `file:line:col: message`: {line:?}\nwhole error:\n{text}"
        );
    }
    Ok(())
}

// ---- shared generators --------------------------------------------------------

const WEIRD: &[&str] = &[
    "\0",
    "\u{1}",
    "\u{8}",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "\u{b}",
    "\u{c}",
    "\u{1b}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{ad}",
    "\u{200b}",
    "\u{200d}",
    "\u{202e}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{fffd}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{10ffff}",
    "\u{e000}",
    "\u{301}",
    "\u{1f3fb}",
    "é",
    "ß",
    "İ",
    "ı",
    "ﬁ",
    "Ω",
    "😀",
    "👩\u{200d}👩\u{200d}👧",
    "日本語",
    "עברית",
    "\\",
    "\"",
    "'",
    "`",
    "$",
    "%",
    "{",
    "}",
    "[",
    "]",
    "#",
    "=",
    ",",
    ";",
    ":",
    "<",
    ">",
    "@",
    "..",
    "/",
    "~",
];

/// Short text: printable ASCII mostly, any character, odd Unicode, very long runs.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[ -~]{0,24}",
        2 => ".{0,16}",
        2 => vec(select(WEIRD), 0..8).prop_map(|v| v.concat()),
        1 => (select(&["a", "é", "😀", "{{", "\"", "\\", " ", "\n", "\r\n"][..]), 1usize..20_000)
            .prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

const GOOD_EMAILS: &[&str] = &[
    "a@b.test",
    "jane@acme.test",
    "Jane.Doe+tag@Acme.TEST",
    "rep@seller.test",
    "REP@SELLER.TEST",
    "\"quoted local\"@x.test",
    "a@[127.0.0.1]",
    "a@xn--bcher-kva.test",
];

const BAD_EMAILS: &[&str] = &[
    "",
    " ",
    "@",
    "a@",
    "@b.test",
    "a@b",
    "a b@c.test",
    "\"\"@x.test",
    "a@[IPv6:::1]",
    "a@[999.1.1.1]",
    "ü@ü.test",
    "a@b..test",
    "a@-b.test",
    "a@b.test\n",
    "a@b.test,c@d.test",
    "<a@b.test>",
    "Name <a@b.test>",
    "\"Name\" <a@b.test>",
    "a@b.test\0",
    "a@b.test\r\nBcc: x@y.test",
    "a@b.test.",
];

/// A valid address.
fn good_email() -> BoxedStrategy<String> {
    prop_oneof![
        1 => select(GOOD_EMAILS).prop_map(str::to_string),
        1 => ("[a-z0-9]{1,6}([._%+-][a-zA-Z0-9]{1,4}){0,2}", "[a-z0-9]{1,10}", select(&["test", "example", "com"][..]))
            .prop_map(|(l, d, t)| format!("{l}@{d}.{t}")),
    ]
    .boxed()
}

/// An address: mostly valid ones, then every kind of broken one.
fn email() -> BoxedStrategy<String> {
    prop_oneof![
        10 => good_email(),
        3 => select(BAD_EMAILS).prop_map(str::to_string),
        1 => ("[a-zA-Z0-9._%+-]{1,12}", "[a-z0-9-]{1,10}", select(&["test", "ü", ""][..]))
            .prop_map(|(l, d, t)| format!("{l}@{d}.{t}")),
        1 => (1usize..400).prop_map(|n| format!("{}@b.test", "x".repeat(n))),
        1 => (text(), text()).prop_map(|(l, d)| format!("{l}@{d}")),
        1 => text(),
    ]
    .boxed()
}

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "America/St_Johns",
    "Antarctica/Troll",
    "Africa/Casablanca",
    "Europe/Dublin",
];

const ODD_ZONES: &[&str] = &[
    "",
    " ",
    "utc",
    "Utc",
    " America/New_York ",
    "america/new_york",
    "EST5EDT",
    "Etc/GMT+14",
    "Etc/GMT-14",
    "Etc/GMT+15",
    "Mars/Olympus",
    "../../etc/passwd",
    "America/New_York\0",
    "GMT+1",
    "+05:00",
    "Z",
    "local",
    "America/Argentina/ComodRivadavia",
    "US/Pacific-New",
];

/// A zone name for a file or a CSV cell: valid, odd, any known one, or text.
fn zone_name() -> BoxedStrategy<String> {
    prop_oneof![
        8 => select(ZONES).prop_map(str::to_string),
        3 => any::<Index>().prop_map(|i| i.get(&chrono_tz::TZ_VARIANTS).name().to_string()),
        2 => select(ODD_ZONES).prop_map(str::to_string),
        1 => text(),
    ]
    .boxed()
}

fn zone() -> BoxedStrategy<Tz> {
    prop_oneof![
        2 => select(ZONES).prop_map(|z| z.parse::<Tz>().unwrap_or(Tz::UTC)),
        1 => any::<Index>().prop_map(|i| *i.get(&chrono_tz::TZ_VARIANTS)),
    ]
    .boxed()
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: what RFC 3339 (`--at`, `--start`) can say.
const MIN_TS: i64 = -62_167_219_200;
const MAX_TS: i64 = 253_402_300_799;

type Ymdhms = (i32, u32, u32, u32, u32, u32);
const STARTS: &[Ymdhms] = &[
    (2026, 3, 8, 6, 59, 59),    // just before New York springs forward
    (2026, 11, 1, 5, 30, 0),    // inside New York's repeated hour
    (2026, 11, 25, 15, 0, 0),   // the day before Thanksgiving
    (2026, 4, 4, 14, 59, 59),   // Lord Howe / Chatham changes
    (2026, 12, 31, 23, 59, 59), // year end
    (2028, 2, 29, 12, 0, 0),    // leap day
    (1970, 1, 1, 0, 0, 0),
    (1969, 12, 31, 23, 59, 59),
    (2099, 12, 31, 23, 59, 0), // the cron crate's years end in 2100
    (2100, 12, 31, 23, 59, 59),
    (2101, 1, 1, 0, 0, 0),
    (9999, 12, 31, 23, 59, 59),
    (0, 1, 1, 0, 0, 0),
];

fn instant() -> BoxedStrategy<DateTime<Utc>> {
    let at = |ts: i64| Utc.timestamp_opt(ts, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC);
    prop_oneof![
        2 => select(STARTS).prop_map(|(y, mo, d, h, mi, s)| Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()),
        3 => (1_700_000_000i64..1_900_000_000).prop_map(at),
        1 => (MIN_TS..=MAX_TS).prop_map(at),
    ]
    .boxed()
}

#[derive(Debug, Clone, Copy)]
enum Quote {
    Basic,
    Multi,
    Literal,
    MultiLiteral,
}

/// `s` as a TOML basic string (escaped) or multi-line basic string.
fn basic(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if multiline => out.push('\n'),
            '\t' => out.push('\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    if multiline { format!("\"\"\"\n{out}\"\"\"") } else { format!("\"{out}\"") }
}

fn quote(s: &str, q: Quote) -> String {
    match q {
        Quote::Basic => basic(s, false),
        Quote::Multi => basic(s, true),
        // Verbatim: breaks when `s` holds the delimiter, which is a test too.
        Quote::Literal => format!("'{s}'"),
        Quote::MultiLiteral => format!("'''\n{s}'''"),
    }
}

fn quoting() -> BoxedStrategy<Quote> {
    prop_oneof![
        12 => Just(Quote::Basic),
        4 => Just(Quote::Multi),
        1 => Just(Quote::Literal),
        1 => Just(Quote::MultiLiteral),
    ]
    .boxed()
}

/// A TOML string of `s` in any of the four quotings; a literal string that
/// holds its own delimiter is left broken (a test too).
fn tstr(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    (s, quoting()).prop_map(|(s, q)| quote(&s, q)).boxed()
}

/// A well-formed TOML string of `s`: literal quoting only where it fits.
fn good_tstr(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
    (s, quoting())
        .prop_map(|(s, q)| {
            let control = s.chars().any(|c| c.is_control() && c != '\n');
            let q = match q {
                Quote::Literal if control || s.contains(['\'', '\n']) => Quote::Basic,
                Quote::MultiLiteral if control || s.contains("'''") || s.ends_with('\'') => Quote::Multi,
                q => q,
            };
            quote(&s, q)
        })
        .boxed()
}

/// `tstr` with `odd`, else `good_tstr`.
fn qstr(s: impl Strategy<Value = String> + 'static, odd: bool) -> BoxedStrategy<String> {
    if odd { tstr(s) } else { good_tstr(s) }
}

const RAW_VALUES: &[&str] = &[
    "1",
    "-1",
    "0",
    "true",
    "false",
    "1.5",
    "inf",
    "nan",
    "-0",
    "0x10",
    "1e400",
    "99999999999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "1979-05-27T07:32:00Z",
    "1979-05-27",
    "07:32:00",
    "[]",
    "[\"a\", 1]",
    "{}",
    "{ a = 1 }",
    "\"\"",
    "''",
    "[[1], [2]]",
    "\"\\uD800\"",
    "\"\\U0011FFFF\"",
    "\"\\x41\"",
    "\"unterminated",
    "",
];

/// A value of the wrong type or badly formed, or deeply nested.
fn raw_value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(RAW_VALUES).prop_map(str::to_string),
        1 => (1usize..3000, 0u8..3).prop_map(|(n, k)| match k {
            0 => format!("{}1{}", "[".repeat(n), "]".repeat(n)),
            1 => format!("{}1{}", "{ a = ".repeat(n), " }".repeat(n)),
            _ => format!("{}{}", "[".repeat(n), "]".repeat(n)),
        }),
    ]
    .boxed()
}

/// `key = value` with probability `p`; with `odd`, the value is sometimes
/// text or of a wrong type instead.
fn keyed(key: &'static str, p: f64, value: BoxedStrategy<String>, odd: bool) -> BoxedStrategy<Option<String>> {
    let value = if odd { prop_oneof![20 => value, 1 => tstr(text()), 1 => raw_value()].boxed() } else { value };
    maybe(p, value).prop_map(move |v| v.map(|v| format!("{key} = {v}"))).boxed()
}

/// `key = value` for keys that name files: only the given (safe) values, so
/// that no case reads a device or a huge file.
fn keyed_path(key: &'static str, p: f64, paths: &'static [&'static str]) -> BoxedStrategy<Option<String>> {
    maybe(p, select(paths).prop_map(|s| basic(s, false))).prop_map(move |v| v.map(|v| format!("{key} = {v}"))).boxed()
}

const UNKNOWN_KEYS: &[&str] =
    &["imap", "sent_folder", "steps", "id", "windows", "Description", "x", "\"\"", "\"a.b\"", "a.b"];

/// Keys nobody defined (only with `odd`).
fn unknown_entries(odd: bool) -> BoxedStrategy<Vec<String>> {
    maybe(
        if odd { 0.1 } else { 0.0 },
        (prop_oneof![3 => select(UNKNOWN_KEYS).prop_map(str::to_string), 1 => "[a-z_]{1,10}"], raw_value())
            .prop_map(|(k, v)| format!("{k} = {v}")),
    )
    .prop_map(|e| e.into_iter().collect())
    .boxed()
}

/// A TOML document from sections of `key = value` lines, with a line ending.
fn render_doc(sections: &[(String, Vec<Option<String>>)], crlf: bool) -> String {
    let nl = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    for (header, lines) in sections {
        if !header.is_empty() {
            out.push_str(header);
            out.push_str(nl);
        }
        for line in lines.iter().flatten() {
            out.push_str(line);
            out.push_str(nl);
        }
        out.push_str(nl);
    }
    out
}

const TEXT_TOKENS: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "=",
    " = ",
    "[",
    "]",
    "[[steps]]",
    "[steps]",
    "{",
    "}",
    ",",
    "#",
    ".",
    "\\",
    "\\u",
    "\\U0010FFFF",
    "\\uD800",
    "\\n",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "\0",
    "\u{feff}",
    "\u{202e}",
    "\u{fffd}",
    "\u{10ffff}",
    "\u{301}",
    "é",
    "😀",
    "-",
    "99999999999999999999",
    "0 0 0 31 2 *",
    "id = \"x\"",
    "wait = \"1d\"",
    "kind = \"email\"",
    "subject = \"s\"",
    "body = \"b\"",
    "window = \"0 * * * * *\"",
    "[mailboxes.sales]",
    "from = \"a@b.test\"",
    "outbox = \"o\"",
    "[calendars.us]",
    "[owners.\"a@b.test\"]",
    "true",
];

/// One edit of a text, at positions chosen relative to its length.
#[derive(Debug, Clone)]
enum TextOp {
    Insert(Index, String),
    Delete(Index, usize),
    Replace(Index, usize, String),
    Duplicate(Index, usize, Index),
    Truncate(Index),
    SwapLines(Index, Index),
}

fn text_op() -> BoxedStrategy<TextOp> {
    let token = prop_oneof![3 => select(TEXT_TOKENS).prop_map(str::to_string), 1 => text()];
    prop_oneof![
        4 => (any::<Index>(), token.clone()).prop_map(|(i, t)| TextOp::Insert(i, t)),
        2 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| TextOp::Delete(i, n)),
        3 => (any::<Index>(), 1usize..20, token).prop_map(|(i, n, t)| TextOp::Replace(i, n, t)),
        2 => (any::<Index>(), 1usize..200, any::<Index>()).prop_map(|(i, n, j)| TextOp::Duplicate(i, n, j)),
        1 => any::<Index>().prop_map(TextOp::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| TextOp::SwapLines(i, j)),
    ]
    .boxed()
}

/// Applies `ops` to `source` at character boundaries (the result is a `&str` for the parsers).
fn mutate_text(source: &str, ops: &[TextOp]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for op in ops {
        let len = chars.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
        match op {
            TextOp::Insert(i, t) => {
                let p = at(i);
                chars.splice(p..p, t.chars());
            }
            TextOp::Delete(i, n) => {
                let p = at(i);
                chars.drain(p..(p + n).min(len));
            }
            TextOp::Replace(i, n, t) => {
                let p = at(i);
                chars.splice(p..(p + n).min(len), t.chars());
            }
            TextOp::Duplicate(i, n, j) => {
                let p = at(i);
                let piece: Vec<char> = chars[p..(p + n).min(len)].to_vec();
                let q = at(j);
                chars.splice(q..q, piece);
            }
            TextOp::Truncate(i) => chars.truncate(at(i)),
            TextOp::SwapLines(i, j) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.split('\n').collect();
                if !lines.is_empty() {
                    let (a, b) = (i.index(lines.len()), j.index(lines.len()));
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// Token soup: TOML- and Jinja-looking pieces in any order.
fn token_soup() -> BoxedStrategy<String> {
    vec(prop_oneof![4 => select(TEXT_TOKENS).prop_map(str::to_string), 1 => text()], 0..60)
        .prop_map(|v| v.concat())
        .boxed()
}

// ---- cadence files ----------------------------------------------------------

const CADENCE_CONFIG: &str =
    "[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\n[calendars.us]\nholidays = [\"2026-11-26\"]\n";

/// A second config: two mailboxes (so `mailbox` is required), more calendars.
const CADENCE_CONFIG_2: &str = "timezone = \"America/New_York\"\ncalendar = \"us\"\n\
[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\nowner = \"rep@seller.test\"\n\
[mailboxes.other]\nfrom = \"b@seller.test\"\noutbox = \"o2\"\n\
[calendars.us]\nholidays = [\"2026-11-26\", \"2026-12-25\"]\n\
[calendars.de]\nworkdays = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\"]\nholidays = [\"2026-12-24\"]\n\
[calendars.weekend]\nworkdays = [\"Sat\", \"Sun\"]\n";

/// Cadence files beside the shipped ones: every key of the format.
const CADENCE_SEEDS: &[&str] = &[
    r#"description = "All keys"
mailbox = "sales"
window = "0 30 9 * * Mon-Fri"
calendar = "us"
late_after = "2d"
owner = "rep@seller.test"
on_uncertain = "hold"
stop_on = ["reply", "bounce"]

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Hi {{ first_name | default('there') }}"
body = """
{% if company %}About {{ company | upper }}{% else %}Hello{% endif %}
{% for c in first_name %}{{ c }}{% endfor %}
"""

[[steps]]
id = "call-1"
wait = "2bd"
kind = "call"
blocking = false
auto_skip_after = "1bd"
body = "Call {{ phone | default('no phone') }}"

[[steps]]
id = "task_1"
wait = "90m"
kind = "task"
template = "tpl/ok.md"

[[steps]]
id = "linkedin"
wait = "1w"
kind = "linkedin"
body = 'Connect with {{ email }}'
"#,
    "window = \"0 0 0 31 2 *\"\n[[steps]]\nid = \"a\"\nwait = \"99999999999999d\"\nkind = \"email\"\nsubject = \"{{\"\nbody = \"{% for %}\"\n",
    "[[steps]]\nid = \"only\"\nwait = \"3650d\"\nkind = \"task\"\nbody = \"{{ x }}\"\nauto_skip_after = \"3650bd\"\n",
    "window = \"0 */15 0-23 * * *\"\nlate_after = \"1m\"\n[[steps]]\nid = \"e\"\nwait = \"521w\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
];

const WAIT_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3650",
    "3651",
    "521",
    "522",
    "87600",
    "87601",
    "5256000",
    "5256001",
    "4294967295",
    "4294967296",
    "99999999999999",
    "99999999999999999999999",
    "1.5",
    "1e3",
    "",
    "٣",
    "00",
];
const WAIT_UNITS: &[&str] = &["m", "h", "d", "w", "bd", "", "D", "BD", "b", "s", "y", "bdd", "d ", "mo", "µ", "d\0"];

/// A step wait; with `odd`, also huge, negative, unitless, odd units.
fn wait(odd: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![
        20 => (0u32..12, select(&["m", "h", "d", "w", "bd"][..])).prop_map(|(n, u)| format!("{n}{u}")),
        1 => select(&["3650d", "521w", "87600h", "5256000m", "3650bd", "0m"][..]).prop_map(str::to_string),
    ];
    if !odd {
        return good.boxed();
    }
    prop_oneof![
        4 => good,
        3 => (
            select(&["", "", "", " ", "-", "+", "0"][..]),
            select(WAIT_NUMBERS),
            select(WAIT_UNITS),
            select(&["", "", " ", "\n"][..]),
        )
            .prop_map(|(a, b, c, d)| format!("{a}{b}{c}{d}")),
        1 => text(),
    ]
    .boxed()
}

/// Valid expressions that match some time (some only in the past, or on no workday).
const CRON_GOOD: &[&str] = &[
    "0 * 9-16 * * Mon-Fri",
    "0 30 10 * * Tue",
    "0 30 2 * * *",
    "0 30 1 * * *",
    "0 0 0 29 2 *",
    "0 0 0 29 2 * 2028",
    "0 0 0 * * * 2100",
    "0 0 0 * * * 1970",
    "59 59 23 31 12 * 2100",
    "0 * * * * * *",
    "* * * * * *",
    "0 0 12 * * Sat,Sun",
    "0 0 12 1 1 Mon",
    "0 0 0 1-31/2 * *",
];

const CRON_WHOLE: &[&str] = &[
    "0 * 9-16 * * Mon-Fri",
    "0 30 10 * * Tue",
    "0 30 2 * * *",
    "0 30 1 * * *",
    "0 0 0 31 2 *",
    "0 0 0 30 2 *",
    "0 0 0 29 2 *",
    "0 0 0 29 2 * 2027",
    "0 0 0 29 2 * 2028",
    "0 0 0 * * * 2100",
    "0 0 0 * * * 1969",
    "0 0 0 * * * 1970",
    "0 0 0 * * * 2101",
    "59 59 23 31 12 * 2100",
    "0 0 0 * * * 2026-2027",
    "0 * * * * * *",
    "* * * * * *",
    "0 0 12 * * Sat,Sun",
    "0 0 12 1 1 Mon",
    "@daily",
    "@yearly",
    "0 0 0 1-31/2 * *",
    "0 0 0 L * *",
    "0 0 0 ? * MON#2",
    "",
    "* * * * *",
    "0 0 0 0 0 0 0 0",
];
const CRON_ODD_FIELDS: &[&str] = &[
    "L",
    "W",
    "5L",
    "1#2",
    "-1",
    "99999999999999",
    "4294967296",
    "*/0",
    "0/0",
    "Mon-Sun",
    "Sun-Sat",
    "Fri-Mon",
    "JAN-DEC",
    "Feb",
    "13",
    "32",
    "0",
    "60",
    "24",
    "**",
    "*/",
    "/5",
    "1-",
    "a-b",
    ",,",
    "Mon,,Tue",
    "?",
    "*/99999999999",
    "0-59/60",
    "59-0",
    "1-1",
    "31",
    "7",
    "8",
    "1970",
    "2100",
    "2101",
    "9999",
    "1969-2100",
];

/// A field of a cron expression with values `min..=max`; `odd` adds
/// reversed ranges, zero steps and junk.
fn cron_field(min: u32, max: u32, odd: bool) -> BoxedStrategy<String> {
    let good = prop_oneof![
        4 => Just("*".to_string()),
        3 => (min..=max).prop_map(|n| n.to_string()),
        2 => (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        1 => (select(&["*", "1-10"][..]), 1..=max).prop_map(|(a, s)| format!("{a}/{s}")),
        1 => vec(min..=max, 1..4).prop_map(|v| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")),
    ];
    if !odd {
        return good.boxed();
    }
    prop_oneof![
        6 => good,
        1 => (0..=max + 40, 0..=max + 40).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => (select(&["*", "0", "1-10", "5"][..]), 0..=max + 40).prop_map(|(a, s)| format!("{a}/{s}")),
        1 => select(&["Mon-Fri", "Tue", "Sat,Sun", "JAN", "Dec"][..]).prop_map(str::to_string),
        1 => select(CRON_ODD_FIELDS).prop_map(str::to_string),
    ]
    .boxed()
}

/// A cron expression: whole known ones, 6 or 7 plausible fields; with
/// `odd`, also odd fields, any count of fields, text.
fn cron(odd: bool) -> BoxedStrategy<String> {
    let plausible = |odd: bool| {
        (
            prop_oneof![3 => Just("0".to_string()), 1 => cron_field(0, 59, odd)],
            cron_field(0, 59, odd),
            cron_field(0, 23, odd),
            prop_oneof![3 => Just("*".to_string()), 1 => cron_field(1, 31, odd)],
            prop_oneof![3 => Just("*".to_string()), 1 => cron_field(1, 12, odd)],
            prop_oneof![2 => Just("*".to_string()), 1 => Just("Mon-Fri".to_string()), 1 => cron_field(1, 7, odd)],
            prop::option::weighted(0.2, (1970u32..if odd { 2110 } else { 2101 }).prop_map(|y| y.to_string())),
        )
            .prop_map(|(s, m, h, d, mo, w, y)| {
                let mut v = vec![s, m, h, d, mo, w];
                v.extend(y);
                v.join(" ")
            })
    };
    if !odd {
        return prop_oneof![1 => select(CRON_GOOD).prop_map(str::to_string), 4 => plausible(false)].boxed();
    }
    prop_oneof![
        4 => select(CRON_WHOLE).prop_map(str::to_string),
        4 => plausible(false),
        3 => plausible(true),
        1 => (vec(cron_field(0, 99, true), 0..10), select(&[" ", "  ", "\t", " \n "][..])).prop_map(|(v, sep)| v.join(sep)),
        1 => text(),
    ]
    .boxed()
}

const JINJA_VARS: &[&str] = &[
    "first_name",
    "company",
    "phone",
    "email",
    "x",
    "calendar",
    "owner",
    "loop",
    "self",
    "range",
    "none",
    "a.b",
    "x[0]",
    "x.y.z",
];
const JINJA_FILTERS: &[&str] = &[
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "length",
    "safe",
    "escape",
    "default",
    "default('x')",
    "default(none)",
    "int",
    "float",
    "abs",
    "first",
    "last",
    "reverse",
    "list",
    "join(',')",
    "replace('a', 'b')",
    "truncate(5)",
    "tojson",
    "nonexistent",
    "wordcount",
    "urlencode",
    "indent(4)",
    "indent(100, true)",
    "batch(0)",
    "batch(3)",
    "slice(0)",
    "slice(2)",
    "round(-999)",
    "round",
    "sum",
    "map('upper')",
    "dictsort",
    "items",
    "unique",
    "min",
    "max",
    "pprint",
    "split",
    "lines",
    "sort",
    "attr('x')",
    "select('odd')",
    "reject",
    "format(1, 2)",
    "string",
    "bool",
    "center(10)",
    "default('x') | upper | lower",
    "e",
];
/// Odd or broken template pieces; nothing that loops for long (a template
/// with nested `range(100000)` loops is slow by design, not a crash).
/// Template pieces that make minijinja panic, in `Cadence::parse` (its
/// trial render) or, for some field values, in `Templates::render` (see the
/// regression tests at the end). Left out with `CADENCED_FUZZ_SKIP_KNOWN=1`.
/// Pieces that make it abort on a failed allocation are never generated: an
/// abort would end the whole test binary (`template_filters_with_huge_sizes_abort_the_process`
/// checks those in a child process).
const PANICKING_SNIPPETS: &[&str] = &[
    "{{ 5 is divisibleby 0 }}",
    "{{ 5 is divisibleby (x | length) }}",
    "{{ 5 is divisibleby (first_name | length - 3) }}",
    "{% for a in x %}{{ loop.cycle() }}{% endfor %}",
    "{{ x | list | batch(9223372036854775807) }}",
    "{{ x | list | slice(9223372036854775807) | list }}",
    "{{ '%.9999999999f' | format(1.5) }}",
];

const JINJA_SNIPPETS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{ }}",
    "{% %}",
    "{% endfor %}",
    "{% endif %}",
    "{% else %}",
    "{% for %}",
    "{% for x in %}",
    "{% if %}",
    "{{ x.y.z }}",
    "{{ x[0] }}",
    "{{ x[99999999999] }}",
    "{{ x[-1] }}",
    "{{ 99999999999999999999999999999999999999999 }}",
    "{{ 170141183460469231731687303715884105727 + 1 }}",
    "{{ -9223372036854775808 }}",
    "{{ 9223372036854775807 * 9223372036854775807 }}",
    "{{ 2 ** 99999 }}",
    "{{ 2 ** -1 }}",
    "{{ 1/0 }}",
    "{{ 1 // 0 }}",
    "{{ 1 % 0 }}",
    "{{ 1.0 / 0 }}",
    "{{ 'a' * 1000 }}",
    "{{ 'a' * -1 }}",
    "{{ x * 99999999999 }}",
    "{{ range(99999999) }}",
    "{{ range(10) | list }}",
    "{{ range(0, 10, 0) | list }}",
    "{{ x(1, 2) }}",
    "{{ x | }}",
    "{{ | upper }}",
    "{{ x is defined }}",
    "{{ x is nonexistent }}",
    "{{ 'a' ~ 1 }}",
    "{{ \"unterminated }}",
    "{{ '\\u{110000}' }}",
    "{{ '\\uD800' }}",
    "{% set x = 1 %}",
    "{% set x %}a{% endset %}",
    "{% raw %}{{ x }}{% endraw %}",
    "{% raw %}",
    "{% with a = 1 %}{{ a }}{% endwith %}",
    "{% include 'x' %}",
    "{% include 'intro.body' %}",
    "{% include 'intro.subject' %}",
    "{% extends 'intro.body' %}",
    "{% import 'x' as y %}",
    "{% from 'x' import y %}",
    "{% block b %}{% endblock %}",
    "{% filter upper %}x{% endfilter %}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}x{% endcall %}",
    "{% autoescape true %}<{{ x }}>{% endautoescape %}",
    "{{ self }}",
    "{{ loop.index }}",
    "{{ namespace() }}",
    "{{ debug() }}",
    "{{ dict(a=1) }}",
    "{{ {'a': 1} }}",
    "{{ [1, 2][5] }}",
    "{{ x|default('{{') }}",
    "{%- if x -%}{%- endif -%}",
    "{{- x -}}",
    "{%+ if x +%}{% endif %}",
    "{{ x if x else y }}",
    "{{ (x }}",
    "{{ x) }}",
    "{{ [x }}",
    "{{ x.__class__ }}",
    "}}{{",
    "%}{%",
];

/// Templates that compile and render with any text for their variables.
fn good_jinja() -> BoxedStrategy<String> {
    let var = select(&["first_name", "company", "phone", "email", "x"][..]);
    let filter = select(
        &["upper", "lower", "title", "trim", "capitalize", "length", "default('x')", "replace('a', 'b')", "e"][..],
    );
    let leaf = prop_oneof![
        4 => "[ -z|~]{0,30}".prop_map(|t| t.replace(['{', '}', '%', '#'], "")),
        1 => vec(select(WEIRD), 0..4).prop_map(|v| v.concat().replace(['{', '}', '%', '#'], "")),
        3 => var.clone().prop_map(|v| format!("{{{{ {v} }}}}")),
        2 => (var.clone(), filter).prop_map(|(v, f)| format!("{{{{ {v} | {f} }}}}")),
        1 => var.clone().prop_map(|v| format!("{{{{ {v} | default('no {v}') }}}}")),
    ];
    leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            3 => vec(inner.clone(), 1..5).prop_map(|v| v.concat()),
            1 => (var.clone(), inner.clone()).prop_map(|(v, b)| format!("{{% if {v} %}}{b}{{% endif %}}")),
            1 => inner.prop_map(|b| format!("{{% for c in [1, 2] %}}{b}{{% endfor %}}")),
        ]
    })
    .boxed()
}

/// A template; with `odd`, often odd or broken pieces, deep nesting, recursion.
fn jinja(odd: bool) -> BoxedStrategy<String> {
    if odd { prop_oneof![1 => good_jinja(), 1 => wild_jinja()].boxed() } else { good_jinja() }
}

fn wild_jinja() -> BoxedStrategy<String> {
    let plain = prop_oneof![
        4 => "[ -z|~]{0,20}",
        1 => vec(select(WEIRD), 0..4).prop_map(|v| v.concat()),
    ];
    let leaf = prop_oneof![
        3 => plain,
        3 => select(JINJA_VARS).prop_map(|v| format!("{{{{ {v} }}}}")),
        3 => (select(JINJA_VARS), select(JINJA_FILTERS)).prop_map(|(v, f)| format!("{{{{ {v} | {f} }}}}")),
        3 => select(JINJA_SNIPPETS).prop_map(str::to_string),
        u32::from(!skip_known()) => select(PANICKING_SNIPPETS).prop_map(str::to_string),
        1 => (1usize..300, 0u8..5).prop_map(|(n, k)| match k {
            0 => format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
            1 => format!("{{{{ {}1{} }}}}", "[".repeat(n), "]".repeat(n)),
            2 => format!("{}x{}", "{% if x %}".repeat(n), "{% endif %}".repeat(n)),
            3 => format!("{}x{}", "{% for a in 'a' %}".repeat(n), "{% endfor %}".repeat(n)),
            _ => format!("{{{{ x{} }}}}", " | upper".repeat(n)),
        }),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            3 => vec(inner.clone(), 1..6).prop_map(|v| v.concat()),
            1 => (select(JINJA_VARS), inner.clone()).prop_map(|(v, b)| format!("{{% if {v} %}}{b}{{% endif %}}")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{% if x %}}{a}{{% else %}}{b}{{% endif %}}")),
            1 => inner.clone().prop_map(|b| format!("{{% for i in range(3) %}}{b}{{% endfor %}}")),
            1 => inner.clone().prop_map(|b| format!("{{% if x %}}{b}")),
            1 => inner.clone().prop_map(|b| format!("{b}{{% endif %}}")),
            1 => inner.prop_map(|b| format!("{{{{ ({b}) }}}}")),
        ]
    })
    .boxed()
}

const TEMPLATE_PATHS: &[&str] = &[
    "tpl/ok.md",
    "tpl/broken.md",
    "tpl/bin.md",
    "tpl/big.md",
    "tpl/selfinclude.md",
    "tpl/empty.md",
    "tpl",
    "tpl/missing.md",
    "",
    ".",
    "./tpl/ok.md",
    "tpl//ok.md",
    "tpl/no\nsuch.md",
    "tpl/no\rsuch.md",
];

/// Template files a cadence's `template = "..."` may name, relative to it.
fn write_template_files(dir: &Path) {
    let tpl = dir.join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(tpl.join("ok.md"), "Hi {{ first_name }},\n\nsee {{ company | default('you') }}.\n").unwrap();
    std::fs::write(tpl.join("broken.md"), "line 1\nline 2 {% if x %}\nline 3 {{ x |\n").unwrap();
    std::fs::write(tpl.join("bin.md"), b"\xff\xfe{{ x }}\x00\x80").unwrap();
    std::fs::write(tpl.join("big.md"), "{{ first_name }} and more text\n".repeat(5000)).unwrap();
    std::fs::write(tpl.join("selfinclude.md"), "{% include 'task_1.body' %}{% include 'intro.body' %}").unwrap();
    std::fs::write(tpl.join("empty.md"), "").unwrap();
}

const CADENCE_FILE_NAMES: &[&str] =
    &["fuzz.toml", "seven-touch.toml", "bad name.toml", "ünï.toml", ".toml", "x.y.toml", "fuzz", "a_b-C9.toml"];

/// Mostly one of `good`; with `odd`, also one of `odd_values` or any text.
fn one_of(good: &'static [&'static str], odd_values: &'static [&'static str], odd: bool) -> BoxedStrategy<String> {
    if !odd {
        return select(good).prop_map(str::to_string).boxed();
    }
    prop_oneof![
        6 => select(good).prop_map(str::to_string),
        2 => select(odd_values).prop_map(str::to_string),
        1 => text(),
    ]
    .boxed()
}

/// `Some` value of `s` with probability `p` (0 and 1 included).
fn maybe<S>(p: f64, s: S) -> BoxedStrategy<Option<S::Value>>
where
    S: Strategy + 'static,
    S::Value: fmt::Debug + Clone,
{
    if p <= 0.0 {
        Just(None).boxed()
    } else if p >= 1.0 {
        s.prop_map(Some).boxed()
    } else {
        prop::option::weighted(p, s).boxed()
    }
}

/// One of `options`, by weight; options of weight 0 are left out.
fn weighted<T: fmt::Debug + 'static>(options: Vec<(u32, BoxedStrategy<T>)>) -> BoxedStrategy<T> {
    prop::strategy::Union::new_weighted(options.into_iter().filter(|(w, _)| *w > 0).collect()).boxed()
}

/// 1.0 with `odd`, else 0.0: scales the probability of keys only odd files have.
fn oddly(odd: bool) -> f64 {
    f64::from(u8::from(odd))
}

/// A cadence file from its parts: top-level keys, then `[[steps]]` tables.
/// Without `odd` every value is well-formed (many such files load and reach
/// the planner); with `odd` any value may be wrong.
fn cadence_doc(odd: bool) -> BoxedStrategy<String> {
    let top = vec![
        keyed("description", 0.5, qstr(text(), odd), odd),
        keyed("mailbox", 0.6, qstr(one_of(&["sales"], &["other", "", " sales", "SALES"], odd), odd), odd),
        keyed("window", 0.6, qstr(cron(odd), odd), odd),
        keyed("calendar", 0.3, qstr(one_of(&["us", "de", "weekend"], &["", "US", "nope"], odd), odd), odd),
        keyed("late_after", 0.3, qstr(wait(odd), odd), odd),
        keyed("owner", 0.3, qstr(if odd { email() } else { good_email() }, odd), odd),
        keyed("on_uncertain", 0.2, qstr(one_of(&["continue", "hold"], &["Hold", "", "stop"], odd), odd), odd),
        keyed(
            "stop_on",
            0.3,
            vec(one_of(&["reply", "bounce", "unsubscribe"], &["spam", "", "Reply"], odd), 0..5)
                .prop_map(|v| format!("[{}]", v.iter().map(|s| basic(s, false)).collect::<Vec<_>>().join(", ")))
                .boxed(),
            odd,
        ),
    ];
    let odd_weight = u32::from(odd);
    let kinds = weighted(vec![
        (10, select(&["email", "email", "email", "call", "linkedin", "task"][..]).boxed()),
        (odd_weight, select(&["Email", "sms", ""][..]).boxed()),
    ]);
    let step = kinds.prop_flat_map(move |kind| {
        let email = kind == "email";
        let header = weighted(vec![
            (10, Just("[[steps]]").boxed()),
            (
                odd_weight,
                select(&["[steps]", "[[ steps ]]", "[[steps.x]]", "[[step]]", "[[steps]", "steps = []"][..]).boxed(),
            ),
        ]);
        let id = weighted(vec![
            (20, "[a-z][a-z0-9_-]{0,12}".boxed()),
            (
                6,
                select(&["intro", "bump-1", "call_1", "task_1", "linkedin", "case-study", "breakup"][..])
                    .prop_map(str::to_string)
                    .boxed(),
            ),
            (
                odd_weight,
                select(&["", "a b", "ü", "intro.body", "x.subject", "-", "_"][..]).prop_map(str::to_string).boxed(),
            ),
            (odd_weight, (1usize..300).prop_map(|n| "x".repeat(n)).boxed()),
            (odd_weight, text()),
        ]);
        let present = if odd { 0.97 } else { 1.0 };
        let good_templates: &'static [&'static str] = &["tpl/ok.md", "tpl/big.md", "tpl/empty.md", "./tpl/ok.md"];
        let templates = if odd { TEMPLATE_PATHS } else { good_templates };
        let manual = if email { 0.02 * oddly(odd) } else { 0.3 };
        let lines = vec![
            keyed("id", present, qstr(id, odd), odd),
            keyed("wait", present, qstr(wait(odd), odd), odd),
            maybe(present, Just(kind)).prop_map(|k| k.map(|k| format!("kind = {}", basic(k, false)))).boxed(),
            keyed("subject", if email { present } else { 0.03 * oddly(odd) }, qstr(jinja(odd), odd), odd),
            keyed("blocking", manual, select(&["true", "false"][..]).prop_map(str::to_string).boxed(), odd),
            keyed("auto_skip_after", manual, qstr(wait(odd), odd), odd),
            // A body or a template file; with `odd`, sometimes both or neither.
            weighted(vec![
                (20, qstr(jinja(odd), odd).prop_map(|b| Some(format!("body = {b}"))).boxed()),
                (2, select(templates).prop_map(|t| Some(format!("template = {}", basic(t, false)))).boxed()),
                (
                    odd_weight,
                    (tstr(jinja(odd)), select(TEMPLATE_PATHS))
                        .prop_map(|(b, t)| Some(format!("body = {b}\ntemplate = {}", basic(t, false))))
                        .boxed(),
                ),
                (odd_weight, Just(None).boxed()),
            ]),
        ];
        (header, lines, unknown_entries(odd)).prop_map(|(h, mut lines, extra)| {
            lines.extend(extra.into_iter().map(Some));
            (h.to_string(), lines)
        })
    });
    let steps = weighted(vec![(odd_weight, Just(0usize..1).boxed()), (20, Just(1usize..7).boxed())])
        .prop_flat_map(move |n| vec(step.clone(), n));
    (top, unknown_entries(odd), steps, any::<bool>())
        .prop_map(|(mut top, extra, steps, crlf)| {
            top.extend(extra.into_iter().map(Some));
            let mut sections = vec![(String::new(), top)];
            sections.extend(steps);
            render_doc(&sections, crlf)
        })
        .boxed()
}

/// The cadence files in `cadences/` (read now: others may edit them) and the seeds above.
fn cadence_seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cadences");
    let mut seeds: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
        })
        .unwrap_or_default();
    seeds.extend(CADENCE_SEEDS.iter().map(|s| s.to_string()));
    seeds
}

#[derive(Debug, Clone)]
struct CadenceCase {
    config: usize,
    file: &'static str,
    source: String,
    /// (start, zone) pairs for `plan::timeline`.
    leads: Vec<(DateTime<Utc>, Tz)>,
    /// Fields for `render`, and values to give every variable the templates use.
    fields: Fields,
    values: Vec<String>,
}

fn cadence_case(seeds: Arc<Vec<String>>) -> BoxedStrategy<CadenceCase> {
    let n = seeds.len();
    let mutated_seed =
        (any::<Index>(), vec(text_op(), 1..6)).prop_map(move |(i, ops)| mutate_text(&seeds[i.index(n)], &ops));
    let source = prop_oneof![
        1 => ".{0,200}",
        1 => any::<String>(),
        2 => token_soup(),
        8 => cadence_doc(false),
        3 => cadence_doc(true),
        3 => (cadence_doc(false), vec(text_op(), 1..4)).prop_map(|(s, ops)| mutate_text(&s, &ops)),
        3 => mutated_seed,
    ];
    let field_key = prop_oneof![3 => select(JINJA_VARS).prop_map(str::to_string), 1 => "[a-z_]{1,8}", 1 => text()];
    (
        0usize..2,
        prop_oneof![4 => Just("fuzz.toml"), 1 => select(CADENCE_FILE_NAMES)],
        source,
        vec((instant(), zone()), 1..3),
        btree_map(field_key, text(), 0..6),
        vec(text(), 1..4),
    )
        .prop_map(|(config, file, source, leads, fields, values)| CadenceCase {
            config,
            file,
            source,
            leads,
            fields,
            values,
        })
        .boxed()
}

/// Everything the daemon does with a cadence that loaded: plan timelines, render each step.
fn exercise_cadence(cadence: &Cadence, config: &Config, case: &CadenceCase) -> Result<(), TestCaseError> {
    let calendars = [config.calendar(None, cadence.calendar.as_deref()), &config.default_calendar];
    for (start, tz) in &case.leads {
        for calendar in calendars {
            if let Ok(steps) = plan::timeline(cadence, *start, LeadTime { tz: *tz, calendar }) {
                prop_assert!(
                    steps.len() == cadence.steps.len(),
                    "timeline {steps:?} for {} steps",
                    cadence.steps.len()
                );
                let mut previous = *start;
                for s in &steps {
                    prop_assert!(s.at >= previous, "timeline goes back in time: {steps:?} from {start}");
                    previous = s.at;
                }
            }
        }
    }
    let mut complete = case.fields.clone();
    for (i, var) in cadence.templates.variables().into_iter().enumerate() {
        complete.insert(var, case.values[i % case.values.len()].clone());
    }
    for step in &cadence.steps {
        let _ = cadence.templates.render(&step.id, "a@b.test", &case.fields);
        let _ = cadence.templates.render(&step.id, "Jane@Acme.test", &complete);
        let _ = cadence.templates.render(&step.id, "", &Fields::new());
    }
    let _ = cadence.templates.render("no-such-step", "a@b.test", &complete);
    Ok(())
}

#[test]
fn cadence_files() {
    let dir = tempfile::tempdir().unwrap();
    write_template_files(dir.path());
    let configs = [
        Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap(),
        Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG_2).unwrap(),
    ];
    let root = dir.path().to_str().unwrap().to_string();
    fuzz("cadence_files", 300, cadence_case(Arc::new(cadence_seeds())), |case| {
        let path = dir.path().join(case.file);
        let config = &configs[case.config];
        match Cadence::parse(&path, &case.source, config) {
            Ok(cadence) => exercise_cadence(&cadence, config, &case).map(|()| "parsed"),
            Err(errors) => check_located(&errors, &root).map(|()| "rejected"),
        }
    });
}

// ---- config files -------------------------------------------------------------

const CONFIG_PATH: &str = "/tmp/x/config.toml";

const CONFIG_SEEDS: &[&str] = &[
    CADENCE_CONFIG,
    CADENCE_CONFIG_2,
    r#"database = "cadenced.db"
cadences = "cadences"
timezone = "Europe/Berlin"
tick_interval = "30s"
calendar = "us"
on_uncertain = "continue"

[mailboxes.sales]
from = "Ada Sales <ada@example.com>"
smtp = "smtp+starttls://smtp.example.com:587"
username = "ada@example.com"
password_env = "PATH"
daily_limit = 150
min_gap = "60s"
timezone = "America/New_York"
owner = "rep@seller.test"

[mailboxes.test]
from = "t@example.com"
smtp = "smtp://127.0.0.1:2525"
username = "t"
password_file = "@PW_PRIVATE@"
allow_plaintext_auth = true

[calendars.us]
workdays = ["Mon", "Tue", "Wed", "Thu", "Fri"]
holidays = ["2026-11-26", "2026-12-25"]
holidays_file = "@HOLIDAYS@"

[calendars.de]
holidays_file = "holidays/de.txt"

[owners."rep@seller.test"]
timezone = "America/New_York"
window = "0 * 8-15 * * Mon-Fri"
digest = "0 30 7 * * Mon-Fri"
mailbox = "sales"

[owners."other@seller.test"]
digest = "none"
"#,
];

/// Files the config may name (placeholders `@NAME@` in the lists below are
/// replaced by absolute paths into the test's folder).
fn write_config_files(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let write = |name: &str, bytes: &[u8], mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("holidays.txt", b"# US\n2026-11-26\n2026-12-25 # Christmas\n\n   2027-01-01  \n", 0o644);
    write("holidays-bad.txt", b"2026-11-26\n2026-02-30\nnot a date\n+262143-12-31\n", 0o644);
    write("holidays-bin.txt", b"\xff\xfe2026-11-26\n\x00", 0o644);
    write("holidays-big.txt", "2026-11-26\n".repeat(20_000).as_bytes(), 0o644);
    write("pw-private", b"s3cret\r\n", 0o600);
    write("pw-public", b"s3cret\n", 0o644);
    write("pw-bin", b"\xff\xfe\x00", 0o600);
    std::fs::create_dir_all(dir.join("folder")).unwrap();
}

const HOLIDAY_FILES: &[&str] = &[
    "@HOLIDAYS@",
    "@HOLIDAYS_BAD@",
    "@HOLIDAYS_BIN@",
    "@HOLIDAYS_BIG@",
    "@FOLDER@",
    "holidays/us.txt",
    "",
    ".",
    "no\nsuch.txt",
];
const PASSWORD_FILES: &[&str] =
    &["@PW_PRIVATE@", "@PW_PUBLIC@", "@PW_BIN@", "@FOLDER@", "ada.pass", "", ".", "no\rsuch.pass"];

fn place_files(text: &str, dir: &Path) -> String {
    // Temporary folders have plain names: nothing to escape.
    let p = |name: &str| dir.join(name).display().to_string();
    text.replace("@HOLIDAYS@", &p("holidays.txt"))
        .replace("@HOLIDAYS_BAD@", &p("holidays-bad.txt"))
        .replace("@HOLIDAYS_BIN@", &p("holidays-bin.txt"))
        .replace("@HOLIDAYS_BIG@", &p("holidays-big.txt"))
        .replace("@PW_PRIVATE@", &p("pw-private"))
        .replace("@PW_PUBLIC@", &p("pw-public"))
        .replace("@PW_BIN@", &p("pw-bin"))
        .replace("@FOLDER@", &p("folder"))
}

/// `30s`, `5m`, `1h`; with `odd`, also zero, huge, unitless, odd units.
fn interval(odd: bool) -> BoxedStrategy<String> {
    let good = (1u32..100, select(&["s", "m", "h"][..])).prop_map(|(n, u)| format!("{n}{u}"));
    if !odd {
        return good.boxed();
    }
    prop_oneof![
        4 => good,
        2 => select(&[
            "0s", "1s", "99999999999999999999s", "18446744073709551615h", "18446744073709551615s", "1x", "", "-1s",
            " 5m ", "1.5s", "s", "30", "1S", "1d", "٣s",
        ][..])
        .prop_map(str::to_string),
        1 => text(),
    ]
    .boxed()
}

const DATES: &[&str] = &[
    "2026-11-26",
    "2026-02-30",
    "2026-13-01",
    "+262143-01-01",
    "0000-01-01",
    "9999-12-31",
    "-0001-01-01",
    "2026-1-1",
    " 2026-11-26 ",
    "",
    "2026-11-26T00:00:00",
    "26-11-2026",
];
const WEEKDAYS: &[&str] =
    &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Sunday", "mon", "MONDAY", "Funday", "", "1"];
const SMTP_URLS: &[&str] = &[
    "smtp://127.0.0.1:25",
    "smtp://h",
    "smtp+starttls://smtp.example.com:587",
    "smtps://[::1]:465",
    "smtps://[::1",
    "smtps://[]:465",
    "smtp://:25",
    "smtp://h:99999",
    "smtp://h:-1",
    "smtp://h:",
    "smtp://u:p@h",
    "smtp://h/path",
    "smtp://h?x=1",
    "smtp://h///",
    "http://h",
    "smtp://",
    "smtp:/h",
    "://",
    "",
    "smtp://ü.test:25",
    "smtp://h:25:25",
];
const ENV_VARS: &[&str] = &["PATH", "HOME", "CADENCED_FUZZ_NOT_SET", "", "A=B", "A\0B", "Ü"];

/// A TOML array of `min..max` strings.
fn string_list(items: BoxedStrategy<String>, min: usize, max: usize) -> BoxedStrategy<String> {
    vec(items, min..max)
        .prop_map(|v| format!("[{}]", v.iter().map(|s| basic(s, false)).collect::<Vec<_>>().join(", ")))
        .boxed()
}

/// A config file from its parts: top-level keys, then `[calendars.*]`,
/// `[mailboxes.*]` and `[owners."*"]` tables. Without `odd` every value is
/// well-formed and the tables fit together (many such files load); with
/// `odd` any value may be wrong, tables repeat, keys are unknown.
fn config_doc(odd: bool) -> BoxedStrategy<String> {
    let pick = move |good: &'static [&'static str], bad: &'static [&'static str]| one_of(good, bad, odd);
    let zone = move || if odd { zone_name() } else { select(ZONES).prop_map(str::to_string).boxed() };
    let top = vec![
        keyed("database", 0.3, qstr(pick(&["cadenced.db", "/var/lib/cadenced/c.db"], &["", "."]), odd), odd),
        keyed("cadences", 0.3, qstr(pick(&["cadences", "/nonexistent"], &[""]), odd), odd),
        keyed("timezone", 0.5, qstr(zone(), odd), odd),
        keyed("tick_interval", 0.4, qstr(interval(odd), odd), odd),
        keyed("calendar", 0.3, qstr(pick(&["us"], &["de", "", "nope"]), odd), odd),
        keyed("on_uncertain", 0.2, qstr(pick(&["continue", "hold"], &["HOLD", ""]), odd), odd),
    ];
    let calendar = move |name: BoxedStrategy<String>| {
        let dates: BoxedStrategy<String> = if odd {
            prop_oneof![5 => select(DATES).prop_map(str::to_string), 1 => text()].boxed()
        } else {
            (2020i32..2031, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")).boxed()
        };
        let weekdays = if odd { WEEKDAYS } else { &WEEKDAYS[..7] };
        let holiday_files: &'static [&'static str] = if odd { HOLIDAY_FILES } else { &HOLIDAY_FILES[..1] };
        (
            name,
            vec![
                keyed("workdays", 0.5, string_list(select(weekdays).prop_map(str::to_string).boxed(), 1, 9), odd),
                keyed("holidays", 0.6, string_list(dates, 0, 6), odd),
                keyed_path("holidays_file", 0.3, holiday_files),
            ],
            unknown_entries(odd),
        )
            .prop_map(|(name, mut lines, extra)| {
                lines.extend(extra.into_iter().map(Some));
                (format!("[calendars.{name}]"), lines)
            })
    };
    // Quoted local parts and address literals are good owners but not good senders.
    let sender = || select(&GOOD_EMAILS[..5]).prop_map(str::to_string);
    let from = prop_oneof![
        3 => if odd { email() } else { sender().boxed() },
        1 => (if odd { text() } else { "[A-Za-z ]{1,12}".boxed() }, sender()).prop_map(|(n, e)| format!("{n} <{e}>")),
    ];
    // Transport and credentials that go together, or (with `odd`) do not.
    let transport = prop_oneof![
        4 => qstr(pick(&["outbox", "/var/lib/cadenced/outbox"], &[""]), odd).prop_map(|o| format!("outbox = {o}")),
        2 => select(&SMTP_URLS[..4]).prop_map(|u| format!("smtp = {}", basic(u, false))),
        1 => select(&["smtp+starttls://smtp.example.com:587", "smtps://[::1]:465"][..]).prop_flat_map(|u| {
            (Just(u), prop_oneof![Just("password_env = \"PATH\""), Just("password_file = \"@PW_PRIVATE@\"")])
                .prop_map(|(u, pw)| format!("smtp = {}\nusername = \"ada\"\n{pw}", basic(u, false)))
        }),
        1 => Just("smtp = \"smtp://127.0.0.1:2525\"\nusername = \"t\"\npassword_env = \"HOME\"\nallow_plaintext_auth = true".to_string()),
    ];
    let mailbox = move |name: BoxedStrategy<String>| {
        (
            name,
            vec![
                keyed("from", if odd { 0.95 } else { 1.0 }, qstr(from.clone(), odd), odd),
                maybe(if odd { 0.9 } else { 1.0 }, transport.clone()),
                keyed("smtp", 0.1 * oddly(odd), tstr(select(SMTP_URLS).prop_map(str::to_string)), odd),
                keyed("outbox", 0.1 * oddly(odd), tstr(text()), odd),
                keyed("username", 0.1 * oddly(odd), tstr(text()), odd),
                keyed_path("password_file", 0.1 * oddly(odd), PASSWORD_FILES),
                keyed("password_env", 0.1 * oddly(odd), tstr(select(ENV_VARS).prop_map(str::to_string)), odd),
                keyed(
                    "allow_plaintext_auth",
                    0.1 * oddly(odd),
                    select(&["true", "false"][..]).prop_map(str::to_string).boxed(),
                    odd,
                ),
                keyed(
                    "daily_limit",
                    0.3,
                    select(if odd { DAILY_LIMITS } else { &DAILY_LIMITS[..4] }).prop_map(str::to_string).boxed(),
                    odd,
                ),
                keyed("min_gap", 0.3, qstr(interval(odd), odd), odd),
                keyed("timezone", 0.2, qstr(zone(), odd), odd),
                keyed("owner", 0.2, qstr(if odd { email() } else { good_email() }, odd), odd),
            ],
            unknown_entries(odd),
        )
            .prop_map(|(name, mut lines, extra)| {
                lines.extend(extra.into_iter().map(Some));
                (format!("[mailboxes.{name}]"), lines)
            })
    };
    let owner = move |address: BoxedStrategy<String>| {
        let none: &'static [&'static str] = if odd { &["none", " none ", "None", ""] } else { &["none"] };
        (
            address,
            vec![
                keyed("timezone", 0.4, qstr(zone(), odd), odd),
                keyed("window", 0.4, qstr(cron(odd), odd), odd),
                keyed(
                    "digest",
                    0.4,
                    qstr(prop_oneof![3 => cron(odd), 1 => select(none).prop_map(str::to_string)], odd),
                    odd,
                ),
                keyed("mailbox", 0.3, qstr(pick(&["sales"], &["other", "nope"]), odd), odd),
            ],
            unknown_entries(odd),
        )
            .prop_map(|(address, mut lines, extra)| {
                lines.extend(extra.into_iter().map(Some));
                (format!("[owners.{}]", basic(&address, false)), lines)
            })
    };
    let tables = if odd {
        let name = |names: &'static [&'static str]| {
            prop_oneof![6 => select(names).prop_map(str::to_string), 1 => text().prop_map(|t| basic(&t, false))].boxed()
        };
        vec(
            prop_oneof![
                2 => calendar(name(&["us", "de", "\"x y\"", "\"\"", "ü", "us"])),
                4 => mailbox(name(&["sales", "other", "ü", "\"a.b\"", "sales"])),
                2 => owner(email()),
            ],
            0..6,
        )
        .boxed()
    } else {
        // Distinct names; `us` and `sales` always there for the keys that name them.
        (
            prop::sample::subsequence(&["de", "eu"][..], 0..=2),
            prop::sample::subsequence(&["other", "bulk"][..], 0..=2),
            prop::collection::btree_set(good_email(), 0..3),
        )
            .prop_flat_map(move |(cals, boxes, owners)| {
                let cals: Vec<_> = ["us"].iter().chain(&cals).map(|n| calendar(Just(n.to_string()).boxed())).collect();
                let boxes: Vec<_> =
                    ["sales"].iter().chain(&boxes).map(|n| mailbox(Just(n.to_string()).boxed())).collect();
                let owners: Vec<_> = owners.into_iter().map(|a| owner(Just(a).boxed())).collect();
                (cals, boxes, owners).prop_map(|(a, b, c)| a.into_iter().chain(b).chain(c).collect::<Vec<_>>())
            })
            .boxed()
    };
    (top, unknown_entries(odd), tables, any::<bool>())
        .prop_map(|(mut top, extra, tables, crlf)| {
            top.extend(extra.into_iter().map(Some));
            let mut sections = vec![(String::new(), top)];
            sections.extend(tables);
            render_doc(&sections, crlf)
        })
        .boxed()
}

const DAILY_LIMITS: &[&str] = &[
    "1",
    "150",
    "4294967295",
    "10",
    "0",
    "-1",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1.5",
    "\"10\"",
];

#[derive(Debug, Clone)]
struct ConfigCase {
    source: String,
    at: DateTime<Utc>,
}

#[test]
fn config_files() {
    let dir = tempfile::tempdir().unwrap();
    write_config_files(dir.path());
    let folder = dir.path().to_path_buf();
    let seeds: Vec<String> = CONFIG_SEEDS
        .iter()
        .map(|s| s.to_string())
        .chain(std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")).ok())
        .collect();
    let n = seeds.len();
    let source = prop_oneof![
        1 => ".{0,200}",
        1 => any::<String>(),
        2 => token_soup(),
        6 => config_doc(false),
        3 => config_doc(true),
        3 => (config_doc(false), vec(text_op(), 1..4)).prop_map(|(s, ops)| mutate_text(&s, &ops)),
        4 => (any::<Index>(), vec(text_op(), 1..6)).prop_map(move |(i, ops)| mutate_text(&seeds[i.index(n)], &ops)),
    ];
    let strategy = (source, instant()).prop_map(move |(s, at)| ConfigCase { source: place_files(&s, &folder), at });
    fuzz("config_files", 600, strategy, |case| {
        match Config::parse(Path::new(CONFIG_PATH), &case.source) {
            Err(errors) => check_located(&errors, CONFIG_PATH).map(|()| "rejected"),
            Ok(config) => {
                // What the daemon asks of a loaded config.
                let day = case.at.date_naive();
                for cal in config.calendars.values().chain([&config.default_calendar]) {
                    let _ = cal.is_workday(day);
                    let _ = cal.is_workday(NaiveDate::MAX);
                }
                let _ = config.calendar(Some("us"), Some("de"));
                for address in config.owners.keys().map(String::as_str).chain(["nobody@x.test", ""]) {
                    let owner = config.owner(address);
                    let _ = owner.window.next_slot(case.at, owner.timezone, &config.default_calendar);
                    if let cadenced::config::Digest::Schedule(w) = &owner.digest {
                        let _ = w.next_slot(case.at, owner.timezone, &config.default_calendar);
                    }
                }
                prop_assert!(!config.mailboxes.is_empty(), "a config without a mailbox loaded");
                let _ = case.at.with_timezone(&config.timezone).year();
                Ok("parsed")
            }
        }
    });
}

// ---- CSV rows -----------------------------------------------------------------

const CSV_CONFIG: &str = "timezone = \"Europe/Berlin\"\n\
[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\nowner = \"boss@seller.test\"\n\
[calendars.us]\nholidays = [\"2026-11-26\"]\n\
[calendars.de]\nworkdays = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\"]\nholidays = [\"2026-12-24\", \"2026-12-25\"]\n\
[calendars.weekend]\nworkdays = [\"Sat\", \"Sun\"]\n";

/// Cadences to import into: fields required, optional, none; with and without a window.
const CSV_CADENCES: &[(&str, &str)] = &[
    (
        "seven",
        "window = \"0 * 9-16 * * Mon-Fri\"\n[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\n\
         subject = \"About {{ company }}\"\nbody = \"Hi {{ first_name }}\"\n\
         [[steps]]\nid = \"call\"\nwait = \"2bd\"\nkind = \"call\"\nbody = \"{{ phone | default('none') }}\"\n",
    ),
    (
        "open",
        "calendar = \"de\"\nowner = \"rep@seller.test\"\n[[steps]]\nid = \"hi\"\nwait = \"1h\"\nkind = \"email\"\n\
         subject = \"Hi\"\nbody = \"Hi {{ first_name | default('there') }} ({{ email }})\"\n",
    ),
    (
        "weekend",
        "window = \"0 0 12 * * Sat,Sun\"\ncalendar = \"weekend\"\n[[steps]]\nid = \"t\"\nwait = \"3650d\"\nkind = \"email\"\n\
         subject = \"{{ x | upper }}\"\nbody = \"{{ x | length }}\"\n",
    ),
];

const CSV_HEADERS: &[&str] = &[
    "email",
    "email",
    "Email",
    "EMAIL",
    " email ",
    "timezone",
    "TimeZone",
    "first_name",
    "first_name",
    "company",
    "phone",
    "calendar",
    "owner",
    "x",
    "bad-name",
    "first name",
    "",
    "ünï",
    "\u{feff}email",
    "e\"mail",
];

fn csv_cell(column: &str) -> BoxedStrategy<String> {
    match column.trim().to_ascii_lowercase().as_str() {
        "email" => email(),
        "timezone" => prop_oneof![3 => zone_name(), 1 => Just(String::new())].boxed(),
        "calendar" => {
            prop_oneof![5 => select(&["us", "de", "weekend", "", "xx", "US"][..]).prop_map(str::to_string), 1 => text()]
                .boxed()
        }
        "owner" => email(),
        "x" => prop_oneof![2 => (0i64..1000).prop_map(|n| n.to_string()), 1 => text()].boxed(),
        _ => prop_oneof![
            10 => "[A-Za-z][a-z]{0,10}",
            5 => text(),
            1 => (1usize..200_000).prop_map(|n| "long ".repeat(n / 5 + 1)),
        ]
        .boxed(),
    }
}

fn csv_quote(cell: &str, always: bool) -> String {
    if always || cell.is_empty() || cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// A well-formed CSV file: a header row, rows of as many cells, quoting where needed.
#[derive(Debug, Clone)]
struct WellFormedCsv {
    bytes: Vec<u8>,
    rows: usize,
}

/// Header rows that fit the cadences (fields their templates need), to which
/// any columns are added.
const CSV_HEADER_ROWS: &[&[&str]] = &[
    &["email", "first_name", "company", "phone", "timezone"],
    &["Email", "first_name", "company", "calendar", "owner"],
    &["email", "x", "calendar", "owner", "timezone"],
    &["email"],
    &[],
];

fn well_formed_csv() -> BoxedStrategy<WellFormedCsv> {
    let extra = vec(
        prop_oneof![
            6 => select(&["phone", "notes", "company", "first_name", "calendar", "owner", "timezone", "x"][..])
                .prop_map(str::to_string),
            2 => select(CSV_HEADERS).prop_map(str::to_string),
            1 => text(),
        ],
        0..4,
    );
    (select(CSV_HEADER_ROWS), extra)
        .prop_flat_map(|(base, extra)| {
            let headers: Vec<String> = base.iter().map(|h| h.to_string()).chain(extra).collect();
            Just(headers).prop_shuffle()
        })
        .prop_filter("a header row", |h| !h.is_empty())
        .prop_flat_map(|headers| {
            let row: Vec<BoxedStrategy<String>> = headers.iter().map(|h| csv_cell(h)).collect();
            (
                Just(headers),
                vec(row, 0..12),
                select(&["\n", "\r\n", "\r"][..]),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_map(|(headers, rows, nl, bom, quote_all, final_newline)| {
            let mut out = String::new();
            if bom {
                out.push('\u{feff}');
            }
            let line = |cells: &[String]| cells.iter().map(|c| csv_quote(c, quote_all)).collect::<Vec<_>>().join(",");
            out.push_str(&line(&headers));
            for r in &rows {
                out.push_str(nl);
                out.push_str(&line(r));
            }
            if final_newline {
                out.push_str(nl);
            }
            WellFormedCsv { bytes: out.into_bytes(), rows: rows.len() }
        })
        .boxed()
}

const MAIL_TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\n\n",
    b"\r\n\r\n",
    b":",
    b";",
    b",",
    b"\"",
    b"\"\"",
    b"<",
    b">",
    b"@",
    b"=?utf-8?B?",
    b"=?iso-8859-1?Q?",
    b"=?x-unknown?X?",
    b"?=",
    b"=?",
    b"--",
    b"--b",
    b"--b--",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: text/rfc822-headers\r\n",
    b"Content-Type: message/feedback-report\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"=\r\n",
    b"=XX",
    b"=0",
    b"boundary=",
    b"charset=",
    b"Final-Recipient: rfc822; ",
    b"Action: failed\r\n",
    b"Status: 5.1.1\r\n",
    b"Status: 4.",
    b"Diagnostic-Code: smtp; 550 5.1.1 ",
    b"X-Failed-Recipients: ",
    b"Auto-Submitted: auto-replied\r\n",
    b"In-Reply-To: <",
    b"References: ",
    b"Message-ID: <",
    b"From: ",
    b"To: ",
    b"Subject: ",
    b"Date: ",
    b"\0",
    b"\xef\xbb\xbf",
    b"\t",
    b" ",
    b"\xff",
    b"\xc3",
    b"\xe2\x80",
    b"begin 644 x\n",
    b"end\n",
    b"{\"notificationType\":\"Bounce\",",
    b"Feedback-Type: abuse\r\n",
    b"Return-Path: <>\r\n",
    b"unsubscribe",
];

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum ByteOp {
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Duplicate(Index, usize, Index),
    Truncate(Index),
    /// Insert a piece of the `donor`-th fixture (or the input itself).
    Splice(Index, Index, usize, Index),
    /// A header line at the top or after a line break.
    InjectHeader(Index, Vec<u8>),
    LineEndings(bool),
}

fn byte_op() -> BoxedStrategy<ByteOp> {
    let token = prop_oneof![3 => select(MAIL_TOKENS).prop_map(<[u8]>::to_vec), 1 => vec(any::<u8>(), 1..16)];
    let header = (
        select(&[
            "From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Message-ID",
            "In-Reply-To", "References", "Auto-Submitted", "X-Autoreply", "Precedence", "List-Id", "X-Failed-Recipients",
            "Date", "Return-Path", "Sender", "Reply-To", "X-SES-Outgoing", "Bcc",
        ][..]),
        vec(prop_oneof![3 => select(MAIL_TOKENS).prop_map(<[u8]>::to_vec), 2 => "[ -~]{0,30}".prop_map(String::into_bytes)], 0..4),
    )
        .prop_map(|(name, value)| {
            let mut h = format!("{name}: ").into_bytes();
            h.extend(value.concat());
            h.extend(b"\r\n");
            h
        });
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Flip(i, b)),
        3 => (any::<Index>(), token).prop_map(|(i, t)| ByteOp::Insert(i, t)),
        2 => (any::<Index>(), 1usize..200).prop_map(|(i, n)| ByteOp::Delete(i, n)),
        2 => (any::<Index>(), 1usize..2000, any::<Index>()).prop_map(|(i, n, j)| ByteOp::Duplicate(i, n, j)),
        1 => any::<Index>().prop_map(ByteOp::Truncate),
        2 => (any::<Index>(), any::<Index>(), 1usize..4000, any::<Index>()).prop_map(|(d, i, n, j)| ByteOp::Splice(d, i, n, j)),
        2 => (any::<Index>(), header).prop_map(|(i, h)| ByteOp::InjectHeader(i, h)),
        1 => any::<bool>().prop_map(ByteOp::LineEndings),
    ]
    .boxed()
}

fn mutate_bytes(mut data: Vec<u8>, ops: &[ByteOp], donors: &[Vec<u8>]) -> Vec<u8> {
    for op in ops {
        let len = data.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
        match op {
            ByteOp::Flip(i, b) => {
                if len > 0 {
                    data[i.index(len)] ^= b | 1;
                }
            }
            ByteOp::Insert(i, t) => {
                let p = at(i);
                data.splice(p..p, t.iter().copied());
            }
            ByteOp::Delete(i, n) => {
                let p = at(i);
                data.drain(p..(p + n).min(len));
            }
            ByteOp::Duplicate(i, n, j) => {
                let p = at(i);
                let piece = data[p..(p + n).min(len)].to_vec();
                let q = at(j);
                data.splice(q..q, piece);
            }
            ByteOp::Truncate(i) => data.truncate(at(i)),
            ByteOp::Splice(d, i, n, j) => {
                let donor = if donors.is_empty() { data.clone() } else { donors[d.index(donors.len())].clone() };
                let p = if donor.is_empty() { 0 } else { i.index(donor.len()) };
                let piece = &donor[p..(p + n).min(donor.len())];
                let q = at(j);
                data.splice(q..q, piece.iter().copied());
            }
            ByteOp::InjectHeader(i, h) => {
                let breaks: Vec<usize> =
                    data.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(k, _)| k + 1).take(200).collect();
                let p = if breaks.is_empty() || i.index(3) == 0 { 0 } else { breaks[i.index(breaks.len())] };
                data.splice(p..p, h.iter().copied());
            }
            ByteOp::LineEndings(crlf) => {
                let lf_only: Vec<u8> = data.iter().copied().filter(|b| *b != b'\r').collect();
                data = if *crlf {
                    lf_only.iter().flat_map(|b| if *b == b'\n' { vec![b'\r', b'\n'] } else { vec![*b] }).collect()
                } else {
                    lf_only
                };
            }
        }
    }
    data
}

#[derive(Clone)]
struct CsvCase {
    cadence: usize,
    now: DateTime<Utc>,
    bytes: Bytes,
    /// For well-formed files: the number of data rows.
    rows: Option<usize>,
}

impl fmt::Debug for CsvCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CsvCase {{ cadence: {:?}, now: {}, rows: {:?}, bytes: {:?} }}",
            CSV_CADENCES[self.cadence].0, self.now, self.rows, self.bytes
        )
    }
}

/// What the csv crate itself makes of `bytes`, read like `read_rows` reads
/// them: `None` when the header row cannot be read or has no `email`
/// column, else the number of records (good or not) after it. The separator
/// is `,` unless only `;` or a tab makes an `email` column of the first line.
fn csv_records(bytes: &[u8]) -> Option<usize> {
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let first_line = first_line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(first_line);
    let has_email = |sep: u8| {
        let mut header =
            csv::ReaderBuilder::new().has_headers(false).delimiter(sep).trim(csv::Trim::All).from_reader(first_line);
        let mut record = csv::ByteRecord::new();
        header.read_byte_record(&mut record).is_ok_and(|_| record.iter().any(|h| h.eq_ignore_ascii_case(b"email")))
    };
    let sep = [b',', b';', b'\t'].into_iter().find(|sep| has_email(*sep)).unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).delimiter(sep).from_reader(bytes);
    let headers = reader.headers().ok()?.clone();
    headers.iter().position(|h| h.eq_ignore_ascii_case("email"))?;
    let mut record = csv::StringRecord::new();
    let mut count = 0;
    // A record consumes at least one byte; more iterations than bytes would be a reader that loops.
    for _ in 0..=bytes.len() + 1 {
        match reader.read_record(&mut record) {
            Ok(false) => return Some(count),
            Ok(true) | Err(_) => count += 1,
        }
    }
    Some(usize::MAX)
}

#[test]
fn csv_rows() {
    let config = Config::parse(Path::new("/p/config.toml"), CSV_CONFIG).unwrap();
    let cadences: Vec<Cadence> = CSV_CADENCES
        .iter()
        .map(|(name, text)| Cadence::parse(&PathBuf::from(format!("/p/cadences/{name}.toml")), text, &config).unwrap())
        .collect();
    let file = Path::new("/p/leads.csv");
    let input = prop_oneof![
        1 => vec(any::<u8>(), 0..1024).prop_map(|b| (b, None)),
        1 => vec(prop_oneof![3 => select(MAIL_TOKENS).prop_map(<[u8]>::to_vec), 1 => "[a-z@.,\"]{0,12}".prop_map(String::into_bytes)], 0..40)
            .prop_map(|v| { let mut b = b"email,first_name,timezone\n".to_vec(); b.extend(v.concat()); (b, None) }),
        6 => well_formed_csv().prop_map(|c| (c.bytes, Some(c.rows))),
        4 => (well_formed_csv(), vec(byte_op(), 1..5)).prop_map(|(c, ops)| (mutate_bytes(c.bytes, &ops, &[]), None)),
    ];
    let strategy = (0..CSV_CADENCES.len(), instant(), input).prop_map(|(cadence, now, (bytes, rows))| CsvCase {
        cadence,
        now,
        bytes: Bytes(bytes),
        rows,
    });
    fuzz("csv_rows", 400, strategy, |case| {
        let cadence = &cadences[case.cadence];
        let progress = ProgressBar::hidden();
        let result = intake::read_rows(file, &case.bytes.0[..], &progress, |lead: &LeadInput| {
            intake::prepare(lead, cadence, &config, case.now)
        });
        let expected = csv_records(&case.bytes.0);
        let mut outcome = "file refused";
        match (result, expected) {
            (Err(e), None) => {
                let message = format!("{e:#}");
                prop_assert!(message.starts_with("/p/leads.csv:"), "file error without the file: {message:?}");
            }
            (Err(e), Some(n)) => prop_assert!(false, "whole file refused ({e:#}) although it has {n} records"),
            (Ok((good, bad)), expected) => {
                prop_assert!(expected.is_some(), "a file without a readable header or `email` column was read");
                prop_assert_eq!(good.len() + bad.len(), expected.unwrap_or_default(), "records lost or invented");
                if let Some(rows) = case.rows {
                    prop_assert_eq!(good.len() + bad.len(), rows, "rows of a well-formed file lost or invented");
                }
                let max_line = case.bytes.0.iter().filter(|b| **b == b'\n' || **b == b'\r').count() as u64 + 1;
                for row in &bad {
                    prop_assert!(
                        row.line >= 1 && row.line <= max_line,
                        "row error at line {}: {}",
                        row.line,
                        row.message
                    );
                    prop_assert!(!row.message.is_empty(), "row error without a message at line {}", row.line);
                }
                outcome = match (good.is_empty(), bad.is_empty()) {
                    (true, true) => "no rows",
                    (false, true) => "all rows good",
                    (true, false) => "all rows bad",
                    (false, false) => "good and bad rows",
                };
                for lead in &good {
                    prop_assert!(
                        lead.email.parse::<lettre::Address>().is_ok(),
                        "enrolled a bad address {:?}",
                        lead.email
                    );
                    prop_assert_eq!(&lead.cadence, &cadence.name);
                }
            }
        }
        Ok(outcome)
    });
}

// ---- inbound messages -----------------------------------------------------------

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bounces");

/// Stand-ins when the fixture folder is missing.
const FALLBACK_MESSAGES: &[&[u8]] = &[
    b"From: MAILER-DAEMON@x.test\r\nTo: a@seller.test\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; x.test\r\n\r\nFinal-Recipient: rfc822; jane@acme.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <1.2@seller.test>\r\n--b--\r\n",
    b"From: Jane <jane@acme.test>\r\nTo: a@seller.test\r\nSubject: Re: hi\r\nIn-Reply-To: <1.2@seller.test>\r\n\r\nThanks!\r\n",
];

fn fixtures() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    if out.is_empty() {
        eprintln!("fuzz inbound_messages: no fixtures in {FIXTURES}; using built-in messages");
        out.extend(FALLBACK_MESSAGES.iter().map(|m| m.to_vec()));
    }
    out
}

/// A generated MIME entity.
#[derive(Debug, Clone)]
enum Mime {
    Leaf { headers: Vec<String>, ctype: String, cte: Option<&'static str>, encode: bool, body: Vec<u8> },
    Multi { headers: Vec<String>, subtype: String, boundary: String, preamble: String, parts: Vec<Mime>, close: bool },
    Message { headers: Vec<String>, ctype: &'static str, inner: Box<Mime> },
}

fn b64(data: &[u8]) -> Vec<u8> {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for (n, chunk) in data.chunks(3).enumerate() {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            out.push(if k <= chunk.len() { ABC[(v >> (18 - 6 * k)) as usize & 63] } else { b'=' });
        }
        if n % 19 == 18 {
            out.extend(b"\r\n");
        }
    }
    out
}

fn qp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, b) in data.iter().enumerate() {
        if (b' '..=b'~').contains(b) && *b != b'=' || *b == b'\n' {
            out.push(*b);
        } else {
            out.extend(format!("={b:02X}").into_bytes());
        }
        if n % 70 == 69 {
            out.extend(b"=\r\n");
        }
    }
    out
}

fn render_mime(m: &Mime, out: &mut Vec<u8>) {
    let headers = |out: &mut Vec<u8>, hs: &[String]| {
        for h in hs {
            out.extend(h.as_bytes());
            out.extend(b"\r\n");
        }
    };
    match m {
        Mime::Leaf { headers: hs, ctype, cte, encode, body } => {
            headers(out, hs);
            out.extend(format!("Content-Type: {ctype}\r\n").into_bytes());
            if let Some(cte) = cte {
                out.extend(format!("Content-Transfer-Encoding: {cte}\r\n").into_bytes());
            }
            out.extend(b"\r\n");
            match (*cte, *encode) {
                (Some("base64"), true) => out.extend(b64(body)),
                (Some("quoted-printable"), true) => out.extend(qp(body)),
                _ => out.extend(body),
            }
        }
        Mime::Multi { headers: hs, subtype, boundary, preamble, parts, close } => {
            headers(out, hs);
            out.extend(
                format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n{preamble}").into_bytes(),
            );
            for p in parts {
                out.extend(format!("\r\n--{boundary}\r\n").into_bytes());
                render_mime(p, out);
            }
            if *close {
                out.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
            }
        }
        Mime::Message { headers: hs, ctype, inner } => {
            headers(out, hs);
            out.extend(format!("Content-Type: {ctype}\r\n\r\n").into_bytes());
            render_mime(inner, out);
        }
    }
}

fn header_value() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[ -~]{0,40}",
        2 => email(),
        1 => (select(&["utf-8", "iso-8859-1", "shift_jis", "x-unknown", ""][..]), select(&["B", "Q", "b", "X"][..]), "[ -~]{0,20}")
            .prop_map(|(cs, enc, t)| format!("=?{cs}?{enc}?{t}?=")),
        1 => vec(select(WEIRD), 0..6).prop_map(|v| v.concat().replace(['\r', '\n'], "")),
        1 => (1usize..100_000).prop_map(|n| "x".repeat(n)),
        1 => ("[ -~]{0,20}", 1usize..5).prop_map(|(t, n)| vec![t; n].join("\r\n\t")),
    ]
    .boxed()
}

const HEADER_NAMES: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "Precedence",
    "List-Id",
    "List-Unsubscribe",
    "Return-Path",
    "X-Failed-Recipients",
    "Sender",
    "Reply-To",
    "MIME-Version",
    "Content-Disposition",
    "X-Mailer",
    "Received",
    "",
    "X-\u{e9}",
];

fn headers() -> BoxedStrategy<Vec<String>> {
    prop_oneof![
        8 => vec((select(HEADER_NAMES), header_value()).prop_map(|(n, v)| format!("{n}: {v}")), 0..8),
        1 => (1usize..3000).prop_map(|n| (0..n).map(|i| format!("X-Many-{i}: {i}")).collect()),
    ]
    .boxed()
}

const STATUS_CODES: &[&str] =
    &["5.1.1", "4.4.1", "2.0.0", "5.0.0", "9.9.9", "5.1", "", "5.1.1 (extra)", "500", "5.999999999.1", "x.y.z"];
const ACTIONS: &[&str] = &["failed", "delayed", "delivered", "relayed", "expanded", "FAILED", ""];

fn delivery_status() -> BoxedStrategy<Vec<u8>> {
    let recipient = (email(), select(ACTIONS), select(STATUS_CODES), "[ -~]{0,40}", select(&["rfc822", "x400", "", "utf-8"][..]))
        .prop_map(|(addr, action, status, diag, kind)| {
            format!("Final-Recipient: {kind}; {addr}\r\nOriginal-Recipient: rfc822;{addr}\r\nAction: {action}\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {diag}\r\n")
        });
    (vec(recipient, 0..4), any::<bool>())
        .prop_map(|(rs, blank)| {
            let sep = if blank { "\r\n" } else { "" };
            format!(
                "Reporting-MTA: dns; mx.example.test\r\nArrival-Date: Thu, 17 Jul 2017 23:34:45 +0500\r\n{sep}{}",
                rs.join(sep)
            )
            .into_bytes()
        })
        .boxed()
}

const BODY_PHRASES: &[&str] = &[
    "550 5.1.1 <jane@acme.test>: Recipient address rejected: User unknown",
    "The following addresses had permanent fatal errors",
    "Delivery to the following recipient failed permanently:",
    "Delivery has failed to these recipients or groups:",
    "This is a permanent error. The following address(es) failed:",
    "I'm on vacation until 2026-12-01",
    "I am out of the office until 31.12.2026",
    "Je suis absent jusqu'au 3 janvier",
    "out of office",
    "Automatic reply",
    "unsubscribe",
    "Please remove me from your list",
    "Thanks, sounds good!",
    "<html><body><p>Hi&nbsp;there &amp; &#x1F600; &#99999999;</p></body></html>",
    "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\"jane@acme.test\",\"status\":\"5.1.1\"}]}}",
    "{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":[{\"emailAddress\":",
    "Feedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\nOriginal-Mail-From: <a@seller.test>\r\n",
    "Message-ID: <1.2@seller.test>\r\nFrom: a@seller.test\r\nTo: jane@acme.test\r\n",
    "----- The following addresses had permanent fatal errors -----\r\n<jane@acme.test>\r\n    (reason: 550 5.1.1 User unknown)",
    "begin 644 x.txt\r\n#86)C\r\n`\r\nend\r\n",
];

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => vec(prop_oneof![3 => select(BODY_PHRASES).prop_map(str::to_string), 1 => text(), 1 => email()], 0..6)
            .prop_map(|v| v.join("\r\n").into_bytes()),
        2 => delivery_status(),
        1 => vec(any::<u8>(), 0..512),
        1 => (1usize..300_000).prop_map(|n| "word ".repeat(n / 5 + 1).into_bytes()),
    ]
    .boxed()
}

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/plain; charset=utf-8",
    "text/plain; charset=iso-2022-jp",
    "text/plain; charset=shift_jis",
    "text/plain; charset=utf-16",
    "text/plain; charset=utf-7",
    "text/plain; charset=gb18030",
    "text/plain; charset=x-unknown",
    "text/html; charset=big5",
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "text/rfc822-headers",
    "application/json",
    "application/octet-stream",
    "multipart/mixed",
    "x/y",
    "",
    "text",
    "text/plain; charset=\"",
];
const BOUNDARIES: &[&str] = &["b", "b", "=_abc", "----=_Part_0_1.2", "", " ", "a b", "b--", "--", "\"", "b\r\nX: y"];

fn mime() -> BoxedStrategy<Mime> {
    let cte = prop::option::weighted(
        0.4,
        select(&["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "junk"][..]),
    );
    let leaf = (headers(), select(CONTENT_TYPES).prop_map(str::to_string), cte, any::<bool>(), body())
        .prop_map(|(headers, ctype, cte, encode, body)| Mime::Leaf { headers, ctype, cte, encode, body });
    leaf.prop_recursive(5, 24, 5, |inner| {
        let boundary = prop_oneof![4 => select(BOUNDARIES).prop_map(str::to_string), 1 => "[ -~]{0,80}"];
        prop_oneof![
            3 => (
                vec(select(&["From: x@y.test"][..]).prop_map(str::to_string), 0..2),
                select(&["mixed", "report; report-type=delivery-status", "report; report-type=feedback-report", "alternative", "related", "digest", "x"][..]),
                boundary,
                "[ -~]{0,20}",
                vec(inner.clone(), 0..5),
                prop::option::of(any::<Index>()),
                any::<bool>(),
            )
                .prop_map(|(headers, subtype, boundary, preamble, mut parts, dup, close)| {
                    if let Some(i) = dup.filter(|_| !parts.is_empty()) {
                        let copy = parts[i.index(parts.len())].clone();
                        parts.push(copy);
                    }
                    Mime::Multi { headers, subtype: subtype.to_string(), boundary, preamble, parts, close }
                }),
            1 => (headers(), select(&["message/rfc822", "message/global", "text/rfc822-headers"][..]), inner)
                .prop_map(|(headers, ctype, inner)| Mime::Message { headers, ctype, inner: Box::new(inner) }),
        ]
    })
    .boxed()
}

#[test]
fn inbound_messages() {
    let fixtures = Arc::new(fixtures());
    let n = fixtures.len();
    let (a, b) = (fixtures.clone(), fixtures.clone());
    let strategy = prop_oneof![
        2 => vec(any::<u8>(), 0..2048),
        1 => vec(prop_oneof![3 => select(MAIL_TOKENS).prop_map(<[u8]>::to_vec), 1 => "[ -~]{0,20}".prop_map(String::into_bytes)], 0..80)
            .prop_map(|v| v.concat()),
        4 => (any::<Index>(), vec(byte_op(), 1..8)).prop_map(move |(i, ops)| mutate_bytes(a[i.index(n)].clone(), &ops, &a)),
        3 => (headers(), mime(), vec(byte_op(), 0..3)).prop_map(move |(top, m, ops)| {
            let mut out = Vec::new();
            for h in &top {
                out.extend(h.as_bytes());
                out.extend(b"\r\n");
            }
            out.extend(b"MIME-Version: 1.0\r\n");
            render_mime(&m, &mut out);
            mutate_bytes(out, &ops, &b)
        }),
    ]
    .prop_map(Bytes);
    fuzz("inbound_messages", 400, strategy, |raw| {
        let classified = inbound::classify(&raw.0);
        let _ = classified.lead();
        prop_assert!(serde_json::to_string(&classified).is_ok());
        Ok(match classified.kind {
            inbound::Kind::Reply => "reply",
            inbound::Kind::AutoReply => "auto-reply",
            inbound::Kind::Bounce => "bounce",
            inbound::Kind::Complaint => "complaint",
            inbound::Kind::Unsubscribe => "unsubscribe",
            inbound::Kind::Other => "other",
        })
    });
}

// ---- regression tests for what the fuzzing found ----------------------------------
//
// Each fails until the library handles its input: a panic or abort where a
// clear error is due. Found by the targets above (or by probing the template
// filters they exercise); the inputs are shrunk by hand.

/// A cadence whose one task step has `body`.
fn cadence_with_body(body: &str) -> String {
    format!("[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\nbody = {}\n", basic(body, false))
}

/// `Cadence::parse` of `source` neither panics nor loads: it returns the
/// file's errors. Names the panic when there is one.
fn parses_without_panic(source: &str) -> Result<Result<Cadence, FileErrors>, String> {
    let config = Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap();
    std::panic::catch_unwind(|| Cadence::parse(Path::new("/p/cadences/c.toml"), source, &config)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(no message)".into())
    })
}

fn assert_parse_does_not_panic(bodies: &[&str]) {
    let mut panics = Vec::new();
    for body in bodies {
        match parses_without_panic(&cadence_with_body(body)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(e.to_string().starts_with("/p/cadences/c.toml:"), "{e}"),
            Err(message) => panics.push(format!("body {body:?}: Cadence::parse panicked: {message}")),
        }
    }
    assert!(panics.is_empty(), "a cadence file panics the library instead of getting an error:\n{}", panics.join("\n"));
}

/// minijinja's `divisibleby` test computes `a % 0` (minijinja-2.24.0
/// src/tests.rs:155:47, "attempt to calculate the remainder with a divisor of
/// zero"); reached from `Cadence::parse` through the trial render in
/// `Templates::check_renders` (src/cadence/templates.rs:105).
#[test]
fn template_divisibleby_zero_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{{ 5 is divisibleby 0 }}", "{{ 5 is divisibleby (x | length - 7) }}"]);
}

/// `loop.cycle()` without arguments computes `idx % 0` (minijinja-2.24.0
/// src/vm/loop_object.rs:162:28, "attempt to calculate the remainder with a
/// divisor of zero").
#[test]
fn template_loop_cycle_without_arguments_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{% for a in x %}{{ loop.cycle() }}{% endfor %}"]);
}

/// `batch(n)` and `slice(n)` reserve `n` elements up front: for n = i64::MAX,
/// "capacity overflow" (library/alloc/src/raw_vec/mod.rs:28:5). Smaller huge
/// counts abort instead (see `template_filters_with_huge_sizes_abort_the_process`).
#[test]
fn template_batch_or_slice_with_huge_count_panics_cadence_parse() {
    assert_parse_does_not_panic(&[
        "{{ x | list | batch(9223372036854775807) }}",
        "{{ x | batch(9223372036854775807) }}",
        "{{ x | list | slice(9223372036854775807) | list }}",
    ]);
}

/// `format` with a huge precision: "Formatting argument out of range"
/// (minijinja-2.24.0 src/format_utils.rs:574:31).
#[test]
fn template_format_with_huge_precision_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{{ '%.9999999999f' | format(1.5) }}"]);
}

/// A slice step of i64::MIN is negated (minijinja-2.24.0 src/value/ops.rs:179:55
/// for strings, :221:63 for lists, "attempt to negate with overflow"): a panic
/// with overflow checks on (debug builds, `cargo test`); release builds wrap.
#[test]
fn template_slice_step_of_i64_min_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{{ 'abc'[::-9223372036854775808] }}", "{{ [1, 2, 3][::-9223372036854775808] }}"]);
}

/// The check passes (its stand-in value "example" has 7 characters), but a
/// lead whose `x` has 3 makes the same template divide by zero: the panic
/// reaches `intake::read_rows` (`cadenced import`) through `intake::prepare`
/// and `Templates::render`; `dispatch` renders with the same function.
#[test]
fn lead_field_makes_template_panic_in_import() {
    let config = Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap();
    let source = cadence_with_body("{{ 5 is divisibleby (x | length - 3) }}");
    let cadence = Cadence::parse(Path::new("/p/cadences/c.toml"), &source, &config).unwrap();
    let csv = "email,x\nok@b.test,abcdefg\nboom@b.test,abc\n";
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    // The check only reads the cadence and config; nothing is left half-updated.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        intake::read_rows(Path::new("/p/leads.csv"), csv.as_bytes(), &ProgressBar::hidden(), |lead: &LeadInput| {
            intake::prepare(lead, &cadence, &config, now)
        })
        .map(|(good, bad)| (good.len(), bad.len()))
        .map_err(|e| e.to_string())
    }));
    assert!(
        result.is_ok(),
        "a CSV row with x = \"abc\" panics intake::read_rows instead of being reported as a bad row"
    );
}

/// Child half of `template_filters_with_huge_sizes_abort_the_process`: parses
/// a cadence whose body is `$CADENCED_FUZZ_ABORT_PROBE`.
#[test]
fn abort_probe_child() {
    let Ok(body) = std::env::var("CADENCED_FUZZ_ABORT_PROBE") else { return };
    let result = parses_without_panic(&cadence_with_body(&body));
    assert!(result.is_ok(), "panicked: {result:?}", result = result.err());
}

/// Filters that size a buffer from their argument make the allocator fail,
/// and a failed allocation aborts the process (SIGABRT, "memory allocation of
/// N bytes failed"): no error, no unwinding, `cadenced check`, `tick` and the
/// daemon (on start and on SIGHUP) die. Each input runs in a child process
/// under a 1 GiB address-space limit, so the test itself survives and no
/// machine is asked for the memory.
#[test]
fn template_filters_with_huge_sizes_abort_the_process() {
    let exe = std::env::current_exe().unwrap();
    let module = module_path!().split_once("::").map_or(module_path!(), |(_, rest)| rest);
    let child = format!("{module}::abort_probe_child");
    let bodies = [
        "{{ x | indent(99999999999999) }}",
        "{{ x | batch(9999999999) }}",
        "{{ x | slice(9999999999) | list }}",
        "{{ '%9999999999d' | format(1) }}",
        "{{ '%-9223372036854775808s' | format(x) }}",
    ];
    let mut died = Vec::new();
    for body in bodies {
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
            .arg(&exe)
            .args(["--exact", &child, "--test-threads=1", "--nocapture"])
            .env("CADENCED_FUZZ_ABORT_PROBE", body)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why: Vec<&str> =
                stderr.lines().filter(|l| l.contains("memory allocation") || l.contains("panicked")).collect();
            died.push(format!("body {body:?}: {} {}", output.status, why.join(" | ")));
        }
    }
    assert!(died.is_empty(), "a cadence file kills the process instead of getting an error:\n{}", died.join("\n"));
}

/// Table names, calendar names and file paths are printed raw in error
/// messages: a line break in one (`[mailboxes."a\nb"]`, a quoted key) splits
/// the error, and `cadenced check` prints lines that are not
/// `file:line:col: message` (src/config/mod.rs formats `mailboxes.{name}` and
/// `calendars.{name}` with `{}`; src/cadence/mod.rs and
/// src/config/calendars.rs, mailbox.rs print paths with `display()`).
#[test]
fn error_messages_with_line_breaks_break_the_file_line_col_format() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let mut broken = Vec::new();
    let configs = [
        "[mailboxes.\"a\\nb\"]\nfrom = \"a@b.test\"\n",
        "[mailboxes.sales]\nfrom = \"a@b.test\"\noutbox = \"o\"\n[calendars.\"x\\ry\"]\nworkdays = [\"Funday\"]\n",
        "[mailboxes.sales]\nfrom = \"a@b.test\"\noutbox = \"o\"\n[calendars.us]\nholidays_file = \"no\\nsuch.txt\"\n",
    ];
    for text in configs {
        if let Err(e) = Config::parse(Path::new(CONFIG_PATH), text)
            && let Err(why) = check_located(&e, CONFIG_PATH)
        {
            broken.push(format!("config {text:?}: {why}"));
        }
    }
    let config = Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap();
    let cadence = "[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\ntemplate = \"no\\nsuch.md\"\n";
    if let Err(e) = Cadence::parse(&dir.path().join("c.toml"), cadence, &config)
        && let Err(why) = check_located(&e, root)
    {
        broken.push(format!("cadence {cadence:?}: {why}"));
    }
    assert!(broken.is_empty(), "{}", broken.join("\n\n"));
}
