//! Reading one cadence file: its raw TOML tables, then each checked in turn
//! (the keys above the steps by [`Check::header`], each `[[steps]]` table by
//! [`Check::step`], its `[[steps.variants]]` by [`Check::variants`]), every
//! problem collected with its `file:line:col` rather than stopping at the
//! first, and every template compiled and test-rendered.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{Cadence, DEFAULT_MIN_SAMPLE, Setting, Step, StepKind, StopOn, Templates, Variant, is_identifier};
use crate::location::{FileErrors, SourceError, toml_message};
use crate::model::OnUncertain;
use crate::schedule::{Wait, Window};

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

/// What a cadence says above its steps.
struct Header {
    mailbox: String,
    window: Option<Window>,
    calendar: Option<String>,
    late_after: Option<Wait>,
    owner: Option<String>,
    on_uncertain: Option<OnUncertain>,
    stop_on: BTreeSet<StopOn>,
}

/// A template's text: the file it is in, the text, and where it starts there.
type Text = (PathBuf, String, (usize, usize));

/// The checks of one file under way: the problems found so far, and the
/// templates compiled with where each one's text starts.
struct Check<'a> {
    file: &'a Path,
    source: &'a str,
    errors: Vec<SourceError>,
    /// Template problems, already placed in the file their text is in.
    located: Vec<SourceError>,
    templates: Templates,
    places: BTreeMap<String, (PathBuf, (usize, usize))>,
}

impl Cadence {
    /// Checks `source`, the text of cadence file `file`; lists every problem found.
    pub fn parse(file: &Path, source: &str, config: &(impl Setting + ?Sized)) -> Result<Cadence, FileErrors> {
        let fail = |errors| FileErrors { file: file.to_path_buf(), errors };
        let raw: RawCadence = toml::from_str(source)
            .map_err(|e| fail(vec![SourceError::at(file, source, e.span(), toml_message(&e))]))?;
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut check = Check {
            file,
            source,
            errors: Vec::new(),
            located: Vec::new(),
            templates: Templates::new(&name),
            places: BTreeMap::new(),
        };
        if !is_identifier(&name) {
            check.err(None, format!("cadence name {name:?} (the file name) may use only letters, digits, '-' and '_'"));
        }
        let header = check.header(&raw, config);
        if raw.steps.get_ref().is_empty() {
            check.err(Some(raw.steps.span()), "steps: a cadence needs at least one [[steps]] table".into());
        }
        let mut steps = Vec::new();
        let mut seen = BTreeSet::new();
        for raw_step in raw.steps.get_ref() {
            if let Some(step) = check.step(raw_step, &steps, &mut seen) {
                steps.push(step);
            }
        }
        let (errors, templates) = check.finish();
        if !errors.is_empty() {
            return Err(fail(errors));
        }
        Ok(Cadence {
            name,
            file: file.to_path_buf(),
            description: raw.description.unwrap_or_default(),
            mailbox: header.mailbox,
            window: header.window,
            calendar: header.calendar,
            late_after: header.late_after,
            owner: header.owner,
            on_uncertain: header.on_uncertain,
            stop_on: header.stop_on,
            steps,
            templates,
        })
    }
}

