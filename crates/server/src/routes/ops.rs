//! Operating the service: health, metrics, the test clock.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::Duration;
use jeton_api::{ClockAdvance, ClockNow, Health, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::OPERATOR_ONLY;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Malformed};
use crate::extract::ApiJson;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Ten years: more than any test needs, little enough that the clock stays far from overflow.
const MAX_ADVANCE_SECONDS: i64 = 10 * 366 * 86_400;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
}

/// Present only on a server started with `--test-clock`; elsewhere the path is 404.
pub fn test_clock_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(advance_clock))
}

/// Liveness: 200 when the server and its database respond; no key needed.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "The server and its database answer", body = Health,
            example = json!({"status": "ok", "database": "sqlite", "version": "0.1.0"})),
        (status = 503, description = "The database does not answer (`database_unavailable`)",
            body = Problem)))]
async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::DatabaseUnavailable(format!("the database does not answer: {e}")))?;
    Ok(Json(Health {
        status: "ok".into(),
        database: state.store.backend().name().into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// Metrics in OpenMetrics text (operator).
///
/// Operator key only: the ledger totals and request counts are the business's figures.
/// Prometheus sends the key with `authorization: {credentials_file: …}`. Counters are this
/// process's; the gauges (`jeton_open_sessions`, `jeton_emails_pending`, `jeton_emails_failed`,
/// `jeton_teams_low_balance`) are read from the database at each scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "get_metrics",
    responses(
        (status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String,
            example = "# TYPE jeton_ledger_tokens counter\n\
                       jeton_ledger_tokens_total{kind=\"purchased\"} 1000\n\
                       # TYPE jeton_open_sessions gauge\n\
                       jeton_open_sessions 12\n\
                       # EOF\n"),
        (status = 403, description = OPERATOR_ONLY, body = Problem)),
    security(("bearer" = ["operator"])))]
async fn metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require_operator()?;
    let gauges = state.store.gauges().await?;
    Ok((
        [(header::CONTENT_TYPE, Metrics::CONTENT_TYPE)],
        state.metrics.render(&gauges, &state.store.batch_counts()),
    ))
}

/// Move the test clock forward (operator; servers started with `--test-clock` only).
///
/// Background jobs (expiry) run at the new time before the answer, so their effects are visible
/// at once; the import worker and the mail sender are woken.
#[utoipa::path(post, path = "/v1/test-clock/advance", tag = "operations",
    request_body(content = ClockAdvance, example = json!({"seconds": 86400})),
    responses(
        (status = 200, description = "The clock's new time", body = ClockNow,
            example = json!({"now": "2026-01-06T08:00:00Z"})),
        (status = 400, description = "`seconds` is out of range (`invalid_seconds`)",
            body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem)),
    security(("bearer" = ["operator"])))]
async fn advance_clock(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClockAdvance>,
) -> ApiResult<Json<ClockNow>> {
    caller.require_operator()?;
    let clock = state
        .test_clock
        .as_ref()
        .ok_or_else(|| ApiError::not_found("endpoint", "/v1/test-clock/advance"))?;
    if !(1..=MAX_ADVANCE_SECONDS).contains(&body.seconds) {
        return Err(ApiError::bad_request(
            Malformed::Seconds,
            format!(
                "seconds must be 1 to {MAX_ADVANCE_SECONDS}, got {}",
                body.seconds
            ),
        ));
    }
    let now = clock.advance(Duration::seconds(body.seconds));
    tracing::info!(%now, "test clock advanced");
    state.jobs.run_once().await?;
    // Imports whose claim ran out at the new time (a dead server's) may be taken over now. The
    // worker is only woken: an import can take longer than a request may.
    state.importer.queued();
    // Retries that came due at the new time go out now, not at the next poll.
    state.mail_queued();
    Ok(Json(ClockNow { now }))
}
