//! Log lines as journal entries, through the journal's native protocol
//! (<https://systemd.io/JOURNAL_NATIVE_PROTOCOL/>): one datagram per line on
//! journald's socket, each field `NAME`, a little-endian 64-bit length and
//! the value, so that values may hold line breaks.
//!
//! An entry has the line's `PRIORITY` (ERROR 3, WARN 4, INFO 6, DEBUG and
//! TRACE 7), `SYSLOG_IDENTIFIER=cadenced`, `MESSAGE` (the text followed by
//! its fields as `name=value`, as on a terminal, so that `journalctl -u
//! cadenced` reads the same), `TARGET`, `CODE_FILE`, `CODE_LINE`, and each
//! tracing field as a journal field of its own, its name upper-cased:
//! `lead` is `LEAD`, so `journalctl -u cadenced LEAD=jane@acme.test` finds a
//! lead's lines. `message_id` (an email's Message-ID) becomes
//! `EMAIL_MESSAGE_ID`: the journal's own `MESSAGE_ID` is a 128-bit id into
//! its message catalog (systemd.journal-fields(7)). No timestamp: journald
//! stamps every entry.
//!
//! A line the socket does not take (journald gone, an entry larger than a
//! datagram) goes to stderr instead, which is the journal's stream when
//! this runs, with a `<N>` priority prefix on each of its lines, as
//! journald's stream reads them. [`Journal::stderr`] does that for every
//! line, for when the socket cannot be opened at all.
//!
//! (Not the `tracing-journald` crate: its socket path is fixed, so no test
//! can watch what it sends, and its `MESSAGE` holds the text alone, so the
//! journal's own view would lose every line's lead, cadence and step.)

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// journald's socket for the native protocol.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// Journal field names that mean something to the journal itself: a
/// tracing field of the same name is written as `CADENCED_<NAME>` instead.
const RESERVED: &[&str] = &[
    "MESSAGE",
    "MESSAGE_ID",
    "PRIORITY",
    "CODE_FILE",
    "CODE_LINE",
    "CODE_FUNC",
    "ERRNO",
    "INVOCATION_ID",
    "USER_INVOCATION_ID",
    "SYSLOG_FACILITY",
    "SYSLOG_IDENTIFIER",
    "SYSLOG_PID",
    "SYSLOG_TIMESTAMP",
    "SYSLOG_RAW",
    "DOCUMENTATION",
    "TID",
    "UNIT",
    "USER_UNIT",
    "OBJECT_PID",
    "TARGET",
];

/// The journal's priority for a tracing level (syslog's severities).
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// The journal field a tracing field is written to, or `None` for one that
/// has no letter to start a name with.
pub fn field_name(name: &str) -> Option<String> {
    if name == "message_id" {
        return Some("EMAIL_MESSAGE_ID".into());
    }
    let upper: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .skip_while(|c| !c.is_ascii_uppercase())
        .take(64)
        .collect();
    if upper.is_empty() {
        return None;
    }
    if RESERVED.contains(&upper.as_str()) {
        return Some(format!("CADENCED_{upper}").chars().take(64).collect());
    }
    Some(upper)
}

/// One log line, ready to be written either way.
#[derive(Debug, Default)]
pub struct Line {
    pub priority: u8,
    /// The text and its fields, as a terminal shows them (without time and level).
    pub message: String,
    pub target: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Journal field name and raw value.
    pub fields: Vec<(String, String)>,
}

impl Line {
    fn of(event: &Event<'_>) -> Line {
        let meta = event.metadata();
        let mut visitor = Visitor::default();
        event.record(&mut visitor);
        let mut message = visitor.message;
        message.push_str(&visitor.text);
        Line {
            priority: priority(meta.level()),
            message,
            // A `log` record carries its real target as a field.
            target: visitor.log_target.unwrap_or_else(|| meta.target().to_string()),
            file: meta.file().map(str::to_string),
            line: meta.line(),
            fields: visitor.fields,
        }
    }

    /// The entry in the native protocol.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.message.len());
        put(&mut out, "PRIORITY", &self.priority.to_string());
        put(&mut out, "SYSLOG_IDENTIFIER", "cadenced");
        put(&mut out, "MESSAGE", &self.message);
        put(&mut out, "TARGET", &self.target);
        if let Some(file) = &self.file {
            put(&mut out, "CODE_FILE", file);
        }
        if let Some(line) = self.line {
            put(&mut out, "CODE_LINE", &line.to_string());
        }
        for (name, value) in &self.fields {
            put(&mut out, name, value);
        }
        out
    }

    /// The line for journald's stream: each line of the message with the
    /// `<N>` prefix it reads as the priority.
    pub fn prefixed(&self) -> String {
        let mut out = String::with_capacity(self.message.len() + 8);
        for line in self.message.lines() {
            let _ = writeln!(out, "<{}>{line}", self.priority);
        }
        if out.is_empty() {
            let _ = writeln!(out, "<{}>", self.priority);
        }
        out
    }
}

