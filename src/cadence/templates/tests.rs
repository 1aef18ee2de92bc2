//! Unit tests of templates: plain ones recognised, leads checked as rendered,
//! hostile sizes and repetitions refused with an error naming the bound, and
//! what `check` accepts and rejects.

use super::*;

#[test]
fn plain_templates_are_recognised_and_nothing_else() {
    let plain = |s: &str| plain_variables(s).map(|(needed, _)| needed);
    assert_eq!(plain("Hi {{ first_name }}, {{company}}"), Some(vec!["first_name".into(), "company".into()]));
    assert_eq!(plain("Call {{ phone | default('n/a') }} or {{ x|default(\"y\") }}"), Some(vec![]));
    assert_eq!(plain("no tags at all }}"), Some(vec![]));
    for other in [
        "{% if a %}x{% endif %}",
        "{# note #}{{ a }}",
        "{{- a }}",
        "{{ a -}}",
        "{{ a | upper }}",
        "{{ a | default(b) }}",
        "{{ a | default('it''s') }}",
        "{{ a | default('{{') }}",
        "{{ a.b }}",
        "{{ a[0] }}",
        "{{ a ~ b }}",
        "{{ loop }}",
        "{{ none }}",
        "{{ 1 }}",
        "{{ a ",
        "{{ a | default('x') | upper }}",
    ] {
        assert_eq!(plain(other), None, "{other}");
    }
}

/// What enrollment checked before: every template rendered for the lead.
fn render_all(t: &Templates, steps: &[&str], fields: &Fields) -> Result<(), RenderError> {
    steps.iter().try_for_each(|step| t.render(step, "j@x.test", fields).map(drop))
}

#[test]
fn checking_a_lead_agrees_with_rendering_every_template() {
    let mut t = Templates::new("c");
    let sources = [
        ("a", "subject", "Hi {{ first_name }}"),
        ("a", "body", "{{ first_name }} at {{ company | default('your team') }} ({{ email }})"),
        ("b", "body", "{{ n | int }} seats for {{ first_name }}"),
        ("c", "subject", "{% if vip %}Dear {{ first_name }}{% else %}Hi{% endif %}"),
        ("c", "body", "{{ first_name[9] }}"),
    ];
    for (step, part, source) in sources {
        t.add(step, part, source).unwrap();
    }
    assert_eq!(t.plain.len(), 2, "{:?}", t.plain);
    let steps = ["a", "b", "c"];
    // A subject of "Hi " and 1021 letters is the most it may be; one more is too long.
    let (fits, too_long) = ("J".repeat(SUBJECT_LIMIT - 3), "J".repeat(SUBJECT_LIMIT - 2));
    let huge = "J".repeat(MAX_FIELD + 1);
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("first_name", "Jane")],
        &[("first_name", "Jane"), ("n", "3")],
        &[("first_name", "Jane"), ("n", "three")],
        &[("first_name", "Jane Doe-Smith"), ("n", "3")],
        &[("first_name", "Jane Doe-Smith"), ("n", "3"), ("vip", "yes")],
        &[("first_name", "Jo"), ("n", "3"), ("vip", "yes"), ("company", "Acme")],
        &[("first_name", &fits), ("n", "3")],
        &[("first_name", &too_long), ("n", "3")],
        &[("first_name", "Jane"), ("n", "3"), ("company", &huge)],
    ];
    for case in cases {
        let fields: Fields = case.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let shown: Vec<_> = case.iter().map(|(k, v)| (k, v.len())).collect();
        assert_eq!(t.check_lead(steps, "j@x.test", &fields), render_all(&t, &steps, &fields), "{shown:?}");
    }
    let fields: Fields = [("first_name".to_string(), fits)].into();
    assert!(t.render("a", "j@x.test", &fields).is_ok());
}

fn one(source: &str) -> Templates {
    let mut t = Templates::new("c");
    t.add("intro", "body", source).unwrap();
    t
}

