//! Fuzz target `hostile_templates` (issue 14): hostile templates and hostile
//! fields together. Templates are built from the constructs that take a size
//! (`indent(n)`, `"ab" * n`, `range(n)`, `batch`, `slice`, `format` widths,
//! `join` of repeated lists, `replace`, `split`, `pprint`...), nested in loops,
//! `{% set %}` blocks and recursive macros, with the sizes read from fields
//! (`n | int`, `n | length`, products) or written in; the fields are huge,
//! negative or odd numbers and texts up to and past the longest a template
//! may use. Every render must return text
//! within the part's limit or an error naming the step, and checking a lead
//! must agree with rendering it.
//!
//! An allocation failure aborts the whole process, so the cases run in a
//! child process (this test binary again) under a 2 GiB address-space limit:
//! a runaway allocation fails fast there, and the parent reports the case the
//! child was on; it also stops a child stuck on one case for two minutes. Same environment as the other targets ([`super`])
//! (`CADENCED_FUZZ_CASES`, `CADENCED_FUZZ_SECONDS`, `CADENCED_FUZZ_SEED`);
//! `scripts/fuzz.sh` runs it for minutes.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use cadenced::cadence::{BODY_LIMIT, Fields, SUBJECT_LIMIT, Templates};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use super::fuzz;

// ---- generators ----------------------------------------------------------------

/// A field's text: `piece` repeated `times` times (shown so when a case fails).
#[derive(Clone)]
struct Text {
    piece: &'static str,
    times: usize,
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} x {}", self.piece, self.times)
    }
}

/// Numbers as a CSV cell may hold them: huge, negative, not quite numbers.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "7",
    "999",
    "1001",
    "99999",
    "100001",
    "4000000",
    "999999999999",
    "-999999999999",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "170141183460469231731687303715884105727",
    "1e308",
    "-1e308",
    "1e18",
    "nan",
    "inf",
    "2.5",
    "",
    "abc",
];

/// Pieces of text fields: words, lines, format specs, markup, wide characters
/// (`ß` upper-cases to two letters).
const PIECES: &[&str] = &[
    "a",
    "ab",
    "word ",
    "line\n",
    "\n",
    "ß",
    "%",
    "%s",
    "%9999999999d",
    "%.9999999999f",
    "%(a)s",
    "%-9223372036854775808s",
    "{{ x }}",
    "<b>&",
    "\u{10FFFF}",
    ",",
    "é\r\n",
];

fn text() -> BoxedStrategy<Text> {
    let times = prop_oneof![
        4 => 0usize..4,
        2 => 4usize..200,
        // Up to and past the 64 KiB a template may use of a field.
        1 => select(&[1_000usize, 10_000, 30_000, 70_000, 300_000][..]),
    ];
    (select(PIECES), times).prop_map(|(piece, times)| Text { piece, times }).boxed()
}

/// A size in a template: from a field, computed, or written in.
const SIZES: &[&str] = &[
    "(n | int)",
    "(m | int)",
    "(n | length)",
    "(x | length)",
    "(n | int) * (m | int)",
    "(n | int) * 1000",
    "-(n | int)",
    "(n | float)",
    "(n | int) // 3",
    "((n | int) + (m | int))",
    "(m | int) ** 3",
    "3",
    "999999",
    "100000",
];

/// A text in a template: a field, a join of fields, or written in.
const TEXTS: &[&str] = &["x", "y", "z", "(x ~ y)", "n", "email", "\"ab\"", "\"a\\nb\\n\""];

