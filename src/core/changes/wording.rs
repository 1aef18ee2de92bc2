//! The plan in words and JSON: a [`CadencePlan`]'s lines (`cadenced check
//! --plan`, the daemon's reload log), the whole [`Plan`] over every cadence
//! file, and the numbers, spans and step kinds they are written with.

use std::fmt::Write as _;

use chrono::Duration;
use serde_json::{Value, json};

use super::analysis::CadencePlan;
use super::moves::{Counts, Move};
use super::snapshot::Edit;
use crate::time::rfc3339;

/// `1,020`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3d 2h`, `45m`: a span of time for people.
pub fn span(d: Duration) -> String {
    let mut secs = d.num_seconds().unsigned_abs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    if out.is_empty() { "0m".to_string() } else { out }
}

/// `1 lead`, `1,020 leads`.
fn leads(n: u64) -> String {
    if n == 1 { "1 lead".to_string() } else { format!("{} leads", grouped(n)) }
}

fn business_phrase(n: i64) -> String {
    let k = n.unsigned_abs();
    let count = if k == 1 { "one business day".to_string() } else { format!("{k} business days") };
    format!("{count} {}", if n > 0 { "later" } else { "earlier" })
}

/// How re-planned leads' next steps shift: `1,020 leads' next email one business day later`.
pub(super) fn shift_phrase(counts: &Counts, what: &str, prefer_business_days: bool) -> String {
    let moved = counts.later + counts.earlier;
    let mut out = if moved == 0 {
        format!("{} waiting for it keep their time", leads(counts.unchanged))
    } else {
        let (min, max) = (counts.min_shift.unwrap_or_default(), counts.max_shift.unwrap_or_default());
        let business = counts.business_days.flatten().filter(|n| *n != 0);
        let how = if counts.earlier == 0 || counts.later == 0 {
            let word = if counts.earlier == 0 { "later" } else { "earlier" };
            match business {
                Some(n) if prefer_business_days || min != max => business_phrase(n),
                _ if min == max => format!("{} {word}", span(min)),
                _ => {
                    let (lo, hi) = if min.abs() <= max.abs() { (min, max) } else { (max, min) };
                    format!("{} to {} {word}", span(lo), span(hi))
                }
            }
        } else {
            format!("moves ({} later, {} earlier)", grouped(counts.later), grouped(counts.earlier))
        };
        let mut s = format!("{}' next {what} {how}", leads(moved));
        if moved == 1 {
            s = s.replacen("1 lead'", "1 lead's", 1);
        }
        if counts.unchanged > 0 {
            let _ = write!(s, ", {} unchanged", grouped(counts.unchanged));
        }
        s
    };
    if counts.due_now > 0 {
        let _ = write!(out, " ({} due at once)", grouped(counts.due_now));
    }
    if counts.held > 0 {
        let _ = write!(out, " ({} cannot be placed and will be held)", grouped(counts.held));
    }
    out
}

