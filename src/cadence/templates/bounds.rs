//! Bounds on one render, so that no template and no lead's field can take the
//! process down or keep it busy.
//!
//! minijinja counts the steps a template takes (fuel) and limits recursion,
//! but not memory, and a failed allocation aborts the process: no panic to
//! catch, no error. Several builtins size an allocation from a number or from
//! their input before writing anything (`indent` a width, `batch` and
//! `slice` a count, `format` a width or precision, `join` its separator
//! times the items, `replace` its replacement times the matches, `list` and
//! `sort` their items, `string` and `pprint` whatever a list prints as), and
//! the number can come from a lead's field (`{{ x | indent(n | int) }}`).
//! So every builtin filter, test and function is replaced by a wrapper that
//! measures what it is given and estimates what it would make, against the
//! limits below, before the builtin runs; each `{{ }}` is measured before it
//! is written (also into a `{% set %}` block); a part's text goes into a
//! writer that refuses more than the part may be; all of it is charged to one
//! budget of work per render; and a field the template uses may be 64 KiB.
//!
//! minijinja gives no hook into operators. `*` is checked when the template
//! is loaded (see [`super::operators`]): it repeats only what is written in
//! the template. `~` and `+` join their operands and slicing copies; their
//! operands are bounded (fields, literals, filter results), so one expression
//! makes a few times that at most, and a loop runs at most [`FUEL`] steps.
//! Left open: a template that feeds a value back into itself (`{% set ns.s =
//! ns.s ~ ns.s %}` in a loop, a macro recursing on `s ~ s`, `ns.l + ns.l`) can
//! still exhaust memory or spin in one step (`x in ns.l`), and a loop of such
//! operations on long values, with no filter or output in it, can take seconds.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::io;

use minijinja::value::{Rest, ValueKind};
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, Template, Value, filters, tests as jinja_tests,
};

/// The most a rendered subject may be: one short line.
pub const SUBJECT_LIMIT: usize = 1024;
/// The most a rendered body may be.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Steps of the template engine one render may take (an email with a few
/// fields takes a few dozen, a loop over a hundred items about 600).
pub const FUEL: u64 = 50_000;
/// The engine's recursion limit: macros may call each other about 30 deep,
/// includes about 18 (each call takes several levels). minijinja allows at
/// most 500; 200 leaves room on a 2 MiB thread stack, even unoptimised.
pub const RECURSION: usize = 200;
/// The longest field a template may use (names, companies, notes: short texts).
/// It also bounds what the operators, which no check sees, can do with fields.
pub const MAX_FIELD: usize = 64 << 10;
/// The longest text a filter's argument or result, or one `{{ }}`, may be.
pub const MAX_TEXT: usize = 1 << 20;
/// The most items a filter, test or function may take or make (what `range` allows).
pub const MAX_ITEMS: usize = 100_000;
/// The widest `indent`, and the widest width or precision in a `format` string.
pub const MAX_WIDTH: usize = 1_000;
/// Bytes that filters, tests, functions and `{{ }}` may handle in one render, together.
pub const MAX_WORK: usize = 32 << 20;
/// The deepest nesting of lists and maps a value may have (printing one recurses).
pub const MAX_DEPTH: usize = 32;

/// `bytes` for a person: "256 KiB", "1 MiB".
pub fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

