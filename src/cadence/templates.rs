//! A cadence's subject and body templates (Jinja syntax, minijinja), strict:
//! a variable a lead lacks is an error, never an email that reads "Hi ,".
//! Every render is bounded in work and size (see [`bounds`]): a template or a
//! lead's field that asks for too much fails that render with an error naming
//! the bound, and the process carries on. `*`, which no bound sees, may repeat
//! only what the template writes (see [`operators`]).

mod bounds;
mod operators;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::location::SourceError;

pub use bounds::{BODY_LIMIT, SUBJECT_LIMIT};
use bounds::{Failure, MAX_FIELD};

/// A lead's fields: `first_name`, `company`, ... (plus `email` when rendering).
pub type Fields = BTreeMap<String, String>;

/// A step's text for one lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: Option<String>,
    pub body: String,
}

/// A template that does not compile or render, before it is placed in a file.
#[derive(Debug)]
pub struct TemplateProblem {
    line: Option<usize>,
    message: String,
}

impl TemplateProblem {
    /// Places the problem in `file`, whose template text starts at `base` (line, col).
    pub fn locate(self, file: &Path, base: (usize, usize)) -> SourceError {
        let (line, col) = match self.line {
            Some(l) if l > 1 => (base.0 + l - 1, 1),
            _ => base,
        };
        SourceError { file: file.to_path_buf(), line, col, message: crate::location::one_line(&self.message) }
    }
}

/// A lead cannot be sent a step because its template does not render for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RenderError {
    pub step: String,
    pub part: &'static str,
    /// Fields the template uses that the lead lacks.
    pub missing: Vec<String>,
    pub detail: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.missing.is_empty() {
            write!(f, "step {:?} {}: {}", self.step, self.part, self.detail)
        } else {
            write!(f, "step {:?} {} uses {} that the lead lacks", self.step, self.part, self.missing.join(", "))
        }
    }
}

/// The compiled templates of one cadence, named `<step>.<part>`.
pub struct Templates {
    env: Environment<'static>,
    /// The engine's own functions (`range`, `dict`, `namespace`...): never a lead's field.
    globals: BTreeSet<String>,
    /// Variables each template uses, by template name.
    vars: BTreeMap<String, BTreeSet<String>>,
    /// Templates made only of text, `{{ name }}` and `{{ name | default('text') }}`,
    /// by template name. Such a template renders whenever the lead has the
    /// variables it needs and they fit its part (see [`Plain::fits`]), so
    /// checking a lead needs no render.
    plain: BTreeMap<String, Plain>,
    /// Each template's text as written, by template name.
    sources: BTreeMap<String, String>,
}

/// A template made only of text and plain `{{ }}` tags (see [`plain_variables`]).
#[derive(Debug)]
struct Plain {
    /// Variables without a default.
    needed: Vec<String>,
    /// Every variable tag, once per tag.
    tags: Vec<String>,
    /// The template's length: its text, tags and defaults, more than it writes of them.
    source_len: usize,
}

impl Plain {
    /// Whether the template surely renders for a lead with `fields` (plus `email`),
    /// within `limit` bytes.
    fn fits(&self, fields: &Fields, email: &str, limit: usize) -> bool {
        let value = |v: &String| if v == "email" { Some(email) } else { fields.get(v).map(String::as_str) };
        self.needed.iter().all(|v| value(v).is_some())
            && self.tags.iter().all(|v| value(v).is_none_or(|text| text.len() <= MAX_FIELD))
            && self
                .tags
                .iter()
                .try_fold(self.source_len, |len, v| len.checked_add(value(v).map_or(0, str::len)))
                .is_some_and(|len| len <= limit)
    }
}

/// Names the engine gives a meaning of its own: never treated as a plain variable.
const RESERVED: [&str; 13] = [
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "self",
    "loop",
    "super",
    "varargs",
    "kwargs",
    "caller",
    "namespace",
];