/// A construct that takes a size or makes text from its input.
fn leaf() -> BoxedStrategy<String> {
    let size = || select(SIZES);
    let txt = || select(TEXTS);
    prop_oneof![
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ {t} | indent({n}) }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ {t} | indent(width={n}, first=true, blank=true) }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ {t} * {n} }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{% set s = {t} * {n} %}}{{{{ s | length }}}}")),
        size().prop_map(|n| format!("{{% for i in range({n}) %}}.{{% endfor %}}")),
        size().prop_map(|n| format!("{{{{ range({n}) | list | join(x) }}}}")),
        size().prop_map(|n| format!("{{{{ range({n}) | sum }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ {t} | batch({n}) | list }}}}")),
        (txt(), size(), txt()).prop_map(|(t, n, f)| format!("{{{{ {t} | batch({n}, {f}) | list }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ {t} | slice({n}) | list }}}}")),
        (txt(), size(), txt()).prop_map(|(t, n, f)| format!("{{{{ {t} | slice({n}, {f}) | list }}}}")),
        size().prop_map(|n| format!("{{{{ (\"%\" ~ {n} ~ \"d\") | format(1) }}}}")),
        size().prop_map(|n| format!("{{{{ (\"%.\" ~ {n} ~ \"f\") | format(1.5) }}}}")),
        size().prop_map(|n| format!("{{{{ (\"%-\" ~ {n} ~ \"s|\") | format(x) }}}}")),
        txt().prop_map(|t| format!("{{{{ {t} | format(n, x, y) }}}}")),
        (txt(), size(), txt()).prop_map(|(t, n, j)| format!("{{{{ ([{t}] * {n}) | join({j}) }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ [{t}] * {n} }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ ([{t}, {t}] * {n}) | length }}}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{% for i in [{t}] * {n} %}}.{{% endfor %}}")),
        (txt(), size()).prop_map(|(t, n)| format!("{{{{ [[{t}] * {n}] | first | list | length }}}}")),
        (txt(), txt(), txt()).prop_map(|(t, a, b)| format!("{{{{ {t} | replace({a}, {b}) }}}}")),
        (txt(), txt()).prop_map(|(t, s)| format!("{{{{ {t} | split({s}) | length }}}}")),
        (txt(), txt()).prop_map(|(t, j)| format!("{{{{ {t} | split | list | join({j}) }}}}")),
        (txt(), txt()).prop_map(|(t, j)| format!("{{{{ {t} | list | join({j}) }}}}")),
        txt().prop_map(|t| format!("{{{{ {t} | pprint }}}}")),
        txt().prop_map(|t| format!("{{{{ {t} | lines | list | sort | unique | join }}}}")),
        txt().prop_map(|t| format!("{{{{ {t} | upper | title | e }}}}")),
        txt().prop_map(|t| format!("{{{{ {t} | string | length }}}}")),
        txt().prop_map(|t| format!("{{{{ ([{t}] * 1000) | map(\"upper\") | join }}}}")),
        size().prop_map(|n| format!("{{{{ x[{n}] }}}}{{{{ x[:{n}] }}}}{{{{ x[::{n}] }}}}")),
        size().prop_map(|n| format!("{{{{ 5 is divisibleby {n} }}}}")),
        size().prop_map(|n| format!("{{{{ dict(a=[1] * {n}) | length }}}}")),
        Just("{{ \"ab\" * 40 }}{{ [\"a\", 1] * 3 }}{{ 3 * \"-\" }}".to_string()),
        Just("{{ \"-\" * 10001 }}".to_string()),
        Just("{{ debug() | length }}".to_string()),
        Just("{% autoescape true %}{{ x }}{{ [x, y] }}{% endautoescape %}".to_string()),
        Just("{{ x }}{{ y }}{{ z }}".to_string()),
    ]
    .boxed()
}

/// A template: constructs, joined and nested in loops, `{% set %}` blocks,
/// filter blocks and recursive macros.
fn template() -> BoxedStrategy<String> {
    leaf()
        .prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                3 => vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
                1 => (select(SIZES), inner.clone())
                    .prop_map(|(n, b)| format!("{{% for i in range({n}) %}}{b}{{% endfor %}}")),
                1 => inner.clone().prop_map(|b| format!("{{% set s %}}{b}{{% endset %}}{{{{ s | length }}}}{{{{ s }}}}")),
                1 => inner.clone().prop_map(|b| format!("{{% filter upper %}}{b}{{% endfilter %}}")),
                1 => (select(SIZES), inner.clone()).prop_map(|(n, b)| format!(
                    "{{% macro m(k) %}}{{% if k > 0 %}}{b}{{{{ m(k - 1) }}}}{{% endif %}}{{% endmacro %}}{{{{ m({n}) }}}}"
                )),
                1 => inner.prop_map(|b| format!("{{% if n %}}{b}{{% else %}}-{{% endif %}}")),
            ]
        })
        .boxed()
}

/// One case: a template (used as a step's subject and its body) and a lead's fields.
#[derive(Debug, Clone)]
struct Case {
    template: String,
    n: Option<&'static str>,
    m: Option<&'static str>,
    x: Option<Text>,
    y: Option<Text>,
    z: Option<Text>,
}

impl Case {
    fn fields(&self) -> Fields {
        let mut fields = Fields::new();
        for (name, value) in [("n", self.n), ("m", self.m)] {
            if let Some(v) = value {
                fields.insert(name.into(), v.to_string());
            }
        }
        for (name, value) in [("x", &self.x), ("y", &self.y), ("z", &self.z)] {
            if let Some(t) = value {
                fields.insert(name.into(), t.piece.repeat(t.times));
            }
        }
        fields
    }
}

