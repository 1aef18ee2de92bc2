//! Plain templates: text with `{{ name }}` and `{{ name | default('text') }}`
//! tags only, recognised from their source. Whether such a template renders
//! for a lead depends on the lead's fields and their lengths alone, so
//! checking a lead needs no render.

use super::Fields;
use super::bounds::MAX_FIELD;

/// A template made only of text and plain `{{ }}` tags (see [`plain_variables`]).
#[derive(Debug)]
pub(super) struct Plain {
    /// Variables without a default.
    pub(super) needed: Vec<String>,
    /// Every variable tag, once per tag.
    pub(super) tags: Vec<String>,
    /// The template's length: its text, tags and defaults, more than it writes of them.
    pub(super) source_len: usize,
}

impl Plain {
    /// Whether the template surely renders for a lead with `fields` (plus `email`),
    /// within `limit` bytes.
    pub(super) fn fits(&self, fields: &Fields, email: &str, limit: usize) -> bool {
        let value = |v: &String| if v == "email" { Some(email) } else { fields.get(v).map(String::as_str) };
        self.needed.iter().all(|v| value(v).is_some())
            && self.tags.iter().all(|v| value(v).is_none_or(|text| text.len() <= MAX_FIELD))
            && self
                .tags
                .iter()
                .try_fold(self.source_len, |len, v| len.checked_add(value(v).map_or(0, str::len)))
                .is_some_and(|len| len <= limit)
    }
}

/// Names the engine gives a meaning of its own: never treated as a plain variable.
const RESERVED: [&str; 13] = [
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "self",
    "loop",
    "super",
    "varargs",
    "kwargs",
    "caller",
    "namespace",
];

/// The variables `source` needs if it is plain text with `{{ name }}` and
/// `{{ name | default('text') }}` tags only (see [`Templates::plain`](super::Templates::plain)), with
/// the variable of every tag; else `None`. Anything else (statements, comments,
/// whitespace control, other filters or expressions) returns `None` and is
/// checked by rendering it.
pub(super) fn plain_variables(source: &str) -> Option<(Vec<String>, Vec<String>)> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let plain_name = |name: &str| {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !RESERVED.contains(&name)
    };
    let mut needed = Vec::new();
    let mut tags = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let inner = &after[..close];
        if inner.starts_with(['-', '+']) || inner.ends_with(['-', '+']) {
            return None;
        }
        let (name, filter) = match inner.split_once('|') {
            None => (inner.trim(), None),
            Some((name, filter)) => (name.trim(), Some(filter.trim())),
        };
        if !plain_name(name) {
            return None;
        }
        match filter {
            None => needed.push(name.to_string()),
            Some(filter) => {
                let literal = filter.strip_prefix("default(")?.strip_suffix(')')?.trim();
                let text = literal
                    .strip_prefix('\'')
                    .and_then(|l| l.strip_suffix('\''))
                    .or_else(|| literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')))?;
                if text.contains(['\'', '"', '\\', '{', '}']) {
                    return None;
                }
            }
        }
        tags.push(name.to_string());
        rest = &after[close + 2..];
    }
    Some((needed, tags))
}
