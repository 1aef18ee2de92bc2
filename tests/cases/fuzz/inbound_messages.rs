//! Target `inbound_messages`: `inbound::classify` on arbitrary bytes,
//! mutations of the bounce fixtures in `tests/fixtures/bounces`, and
//! generated MIME.

use std::path::PathBuf;
use std::sync::Arc;

use cadenced::inbound;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::generators::{WEIRD, email, text};
use super::mutations::{MAIL_TOKENS, byte_op, mutate_bytes};
use super::{Bytes, fuzz};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bounces");

/// Stand-ins when the fixture folder is missing.
const FALLBACK_MESSAGES: &[&[u8]] = &[
    b"From: MAILER-DAEMON@x.test\r\nTo: a@seller.test\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
Reporting-MTA: dns; x.test\r\n\r\nFinal-Recipient: rfc822; jane@acme.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <1.2@seller.test>\r\n--b--\r\n",
    b"From: Jane <jane@acme.test>\r\nTo: a@seller.test\r\nSubject: Re: hi\r\nIn-Reply-To: <1.2@seller.test>\r\n\r\nThanks!\r\n",
];

fn fixtures() -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    if out.is_empty() {
        eprintln!("fuzz inbound_messages: no fixtures in {FIXTURES}; using built-in messages");
        out.extend(FALLBACK_MESSAGES.iter().map(|m| m.to_vec()));
    }
    out
}

/// A generated MIME entity.
#[derive(Debug, Clone)]
enum Mime {
    Leaf { headers: Vec<String>, ctype: String, cte: Option<&'static str>, encode: bool, body: Vec<u8> },
    Multi { headers: Vec<String>, subtype: String, boundary: String, preamble: String, parts: Vec<Mime>, close: bool },
    Message { headers: Vec<String>, ctype: &'static str, inner: Box<Mime> },
}

fn b64(data: &[u8]) -> Vec<u8> {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for (n, chunk) in data.chunks(3).enumerate() {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            out.push(if k <= chunk.len() { ABC[(v >> (18 - 6 * k)) as usize & 63] } else { b'=' });
        }
        if n % 19 == 18 {
            out.extend(b"\r\n");
        }
    }
    out
}

fn qp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, b) in data.iter().enumerate() {
        if (b' '..=b'~').contains(b) && *b != b'=' || *b == b'\n' {
            out.push(*b);
        } else {
            out.extend(format!("={b:02X}").into_bytes());
        }
        if n % 70 == 69 {
            out.extend(b"=\r\n");
        }
    }
    out
}

fn render_mime(m: &Mime, out: &mut Vec<u8>) {
    let headers = |out: &mut Vec<u8>, hs: &[String]| {
        for h in hs {
            out.extend(h.as_bytes());
            out.extend(b"\r\n");
        }
    };
    match m {
        Mime::Leaf { headers: hs, ctype, cte, encode, body } => {
            headers(out, hs);
            out.extend(format!("Content-Type: {ctype}\r\n").into_bytes());
            if let Some(cte) = cte {
                out.extend(format!("Content-Transfer-Encoding: {cte}\r\n").into_bytes());
            }
            out.extend(b"\r\n");
            match (*cte, *encode) {
                (Some("base64"), true) => out.extend(b64(body)),
                (Some("quoted-printable"), true) => out.extend(qp(body)),
                _ => out.extend(body),
            }
        }
        Mime::Multi { headers: hs, subtype, boundary, preamble, parts, close } => {
            headers(out, hs);
            out.extend(
                format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n{preamble}").into_bytes(),
            );
            for p in parts {
                out.extend(format!("\r\n--{boundary}\r\n").into_bytes());
                render_mime(p, out);
            }
            if *close {
                out.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
            }
        }
        Mime::Message { headers: hs, ctype, inner } => {
            headers(out, hs);
            out.extend(format!("Content-Type: {ctype}\r\n\r\n").into_bytes());
            render_mime(inner, out);
        }
    }
}

