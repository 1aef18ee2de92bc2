//! The daemon's HTTP side, off unless `[http]` is configured: one-click
//! unsubscribe (`/u/TOKEN`, RFC 8058), `/metrics` for Prometheus, `/healthz`,
//! the enrollment API (`/api/v1/...`) and the dashboard (`/`). axum on the
//! daemon's tokio runtime; every database call runs on the blocking pool,
//! with a few connections kept open between requests (SQLite in WAL mode
//! with a busy timeout, so that requests and ticks share the file).
//!
//! Security: the dashboard and the API want the admin token (bearer header,
//! or the cookie the login form sets), compared in constant time; a missing
//! or wrong one gets 401 and a log line without it. Bodies over 64 KiB are
//! refused. The unsubscribe page shows nothing of the lead but its masked
//! address, and an unknown token gets the same page as a known one.
//!
//! It reads the real clock (it is part of the daemon), and cadence files as
//! they are on disk at each request, like the admin CLI; `[http]` itself
//! takes effect at the next start.

mod api;
mod auth;
mod dashboard;
mod experiments;
mod health;
mod metrics;
mod pages;
mod unsubscribe;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use tracing::{error, info};

use crate::cadence::Cadences;
use crate::config::Config;
use crate::store::Store;
use crate::tick::Control;

/// The largest request body accepted (64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;
/// Database calls at once; more requests wait their turn.
const WORKERS: usize = 4;

/// The running server: stop it with [`Server::stop`].
pub struct Server {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops taking requests, lets those under way finish, and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the HTTP side on the current tokio runtime when `[http]` is
/// configured: binds its address now (so that a taken port is an error at
/// start), then serves until [`Server::stop`].
pub fn spawn(config: &Config, control: &Arc<Control>) -> anyhow::Result<Option<Server>> {
    let Some(http) = &config.http else { return Ok(None) };
    let app = Arc::new(App::new(config.clone(), Arc::clone(control))?);
    let listener = std::net::TcpListener::bind(http.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| format!("[http] listen = \"{}\": cannot listen there", http.listen))?;
    let addr = listener.local_addr().context("[http] listen: the bound address")?;
    let listener = tokio::net::TcpListener::from_std(listener).context("[http] listen: handing the socket to tokio")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, service).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = served.await {
            error!("HTTP server: {e}");
        }
    });
    info!(listen = %addr, "HTTP server listening");
    Ok(Some(Server { addr, stop, task }))
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(dashboard::home))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/leads", get(dashboard::search))
        .route("/leads/{email}", get(dashboard::lead))
        .route("/u/{token}", get(unsubscribe::page).post(unsubscribe::confirm))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(health::healthz))
        .route("/api/v1/enrollments", post(api::enroll))
        .route("/api/v1/leads/{email}", get(api::lead))
        .route("/api/v1/leads/{email}/outcomes", post(api::outcome))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// What every handler shares.
struct App {
    config: Config,
    control: Arc<Control>,
    /// When the server started (the health check's grace before the first tick).
    started: DateTime<Utc>,
    /// The key of the leads' unsubscribe tokens (from the database).
    unsubscribe_secret: Vec<u8>,
    token: Option<auth::Token>,
    pages: pages::Pages,
    /// Open connections waiting for the next request.
    idle: Mutex<Vec<Store>>,
    permits: tokio::sync::Semaphore,
}

impl App {
    fn new(config: Config, control: Arc<Control>) -> anyhow::Result<App> {
        let store = Store::open(&config.database).with_context(|| format!("opening {}", config.database.display()))?;
        let token = config.http.as_ref().and_then(|h| h.token.as_ref()).map(|t| auth::Token::new(t.expose()));
        Ok(App {
            unsubscribe_secret: store.unsubscribe_secret().to_vec(),
            token,
            pages: pages::Pages::new()?,
            idle: Mutex::new(vec![store]),
            permits: tokio::sync::Semaphore::new(WORKERS),
            started: now(),
            config,
            control,
        })
    }

    /// Runs `f` with a database connection on the blocking pool.
    async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, Failure>
    where
        F: FnOnce(&App, &mut Store) -> anyhow::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|e| Failure(anyhow!("{e}")))?;
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let taken = app.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
            let mut store = match taken {
                Some(store) => store,
                None => Store::open(&app.config.database)?,
            };
            let result = f(&app, &mut store);
            let mut idle = app.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < WORKERS {
                idle.push(store);
            }
            result
        })
        .await
        .map_err(|e| Failure(anyhow!("request task: {e}")))?
        .map_err(Failure)
    }

    /// The cadences as they are on disk (the good ones; see `cadenced check`).
    fn cadences(&self) -> Cadences {
        Cadences::load(&self.config)
    }
}

/// Rolls yesterday's tallies up (see [`Store::roll_up_tallies`]); a failure
/// only makes the reading slower, so it is logged, not returned.
fn roll_up(store: &mut Store, now: DateTime<Utc>) {
    if let Err(e) = store.roll_up_tallies(now) {
        tracing::warn!("cannot roll up the tallies of past days: {e}");
    }
}

/// The real clock, to the second: the HTTP side is part of the daemon.
fn now() -> DateTime<Utc> {
    crate::time::from_unix(Utc::now().timestamp())
}

/// Something went wrong on our side: 500, logged, with no detail for the client.
struct Failure(anyhow::Error);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        error!("HTTP request failed: {:#}", self.0);
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the daemon's log\n").into_response()
    }
}

/// An HTML page with the headers every page gets: nothing from elsewhere,
/// never cached, never framed, no referrer (tokens are in URLs).
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON document with `status`.
fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = (status, format!("{value:#}\n")).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
