//! Mailboxes that pause themselves. A refusal aimed at the sender (a block
//! list, a spam or policy filter), at SMTP time or in a bounce report, never
//! blames the lead: it counts against the mailbox, and past
//! `pause_after_refusals` of them within `refusals_window` the mailbox
//! pauses: nothing leaves it until a person resumes it (`cadenced mailboxes
//! resume NAME`), and `status`, `due`, the log and its owner's digest say why.

use chrono::{DateTime, Duration, Utc};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::model::PauseCause;
use crate::store::{Store, StoreError};

use super::Tick;

impl Tick<'_> {
    /// The pauses in force as the tick starts.
    pub(super) fn load_pauses(&mut self) -> Result<(), StoreError> {
        let pauses = self.store.pauses()?;
        self.sign_in_pauses =
            pauses.iter().filter(|p| p.cause == PauseCause::SignIn).map(|p| (p.mailbox.clone(), p.clone())).collect();
        self.paused = pauses.into_iter().map(|p| (p.mailbox, p.reason)).collect();
        Ok(())
    }

    /// `mailbox` was refused for the sender: pauses it if that makes too many.
    pub(super) fn refused_for_sender(&mut self, mailbox: &str) -> Result<(), StoreError> {
        note_refusal(self.store, self.config, &mut self.paused, mailbox, self.now)
    }
}

/// `mailbox` was refused for the sender: pauses it if that makes too many,
/// adding it to the tick's `paused`.
pub(super) fn note_refusal(
    store: &mut Store,
    config: &Config,
    paused: &mut std::collections::BTreeMap<String, String>,
    mailbox: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if paused.contains_key(mailbox) {
        return Ok(());
    }
    if let Some(reason) = pause_if_refused(store, config, mailbox, now)? {
        paused.insert(mailbox.to_string(), reason);
    }
    Ok(())
}

/// Pauses `mailbox` when the refusals aimed at its sending within its
/// `refusals_window` reach `pause_after_refusals`; returns why it is paused,
/// if it is now.
pub fn pause_if_refused(
    store: &mut Store,
    config: &Config,
    mailbox: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let Some(settings) = config.mailboxes.get(mailbox) else { return Ok(None) };
    let limit = settings.pause_after_refusals;
    if limit == 0 {
        return Ok(None);
    }
    let window = Duration::from_std(settings.refusals_window).unwrap_or(Duration::hours(24));
    let count = store.sender_refusals(mailbox, now - window)?;
    if count < limit {
        return Ok(None);
    }
    let hours = window.num_hours();
    let reason = format!(
        "{count} refusals aimed at the sender (block lists, spam or policy filters) within {hours}h; \
         check the mailbox's standing, then `cadenced mailboxes resume {mailbox}`"
    );
    if store.pause_mailbox(mailbox, crate::model::PauseCause::Refusals, &reason, now)? {
        warn!(mailbox, refusals = count, "mailbox paused, nothing leaves it until it is resumed: {reason}");
    }
    Ok(Some(reason))
}

impl Tick<'_> {
    /// Each OAuth mailbox's sign-in, before anything reads or sends through
    /// it: a token with time left (refreshed now if it nears its end). A lost
    /// sign-in pauses the mailbox (its steps stay due; no lead is blamed)
    /// until `cadenced login NAME`, whose new tokens resume it here at the
    /// latest; a provider that cannot be reached is an outage, retried after
    /// a back-off.
    pub(super) fn check_sign_ins(&mut self) -> Result<(), StoreError> {
        let config = self.config;
        for mailbox in config.mailboxes.values() {
            let Some(oauth) = &mailbox.oauth2 else { continue };
            let name = mailbox.name.as_str();
            // Read once; the provider is asked below only when no back-off runs.
            let stored = crate::oauth::stored(oauth);
            let signed_in = stored.as_ref().ok().map(|t| t.signed_in_at);
            // A sign-in since an outage began (the outage may have been the
            // lost sign-in): try the mailbox and its inbox again now.
            for key in [name.to_string(), super::outages::inbox_key(name)] {
                if let (Some(since), Some(signed_in)) = (self.transports.down_since(&key), signed_in)
                    && signed_in > since
                {
                    self.transports.recovered(&key, self.now);
                }
            }
            if let Some(pause) = self.sign_in_pauses.remove(name) {
                // Signed in again since the pause: resume (`login` does so
                // itself; this covers a login that raced a tick).
                if signed_in.is_none_or(|at| at <= pause.since) {
                    continue;
                }
                let theirs: Vec<String> =
                    self.cadences.by_name.values().filter(|c| c.mailbox == name).map(|c| c.name.clone()).collect();
                if self.store.resume_mailbox(name, Some(PauseCause::SignIn), &theirs, self.now)?.is_some() {
                    info!(mailbox = name, "signed in again: mailbox resumed");
                }
                self.paused.remove(name);
            }
            if self.paused.contains_key(name) {
                continue;
            }
            // During an outage's back-off only the token file is read: it
            // says whether a send or an inbox read found the grant dead.
            let checked = if self.transports.down(name, self.now).is_some() {
                stored.map(|_| ())
            } else {
                crate::oauth::access_token(oauth, None).map(|_| ())
            };
            match checked {
                Ok(()) => {}
                Err(e) if e.needs_login() => {
                    let reason = crate::oauth::lost_reason(name, &e);
                    if self.store.pause_mailbox(name, PauseCause::SignIn, &reason, self.now)? {
                        error!(mailbox = name, "mailbox paused, nothing leaves it: {reason}");
                    }
                    self.paused.insert(name.to_string(), reason);
                }
                Err(e) if self.transports.down(name, self.now).is_none() => {
                    self.transports.outage(name, self.now, &format!("sign-in: {e}"));
                }
                Err(_) => {}
            }
        }
        Ok(())
    }
}
