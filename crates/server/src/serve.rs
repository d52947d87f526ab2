//! Building the app and running it: `jeton serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jeton_core::{Clock, ErrorCode, ManualClock, SystemClock};
use jeton_store::{ConnectOptions, Store};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::{Config, LogFormat, ServeArgs, SmtpSettings};
use crate::error::{ApiError, INTERNAL_DETAIL, problem};
use crate::extract::{MAX_BODY_BYTES, too_large};
use crate::keys::{expose, hash_key, lease_key, operator_key};
use crate::mailer::{self, Mailer};
use crate::openapi::{self, ApiDoc};
use crate::state::AppState;
use crate::{console, imports, metrics, routes};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection that has not sent a whole request head this long after it was opened (or after
/// its last answer) is closed: otherwise a client that opens connections and trickles a header
/// holds each one for ever. Longer than any client's pause between requests on a kept-alive
/// connection needs to be.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole HTTP app for a state.
pub fn app(state: AppState) -> Router {
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::api(state.test_clock.is_some()))
        .split_for_parts();
    openapi::complete(&mut doc);
    let reference = console::reference_page(&serde_json::to_value(&doc).unwrap_or_default());
    let doc = Arc::new(doc.to_pretty_json().unwrap_or_else(|_| "{}".into()));
    api.merge(console::pages())
    .merge(reference)
    .route(
        "/v1/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { ([("content-type", "application/json")], doc.as_str().to_owned()) }
        }),
    )
    .route_layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
    .fallback(|uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
        // A browser asking for a page gets a page; API clients get problem+json.
        let wants_html = headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        if wants_html && !uri.path().starts_with("/v1/") {
            return console::not_found_page();
        }
        ApiError::NoSuchEndpoint.into_response()
    })
    .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .layer(axum::middleware::map_response(too_large_as_problem))
    .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
    .layer(CatchPanicLayer::custom(|_panic| -> Response {
        // A panic is a bug; the caller gets an opaque answer and the log the details.
        tracing::error!("handler panicked");
        problem(ErrorCode::Internal, INTERNAL_DETAIL.into())
    }))
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(
        TraceLayer::new_for_http()
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
            .make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id)
        }),
    )
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    .with_state(state)
}

/// Every 413 is problem+json: the extractors axum answers it from on its own (form bodies,
/// say) write plain text, and the client must get the stable code wherever the limit is hit.
/// Handlers that know their own limit (imports) answer with it; the rest have the general one.
async fn too_large_as_problem(response: Response) -> Response {
    let is_problem = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == jeton_api::PROBLEM_CONTENT_TYPE.as_bytes());
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_problem {
        return response;
    }
    too_large().into_response()
}

/// How a server runs besides its state: background work.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Real time between runs of the background jobs (they also run at every test-clock advance).
    pub job_interval: Duration,
    /// Where to send email; `None`: emails wait in the outbox.
    pub smtp: Option<SmtpSettings>,
    /// Real time between looks at the outbox when nothing woke the mail sender.
    pub mail_poll: Duration,
    /// Longest wait for a request's head ([`HEADER_READ_TIMEOUT`]); also how long an idle
    /// keep-alive connection is kept.
    pub header_read_timeout: Duration,
    /// Whether the import worker runs in the background (always, but in tests that play a
    /// server which died: they drive its imports by hand).
    pub import_worker: bool,
}

impl RunOptions {
    pub fn new(job_interval: Duration) -> RunOptions {
        RunOptions {
            job_interval,
            smtp: None,
            mail_poll: mailer::POLL_INTERVAL,
            header_read_timeout: HEADER_READ_TIMEOUT,
            import_worker: true,
        }
    }
}

/// A server running in the background; [`Running::shutdown`] stops it gracefully.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    jobs: JoinHandle<()>,
    importer: Option<JoinHandle<()>>,
    mailer: Option<JoinHandle<()>>,
}

impl Running {
    /// Serves `state` on `listener` and runs the background jobs (and the mail sender when SMTP
    /// is configured), until [`Running::shutdown`]. Fails on a listener without an address or
    /// SMTP settings it cannot use.
    pub fn start(
        state: AppState,
        listener: TcpListener,
        options: RunOptions,
    ) -> anyhow::Result<Running> {
        let addr = listener.local_addr()?;
        let mailer = options
            .smtp
            .as_ref()
            .map(|smtp| Mailer::new(smtp).map(|m| m.poll_every(options.mail_poll)))
            .transpose()?;
        let (shutdown, stop) = watch::channel(false);
        let jobs = tokio::spawn(
            state
                .jobs
                .clone()
                .run_forever(options.job_interval, stop.clone()),
        );
        let importer = options.import_worker.then(|| {
            tokio::spawn(
                state
                    .importer
                    .clone()
                    .run(imports::POLL_INTERVAL, stop.clone()),
            )
        });
        let mailer = mailer.map(|m| tokio::spawn(m.run(state.clone(), stop.clone())));
        let http = tokio::spawn(serve_http(
            listener,
            app(state),
            options.header_read_timeout,
            stop,
        ));
        Ok(Running {
            addr,
            shutdown,
            http,
            jobs,
            importer,
            mailer,
        })
    }

