//! Jinja templates for subjects and bodies: ones that compile and render
//! with any field values, and wild ones (odd pieces, deep nesting, the
//! snippets known to panic minijinja).

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::generators::WEIRD;
use super::skip_known;

pub(super) const JINJA_VARS: &[&str] = &[
    "first_name",
    "company",
    "phone",
    "email",
    "x",
    "calendar",
    "owner",
    "loop",
    "self",
    "range",
    "none",
    "a.b",
    "x[0]",
    "x.y.z",
];
const JINJA_FILTERS: &[&str] = &[
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "length",
    "safe",
    "escape",
    "default",
    "default('x')",
    "default(none)",
    "int",
    "float",
    "abs",
    "first",
    "last",
    "reverse",
    "list",
    "join(',')",
    "replace('a', 'b')",
    "truncate(5)",
    "tojson",
    "nonexistent",
    "wordcount",
    "urlencode",
    "indent(4)",
    "indent(100, true)",
    "batch(0)",
    "batch(3)",
    "slice(0)",
    "slice(2)",
    "round(-999)",
    "round",
    "sum",
    "map('upper')",
    "dictsort",
    "items",
    "unique",
    "min",
    "max",
    "pprint",
    "split",
    "lines",
    "sort",
    "attr('x')",
    "select('odd')",
    "reject",
    "format(1, 2)",
    "string",
    "bool",
    "center(10)",
    "default('x') | upper | lower",
    "e",
];
/// Odd or broken template pieces; nothing that loops for long (a template
/// with nested `range(100000)` loops is slow by design, not a crash).
/// Template pieces that make minijinja panic, in `Cadence::parse` (its
/// trial render) or, for some field values, in `Templates::render` (see the
/// regression tests in `regressions.rs`). Left out with `CADENCED_FUZZ_SKIP_KNOWN=1`.
/// Pieces that make it abort on a failed allocation are never generated: an
/// abort would end the whole test binary (`template_filters_with_huge_sizes_abort_the_process`
/// checks those in a child process).
const PANICKING_SNIPPETS: &[&str] = &[
    "{{ 5 is divisibleby 0 }}",
    "{{ 5 is divisibleby (x | length) }}",
    "{{ 5 is divisibleby (first_name | length - 3) }}",
    "{% for a in x %}{{ loop.cycle() }}{% endfor %}",
    "{{ x | list | batch(9223372036854775807) }}",
    "{{ x | list | slice(9223372036854775807) | list }}",
    "{{ '%.9999999999f' | format(1.5) }}",
];

const JINJA_SNIPPETS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{ }}",
    "{% %}",
    "{% endfor %}",
    "{% endif %}",
    "{% else %}",
    "{% for %}",
    "{% for x in %}",
    "{% if %}",
    "{{ x.y.z }}",
    "{{ x[0] }}",
    "{{ x[99999999999] }}",
    "{{ x[-1] }}",
    "{{ 99999999999999999999999999999999999999999 }}",
    "{{ 170141183460469231731687303715884105727 + 1 }}",
    "{{ -9223372036854775808 }}",
    "{{ 9223372036854775807 * 9223372036854775807 }}",
    "{{ 2 ** 99999 }}",
    "{{ 2 ** -1 }}",
    "{{ 1/0 }}",
    "{{ 1 // 0 }}",
    "{{ 1 % 0 }}",
    "{{ 1.0 / 0 }}",
    "{{ 'a' * 1000 }}",
    "{{ 'a' * -1 }}",
    "{{ x * 99999999999 }}",
    "{{ range(99999999) }}",
    "{{ range(10) | list }}",
    "{{ range(0, 10, 0) | list }}",
    "{{ x(1, 2) }}",
    "{{ x | }}",
    "{{ | upper }}",
    "{{ x is defined }}",
    "{{ x is nonexistent }}",
    "{{ 'a' ~ 1 }}",
    "{{ \"unterminated }}",
    "{{ '\\u{110000}' }}",
    "{{ '\\uD800' }}",
    "{% set x = 1 %}",
    "{% set x %}a{% endset %}",
    "{% raw %}{{ x }}{% endraw %}",
    "{% raw %}",
    "{% with a = 1 %}{{ a }}{% endwith %}",
    "{% include 'x' %}",
    "{% include 'intro.body' %}",
    "{% include 'intro.subject' %}",
    "{% extends 'intro.body' %}",
    "{% import 'x' as y %}",
    "{% from 'x' import y %}",
    "{% block b %}{% endblock %}",
    "{% filter upper %}x{% endfilter %}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% macro m() %}{{ caller() }}{% endmacro %}{% call m() %}x{% endcall %}",
    "{% autoescape true %}<{{ x }}>{% endautoescape %}",
    "{{ self }}",
    "{{ loop.index }}",
    "{{ namespace() }}",
    "{{ debug() }}",
    "{{ dict(a=1) }}",
    "{{ {'a': 1} }}",
    "{{ [1, 2][5] }}",
    "{{ x|default('{{') }}",
    "{%- if x -%}{%- endif -%}",
    "{{- x -}}",
    "{%+ if x +%}{% endif %}",
    "{{ x if x else y }}",
    "{{ (x }}",
    "{{ x) }}",
    "{{ [x }}",
    "{{ x.__class__ }}",
    "}}{{",
    "%}{%",
];

