//! Writing generated values as TOML: the four string quotings (and broken
//! ones), values of the wrong type, `key = value` lines, whole documents.

use std::fmt::Write as _;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::generators::{maybe, text};

#[derive(Debug, Clone, Copy)]
enum Quote {
    Basic,
    Multi,
    Literal,
    MultiLiteral,
}

/// `s` as a TOML basic string (escaped) or multi-line basic string.
pub(super) fn basic(s: &str, multiline: bool) -> String {
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
pub(super) fn tstr(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<String> {
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
pub(super) fn qstr(s: impl Strategy<Value = String> + 'static, odd: bool) -> BoxedStrategy<String> {
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
pub(super) fn keyed(
    key: &'static str,
    p: f64,
    value: BoxedStrategy<String>,
    odd: bool,
) -> BoxedStrategy<Option<String>> {
    let value = if odd { prop_oneof![20 => value, 1 => tstr(text()), 1 => raw_value()].boxed() } else { value };
    maybe(p, value).prop_map(move |v| v.map(|v| format!("{key} = {v}"))).boxed()
}

/// `key = value` for keys that name files: only the given (safe) values, so
/// that no case reads a device or a huge file.
pub(super) fn keyed_path(key: &'static str, p: f64, paths: &'static [&'static str]) -> BoxedStrategy<Option<String>> {
    maybe(p, select(paths).prop_map(|s| basic(s, false))).prop_map(move |v| v.map(|v| format!("{key} = {v}"))).boxed()
}

const UNKNOWN_KEYS: &[&str] =
    &["imap", "sent_folder", "steps", "id", "windows", "Description", "x", "\"\"", "\"a.b\"", "a.b"];

/// Keys nobody defined (only with `odd`).
pub(super) fn unknown_entries(odd: bool) -> BoxedStrategy<Vec<String>> {
    maybe(
        if odd { 0.1 } else { 0.0 },
        (prop_oneof![3 => select(UNKNOWN_KEYS).prop_map(str::to_string), 1 => "[a-z_]{1,10}"], raw_value())
            .prop_map(|(k, v)| format!("{k} = {v}")),
    )
    .prop_map(|e| e.into_iter().collect())
    .boxed()
}

/// A TOML document from sections of `key = value` lines, with a line ending.
pub(super) fn render_doc(sections: &[(String, Vec<Option<String>>)], crlf: bool) -> String {
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

/// A TOML array of `min..max` strings.
pub(super) fn string_list(items: BoxedStrategy<String>, min: usize, max: usize) -> BoxedStrategy<String> {
    vec(items, min..max)
        .prop_map(|v| format!("[{}]", v.iter().map(|s| basic(s, false)).collect::<Vec<_>>().join(", ")))
        .boxed()
}
