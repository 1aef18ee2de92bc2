//! Every builtin filter, test and function of the engine behind a wrapper
//! that measures what it is given, checks what it would make and charges the
//! work before it runs; `{{ }}` measured before it is written; `debug()` cut
//! off.

use std::fmt::Write as _;

use minijinja::value::Rest;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, Value, filters, tests as jinja_tests};

use super::growth::check_growth;
use super::measure::{Bounded, measure};
use super::{FUEL, MAX_TEXT, RECURSION, charge, past, size, too_long};

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
