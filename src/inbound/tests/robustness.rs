//! Garbage, malformed and truncated input classifies without panicking.

use super::FIXTURES;
use crate::inbound::{Kind, classify};

#[test]
fn garbage_and_empty_input_do_not_panic() {
    assert_eq!(classify(b"").kind, Kind::Other);
    assert_eq!(classify(b"\r\n\r\n").kind, Kind::Other);
    assert_eq!(classify(b"\xff\xfe\x00\x01garbage\x80\x81\n\n\xc3").kind, Kind::Other);
    assert_eq!(classify(b"not a mail at all").kind, Kind::Other);
    assert_eq!(
        classify(b"Subject: \xe9\xe8\r\nContent-Type: multipart/report; boundary=x\r\n\r\n--x\r\n").kind,
        Kind::Other
    );

    // Deterministic pseudo-random bytes and truncations of real messages.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for len in [1usize, 7, 64, 300, 4096] {
        for _ in 0..50 {
            let bytes: Vec<u8> = (0..len).map(|_| (next() & 0xff) as u8).collect();
            let _ = classify(&bytes);
            let ascii: Vec<u8> = bytes
                .iter()
                .map(|b| {
                    b"From: <>@.\r\n:;-=?5.1.1 550 Content-Type: multipart/report;boundary=\"--\"\r\n"
                        [usize::from(*b) % 72]
                })
                .collect();
            let _ = classify(&ascii);
        }
    }
}

#[test]
fn malformed_mime_structure_still_classifies() {
    // A boundary inside a header of the embedded message trips a debug assertion in mail-parser; the
    // classifier then falls back to the headers and the raw body.
    let raw = "From: postmaster@example.jp\r\nSubject: Mail could not be delivered\r\n\
Content-Type: multipart/mixed; boundary=\"--B\"\r\n\r\n----B\r\nContent-type: text/plain\r\n\r\n\
Unable to deliver message to <lead@example.com>.\r\n\r\n----B\r\nContent-type: message/rfc822\r\n\r\n\
Received: from a\r\n\tby b (x----B\r\nContent-type: message/rfc822\r\n\r\nReceived: from c\r\n\
From: <sales@ourco.example>\r\nTo: <lead@example.com>\r\nSubject: Hi\r\n\r\nHi\r\n\r\n----B--\r\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.lead(), Some("lead@example.com"));
}

#[test]
fn truncated_fixtures_do_not_panic() {
    let Ok(dir) = std::fs::read_dir(FIXTURES) else { return };
    for entry in dir.flatten().take(40) {
        let Ok(raw) = std::fs::read(entry.path()) else { continue };
        for cut in (0..raw.len()).step_by(raw.len() / 7 + 1) {
            let _ = classify(raw.get(..cut).unwrap_or_default());
        }
    }
}

#[test]
fn blank_lines_above_the_header_and_white_space_folds_in_it_keep_the_header() {
    let dsn = "From: postmaster@example.net\r\nTo: sales@ourco.example\r\n\
Subject: Delivery Status Notification (Failure)\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nDelivery to the following recipients failed.\r\n  lead@example.net\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns;mx.example.net\r\n\r\n\
Final-Recipient: rfc822;lead@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n";
    // A copy saved with a blank line and a line of spaces above its first field, and a field folded
    // onto a line of white space (RFC 5322 obs-FWS) above Content-Type.
    let copies = [
        format!("\r\n        \r\n{dsn}"),
        dsn.replacen("Subject:", "X-Note: one\r\n   \r\n two\r\nSubject:", 1),
        dsn.replacen("Subject:", "X-Note: one\r\n \t \r\nSubject:", 1),
    ];
    for raw in copies {
        let c = classify(raw.as_bytes());
        assert_eq!(c.kind, Kind::Bounce, "{raw}");
        assert!(c.recipients.first().is_some_and(|r| r.address == "lead@example.net" && r.permanent), "{c:?}");
    }
    // A line of white space that ends the header before the body's words still ends it.
    let reply = "From: lead@example.net\r\nTo: sales@ourco.example\r\nSubject: Re: Hello\r\n   \r\n\
Thanks, let's talk on Monday.\r\n";
    let c = classify(reply.as_bytes());
    assert_eq!(c.kind, Kind::Reply, "{c:?}");
}
