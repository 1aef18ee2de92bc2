//! Shared value generators: short and odd text, addresses, time zones,
//! instants, and the combinators the document generators are built from.

use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

pub(super) const WEIRD: &[&str] = &[
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
pub(super) fn text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[ -~]{0,24}",
        2 => ".{0,16}",
        2 => vec(select(WEIRD), 0..8).prop_map(|v| v.concat()),
        1 => (select(&["a", "é", "😀", "{{", "\"", "\\", " ", "\n", "\r\n"][..]), 1usize..20_000)
            .prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

pub(super) const GOOD_EMAILS: &[&str] = &[
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
pub(super) fn good_email() -> BoxedStrategy<String> {
    prop_oneof![
        1 => select(GOOD_EMAILS).prop_map(str::to_string),
        1 => ("[a-z0-9]{1,6}([._%+-][a-zA-Z0-9]{1,4}){0,2}", "[a-z0-9]{1,10}", select(&["test", "example", "com"][..]))
            .prop_map(|(l, d, t)| format!("{l}@{d}.{t}")),
    ]
    .boxed()
}

/// An address: mostly valid ones, then every kind of broken one.
pub(super) fn email() -> BoxedStrategy<String> {
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

pub(super) const ZONES: &[&str] = &[
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
pub(super) fn zone_name() -> BoxedStrategy<String> {
    prop_oneof![
        8 => select(ZONES).prop_map(str::to_string),
        3 => any::<Index>().prop_map(|i| i.get(&chrono_tz::TZ_VARIANTS).name().to_string()),
        2 => select(ODD_ZONES).prop_map(str::to_string),
        1 => text(),
    ]
    .boxed()
}

pub(super) fn zone() -> BoxedStrategy<Tz> {
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

pub(super) fn instant() -> BoxedStrategy<DateTime<Utc>> {
    let at = |ts: i64| Utc.timestamp_opt(ts, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC);
    prop_oneof![
        2 => select(STARTS).prop_map(|(y, mo, d, h, mi, s)| Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()),
        3 => (1_700_000_000i64..1_900_000_000).prop_map(at),
        1 => (MIN_TS..=MAX_TS).prop_map(at),
    ]
    .boxed()
}

/// Mostly one of `good`; with `odd`, also one of `odd_values` or any text.
pub(super) fn one_of(
    good: &'static [&'static str],
    odd_values: &'static [&'static str],
    odd: bool,
) -> BoxedStrategy<String> {
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
pub(super) fn maybe<S>(p: f64, s: S) -> BoxedStrategy<Option<S::Value>>
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
pub(super) fn weighted<T: fmt::Debug + 'static>(options: Vec<(u32, BoxedStrategy<T>)>) -> BoxedStrategy<T> {
    prop::strategy::Union::new_weighted(options.into_iter().filter(|(w, _)| *w > 0).collect()).boxed()
}

/// 1.0 with `odd`, else 0.0: scales the probability of keys only odd files have.
pub(super) fn oddly(odd: bool) -> f64 {
    f64::from(u8::from(odd))
}