thread_local! {
    /// Work left to the render running on this thread; `None` outside a render.
    static WORK_LEFT: Cell<Option<usize>> = const { Cell::new(None) };
    /// The first bound the running render went past.
    static PAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The error for going past a bound, remembered so that the render reports
/// it as such whatever the engine makes of it.
fn past(message: String) -> Error {
    PAST.with_borrow_mut(|first| {
        if first.is_none() {
            *first = Some(message.clone());
        }
    });
    Error::new(ErrorKind::InvalidOperation, message)
}

fn too_much_work() -> String {
    format!("the template uses too much work (its filters and output handle more than {})", size(MAX_WORK))
}

/// Takes `bytes` of work from the running render's budget.
fn charge(bytes: usize) -> Result<(), Error> {
    WORK_LEFT.with(|left| match left.get() {
        Some(n) if bytes > n => {
            left.set(Some(0));
            Err(past(too_much_work()))
        }
        Some(n) => {
            left.set(Some(n - bytes));
            Ok(())
        }
        None => Ok(()),
    })
}

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

/// Sets the bounds on `env`: fuel, recursion, the measuring formatter, and
/// every builtin filter, test and function behind its checks.
pub fn install(env: &mut Environment<'static>) {
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION);
    env.set_formatter(format_value);
    for (name, function) in builtin_filters() {
        let takes_undefined = matches!(name, "default" | "d");
        let builtin = Builtin { name: name.into(), what: format!("filter {name}"), function, takes_undefined };
        env.add_filter(name, move |state: &State, args: Rest<Value>| call(state, &builtin, &args));
    }
    for (name, function) in builtin_tests() {
        let builtin = Builtin { name: name.into(), what: format!("test {name}"), function, takes_undefined: true };
        env.add_test(name, move |state: &State, args: Rest<Value>| -> Result<bool, Error> {
            call(state, &builtin, &args).map(|v| v.is_true())
        });
    }
    // range, dict, namespace, debug: whatever the engine has.
    let globals: Vec<(String, Value)> = env.globals().map(|(name, f)| (name.to_string(), f)).collect();
    for (name, function) in globals {
        if name == "debug" {
            env.add_function("debug", debug);
            continue;
        }
        let what = format!("function {name}");
        let builtin = Builtin { name: name.clone(), what, function, takes_undefined: false };
        env.add_function(name, move |state: &State, args: Rest<Value>| call(state, &builtin, &args));
    }
}

/// Names that are the engine's own functions, never a lead's field.
pub fn global_names(env: &Environment<'_>) -> Vec<String> {
    env.globals().map(|(name, _)| name.to_string()).collect()
}

/// `{{ value }}`: measured before it is written, and charged.
fn format_value(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    let len = measure(value).map_err(|too_big| past(format!("a {{{{ }}}} would print {}", too_big.what())))?.1;
    // HTML escaping (in `{% autoescape %}`) writes up to 6 bytes for one.
    let escaped = !matches!(state.auto_escape(), AutoEscape::None) && !value.is_safe();
    charge(if escaped { len.saturating_mul(6) } else { len })?;
    minijinja::escape_formatter(out, state, value)
}

/// `debug()`: the builtin's dump, cut off instead of growing without end.
fn debug(state: &State, args: Rest<Value>) -> Result<String, Error> {
    let shown: Vec<Value> = if args.is_empty() {
        state.known_variables().iter().filter_map(|name| state.lookup(name)).collect()
    } else {
        args.0.clone()
    };
    for value in &shown {
        measure(value).map_err(|too_big| past(format!("function debug is given {}", too_big.what())))?;
    }
    let mut text = Bounded { text: String::new(), limit: MAX_TEXT };
    let written = match args.len() {
        0 => write!(text, "{state:#?}"),
        1 => write!(text, "{:#?}", args[0]),
        _ => write!(text, "{:#?}", &args[..]),
    };
    if written.is_err() {
        return Err(past(format!("function debug would make a text longer than {}", size(MAX_TEXT))));
    }
    charge(text.text.len())?;
    Ok(text.text)
}

/// A string that refuses to grow past `limit` bytes.
struct Bounded {
    text: String,
    limit: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.text.len() + s.len() > self.limit {
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// Counts what is written, failing past `limit` bytes.
struct Meter {
    written: usize,
    limit: usize,
}

impl fmt::Write for Meter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.written = self.written.saturating_add(s.len());
        if self.written > self.limit { Err(fmt::Error) } else { Ok(()) }
    }
}

/// What makes a value too big to handle.
#[derive(Debug, Clone, Copy)]
enum TooBig {
    Items,
    Depth,
    Text,
}

impl TooBig {
    /// What the value would be: "more than 100000 items".
    fn what(self) -> String {
        match self {
            TooBig::Items => format!("more than {MAX_ITEMS} items"),
            TooBig::Depth => format!("lists nested more than {MAX_DEPTH} deep"),
            TooBig::Text => format!("more than {} of text", size(MAX_TEXT)),
        }
    }
}

