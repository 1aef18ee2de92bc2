//! Regression tests for what the fuzzing found.
//!
//! Each fails until the library handles its input: a panic or abort where a
//! clear error is due. Found by the targets (or by probing the template
//! filters they exercise); the inputs are shrunk by hand.

use std::path::Path;

use cadenced::cadence::Cadence;
use cadenced::config::Config;
use cadenced::intake::{self, LeadInput};
use cadenced::location::FileErrors;
use chrono::{TimeZone, Utc};
use indicatif::ProgressBar;

use super::cadence_files::CADENCE_CONFIG;
use super::check_located;
use super::config_files::CONFIG_PATH;
use super::toml_writer::basic;

/// A cadence whose one task step has `body`.
fn cadence_with_body(body: &str) -> String {
    format!("[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\nbody = {}\n", basic(body, false))
}

/// `Cadence::parse` of `source` neither panics nor loads: it returns the
/// file's errors. Names the panic when there is one.
fn parses_without_panic(source: &str) -> Result<Result<Cadence, FileErrors>, String> {
    let config = Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap();
    std::panic::catch_unwind(|| Cadence::parse(Path::new("/p/cadences/c.toml"), source, &config)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(no message)".into())
    })
}

fn assert_parse_does_not_panic(bodies: &[&str]) {
    let mut panics = Vec::new();
    for body in bodies {
        match parses_without_panic(&cadence_with_body(body)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(e.to_string().starts_with("/p/cadences/c.toml:"), "{e}"),
            Err(message) => panics.push(format!("body {body:?}: Cadence::parse panicked: {message}")),
        }
    }
    assert!(panics.is_empty(), "a cadence file panics the library instead of getting an error:\n{}", panics.join("\n"));
}

/// minijinja's `divisibleby` test computes `a % 0` (minijinja-2.24.0
/// src/tests.rs:155:47, "attempt to calculate the remainder with a divisor of
/// zero"); reached from `Cadence::parse` through the trial render in
/// `Templates::check_renders` (src/cadence/templates.rs:105).
#[test]
fn template_divisibleby_zero_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{{ 5 is divisibleby 0 }}", "{{ 5 is divisibleby (x | length - 7) }}"]);
}

/// `loop.cycle()` without arguments computes `idx % 0` (minijinja-2.24.0
/// src/vm/loop_object.rs:162:28, "attempt to calculate the remainder with a
/// divisor of zero").
#[test]
fn template_loop_cycle_without_arguments_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{% for a in x %}{{ loop.cycle() }}{% endfor %}"]);
}

/// `batch(n)` and `slice(n)` reserve `n` elements up front: for n = i64::MAX,
/// "capacity overflow" (library/alloc/src/raw_vec/mod.rs:28:5). Smaller huge
/// counts abort instead (see `template_filters_with_huge_sizes_abort_the_process`).
#[test]
fn template_batch_or_slice_with_huge_count_panics_cadence_parse() {
    assert_parse_does_not_panic(&[
        "{{ x | list | batch(9223372036854775807) }}",
        "{{ x | batch(9223372036854775807) }}",
        "{{ x | list | slice(9223372036854775807) | list }}",
    ]);
}

/// `format` with a huge precision: "Formatting argument out of range"
/// (minijinja-2.24.0 src/format_utils.rs:574:31).
#[test]
fn template_format_with_huge_precision_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{{ '%.9999999999f' | format(1.5) }}"]);
}

/// A slice step of i64::MIN is negated (minijinja-2.24.0 src/value/ops.rs:179:55
/// for strings, :221:63 for lists, "attempt to negate with overflow"): a panic
/// with overflow checks on (debug builds, `cargo test`); release builds wrap.
#[test]
fn template_slice_step_of_i64_min_panics_cadence_parse() {
    assert_parse_does_not_panic(&["{{ 'abc'[::-9223372036854775808] }}", "{{ [1, 2, 3][::-9223372036854775808] }}"]);
}

