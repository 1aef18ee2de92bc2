//! Reading a message the test SMTP server received: its header fields
//! (unfolded) and its body (quoted-printable and base64 decoded), so a test
//! can assert on what a recipient would read.

use super::{Received, decode_base64};

#[allow(dead_code)]
impl Received {
    /// First header field called `name` (ASCII case-insensitive), unfolded,
    /// with its value trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = split_message(&self.data);
        unfold_headers(head).into_iter().find_map(|field| {
            let (field_name, value) = field.split_once(':')?;
            field_name.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }

    /// `header("Message-ID")`, angle brackets included as sent.
    pub fn message_id(&self) -> Option<String> {
        self.header("Message-ID")
    }

    /// Text after the first empty line, without the line break that ends the
    /// last line. A single-part body with `Content-Transfer-Encoding:
    /// quoted-printable` or `base64` is decoded (as UTF-8, lossily).
    pub fn body(&self) -> String {
        let (_, body) = split_message(&self.data);
        let body = body.strip_suffix("\r\n").or_else(|| body.strip_suffix('\n')).unwrap_or(body);
        let multipart = self.header("Content-Type").is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/"));
        if multipart {
            return body.to_string();
        }
        let encoding = self.header("Content-Transfer-Encoding").map(|v| v.to_ascii_lowercase());
        match encoding.as_deref() {
            Some("quoted-printable") => String::from_utf8_lossy(&decode_quoted_printable(body)).into_owned(),
            Some("base64") => match decode_base64(body) {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => body.to_string(),
            },
            _ => body.to_string(),
        }
    }
}

/// Splits a message at its first empty line: (header section, body).
fn split_message(data: &str) -> (&str, &str) {
    let mut pos = 0;
    for line in data.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        let content = content.strip_suffix('\r').unwrap_or(content);
        if content.is_empty() {
            return (&data[..pos], &data[pos + line.len()..]);
        }
        pos += line.len();
    }
    (data, "")
}

/// Header fields with folded continuation lines joined to their field.
fn unfold_headers(head: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t'])
            && let Some(last) = fields.last_mut()
        {
            last.push_str(line);
            continue;
        }
        fields.push(line.to_string());
    }
    fields
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 2045 quoted-printable; a malformed `=` sequence is kept literally.
fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, raw) in lines.iter().enumerate() {
        let had_cr = raw.ends_with('\r');
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let bytes = line.trim_end_matches([' ', '\t']).as_bytes();
        let mut soft_break = false;
        let mut j = 0;
        while j < bytes.len() {
            if bytes[j] != b'=' {
                out.push(bytes[j]);
                j += 1;
                continue;
            }
            if j + 1 == bytes.len() {
                soft_break = true;
                break;
            }
            let high = bytes.get(j + 1).copied().and_then(hex_value);
            let low = bytes.get(j + 2).copied().and_then(hex_value);
            match (high, low) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    j += 3;
                }
                _ => {
                    out.push(b'=');
                    j += 1;
                }
            }
        }
        if i + 1 < lines.len() && !soft_break {
            if had_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
        }
    }
    out
}
