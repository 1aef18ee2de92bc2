//! Cadence files: `cadences/<name>.toml` parsed into a checked [`Cadence`]
//! (steps, waits, send window, compiled templates). Nothing here touches the
//! database or the clock.

mod templates;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::Config;
use crate::core::schedule::{Wait, Window};
use crate::location::{FileErrors, SourceError, toml_message};

pub use templates::{BODY_LIMIT, Fields, RenderError, Rendered, SUBJECT_LIMIT, Templates};

/// What a step asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Email,
    Call,
    Linkedin,
    Task,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Email => "email",
            StepKind::Call => "call",
            StepKind::Linkedin => "linkedin",
            StepKind::Task => "task",
        }
    }

    fn parse(text: &str) -> Option<StepKind> {
        Some(match text {
            "email" => StepKind::Email,
            "call" => StepKind::Call,
            "linkedin" => StepKind::Linkedin,
            "task" => StepKind::Task,
            _ => return None,
        })
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One touchpoint of a cadence.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub wait: Wait,
    pub kind: StepKind,
    /// Manual steps: the cadence waits until the task is closed (default).
    pub blocking: bool,
    /// Manual steps: an untouched task is skipped (`expired`) this long after it opened.
    pub auto_skip_after: Option<Wait>,
    /// An email step without a subject: a reply in the thread of the lead's
    /// previous email in the cadence (`Re: ` its subject, `In-Reply-To`, `References`).
    pub threaded: bool,
    /// Versions of the step (`[[steps.variants]]`): each lead gets one,
    /// chosen stably ([`crate::core::variants`]). Empty: the step's own text.
    pub variants: Vec<Variant>,
    /// The share of leads that skip the step (recorded skipped, reason `holdout`).
    pub holdout: Option<f64>,
    /// No winner among the variants before each reached this many leads.
    pub min_sample: u64,
    /// Once a winner is declared, new leads reaching the step get only it.
    pub pick_winner: bool,
}

/// One version of a step: its own subject and/or body (the step's where absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub id: String,
    pub weight: f64,
}

/// `min_sample` when a step does not set it.
pub const DEFAULT_MIN_SAMPLE: u64 = 100;

impl Step {
    /// The name its templates are compiled under for `variant` (see
    /// [`Templates`]): `step@variant`, or the step's own id without one.
    pub fn template_key(&self, variant: Option<&str>) -> String {
        match variant {
            Some(v) if self.variants.iter().any(|x| x.id == v) => format!("{}@{v}", self.id),
            _ => self.id.clone(),
        }
    }

    /// The variant a lead with address `email` gets at this step of
    /// `cadence`: `winner` when one was picked (`pick_winner`), else the
    /// stable draw; `None` for a step without variants.
    pub fn variant_for(&self, email: &str, cadence: &str, winner: Option<&str>) -> Option<&str> {
        if let Some(w) = winner.and_then(|w| self.variants.iter().find(|v| v.id == w)) {
            return Some(&w.id);
        }
        let weights: Vec<f64> = self.variants.iter().map(|v| v.weight).collect();
        let u = crate::core::variants::draw(crate::core::variants::Purpose::Variant, email, cadence, &self.id);
        crate::core::variants::pick(&weights, u).map(|i| self.variants[i].id.as_str())
    }

    /// Whether a lead with address `email` is held out of this step of `cadence`.
    pub fn held_out(&self, email: &str, cadence: &str) -> bool {
        crate::core::variants::held_out(self.holdout, email, cadence, &self.id)
    }
}

/// Inbound events that end a lead's enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopOn {
    Reply,
    Bounce,
    Unsubscribe,
    /// A reply from anyone at the lead's company (its address's domain, not
    /// a free-mail one) stops every lead of that domain in the cadence.
    DomainReply,
}

/// A checked cadence: every step valid, every template compiled.
#[derive(Debug)]
pub struct Cadence {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub mailbox: String,
    pub window: Option<Window>,
    /// Name of the calendar of its leads that have none of their own.
    pub calendar: Option<String>,
    /// A step that would go out later than this past its planned time is skipped.
    pub late_after: Option<Wait>,
    /// Owner of its leads that name none (before the mailbox's).
    pub owner: Option<String>,
    /// After an uncertain send; the config's when unset.
    pub on_uncertain: Option<crate::config::OnUncertain>,
    pub stop_on: BTreeSet<StopOn>,
    pub steps: Vec<Step>,
    pub templates: Templates,
}

