//! Target `csv_rows`: `intake::read_rows` with `intake::prepare` as the
//! check, on well-formed, mutated and arbitrary CSV files: every record is
//! enrolled or reported with its line, or the whole file is refused.

use std::fmt;
use std::path::{Path, PathBuf};

use cadenced::cadence::Cadence;
use cadenced::config::Config;
use cadenced::intake::{self, LeadInput};
use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::generators::{email, instant, text, zone_name};
use super::mutations::{MAIL_TOKENS, byte_op, mutate_bytes};
use super::{Bytes, fuzz};

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
