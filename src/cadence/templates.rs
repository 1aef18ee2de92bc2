//! A cadence's subject and body templates (Jinja syntax, minijinja), strict:
//! a variable a lead lacks is an error, never an email that reads "Hi ,".
//! Every render is bounded in work and size (see [`bounds`]): a template or a
//! lead's field that asks for too much fails that render with an error naming
//! the bound, and the process carries on. `*`, which no bound sees, may repeat
//! only what the template writes (see [`operators`]). A template of text and
//! `{{ name }}` tags only is recognised ([`plain`]), so that checking a lead
//! needs no render.

mod bounds;
mod operators;
mod plain;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::location::SourceError;

pub use bounds::{BODY_LIMIT, SUBJECT_LIMIT};
use bounds::{Failure, MAX_FIELD};
use plain::{Plain, plain_variables};

pub use crate::model::Fields;

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
mod tests;
