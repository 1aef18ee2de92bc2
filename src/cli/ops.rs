//! Operator commands: `backup FILE`, `test-send --mailbox NAME TO`,
//! `completions SHELL`, `man`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::CommandFactory;

use crate::send;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist).
    file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct TestSendArgs {
    /// The mailbox to send through.
    #[arg(long, value_name = "NAME")]
    mailbox: String,
    /// Who gets the test message (yourself, not a lead).
    to: String,
}

pub fn backup(config_path: &Path, args: BackupArgs) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    if !config.database.exists() {
        bail!("no database at {} yet", config.database.display());
    }
    let store = super::open_store(&config)?;
    store.backup(&args.file).with_context(|| format!("backing up to {}", args.file.display()))?;
    outln!("backed up {} to {}", config.database.display(), args.file.display());
    Ok(ExitCode::SUCCESS)
}

pub fn test_send(config_path: &Path, args: TestSendArgs) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let mailbox = super::mailbox(&config, &args.mailbox)?;
    let now = super::now_or(None)?;
    let message_id = format!("<test-{}@{}>", now.timestamp(), mailbox.from.email.domain());
    let body = format!(
        "This is a test message from cadenced, sent through mailbox {:?} at {}.\n",
        mailbox.name,
        crate::time::rfc3339(now)
    );
    let email = send::Email {
        from: &mailbox.from,
        to: &args.to,
        subject: "cadenced test message",
        body: &body,
        message_id: &message_id,
        date: now,
        reply: None,
        list_unsubscribe: None,
        step_tag: None,
    };
    let message = send::build(&email).map_err(|e| anyhow!("{e}"))?;
    let mut ok = true;
    for step in send::diagnose(mailbox, &message) {
        let mark = if step.ok { "ok  " } else { "FAIL" };
        outln!("{mark} {}: {}", step.what, step.detail);
        ok &= step.ok;
    }
    if !ok {
        bail!("the test message was not sent");
    }
    outln!("sent {message_id} to {}", args.to);
    Ok(ExitCode::SUCCESS)
}

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut cmd = super::Cli::command();
    // Generated into memory first: clap_complete panics when its writer
    // fails, and a reader that went away (`| head`) must end the command quietly.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "cadenced", &mut script);
    super::write_stdout(|out| Ok(out.write_all(&script)?))?;
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> Result<ExitCode> {
    let cmd = super::Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page).context("rendering the man page")?;
    super::write_stdout(|out| Ok(out.write_all(&page)?))?;
    Ok(ExitCode::SUCCESS)
}
