//! One render within the bounds: the writer that refuses a part's text past
//! its limit, the render itself with the work budget set, and the
//! [`Failure`] it reports (which bound, or the engine's own error).

use std::io;

use minijinja::{Error, ErrorKind, Template, Value};

use super::{FUEL, MAX_WORK, PAST, WORK_LEFT, size};

/// Why a render gave no text.
#[derive(Debug)]
pub enum Failure {
    /// It went past a bound (the message says which), at `line` of the template if known.
    Bound { message: String, line: Option<usize> },
    /// The engine's own error: an unknown filter, a value of the wrong type...
    Engine(minijinja::Error),
    /// The engine panicked (some builtins do on odd arguments).
    Panic,
}

impl Failure {
    /// The line of the template it happened at, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Failure::Bound { line, .. } => *line,
            Failure::Engine(e) => e.line(),
            Failure::Panic => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Bound { message, .. } => message.clone(),
            Failure::Engine(e) => match e.detail() {
                Some(d) => format!("{}: {d}", e.kind()),
                None => e.kind().to_string(),
            },
            Failure::Panic => "the template engine failed on this template".into(),
        }
    }
}

/// Text written to a part, refused past `limit` bytes.
struct Capped {
    text: Vec<u8>,
    limit: usize,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.text.len() + buf.len() > self.limit {
            self.over = true;
            return Err(io::Error::other("the part's limit"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Renders `template` with `ctx` within the bounds; its text may be at most
/// `limit` bytes (`part` names it in the error: "subject", "body").
pub fn render(template: &Template<'_, '_>, ctx: &Value, limit: usize, part: &str) -> Result<String, Failure> {
    WORK_LEFT.set(Some(MAX_WORK));
    PAST.take();
    let mut out = Capped { text: Vec::new(), limit, over: false };
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| template.render_captured_to(ctx, &mut out).map(drop)));
    WORK_LEFT.set(None);
    let past = PAST.take();
    match result {
        Ok(Ok(())) => {
            Ok(String::from_utf8(out.text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        }
        Ok(Err(e)) => {
            let line = e.line();
            let message = if out.over {
                format!("the template's output would exceed {} (the most a {part} may be)", size(limit))
            } else if let Some(message) = past {
                message
            } else if e.kind() == ErrorKind::OutOfFuel {
                format!(
                    "the template uses too much work (more than {FUEL} steps of the template engine: \
                     a loop or macro runs too long)"
                )
            } else if root(&e).detail().is_some_and(|d| d.contains("recursion limit")) {
                "the template's macros or includes nest too deep (past the template engine's recursion limit)".into()
            } else {
                return Err(Failure::Engine(e));
            };
            Err(Failure::Bound { message, line })
        }
        Err(_) => Err(match past {
            Some(message) => Failure::Bound { message, line: None },
            None => Failure::Panic,
        }),
    }
}

/// The error at the bottom of `e`'s chain (an include's error wraps the one
/// inside the included template).
pub fn root(e: &Error) -> &Error {
    let mut e = e;
    while let Some(inner) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<Error>()) {
        e = inner;
    }
    e
}
