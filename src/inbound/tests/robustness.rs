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
