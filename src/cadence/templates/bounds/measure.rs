//! Sizes of values, taken before a builtin runs or a `{{ }}` is written:
//! items and nesting counted without recursion, printed bytes counted in a
//! meter that stops at the limit, and the strings that refuse to grow past it.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use minijinja::Value;
use minijinja::value::ValueKind;

use super::{MAX_DEPTH, MAX_ITEMS, MAX_TEXT, size};

/// A string that refuses to grow past `limit` bytes.
pub(super) struct Bounded {
    pub(super) text: String,
    pub(super) limit: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.text.len() + s.len() > self.limit {
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// Counts what is written, failing past `limit` bytes.
struct Meter {
    written: usize,
    limit: usize,
}

impl fmt::Write for Meter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.written = self.written.saturating_add(s.len());
        if self.written > self.limit { Err(fmt::Error) } else { Ok(()) }
    }
}

/// What makes a value too big to handle.
#[derive(Debug, Clone, Copy)]
pub(super) enum TooBig {
    Items,
    Depth,
    Text,
}

impl TooBig {
    /// What the value would be: "more than 100000 items".
    pub(super) fn what(self) -> String {
        match self {
            TooBig::Items => format!("more than {MAX_ITEMS} items"),
            TooBig::Depth => format!("lists nested more than {MAX_DEPTH} deep"),
            TooBig::Text => format!("more than {} of text", size(MAX_TEXT)),
        }
    }
}

/// The items (at every level) and the printed bytes of `value`, within the
/// bounds. Items are counted first, without recursion, and only then is the
/// value printed (into a meter): printing a list goes through every item even
/// once the meter is full, so a lazy list of a billion items is never printed.
pub(super) fn measure(value: &Value) -> Result<(usize, usize), TooBig> {
    if let Some(s) = value.as_str() {
        return if s.len() > MAX_TEXT { Err(TooBig::Text) } else { Ok((0, s.len())) };
    }
    let mut items = 0usize;
    let mut stack = vec![(value.clone(), 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if !is_list(&v) {
            continue;
        }
        if depth >= MAX_DEPTH {
            return Err(TooBig::Depth);
        }
        let Ok(iter) = v.try_iter() else { continue };
        let map = v.kind() == ValueKind::Map;
        for item in iter {
            items += 1;
            if items > MAX_ITEMS {
                return Err(TooBig::Items);
            }
            if map && let Ok(inner) = v.get_item(&item) {
                stack.push((inner, depth + 1));
            }
            stack.push((item, depth + 1));
        }
    }
    let bytes = printed(value, MAX_TEXT).ok_or(TooBig::Text)?;
    Ok((items, bytes))
}

/// Bytes `value` prints as (`{{ value }}`, `value | string`), if at most
/// `limit`. Only for a value [`measure`] found within the bounds.
pub(super) fn printed(value: &Value, limit: usize) -> Option<usize> {
    if let Some(s) = value.as_str() {
        return (s.len() <= limit).then_some(s.len());
    }
    let mut meter = Meter { written: 0, limit };
    // An object's printing may fail for reasons of its own: only the meter's count is a bound.
    let _ = write!(meter, "{value}");
    (meter.written <= limit).then_some(meter.written)
}

/// Bytes the pretty debug form (`pprint`) of `value` takes, if at most `limit`.
pub(super) fn pretty_printed(value: &Value, limit: usize) -> Option<usize> {
    let mut meter = Meter { written: 0, limit };
    let _ = write!(meter, "{value:#?}");
    (meter.written <= limit).then_some(meter.written)
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::Iterable)
}

/// Items `value` iterates over (characters for a text), if at most `limit`.
/// Only for a value [`measure`] found within the bounds.
pub(super) fn items(value: &Value, limit: usize) -> Option<usize> {
    let n = if let Some(s) = value.as_str() {
        s.chars().take(limit.saturating_add(1)).count()
    } else if is_list(value) {
        value.try_iter().map_or(0, |iter| iter.take(limit.saturating_add(1)).count())
    } else {
        0
    };
    (n <= limit).then_some(n)
}

/// The text a string-taking builtin makes of `value`; bounded, as every
/// argument was measured before.
pub(super) fn text_of(value: &Value) -> Cow<'_, str> {
    match value.as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(value.to_string()),
    }
}

/// The size of a number argument, whatever its type; `None` for a non-number.
pub(super) fn magnitude(value: &Value) -> Option<u128> {
    if value.kind() != ValueKind::Number {
        return None;
    }
    if let Ok(i) = i128::try_from(value.clone()) {
        return Some(i.unsigned_abs());
    }
    // A float: `as` saturates (and NaN is 0).
    f64::try_from(value.clone()).ok().map(|f| f.abs() as u128)
}
