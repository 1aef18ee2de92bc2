//! Text matching: the normalized diagnostic text, and the phrases with `*` wildcards.

use super::BounceReason;
use super::phrases::{NOT_REJECTED, PHRASES};
use crate::inbound::text;

/// Lowercased text with white space collapsed and the continuation prefixes of multi-line SMTP
/// replies ("550-5.1.1 ") taken out, so that a phrase broken over reply lines still reads as one.
pub(crate) fn normalize(text: &str) -> String {
    let squashed = text::squash(text);
    let mut out = String::with_capacity(squashed.len());
    for word in squashed.split(' ') {
        if is_continuation(word) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `550-5.1.1`, `550-`: the start of a continued line of a multi-line reply.
fn is_continuation(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() >= 4
        && b.iter().take(3).all(u8::is_ascii_digit)
        && b.get(3) == Some(&b'-')
        && matches!(b.first(), Some(b'4' | b'5'))
        && b.iter().skip(4).all(|c| c.is_ascii_digit() || *c == b'.')
}

/// True when `t` (normalized) holds one of `phrases`; see [`phrase_in`].
pub(super) fn text_has(t: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| phrase_in(t, p))
}

/// True when the text rules of `reason` match `t`.
pub(super) fn text_matches(reason: BounceReason, t: &str) -> bool {
    let Some((_, phrases)) = PHRASES.iter().flat_map(|group| group.iter()).find(|(r, _)| *r == reason) else {
        return false;
    };
    if reason == BounceReason::Rejected && text_has(t, NOT_REJECTED) {
        return false;
    }
    text_has(t, phrases)
}

/// True when `pattern` occurs in `hay`. In a pattern, `*` stands for one word: a run of characters
/// other than a space and the character that follows the `*` in the pattern.
pub(super) fn phrase_in(hay: &str, pattern: &str) -> bool {
    if !pattern.contains('*') {
        return hay.contains(pattern);
    }
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let mut from = 0;
    while let Some(p) = hay.get(from..).and_then(|h| h.find(first)) {
        let start = from + p;
        if rest_matches(hay.get(start + first.len()..).unwrap_or(""), &rest) {
            return true;
        }
        from = start + first.len().max(1);
        while from < hay.len() && !hay.is_char_boundary(from) {
            from += 1;
        }
        if from >= hay.len() {
            break;
        }
    }
    false
}

/// Matches `[word] literal [word] literal ...` at the start of `hay`.
fn rest_matches(hay: &str, literals: &[&str]) -> bool {
    let Some((lit, more)) = literals.split_first() else { return true };
    let stop = lit.chars().next();
    let word_end = hay.find(|c: char| c == ' ' || Some(c) == stop).unwrap_or(hay.len());
    if word_end == 0 {
        return false;
    }
    let after = hay.get(word_end..).unwrap_or("");
    after.starts_with(lit) && rest_matches(after.get(lit.len()..).unwrap_or(""), more)
}
