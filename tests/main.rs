//! The one integration test binary: the real `cadenced` binary or library
//! against a real SQLite file and a real SMTP server on loopback, in virtual time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

mod cases;