    /// Stops accepting connections, lets requests in flight finish, stops the jobs, the import
    /// worker (a chunk being applied is finished first; unfinished imports are handed back) and
    /// the mail sender (an email being sent is finished and recorded first).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.http.await??;
        self.jobs.await?;
        if let Some(importer) = self.importer {
            importer.await?;
        }
        if let Some(mailer) = self.mailer {
            mailer.await?;
        }
        Ok(())
    }
}

/// Serves HTTP/1.1 on `listener` until `stop`, then lets the requests in flight finish. Like
/// `axum::serve`, with a timeout on reading each request's head, which axum's own loop does not
/// set.
async fn serve_http(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let graceful = GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: not a reason to stop serving the others.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http1.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// When the stop signal is given (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Logs go to stderr (stdout carries the operator key on first start), coloured only on a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // try_init: a second init (tests) is not an error worth stopping for.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// The URL of the embedded database in `data_dir`, making the directory and an empty database
/// file readable by the owner only when they do not exist yet. The database holds everyone's
/// names, addresses, password hashes and pending invitation links: as private as the key files
/// beside it. SQLite gives its WAL and shared-memory files the database file's mode.
fn embedded_database(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let cannot = |what: &std::path::Path, e: std::io::Error| {
        anyhow::anyhow!("cannot create {}: {e}", what.display())
    };
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        dir.mode(0o700);
    }
    dir.create(data_dir).map_err(|e| cannot(data_dir, e))?;
    let file = data_dir.join(Store::SQLITE_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&file) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(cannot(&file, e)),
    }
    Ok(Store::sqlite_url(data_dir))
}

/// `jeton serve`: resolve the configuration, open the database (running its migrations), make or
/// read the operator key, serve until Ctrl-C or SIGTERM, then shut down gracefully.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    init_tracing(config.log_format);
    if let Some(smtp) = &config.smtp {
        // A bad --smtp-url stops the server now rather than every email later.
        mailer::transport(smtp).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
    }

    let url = match &config.database_url {
        Some(url) => url.clone(),
        None => embedded_database(&config.data_dir)?,
    };
    let store = Store::connect(
        &url,
        ConnectOptions {
            max_connections: config.max_connections,
            ..ConnectOptions::default()
        },
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the database {}: {e}",
            jeton_store::redact_url(&url)
        )
    })?;

    let key = operator_key(config.operator_key.as_ref(), &config.data_dir)?;
    let (clock, test_clock): (Arc<dyn Clock>, _) = match config.test_clock {
        Some(start) => {
            tracing::warn!(%start, "running on a TEST CLOCK: time moves only through POST /v1/test-clock/advance");
            let manual = Arc::new(ManualClock::new(start));
            (manual.clone(), Some(manual))
        }
        None => (Arc::new(SystemClock), None),
    };
    let state = AppState::new(
        store.clone(),
        clock,
        test_clock,
        hash_key(expose(&key)),
        config.public_url.clone(),
        lease_key(&config.lease_key_file)?,
    )?;

    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e} (choose another with --listen)",
            config.listen
        )
    })?;
    match &config.smtp {
        Some(smtp) => tracing::info!(
            smtp = %jeton_store::redact_url(smtp.url.expose_secret()),
            from = %smtp.from,
            "emails are sent over SMTP"
        ),
        None => tracing::warn!("no --smtp-url: emails stay in the outbox (GET /v1/outbox)"),
    }
    let running = Running::start(
        state,
        listener,
        RunOptions {
            smtp: config.smtp.clone(),
            ..RunOptions::new(config.job_interval)
        },
    )?;
    tracing::info!(
        addr = %running.addr,
        database = store.backend().name(),
        "Jeton is serving on http://{}",
        running.addr
    );

    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    running.shutdown().await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn the_embedded_database_and_its_directory_are_the_owners_only() {
        let dir = std::env::temp_dir().join(format!("jeton-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let data = dir.join("data");
        let url = embedded_database(&data).unwrap();
        let store = Store::connect(&url, ConnectOptions::default())
            .await
            .unwrap();
        store.ping().await.unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("jeton.db")), 0o600);
        assert_eq!(
            mode(&data.join("jeton.db-wal")),
            0o600,
            "the WAL follows the database"
        );
        store.close().await;
        // A second start keeps the file (and what is in it).
        assert_eq!(embedded_database(&data).unwrap(), url);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