/// A template, the fields of a lead, and what its render gives.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Sizes taken from a field or computed in the template: each render
/// gives an error naming the bound, or a text within the part's limit.
/// (An abort here would end the test binary: these must fail before
/// allocating.)
#[test]
fn hostile_sizes_fail_with_an_error_naming_the_bound() {
    // Fields as long as they may be (64 KiB); the template makes more of them.
    let long = "word ".repeat(12_000);
    let lines = "w\n".repeat(30_000);
    let cases: &[Case] = &[
        (
            "{{ x | indent(n | int) }}",
            &[("x", "a\nb"), ("n", "999999999999")],
            "filter indent: a width of 999999999999 is more than 1000",
        ),
        ("{{ x | indent(width=n | int, first=true) }}", &[("x", "a"), ("n", "5000")], "filter indent: a width of 5000"),
        ("{{ x | indent(999) }}", &[("x", &lines)], "filter indent would make a text longer than 1 MiB"),
        (
            "{% set s %}{% for i in range(20) %}{{ x }}{% endfor %}{% endset %}{{ s | upper }}",
            &[("x", &long)],
            "filter upper is given more than 1 MiB of text",
        ),
        ("{% for i in range(n | int) %}x{% endfor %}", &[("n", "999999999999")], "range has too many elements"),
        ("{% for i in range(n | int) %}x{% endfor %}", &[("n", "99999")], "too much work (more than 50000 steps"),
        (
            "{{ x | batch(n | int) }}",
            &[("x", "abc"), ("n", "9999999999")],
            "filter batch: a count of 9999999999 is more than 100000",
        ),
        (
            "{{ x | batch(n | int) }}",
            &[("x", "abc"), ("n", "-9223372036854775808")],
            "filter batch: a count of 9223372036854775808",
        ),
        (
            "{{ x | slice(n | int) | list }}",
            &[("x", "abc"), ("n", "9999999999")],
            "filter slice: a count of 9999999999",
        ),
        (
            "{{ x | format(1) }}",
            &[("x", "%9999999999d")],
            "filter format: a width or precision of 9999999999 is more than 1000",
        ),
        ("{{ x | format(1.5) }}", &[("x", "%.9999999999f")], "filter format: a width or precision of 9999999999"),
        (
            "{{ (\"%\" ~ n ~ \"s\") | format(x) }}",
            &[("x", "a"), ("n", "-9223372036854775808")],
            "a width or precision of 9223372036854775808",
        ),
        (
            "{{ x | format(x, x, x) }}",
            &[("x", &"%s".repeat(30_000))],
            "filter format would make a text longer than 1 MiB",
        ),
        (
            "{{ ((range(n | int) | list) + [x]) | join(\",\") }}",
            &[("x", "ab"), ("n", "100000")],
            "filter join is given more than 100000 items",
        ),
        ("{{ (x ~ x ~ x) | list | join(x) }}", &[("x", &long)], "filter list would make more than 100000 items"),
        (
            "{{ [x, x, x, x, x, x, x, x, x, x, x, x] | join(x) }}",
            &[("x", &long)],
            "filter join would make a text longer than 1 MiB",
        ),
        ("{{ x | replace(\"\", x) }}", &[("x", &long[..20_000])], "filter replace would make a text longer than 1 MiB"),
        ("{{ (x ~ x ~ x) | split(\"\") | length }}", &[("x", &long)], "filter split would make more than 100000 items"),
        (
            "{{ (range(n | int) | list) + [x] }}",
            &[("x", "ab"), ("n", "100000")],
            "a {{ }} would print more than 100000 items",
        ),
        (
            "{{ {\"a\": (range(n | int) | list) + [x]} }}",
            &[("x", "ab"), ("n", "100000")],
            "a {{ }} would print more than 100000 items",
        ),
        (
            "{{ [(range(n | int) | list) + [x]] | first | length }}",
            &[("x", "ab"), ("n", "100000")],
            "filter first is given more than 100000 items",
        ),
        (
            "{% for i in (range(n | int) | list) + [x] %}.{% endfor %}",
            &[("x", "ab"), ("n", "100000")],
            "more than 50000 steps",
        ),
        ("{% for a in range(1000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}", &[], "more than 50000 steps"),
        ("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", &[], "nest too deep"),
        (
            "{% for i in range(300) %}{{ x }}{% endfor %}",
            &[("x", &long[..1000])],
            "output would exceed 256 KiB (the most a body may be)",
        ),
        (
            "{% set s %}{% for i in range(600) %}{{ x }}{% endfor %}{% endset %}{{ s | length }}",
            &[("x", &long)],
            "too much work (its filters and output handle more than 32 MiB)",
        ),
        ("{{ x }}", &[("x", &"x".repeat(MAX_FIELD + 1))], "field x is longer than 64 KiB"),
        (
            "{{ debug() }}{{ [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x] }}",
            &[("x", &long)],
            "a {{ }} would print more than 1 MiB of text",
        ),
        (
            "{% set l = (range(n | int) | list) + [x] %}{{ debug() }}",
            &[("x", "ab"), ("n", "100000")],
            "function debug is given more than 100000 items",
        ),
        (
            "{% set ns = namespace(l=[]) %}{% for i in range(40) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}",
            &[],
            "lists nested more than 32 deep",
        ),
        (
            "{{ range(n | int) | batch(3) | list | pprint }}",
            &[("n", "60000")],
            "filter pprint would make a text longer than 1 MiB",
        ),
        ("{{ 5 is divisibleby (x | length - 3) }}", &[("x", "abc")], "divisibleby 0"),
    ];
    for (source, pairs, want) in cases {
        let t = one(source);
        match t.render("intro", "j@x.test", &fields(pairs)) {
            Ok(r) => panic!("{source}: rendered {} bytes, expected an error with {want:?}", r.body.len()),
            Err(e) => {
                let text = e.to_string();
                assert!(text.starts_with("step \"intro\" body: "), "{source}: {text}");
                assert!(text.contains(want), "{source}: expected {want:?} in {text}");
            }
        }
    }
}