fn case() -> BoxedStrategy<Case> {
    let number = || proptest::option::weighted(0.95, select(NUMBERS));
    let field = || proptest::option::weighted(0.95, text());
    (template(), number(), number(), field(), field(), field())
        .prop_map(|(template, n, m, x, y, z)| Case { template, n, m, x, y, z })
        .boxed()
}

/// Words in the errors of the bounds (src/cadence/templates/bounds.rs).
const BOUND_WORDS: &[&str] = &[
    "too much work",
    "would exceed",
    "more than",
    "longer than",
    "nest too deep",
    "is given",
    "would make",
    "would print",
];

fn hostile_case(case: &Case) -> Result<&'static str, TestCaseError> {
    let mut templates = Templates::new("c");
    if templates.add("s", "subject", &case.template).is_err() || templates.add("s", "body", &case.template).is_err() {
        return Ok("does not compile");
    }
    // The trial render of `check` is bounded the same way.
    let _ = templates.check_renders();
    let fields = case.fields();
    let rendered = templates.render("s", "lead@acme.test", &fields);
    let checked = templates.check_lead(["s"], "lead@acme.test", &fields);
    prop_assert_eq!(checked.as_ref().err(), rendered.as_ref().err(), "checking the lead disagrees with rendering");
    match rendered {
        Ok(r) => {
            let subject = r.subject.unwrap_or_default();
            prop_assert!(subject.len() <= SUBJECT_LIMIT, "a subject of {} bytes", subject.len());
            prop_assert!(r.body.len() <= BODY_LIMIT, "a body of {} bytes", r.body.len());
            Ok("rendered")
        }
        Err(e) => {
            let text = e.to_string();
            prop_assert!(text.starts_with("step \"s\" "), "an error that names no step: {}", text);
            let detail = e.detail.as_str();
            Ok(if BOUND_WORDS.iter().any(|w| detail.contains(w)) { "past a bound" } else { "refused" })
        }
    }
}

/// Set in the child process: the file the case under way is written to.
const CHILD: &str = "CADENCED_FUZZ_TEMPLATES_CASE_FILE";

/// How long one case may run before the child is taken for hung: far more
/// than any bounded render takes, even unoptimised on a busy machine.
const STALLED: Duration = Duration::from_secs(120);

/// The fuzz target; the cases run in [`hostile_templates_child`] under a
/// memory limit, so that an abort or a hang is reported with its case.
#[test]
fn hostile_templates() {
    let exe = std::env::current_exe().unwrap();
    let module = module_path!().split_once("::").map_or(module_path!(), |(_, rest)| rest);
    let child_test = format!("{module}::hostile_templates_child");
    let dir = tempfile::tempdir().unwrap();
    let (case_file, log) = (dir.path().join("case.txt"), dir.path().join("child.log"));
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(&exe)
        .args(["--exact", &child_test, "--test-threads=1", "--nocapture"])
        .env(CHILD, &case_file)
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut last_case = (String::new(), Instant::now());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        let case = std::fs::read_to_string(&case_file).unwrap_or_default();
        if case != last_case.0 {
            last_case = (case, Instant::now());
        } else if last_case.1.elapsed() > STALLED {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let summary: Vec<&str> = stderr.lines().filter(|l| l.starts_with("fuzz hostile_templates:")).collect();
    eprintln!("{}", summary.join("\n"));
    let tail: Vec<&str> = stderr.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
    let case = std::fs::read_to_string(&case_file).unwrap_or_default();
    match status {
        None => panic!("a case ran for more than {} s (a render that no bound stops):\n{case}", STALLED.as_secs()),
        Some(status) => {
            assert!(status.success(), "the fuzz run died ({status}):\n{}\nthe case under way:\n{case}", tail.join("\n"))
        }
    }
    assert!(summary.iter().any(|l| l.contains(" cases in ")), "the child ran no cases:\n{stderr}");
}

/// The child half of [`hostile_templates`]; does nothing unless started by it.
#[test]
fn hostile_templates_child() {
    let Ok(case_file) = std::env::var(CHILD) else { return };
    let case_file = Path::new(&case_file);
    fuzz("hostile_templates", 500, case(), |case| {
        // Written before the render: what the parent reports if the child dies.
        std::fs::write(case_file, format!("{case:#?}\n")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        hostile_case(&case)
    });
}
