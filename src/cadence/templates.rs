//! A cadence's subject and body templates (Jinja syntax, minijinja), strict:
//! a variable a lead lacks is an error, never an email that reads "Hi ,".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::location::SourceError;

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
    /// Variables each template uses, by template name.
    vars: BTreeMap<String, BTreeSet<String>>,
    /// For a template made only of text, `{{ name }}` and `{{ name | default('text') }}`:
    /// the variables it needs (those without a default). Such a template
    /// renders whenever the lead has them, so checking a lead needs no render.
    plain: BTreeMap<String, Vec<String>>,
    /// Each template's text as written, by template name.
    sources: BTreeMap<String, String>,
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
/// every variable it names; else `None`. Anything else (statements, comments,
/// whitespace control, other filters or expressions) returns `None` and is
/// checked by rendering it.
fn plain_variables(source: &str) -> Option<(Vec<String>, BTreeSet<String>)> {
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
    let mut named = BTreeSet::new();
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
        named.insert(name.to_string());
        rest = &after[close + 2..];
    }
    Some((needed, named))
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("templates", &self.vars.keys()).finish()
    }
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// Longest digit run allowed inside `{{ }}` or `{% %}`.
const MAX_DIGITS: usize = 6;

/// A number longer than [`MAX_DIGITS`] inside a template expression, with
/// its line: the engine sizes buffers from filter arguments, and a failed
/// allocation aborts the process instead of returning an error. Text outside
/// expressions (phone numbers, dates) is not looked at.
fn huge_number(source: &str) -> Option<(usize, String)> {
    let mut rest = source;
    let mut consumed = 0;
    // One forward scan: the next `{{` or `{%`, whichever comes first.
    let next_tag = |text: &str| {
        text.match_indices('{').map(|(i, _)| i).find(|i| matches!(text.as_bytes().get(i + 1), Some(b'{' | b'%')))
    };
    while let Some(open) = next_tag(rest) {
        let close_tag = if rest[open..].starts_with("{{") { "}}" } else { "%}" };
        let inner_start = open + 2;
        let inner_end = rest[inner_start..].find(close_tag).map_or(rest.len(), |e| inner_start + e);
        let inner = &rest[inner_start..inner_end];
        let mut run = String::new();
        for (i, c) in inner.char_indices().chain(std::iter::once((inner.len(), ' '))) {
            if c.is_ascii_digit() {
                run.push(c);
                continue;
            }
            if run.len() > MAX_DIGITS {
                let at = consumed + inner_start + i;
                let line = source.get(..at).map_or(1, |b| b.matches('\n').count() + 1);
                return Some((line, run));
            }
            run.clear();
        }
        let next = (inner_end + close_tag.len()).min(rest.len());
        consumed += next;
        rest = &rest[next..];
    }
    None
}

/// Runs a render, turning a panic inside the template engine (some filters
/// panic on absurd arguments, e.g. `batch(9223372036854775807)`) into an error.
fn guarded<T>(render: impl FnOnce() -> Result<T, minijinja::Error>) -> Result<T, minijinja::Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(render)).unwrap_or_else(|_| {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "the template engine failed on this template",
        ))
    })
}