impl Check<'_> {
    fn err(&mut self, span: Option<Range<usize>>, msg: String) {
        self.errors.push(SourceError::at(self.file, self.source, span, msg));
    }

    /// The keys above the first `[[steps]]`.
    fn header(&mut self, raw: &RawCadence, config: &(impl Setting + ?Sized)) -> Header {
        let known = config.mailbox_names();
        let mailbox = match &raw.mailbox {
            Some(m) if known.contains(&m.get_ref().as_str()) => m.get_ref().clone(),
            Some(m) => {
                self.err(
                    Some(m.span()),
                    format!("mailbox: unknown mailbox {:?} (configured: {})", m.get_ref(), known.join(", ")),
                );
                String::new()
            }
            None if known.len() == 1 => known.first().map(|m| m.to_string()).unwrap_or_default(),
            None => {
                self.err(
                    None,
                    format!(
                        "mailbox: required when more than one mailbox is configured: add a line mailbox = {:?} \
                         above the first [[steps]] (one of: {})",
                        known.first().copied().unwrap_or("NAME"),
                        known.join(", ")
                    ),
                );
                String::new()
            }
        };

        let window = raw.window.as_ref().and_then(|w| {
            w.get_ref().parse::<Window>().map_err(|e| self.err(Some(w.span()), format!("window: {e}"))).ok()
        });

        let calendar = raw.calendar.as_ref().map(|c| {
            let known = config.calendar_names();
            if !known.contains(&c.get_ref().as_str()) {
                self.err(
                    Some(c.span()),
                    format!("calendar: unknown calendar {:?} (configured: {})", c.get_ref(), known.join(", ")),
                );
            }
            c.get_ref().clone()
        });
        let owner = raw.owner.as_ref().and_then(|o| match o.get_ref().parse::<lettre::Address>() {
            Ok(_) => Some(o.get_ref().to_ascii_lowercase()),
            Err(e) => {
                self.err(Some(o.span()), format!("owner: invalid address {:?}: {e}", o.get_ref()));
                None
            }
        });
        let on_uncertain = raw.on_uncertain.as_ref().and_then(|v| {
            crate::model::OnUncertain::parse(v.get_ref())
                .map_err(|e| self.err(Some(v.span()), format!("on_uncertain: {e}")))
                .ok()
        });
        let late_after = raw.late_after.as_ref().and_then(|l| {
            l.get_ref().parse::<Wait>().map_err(|e| self.err(Some(l.span()), format!("late_after: {e}"))).ok()
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
                            self.err(
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

        Header { mailbox, window, calendar, late_after, owner, on_uncertain, stop_on }
    }

    /// One `[[steps]]` table, after the `earlier` ones; `None` when it is too
    /// broken to keep (its problems are recorded).
    fn step(&mut self, raw_step: &Spanned<RawStep>, earlier: &[Step], seen: &mut BTreeSet<String>) -> Option<Step> {
        let s = raw_step.get_ref();
        let id = s.id.get_ref().clone();
        let at = |f: &str| format!("step {id:?}: {f}");
        if !is_identifier(&id) {
            self.err(Some(s.id.span()), at("id may use only letters, digits, '-' and '_' and must not be empty"));
        } else if !seen.insert(id.clone()) {
            self.err(Some(s.id.span()), at("id is used twice in this cadence"));
        }
        let wait =
            s.wait.get_ref().parse::<Wait>().map_err(|e| self.err(Some(s.wait.span()), at(&format!("wait: {e}")))).ok();
        let kind = StepKind::parse(s.kind.get_ref());
        if kind.is_none() {
            self.err(
                Some(s.kind.span()),
                at(&format!("kind: unknown kind {:?} (expected email, call, linkedin or task)", s.kind.get_ref())),
            );
        }
        let earlier_email = earlier.iter().any(|st: &Step| st.kind == StepKind::Email);
        let raw_variants: &[Spanned<RawVariant>] = s.variants.as_deref().unwrap_or_default();
        let variant_subjects = raw_variants.iter().filter(|v| v.get_ref().subject.is_some()).count();
        // Every variant brings its own subject: the step opens a thread of its own.
        let subjects_in_variants = !raw_variants.is_empty() && variant_subjects == raw_variants.len();
        if s.subject.is_none() && variant_subjects > 0 && !subjects_in_variants {
            self.err(
                Some(raw_step.span()),
                at("variants: either every variant has a subject or none has (a step without a subject \
                    replies in the lead's thread)"),
            );
        }
        match (kind, &s.subject) {
            (Some(StepKind::Email), None) if !earlier_email && !subjects_in_variants => self.err(
                Some(raw_step.span()),
                at("subject: an email step needs a subject unless an earlier email step starts its thread \
                    (an email step without one is a reply to the lead's previous email)"),
            ),
            (Some(k), Some(subj)) if k != StepKind::Email => {
                self.err(
                    Some(subj.span()),
                    at(&format!("subject: only email steps have a subject, this one is a {k}")),
                );
            }
            _ => {}
        }
        if let Some(subject) = &s.subject {
            let base = body_position(self.source, subject.span());
            self.places.insert(Templates::name(&id, "subject"), (self.file.to_path_buf(), base));
            if let Err(e) = self.templates.add(&id, "subject", subject.get_ref()) {
                self.located.push(e.locate(self.file, base));
            }
        }
        let body = match (&s.body, &s.template) {
            (Some(_), Some(t)) => {
                self.err(Some(t.span()), at("template: set either body or template, not both"));
                None
            }
            (None, None) if !raw_variants.is_empty() && raw_variants.iter().all(|v| v.get_ref().body.is_some()) => None,
            (None, None) => {
                self.err(Some(raw_step.span()), at("body: a step needs a body or a template file"));
                None
            }
            (Some(b), None) => {
                Some((self.file.to_path_buf(), b.get_ref().clone(), body_position(self.source, b.span())))
            }
            (None, Some(t)) => {
                let dir = self.file.parent().unwrap_or(Path::new("."));
                let path = dir.join(t.get_ref());
                match std::fs::read_to_string(&path) {
                    Ok(text) => Some((path, text, (1, 1))),
                    Err(e) => {
                        self.err(Some(t.span()), at(&format!("template: cannot read {}: {e}", path.display())));
                        None
                    }
                }
            }
        };
        if let Some((body_file, text, base)) = &body {
            if let Err(e) = self.templates.add(&id, "body", text) {
                self.located.push(e.locate(body_file, *base));
            }
            self.places.insert(Templates::name(&id, "body"), (body_file.clone(), *base));
        }
        let auto_skip_after = s.auto_skip_after.as_ref().and_then(|a| {
            a.get_ref().parse::<Wait>().map_err(|e| self.err(Some(a.span()), at(&format!("auto_skip_after: {e}")))).ok()
        });
        if kind == Some(StepKind::Email) {
            if let Some(b) = &s.blocking {
                self.err(Some(b.span()), at("blocking: only manual steps (call, linkedin, task) hold the cadence"));
            }
            if let Some(a) = &s.auto_skip_after {
                self.err(Some(a.span()), at("auto_skip_after: only manual steps (call, linkedin, task) can expire"));
            }
        }
        let blocking = s.blocking.as_ref().is_none_or(|b| *b.get_ref());
        let variants = self.variants(&id, s, kind, &body);
        let holdout = s.holdout.as_ref().and_then(|h| {
            let share = *h.get_ref();
            if (0.0..1.0).contains(&share) {
                Some(share).filter(|s| *s > 0.0)
            } else {
                self.err(
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
                self.err(
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
            self.err(Some(p.span()), at("pick_winner: needs at least two [[steps.variants]] to pick from"));
        }
        let (Some(wait), Some(kind)) = (wait, kind) else { return None };
        let threaded = kind == StepKind::Email && s.subject.is_none() && !subjects_in_variants;
        Some(Step { id, wait, kind, blocking, auto_skip_after, threaded, variants, holdout, min_sample, pick_winner })
    }

    /// A step's `[[steps.variants]]`: each compiles its own subject and body,
    /// taking the step's for a part it lacks.
    fn variants(&mut self, id: &str, s: &RawStep, kind: Option<StepKind>, body: &Option<Text>) -> Vec<Variant> {
        let at = |f: &str| format!("step {id:?}: {f}");
        let raw_variants: &[Spanned<RawVariant>] = s.variants.as_deref().unwrap_or_default();
        let mut variants = Vec::new();
        let mut variant_ids = BTreeSet::new();
        for raw_variant in raw_variants {
            let v = raw_variant.get_ref();
            let vid = v.id.get_ref().clone();
            let vat = |f: &str| at(&format!("variant {vid:?}: {f}"));
            if !is_identifier(&vid) {
                self.err(Some(v.id.span()), vat("id may use only letters, digits, '-' and '_' and must not be empty"));
            } else if !variant_ids.insert(vid.clone()) {
                self.err(Some(v.id.span()), vat("id is used twice in this step"));
            }
            let weight = v.weight.as_ref().map_or(1.0, |w| *w.get_ref());
            if let Some(w) = &v.weight
                && !(weight.is_finite() && weight > 0.0)
            {
                self.err(Some(w.span()), vat(&format!("weight: must be a positive number, not {weight}")));
            }
            if let (Some(subj), Some(k)) = (&v.subject, kind)
                && k != StepKind::Email
            {
                self.err(
                    Some(subj.span()),
                    vat(&format!("subject: only email steps have a subject, this one is a {k}")),
                );
            }
            let key = format!("{id}@{vid}");
            // A part the variant lacks is the step's own.
            let subject = v
                .subject
                .as_ref()
                .map(|t| (self.file.to_path_buf(), t.get_ref().clone(), body_position(self.source, t.span())));
            let subject = subject.or_else(|| {
                s.subject
                    .as_ref()
                    .map(|t| (self.file.to_path_buf(), t.get_ref().clone(), body_position(self.source, t.span())))
            });
            let body = match &v.body {
                Some(b) => Some((self.file.to_path_buf(), b.get_ref().clone(), body_position(self.source, b.span()))),
                None => body.clone(),
            };
            for (part, text) in [("subject", subject), ("body", body)] {
                let Some((text_file, text, base)) = text else { continue };
                if let Err(e) = self.templates.add(&key, part, &text) {
                    self.located.push(e.locate(&text_file, base));
                }
                self.places.insert(Templates::name(&key, part), (text_file, base));
            }
            variants.push(Variant { id: vid, weight });
        }
        variants
    }

    /// Every problem, in file order, once each template has been test-rendered.
    fn finish(mut self) -> (Vec<SourceError>, Templates) {
        for (template, problem) in self.templates.check_renders() {
            let (at, base) = self.places.get(&template).map_or((self.file, (1, 1)), |(f, base)| (f.as_path(), *base));
            self.located.push(problem.locate(at, base));
        }
        let mut errors = self.errors;
        errors.extend(self.located);
        errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        (errors, self.templates)
    }
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
