//! `cadenced check [--strict] [--plan] [--at TIME] [--json]`: validate the
//! config, every cadence, window and template; that the database's folder can
//! be written; which variables the leads in flight lack, per cadence and
//! step; and, with `--plan`, what loading the cadence files would do to them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{Value, json};

use crate::cadence::{Cadence, Cadences, StepKind};
use crate::config::Config;
use crate::core::changes::{Plan, grouped};
use crate::core::plan;
use crate::store::{InFlightRow, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fail when leads in flight lack a variable a step ahead of them uses (by default a warning).
    #[arg(long)]
    strict: bool,
    /// Also say what a reload would do to the leads in flight: steps added, removed or changed, where
    /// their leads go, how their next send times shift.
    #[arg(long)]
    plan: bool,
    /// Plan as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// Leads in flight that lack a variable (or whose step does not render) at one step.
#[derive(Debug, Default)]
struct Lacking {
    leads: u64,
    example: String,
    /// Why it does not render when no variable is missing.
    detail: Option<String>,
}

/// (step index, step, part, variable or `""` when none is missing).
type LackKey = (usize, String, &'static str, String);

/// What a lead lacks at each step ahead, with why a step fails when it lacks no variable.
type Problems = Vec<(LackKey, Option<String>)>;

/// What `check` found, gathered before it is printed.
#[derive(Debug, Default)]
struct Report {
    ok: Vec<String>,
    errors: Vec<String>,
    warnings: Vec<String>,
    lacking: Vec<Value>,
    orphaned: Vec<(String, i64)>,
    database: Value,
    cadences: Vec<Value>,
    plan: Option<Plan>,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let mut report = Report::default();
    let result = gather(config_path, &args, &mut report);
    if let Err(e) = result {
        report.errors.push(format!("{e:#}"));
    }
    let failed = !report.errors.is_empty();
    if args.json {
        super::print_json(&json!({
            "ok": !failed,
            "config": config_path.display().to_string(),
            "database": report.database,
            "cadences": report.cadences,
            "errors": report.errors,
            "warnings": report.warnings,
            "lacking": report.lacking,
            "orphaned": report.orphaned.iter().map(|(c, n)| json!({"cadence": c, "leads": n})).collect::<Vec<_>>(),
            "plan": report.plan.as_ref().map(Plan::to_json),
        }))?;
    } else {
        for line in &report.ok {
            outln!("{line}");
        }
        for line in &report.warnings {
            outln!("warning: {line}");
        }
        if let Some(plan) = &report.plan {
            outln!("plan: what loading the cadence files (a reload, the next tick) does to the leads in flight:");
            for line in plan.lines() {
                outln!("  {line}");
            }
        }
        let prefix = crate::daemon::error_prefix();
        for line in &report.errors {
            eprintln!("{prefix}{line}");
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Everything `check` looks at, in order; a problem that stops it is returned.
fn gather(config_path: &Path, args: &Args, report: &mut Report) -> Result<()> {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(errors) => {
            report.errors.push(errors.to_string());
            return Ok(());
        }
    };
    let now = super::now_or(args.at.as_deref())?;
    let writable = writable(&config.database);
    report.database = json!({
        "path": config.database.display().to_string(),
        "exists": config.database.exists(),
        "writable": writable.is_ok(),
        "error": writable.as_ref().err().map(ToString::to_string),
    });
    report.ok.push(format!(
        "ok {}: {} mailbox(es), database {}",
        config_path.display(),
        config.mailboxes.len(),
        config.database.display()
    ));
    if let Err(e) = &writable {
        report.errors.push(format!("{}: {e}", config.database.display()));
    }
    // OAuth mailboxes: their token file, without touching the network.
    for mailbox in config.mailboxes.values() {
        let Some(oauth) = &mailbox.oauth2 else { continue };
        match crate::oauth::token_file::check(&oauth.token_file) {
            Ok(()) => {
                report.ok.push(format!("ok mailbox {}: signed in ({})", mailbox.name, oauth.token_file.display()))
            }
            Err(e) => report.errors.push(format!(
                "mailboxes.{name}: {e}{hint}",
                name = mailbox.name,
                hint = if matches!(e, crate::oauth::FileError::Missing { .. }) {
                    format!("; run `cadenced login {}`", mailbox.name)
                } else {
                    String::new()
                }
            )),
        }
    }
    let cadences = Cadences::load(&config);
    // The first file with problems, with all of its problems.
    if let Some(first) = cadences.broken.iter().min_by(|a, b| a.file.cmp(&b.file)) {
        for c in cadences.by_name.values().filter(|c| c.file < first.file) {
            report.ok.push(format!("ok {}", c.file.display()));
        }
        report.errors.push(first.to_string());
        return Ok(());
    }
    if cadences.by_name.is_empty() {
        report.errors.push(format!("{}: no cadence files (*.toml)", config.cadences_dir.display()));
        return Ok(());
    }
    for c in cadences.by_name.values() {
        let emails = c.steps.iter().filter(|s| s.kind == StepKind::Email).count();
        let vars: Vec<_> = c.templates.variables().into_iter().collect();
        report.ok.push(format!(
            "ok {}: {} steps ({} emails, {} manual), window {}, mailbox {}, uses {}",
            c.file.display(),
            c.steps.len(),
            emails,
            c.steps.len() - emails,
            c.window.as_ref().map_or_else(|| "none".to_string(), ToString::to_string),
            c.mailbox,
            if vars.is_empty() { "no fields".to_string() } else { vars.join(", ") }
        ));
        report.cadences.push(json!({
            "name": c.name, "file": c.file.display().to_string(), "steps": c.steps.len(), "emails": emails,
            "manual": c.steps.len() - emails, "window": c.window.as_ref().map(ToString::to_string),
            "mailbox": c.mailbox, "variables": vars,
        }));
    }
    // The database: only an existing one that can be written (opening it migrates it).
    if !config.database.exists() || writable.is_err() {
        if args.plan {
            report.plan = Some(Plan::default());
            report.ok.push(format!("no database at {} yet: no leads in flight", config.database.display()));
        }
        return Ok(());
    }
    let store = super::open_store(&config)?;
    report.orphaned = store.orphaned(&cadences.names())?;
    for (cadence, count) in &report.orphaned {
        report.warnings.push(format!(
            "{count} active or paused lead(s) in cadence {cadence:?}, whose file is gone: they are orphaned and \
             resume if {}/{cadence}.toml returns",
            config.cadences_dir.display()
        ));
    }
    lacking(&store, &cadences, args.strict, report)?;
    if args.plan {
        report.plan = Some(crate::tick::reload::plan(&store, &config, &cadences, now)?);
    }
    Ok(())
}

/// Per cadence and step, the variables leads in flight lack in the steps
/// still ahead of them, with how many lack each: warnings, or errors with `strict`.
fn lacking(store: &Store, cadences: &Cadences, strict: bool, report: &mut Report) -> Result<()> {
    let mut found: BTreeMap<String, BTreeMap<LackKey, Lacking>> = BTreeMap::new();
    // Field names the leads of each cadence have, to suggest one for a misspelt variable.
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Leads with the same field names at the same step lack the same variables
    // when the templates ahead depend on names only.
    let mut cache: HashMap<(String, usize, Vec<String>), Problems> = HashMap::new();
    store.for_each_in_flight(None, |row: InFlightRow| -> Result<()> {
        let Some(cadence) = cadences.get(&row.cadence) else { return Ok(()) };
        let lead = &row.lead;
        let Some(start) = first_ahead(store, cadence, &row)? else { return Ok(()) };
        let field_names: Vec<String> = lead.fields.keys().cloned().collect();
        names.entry(row.cadence.clone()).or_default().extend(field_names.iter().cloned());
        let cacheable =
            cadence.steps[start..].iter().all(|s| step_keys(s).iter().all(|k| cadence.templates.names_only(k)));
        let key = (row.cadence.clone(), start, field_names);
        let problems = match cache.get(&key) {
            Some(p) if cacheable => p.clone(),
            _ => {
                let mut problems = Vec::new();
                for (i, step) in cadence.steps.iter().enumerate().skip(start) {
                    let found = step_keys(step)
                        .iter()
                        .flat_map(|k| cadence.templates.lacking(k, &lead.email, &lead.fields))
                        .collect::<Vec<_>>();
                    for e in found {
                        if e.missing.is_empty() {
                            problems.push(((i, step.id.clone(), e.part, String::new()), Some(e.detail.clone())));
                        }
                        for var in e.missing {
                            problems.push(((i, step.id.clone(), e.part, var), None));
                        }
                    }
                }
                if cacheable {
                    cache.insert(key, problems.clone());
                }
                problems
            }
        };
        let per_cadence = found.entry(row.cadence.clone()).or_default();
        for (k, detail) in problems {
            let entry = per_cadence.entry(k).or_default();
            if entry.leads == 0 {
                entry.example.clone_from(&lead.email);
                entry.detail = detail;
            }
            entry.leads += 1;
        }
        Ok(())
    })?;
    for (cadence, per_step) in found {
        let known = names.get(&cadence).cloned().unwrap_or_default();
        for ((_, step, part, var), lack) in per_step {
            let n = grouped(lack.leads);
            let hint = if var.is_empty() { None } else { suggestion(&var, &known) };
            let what = if var.is_empty() {
                format!(
                    "cadence {cadence:?} step {step:?} {part} does not render for {n} lead(s) in flight ({}), e.g. {}",
                    lack.detail.as_deref().unwrap_or("an error"),
                    lack.example
                )
            } else {
                let did_you_mean =
                    hint.as_ref().map(|h| format!(" (did you mean {h}? the leads have it)")).unwrap_or_default();
                format!(
                    "cadence {cadence:?} step {step:?} {part} uses {var}{did_you_mean}, which {n} lead(s) in flight \
                     lack, e.g. {}: they are paused when the step falls due. Fix the template in {}, or give the \
                     leads the field (`cadenced enroll EMAIL --cadence {cadence} --field {var}=VALUE`)",
                    lack.example,
                    cadences.get(&cadence).map_or_else(String::new, |c| c.file.display().to_string()),
                )
            };
            report.lacking.push(json!({
                "cadence": cadence, "step": step, "part": part, "variable": (!var.is_empty()).then_some(&var),
                "leads": lack.leads, "example": lack.example, "did_you_mean": hint, "detail": lack.detail,
            }));
            if strict {
                report.errors.push(format!("error: {what}"));
            } else {
                report.warnings.push(what);
            }
        }
    }
    Ok(())
}

/// The index of the first step still ahead of an enrolled lead: the one it
/// waits for (the one after, when that is a task already opened), or for a
/// step that was removed, the one it goes on at; `None` when none is left.
fn first_ahead(store: &Store, cadence: &Cadence, row: &InFlightRow) -> Result<Option<usize>> {
    let lead = &row.lead;
    let start = match cadence.step_index(&lead.step) {
        Some(i) if lead.waiting_for_task => i + 1,
        Some(i) => i,
        None => {
            let touches = store.touches(row.lead_id, &row.cadence)?;
            match plan::after_removed(cadence, |id| touches.iter().any(|t| t.step == id)) {
                Some(i) => i,
                None => return Ok(None),
            }
        }
    };
    Ok((start < cadence.steps.len()).then_some(start))
}

/// A field name the leads have that `var` is probably a misspelling of:
/// the same but for case, or at most two letters apart.
fn suggestion(var: &str, known: &BTreeSet<String>) -> Option<String> {
    known
        .iter()
        .filter(|k| k.as_str() != var)
        .map(|k| (if k.eq_ignore_ascii_case(var) { 0 } else { distance(k, var) }, k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k.clone())
}

/// Edit distance (insertions, deletions, substitutions, swaps of neighbours).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

/// Whether the database's folder (or, when it does not exist yet, the folder
/// it would be created in) can be written by this user, and the database
/// file opened for writing: found out by doing it (a probe file made and
/// removed), which also holds for root and read-only mounts.
pub fn writable(database: &Path) -> std::result::Result<(), NotWritable> {
    let folder = database.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut existing = folder;
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        return Err(NotWritable::NotAFolder(existing.to_path_buf()));
    }
    let probe = existing.join(format!(".cadenced-check-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(file) => {
            drop(file);
            // Best effort: a probe left behind is harmless.
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => return Err(NotWritable::Folder(existing.to_path_buf(), e.to_string())),
    }
    if database.exists()
        && let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(database)
    {
        return Err(NotWritable::Database(database.to_path_buf(), e.to_string()));
    }
    Ok(())
}

/// Why the database's folder or file cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotWritable {
    #[error("{} is not a folder: set `database` in the config to a file in a writable folder", .0.display())]
    NotAFolder(std::path::PathBuf),
    #[error(
        "cannot write in {}: {}. The database and its -wal, -shm, -sends and .lock files live there: \
         give the user that runs cadenced write access to it, or set `database` to a writable place",
        .0.display(), .1
    )]
    Folder(std::path::PathBuf, String),
    #[error("cannot open {} for writing: {}. Run cadenced as the user that owns it (e.g. `sudo -u cadenced`)", .0.display(), .1)]
    Database(std::path::PathBuf, String),
}

/// The names a step's templates are compiled under: its own id, or one per variant.
fn step_keys(step: &crate::cadence::Step) -> Vec<String> {
    if step.variants.is_empty() {
        return vec![step.id.clone()];
    }
    step.variants.iter().map(|v| step.template_key(Some(&v.id))).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_variables_suggest_the_field_the_leads_have() {
        let known: BTreeSet<String> = ["first_name", "company", "phone"].iter().map(|s| s.to_string()).collect();
        assert_eq!(suggestion("frist_name", &known).as_deref(), Some("first_name"));
        assert_eq!(suggestion("First_Name", &known).as_deref(), Some("first_name"));
        assert_eq!(suggestion("compnay", &known).as_deref(), Some("company"));
        assert_eq!(suggestion("title", &known), None);
        assert_eq!(suggestion("company", &known), None, "a field the leads have is not misspelt");
    }

    #[test]
    fn a_database_under_a_file_or_in_a_missing_folder_is_judged_by_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(writable(&dir.path().join("cadenced.db")), Ok(()));
        assert_eq!(writable(&dir.path().join("new/deeper/cadenced.db")), Ok(()), "created on first use");
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let err = writable(&dir.path().join("plain/cadenced.db")).unwrap_err().to_string();
        assert!(
            err.ends_with("plain is not a folder: set `database` in the config to a file in a writable folder"),
            "{err}"
        );
        assert!(
            std::fs::read_dir(dir.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".cadenced-check"))
        );
    }
}