impl Cadence {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The names of every step's templates, its variants' included: what
    /// a lead must render to be enrolled.
    pub fn template_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for step in &self.steps {
            if step.variants.is_empty() {
                keys.push(step.id.clone());
            }
            keys.extend(step.variants.iter().map(|v| step.template_key(Some(&v.id))));
        }
        keys
    }

    /// The window that applies to `step`: emails wait for the send window,
    /// manual steps fall due at their plain time.
    pub fn window_for(&self, step: &Step) -> Option<&Window> {
        if step.kind == StepKind::Email { self.window.as_ref() } else { None }
    }

    /// The manual steps (call, linkedin, task) that have no owner unless each
    /// lead brings one in its `owner` field: neither the cadence nor its
    /// mailbox names an `owner`, so their tasks list `owner -` and no
    /// reminder goes out. Empty when an owner is set or no step is manual.
    pub fn unowned_manual_steps(&self, config: &Config) -> Vec<&str> {
        let mailbox_owner = config.mailboxes.get(&self.mailbox).is_some_and(|m| m.owner.is_some());
        if self.owner.is_some() || mailbox_owner {
            return Vec::new();
        }
        self.steps.iter().filter(|s| s.kind != StepKind::Email).map(|s| s.id.as_str()).collect()
    }

    /// [`unowned_manual_steps`](Self::unowned_manual_steps) as a warning a
    /// user can act on, or `None` when every manual step has an owner.
    pub fn unowned_warning(&self, config: &Config) -> Option<String> {
        let steps = self.unowned_manual_steps(config);
        if steps.is_empty() {
            return None;
        }
        Some(format!(
            "{}: manual step(s) {} have no owner: their tasks get no reminder unless a lead has an owner field; \
             set owner = \"rep@example.com\" in this file or in [mailboxes.{}]",
            self.file.display(),
            steps.join(", "),
            self.mailbox
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCadence {
    description: Option<String>,
    mailbox: Option<Spanned<String>>,
    window: Option<Spanned<String>>,
    calendar: Option<Spanned<String>>,
    late_after: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    on_uncertain: Option<Spanned<String>>,
    stop_on: Option<Vec<Spanned<String>>>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    wait: Spanned<String>,
    kind: Spanned<String>,
    subject: Option<Spanned<String>>,
    body: Option<Spanned<String>>,
    template: Option<Spanned<String>>,
    blocking: Option<Spanned<bool>>,
    auto_skip_after: Option<Spanned<String>>,
    holdout: Option<Spanned<f64>>,
    min_sample: Option<Spanned<i64>>,
    pick_winner: Option<Spanned<bool>>,
    variants: Option<Vec<Spanned<RawVariant>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    id: Spanned<String>,
    subject: Option<Spanned<String>>,
    body: Option<Spanned<String>>,
    weight: Option<Spanned<f64>>,
}

/// Every cadence in the folder that loaded, and every file that did not.
#[derive(Debug, Default)]
pub struct Cadences {
    pub by_name: BTreeMap<String, Cadence>,
    pub broken: Vec<FileErrors>,
}

impl Cadences {
    /// Loads `config.cadences_dir/*.toml`, in name order.
    pub fn load(config: &Config) -> Cadences {
        let dir = &config.cadences_dir;
        let mut out = Cadences::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                out.broken.push(FileErrors {
                    file: dir.clone(),
                    errors: vec![SourceError::at(dir, "", None, format!("cannot read cadence folder: {e}"))],
                });
                return out;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        files.sort();
        for file in files {
            match Cadence::load(&file, config) {
                Ok(c) => {
                    out.by_name.insert(c.name.clone(), c);
                }
                Err(e) => out.broken.push(e),
            }
        }
        out
    }

    pub fn get(&self, name: &str) -> Option<&Cadence> {
        self.by_name.get(name)
    }

    /// Loads the folder again for a running daemon: a file that no longer
    /// loads keeps its last good version (listed in `kept`, its errors in
    /// `broken`); a file that is gone is dropped, leaving its leads orphaned
    /// until it returns.
    pub fn reload(mut previous: Cadences, config: &Config) -> (Cadences, Vec<String>) {
        let mut fresh = Cadences::load(config);
        let mut kept = Vec::new();
        for broken in &fresh.broken {
            let Some(stem) = broken.file.file_stem().map(|s| s.to_string_lossy().into_owned()) else { continue };
            if let Some(old) = previous.by_name.remove(&stem) {
                fresh.by_name.insert(stem.clone(), old);
                kept.push(stem);
            }
        }
        (fresh, kept)
    }

    /// Names of the cadences that loaded.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

impl Cadence {
    pub fn load(file: &Path, config: &Config) -> Result<Cadence, FileErrors> {
        let source = std::fs::read_to_string(file).map_err(|e| FileErrors {
            file: file.to_path_buf(),
            errors: vec![SourceError::at(file, "", None, format!("cannot read cadence file: {e}"))],
        })?;
        Cadence::parse(file, &source, config)
    }

    /// Checks `source`, the text of cadence file `file`; lists every problem found.
    pub fn parse(file: &Path, source: &str, config: &Config) -> Result<Cadence, FileErrors> {
        let fail = |errors| FileErrors { file: file.to_path_buf(), errors };
        let raw: RawCadence = toml::from_str(source)
            .map_err(|e| fail(vec![SourceError::at(file, source, e.span(), toml_message(&e))]))?;
        let mut errors = Vec::new();
        let mut located = Vec::new();
        let mut err = |span: Option<Range<usize>>, msg: String| errors.push(SourceError::at(file, source, span, msg));

        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if !is_identifier(&name) {
            err(None, format!("cadence name {name:?} (the file name) may use only letters, digits, '-' and '_'"));
        }

        let mailbox = match &raw.mailbox {
            Some(m) if config.mailboxes.contains_key(m.get_ref()) => m.get_ref().clone(),
            Some(m) => {
                let known: Vec<_> = config.mailboxes.keys().cloned().collect();
                err(
                    Some(m.span()),
                    format!("mailbox: unknown mailbox {:?} (configured: {})", m.get_ref(), known.join(", ")),
                );
                String::new()
            }
            None if config.mailboxes.len() == 1 => config.mailboxes.keys().next().cloned().unwrap_or_default(),
            None => {
                let known: Vec<_> = config.mailboxes.keys().cloned().collect();
                err(
                    None,
                    format!(
                        "mailbox: required when more than one mailbox is configured: add a line mailbox = {:?} \
                         above the first [[steps]] (one of: {})",
                        known.first().map_or("NAME", String::as_str),
                        known.join(", ")
                    ),
                );
                String::new()
            }
        };

        let window = raw
            .window
            .as_ref()
            .and_then(|w| w.get_ref().parse::<Window>().map_err(|e| err(Some(w.span()), format!("window: {e}"))).ok());

        let calendar = raw.calendar.as_ref().map(|c| {
            if !config.calendars.contains_key(c.get_ref()) {
                let known: Vec<_> = config.calendars.keys().cloned().collect();
                err(
                    Some(c.span()),
                    format!("calendar: unknown calendar {:?} (configured: {})", c.get_ref(), known.join(", ")),
                );
            }
            c.get_ref().clone()
        });
        let owner = raw.owner.as_ref().and_then(|o| match o.get_ref().parse::<lettre::Address>() {
            Ok(_) => Some(o.get_ref().to_ascii_lowercase()),
            Err(e) => {
                err(Some(o.span()), format!("owner: invalid address {:?}: {e}", o.get_ref()));
                None
            }
        });
        let on_uncertain = raw.on_uncertain.as_ref().and_then(|v| {
            crate::config::OnUncertain::parse(v.get_ref())
                .map_err(|e| err(Some(v.span()), format!("on_uncertain: {e}")))
                .ok()
        });
        let late_after = raw.late_after.as_ref().and_then(|l| {
            l.get_ref().parse::<Wait>().map_err(|e| err(Some(l.span()), format!("late_after: {e}"))).ok()
        });

        let mut stop_on = BTreeSet::new();
        match &raw.stop_on {
            None => stop_on.extend([StopOn::Reply, StopOn::Bounce, StopOn::Unsubscribe]),
            Some(list) => {
                for item in list {
                    match item.get_ref().as_str() {
                        "reply" => stop_on.insert(StopOn::Reply),
                        "bounce" => stop_on.insert(StopOn::Bounce),
                        "unsubscribe" => stop_on.insert(StopOn::Unsubscribe),
                        "domain_reply" => stop_on.insert(StopOn::DomainReply),
                        other => {
                            err(
                                Some(item.span()),
                                format!(
                                    "stop_on: unknown event {other:?} (expected reply, bounce, unsubscribe or domain_reply)"
                                ),
                            );
                            false
                        }
                    };
                }
            }
        }

        if raw.steps.get_ref().is_empty() {
            err(Some(raw.steps.span()), "steps: a cadence needs at least one [[steps]] table".into());
        }
        let mut steps = Vec::new();
        let mut templates = Templates::new(&name);
        // Where each template's text starts (file, line, col), by template name.
        let mut places: BTreeMap<String, (PathBuf, (usize, usize))> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for raw_step in raw.steps.get_ref() {
            let s = raw_step.get_ref();
            let id = s.id.get_ref().clone();
            let at = |f: &str| format!("step {id:?}: {f}");
            if !is_identifier(&id) {
                err(Some(s.id.span()), at("id may use only letters, digits, '-' and '_' and must not be empty"));
            } else if !seen.insert(id.clone()) {
                err(Some(s.id.span()), at("id is used twice in this cadence"));
            }
            let wait =
                s.wait.get_ref().parse::<Wait>().map_err(|e| err(Some(s.wait.span()), at(&format!("wait: {e}")))).ok();
            let kind = StepKind::parse(s.kind.get_ref());
            if kind.is_none() {
                err(
                    Some(s.kind.span()),
                    at(&format!("kind: unknown kind {:?} (expected email, call, linkedin or task)", s.kind.get_ref())),
                );
            }
            let earlier_email = steps.iter().any(|st: &Step| st.kind == StepKind::Email);
            let raw_variants: &[Spanned<RawVariant>] = s.variants.as_deref().unwrap_or_default();
            let variant_subjects = raw_variants.iter().filter(|v| v.get_ref().subject.is_some()).count();
            // Every variant brings its own subject: the step opens a thread of its own.
            let subjects_in_variants = !raw_variants.is_empty() && variant_subjects == raw_variants.len();
            if s.subject.is_none() && variant_subjects > 0 && !subjects_in_variants {
                err(
                    Some(raw_step.span()),
                    at("variants: either every variant has a subject or none has (a step without a subject \
                        replies in the lead's thread)"),
                );
            }
            match (kind, &s.subject) {
                (Some(StepKind::Email), None) if !earlier_email && !subjects_in_variants => err(
                    Some(raw_step.span()),
                    at("subject: an email step needs a subject unless an earlier email step starts its thread \
                        (an email step without one is a reply to the lead's previous email)"),
                ),
                (Some(k), Some(subj)) if k != StepKind::Email => {
                    err(Some(subj.span()), at(&format!("subject: only email steps have a subject, this one is a {k}")));
                }
                _ => {}
            }
            if let Some(subject) = &s.subject {
                let base = body_position(source, subject.span());
                places.insert(Templates::name(&id, "subject"), (file.to_path_buf(), base));
                if let Err(e) = templates.add(&id, "subject", subject.get_ref()) {
                    located.push(e.locate(file, base));
                }
            }
            let body = match (&s.body, &s.template) {
                (Some(_), Some(t)) => {
                    err(Some(t.span()), at("template: set either body or template, not both"));
                    None
                }
                (None, None) if !raw_variants.is_empty() && raw_variants.iter().all(|v| v.get_ref().body.is_some()) => {
                    None
                }
                (None, None) => {
                    err(Some(raw_step.span()), at("body: a step needs a body or a template file"));
                    None
                }
                (Some(b), None) => Some((file.to_path_buf(), b.get_ref().clone(), body_position(source, b.span()))),
                (None, Some(t)) => {
                    let dir = file.parent().unwrap_or(Path::new("."));
                    let path = dir.join(t.get_ref());
                    match std::fs::read_to_string(&path) {
                        Ok(text) => Some((path, text, (1, 1))),
                        Err(e) => {
                            err(Some(t.span()), at(&format!("template: cannot read {}: {e}", path.display())));
                            None
                        }
                    }
                }
            };
            if let Some((body_file, text, base)) = &body {
                if let Err(e) = templates.add(&id, "body", text) {
                    located.push(e.locate(body_file, *base));
                }
                places.insert(Templates::name(&id, "body"), (body_file.clone(), *base));
            }
            let auto_skip_after = s.auto_skip_after.as_ref().and_then(|a| {
                a.get_ref().parse::<Wait>().map_err(|e| err(Some(a.span()), at(&format!("auto_skip_after: {e}")))).ok()
            });
            if kind == Some(StepKind::Email) {
                if let Some(b) = &s.blocking {
                    err(Some(b.span()), at("blocking: only manual steps (call, linkedin, task) hold the cadence"));
                }
                if let Some(a) = &s.auto_skip_after {
                    err(Some(a.span()), at("auto_skip_after: only manual steps (call, linkedin, task) can expire"));
                }
            }
            let blocking = s.blocking.as_ref().is_none_or(|b| *b.get_ref());
            let mut variants = Vec::new();
            let mut variant_ids = BTreeSet::new();
            for raw_variant in raw_variants {
                let v = raw_variant.get_ref();
                let vid = v.id.get_ref().clone();
                let vat = |f: &str| at(&format!("variant {vid:?}: {f}"));
                if !is_identifier(&vid) {
                    err(Some(v.id.span()), vat("id may use only letters, digits, '-' and '_' and must not be empty"));
                } else if !variant_ids.insert(vid.clone()) {
                    err(Some(v.id.span()), vat("id is used twice in this step"));
                }
                let weight = v.weight.as_ref().map_or(1.0, |w| *w.get_ref());
                if let Some(w) = &v.weight
                    && !(weight.is_finite() && weight > 0.0)
                {
                    err(Some(w.span()), vat(&format!("weight: must be a positive number, not {weight}")));
                }
                if let (Some(subj), Some(k)) = (&v.subject, kind)
                    && k != StepKind::Email
                {
                    err(
                        Some(subj.span()),
                        vat(&format!("subject: only email steps have a subject, this one is a {k}")),
                    );
                }
                let key = format!("{id}@{vid}");
                // A part the variant lacks is the step's own.
                let subject = v
                    .subject
                    .as_ref()
                    .map(|t| (file.to_path_buf(), t.get_ref().clone(), body_position(source, t.span())));
                let subject = subject.or_else(|| {
                    s.subject
                        .as_ref()
                        .map(|t| (file.to_path_buf(), t.get_ref().clone(), body_position(source, t.span())))
                });
                let body = match &v.body {
                    Some(b) => Some((file.to_path_buf(), b.get_ref().clone(), body_position(source, b.span()))),
                    None => body.clone(),
                };
                for (part, text) in [("subject", subject), ("body", body)] {
                    let Some((text_file, text, base)) = text else { continue };
                    if let Err(e) = templates.add(&key, part, &text) {
                        located.push(e.locate(&text_file, base));
                    }
                    places.insert(Templates::name(&key, part), (text_file, base));
                }
                variants.push(Variant { id: vid, weight });
            }
            let holdout = s.holdout.as_ref().and_then(|h| {
                let share = *h.get_ref();
                if (0.0..1.0).contains(&share) {
                    Some(share).filter(|s| *s > 0.0)
                } else {
                    err(
                        Some(h.span()),
                        at(&format!("holdout: a share of leads from 0 up to but not including 1, not {share}")),
                    );
                    None
                }
            });
            let min_sample = match &s.min_sample {
                None => DEFAULT_MIN_SAMPLE,
                Some(m) if *m.get_ref() >= 1 => m.get_ref().unsigned_abs(),
                Some(m) => {
                    err(
                        Some(m.span()),
                        at(&format!("min_sample: must be a positive number of leads, not {}", m.get_ref())),
                    );
                    DEFAULT_MIN_SAMPLE
                }
            };
            let pick_winner = s.pick_winner.as_ref().is_some_and(|p| *p.get_ref());
            if let Some(p) = s.pick_winner.as_ref().filter(|p| *p.get_ref())
                && variants.len() < 2
            {
                err(Some(p.span()), at("pick_winner: needs at least two [[steps.variants]] to pick from"));
            }
            if let (Some(wait), Some(kind)) = (wait, kind) {
                let threaded = kind == StepKind::Email && s.subject.is_none() && !subjects_in_variants;
                steps.push(Step {
                    id,
                    wait,
                    kind,
                    blocking,
                    auto_skip_after,
                    threaded,
                    variants,
                    holdout,
                    min_sample,
                    pick_winner,
                });
            }
        }
        for (template, problem) in templates.check_renders() {
            let (at, base) = places.get(&template).map_or((file, (1, 1)), |(f, base)| (f.as_path(), *base));
            located.push(problem.locate(at, base));
        }
        errors.extend(located);
        errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));

        if !errors.is_empty() {
            return Err(fail(errors));
        }
        Ok(Cadence {
            name,
            file: file.to_path_buf(),
            description: raw.description.unwrap_or_default(),
            mailbox,
            window,
            calendar,
            late_after,
            owner,
            on_uncertain,
            stop_on,
            steps,
            templates,
        })
    }
}

/// Letters, digits, '-' and '_', not empty.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Line and column where the text of the TOML string at `span` starts: a
/// multi-line string's content starts on the line after its opening quotes.
fn body_position(source: &str, span: Range<usize>) -> (usize, usize) {
    let (line, col) = crate::location::line_col(source, span.start);
    let raw = source.get(span).unwrap_or("");
    for q in ["\"\"\"", "'''"] {
        if let Some(rest) = raw.strip_prefix(q) {
            return if rest.starts_with('\n') || rest.starts_with("\r\n") { (line + 1, 1) } else { (line, col + 3) };
        }
    }
    (line, col + 1)
}

#[cfg(test)]
mod tests;