/// One field in the binary form, which any value may take.
fn put(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// Collects an event's text and fields.
#[derive(Default)]
struct Visitor {
    message: String,
    /// ` name=value` for each field, as tracing's own format writes them.
    text: String,
    fields: Vec<(String, String)>,
    log_target: Option<String>,
}

impl Visitor {
    fn add(&mut self, field: &Field, shown: &dyn fmt::Debug, raw: String) {
        let name = field.name();
        if name == "message" {
            self.message = raw;
            return;
        }
        // What tracing-log adds to a `log` record: its metadata, not its content.
        if let Some(meta) = name.strip_prefix("log.") {
            if meta == "target" {
                self.log_target = Some(raw);
            }
            return;
        }
        let _ = write!(self.text, " {name}={shown:?}");
        if let Some(journal_name) = field_name(name) {
            self.fields.push((journal_name, raw));
        }
    }
}

impl Visit for Visitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, &value, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` arrives here as a value whose Debug is its Display.
        self.add(field, value, format!("{value:?}"));
    }
}

/// Where the lines go.
enum Sink {
    Socket { socket: UnixDatagram, path: PathBuf },
    Stderr,
}

/// The tracing layer that writes each event as a journal entry.
pub struct Journal {
    sink: Sink,
}

impl Journal {
    /// Opens the journal's socket at `path`; fails when nothing listens there.
    pub fn connect(path: &Path) -> std::io::Result<Journal> {
        let socket = UnixDatagram::unbound()?;
        // A journald too busy to take a line within a second does not stall a
        // send: the line goes to stderr.
        socket.set_write_timeout(Some(Duration::from_secs(1)))?;
        // journald ignores an empty datagram; sending one proves it is there.
        socket.send_to(&[], path)?;
        Ok(Journal { sink: Sink::Socket { socket, path: path.to_path_buf() } })
    }

    /// Every line to stderr with its `<N>` priority prefix.
    pub fn stderr() -> Journal {
        Journal { sink: Sink::Stderr }
    }

    fn write(&self, line: &Line) {
        if let Sink::Socket { socket, path } = &self.sink
            && socket.send_to(&line.encode(), path).is_ok()
        {
            return;
        }
        // Nowhere else to tell that stderr failed.
        let _ = std::io::stderr().lock().write_all(line.prefixed().as_bytes());
    }
}

impl<S: Subscriber> Layer<S> for Journal {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        self.write(&Line::of(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        let got: Vec<u8> =
            [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE].iter().map(priority).collect();
        assert_eq!(got, [3, 4, 6, 7, 7]);
    }

    #[test]
    fn field_names_are_upper_case_and_leave_the_journals_own_alone() {
        let cases = [
            ("lead", Some("LEAD")),
            ("cadence", Some("CADENCE")),
            ("step", Some("STEP")),
            ("message_id", Some("EMAIL_MESSAGE_ID")),
            ("retry_at", Some("RETRY_AT")),
            ("priority", Some("CADENCED_PRIORITY")),
            ("code.file", Some("CADENCED_CODE_FILE")),
            ("_private", Some("PRIVATE")),
            ("2fa", Some("FA")),
            ("__", None),
        ];
        for (name, want) in cases {
            assert_eq!(field_name(name).as_deref(), want, "{name}");
        }
        assert_eq!(field_name(&"a".repeat(100)).map(|n| n.len()), Some(64));
    }

    #[test]
    fn an_entry_is_length_prefixed_fields_and_survives_line_breaks() {
        let line = Line {
            priority: 3,
            message: "config has errors:\nconfig.toml:3:1: unknown field".into(),
            target: "cadenced::daemon".into(),
            file: None,
            line: Some(7),
            fields: vec![("LEAD".into(), "jane@acme.test".into())],
        };
        let bytes = line.encode();
        let mut fields = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n').unwrap();
            let name = String::from_utf8(rest[..newline].to_vec()).unwrap();
            let len = u64::from_le_bytes(rest[newline + 1..newline + 9].try_into().unwrap()) as usize;
            let value = String::from_utf8(rest[newline + 9..newline + 9 + len].to_vec()).unwrap();
            assert_eq!(rest[newline + 9 + len], b'\n');
            rest = &rest[newline + 10 + len..];
            fields.push((name, value));
        }
        let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("PRIORITY"), Some("3"));
        assert_eq!(get("MESSAGE"), Some("config has errors:\nconfig.toml:3:1: unknown field"));
        assert_eq!(get("LEAD"), Some("jane@acme.test"));
        assert_eq!(get("CODE_LINE"), Some("7"));
        assert_eq!(get("SYSLOG_IDENTIFIER"), Some("cadenced"));
        assert_eq!(line.prefixed(), "<3>config has errors:\n<3>config.toml:3:1: unknown field\n");
    }
}
