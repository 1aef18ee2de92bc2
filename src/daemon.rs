//! The daemon: a tokio loop that runs a tick every `tick_interval` on the
//! blocking pool, tells systemd how it is doing (READY, WATCHDOG, RELOADING,
//! STOPPING, STATUS) and turns signals into requests the tick honours between
//! two sends, never inside one. It reads the real clock for each tick, as
//! `cli::now_or` does for a command (`--at` standing in for it) and the HTTP
//! side for a request; the tick and the core take the time as an argument.
//! (OAuth token expiry, unique tokens and the watchdog's timing read the
//! system clock where they are.)
//!
//! - **SIGTERM, SIGINT** set [`Control::stop`]: the tick ends at its next step
//!   or send (a claimed email that has not started is given back, still due),
//!   then the daemon says STOPPING=1 and exits.
//! - **SIGHUP** says RELOADING=1 at once and sets [`Control::reload`]: the
//!   tick in flight ends the same way, the daemon reloads the config and the
//!   cadences, says READY=1 and starts the next tick at once, so that what the
//!   cut tick gave back goes out with the new cadences. A config that does not
//!   load keeps the running one; a cadence file that does not load keeps its
//!   last good version; either way STATUS= names the problem until a reload
//!   succeeds. (The shipped unit runs `cadenced check` before it signals, so
//!   `systemctl reload` fails on a broken file and it does not come to that.)
//! - **The watchdog** (`WATCHDOG_USEC`): a ping every half period while the
//!   tick's [`Control::progress`] moves (each step decided, each send
//!   finished, each inbox read) and while idle between ticks; a tick that
//!   stops moving stops the pings, and systemd restarts the daemon.
//!
//! Logging (stderr, or the journal's native protocol under systemd) is set up
//! by [`init_logging`].

mod journal;
mod logging;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

use crate::cadence::Cadences;
use crate::config::Config;
use crate::store::Store;
use crate::tick::{Control, Transports};
use crate::time::from_unix;

pub use logging::{Logging, init_logging, stderr_is_the_journal};

/// What goes before an error line on stderr: `<3>` (error) when stderr is the
/// journal (a `cadenced check` run by `ExecReload=`, a `tick` from a timer),
/// so that `journalctl -p err` shows it; nothing on a terminal.
pub fn error_prefix() -> &'static str {
    if stderr_is_the_journal() { "<3>" } else { "" }
}

/// Tells the service manager; outside systemd (no `NOTIFY_SOCKET`) it does nothing.
fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        warn!("cannot notify the service manager: {e}");
    }
}

/// What a tick needs, handed to the blocking pool and back.
struct Worker {
    store: Store,
    config: Config,
    cadences: Cadences,
    transports: Transports,
    last: String,
    /// What the last reload could not apply, for STATUS= until one succeeds.
    reload_problem: Option<String>,
    /// Mailboxes paused for a lost sign-in, and why, for STATUS=.
    sign_ins_lost: Vec<String>,
}

impl Worker {
    fn tick(&mut self, control: &Control) {
        let now = from_unix(Utc::now().timestamp());
        match crate::tick::run(&mut self.store, &self.config, &self.cadences, &mut self.transports, now, control) {
            Ok(report) => {
                if !report.is_empty() {
                    info!("tick done: {report}");
                }
                // Between ticks, not in the middle of one; unless Litestream
                // replicates the database: then it checkpoints, and nobody else.
                if self.config.checkpoints.litestream(&self.config.database).is_none()
                    && let Err(e) = self.store.checkpoint()
                {
                    warn!("checkpoint after the tick: {e}");
                }
                self.last = format!(
                    "last tick {}: {} sent, {} tasks opened, {} to retry",
                    crate::time::rfc3339(now),
                    report.sent,
                    report.opened,
                    report.retrying
                );
            }
            // A busy or failing database must not end the daemon: the next tick tries again.
            Err(e) => {
                error!("tick failed: {e}");
                self.last = format!("last tick failed: {e}");
            }
        }
        if let Ok(pauses) = self.store.pauses() {
            self.sign_ins_lost = pauses
                .into_iter()
                .filter(|p| matches!(p.cause, crate::model::PauseCause::SignIn | crate::model::PauseCause::Restore))
                .map(|p| format!("mailbox {} paused: {}", p.mailbox, p.reason))
                .collect();
        }
    }