/// `*` by a count from a field could ask for any memory or time in one
/// step of the engine, beyond any bound: refused when the template loads.
#[test]
fn repetition_by_a_count_from_a_field_is_refused_when_loading() {
    for source in [
        "{{ \"ab\" * (n | int) }}",
        "{% set s = \"ab\" * (n | int) %}{{ s | length }}",
        "{{ ([x] * (n | int)) | join(\",\") }}",
        "line\n{% for i in [] * (n | int) * (m | int) %}.{% endfor %}",
        "{{ x * 3 }}",
        "{{ \"-\" * 99999999 }}",
    ] {
        let mut t = Templates::new("c");
        let e = t.add("intro", "body", source).expect_err(source);
        assert!(
            e.message.starts_with("step \"intro\" body: `*` may repeat only a text or list written"),
            "{}",
            e.message
        );
        assert_eq!(e.line, Some(source.lines().count()), "{source}");
    }
}

#[test]
fn a_subject_is_cut_at_its_own_limit() {
    let mut t = Templates::new("c");
    t.add("intro", "subject", "Hi {{ x }}").unwrap();
    t.add("intro", "body", "Hello {{ x }}").unwrap();
    let long = fields(&[("x", &"x".repeat(SUBJECT_LIMIT))]);
    let e = t.render("intro", "j@x.test", &long).unwrap_err();
    assert_eq!(
        e.to_string(),
        "step \"intro\" subject: the template's output would exceed 1 KiB (the most a subject may be)"
    );
    assert_eq!(t.check_lead(["intro"], "j@x.test", &long), Err(e));
    let r = t.render("intro", "j@x.test", &fields(&[("x", &"x".repeat(SUBJECT_LIMIT - 3))])).unwrap();
    assert_eq!(r.subject.map(|s| s.len()), Some(SUBJECT_LIMIT));
}

/// The builtins behind the bounds still do what they did.
#[test]
fn bounded_builtins_render_as_before() {
    let cases: &[Case] = &[
        ("{{ x | indent(2, true) }}|{{ x | indent(width=3) }}", &[("x", "a\nb")], "  a\n  b|a\n   b"),
        ("{{ \"ab\" * 3 }}|{{ (n | int) * 2 }}", &[("n", "3")], "ababab|6"),
        ("{% for i in range(n | int) %}{{ loop.index }}{% endfor %}", &[("n", "4")], "1234"),
        ("{{ x | batch(2) | list }}", &[("x", "abc")], "[[\"a\", \"b\"], [\"c\"]]"),
        ("{{ x | slice(2, \"-\") | list }}", &[("x", "abc")], "[[\"a\", \"b\"], [\"c\", \"-\"]]"),
        ("{{ \"%05d|%-4s|%.2f\" | format(n | int, x, 1.5) }}", &[("n", "42"), ("x", "ab")], "00042|ab  |1.50"),
        ("{{ x | split(\",\") | join(\"+\") }}", &[("x", "a,b,c")], "a+b+c"),
        ("{{ x | replace(\"a\", \"xyz\") | upper }}", &[("x", "banana")], "BXYZNXYZNXYZ"),
        ("{{ x | list | sort | unique | join }}", &[("x", "banana")], "abn"),
        (
            "{% set ns = namespace(n=0) %}{% for c in x %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
            &[("x", "abcd")],
            "4",
        ),
        (
            "{{ dict(a=x)[\"a\"] }} {{ x is defined }} {{ y is defined }} {{ y | default(\"-\") }}",
            &[("x", "v")],
            "v True False -",
        ),
        (
            "{{ [\"v\"] * 3 }} {{ x | pprint }} {{ 6 is divisibleby 3 }}",
            &[("x", "v")],
            "[\"v\", \"v\", \"v\"] \"v\" True",
        ),
        ("{% filter upper %}{{ x }}{% endfilter %} {{ x | title | length }}", &[("x", "ab cd")], "AB CD 5"),
        ("{% autoescape true %}{{ x }}{% endautoescape %}", &[("x", "<b>")], "&lt;b&gt;"),
    ];
    for (source, pairs, want) in cases {
        let t = one(source);
        match t.render("intro", "j@x.test", &fields(pairs)) {
            Ok(r) => assert_eq!(r.body, *want, "{source}"),
            Err(e) => panic!("{source}: {e}"),
        }
    }
}