impl Templates {
    pub fn new(_cadence: &str) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        Templates { env, vars: BTreeMap::new(), plain: BTreeMap::new(), sources: BTreeMap::new() }
    }

    /// Compiles `source` as `part` ("subject" or "body") of step `step`.
    pub fn add(&mut self, step: &str, part: &'static str, source: &str) -> Result<(), TemplateProblem> {
        if let Some((line, number)) = huge_number(source) {
            return Err(TemplateProblem {
                line: Some(line),
                message: format!(
                    "step {step:?} {part}: the number {number} in a template expression is too large \
                     (at most {MAX_DIGITS} digits: filters like indent, batch or format would exhaust memory)"
                ),
            });
        }
        let name = format!("{step}.{part}");
        self.env.add_template_owned(name.clone(), source.to_string()).map_err(|e| TemplateProblem {
            line: e.line(),
            message: format!("step {step:?} {part}: {}", describe(&e)),
        })?;
        let vars: BTreeSet<String> = self
            .env
            .get_template(&name)
            .map(|t| t.undeclared_variables(false))
            .unwrap_or_default()
            .into_iter()
            .collect();
        // Only when the engine's own reading finds the same variables.
        if let Some((needed, named)) = plain_variables(source)
            && named == vars
        {
            self.plain.insert(name.clone(), needed);
        }
        self.vars.insert(name.clone(), vars);
        self.sources.insert(name, source.to_string());
        Ok(())
    }

    /// Renders every template once with a stand-in value for each variable,
    /// so that an unknown filter or a bad expression is caught by `check`:
    /// each problem with the step and part (`"subject"`, `"body"`) of its
    /// template, to be placed where that template's text is.
    pub fn check_renders(&self) -> Vec<(String, &'static str, TemplateProblem)> {
        let mut problems = Vec::new();
        for (name, vars) in &self.vars {
            let ctx: Fields = vars.iter().map(|v| (v.clone(), "example".to_string())).collect();
            let result = guarded(|| self.env.get_template(name).and_then(|t| t.render(&ctx)));
            if let Err(e) = result {
                let (step, part) = name.rsplit_once('.').unwrap_or((name, ""));
                let part = if part == "subject" { "subject" } else { "body" };
                problems.push((
                    step.to_string(),
                    part,
                    TemplateProblem { line: e.line(), message: format!("step {step:?} {part}: {}", describe(&e)) },
                ));
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
        let mut ctx = fields.clone();
        ctx.insert("email".into(), email.to_string());
        let subject = self.render_part(step, "subject", &ctx)?;
        let body = self.render_part(step, "body", &ctx)?.unwrap_or_default();
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
        let has = |v: &String| v == "email" || fields.contains_key(v);
        let mut ctx: Option<Value> = None;
        let mut name = String::new();
        for step in steps {
            for part in ["subject", "body"] {
                name.clear();
                name.push_str(step);
                name.push('.');
                name.push_str(part);
                if self.plain.get(&name).is_some_and(|needed| needed.iter().all(has)) {
                    continue;
                }
                let Ok(template) = self.env.get_template(&name) else { continue };
                let ctx = ctx.get_or_insert_with(|| {
                    fields
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .chain(std::iter::once(("email", email)))
                        .collect()
                });
                guarded(|| template.render(&*ctx).map(drop)).map_err(|e| RenderError {
                    step: step.to_string(),
                    part,
                    missing: self.missing(&name, has),
                    detail: describe(&e),
                })?;
            }
        }
        Ok(())
    }

    /// The variables template `name` uses that a lead lacks (`has` says
    /// which it has); for a plain template only those it needs, not those
    /// with a `default`.
    fn missing(&self, name: &str, has: impl Fn(&String) -> bool) -> Vec<String> {
        let used: Vec<&String> = match self.plain.get(name) {
            Some(needed) => needed.iter().collect(),
            None => self.vars.get(name).map(|vars| vars.iter().collect()).unwrap_or_default(),
        };
        let mut out: Vec<String> = used.into_iter().filter(|v| !has(v)).cloned().collect();
        out.sort();
        out.dedup();
        out
    }

    /// The source text of `part` ("subject" or "body") of `step`, as written.
    pub fn source(&self, step: &str, part: &str) -> Option<&str> {
        self.sources.get(&format!("{step}.{part}")).map(String::as_str)
    }

    /// Whether every template of `step` renders for a lead exactly when the
    /// lead has the fields it needs, whatever their values (see
    /// [`plain_variables`]): then [`Templates::lacking`] depends on the
    /// lead's field names only.
    pub fn names_only(&self, step: &str) -> bool {
        ["subject", "body"].iter().all(|part| {
            let name = format!("{step}.{part}");
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
        let mut ctx: Option<Fields> = None;
        for part in ["subject", "body"] {
            let name = format!("{step}.{part}");
            if let Some(needed) = self.plain.get(&name) {
                let missing: Vec<String> = needed.iter().filter(|v| !has(v)).cloned().collect();
                if !missing.is_empty() {
                    let detail = format!("undefined value: {}", missing.join(", "));
                    out.push(RenderError { step: step.to_string(), part, missing, detail });
                }
                continue;
            }
            let ctx = ctx.get_or_insert_with(|| {
                let mut ctx = fields.clone();
                ctx.insert("email".into(), email.to_string());
                ctx
            });
            if let Err(e) = self.render_part(step, part, ctx) {
                out.push(e);
            }
        }
        out
    }

    fn render_part(&self, step: &str, part: &'static str, ctx: &Fields) -> Result<Option<String>, RenderError> {
        let name = format!("{step}.{part}");
        let Ok(template) = self.env.get_template(&name) else {
            return Ok(None);
        };
        guarded(|| template.render(ctx)).map(Some).map_err(|e| RenderError {
            step: step.to_string(),
            part,
            missing: self.missing(&name, |v| ctx.contains_key(v)),
            detail: describe(&e),
        })
    }
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
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("first_name", "Jane")],
            &[("first_name", "Jane"), ("n", "3")],
            &[("first_name", "Jane"), ("n", "three")],
            &[("first_name", "Jane Doe-Smith"), ("n", "3")],
            &[("first_name", "Jane Doe-Smith"), ("n", "3"), ("vip", "yes")],
            &[("first_name", "Jo"), ("n", "3"), ("vip", "yes"), ("company", "Acme")],
        ];
        for case in cases {
            let fields: Fields = case.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(t.check_lead(steps, "j@x.test", &fields), render_all(&t, &steps, &fields), "{case:?}");
        }
    }
}