    /// SIGHUP: the config and the cadences again. A config that no longer
    /// loads keeps the running one; a cadence file that no longer loads keeps
    /// its last good version. Either is remembered for STATUS=.
    fn reload(&mut self) {
        let config = match Config::load(&self.config.path) {
            Ok(c) => c,
            Err(e) => {
                error!("reload: config has errors, keeping the running one:\n{e}");
                self.reload_problem = Some(format!(
                    "reload failed, running the previous config: {} (see the journal)",
                    first_line(&e.to_string())
                ));
                return;
            }
        };
        let previous = std::mem::take(&mut self.cadences);
        let (cadences, kept) = Cadences::reload(previous, &config);
        for broken in &cadences.broken {
            error!("reload: {broken}");
        }
        for name in &kept {
            warn!(cadence = %name, "reload: keeping the last good version of this cadence");
        }
        self.reload_problem = match (cadences.broken.as_slice(), kept.len()) {
            ([], _) => None,
            ([one], 0) => Some(format!("reload: {}; not loaded", first_line(&one.to_string()))),
            ([one], _) => Some(format!("reload: {}; running its last good version", first_line(&one.to_string()))),
            (many, kept) => Some(format!(
                "reload: {} cadence files have errors (see the journal); {kept} running their last good version",
                many.len()
            )),
        };
        match self.store.orphaned(&cadences.names()) {
            Ok(orphans) => {
                for (cadence, count) in orphans {
                    warn!(cadence = %cadence, leads = count, "cadence file is gone: its leads wait, orphaned, until it returns");
                }
            }
            Err(e) => warn!("reload: cannot count orphaned leads: {e}"),
        }
        info!(cadences = cadences.by_name.len(), "reloaded");
        // New settings may name other servers or credentials; a mailbox
        // whose settings did not change keeps its back-off.
        self.transports.reloaded(&self.config, &config);
        self.config = config;
        self.cadences = cadences;
        crate::tick::reload::load_logged(
            &mut self.store,
            &self.config,
            &self.cadences,
            from_unix(Utc::now().timestamp()),
        );
    }

    /// The one line `systemctl status` shows.
    fn status(&self) -> String {
        let mut status = format!("{} cadences; {}", self.cadences.by_name.len(), self.last);
        if let Some(problem) = &self.reload_problem {
            status = format!("{problem}; {status}");
        }
        for lost in self.sign_ins_lost.iter().rev() {
            status = format!("{lost}; {status}");
        }
        status
    }
}

/// The first non-empty line of an error, for a one-line STATUS=.
fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default()
}

/// Runs until SIGTERM or SIGINT.
pub fn run(config: Config, cadences: Cadences, mut store: Store) -> Result<()> {
    crate::tick::reload::load_logged(&mut store, &config, &cadences, from_unix(Utc::now().timestamp()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    let worker = Worker {
        store,
        config,
        cadences,
        transports: Transports::new(),
        last: "starting".into(),
        reload_problem: None,
        sign_ins_lost: Vec::new(),
    };
    runtime.block_on(serve(worker))
}

/// Half the watchdog interval systemd asked for, if it asked.
fn watchdog_period() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec)
        .then(|| Duration::from_micros(usec / 2).max(Duration::from_millis(100)))
}

async fn serve(mut worker: Worker) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    info!(
        config = %worker.config.path.display(),
        database = %worker.store.path(),
        cadences = worker.cadences.by_name.len(),
        interval_s = worker.config.tick_interval.as_secs(),
        "cadenced started"
    );
    match worker.config.checkpoints.litestream(&worker.config.database) {
        Some(why) => {
            info!("WAL checkpoints left to Litestream ({why}): cadenced checkpoints nothing");
            if let Err(e) = worker.store.leave_checkpoints_to_litestream() {
                warn!("cannot turn the automatic checkpoint off: {e}");
            }
        }
        None => info!("WAL checkpoints by cadenced, after each tick"),
    }
    notify(&[NotifyState::Ready, NotifyState::Status(&worker.status())]);
    let control = Arc::new(Control::default());
    let http = crate::http::spawn(&worker.config, &control)?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut watchers = spawn_inbox_watchers(&worker.config, &control, &wake);
    // A ping while a tick moves, and while idle; a tick that stops moving stops the pings.
    let period = watchdog_period();
    let mut watchdog = tokio::time::interval(period.unwrap_or(Duration::from_secs(3600)));
    let watchdog_on = period.is_some();
    loop {
        if control.reload.load(Ordering::SeqCst) {
            worker.reload();
            control.reload.store(false, Ordering::SeqCst);
            for old in watchers.drain(..) {
                old.abort();
            }
            watchers = spawn_inbox_watchers(&worker.config, &control, &wake);
            notify(&[NotifyState::Ready, NotifyState::Status(&worker.status())]);
        }
        let ctl = Arc::clone(&control);
        let worker_status_before = worker.status();
        let mut job = tokio::task::spawn_blocking(move || {
            worker.tick(&ctl);
            worker
        });
        let mut last_progress = u64::MAX;
        // While a long tick runs, STATUS= says how far it has come.
        let tick_started = Utc::now();
        let mut tick_status =
            tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(5), Duration::from_secs(5));
        let finished = loop {
            tokio::select! {
                done = &mut job => break done,
                _ = tick_status.tick() => {
                    notify(&[NotifyState::Status(&in_progress(&control, tick_started, &worker_status_before))]);
                }
                _ = watchdog.tick(), if watchdog_on => {
                    let progress = control.progress.load(Ordering::Relaxed);
                    if progress != last_progress {
                        let line = in_progress(&control, tick_started, &worker_status_before);
                        notify(&[NotifyState::Watchdog, NotifyState::Status(&line)]);
                        last_progress = progress;
                    }
                }
                _ = term.recv() => stop(&control, "SIGTERM"),
                _ = int.recv() => stop(&control, "SIGINT"),
                _ = hup.recv() => begin_reload(&control),
            }
        };
        worker = finished.context("tick task")?;
        notify(&[NotifyState::Watchdog, NotifyState::Status(&worker.status())]);
        if control.stop.load(Ordering::SeqCst) {
            break;
        }
        if control.reload.load(Ordering::SeqCst) {
            continue;
        }
        let sleep = tokio::time::sleep(worker.config.tick_interval);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                () = wake.notified() => break,
                _ = watchdog.tick(), if watchdog_on => notify(&[NotifyState::Watchdog]),
                _ = term.recv() => { stop(&control, "SIGTERM"); break }
                _ = int.recv() => { stop(&control, "SIGINT"); break }
                _ = hup.recv() => { begin_reload(&control); break }
            }
        }
        if control.stop.load(Ordering::SeqCst) {
            break;
        }
    }
    for w in watchers {
        w.abort();
    }
    if let Some(http) = http {
        http.stop().await;
    }
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    info!("cadenced stopped");
    Ok(())
}

