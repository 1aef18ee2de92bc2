//! `cadenced doctor [--mailbox NAME] [--connect] [--json]`: before the first
//! send, each mailbox's DNS (MX, SPF, DKIM, DMARC of its From domain, MX of
//! its unsubscribe domain) and sending config, each finding ok, warning or
//! error with the record to publish. Exits non-zero on any error.
//!
//! Read-only: it writes nothing, and a missing database stays missing.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use crate::config::Mailbox;
use crate::core::doctor::{Finding, Level};
use crate::doctor::{self, Report, Role};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this mailbox.
    #[arg(long, value_name = "NAME")]
    mailbox: Option<String>,
    /// Also open TLS to each mailbox's SMTP and IMAP servers (no login, no mail).
    #[arg(long)]
    connect: bool,
    /// Print one JSON document instead of the report.
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let mailboxes: Vec<&Mailbox> = match &args.mailbox {
        Some(name) => vec![super::mailbox(&config, name)?],
        None => config.mailboxes.values().collect(),
    };
    let first_sends = crate::store::first_sends::first_sends(&config.database).map_err(|e| e.to_string());
    let now = super::now_or(None)?;
    let mut report = crate::dns::with_resolver(&config.dns_servers, async |resolver| {
        doctor::examine(resolver, &config, &mailboxes, &first_sends, now).await
    })
    .map_err(|e| anyhow!("DNS: {e}"))?;
    if args.connect {
        let found: Vec<Vec<Finding>> = std::thread::scope(|scope| {
            let probes: Vec<_> = mailboxes.iter().map(|m| scope.spawn(|| doctor::connect(m))).collect();
            probes
                .into_iter()
                .map(|p| {
                    p.join().unwrap_or_else(|_| vec![Finding::warning("smtp-tls", "could not check: the probe failed")])
                })
                .collect()
        });
        for (mailbox, findings) in report.mailboxes.iter_mut().zip(found) {
            mailbox.findings.extend(findings);
        }
    }
    if args.json {
        super::print_json(&to_json(&report))?;
    } else {
        print(&report);
    }
    Ok(if report.count(Level::Error) > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print(report: &Report) {
    for mailbox in &report.mailboxes {
        outln!("mailbox {}: {}", mailbox.name, mailbox.from);
        for domain in &mailbox.domains {
            let role = match domain.role {
                Role::From => "From domain",
                Role::Unsubscribe => "unsubscribe_address domain",
            };
            outln!("  {} ({role})", domain.domain);
            print_findings(&domain.findings);
        }
        outln!("  sending config");
        print_findings(&mailbox.findings);
        outln!("");
    }
    let (ok, warnings, errors) = (report.count(Level::Ok), report.count(Level::Warning), report.count(Level::Error));
    let advice = if errors > 0 {
        ": fix the errors (publish the records shown) before the first send, then run doctor again"
    } else if warnings > 0 {
        ": no error; the warnings say what would help deliverability"
    } else {
        ": ready to send"
    };
    outln!("{ok} ok, {warnings} warning(s), {errors} error(s){advice}");
}

fn print_findings(findings: &[Finding]) {
    for finding in findings {
        outln!("    {:<8} {:<17} {}", finding.level.as_str(), finding.check, finding.message);
        if let Some(publish) = &finding.publish {
            outln!("    {:<8} {:<17} publish: {publish}", "", "");
        }
    }
}

fn finding_json(finding: &Finding) -> Value {
    json!({
        "check": finding.check,
        "level": finding.level.as_str(),
        "message": finding.message,
        "publish": finding.publish.as_ref().map(|p| json!({"name": p.name, "type": p.kind, "value": p.value})),
    })
}

fn to_json(report: &Report) -> Value {
    let mailboxes: Vec<Value> = report
        .mailboxes
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "from": m.from,
                "domains": m.domains.iter().map(|d| json!({
                    "domain": d.domain,
                    "role": d.role.as_str(),
                    "findings": d.findings.iter().map(finding_json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "findings": m.findings.iter().map(finding_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "mailboxes": mailboxes,
        "summary": {
            "ok": report.count(Level::Ok),
            "warning": report.count(Level::Warning),
            "error": report.count(Level::Error),
        },
    })
}