/// Templates that compile and render with any text for their variables.
fn good_jinja() -> BoxedStrategy<String> {
    let var = select(&["first_name", "company", "phone", "email", "x"][..]);
    let filter = select(
        &["upper", "lower", "title", "trim", "capitalize", "length", "default('x')", "replace('a', 'b')", "e"][..],
    );
    let leaf = prop_oneof![
        4 => "[ -z|~]{0,30}".prop_map(|t| t.replace(['{', '}', '%', '#'], "")),
        1 => vec(select(WEIRD), 0..4).prop_map(|v| v.concat().replace(['{', '}', '%', '#'], "")),
        3 => var.clone().prop_map(|v| format!("{{{{ {v} }}}}")),
        2 => (var.clone(), filter).prop_map(|(v, f)| format!("{{{{ {v} | {f} }}}}")),
        1 => var.clone().prop_map(|v| format!("{{{{ {v} | default('no {v}') }}}}")),
    ];
    leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            3 => vec(inner.clone(), 1..5).prop_map(|v| v.concat()),
            1 => (var.clone(), inner.clone()).prop_map(|(v, b)| format!("{{% if {v} %}}{b}{{% endif %}}")),
            1 => inner.prop_map(|b| format!("{{% for c in [1, 2] %}}{b}{{% endfor %}}")),
        ]
    })
    .boxed()
}

/// A template; with `odd`, often odd or broken pieces, deep nesting, recursion.
pub(super) fn jinja(odd: bool) -> BoxedStrategy<String> {
    if odd { prop_oneof![1 => good_jinja(), 1 => wild_jinja()].boxed() } else { good_jinja() }
}

fn wild_jinja() -> BoxedStrategy<String> {
    let plain = prop_oneof![
        4 => "[ -z|~]{0,20}",
        1 => vec(select(WEIRD), 0..4).prop_map(|v| v.concat()),
    ];
    let leaf = prop_oneof![
        3 => plain,
        3 => select(JINJA_VARS).prop_map(|v| format!("{{{{ {v} }}}}")),
        3 => (select(JINJA_VARS), select(JINJA_FILTERS)).prop_map(|(v, f)| format!("{{{{ {v} | {f} }}}}")),
        3 => select(JINJA_SNIPPETS).prop_map(str::to_string),
        u32::from(!skip_known()) => select(PANICKING_SNIPPETS).prop_map(str::to_string),
        1 => (1usize..300, 0u8..5).prop_map(|(n, k)| match k {
            0 => format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
            1 => format!("{{{{ {}1{} }}}}", "[".repeat(n), "]".repeat(n)),
            2 => format!("{}x{}", "{% if x %}".repeat(n), "{% endif %}".repeat(n)),
            3 => format!("{}x{}", "{% for a in 'a' %}".repeat(n), "{% endfor %}".repeat(n)),
            _ => format!("{{{{ x{} }}}}", " | upper".repeat(n)),
        }),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            3 => vec(inner.clone(), 1..6).prop_map(|v| v.concat()),
            1 => (select(JINJA_VARS), inner.clone()).prop_map(|(v, b)| format!("{{% if {v} %}}{b}{{% endif %}}")),
            1 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{% if x %}}{a}{{% else %}}{b}{{% endif %}}")),
            1 => inner.clone().prop_map(|b| format!("{{% for i in range(3) %}}{b}{{% endfor %}}")),
            1 => inner.clone().prop_map(|b| format!("{{% if x %}}{b}")),
            1 => inner.clone().prop_map(|b| format!("{b}{{% endif %}}")),
            1 => inner.prop_map(|b| format!("{{{{ ({b}) }}}}")),
        ]
    })
    .boxed()
}
