//! Cron expressions for `window` and `digest`: known whole ones, plausible
//! 6- and 7-field ones and, for odd files, odd fields and any text.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::generators::text;

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
pub(super) fn cron(odd: bool) -> BoxedStrategy<String> {
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
