//! Small text helpers shared by the classifiers: address and status-code scanning, header-style field
//! blocks, line handling. Everything works on `&str` with byte offsets that are only ever taken at ASCII
//! characters, and every slice goes through `str::get`, so no input can make these panic.

/// A `Name: value` field from a header block or a delivery-status part. `name` is lowercased, `value`
/// is unfolded and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    pub value: String,
}

/// Returns the value of the first field called `name` (lowercase).
pub(crate) fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

/// Iterates over the values of all fields called `name` (lowercase).
pub(crate) fn fields_named<'a>(fields: &'a [Field], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    fields.iter().filter(move |f| f.name == name).map(|f| f.value.as_str())
}

/// Parses `Name: value` lines into groups separated by blank lines. Continuation lines (starting with
/// white space) are appended to the previous field; lines that are neither are skipped. A space before
/// the colon (`Action : failed`) is tolerated.
pub(crate) fn field_groups(text: &str) -> Vec<Vec<Field>> {
    let mut groups = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = current.last_mut() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(line.trim());
            }
            continue;
        }
        if let Some(f) = parse_field_line(line) {
            current.push(f);
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Parses the first header block of `text` (leading blank lines skipped, stops at the first blank line
/// after at least one field).
pub(crate) fn header_block(text: &str) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    // A copy indented or quoted as a whole ("   Return-Path: ...", ">Received: ..."): the first
    // line's indentation or quoting is taken off every line that has it.
    // (An mbox "From " line may come first.)
    let prefix = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(2)
        .find_map(|l| {
            let rest = l.trim_start_matches([' ', '\t', '>']);
            let prefix = l.get(..l.len() - rest.len())?;
            parse_field_line(rest.trim_end()).is_some().then_some(prefix)
        })
        .unwrap_or("");
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let line = line.strip_prefix(prefix).unwrap_or(line);
        if line.trim().is_empty() {
            if out.is_empty() {
                continue;
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(line.trim());
            }
            continue;
        }
        match parse_field_line(line) {
            Some(f) => out.push(f),
            // mbox "From " separator lines may precede the headers.
            None if out.is_empty() => continue,
            None => break,
        }
    }
    out
}

/// `Name: value` (name of letters, digits, `-` and `_`, optional spaces before the colon).
pub(crate) fn parse_field_line(line: &str) -> Option<Field> {
    let colon = line.find(':')?;
    let name = line.get(..colon)?.trim_end();
    if name.is_empty() || name.len() > 76 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let value = line.get(colon + 1..)?.trim();
    Some(Field { name: name.to_ascii_lowercase(), value: value.to_string() })
}

/// True when `line` looks like a message header line (`Name: value` with a typical header name).
pub(crate) fn is_header_line(line: &str) -> bool {
    let Some(f) = parse_field_line(line.trim_start()) else { return false };
    const NAMES: &[&str] = &[
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "sent",
        "message-id",
        "return-path",
        "received",
        "reply-to",
        "sender",
        "references",
        "in-reply-to",
        "delivered-to",
        "envelope-to",
        "mime-version",
        "dkim-signature",
        "authentication-results",
        "errors-to",
        "user-agent",
        "importance",
        "thread-topic",
        "thread-index",
        "content-type",
        "content-transfer-encoding",
        "precedence",
        "list-unsubscribe",
        "feedback-id",
        "domainkey-signature",
        "received-spf",
        "resent-from",
        "resent-to",
        "organization",
    ];
    NAMES.contains(&f.name.as_str())
        || f.name.starts_with("x-")
        || f.name.starts_with("arc-")
        || f.name.starts_with("list-")
        || f.name.starts_with("content-")
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// An e-mail address found in a text: byte range and the lowercased address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub start: usize,
    pub end: usize,
    pub address: String,
}

/// Finds plausible e-mail addresses (`local@domain.tld`, ASCII) in `text`.
pub(crate) fn find_addresses(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut search_from = 0;
    while let Some(rel) = bytes.get(search_from..).and_then(|b| b.iter().position(|&c| c == b'@')) {
        let at = search_from + rel;
        search_from = at + 1;
        let mut start = at;
        // A quoted local part (RFC 5322 3.4.1: `"a..b"@example.com`) keeps its quotes.
        let quoted = bytes.get(at.wrapping_sub(1)) == Some(&b'"') && at > 1;
        let opening = quoted
            .then(|| bytes.get(at.saturating_sub(65)..at - 1))
            .flatten()
            .and_then(|b| b.iter().rposition(|&c| c == b'"').map(|p| at.saturating_sub(65) + p))
            .filter(|&q| {
                bytes.get(q + 1..at - 1).is_some_and(|inner| {
                    !inner.is_empty() && inner.iter().all(|&c| c.is_ascii_graphic() && !matches!(c, b'"' | b'<' | b'>'))
                })
            });
        if let Some(q) = opening {
            start = q;
        } else {
            while start > 0 && bytes.get(start - 1).is_some_and(|&b| is_local_char(b)) {
                start -= 1;
            }
        }
        let mut end = at + 1;
        while bytes.get(end).is_some_and(|&b| is_domain_char(b)) {
            end += 1;
        }
        // Trim dots and dashes the sentence put around the address.
        while start < at && bytes.get(start).is_some_and(|&b| matches!(b, b'.' | b'\'' | b'-')) {
            start += 1;
        }
        while end > at + 1 && bytes.get(end - 1).is_some_and(|&b| matches!(b, b'.' | b'-')) {
            end -= 1;
        }
        if start >= at || end <= at + 1 {
            continue;
        }
        let Some(candidate) = text.get(start..end) else { continue };
        let Some((local, domain)) = candidate.split_once('@') else { continue };
        if local.len() > 64 || domain.len() > 253 || !domain.contains('.') || domain.contains("..") {
            continue;
        }
        let tld = domain.rsplit('.').next().unwrap_or("");
        if tld.len() < 2 || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
            continue;
        }
        out.push(Found { start, end, address: candidate.to_ascii_lowercase() });
        search_from = end.max(search_from);
    }
    out
}

