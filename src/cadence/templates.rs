//! A cadence's subject and body templates (Jinja syntax, minijinja), strict:
//! a variable a lead lacks is an error, never an email that reads "Hi ,".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};

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
fn guarded(render: impl FnOnce() -> Result<String, minijinja::Error>) -> Result<String, minijinja::Error> {
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
        Templates { env, vars: BTreeMap::new() }
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
        let vars = self.env.get_template(&name).map(|t| t.undeclared_variables(false)).unwrap_or_default();
        self.vars.insert(name, vars.into_iter().collect());
        Ok(())
    }

    /// Renders every template once with a stand-in value for each variable,
    /// so that an unknown filter or a bad expression is caught by `check`.
    pub fn check_renders(&self) -> Vec<TemplateProblem> {
        let mut problems = Vec::new();
        for (name, vars) in &self.vars {
            let ctx: Fields = vars.iter().map(|v| (v.clone(), "example".to_string())).collect();
            let result = guarded(|| self.env.get_template(name).and_then(|t| t.render(&ctx)));
            if let Err(e) = result {
                let (step, part) = name.rsplit_once('.').unwrap_or((name, ""));
                problems.push(TemplateProblem {
                    line: e.line(),
                    message: format!("step {step:?} {part}: {}", describe(&e)),
                });
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

    fn render_part(&self, step: &str, part: &'static str, ctx: &Fields) -> Result<Option<String>, RenderError> {
        let name = format!("{step}.{part}");
        let Ok(template) = self.env.get_template(&name) else {
            return Ok(None);
        };
        guarded(|| template.render(ctx)).map(Some).map_err(|e| RenderError {
            step: step.to_string(),
            part,
            missing: self
                .vars
                .get(&name)
                .map(|vars| vars.iter().filter(|v| !ctx.contains_key(*v)).cloned().collect())
                .unwrap_or_default(),
            detail: describe(&e),
        })
    }
}
