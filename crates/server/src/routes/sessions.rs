//! Product sessions (R-SES-1..9): sign-in, heartbeat, sign-out, per-result charges, the offline
//! lease and its public key. Every charge decision is the engine's (`jeton_core::session`),
//! applied by the store in one transaction.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use jeton_api::{
    Heartbeat, HeartbeatAnswer, LeaseKey, NewResult, Problem, ResultCharged, SessionInfo,
    SessionStarted, SessionsQuery, SignIn, SignedOut,
};
use jeton_core::lease::{LEASE_VERSION, Lease, encode_public_key, sign};
use jeton_core::session::{HEARTBEAT_EVERY_SECONDS, offline_lease};
use jeton_core::{ResultType, SessionId, TeamId};
use jeton_store::sessions::{SignInOutcome, SignedIn};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ledger::{idempotency_key, mark_replayed};
use super::wire;
use crate::auth::{BearerKey, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use jeton_core::limits::MAX_LIST_PAGE;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(heartbeat))
        .routes(routes!(sign_out))
        .routes(routes!(report_result))
        .routes(routes!(lease_key))
        .routes(routes!(team_sessions))
}

/// R-SES-7: a lease valid 24 hours from this contact.
fn lease(state: &AppState, s: &SignedIn, now: DateTime<Utc>) -> String {
    sign(
        &Lease {
            v: LEASE_VERSION,
            session: s.session,
            user: s.user,
            team: s.team,
            product: s.product.to_string(),
            access: s.access.as_str().to_owned(),
            period_ends_at: s.period_ends_at,
            issued_at: now,
            valid_until: now + offline_lease(),
        },
        &state.lease_key,
    )
}

fn started(state: &AppState, s: &SignedIn, now: DateTime<Utc>) -> SessionStarted {
    SessionStarted {
        id: s.session.0,
        access: wire::access(s.access),
        tokens_charged: s.tokens_charged.get(),
        period_ends_at: s.period_ends_at,
        lease: lease(state, s, now),
        heartbeat_every_seconds: HEARTBEAT_EVERY_SECONDS,
    }
}

/// R-SES-1/2: sign in to a product. Allowed when the user is assigned to Flex on the team (or
/// holds a subscription or trial of it), may open the product, and the team can pay a charge
/// that is due; refused otherwise with 422 and a stable `code` (not_assigned,
/// invitation_pending, product_not_allowed, unknown_product, insufficient_tokens, team_closed).
/// The first sign-in of a usage period charges the daily rate; the rest of the 24 hours nothing.
/// With an `Idempotency-Key`, a retried request gets the first answer and charges nothing more.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    responses((status = 201, body = SessionStarted), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, description = "refused to operator and admin keys", body = Problem),
              (status = 404, description = "no such team", body = Problem),
              (status = 422, description = "refused: see `code`", body = Problem)),
    security(("bearer" = [])))]
async fn sign_in(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let user = caller.require_user()?;
    let key = idempotency_key(&headers)?;
    let now = state.now();
    // The answer (with its signed lease) is made once: the store keeps it for replays when there
    // is an idempotency key, and the same text is sent now.
    let answer = std::sync::OnceLock::new();
    let respond = |s: &SignedIn| {
        answer
            .get_or_init(|| serde_json::to_string(&started(&state, s, now)).unwrap_or_default())
            .clone()
    };
    let outcome = state
        .store
        .sign_in(
            TeamId(body.team),
            user.id,
            &body.product,
            body.version.as_deref(),
            body.machine.as_deref(),
            key.as_ref(),
            &respond,
            now,
        )
        .await?;
    Ok(match outcome {
        SignInOutcome::New(s) => {
            if !s.tokens_charged.is_zero() {
                state
                    .metrics
                    .count_tokens("charged", s.tokens_charged.get());
            }
            match answer.into_inner() {
                Some(json) => json_created(json),
                None => (StatusCode::CREATED, Json(started(&state, &s, now))).into_response(),
            }
        }
        SignInOutcome::Replayed(json) => {
            let mut r = json_created(json);
            mark_replayed(&mut r);
            r
        }
    })
}

/// 201 with a JSON text made earlier.
fn json_created(json: String) -> Response {
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        json,
    )
        .into_response()
}

/// R-SES-3/5/6: keep a session alive. `active` says whether the product was really used since the
/// last heartbeat (idle awareness). May open the next usage period (charging it); 422
/// `insufficient_tokens` when that cannot be paid (the session is ended: stop the product); 410
/// `session_ended` for a session the server ended.
#[utoipa::path(post, path = "/v1/sessions/{id}/heartbeat", tag = "sessions", request_body = Heartbeat,
    params(("id" = i64, Path)),
    responses((status = 200, body = HeartbeatAnswer),
              (status = 403, description = "refused to operator and admin keys", body = Problem),
              (status = 404, body = Problem),
              (status = 410, description = "session_ended", body = Problem),
              (status = 422, description = "insufficient_tokens", body = Problem)),
    security(("bearer" = [])))]