/// STATUS= while a tick runs: since when, how many emails it has sent of
/// the steps due as it began (once it has counted them), and the line from
/// before it.
fn in_progress(control: &Control, started: chrono::DateTime<Utc>, before: &str) -> String {
    let sent = control.sent.load(Ordering::Relaxed);
    let of = match control.due.load(Ordering::Relaxed) {
        0 => String::new(),
        due => format!(" of {due} due"),
    };
    format!(
        "tick in progress since {}: {sent}{of} sent so far; {before}",
        crate::time::rfc3339(from_unix(started.timestamp()))
    )
}

/// One task per watched inbox that waits with IMAP IDLE and wakes the tick
/// loop when mail arrives, so that a reply is acted on within seconds rather
/// than at the next tick. Without IDLE (or while the server is unreachable)
/// the ticks' own reads are all there is.
fn spawn_inbox_watchers(
    config: &Config,
    control: &Arc<Control>,
    wake: &Arc<tokio::sync::Notify>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for mailbox in config.mailboxes.values() {
        let Some(settings) = mailbox.imap.clone() else { continue };
        let Some(folder) = settings.folders.first().cloned() else { continue };
        let (control, wake, name) = (Arc::clone(control), Arc::clone(wake), mailbox.name.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures = 0u32;
            let mut count = None;
            while !control.stop.load(Ordering::SeqCst) {
                match crate::imap::wait_for_change(&settings, &folder, Duration::from_secs(25 * 60), count).await {
                    Ok((changed, now_count)) => {
                        failures = 0;
                        count = Some(now_count);
                        if changed {
                            control.inbox_changed.store(true, Ordering::SeqCst);
                            wake.notify_one();
                        }
                    }
                    Err(e) if matches!(e.kind, crate::imap::ImapErrorKind::NoIdle) => {
                        info!(mailbox = %name, "inbox has no IMAP IDLE: read at every tick instead");
                        return;
                    }
                    Err(e) => {
                        failures += 1;
                        let pause = crate::schedule::retry_delay(failures).to_std().unwrap_or(Duration::from_secs(60));
                        warn!(mailbox = %name, "inbox watcher: {e}; again in {}s", pause.as_secs());
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }));
    }
    tasks
}

fn stop(control: &Control, signal: &str) {
    control.stop.store(true, Ordering::SeqCst);
    info!("{signal}: finishing the send in flight, then stopping");
}

/// SIGHUP: RELOADING=1 now; the tick in flight ends after its current send
/// and the loop reloads. A second SIGHUP before that changes nothing: the
/// files are read once the tick has ended.
fn begin_reload(control: &Control) {
    if !control.reload.swap(true, Ordering::SeqCst) {
        info!("SIGHUP: finishing the send in flight, then reloading");
        notify(&[NotifyState::Reloading, reload_stamp()]);
    }
}

/// systemd 253+ wants MONOTONIC_USEC with RELOADING=1.
fn reload_stamp() -> NotifyState<'static> {
    NotifyState::monotonic_usec_now().unwrap_or(NotifyState::Custom("MONOTONIC_USEC=0"))
}
