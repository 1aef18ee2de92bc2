//! Mutators: edits of a text (at character boundaries, with TOML and Jinja
//! tokens) and of a byte string (with MIME and bounce tokens, splices of
//! other inputs), and token soup.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::generators::text;

const TEXT_TOKENS: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "=",
    " = ",
    "[",
    "]",
    "[[steps]]",
    "[steps]",
    "{",
    "}",
    ",",
    "#",
    ".",
    "\\",
    "\\u",
    "\\U0010FFFF",
    "\\uD800",
    "\\n",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "\0",
    "\u{feff}",
    "\u{202e}",
    "\u{fffd}",
    "\u{10ffff}",
    "\u{301}",
    "é",
    "😀",
    "-",
    "99999999999999999999",
    "0 0 0 31 2 *",
    "id = \"x\"",
    "wait = \"1d\"",
    "kind = \"email\"",
    "subject = \"s\"",
    "body = \"b\"",
    "window = \"0 * * * * *\"",
    "[mailboxes.sales]",
    "from = \"a@b.test\"",
    "outbox = \"o\"",
    "[calendars.us]",
    "[owners.\"a@b.test\"]",
    "true",
];

/// One edit of a text, at positions chosen relative to its length.
#[derive(Debug, Clone)]
pub(super) enum TextOp {
    Insert(Index, String),
    Delete(Index, usize),
    Replace(Index, usize, String),
    Duplicate(Index, usize, Index),
    Truncate(Index),
    SwapLines(Index, Index),
}

pub(super) fn text_op() -> BoxedStrategy<TextOp> {
    let token = prop_oneof![3 => select(TEXT_TOKENS).prop_map(str::to_string), 1 => text()];
    prop_oneof![
        4 => (any::<Index>(), token.clone()).prop_map(|(i, t)| TextOp::Insert(i, t)),
        2 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| TextOp::Delete(i, n)),
        3 => (any::<Index>(), 1usize..20, token).prop_map(|(i, n, t)| TextOp::Replace(i, n, t)),
        2 => (any::<Index>(), 1usize..200, any::<Index>()).prop_map(|(i, n, j)| TextOp::Duplicate(i, n, j)),
        1 => any::<Index>().prop_map(TextOp::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(i, j)| TextOp::SwapLines(i, j)),
    ]
    .boxed()
}

