//! The one integration test binary: the real `cadenced` binary or library
//! against a real SQLite file and a real SMTP server on loopback, in virtual time.

mod support;

mod cases;
