//! A lead about to be enrolled, built up fluently and enrolled with the real
//! binary: `p.lead("jane@acme.test").field("first_name", "Jane").tz("America/New_York")
//! .at("2026-03-02T09:00:00Z").enroll("seven-touch")` runs
//! `cadenced enroll jane@acme.test --cadence seven-touch --field first_name=Jane
//! --tz America/New_York --at 2026-03-02T09:00:00Z`.

use super::Project;

/// A lead's address, fields, zone and enrollment instant, not yet enrolled.
/// One builder can enroll the same lead in several cadences.
#[must_use = "a lead is enrolled only by `enroll` or `enroll_fails`"]
pub struct Lead<'p> {
    project: &'p Project,
    email: String,
    fields: Vec<(String, String)>,
    tz: Option<String>,
    at: Option<String>,
}

impl Project {
    /// A lead with address `email` (no fields, the default zone, enrolled now).
    pub fn lead(&self, email: &str) -> Lead<'_> {
        Lead { project: self, email: email.to_string(), fields: Vec::new(), tz: None, at: None }
    }
}

#[allow(dead_code)]
impl Lead<'_> {
    /// `--field NAME=VALUE` (the value as is: line breaks and all).
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.to_string(), value.to_string()));
        self
    }

    /// `--tz ZONE`: the lead's own time zone.
    pub fn tz(mut self, zone: &str) -> Self {
        self.tz = Some(zone.to_string());
        self
    }

    /// `--at INSTANT`: when the enrollment happens (virtual time).
    pub fn at(mut self, instant: &str) -> Self {
        self.at = Some(instant.to_string());
        self
    }

    /// The command line: `enroll EMAIL --cadence CADENCE [--field K=V]... [--tz ZONE] [--at INSTANT]`.
    pub fn args(&self, cadence: &str) -> Vec<String> {
        let mut args = vec!["enroll".to_string(), self.email.clone(), "--cadence".into(), cadence.into()];
        for (name, value) in &self.fields {
            args.extend(["--field".to_string(), format!("{name}={value}")]);
        }
        if let Some(zone) = &self.tz {
            args.extend(["--tz".to_string(), zone.clone()]);
        }
        if let Some(at) = &self.at {
            args.extend(["--at".to_string(), at.clone()]);
        }
        args
    }

    /// Enrolls the lead in `cadence` and expects success; returns stdout.
    pub fn enroll(&self, cadence: &str) -> String {
        let args = self.args(cadence);
        self.project.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Tries to enroll the lead in `cadence` and expects failure; returns stderr.
    pub fn enroll_fails(&self, cadence: &str) -> String {
        let args = self.args(cadence);
        self.project.fails(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}