fn header_value() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[ -~]{0,40}",
        2 => email(),
        1 => (select(&["utf-8", "iso-8859-1", "shift_jis", "x-unknown", ""][..]), select(&["B", "Q", "b", "X"][..]), "[ -~]{0,20}")
            .prop_map(|(cs, enc, t)| format!("=?{cs}?{enc}?{t}?=")),
        1 => vec(select(WEIRD), 0..6).prop_map(|v| v.concat().replace(['\r', '\n'], "")),
        1 => (1usize..100_000).prop_map(|n| "x".repeat(n)),
        1 => ("[ -~]{0,20}", 1usize..5).prop_map(|(t, n)| vec![t; n].join("\r\n\t")),
    ]
    .boxed()
}

const HEADER_NAMES: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "Precedence",
    "List-Id",
    "List-Unsubscribe",
    "Return-Path",
    "X-Failed-Recipients",
    "Sender",
    "Reply-To",
    "MIME-Version",
    "Content-Disposition",
    "X-Mailer",
    "Received",
    "",
    "X-\u{e9}",
];

fn headers() -> BoxedStrategy<Vec<String>> {
    prop_oneof![
        8 => vec((select(HEADER_NAMES), header_value()).prop_map(|(n, v)| format!("{n}: {v}")), 0..8),
        1 => (1usize..3000).prop_map(|n| (0..n).map(|i| format!("X-Many-{i}: {i}")).collect()),
    ]
    .boxed()
}

const STATUS_CODES: &[&str] =
    &["5.1.1", "4.4.1", "2.0.0", "5.0.0", "9.9.9", "5.1", "", "5.1.1 (extra)", "500", "5.999999999.1", "x.y.z"];
const ACTIONS: &[&str] = &["failed", "delayed", "delivered", "relayed", "expanded", "FAILED", ""];

fn delivery_status() -> BoxedStrategy<Vec<u8>> {
    let recipient = (email(), select(ACTIONS), select(STATUS_CODES), "[ -~]{0,40}", select(&["rfc822", "x400", "", "utf-8"][..]))
        .prop_map(|(addr, action, status, diag, kind)| {
            format!("Final-Recipient: {kind}; {addr}\r\nOriginal-Recipient: rfc822;{addr}\r\nAction: {action}\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {diag}\r\n")
        });
    (vec(recipient, 0..4), any::<bool>())
        .prop_map(|(rs, blank)| {
            let sep = if blank { "\r\n" } else { "" };
            format!(
                "Reporting-MTA: dns; mx.example.test\r\nArrival-Date: Thu, 17 Jul 2017 23:34:45 +0500\r\n{sep}{}",
                rs.join(sep)
            )
            .into_bytes()
        })
        .boxed()
}

const BODY_PHRASES: &[&str] = &[
    "550 5.1.1 <jane@acme.test>: Recipient address rejected: User unknown",
    "The following addresses had permanent fatal errors",
    "Delivery to the following recipient failed permanently:",
    "Delivery has failed to these recipients or groups:",
    "This is a permanent error. The following address(es) failed:",
    "I'm on vacation until 2026-12-01",
    "I am out of the office until 31.12.2026",
    "Je suis absent jusqu'au 3 janvier",
    "out of office",
    "Automatic reply",
    "unsubscribe",
    "Please remove me from your list",
    "Thanks, sounds good!",
    "<html><body><p>Hi&nbsp;there &amp; &#x1F600; &#99999999;</p></body></html>",
    "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\"jane@acme.test\",\"status\":\"5.1.1\"}]}}",
    "{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":[{\"emailAddress\":",
    "Feedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\nOriginal-Mail-From: <a@seller.test>\r\n",
    "Message-ID: <1.2@seller.test>\r\nFrom: a@seller.test\r\nTo: jane@acme.test\r\n",
    "----- The following addresses had permanent fatal errors -----\r\n<jane@acme.test>\r\n    (reason: 550 5.1.1 User unknown)",
    "begin 644 x.txt\r\n#86)C\r\n`\r\nend\r\n",
];

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => vec(prop_oneof![3 => select(BODY_PHRASES).prop_map(str::to_string), 1 => text(), 1 => email()], 0..6)
            .prop_map(|v| v.join("\r\n").into_bytes()),
        2 => delivery_status(),
        1 => vec(any::<u8>(), 0..512),
        1 => (1usize..300_000).prop_map(|n| "word ".repeat(n / 5 + 1).into_bytes()),
    ]
    .boxed()
}

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/plain; charset=utf-8",
    "text/plain; charset=iso-2022-jp",
    "text/plain; charset=shift_jis",
    "text/plain; charset=utf-16",
    "text/plain; charset=utf-7",
    "text/plain; charset=gb18030",
    "text/plain; charset=x-unknown",
    "text/html; charset=big5",
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "text/rfc822-headers",
    "application/json",
    "application/octet-stream",
    "multipart/mixed",
    "x/y",
    "",
    "text",
    "text/plain; charset=\"",
];
const BOUNDARIES: &[&str] = &["b", "b", "=_abc", "----=_Part_0_1.2", "", " ", "a b", "b--", "--", "\"", "b\r\nX: y"];