/// Enrollment names the field a lead lacks, whatever reads it.
#[test]
fn a_missing_field_is_named_whatever_reads_it() {
    for source in [
        "{{ v }}",
        "{{ v | upper }}",
        "{{ v | int + 1 }}",
        "{{ x | indent(v | int) }}",
        "{% for i in range(v | int) %}.{% endfor %}",
        "{{ \"%s\" | format(v) }}",
    ] {
        let e = one(source).render("intro", "j@x.test", &fields(&[("x", "a")])).map(|r| r.body);
        let e = e.expect_err(source);
        assert_eq!(e.missing, ["v"], "{source}: {e}");
        assert_eq!(e.to_string(), "step \"intro\" body uses v that the lead lacks", "{source}");
    }
}

fn check(source: &str) -> Vec<String> {
    one(source).check_renders().into_iter().map(|(_, p)| p.message).collect()
}

#[test]
fn check_accepts_what_the_engine_accepts() {
    for source in [
        "{% for i in range(3) %}{{ loop.index }}{% endfor %}",
        "{{ dict(a=1)[\"a\"] }}",
        "{% set ns = namespace(a=first_name) %}{{ ns.a }}",
        "{{ n | int + 1 }} seats",
        "{{ \"%d seats\" | format(n | int) }}",
        "{% for i in range(n | int) %}*{% endfor %}",
        "{{ x | indent(n | int) }}",
        "{{ 5 is divisibleby (x | length - 7) }}",
        "{{ revenue | float > 10000000 }}",
    ] {
        assert_eq!(check(source), Vec::<String>::new(), "{source}");
        let t = one(source);
        let vars = t.variables();
        for global in ["range", "dict", "namespace", "loop"] {
            assert!(!vars.contains(global), "{source}: {vars:?}");
        }
    }
}

#[test]
fn check_rejects_what_fails_for_every_lead() {
    let cases = [
        ("{{ x | nosuchfilter }}", "unknown filter"),
        ("{{ (n | int) | nosuchfilter }}", "unknown filter"),
        ("{{ x is nosuchtest }}", "unknown test"),
        ("{{ x | replace(\"a\") }}", "missing argument"),
        ("{{ x.upper() }}", "unknown method"),
        ("{{ x.name }}", "undefined value"),
        ("{{ x | indent(99999999999999) }}", "a width of 99999999999999 is more than 1000"),
        ("{{ x | batch(9999999999) }}", "a count of 9999999999 is more than 100000"),
        ("{{ '%9999999999d' | format(1) }}", "a width or precision of 9999999999"),
        ("{% for a in range(1000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}", "too much work"),
        ("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "nest too deep"),
        ("{% include \"intro.body\" %}", "nest too deep"),
        ("{% for i in range(100000) %}{{ x }}{% endfor %}", "too much work"),
        ("{% for a in x %}{{ loop.cycle() }}{% endfor %}", "the template engine failed"),
    ];
    for (source, want) in cases {
        let problems = check(source);
        assert!(problems.len() == 1 && problems[0].contains(want), "{source}: expected {want:?}, got {problems:?}");
    }
}

/// The limit on nesting keeps the native stack of a test thread (2 MiB,
/// unoptimised) and of the daemon's tick thread safe.
#[test]
fn deep_recursion_stops_at_the_limit_without_overflowing_the_stack() {
    let t = one("{% macro m(n) %}{% if n > 0 %}({{ m(n - 1) }}){% endif %}{% endmacro %}{{ m(depth | int) }}");
    let ok = t.render("intro", "j@x.test", &fields(&[("depth", "30")])).unwrap();
    assert_eq!(ok.body.len(), 60);
    let e = t.render("intro", "j@x.test", &fields(&[("depth", "100000")])).unwrap_err();
    assert!(e.to_string().contains("nest too deep"), "{e}");
    let t = one(
        "{% if depth | int > 0 %}.{% with depth = depth | int - 1 %}{% include \"intro.body\" %}{% endwith %}{% endif %}",
    );
    assert_eq!(t.render("intro", "j@x.test", &fields(&[("depth", "15")])).unwrap().body.len(), 15);
    let e = t.render("intro", "j@x.test", &fields(&[("depth", "100000")])).unwrap_err();
    assert!(e.to_string().contains("nest too deep"), "{e}");
}