impl CadencePlan {
    /// One line per change, each starting with the cadence's name.
    pub fn lines(&self) -> Vec<String> {
        let name = &self.cadence;
        if self.recorded_at.is_none() && self.changes.is_empty() {
            return vec![format!(
                "{name}: no version recorded yet (the next tick or daemon start records it); {} in flight",
                leads(self.in_flight)
            )];
        }
        if self.changes.is_empty() {
            return vec![format!("{name}: no changes ({} in flight)", leads(self.in_flight))];
        }
        let mut out = Vec::new();
        for change in &self.changes {
            let c = &change.counts;
            let what = change.edit.step().and_then(|s| self.kinds.get(s).copied()).unwrap_or("step");
            let line = match &change.edit {
                Edit::Removed { step } if c.leads == 0 => format!("{step} removed (no lead waits for it)"),
                Edit::Removed { step } => {
                    let one = |target: &str, count: Option<u64>| {
                        let n = count.unwrap_or(c.leads);
                        let count = count.map(|n| format!("{} ", grouped(n))).unwrap_or_default();
                        match target {
                            "finished" => format!("{count}{}", if n == 1 { "finishes" } else { "finish" }),
                            "held" => format!("{count}will be held"),
                            t => format!("{count}{} on at {t}", if n == 1 { "goes" } else { "go" }),
                        }
                    };
                    let whither = if c.go_on_at.len() == 1 {
                        c.go_on_at.keys().map(|t| one(t, None)).collect::<String>()
                    } else {
                        c.go_on_at.iter().map(|(t, n)| one(t, Some(*n))).collect::<Vec<_>>().join(", ")
                    };
                    let sep = if c.go_on_at.len() == 1 { " " } else { ": " };
                    if change.earlier {
                        let sep = if c.go_on_at.len() == 1 { " and " } else { ": " };
                        let wait = if c.leads == 1 { "waits" } else { "wait" };
                        format!("{step} (removed earlier): {} still {wait} for it{sep}{whither}", leads(c.leads))
                    } else {
                        format!("{step} removed → {}{sep}{whither}", leads(c.leads))
                    }
                }
                Edit::Wait { .. } | Edit::Kind { .. } => {
                    let bd = matches!(&change.edit, Edit::Wait { from, to, .. } if from.ends_with("bd") && to.ends_with("bd"));
                    let mut line = format!("{}: ", change.edit.describe());
                    if c.leads == 0 {
                        line.push_str("no lead waits for it now");
                    } else {
                        line.push_str(&shift_phrase(c, what, bd));
                    }
                    if c.ahead > 0 {
                        let verb = if c.ahead == 1 { "reaches" } else { "reach" };
                        let _ = write!(line, "; {} {verb} it later", leads(c.ahead));
                    }
                    line
                }
                Edit::Setting { key: "window" | "calendar", .. } | Edit::Replanned { .. } if c.leads > 0 => {
                    format!("{}: {}", change.edit.describe(), shift_phrase(c, what, false))
                }
                Edit::Added { .. } => format!(
                    "{}: {} in flight will get it, {} past it",
                    change.edit.describe(),
                    leads(c.ahead),
                    grouped(c.past)
                ),
                Edit::Text { .. } => {
                    format!("{}: {} have it ahead", change.edit.describe(), leads(c.ahead))
                }
                _ => change.edit.describe(),
            };
            out.push(format!("{name}: {line}"));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let zone = |m: &Move| self.zones.get(&m.enrollment_id).cloned();
        json!({
            "cadence": self.cadence,
            "file": self.file,
            "recorded_at": self.recorded_at.map(rfc3339),
            "in_flight": self.in_flight,
            "changes": self.changes.iter().map(|c| {
                let mut v = c.edit.to_json();
                if let (Value::Object(map), Value::Object(counts)) = (&mut v, c.counts.to_json()) {
                    map.extend(counts);
                    map.insert("removed_earlier".into(), Value::Bool(c.earlier));
                }
                v
            }).collect::<Vec<_>>(),
            "leads": self.moves.iter().map(|m| m.to_json(zone)).collect::<Vec<_>>(),
        })
    }
}

/// What loading the cadence files on disk does, cadence by cadence.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub cadences: Vec<CadencePlan>,
    /// Cadences whose file is gone, with their active or paused leads (orphaned until it returns).
    pub gone: Vec<(String, i64)>,
}

impl Plan {
    /// Whether any cadence differs from the version its leads were planned
    /// against, or any lead's plan changes.
    pub fn has_changes(&self) -> bool {
        self.cadences.iter().any(|c| !c.changes.is_empty()) || !self.gone.is_empty()
    }

    /// Every line, one cadence after the other (`nurture: no changes` included).
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.cadences.iter().flat_map(CadencePlan::lines).collect();
        for (cadence, n) in &self.gone {
            out.push(format!(
                "{cadence}: the file is gone → {} wait, orphaned, until it returns",
                leads(u64::try_from(*n).unwrap_or(0))
            ));
        }
        out
    }

    /// The lines of the cadences that changed: what the daemon logs when it reloads.
    pub fn changed_lines(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.cadences.iter().filter(|c| !c.changes.is_empty()).flat_map(CadencePlan::lines).collect();
        for (cadence, n) in &self.gone {
            out.push(format!(
                "{cadence}: the file is gone → {} wait, orphaned, until it returns",
                leads(u64::try_from(*n).unwrap_or(0))
            ));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "cadences": self.cadences.iter().map(CadencePlan::to_json).collect::<Vec<_>>(),
            "gone": self.gone.iter().map(|(c, n)| json!({"cadence": c, "leads": n})).collect::<Vec<_>>(),
            "summary": self.lines(),
        })
    }
}
