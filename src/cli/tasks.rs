//! `cadenced tasks [--owner X] [--overdue] [--json]` and
//! `cadenced task done|skip ID [--note TEXT] [--at TIME]`: manual steps.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, NaiveTime, Utc};
use serde_json::json;

use crate::config::Config;
use crate::core::plan;
use crate::model::{Next, Status, Task};
use crate::store::TaskFilter;
use crate::time::resolve_local;
use crate::time::{human, rfc3339};

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this owner's tasks.
    #[arg(long, value_name = "EMAIL")]
    owner: Option<String>,
    /// Only tasks that opened before the owner's current day.
    #[arg(long)]
    overdue: bool,
    /// Look from TIME instead of now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON document (`{"tasks": [...]}`) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    /// Close a task as done; the cadence goes on.
    Done(CloseArgs),
    /// Close a task as skipped; the cadence goes on.
    Skip(CloseArgs),
}

#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The task's id, as `cadenced tasks` and the digest show it.
    id: i64,
    /// What happened (recorded on the touchpoint).
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

/// Whether `task` opened before the start of its owner's current local day.
pub fn is_overdue(config: &Config, task: &Task, now: DateTime<Utc>) -> bool {
    let tz = task.owner.as_deref().map_or(config.timezone, |o| config.owner(o).timezone);
    let today = now.with_timezone(&tz).date_naive();
    task.due_at < resolve_local(today.and_time(NaiveTime::MIN), tz)
}

pub fn list(config_path: &Path, args: ListArgs) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let now = super::now_or(args.at.as_deref())?;
    let store = super::open_store(&config)?;
    let owner = args.owner.as_deref().map(str::to_ascii_lowercase);
    let filter = TaskFilter { owner: owner.as_deref(), opened_before: None };
    let tasks: Vec<Task> =
        store.open_tasks(&filter)?.into_iter().filter(|t| !args.overdue || is_overdue(&config, t, now)).collect();
    if args.json {
        let list: Vec<_> = tasks
            .iter()
            .map(|t| {
                json!({"id": t.id, "email": t.email, "cadence": t.cadence, "step": t.step, "kind": t.kind,
                       "owner": t.owner, "due_at": rfc3339(t.due_at), "body": t.body, "blocking": t.blocking,
                       "overdue": is_overdue(&config, t, now)})
            })
            .collect();
        super::print_json(&json!({ "tasks": list }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if tasks.is_empty() {
        outln!("no open tasks");
    }
    for t in &tasks {
        // The lead's own time: when to call matters in the lead's day.
        let tz = config.lead_zone(t.timezone.as_deref());
        let late = if is_overdue(&config, t, now) { "  OVERDUE" } else { "" };
        outln!(
            "#{:<6} {:<9} {:<28} {}/{}  due {}  owner {}{late}",
            t.id,
            t.kind,
            t.email,
            t.cadence,
            t.step,
            human(t.due_at, tz),
            t.owner.as_deref().unwrap_or("-")
        );
        if let Some(body) = &t.body {
            for line in body.lines() {
                outln!("         | {line}");
            }
        }
    }
    let unowned = tasks.iter().filter(|t| t.owner.is_none()).count();
    if unowned > 0 {
        outln!(
            "{unowned} task(s) have no owner, so no reminder goes out for them: set owner = \"rep@example.com\" in the \
             cadence or its [mailboxes.NAME] table (for leads enrolled from then on), or --field owner=... when enrolling"
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn close(config_path: &Path, command: TaskCommand) -> Result<ExitCode> {
    let (args, status, verb) = match command {
        TaskCommand::Done(a) => (a, Status::Done, "done"),
        TaskCommand::Skip(a) => (a, Status::Skipped, "skipped"),
    };
    let super::Context { config, cadences, now, mut store } = super::Context::load(config_path, args.at.as_deref())?;
    let plan_next = |task: &Task| match cadences.get(&task.cadence) {
        Some(c) => {
            let lead = config.lead_time(c.calendar.as_deref(), task.timezone.as_deref(), &task.fields);
            plan::next(c, c.step_index(&task.step), now, lead)
        }
        None => Next::Hold(format!("cadence {:?} is not loaded", task.cadence)),
    };
    let closed =
        store.close_task(args.id, status, args.note.as_deref(), None, now, plan_next).context("closing the task")?;
    let Some(task) = closed else {
        return match store.task(args.id)? {
            Some(t) => Err(anyhow!("task {} is already {}", args.id, t.status)),
            None => bail!("no task {} (`cadenced tasks` lists the open ones with their ids)", args.id),
        };
    };
    outln!("task {} ({} {} for {}) {verb}", task.id, task.kind, task.step, task.email);
    Ok(ExitCode::SUCCESS)
}