/// The variables `source` needs if it is plain text with `{{ name }}` and
/// `{{ name | default('text') }}` tags only (see [`Templates::plain`]), with
/// the variable of every tag; else `None`. Anything else (statements, comments,
/// whitespace control, other filters or expressions) returns `None` and is
/// checked by rendering it.
fn plain_variables(source: &str) -> Option<(Vec<String>, Vec<String>)> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let plain_name = |name: &str| {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !RESERVED.contains(&name)
    };
    let mut needed = Vec::new();
    let mut tags = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let inner = &after[..close];
        if inner.starts_with(['-', '+']) || inner.ends_with(['-', '+']) {
            return None;
        }
        let (name, filter) = match inner.split_once('|') {
            None => (inner.trim(), None),
            Some((name, filter)) => (name.trim(), Some(filter.trim())),
        };
        if !plain_name(name) {
            return None;
        }
        match filter {
            None => needed.push(name.to_string()),
            Some(filter) => {
                let literal = filter.strip_prefix("default(")?.strip_suffix(')')?.trim();
                let text = literal
                    .strip_prefix('\'')
                    .and_then(|l| l.strip_suffix('\''))
                    .or_else(|| literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')))?;
                if text.contains(['\'', '"', '\\', '{', '}']) {
                    return None;
                }
            }
        }
        tags.push(name.to_string());
        rest = &after[close + 2..];
    }
    Some((needed, tags))
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("templates", &self.vars.keys()).finish()
    }
}

/// The most a rendered `part` may be.
fn limit(part: &str) -> usize {
    if part == "subject" { SUBJECT_LIMIT } else { BODY_LIMIT }
}

/// Whether `e` is a mistake in the template itself, whatever the lead's
/// fields: `check` reports it even though a stand-in value could be to blame
/// for others (`{{ n | int }}` with a word for `n`).
fn template_mistake(e: &minijinja::Error) -> bool {
    matches!(
        bounds::root(e).kind(),
        ErrorKind::SyntaxError
            | ErrorKind::TemplateNotFound
            | ErrorKind::TooManyArguments
            | ErrorKind::MissingArgument
            | ErrorKind::UnknownFilter
            | ErrorKind::UnknownTest
            | ErrorKind::UnknownFunction
            | ErrorKind::UnknownMethod
            | ErrorKind::BadEscape
            | ErrorKind::BadInclude
            | ErrorKind::UnknownBlock
    )
}

/// Stand-in values `check` renders each template with, one for every variable
/// it uses: a word, then a number, since fields are text that a template may
/// read as either.
const STAND_INS: [&str; 2] = ["example", "1"];

