//! `cadenced classify FILE.eml... [--json]`: what the inbox watcher would make
//! of each message (reply, auto_reply, bounce, complaint, unsubscribe, other),
//! and for a bounce why each recipient bounced.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use crate::inbound::{Blame, Kind, classify};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Raw RFC 5322 messages (.eml).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON document (an array, one object per file) instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(_config_path: &Path, args: Args) -> Result<ExitCode> {
    let mut docs = Vec::new();
    for file in &args.files {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let c = classify(&raw);
        if args.json {
            docs.push(json!({
                "file": file.display().to_string(),
                "kind": c.kind,
                "recipients": c.recipients,
                "lead": c.lead(),
                "return_date": c.return_date.map(|d| d.to_string()),
                "in_reply_to": c.in_reply_to,
                "original_message_ids": c.original_message_ids,
                "unattributed": c.unattributed,
            }));
        } else {
            let kind = c.kind.as_str();
            outln!("{}: {kind}, lead {}", file.display(), c.lead().unwrap_or("-"));
            for r in &c.recipients {
                if c.kind != Kind::Bounce {
                    outln!("  {}", r.address);
                    continue;
                }
                let blame = match r.reason.blame() {
                    Blame::DeadAddress if r.permanent => "dead address",
                    Blame::DeadAddress | Blame::Passing => "passing trouble",
                    Blame::Sender => "refusal of the sender",
                };
                outln!("  {} {} ({blame}) {}", r.address, r.reason, r.status.as_deref().unwrap_or(""));
            }
            if let Some(u) = &c.unattributed {
                let sent = c.original_message_ids.first().map_or("no Message-ID of ours", String::as_str);
                outln!(
                    "  no recipient read: {} {} (for the lead {sent} was sent to)",
                    u.reason,
                    u.status.as_deref().unwrap_or("")
                );
            }
            if let Some(d) = c.return_date {
                outln!("  back on {d}");
            }
        }
    }
    if args.json {
        super::print_json(&serde_json::Value::Array(docs))?;
    }
    Ok(ExitCode::SUCCESS)
}
