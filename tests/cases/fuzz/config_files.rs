//! Target `config_files`: `Config::parse` on generated and mutated config
//! files (with holiday and password files beside them); on success, what the
//! daemon asks of a loaded config.

use std::path::Path;

use cadenced::config::Config;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::cadence_files::{CADENCE_CONFIG, CADENCE_CONFIG_2};
use super::cron_exprs::cron;
use super::generators::{GOOD_EMAILS, ZONES, email, good_email, instant, maybe, oddly, one_of, text, zone_name};
use super::mutations::{mutate_text, text_op, token_soup};
use super::toml_writer::{basic, keyed, keyed_path, qstr, render_doc, string_list, tstr, unknown_entries};
use super::{check_located, fuzz};

pub(super) const CONFIG_PATH: &str = "/tmp/x/config.toml";

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
