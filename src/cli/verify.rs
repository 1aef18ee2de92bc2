//! `cadenced verify FILE.csv|EMAIL... [--json]`: the lead preflight on its
//! own, writing nothing. Each address gets a verdict (ok, unknown, or refused
//! as dead, disposable or invalid) with its reason, and a warning when it
//! names a role rather than a person; a summary counts them.
//!
//! Exit status: 0 when no address would be refused, 1 when any would (as a
//! linter: `cadenced verify leads.csv && cadenced import leads.csv ...`).
//! "Unknown" (DNS could not tell) and role warnings do not fail it.
//!
//! Also here: `--verify`/`--no-verify`, which `import` and `enroll` share,
//! and the wording of a verdict they print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use serde_json::json;

use crate::config::Config;
use crate::core::verify::{Check, Verdict};
use crate::preflight::{self, Verdicts};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV files (header row with an `email` column) and addresses: an
    /// argument with an `@` is an address, any other a file.
    #[arg(required = true, value_name = "FILE.csv|EMAIL")]
    inputs: Vec<String>,
    /// Print one JSON document instead of a line per address.
    #[arg(long)]
    json: bool,
}

/// `--verify` / `--no-verify` of `import` and `enroll`; neither: the
/// config's `verify_leads`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Flags {
    /// Check each address and its domain first (see `cadenced verify`):
    /// refuse and suppress dead, disposable and malformed ones.
    #[arg(long, overrides_with = "no_verify")]
    verify: bool,
    /// Do not, even when the config says `verify_leads = true`.
    #[arg(long = "no-verify", overrides_with = "verify")]
    no_verify: bool,
}

impl Flags {
    pub fn wanted(self, config: &Config) -> bool {
        if self.verify {
            true
        } else if self.no_verify {
            false
        } else {
            config.verify_leads
        }
    }
}

/// An address to check and where it came from (`leads.csv:7`, or nothing
/// for one given on the command line).
struct Input {
    place: Option<String>,
    email: String,
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let mut inputs = Vec::new();
    for input in &args.inputs {
        if input.contains('@') {
            inputs.push(Input { place: None, email: input.trim().to_string() });
            continue;
        }
        let path = PathBuf::from(input);
        let file = std::fs::File::open(&path).with_context(|| format!("opening {input}"))?;
        for (line, email) in crate::intake::read_emails(&path, file)? {
            inputs.push(Input { place: Some(format!("{}:{line}", path.display())), email });
        }
    }
    let verdicts = lookup(&config, inputs.iter().map(|i| i.email.as_str()))?;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut listed = Vec::new();
    for input in &inputs {
        let check = verdicts.check(&input.email);
        *counts.entry(check.verdict.word()).or_default() += 1;
        if check.verdict.refuses() {
            *counts.entry("refused").or_default() += 1;
        }
        if check.role {
            *counts.entry("role").or_default() += 1;
        }
        listed.push((input, check));
    }
    let refused = counts.get("refused").copied().unwrap_or(0);
    if args.json {
        let addresses: Vec<_> = listed
            .iter()
            .map(|(input, check)| {
                let (file, line) = match input.place.as_deref().and_then(|p| p.rsplit_once(':')) {
                    Some((file, line)) => (Some(file), line.parse::<u64>().ok()),
                    None => (None, None),
                };
                json!({"email": input.email, "file": file, "line": line, "verdict": check.verdict.word(),
                       "refused": check.verdict.refuses(), "reason": non_empty(check.verdict.reason()),
                       "role": check.role})
            })
            .collect();
        super::print_json(&json!({"addresses": addresses, "domains": verdicts.domains(), "counts": counts}))?;
    } else {
        super::write_stdout(|out| {
            for (input, check) in &listed {
                let place = input.place.as_deref().map(|p| format!("{p}: ")).unwrap_or_default();
                writeln!(out, "{place}{}: {}", input.email, describe(check))?;
            }
            writeln!(out, "{}", summary(inputs.len(), verdicts.domains(), &counts))?;
            Ok(())
        })?;
    }
    Ok(if refused > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The verdicts for `emails`, through the config's resolver.
pub(super) fn lookup<'e>(config: &Config, emails: impl IntoIterator<Item = &'e str>) -> Result<Verdicts> {
    preflight::verify(emails, &config.disposable_domains, &config.sending_domains(), &config.dns_servers).map_err(|e| {
        let servers = if config.dns_servers.is_empty() { "the system's resolver" } else { "dns_servers" };
        anyhow!("cannot verify addresses: {e} (check {servers}; --no-verify skips the preflight)")
    })
}

/// A verdict in words: `ok`, `ok; warning: ...`, `refused, dead: ...`,
/// `unknown, DNS could not tell: ...`.
pub(super) fn describe(check: &Check) -> String {
    let mut text = match &check.verdict {
        Verdict::Ok => "ok".to_string(),
        Verdict::Unknown(_) => format!("unknown, {}", check.verdict.reason()),
        refused => format!("refused, {}: {}", refused.word(), refused.reason()),
    };
    if check.role {
        text.push_str("; warning: a role address, not a person");
    }
    text
}

/// `7 addresses (3 domains looked up): 2 ok, 1 unknown, 4 refused (2 dead, 1 disposable, 1 invalid); 1 role address`
fn summary(addresses: usize, domains: usize, counts: &BTreeMap<&str, u64>) -> String {
    let n = |word: &str| counts.get(word).copied().unwrap_or(0);
    let mut text = format!(
        "{addresses} addresses ({domains} domains looked up): {} ok, {} unknown (DNS could not tell), {} refused",
        n("ok"),
        n("unknown"),
        n("refused")
    );
    if n("refused") > 0 {
        text.push_str(&format!(" ({} dead, {} disposable, {} invalid)", n("dead"), n("disposable"), n("invalid")));
    }
    if n("role") > 0 {
        text.push_str(&format!("; {} role addresses", n("role")));
    }
    text
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
