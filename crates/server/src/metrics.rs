//! Prometheus metrics (`GET /metrics`): HTTP traffic by route and status, ledger activity, email.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jeton_store::gauges::{BatchCounts, Gauges};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Tokens written to the ledger, by event kind.
    pub ledger_tokens: Family<KindLabels, Counter>,
    pub job_runs: Counter,
    pub job_failures: Counter,
    /// Emails handed to the SMTP server, by kind (R-NOT-2).
    pub mail_sent: Family<KindLabels, Counter>,
    /// Failed attempts to send an email (each is retried later, or given up).
    pub mail_failures: Counter,
    /// Emails given up on after their last attempt (status `failed` in the outbox).
    pub mail_given_up: Counter,
    /// The mail sender could not read or update the outbox.
    pub mail_errors: Counter,
    /// Password hashes running now, and the most that ever ran at once (bounded by the slots).
    pub password_hashes: Gauge,
    pub password_hashes_peak: Gauge,
    /// Import lines this process's worker applied, by outcome (R-USR-5).
    pub import_lines: Family<KindLabels, Counter>,
    /// Imports this process stopped as failed (their team was closed, say).
    pub import_failures: Counter,
    /// Times the import worker could not read or update an import (it tries again).
    pub import_errors: Counter,
    /// This process's batches of sign-ins and sign-outs, set from
    /// [`jeton_store::gauges::BatchCounts`] at each scrape.
    session_batches: Counter,
    session_batch_requests: Counter,
    session_batch_retries: Counter,
    /// The database's state, set from [`jeton_store::gauges::Gauges`] at each scrape.
    open_sessions: Gauge,
    emails_pending: Gauge,
    emails_failed: Gauge,
    teams_low: Gauge,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("jeton");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let ledger_tokens = Family::<KindLabels, Counter>::default();
        let job_runs = Counter::default();
        let job_failures = Counter::default();
        let mail_sent = Family::<KindLabels, Counter>::default();
        let mail_failures = Counter::default();
        let mail_given_up = Counter::default();
        let mail_errors = Counter::default();
        let password_hashes = Gauge::default();
        let password_hashes_peak = Gauge::default();
        registry.register(
            "password_hashes",
            "Password hashes (argon2) running now",
            password_hashes.clone(),
        );
        registry.register(
            "password_hashes_peak",
            "The most password hashes that ran at once since the server started",
            password_hashes_peak.clone(),
        );
        let import_lines = Family::<KindLabels, Counter>::default();
        let import_failures = Counter::default();
        let import_errors = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            http_seconds.clone(),
        );
        registry.register(
            "ledger_tokens",
            "Tokens written to the ledger by this process, by event kind",
            ledger_tokens.clone(),
        );
        registry.register("job_runs", "Background job runs", job_runs.clone());
        registry.register(
            "job_failures",
            "Background job runs that failed",
            job_failures.clone(),
        );
        registry.register(
            "mail_sent",
            "Emails accepted by the SMTP server, by kind",
            mail_sent.clone(),
        );
        registry.register(
            "mail_send_failures",
            "Failed attempts to send an email (retried later unless given up)",
            mail_failures.clone(),
        );
        registry.register(
            "mail_given_up",
            "Emails given up on after their last attempt",
            mail_given_up.clone(),
        );
        registry.register(
            "mail_outbox_errors",
            "Times the mail sender could not read or update the outbox",
            mail_errors.clone(),
        );
        registry.register(
            "import_lines",
            "Import lines this process's worker applied, by outcome",
            import_lines.clone(),
        );
        registry.register(
            "import_failures",
            "Imports stopped as failed",
            import_failures.clone(),
        );
        registry.register(
            "import_errors",
            "Times the import worker could not read or update an import",
            import_errors.clone(),
        );
        let session_batches = Counter::default();
        let session_batch_requests = Counter::default();
        let session_batch_retries = Counter::default();
        registry.register(
            "session_batches",
            "Team batches of sign-ins and sign-outs this process ran",
            session_batches.clone(),
        );
        registry.register(
            "session_batch_requests",
            "Sign-ins and sign-outs in those batches (divided by the batches: their mean size)",
            session_batch_requests.clone(),
        );
        registry.register(
            "session_batch_retries",
            "Requests run again one at a time after their batch failed as a whole",
            session_batch_retries.clone(),
        );
        let open_sessions = Gauge::default();
        let emails_pending = Gauge::default();
        let emails_failed = Gauge::default();
        let teams_low = Gauge::default();
        registry.register(
            "open_sessions",
            "Product sessions not ended, in the whole database",
            open_sessions.clone(),
        );
        registry.register(
            "emails_pending",
            "Emails waiting in the outbox to be sent",
            emails_pending.clone(),
        );
        registry.register(
            "emails_failed",
            "Emails given up on after their last attempt, until retried (jeton outbox retry)",
            emails_failed.clone(),
        );
        registry.register(
            "teams_low_balance",
            "Open teams whose available tokens are below their low-balance threshold",
            teams_low.clone(),
        );
        Arc::new(Metrics {
            registry,
            http_requests,
            http_seconds,
            ledger_tokens,
            job_runs,
            job_failures,
            mail_sent,
            mail_failures,
            mail_given_up,
            mail_errors,
            password_hashes,
            password_hashes_peak,
            import_lines,
            import_failures,
            import_errors,
            session_batches,
            session_batch_requests,
            session_batch_retries,
            open_sessions,
            emails_pending,
            emails_failed,
            teams_low,
        })
    }

    pub fn count_tokens(&self, kind: &str, tokens: u64) {
        self.ledger_tokens
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc_by(tokens);
    }

    pub fn count_import_lines(&self, outcome: &str, lines: u64) {
        self.import_lines
            .get_or_create(&KindLabels {
                kind: outcome.to_owned(),
            })
            .inc_by(lines);
    }

    /// The exposition's content type: `prometheus_client` writes OpenMetrics text (counters
    /// with `_total`, `# EOF` at the end), which Prometheus reads when told so.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// The metrics, with the database's gauges as read just now and the store's batch counts.
    pub fn render(&self, gauges: &Gauges, batches: &BatchCounts) -> String {
        // The store counts; the counters show its totals.
        let total = |c: &Counter, n: u64| c.inner().store(n, std::sync::atomic::Ordering::Relaxed);
        total(&self.session_batches, batches.batches);
        total(&self.session_batch_requests, batches.requests);
        total(&self.session_batch_retries, batches.retried_alone);
        self.open_sessions.set(gauges.open_sessions);
        self.emails_pending.set(gauges.emails_pending);
        self.emails_failed.set(gauges.emails_failed);
        self.teams_low.set(gauges.teams_low);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Middleware: counts and times every request under its route pattern (never the raw path, so
/// ids do not explode the label space).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .http_seconds
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}
