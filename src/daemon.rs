//! The daemon: a tokio loop that runs a tick every `tick_interval`, and on
//! SIGTERM or SIGINT lets the send in flight finish, then exits. The only place
//! that reads the real clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use chrono::Utc;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

use crate::cadence::Cadences;
use crate::config::Config;
use crate::dispatch::{self, Transports};
use crate::store::Store;
use crate::time::from_unix;

/// Logs to stderr (journald adds the time); `CADENCED_LOG` overrides the level.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CADENCED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// What a tick needs, handed to the blocking pool and back.
struct Worker {
    store: Store,
    config: Config,
    cadences: Cadences,
    transports: Transports,
}

impl Worker {
    fn tick(&mut self, stop: &AtomicBool) {
        let now = from_unix(Utc::now().timestamp());
        match dispatch::tick(&mut self.store, &self.config, &self.cadences, &mut self.transports, now, stop) {
            Ok(report) if !report.is_empty() => info!(?report, "tick done"),
            Ok(_) => {}
            // A busy or failing database must not end the daemon: the next tick tries again.
            Err(e) => error!("tick failed: {e}"),
        }
    }
}

/// Runs until SIGTERM or SIGINT.
pub fn run(config: Config, cadences: Cadences, store: Store) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(serve(Worker { store, config, cadences, transports: Transports::new() }))
}

async fn serve(worker: Worker) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let interval = worker.config.tick_interval;
    info!(
        config = %worker.config.path.display(),
        database = %worker.store.path(),
        cadences = worker.cadences.by_name.len(),
        interval_s = interval.as_secs(),
        "cadenced started"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut worker = Some(worker);
    loop {
        let Some(mut w) = worker.take() else { break };
        let flag = Arc::clone(&stop);
        let mut job = tokio::task::spawn_blocking(move || {
            w.tick(&flag);
            w
        });
        let finished = tokio::select! {
            done = &mut job => done,
            _ = term.recv() => { stop.store(true, Ordering::SeqCst); info!("SIGTERM: finishing the send in flight"); job.await }
            _ = int.recv() => { stop.store(true, Ordering::SeqCst); info!("SIGINT: finishing the send in flight"); job.await }
        };
        worker = Some(finished.context("tick task")?);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    info!("cadenced stopped");
    Ok(())
}
