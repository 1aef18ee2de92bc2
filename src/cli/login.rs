//! `cadenced login NAME [--flow device|browser] [--json]`: signs a mailbox in
//! with OAuth 2.0. The user follows the first line printed; the tokens that
//! come back are proven against the mailbox's own servers (IMAP AUTHENTICATE
//! and NOOP, SMTP AUTH, no mail sent) before they replace the old ones in
//! `tokens/NAME.json`, and a mailbox paused for a lost sign-in is resumed:
//! the running daemon sends again at its next tick, with no restart.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;

use crate::config::{Credential, Delivery, Mailbox, OAuth2};
use crate::model::PauseCause;
use crate::oauth::login::{self, Flow, Prompt};
use crate::oauth::token_file;
use crate::time::rfc3339;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mailbox (its [mailboxes.NAME.oauth2] table).
    name: String,
    /// device: open a URL anywhere and type a code; browser: a browser on this machine comes
    /// back to a port of cadenced's own. Default: device where the provider has one (Microsoft),
    /// else browser (Google).
    #[arg(long, value_enum)]
    flow: Option<Flow>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

/// `mailbox` with its OAuth credential reading tokens from `file` instead.
fn with_token_file(mailbox: &Mailbox, oauth: &OAuth2, file: &Path) -> Mailbox {
    let pending = Arc::new(OAuth2 { token_file: file.to_path_buf(), ..oauth.clone() });
    let mut mailbox = mailbox.clone();
    if let Delivery::Smtp(smtp) = &mut mailbox.delivery
        && let Some(Credential::OAuth2(_)) = smtp.credential
    {
        smtp.credential = Some(Credential::OAuth2(Arc::clone(&pending)));
    }
    if let Some(imap) = &mut mailbox.imap
        && let Credential::OAuth2(_) = imap.credential
    {
        imap.credential = Credential::OAuth2(Arc::clone(&pending));
    }
    mailbox
}

/// Logs in to the mailbox's IMAP and SMTP servers with the tokens in the
/// pending file; what each said, or the first refusal.
fn prove(mailbox: &Mailbox) -> Result<Vec<String>> {
    let mut proofs = Vec::new();
    if let Some(imap) = &mailbox.imap {
        proofs.push(crate::imap::prove_login(imap).map_err(|e| anyhow!("{e}"))?);
    }
    if let Delivery::Smtp(smtp) = &mailbox.delivery {
        proofs.push(crate::send::prove_login(smtp, &mailbox.from).map_err(|e| anyhow!("SMTP {e}"))?);
    }
    Ok(proofs)
}

pub fn run(config_path: &Path, args: Args) -> Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let mailbox = super::mailbox(&config, &args.name)?;
    let Some(oauth) = &mailbox.oauth2 else {
        bail!(
            "mailbox {:?} signs in with a password: add a [mailboxes.{}.oauth2] table to {} to use OAuth",
            args.name,
            args.name,
            config.path.display()
        );
    };
    let endpoints = login::endpoints(oauth).context("finding the provider's endpoints")?;
    let flow = args.flow.unwrap_or_else(|| login::default_flow(oauth, &endpoints));
    let json = args.json;
    let mut prompt = |p: &Prompt| match (p, json) {
        (Prompt::Device { verification_uri, user_code, expires_in, verification_uri_complete }, true) => {
            outln!(
                "{}",
                json!({"verification_uri": verification_uri, "user_code": user_code, "expires_in": expires_in,
                       "verification_uri_complete": verification_uri_complete})
            );
        }
        (Prompt::Device { verification_uri, user_code, expires_in, .. }, false) => {
            outln!("open {verification_uri} and enter the code {user_code}");
            eprintln!("(the code works for {} minutes; waiting for the sign-in...)", expires_in / 60);
        }
        (Prompt::Browser { authorization_url }, true) => outln!("{}", json!({"authorization_url": authorization_url})),
        (Prompt::Browser { authorization_url }, false) => {
            outln!("open this address in a browser: {authorization_url}");
            eprintln!("(waiting for the browser to come back to this machine...)");
        }
    };
    let tokens = login::sign_in(oauth, &endpoints, flow, &mut prompt).context("signing in")?;
    if tokens.refresh_token.is_none() {
        eprintln!(
            "warning: the provider gave no refresh token: the sign-in lasts until {} only (ask for offline_access)",
            rfc3339(tokens.expires_at)
        );
    }
    // Proven before it replaces anything: a pending file beside the real one.
    let pending = oauth.token_file.with_file_name(format!(".{}.pending.json", args.name));
    token_file::save(&pending, &tokens)?;
    let proofs = match prove(&with_token_file(mailbox, oauth, &pending)) {
        Ok(proofs) => proofs,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            let _ = std::fs::remove_file(pending.with_extension("lock"));
            return Err(e.context(format!("the new tokens do not log in to mailbox {}; nothing was saved", args.name)));
        }
    };
    {
        let _lock = token_file::Lock::acquire(&oauth.token_file)?;
        std::fs::rename(&pending, &oauth.token_file)
            .with_context(|| format!("saving {}", oauth.token_file.display()))?;
        let _ = std::fs::remove_file(pending.with_extension("lock"));
    }
    let cadences = super::load_cadences(&config, false)?;
    let theirs: Vec<String> =
        cadences.by_name.values().filter(|c| c.mailbox == args.name).map(|c| c.name.clone()).collect();
    let mut store = super::open_store(&config)?;
    let resumed = store.resume_mailbox(&args.name, Some(PauseCause::SignIn), &theirs, super::now_or(None)?)?;
    if json {
        outln!(
            "{}",
            json!({"logged_in": args.name, "account": tokens.account, "scopes": tokens.scopes,
                   "expires_at": rfc3339(tokens.expires_at), "resumed": resumed.is_some()})
        );
    } else {
        outln!("signed in: mailbox {} as {}", args.name, tokens.account);
        for proof in proofs {
            outln!("  {proof}");
        }
        outln!("tokens saved in {}", oauth.token_file.display());
        if let Some(pause) = resumed {
            outln!(
                "mailbox {} resumed (paused since {}): it sends again at the next tick",
                args.name,
                rfc3339(pause.since)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