/// The check passes (its stand-in value "example" has 7 characters), but a
/// lead whose `x` has 3 makes the same template divide by zero: the panic
/// reaches `intake::read_rows` (`cadenced import`) through `intake::prepare`
/// and `Templates::render`; `dispatch` renders with the same function.
#[test]
fn lead_field_makes_template_panic_in_import() {
    let config = Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap();
    let source = cadence_with_body("{{ 5 is divisibleby (x | length - 3) }}");
    let cadence = Cadence::parse(Path::new("/p/cadences/c.toml"), &source, &config).unwrap();
    let csv = "email,x\nok@b.test,abcdefg\nboom@b.test,abc\n";
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    // The check only reads the cadence and config; nothing is left half-updated.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        intake::read_rows(Path::new("/p/leads.csv"), csv.as_bytes(), &ProgressBar::hidden(), |lead: &LeadInput| {
            intake::prepare(lead, &cadence, &config, now)
        })
        .map(|(good, bad)| (good.len(), bad.len()))
        .map_err(|e| e.to_string())
    }));
    assert!(
        result.is_ok(),
        "a CSV row with x = \"abc\" panics intake::read_rows instead of being reported as a bad row"
    );
}

/// Child half of `template_filters_with_huge_sizes_abort_the_process`: parses
/// a cadence whose body is `$CADENCED_FUZZ_ABORT_PROBE`.
#[test]
fn abort_probe_child() {
    let Ok(body) = std::env::var("CADENCED_FUZZ_ABORT_PROBE") else { return };
    let result = parses_without_panic(&cadence_with_body(&body));
    assert!(result.is_ok(), "panicked: {result:?}", result = result.err());
}

/// Filters that size a buffer from their argument make the allocator fail,
/// and a failed allocation aborts the process (SIGABRT, "memory allocation of
/// N bytes failed"): no error, no unwinding, `cadenced check`, `tick` and the
/// daemon (on start and on SIGHUP) die. Each input runs in a child process
/// under a 1 GiB address-space limit, so the test itself survives and no
/// machine is asked for the memory.
#[test]
fn template_filters_with_huge_sizes_abort_the_process() {
    let exe = std::env::current_exe().unwrap();
    let module = module_path!().split_once("::").map_or(module_path!(), |(_, rest)| rest);
    let child = format!("{module}::abort_probe_child");
    let bodies = [
        "{{ x | indent(99999999999999) }}",
        "{{ x | batch(9999999999) }}",
        "{{ x | slice(9999999999) | list }}",
        "{{ '%9999999999d' | format(1) }}",
        "{{ '%-9223372036854775808s' | format(x) }}",
    ];
    let mut died = Vec::new();
    for body in bodies {
        let output = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
            .arg(&exe)
            .args(["--exact", &child, "--test-threads=1", "--nocapture"])
            .env("CADENCED_FUZZ_ABORT_PROBE", body)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why: Vec<&str> =
                stderr.lines().filter(|l| l.contains("memory allocation") || l.contains("panicked")).collect();
            died.push(format!("body {body:?}: {} {}", output.status, why.join(" | ")));
        }
    }
    assert!(died.is_empty(), "a cadence file kills the process instead of getting an error:\n{}", died.join("\n"));
}

/// Table names, calendar names and file paths are printed raw in error
/// messages: a line break in one (`[mailboxes."a\nb"]`, a quoted key) splits
/// the error, and `cadenced check` prints lines that are not
/// `file:line:col: message` (src/config/mod.rs formats `mailboxes.{name}` and
/// `calendars.{name}` with `{}`; src/cadence/mod.rs and
/// src/config/calendars.rs, mailbox.rs print paths with `display()`).
#[test]
fn error_messages_with_line_breaks_break_the_file_line_col_format() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let mut broken = Vec::new();
    let configs = [
        "[mailboxes.\"a\\nb\"]\nfrom = \"a@b.test\"\n",
        "[mailboxes.sales]\nfrom = \"a@b.test\"\noutbox = \"o\"\n[calendars.\"x\\ry\"]\nworkdays = [\"Funday\"]\n",
        "[mailboxes.sales]\nfrom = \"a@b.test\"\noutbox = \"o\"\n[calendars.us]\nholidays_file = \"no\\nsuch.txt\"\n",
    ];
    for text in configs {
        if let Err(e) = Config::parse(Path::new(CONFIG_PATH), text)
            && let Err(why) = check_located(&e, CONFIG_PATH)
        {
            broken.push(format!("config {text:?}: {why}"));
        }
    }
    let config = Config::parse(Path::new("/p/config.toml"), CADENCE_CONFIG).unwrap();
    let cadence = "[[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"task\"\ntemplate = \"no\\nsuch.md\"\n";
    if let Err(e) = Cadence::parse(&dir.path().join("c.toml"), cadence, &config)
        && let Err(why) = check_located(&e, root)
    {
        broken.push(format!("cadence {cadence:?}: {why}"));
    }
    assert!(broken.is_empty(), "{}", broken.join("\n\n"));
}
