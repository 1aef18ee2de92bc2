//! `cadenced ingest FILE.eml... [--mailbox NAME] [--json]`: mail fed in by
//! hand (no IMAP, or a message forwarded from elsewhere) is classified and
//! acted on exactly as if it had come from the inbox, once: a second ingest
//! of the same Message-ID does nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;

use crate::store::Source;
use crate::tick::{Incoming, handle_message, pause_if_refused};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Raw messages (.eml), as saved from a mail client.
    #[arg(required = true, value_name = "FILE.eml")]
    files: Vec<PathBuf>,
    /// The mailbox whose inbox they belong to (default: the only one).
    #[arg(long, value_name = "NAME")]
    mailbox: Option<String>,
    /// Act as if the clock read TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON document instead of a line per message.
    #[arg(long)]
    json: bool,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let cadences = super::load_cadences(&config, false)?;
    let now = super::now_or(args.at.as_deref())?;
    let mailbox = match &args.mailbox {
        Some(name) if config.mailboxes.contains_key(name) => name.clone(),
        Some(name) => {
            return Err(super::unknown_mailbox(&config, name).context("--mailbox"));
        }
        None if config.mailboxes.len() == 1 => config.mailboxes.keys().next().cloned().unwrap_or_default(),
        None => {
            let known: Vec<_> = config.mailboxes.keys().cloned().collect();
            bail!("several mailboxes ({}): say whose inbox these are with --mailbox NAME", known.join(", "));
        }
    };
    let mut store = super::open_store(&config)?;
    let mut results = Vec::new();
    for file in &args.files {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let message_id = crate::inbound::classify(&raw).message_id;
        if let Some(id) = &message_id
            && store.inbound_seen(id)?
        {
            results.push(json!({"file": file, "message_id": id, "handled": false,
                                "detail": "handled before (same Message-ID): nothing done"}));
            continue;
        }
        let uid = store.next_manual_uid(&mailbox, Source::Ingest)?;
        let incoming = Incoming {
            mailbox: &mailbox,
            source: Source::Ingest,
            folder: "ingest",
            uidvalidity: 0,
            uid,
            raw: &raw,
            arrived: None,
        };
        let handled = handle_message(&mut store, &config, &cadences, &incoming, now)
            .map_err(|e| anyhow!("{}: {e}", file.display()))?;
        if handled.new && handled.refused_sender {
            pause_if_refused(&mut store, &config, &mailbox, now)?;
        }
        results.push(json!({"file": file, "message_id": message_id, "handled": handled.new, "kind": handled.kind,
                            "lead": handled.lead, "detail": handled.detail}));
    }
    if args.json {
        super::print_json(&json!({ "messages": results }))?;
    } else {
        for r in &results {
            let kind = r["kind"].as_str().map(|k| format!("{k}, ")).unwrap_or_default();
            let lead = r["lead"].as_str().map(|l| format!("{l}: ")).unwrap_or_default();
            outln!("{}: {kind}{lead}{}", r["file"].as_str().unwrap_or(""), r["detail"].as_str().unwrap_or(""));
        }
    }
    Ok(ExitCode::SUCCESS)
}