/// The items (at every level) and the printed bytes of `value`, within the
/// bounds. Items are counted first, without recursion, and only then is the
/// value printed (into a meter): printing a list goes through every item even
/// once the meter is full, so a lazy list of a billion items is never printed.
fn measure(value: &Value) -> Result<(usize, usize), TooBig> {
    if let Some(s) = value.as_str() {
        return if s.len() > MAX_TEXT { Err(TooBig::Text) } else { Ok((0, s.len())) };
    }
    let mut items = 0usize;
    let mut stack = vec![(value.clone(), 0usize)];
    while let Some((v, depth)) = stack.pop() {
        if !is_list(&v) {
            continue;
        }
        if depth >= MAX_DEPTH {
            return Err(TooBig::Depth);
        }
        let Ok(iter) = v.try_iter() else { continue };
        let map = v.kind() == ValueKind::Map;
        for item in iter {
            items += 1;
            if items > MAX_ITEMS {
                return Err(TooBig::Items);
            }
            if map && let Ok(inner) = v.get_item(&item) {
                stack.push((inner, depth + 1));
            }
            stack.push((item, depth + 1));
        }
    }
    let bytes = printed(value, MAX_TEXT).ok_or(TooBig::Text)?;
    Ok((items, bytes))
}

/// Bytes `value` prints as (`{{ value }}`, `value | string`), if at most
/// `limit`. Only for a value [`measure`] found within the bounds.
fn printed(value: &Value, limit: usize) -> Option<usize> {
    if let Some(s) = value.as_str() {
        return (s.len() <= limit).then_some(s.len());
    }
    let mut meter = Meter { written: 0, limit };
    // An object's printing may fail for reasons of its own: only the meter's count is a bound.
    let _ = write!(meter, "{value}");
    (meter.written <= limit).then_some(meter.written)
}

/// Bytes the pretty debug form (`pprint`) of `value` takes, if at most `limit`.
fn pretty_printed(value: &Value, limit: usize) -> Option<usize> {
    let mut meter = Meter { written: 0, limit };
    let _ = write!(meter, "{value:#?}");
    (meter.written <= limit).then_some(meter.written)
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::Iterable)
}

/// Items `value` iterates over (characters for a text), if at most `limit`.
/// Only for a value [`measure`] found within the bounds.
fn items(value: &Value, limit: usize) -> Option<usize> {
    let n = if let Some(s) = value.as_str() {
        s.chars().take(limit.saturating_add(1)).count()
    } else if is_list(value) {
        value.try_iter().map_or(0, |iter| iter.take(limit.saturating_add(1)).count())
    } else {
        0
    };
    (n <= limit).then_some(n)
}

/// The text a string-taking builtin makes of `value`; bounded, as every
/// argument was measured before.
fn text_of(value: &Value) -> Cow<'_, str> {
    match value.as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(value.to_string()),
    }
}

/// The size of a number argument, whatever its type; `None` for a non-number.
fn magnitude(value: &Value) -> Option<u128> {
    if value.kind() != ValueKind::Number {
        return None;
    }
    if let Ok(i) = i128::try_from(value.clone()) {
        return Some(i.unsigned_abs());
    }
    // A float: `as` saturates (and NaN is 0).
    f64::try_from(value.clone()).ok().map(|f| f.abs() as u128)
}

/// The `i`th positional argument (the filtered value is the 0th).
fn positional(args: &[Value], i: usize) -> Option<&Value> {
    args.iter().filter(|a| !a.is_kwargs()).nth(i)
}

/// Keyword argument `name`, if given.
fn keyword(args: &[Value], name: &str) -> Option<Value> {
    args.last().filter(|a| a.is_kwargs()).and_then(|k| k.get_attr(name).ok()).filter(|v| !v.is_undefined())
}

fn too_long(what: &str) -> Error {
    past(format!("{what} would make a text longer than {}", size(MAX_TEXT)))
}

fn too_many(what: &str) -> Error {
    past(format!("{what} would make more than {MAX_ITEMS} items"))
}

/// A builtin behind its checks.
struct Builtin {
    /// Its name: "indent".
    name: String,
    /// For errors: "filter indent".
    what: String,
    function: Value,
    /// Whether it may be given an undefined value (`default`, the tests).
    takes_undefined: bool,
}