/// The first address in `text`, lowercased.
pub(crate) fn first_address(text: &str) -> Option<String> {
    find_addresses(text).into_iter().next().map(|f| f.address)
}

/// An enhanced status code (RFC 3463) found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Code {
    pub start: usize,
    pub code: String,
}

fn digit_run(bytes: &[u8], from: usize, max: usize) -> usize {
    let mut n = 0;
    while n <= max && bytes.get(from + n).is_some_and(|b| b.is_ascii_digit()) {
        n += 1;
    }
    n
}

/// Finds enhanced status codes `4.x.x` / `5.x.x` (class 2 codes are ignored) that stand on their own:
/// not part of a dotted number such as an IP address or a version.
pub(crate) fn enhanced_codes(text: &str) -> Vec<Code> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if (b == b'4' || b == b'5')
            && bytes.get(i + 1) == Some(&b'.')
            && (i == 0 || bytes.get(i - 1).is_some_and(|&p| !p.is_ascii_alphanumeric() && p != b'.' && p != b'-'))
        {
            let s = digit_run(bytes, i + 2, 3);
            if (1..=3).contains(&s) && bytes.get(i + 2 + s) == Some(&b'.') {
                let d = digit_run(bytes, i + 3 + s, 3);
                let end = i + 3 + s + d;
                let next = bytes.get(end).copied();
                let next2 = bytes.get(end + 1).copied();
                let ok_end = match next {
                    None => true,
                    Some(b'.') => !next2.is_some_and(|c| c.is_ascii_digit()),
                    Some(c) => !c.is_ascii_alphanumeric() && c != b'-',
                };
                if (1..=3).contains(&d) && ok_end {
                    if let Some(code) = text.get(i..end) {
                        out.push(Code { start: i, code: code.to_string() });
                    }
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// The most telling enhanced code of a diagnostic text: the first one that directly follows an SMTP
/// reply code (`550 5.1.1`, `550-'5.2.2`), else the first one.
pub(crate) fn best_enhanced(text: &str) -> Option<String> {
    let codes = enhanced_codes(text);
    let after_reply = codes.iter().find(|c| {
        let before = text.get(..c.start).unwrap_or("").trim_end_matches([' ', '-', '\'', '"', '(', '#']);
        let tail: Vec<u8> = before.bytes().rev().take(4).collect();
        tail.len() >= 3
            && tail.iter().take(3).all(u8::is_ascii_digit)
            && tail.get(3).is_none_or(|b| !b.is_ascii_alphanumeric())
    });
    after_reply.or(codes.first()).map(|c| c.code.clone())
}

/// Finds SMTP reply codes (`4xx` / `5xx`) in places where they are clearly reply codes: at the start of
/// a line, before an enhanced code or a `-`/space and text, after `said:`, `smtp;`, `returned '`, `#`...
pub(crate) fn smtp_codes(text: &str) -> Vec<Code> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        let b0 = bytes.get(i).copied().unwrap_or(0);
        let is_code = (b0 == b'4' || b0 == b'5')
            && bytes.get(i + 1).is_some_and(|b| (b'0'..=b'5').contains(b))
            && bytes.get(i + 2).is_some_and(|b| b.is_ascii_digit());
        if !is_code {
            i += 1;
            continue;
        }
        let prev = if i == 0 { None } else { bytes.get(i - 1).copied() };
        let next = bytes.get(i + 3).copied();
        let boundary_before = prev.is_none_or(|p| !p.is_ascii_alphanumeric() && p != b'.' && p != b'-' && p != b':');
        let boundary_after =
            next.is_none_or(|n| matches!(n, b' ' | b'-' | b'\t' | b'\r' | b'\n' | b'\'' | b')' | b','));
        if boundary_before && boundary_after {
            // Look back at most 64 bytes (to the start of the line).
            let window_start = char_floor(text, i.saturating_sub(64));
            let window = text.get(window_start..i).unwrap_or("");
            let before = window.rfind('\n').map_or(window, |p| window.get(p + 1..).unwrap_or("")).to_ascii_lowercase();
            let before_trim = before.trim_end();
            let at_line_start = before.trim().is_empty() || before.trim() == "<<<" || before.trim() == ">>>";
            let after = text.get(i + 3..(i + 12).min(text.len())).unwrap_or("");
            let followed_by_enhanced =
                after.trim_start_matches([' ', '-']).as_bytes().first().is_some_and(|&c| c == b'4' || c == b'5')
                    && !enhanced_codes(after.trim_start_matches([' ', '-'])).is_empty();
            let after_keyword = [
                "said:",
                "said",
                "smtp;",
                "smtp ;",
                "returned '",
                "returned",
                "error",
                "code",
                "response:",
                "reply:",
                "#",
                "(",
                "[",
                "<<<",
                "status:",
                "failed:",
                "reason:",
                "failure:",
                ":",
                "...",
                "=",
            ]
            .iter()
            .any(|k| before_trim.ends_with(k));
            if (at_line_start || followed_by_enhanced || after_keyword)
                && let Some(code) = text.get(i..i + 3)
            {
                out.push(Code { start: i, code: code.to_string() });
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    out
}

/// The largest character boundary of `text` at or after `i` (clamped to the length).
pub(crate) fn char_floor(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Lowercases and collapses every run of white space to a single space.
pub(crate) fn squash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// True when `hay` contains any of `needles`.
pub(crate) fn contains_any(hay: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| hay.contains(n))
}

/// Cuts `text` to at most `max` bytes at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.get(..cut).unwrap_or("")
}

/// Very small HTML to text conversion: drops tags, `<style>`/`<script>` contents and comments, turns
/// block-level tags and `<br>` into line breaks and decodes the common entities.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_decoded(&mut out, rest.get(..lt).unwrap_or(""));
        let after = rest.get(lt..).unwrap_or("");
        if after.starts_with("<!--") {
            rest = match after.find("-->") {
                Some(p) => after.get(p + 3..).unwrap_or(""),
                None => "",
            };
            continue;
        }
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after.get(1..gt).unwrap_or("").trim().to_ascii_lowercase();
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        rest = after.get(gt + 1..).unwrap_or("");
        if (name == "style" || name == "script" || name == "head" || name == "title") && !tag.starts_with('/') {
            let close = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = match lower.find(&close) {
                Some(p) => {
                    let tail = rest.get(p..).unwrap_or("");
                    match tail.find('>') {
                        Some(q) => tail.get(q + 1..).unwrap_or(""),
                        None => "",
                    }
                }
                None => "",
            };
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p"
                | "div"
                | "tr"
                | "li"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "table"
                | "blockquote"
                | "pre"
                | "hr"
        ) {
            out.push('\n');
        }
    }
    push_decoded(&mut out, rest);
    out
}

fn push_decoded(out: &mut String, text: &str) {
    if !text.contains('&') {
        out.push_str(text);
        return;
    }
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp..).unwrap_or("");
        let semi = after.get(..after.len().min(12)).and_then(|s| s.find(';'));
        match semi {
            Some(semi) => {
                let entity = after.get(1..semi).unwrap_or("");
                let decoded = match entity {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    _ => {
                        if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                            u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
                        } else if let Some(dec) = entity.strip_prefix('#') {
                            dec.parse::<u32>().ok().and_then(char::from_u32)
                        } else {
                            None
                        }
                    }
                };
                match decoded {
                    Some(c) => {
                        out.push(c);
                        rest = after.get(semi + 1..).unwrap_or("");
                    }
                    None => {
                        out.push('&');
                        rest = after.get(1..).unwrap_or("");
                    }
                }
            }
            None => {
                out.push('&');
                rest = after.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
}

/// Normalises a Message-ID to the `<...>` form. Returns `None` for values that are not message ids
/// (empty, with white space, without `@`).
pub(crate) fn bracket_id(id: &str) -> Option<String> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>').trim();
    if id.is_empty() || id.contains(char::is_whitespace) || !id.contains('@') {
        return None;
    }
    Some(format!("<{id}>"))
}

/// Extracts Message-IDs from a header value: every `<...>` token, or the bare value when it has no
/// angle brackets.
pub(crate) fn ids_in(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(lt) = rest.find('<') {
        let after = rest.get(lt + 1..).unwrap_or("");
        match after.find('>') {
            Some(gt) => {
                if let Some(id) = after.get(..gt).and_then(bracket_id) {
                    out.push(id);
                }
                rest = after.get(gt + 1..).unwrap_or("");
            }
            None => break,
        }
    }
    if out.is_empty() {
        let bare = value.trim();
        if bare.contains('@')
            && let Some(id) = bracket_id(bare)
        {
            out.push(id);
        }
    }
    out
}

/// Pushes `item` when not already present.
pub(crate) fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests;
