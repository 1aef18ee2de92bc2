//! What a builtin would make of its arguments, for those that can make much
//! more than they are given (`indent`, `replace`, `join`, `format`, `batch`,
//! `split`, ...), checked before it runs; and `format`'s widths read as
//! minijinja reads them.

use minijinja::{Error, ErrorKind, Value};

use super::measure::{items, magnitude, pretty_printed, printed, text_of};
use super::{MAX_ITEMS, MAX_TEXT, MAX_WIDTH, past, too_long, too_many};

/// What builtin `name` would make of `args`, for those that can make much
/// more than they are given, checked before it runs.
pub(super) fn check_growth(name: &str, what: &str, args: &[Value]) -> Result<(), Error> {
    let value = positional(args, 0);
    match name {
        "indent" => {
            let width = positional(args, 1).cloned().or_else(|| keyword(args, "width"));
            let width = width.as_ref().and_then(magnitude).unwrap_or(4);
            if width > MAX_WIDTH as u128 {
                return Err(past(format!("{what}: a width of {width} is more than {MAX_WIDTH}")));
            }
            let text = value.map(text_of).unwrap_or_default();
            let lines = text.matches('\n').count() + 1;
            if text.len().saturating_add(lines.saturating_mul(width as usize)) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "replace" => {
            let (Some(value), Some(from), Some(to)) = (value, positional(args, 1), positional(args, 2)) else {
                return Ok(());
            };
            let (value, from, to) = (text_of(value), text_of(from), text_of(to));
            let hits = if from.is_empty() { value.chars().count() + 1 } else { value.matches(&*from).count() };
            if value.len().saturating_add(hits.saturating_mul(to.len())) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "join" => {
            let Some(value) = value else { return Ok(()) };
            let n = items(value, MAX_TEXT).unwrap_or(MAX_TEXT);
            let joiner = positional(args, 1).map_or(0, |j| text_of(j).len());
            let printed = printed(value, MAX_TEXT).unwrap_or(MAX_TEXT);
            if printed.saturating_add(n.saturating_mul(joiner)) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "format" => {
            let Some(format) = value.and_then(Value::as_str) else { return Ok(()) };
            let (specs, widest) = printf_specs(format);
            if widest > MAX_WIDTH as u128 {
                return Err(past(format!("{what}: a width or precision of {widest} is more than {MAX_WIDTH}")));
            }
            let longest = args.iter().skip(1).map(|a| printed(a, MAX_TEXT).unwrap_or(MAX_TEXT)).max().unwrap_or(0);
            // A number prints in at most ~320 digits (f64::MAX with `%f`), plus its precision.
            let each = longest.saturating_add(2 * widest as usize).saturating_add(330);
            if format.len().saturating_add(specs.saturating_mul(each)) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "batch" | "slice" => {
            if let Some(count) = positional(args, 1).and_then(magnitude)
                && count > MAX_ITEMS as u128
            {
                return Err(past(format!("{what}: a count of {count} is more than {MAX_ITEMS}")));
            }
            if value.is_some_and(|v| items(v, MAX_ITEMS).is_none()) {
                return Err(too_many(what));
            }
        }
        "split" => {
            let Some(value) = value else { return Ok(()) };
            let text = text_of(value);
            let parts = match positional(args, 1).filter(|s| !s.is_none()).map(text_of) {
                None => text.split_whitespace().count(),
                Some(sep) if sep.is_empty() => text.chars().count() + 2,
                Some(sep) => text.matches(&*sep).count() + 1,
            };
            if parts > MAX_ITEMS {
                return Err(too_many(what));
            }
        }
        "lines" if value.is_some_and(|v| text_of(v).matches('\n').count() >= MAX_ITEMS) => {
            return Err(too_many(what));
        }
        // Filters that collect what they iterate over; a text's items are its characters.
        "list" | "sort" | "unique" | "map" | "select" | "reject" | "selectattr" | "rejectattr" | "groupby" | "min"
        | "max" | "sum" | "chain" | "zip"
            if value.is_some_and(|v| items(v, MAX_ITEMS).is_none()) =>
        {
            return Err(too_many(what));
        }
        "pprint" if value.is_some_and(|v| pretty_printed(v, MAX_TEXT).is_none()) => return Err(too_long(what)),
        // The builtin computes `value % 0`, which panics.
        "divisibleby" if positional(args, 1).and_then(magnitude) == Some(0) => {
            return Err(Error::new(ErrorKind::InvalidOperation, "divisibleby 0: cannot divide by zero"));
        }
        _ => {}
    }
    Ok(())
}

/// The replacement fields of printf-style `format` and the largest width or
/// precision among them (saturating; digits only, as minijinja reads them).
pub(super) fn printf_specs(format: &str) -> (usize, u128) {
    let bytes = format.as_bytes();
    let (mut specs, mut widest) = (0usize, 0u128);
    let mut i = 0;
    let number = |i: &mut usize| {
        let mut n = 0u128;
        while let Some(d) = bytes.get(*i).filter(|b| b.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add(u128::from(d - b'0'));
            *i += 1;
        }
        n
    };
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'%') {
            i += 2;
            continue;
        }
        i += 1;
        specs += 1;
        if bytes.get(i) == Some(&b'(') {
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            i += 1;
        }
        while matches!(bytes.get(i), Some(b'#' | b'0' | b'-' | b' ' | b'+')) {
            i += 1;
        }
        widest = widest.max(number(&mut i));
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            widest = widest.max(number(&mut i));
        }
    }
    (specs, widest)
}

/// The `i`th positional argument (the filtered value is the 0th).
fn positional(args: &[Value], i: usize) -> Option<&Value> {
    args.iter().filter(|a| !a.is_kwargs()).nth(i)
}

/// Keyword argument `name`, if given.
fn keyword(args: &[Value], name: &str) -> Option<Value> {
    args.last().filter(|a| a.is_kwargs()).and_then(|k| k.get_attr(name).ok()).filter(|v| !v.is_undefined())
}