impl Templates {
    pub fn new(_cadence: &str) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Errors carry no copy of the render's state (we read their kind and detail only).
        env.set_debug(false);
        bounds::install(&mut env);
        let globals = bounds::global_names(&env).into_iter().collect();
        Templates { env, globals, vars: BTreeMap::new(), plain: BTreeMap::new(), sources: BTreeMap::new() }
    }

    /// The name of the template of `part` ("subject" or "body") of step `step`.
    pub fn name(step: &str, part: &str) -> String {
        format!("{step}.{part}")
    }

    /// Compiles `source` as `part` ("subject" or "body") of step `step`.
    pub fn add(&mut self, step: &str, part: &'static str, source: &str) -> Result<(), TemplateProblem> {
        // Before compiling: the compiler computes a repetition of constants.
        if let Some((line, message)) = operators::unbounded_repetition(source) {
            return Err(TemplateProblem { line: Some(line), message: format!("step {step:?} {part}: {message}") });
        }
        let name = Templates::name(step, part);
        self.env.add_template_owned(name.clone(), source.to_string()).map_err(|e| TemplateProblem {
            line: e.line(),
            message: format!("step {step:?} {part}: {}", Failure::Engine(e).message()),
        })?;
        let vars: BTreeSet<String> = self
            .env
            .get_template(&name)
            .map(|t| t.undeclared_variables(false))
            .unwrap_or_default()
            .into_iter()
            .filter(|v| !self.globals.contains(v))
            .collect();
        // Only when the engine's own reading finds the same variables.
        if let Some((needed, tags)) = plain_variables(source)
            && tags.iter().cloned().collect::<BTreeSet<_>>() == vars
        {
            self.plain.insert(name.clone(), Plain { needed, tags, source_len: source.len() });
        }
        self.vars.insert(name.clone(), vars);
        self.sources.insert(name, source.to_string());
        Ok(())
    }

    /// Renders every template with stand-in values for its variables, so that
    /// `check` catches an unknown filter or test, a wrong number of arguments,
    /// a template that goes past a bound or fails whatever the stand-in. A
    /// template that fails only for some stand-ins, or only because no
    /// stand-in is what it expects (`{{ n | int }}`, `{{ "%d" | format(n) }}`),
    /// passes: each lead's own fields are checked when it is enrolled.
    /// Each problem comes with its template's [`name`](Self::name).
    pub fn check_renders(&self) -> Vec<(String, TemplateProblem)> {
        let mut problems = Vec::new();
        for (name, vars) in &self.vars {
            let Ok(template) = self.env.get_template(name) else { continue };
            let (step, part) = name.rsplit_once('.').unwrap_or((name, ""));
            let mut failure = None;
            for stand_in in STAND_INS {
                let ctx: Value = vars.iter().map(|v| (v.as_str(), stand_in)).collect();
                match bounds::render(&template, &ctx, limit(part), part) {
                    Ok(_) => {
                        failure = None;
                        break;
                    }
                    Err(f) => {
                        let mistake = matches!(&f, Failure::Engine(e) if template_mistake(e));
                        failure = Some(f);
                        if mistake {
                            break;
                        }
                    }
                }
            }
            let reported = match &failure {
                None => false,
                // Not the stand-in's fault when every one of them gets it.
                Some(Failure::Engine(e)) => template_mistake(e) || bounds::root(e).kind() == ErrorKind::UndefinedError,
                Some(Failure::Bound { .. } | Failure::Panic) => true,
            };
            if let Some(f) = failure.filter(|_| reported) {
                let message = format!("step {step:?} {part}: {}", f.message());
                problems.push((name.clone(), TemplateProblem { line: f.line(), message }));
            }
        }
        problems
    }

    /// Every variable any template uses.
    pub fn variables(&self) -> BTreeSet<String> {
        self.vars.values().flatten().cloned().collect()
    }

    /// Renders step `step` for a lead with address `email` and `fields`.
    pub fn render(&self, step: &str, email: &str, fields: &Fields) -> Result<Rendered, RenderError> {
        let ctx = context(email, fields);
        let subject = self.render_part(step, "subject", email, fields, &ctx)?;
        let body = self.render_part(step, "body", email, fields, &ctx)?.unwrap_or_default();
        Ok(Rendered { subject, body })
    }

    /// Checks that every template of `steps` renders for a lead, in step order
    /// and subject before body (the first failure is the one reported), as
    /// [`render`](Self::render) would, without keeping the text: what enrolling
    /// a lead requires. The lead's context is built once for all templates.
    pub fn check_lead<'s>(
        &self,
        steps: impl IntoIterator<Item = &'s str>,
        email: &str,
        fields: &Fields,
    ) -> Result<(), RenderError> {
        let mut ctx: Option<Value> = None;
        let mut name = String::new();
        for step in steps {
            for part in ["subject", "body"] {
                name.clear();
                name.push_str(step);
                name.push('.');
                name.push_str(part);
                if self.plain.get(&name).is_some_and(|plain| plain.fits(fields, email, limit(part))) {
                    continue;
                }
                let ctx = ctx.get_or_insert_with(|| context(email, fields));
                self.render_part(step, part, email, fields, ctx)?;
            }
        }
        Ok(())
    }

    /// Renders `part` of step `step` with `ctx` (made of `email` and `fields`);
    /// `None` when the step has no such part.
    fn render_part(
        &self,
        step: &str,
        part: &'static str,
        email: &str,
        fields: &Fields,
        ctx: &Value,
    ) -> Result<Option<String>, RenderError> {
        let name = Templates::name(step, part);
        let Ok(template) = self.env.get_template(&name) else {
            return Ok(None);
        };
        let vars = self.vars.get(&name).into_iter().flatten();
        let value = |v: &String| if v == "email" { Some(email) } else { fields.get(v).map(String::as_str) };
        let error =
            |detail: String, missing: Vec<String>| RenderError { step: step.to_string(), part, missing, detail };
        // A long field is refused whole, before `~`, `+` or `[::-1]`, which
        // no bound sees, could copy it over and over in a loop.
        if let Some(long) = vars.clone().find(|v| value(v).is_some_and(|text| text.len() > MAX_FIELD)) {
            return Err(error(
                format!("field {long} is longer than {}, the most a template may use", bounds::size(MAX_FIELD)),
                Vec::new(),
            ));
        }
        bounds::render(&template, ctx, limit(part), part).map(Some).map_err(|failure| {
            let missing = match &failure {
                Failure::Engine(e) if bounds::root(e).kind() == ErrorKind::UndefinedError => {
                    self.missing(&name, |v| value(v).is_some())
                }
                _ => Vec::new(),
            };
            error(failure.message(), missing)
        })
    }

    /// The variables template `name` uses that a lead lacks (`has` says
    /// which it has); for a plain template only those it needs, not those
    /// with a `default`.
    fn missing(&self, name: &str, has: impl Fn(&String) -> bool) -> Vec<String> {
        let used: Vec<&String> = match self.plain.get(name) {
            Some(plain) => plain.needed.iter().collect(),
            None => self.vars.get(name).map(|vars| vars.iter().collect()).unwrap_or_default(),
        };
        let mut out: Vec<String> = used.into_iter().filter(|v| !has(v)).cloned().collect();
        out.sort();
        out.dedup();
        out
    }

    /// The source text of `part` ("subject" or "body") of `step`, as written.
    pub fn source(&self, step: &str, part: &str) -> Option<&str> {
        self.sources.get(&Templates::name(step, part)).map(String::as_str)
    }

    /// Whether every template of `step` renders for a lead exactly when the
    /// lead has the fields it needs, whatever their values (see
    /// [`plain_variables`]): then [`Templates::lacking`] depends on the
    /// lead's field names only.
    pub fn names_only(&self, step: &str) -> bool {
        ["subject", "body"].iter().all(|part| {
            let name = Templates::name(step, part);
            !self.vars.contains_key(&name) || self.plain.contains_key(&name)
        })
    }

    /// Why `step` does not render for a lead with `fields`, part by part
    /// (subject, then body): empty when it renders. A plain template names
    /// only the variables it needs and the lead lacks (a variable with a
    /// `default` is not needed); another names every variable it uses that
    /// the lead lacks, and, when it lacks none, says why it failed.
    pub fn lacking(&self, step: &str, email: &str, fields: &Fields) -> Vec<RenderError> {
        let has = |v: &String| v == "email" || fields.contains_key(v);
        let mut out = Vec::new();
        let mut ctx: Option<Value> = None;
        for part in ["subject", "body"] {
            let name = Templates::name(step, part);
            if let Some(plain) = self.plain.get(&name) {
                let missing: Vec<String> = plain.needed.iter().filter(|v| !has(v)).cloned().collect();
                if !missing.is_empty() {
                    let detail = format!("undefined value: {}", missing.join(", "));
                    out.push(RenderError { step: step.to_string(), part, missing, detail });
                }
                continue;
            }
            let ctx = ctx.get_or_insert_with(|| context(email, fields));
            if let Err(e) = self.render_part(step, part, email, fields, ctx) {
                out.push(e);
            }
        }
        out
    }
}

/// The variables of a render: the lead's fields and its address as `email`.
fn context(email: &str, fields: &Fields) -> Value {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(std::iter::once(("email", email))).collect()
}

#[cfg(test)]
mod tests {
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
            (
                "{{ x | indent(width=n | int, first=true) }}",
                &[("x", "a"), ("n", "5000")],
                "filter indent: a width of 5000",
            ),
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
            (
                "{{ x | replace(\"\", x) }}",
                &[("x", &long[..20_000])],
                "filter replace would make a text longer than 1 MiB",
            ),
            (
                "{{ (x ~ x ~ x) | split(\"\") | length }}",
                &[("x", &long)],
                "filter split would make more than 100000 items",
            ),
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
            (
                "{% for a in range(1000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}",
                &[],
                "more than 50000 steps",
            ),
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
}