/// Applies `ops` to `source` at character boundaries (the result is a `&str` for the parsers).
pub(super) fn mutate_text(source: &str, ops: &[TextOp]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for op in ops {
        let len = chars.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
        match op {
            TextOp::Insert(i, t) => {
                let p = at(i);
                chars.splice(p..p, t.chars());
            }
            TextOp::Delete(i, n) => {
                let p = at(i);
                chars.drain(p..(p + n).min(len));
            }
            TextOp::Replace(i, n, t) => {
                let p = at(i);
                chars.splice(p..(p + n).min(len), t.chars());
            }
            TextOp::Duplicate(i, n, j) => {
                let p = at(i);
                let piece: Vec<char> = chars[p..(p + n).min(len)].to_vec();
                let q = at(j);
                chars.splice(q..q, piece);
            }
            TextOp::Truncate(i) => chars.truncate(at(i)),
            TextOp::SwapLines(i, j) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.split('\n').collect();
                if !lines.is_empty() {
                    let (a, b) = (i.index(lines.len()), j.index(lines.len()));
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// Token soup: TOML- and Jinja-looking pieces in any order.
pub(super) fn token_soup() -> BoxedStrategy<String> {
    vec(prop_oneof![4 => select(TEXT_TOKENS).prop_map(str::to_string), 1 => text()], 0..60)
        .prop_map(|v| v.concat())
        .boxed()
}

pub(super) const MAIL_TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\n\n",
    b"\r\n\r\n",
    b":",
    b";",
    b",",
    b"\"",
    b"\"\"",
    b"<",
    b">",
    b"@",
    b"=?utf-8?B?",
    b"=?iso-8859-1?Q?",
    b"=?x-unknown?X?",
    b"?=",
    b"=?",
    b"--",
    b"--b",
    b"--b--",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: text/rfc822-headers\r\n",
    b"Content-Type: message/feedback-report\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"=\r\n",
    b"=XX",
    b"=0",
    b"boundary=",
    b"charset=",
    b"Final-Recipient: rfc822; ",
    b"Action: failed\r\n",
    b"Status: 5.1.1\r\n",
    b"Status: 4.",
    b"Diagnostic-Code: smtp; 550 5.1.1 ",
    b"X-Failed-Recipients: ",
    b"Auto-Submitted: auto-replied\r\n",
    b"In-Reply-To: <",
    b"References: ",
    b"Message-ID: <",
    b"From: ",
    b"To: ",
    b"Subject: ",
    b"Date: ",
    b"\0",
    b"\xef\xbb\xbf",
    b"\t",
    b" ",
    b"\xff",
    b"\xc3",
    b"\xe2\x80",
    b"begin 644 x\n",
    b"end\n",
    b"{\"notificationType\":\"Bounce\",",
    b"Feedback-Type: abuse\r\n",
    b"Return-Path: <>\r\n",
    b"unsubscribe",
];

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub(super) enum ByteOp {
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Duplicate(Index, usize, Index),
    Truncate(Index),
    /// Insert a piece of the `donor`-th fixture (or the input itself).
    Splice(Index, Index, usize, Index),
    /// A header line at the top or after a line break.
    InjectHeader(Index, Vec<u8>),
    LineEndings(bool),
}

pub(super) fn byte_op() -> BoxedStrategy<ByteOp> {
    let token = prop_oneof![3 => select(MAIL_TOKENS).prop_map(<[u8]>::to_vec), 1 => vec(any::<u8>(), 1..16)];
    let header = (
        select(&[
            "From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Message-ID",
            "In-Reply-To", "References", "Auto-Submitted", "X-Autoreply", "Precedence", "List-Id", "X-Failed-Recipients",
            "Date", "Return-Path", "Sender", "Reply-To", "X-SES-Outgoing", "Bcc",
        ][..]),
        vec(prop_oneof![3 => select(MAIL_TOKENS).prop_map(<[u8]>::to_vec), 2 => "[ -~]{0,30}".prop_map(String::into_bytes)], 0..4),
    )
        .prop_map(|(name, value)| {
            let mut h = format!("{name}: ").into_bytes();
            h.extend(value.concat());
            h.extend(b"\r\n");
            h
        });
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Flip(i, b)),
        3 => (any::<Index>(), token).prop_map(|(i, t)| ByteOp::Insert(i, t)),
        2 => (any::<Index>(), 1usize..200).prop_map(|(i, n)| ByteOp::Delete(i, n)),
        2 => (any::<Index>(), 1usize..2000, any::<Index>()).prop_map(|(i, n, j)| ByteOp::Duplicate(i, n, j)),
        1 => any::<Index>().prop_map(ByteOp::Truncate),
        2 => (any::<Index>(), any::<Index>(), 1usize..4000, any::<Index>()).prop_map(|(d, i, n, j)| ByteOp::Splice(d, i, n, j)),
        2 => (any::<Index>(), header).prop_map(|(i, h)| ByteOp::InjectHeader(i, h)),
        1 => any::<bool>().prop_map(ByteOp::LineEndings),
    ]
    .boxed()
}

pub(super) fn mutate_bytes(mut data: Vec<u8>, ops: &[ByteOp], donors: &[Vec<u8>]) -> Vec<u8> {
    for op in ops {
        let len = data.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
        match op {
            ByteOp::Flip(i, b) => {
                if len > 0 {
                    data[i.index(len)] ^= b | 1;
                }
            }
            ByteOp::Insert(i, t) => {
                let p = at(i);
                data.splice(p..p, t.iter().copied());
            }
            ByteOp::Delete(i, n) => {
                let p = at(i);
                data.drain(p..(p + n).min(len));
            }
            ByteOp::Duplicate(i, n, j) => {
                let p = at(i);
                let piece = data[p..(p + n).min(len)].to_vec();
                let q = at(j);
                data.splice(q..q, piece);
            }
            ByteOp::Truncate(i) => data.truncate(at(i)),
            ByteOp::Splice(d, i, n, j) => {
                let donor = if donors.is_empty() { data.clone() } else { donors[d.index(donors.len())].clone() };
                let p = if donor.is_empty() { 0 } else { i.index(donor.len()) };
                let piece = &donor[p..(p + n).min(donor.len())];
                let q = at(j);
                data.splice(q..q, piece.iter().copied());
            }
            ByteOp::InjectHeader(i, h) => {
                let breaks: Vec<usize> =
                    data.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(k, _)| k + 1).take(200).collect();
                let p = if breaks.is_empty() || i.index(3) == 0 { 0 } else { breaks[i.index(breaks.len())] };
                data.splice(p..p, h.iter().copied());
            }
            ByteOp::LineEndings(crlf) => {
                let lf_only: Vec<u8> = data.iter().copied().filter(|b| *b != b'\r').collect();
                data = if *crlf {
                    lf_only.iter().flat_map(|b| if *b == b'\n' { vec![b'\r', b'\n'] } else { vec![*b] }).collect()
                } else {
                    lf_only
                };
            }
        }
    }
    data
}