async fn heartbeat(
    State(state): State<AppState>,
    key: BearerKey,
    id: Result<ApiPath<SessionId>, ApiError>,
    body: Result<ApiJson<Heartbeat>, ApiError>,
) -> ApiResult<Json<HeartbeatAnswer>> {
    let now = state.now();
    // The most frequent request: a user token's quiet heartbeat is checked and decided in one
    // read. Anything else (another key, a bad path or body, something due) checks the key first,
    // so that its answers come in the same order as every route's.
    if let (true, Ok(ApiPath(id)), Ok(ApiJson(body))) = (key.is_user_token(), &id, &body) {
        let quiet = state
            .store
            .quiet_heartbeat_by_token(*id, &key.hash(), body.active, now)
            .await?;
        if let Some(beat) = quiet {
            return Ok(heartbeat_answer(&state, beat, now));
        }
    }
    let caller = Caller::from_key(&key.0, &state).await?;
    let user = caller.require_user()?;
    let ApiPath(id) = id?;
    let ApiJson(body) = body?;
    // Only a user token with a good path and body gets here, and its quiet read found
    // something due (or another user's session): the locked step decides.
    let beat = state
        .store
        .locked_heartbeat(id, user.id, body.active, now)
        .await?;
    Ok(heartbeat_answer(&state, beat, now))
}

fn heartbeat_answer(
    state: &AppState,
    beat: jeton_store::sessions::Beat,
    now: DateTime<Utc>,
) -> Json<HeartbeatAnswer> {
    let s = beat.signed_in;
    if !s.tokens_charged.is_zero() {
        state
            .metrics
            .count_tokens("charged", s.tokens_charged.get());
    }
    Json(HeartbeatAnswer {
        tokens_charged: s.tokens_charged.get(),
        access: wire::access(s.access),
        period_ends_at: s.period_ends_at,
        lease: lease(state, &s, now),
    })
}

/// R-SES-4: sign out. When every session of the usage period ended within 5 minutes of its charge,
/// the charge is refunded.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = i64, Path)),
    responses((status = 200, body = SignedOut),
              (status = 403, description = "refused to operator and admin keys", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn sign_out(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
) -> ApiResult<Json<SignedOut>> {
    let user = caller.require_user()?;
    let refunded = state.store.sign_out(id, user.id, state.now()).await?;
    if !refunded.is_zero() {
        state.metrics.count_tokens("refunded", refunded.get());
    }
    Ok(Json(SignedOut {
        tokens_refunded: refunded.get(),
    }))
}

/// R-SES-8: a per-result charge (rate × quantity), checked against the balance, idempotent by
/// the client's `id` within the session.
#[utoipa::path(post, path = "/v1/sessions/{id}/results", tag = "sessions", request_body = NewResult,
    params(("id" = i64, Path)),
    responses((status = 200, body = ResultCharged), (status = 400, body = Problem),
              (status = 403, description = "refused to operator and admin keys", body = Problem),
              (status = 404, body = Problem),
              (status = 410, description = "session_ended", body = Problem),
              (status = 422, description = "insufficient_tokens, unknown_result_type, idempotency_key_reused", body = Problem)),
    security(("bearer" = [])))]
async fn report_result(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SessionId>,
    ApiJson(body): ApiJson<NewResult>,
) -> ApiResult<Json<ResultCharged>> {
    let user = caller.require_user()?;
    let result_type = ResultType::parse(&body.result_type)?;
    let quantity =
        u64::try_from(body.quantity).map_err(|_| jeton_core::DomainError::InvalidTokens {
            detail: format!("quantity must be 1 to 10000, got {}", body.quantity),
        })?;
    let (tokens, replayed) = state
        .store
        .report_result(id, user.id, &result_type, quantity, &body.id, state.now())
        .await?;
    if !replayed && !tokens.is_zero() {
        state.metrics.count_tokens("charged", tokens.get());
    }
    Ok(Json(ResultCharged {
        tokens_charged: tokens.get(),
    }))
}

/// R-SES-7: the public key that verifies offline leases (Ed25519, base64url).
#[utoipa::path(get, path = "/v1/lease-key", tag = "sessions", responses((status = 200, body = LeaseKey)))]
async fn lease_key(State(state): State<AppState>) -> Json<LeaseKey> {
    Json(LeaseKey {
        algorithm: "ed25519".into(),
        public_key: encode_public_key(&state.lease_key.verifying_key()),
    })
}

/// A team's sessions, newest first (operator or admin): open ones by default.
#[utoipa::path(get, path = "/v1/teams/{team}/sessions", tag = "sessions",
    params(("team" = i64, Path), SessionsQuery),
    responses((status = 200, body = Vec<SessionInfo>),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn team_sessions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(query): ApiQuery<SessionsQuery>,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    caller.require_team(team)?;
    let limit = super::page_limit(query.limit, 100, MAX_LIST_PAGE)?;
    let sessions = state
        .store
        .team_sessions(team, query.open.unwrap_or(true), limit)
        .await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionInfo {
                id: s.id.0,
                team_id: s.team.0,
                user_id: s.user.0,
                product: s.product.to_string(),
                version: s.version,
                machine: s.machine,
                started_at: s.started_at,
                last_seen_at: s.last_seen_at,
                ended_at: s.ended_at,
                end_reason: s.end_reason.map(|r| r.as_str().to_owned()),
            })
            .collect(),
    ))
}