fn mime() -> BoxedStrategy<Mime> {
    let cte = prop::option::weighted(
        0.4,
        select(&["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "junk"][..]),
    );
    let leaf = (headers(), select(CONTENT_TYPES).prop_map(str::to_string), cte, any::<bool>(), body())
        .prop_map(|(headers, ctype, cte, encode, body)| Mime::Leaf { headers, ctype, cte, encode, body });
    leaf.prop_recursive(5, 24, 5, |inner| {
        let boundary = prop_oneof![4 => select(BOUNDARIES).prop_map(str::to_string), 1 => "[ -~]{0,80}"];
        prop_oneof![
            3 => (
                vec(select(&["From: x@y.test"][..]).prop_map(str::to_string), 0..2),
                select(&["mixed", "report; report-type=delivery-status", "report; report-type=feedback-report", "alternative", "related", "digest", "x"][..]),
                boundary,
                "[ -~]{0,20}",
                vec(inner.clone(), 0..5),
                prop::option::of(any::<Index>()),
                any::<bool>(),
            )
                .prop_map(|(headers, subtype, boundary, preamble, mut parts, dup, close)| {
                    if let Some(i) = dup.filter(|_| !parts.is_empty()) {
                        let copy = parts[i.index(parts.len())].clone();
                        parts.push(copy);
                    }
                    Mime::Multi { headers, subtype: subtype.to_string(), boundary, preamble, parts, close }
                }),
            1 => (headers(), select(&["message/rfc822", "message/global", "text/rfc822-headers"][..]), inner)
                .prop_map(|(headers, ctype, inner)| Mime::Message { headers, ctype, inner: Box::new(inner) }),
        ]
    })
    .boxed()
}

#[test]
fn inbound_messages() {
    let fixtures = Arc::new(fixtures());
    let n = fixtures.len();
    let (a, b) = (fixtures.clone(), fixtures.clone());
    let strategy = prop_oneof![
        2 => vec(any::<u8>(), 0..2048),
        1 => vec(prop_oneof![3 => select(MAIL_TOKENS).prop_map(<[u8]>::to_vec), 1 => "[ -~]{0,20}".prop_map(String::into_bytes)], 0..80)
            .prop_map(|v| v.concat()),
        4 => (any::<Index>(), vec(byte_op(), 1..8)).prop_map(move |(i, ops)| mutate_bytes(a[i.index(n)].clone(), &ops, &a)),
        3 => (headers(), mime(), vec(byte_op(), 0..3)).prop_map(move |(top, m, ops)| {
            let mut out = Vec::new();
            for h in &top {
                out.extend(h.as_bytes());
                out.extend(b"\r\n");
            }
            out.extend(b"MIME-Version: 1.0\r\n");
            render_mime(&m, &mut out);
            mutate_bytes(out, &ops, &b)
        }),
    ]
    .prop_map(Bytes);
    fuzz("inbound_messages", 400, strategy, |raw| {
        let classified = inbound::classify(&raw.0);
        let _ = classified.lead();
        prop_assert!(serde_json::to_string(&classified).is_ok());
        Ok(match classified.kind {
            inbound::Kind::Reply => "reply",
            inbound::Kind::AutoReply => "auto-reply",
            inbound::Kind::Bounce => "bounce",
            inbound::Kind::Complaint => "complaint",
            inbound::Kind::Unsubscribe => "unsubscribe",
            inbound::Kind::Other => "other",
        })
    });
}