/// Runs `builtin` on `args` within the bounds.
fn call(state: &State, builtin: &Builtin, args: &[Value]) -> Result<Value, Error> {
    let Builtin { name, what, function, takes_undefined } = builtin;
    let (name, what) = (name.as_str(), what.as_str());
    // Strict: a variable the lead lacks is an error, also where a builtin would
    // print it as nothing (`"Hi %s," | format(first_name)`).
    if !takes_undefined && args.iter().any(Value::is_undefined) {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let mut work = 0usize;
    for arg in args {
        let (items, bytes) = measure(arg).map_err(|too_big| past(format!("{what} is given {}", too_big.what())))?;
        work = work.saturating_add(items.saturating_mul(16)).saturating_add(bytes);
    }
    charge(work)?;
    check_growth(name, what, args)?;
    let result = function.call(state, args)?;
    if let Some(s) = result.as_str() {
        if s.len() > MAX_TEXT {
            return Err(too_long(what));
        }
        charge(s.len())?;
    }
    Ok(result)
}

/// What builtin `name` would make of `args`, for those that can make much
/// more than they are given, checked before it runs.
fn check_growth(name: &str, what: &str, args: &[Value]) -> Result<(), Error> {
    let value = positional(args, 0);
    match name {
        "indent" => {
            let width = positional(args, 1).cloned().or_else(|| keyword(args, "width"));
            let width = width.as_ref().and_then(magnitude).unwrap_or(4);
            if width > MAX_WIDTH as u128 {
                return Err(past(format!("{what}: a width of {width} is more than {MAX_WIDTH}")));
            }
            let text = value.map(text_of).unwrap_or_default();
            let lines = text.matches('\n').count() + 1;
            if text.len().saturating_add(lines.saturating_mul(width as usize)) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "replace" => {
            let (Some(value), Some(from), Some(to)) = (value, positional(args, 1), positional(args, 2)) else {
                return Ok(());
            };
            let (value, from, to) = (text_of(value), text_of(from), text_of(to));
            let hits = if from.is_empty() { value.chars().count() + 1 } else { value.matches(&*from).count() };
            if value.len().saturating_add(hits.saturating_mul(to.len())) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "join" => {
            let Some(value) = value else { return Ok(()) };
            let n = items(value, MAX_TEXT).unwrap_or(MAX_TEXT);
            let joiner = positional(args, 1).map_or(0, |j| text_of(j).len());
            let printed = printed(value, MAX_TEXT).unwrap_or(MAX_TEXT);
            if printed.saturating_add(n.saturating_mul(joiner)) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "format" => {
            let Some(format) = value.and_then(Value::as_str) else { return Ok(()) };
            let (specs, widest) = printf_specs(format);
            if widest > MAX_WIDTH as u128 {
                return Err(past(format!("{what}: a width or precision of {widest} is more than {MAX_WIDTH}")));
            }
            let longest = args.iter().skip(1).map(|a| printed(a, MAX_TEXT).unwrap_or(MAX_TEXT)).max().unwrap_or(0);
            // A number prints in at most ~320 digits (f64::MAX with `%f`), plus its precision.
            let each = longest.saturating_add(2 * widest as usize).saturating_add(330);
            if format.len().saturating_add(specs.saturating_mul(each)) > MAX_TEXT {
                return Err(too_long(what));
            }
        }
        "batch" | "slice" => {
            if let Some(count) = positional(args, 1).and_then(magnitude)
                && count > MAX_ITEMS as u128
            {
                return Err(past(format!("{what}: a count of {count} is more than {MAX_ITEMS}")));
            }
            if value.is_some_and(|v| items(v, MAX_ITEMS).is_none()) {
                return Err(too_many(what));
            }
        }
        "split" => {
            let Some(value) = value else { return Ok(()) };
            let text = text_of(value);
            let parts = match positional(args, 1).filter(|s| !s.is_none()).map(text_of) {
                None => text.split_whitespace().count(),
                Some(sep) if sep.is_empty() => text.chars().count() + 2,
                Some(sep) => text.matches(&*sep).count() + 1,
            };
            if parts > MAX_ITEMS {
                return Err(too_many(what));
            }
        }
        "lines" if value.is_some_and(|v| text_of(v).matches('\n').count() >= MAX_ITEMS) => {
            return Err(too_many(what));
        }
        // Filters that collect what they iterate over; a text's items are its characters.
        "list" | "sort" | "unique" | "map" | "select" | "reject" | "selectattr" | "rejectattr" | "groupby" | "min"
        | "max" | "sum" | "chain" | "zip"
            if value.is_some_and(|v| items(v, MAX_ITEMS).is_none()) =>
        {
            return Err(too_many(what));
        }
        "pprint" if value.is_some_and(|v| pretty_printed(v, MAX_TEXT).is_none()) => return Err(too_long(what)),
        // The builtin computes `value % 0`, which panics.
        "divisibleby" if positional(args, 1).and_then(magnitude) == Some(0) => {
            return Err(Error::new(ErrorKind::InvalidOperation, "divisibleby 0: cannot divide by zero"));
        }
        _ => {}
    }
    Ok(())
}

/// The replacement fields of printf-style `format` and the largest width or
/// precision among them (saturating; digits only, as minijinja reads them).
fn printf_specs(format: &str) -> (usize, u128) {
    let bytes = format.as_bytes();
    let (mut specs, mut widest) = (0usize, 0u128);
    let mut i = 0;
    let number = |i: &mut usize| {
        let mut n = 0u128;
        while let Some(d) = bytes.get(*i).filter(|b| b.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add(u128::from(d - b'0'));
            *i += 1;
        }
        n
    };
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'%') {
            i += 2;
            continue;
        }
        i += 1;
        specs += 1;
        if bytes.get(i) == Some(&b'(') {
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            i += 1;
        }
        while matches!(bytes.get(i), Some(b'#' | b'0' | b'-' | b' ' | b'+')) {
            i += 1;
        }
        widest = widest.max(number(&mut i));
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            widest = widest.max(number(&mut i));
        }
    }
    (specs, widest)
}

/// minijinja's builtin filters, by name (as `Environment::new` registers them).
fn builtin_filters() -> Vec<(&'static str, Value)> {
    vec![
        ("safe", Value::from_function(filters::safe)),
        ("escape", Value::from_function(filters::escape)),
        ("e", Value::from_function(filters::escape)),
        ("lower", Value::from_function(filters::lower)),
        ("upper", Value::from_function(filters::upper)),
        ("title", Value::from_function(filters::title)),
        ("capitalize", Value::from_function(filters::capitalize)),
        ("replace", Value::from_function(filters::replace)),
        ("length", Value::from_function(filters::length)),
        ("count", Value::from_function(filters::length)),
        ("dictsort", Value::from_function(filters::dictsort)),
        ("items", Value::from_function(filters::items)),
        ("reverse", Value::from_function(filters::reverse)),
        ("trim", Value::from_function(filters::trim)),
        ("join", Value::from_function(filters::join)),
        ("split", Value::from_function(filters::split)),
        ("lines", Value::from_function(filters::lines)),
        ("default", Value::from_function(filters::default)),
        ("d", Value::from_function(filters::default)),
        ("round", Value::from_function(filters::round)),
        ("abs", Value::from_function(filters::abs)),
        ("int", Value::from_function(filters::int)),
        ("float", Value::from_function(filters::float)),
        ("attr", Value::from_function(filters::attr)),
        ("first", Value::from_function(filters::first)),
        ("last", Value::from_function(filters::last)),
        ("min", Value::from_function(filters::min)),
        ("max", Value::from_function(filters::max)),
        ("sort", Value::from_function(filters::sort)),
        ("list", Value::from_function(filters::list)),
        ("string", Value::from_function(filters::string)),
        ("bool", Value::from_function(filters::bool)),
        ("batch", Value::from_function(filters::batch)),
        ("slice", Value::from_function(filters::slice)),
        ("sum", Value::from_function(filters::sum)),
        ("indent", Value::from_function(filters::indent)),
        ("select", Value::from_function(filters::select)),
        ("reject", Value::from_function(filters::reject)),
        ("selectattr", Value::from_function(filters::selectattr)),
        ("rejectattr", Value::from_function(filters::rejectattr)),
        ("map", Value::from_function(filters::map)),
        ("groupby", Value::from_function(filters::groupby)),
        ("unique", Value::from_function(filters::unique)),
        ("chain", Value::from_function(filters::chain)),
        ("zip", Value::from_function(filters::zip)),
        ("pprint", Value::from_function(filters::pprint)),
        ("format", Value::from_function(filters::format)),
    ]
}

/// minijinja's builtin tests, by name (as `Environment::new` registers them).
fn builtin_tests() -> Vec<(&'static str, Value)> {
    let eq = Value::from_function(jinja_tests::is_eq);
    let ne = Value::from_function(jinja_tests::is_ne);
    let lt = Value::from_function(jinja_tests::is_lt);
    let le = Value::from_function(jinja_tests::is_le);
    let gt = Value::from_function(jinja_tests::is_gt);
    let ge = Value::from_function(jinja_tests::is_ge);
    let safe = Value::from_function(jinja_tests::is_safe);
    let integer = Value::from_function(jinja_tests::is_integer);
    vec![
        ("undefined", Value::from_function(jinja_tests::is_undefined)),
        ("defined", Value::from_function(jinja_tests::is_defined)),
        ("none", Value::from_function(jinja_tests::is_none)),
        ("safe", safe.clone()),
        ("escaped", safe),
        ("boolean", Value::from_function(jinja_tests::is_boolean)),
        ("odd", Value::from_function(jinja_tests::is_odd)),
        ("even", Value::from_function(jinja_tests::is_even)),
        ("divisibleby", Value::from_function(jinja_tests::is_divisibleby)),
        ("number", Value::from_function(jinja_tests::is_number)),
        ("integer", integer.clone()),
        ("int", integer),
        ("float", Value::from_function(jinja_tests::is_float)),
        ("string", Value::from_function(jinja_tests::is_string)),
        ("sequence", Value::from_function(jinja_tests::is_sequence)),
        ("iterable", Value::from_function(jinja_tests::is_iterable)),
        ("mapping", Value::from_function(jinja_tests::is_mapping)),
        ("startingwith", Value::from_function(jinja_tests::is_startingwith)),
        ("endingwith", Value::from_function(jinja_tests::is_endingwith)),
        ("lower", Value::from_function(jinja_tests::is_lower)),
        ("upper", Value::from_function(jinja_tests::is_upper)),
        ("sameas", Value::from_function(jinja_tests::is_sameas)),
        ("eq", eq.clone()),
        ("equalto", eq.clone()),
        ("==", eq),
        ("ne", ne.clone()),
        ("!=", ne),
        ("lt", lt.clone()),
        ("lessthan", lt.clone()),
        ("<", lt),
        ("le", le.clone()),
        ("<=", le),
        ("gt", gt.clone()),
        ("greaterthan", gt.clone()),
        (">", gt),
        ("ge", ge.clone()),
        (">=", ge),
        ("in", Value::from_function(jinja_tests::is_in)),
        ("true", Value::from_function(jinja_tests::is_true)),
        ("false", Value::from_function(jinja_tests::is_false)),
        ("filter", Value::from_function(jinja_tests::is_filter)),
        ("test", Value::from_function(jinja_tests::is_test)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_specs_reads_widths_and_precisions_as_minijinja_does() {
        assert_eq!(printf_specs("plain"), (0, 0));
        assert_eq!(printf_specs("%s and %d%%"), (2, 0));
        assert_eq!(printf_specs("%-12s|%08.3f|%(name)5s"), (3, 12));
        assert_eq!(printf_specs("%.9999999999f"), (1, 9_999_999_999));
        assert_eq!(printf_specs("%-9223372036854775808s"), (1, 9_223_372_036_854_775_808));
        assert_eq!(printf_specs(&format!("%{}d", "9".repeat(60))), (1, u128::MAX));
    }

    #[test]
    fn sizes_read_as_a_person_writes_them() {
        assert_eq!(size(SUBJECT_LIMIT), "1 KiB");
        assert_eq!(size(BODY_LIMIT), "256 KiB");
        assert_eq!(size(MAX_TEXT), "1 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
