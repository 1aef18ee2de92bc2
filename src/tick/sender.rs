//! The sending thread of a tick (see [`super::pipeline`] for the whole life
//! of a send). The tick's own thread finds, decides, renders and claims; this
//! one builds the messages and talks SMTP, so that the two overlap. It takes
//! claimed groups in claim order, writes each send's start and end into the
//! [`SendLog`] (the start before the first byte leaves) and hands how each
//! ended back to be recorded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::config::Mailbox;
use crate::model::{Ended, Reply};
use crate::send;
use crate::store::{SendGroup, SendLog};

use super::Control;
use super::outages::Open;

/// One claimed email, rendered; built into a message here, off the tick's thread.
pub(super) struct Job<'a> {
    pub id: i64,
    pub mailbox: &'a Mailbox,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub reply: Option<Reply>,
    pub list_unsubscribe: Option<String>,
    /// `X-Cadenced-Step`: its cadence and step, keyed (see [`crate::core::restore`]).
    pub step_tag: String,
    pub message_id: String,
    pub date: DateTime<Utc>,
    pub label: String,
}

/// A claimed group, sent in order.
pub(super) struct Batch<'a> {
    pub group: SendGroup,
    pub jobs: Vec<Job<'a>>,
}

/// How the send of touchpoint `id` ended.
pub(super) struct Finished {
    pub id: i64,
    pub ended: Ended,
}

/// Why the sender stops early, besides the daemon's stop.
pub(super) struct Stops<'a> {
    pub control: &'a Control,
    /// Set by the tick's thread when it fails: nothing more leaves.
    pub abort: &'a AtomicBool,
}

impl Stops<'_> {
    fn requested(&self) -> bool {
        self.control.stopping() || self.abort.load(Ordering::SeqCst)
    }
}

/// Sends every batch that comes, until the channel closes; returns the
/// transports, still open, for the rest of the tick.
pub(super) fn run(
    mut open: Open,
    mut log: SendLog,
    batches: Receiver<Batch<'_>>,
    done: Sender<Finished>,
    stops: Stops<'_>,
) -> Open {
    // Once the log cannot be written, nothing may leave: a crash would lose what did.
    let mut log_broken: Option<String> = None;
    // Mailboxes that could not be reached during this tick: the rest of their sends wait.
    let mut down: BTreeMap<String, String> = BTreeMap::new();
    for batch in batches {
        if log_broken.is_none()
            && let Err(e) = log.group(&batch.group)
        {
            log_broken = Some(broken(&log, &e));
        }
        for job in batch.jobs {
            let ended = if let Some(why) = &log_broken {
                Ended::NotTried(why.clone())
            } else if stops.requested() {
                Ended::NotTried("the tick is stopping".into())
            } else if let Some(why) = down.get(&job.mailbox.name) {
                Ended::NotTried(format!("mailbox unavailable: {why}"))
            } else if let Err(e) = log.start(job.id) {
                let why = broken(&log, &e);
                log_broken = Some(why.clone());
                Ended::NotTried(why)
            } else {
                let ended = send_one(&mut open, &job);
                if let Ended::Unavailable(why) = &ended {
                    down.insert(job.mailbox.name.clone(), why.clone());
                }
                if let Err(e) = log.end(job.id, &ended) {
                    // Recorded below all the same; only a crash before that would leave it uncertain.
                    log_broken = Some(broken(&log, &e));
                }
                ended
            };
            if done.send(Finished { id: job.id, ended }).is_err() {
                // The tick's thread is gone; what was sent is in the log.
                return open;
            }
        }
    }
    open
}

fn broken(log: &SendLog, e: &std::io::Error) -> String {
    let why = format!("cannot write the send log {}: {e}", log.path().display());
    warn!("{why}; no email leaves until it can");
    why
}

/// One send, then the copy into the rep's Sent folder.
fn send_one(open: &mut Open, job: &Job<'_>) -> Ended {
    let mailbox = job.mailbox;
    let email = send::Email {
        from: &mailbox.from,
        to: &job.to,
        subject: &job.subject,
        body: &job.body,
        message_id: &job.message_id,
        date: job.date,
        reply: job.reply.as_ref(),
        list_unsubscribe: job.list_unsubscribe.as_deref(),
        step_tag: Some(&job.step_tag),
    };
    let sent = send::build(&email).and_then(|message| {
        let transport = open.entry(mailbox.name.clone()).or_insert_with(|| send::transport_for(mailbox));
        transport.send(&message, &job.label).map(|()| message)
    });
    match sent {
        Ok(message) => {
            // Into the rep's own Sent folder, so the thread is whole in their mail client.
            if let Some(imap) = &mailbox.imap
                && let Some(folder) = &imap.sent_folder
                && let Err(e) = crate::imap::append(imap, folder, &[message.formatted()])
            {
                warn!(touchpoint = job.id, "sent, but not copied to the sent folder: {e}");
            }
            Ended::Sent
        }
        Err(e) => Ended::from(e),
    }
}
