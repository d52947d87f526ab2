//! Product sessions (R-SES-1..9): sign-in, heartbeat, sign-out, per-result charges, the offline
//! lease and its public key. Every charge decision is the engine's (`jeton_core::session`),
//! applied by the store in one transaction.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

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
use super::{NO_SUCH_TEAM, REFUSED_TO_USERS, USERS_ONLY, wire};
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

/// Start a product session: sign in to a product on a team (R-SES-1/2).
///
/// Allowed when the user is assigned to Flex on the team (or holds a subscription or trial of the
/// product), may open the product, and the team can pay a charge that is due; refused otherwise
/// with 422 and a stable `code`. The first sign-in of a usage period charges the daily rate; the
/// rest of its 24 hours, nothing. The answer holds an offline lease, signed, valid 24 hours
/// (R-SES-7). With an `Idempotency-Key`, a retried request gets the first answer and charges
/// nothing more.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", operation_id = "start_session",
    request_body(content = SignIn, example = json!({
        "team": 1, "product": "autocad", "version": "2027", "machine": "WS-0142"})),
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Makes retries safe: the same key gets the first answer",
            example = "ws-0142-20260105-0912")),
    responses(
        (status = 201, description = "The session, what it charged, and its offline lease \
            (or, replayed, the first answer to this `Idempotency-Key`)", body = SessionStarted,
            headers(("Idempotent-Replayed" = String,
                     description = "`true` when this is the stored answer of an earlier request")),
            example = json!({"id": 3, "access": "flex", "tokens_charged": 7,
                "period_ends_at": "2026-01-06T09:12:00Z", "heartbeat_every_seconds": 300,
                "lease": "eyJ2IjoxLCJzZXNzaW9uIjozLCJ1c2VyIjo3LCJ0ZWFtIjoxLCJwcm9kdWN0IjoiYXV0b2NhZCIsImFjY2VzcyI6\
                    ImZsZXgiLCJwZXJpb2RfZW5kc19hdCI6IjIwMjYtMDEtMDZUMDk6MTI6MDBaIiwiaXNzdWVkX2F0IjoiMjAy\
                    Ni0wMS0wNVQwOToxMjowMFoiLCJ2YWxpZF91bnRpbCI6IjIwMjYtMDEtMDZUMDk6MTI6MDBaIn0.B7cOaDjnJz\
                    carYdm-ShgYFsJR1OO6gT7zAfFYQsAEnEwdmmEwBJL93jNDVtOPChX69iU5fqDYuU20E73AUcpFw"})),
        (status = 400, description = "The `Idempotency-Key` does not parse \
            (`invalid_idempotency_key`)", body = Problem),
        (status = 403, description = USERS_ONLY, body = Problem),
        (status = 404, description = "No such team (`not_found`)", body = Problem),
        (status = 422, description = "Refused: the user is not assigned (`not_assigned`) or \
            has not accepted the invitation yet (`invitation_pending`), may not open this \
            product (`product_not_allowed`), the product is not in the catalogue \
            (`unknown_product`), the team cannot pay (`insufficient_tokens`) or is closed \
            (`team_closed`), or the `Idempotency-Key` was used for another request \
            (`idempotency_key_reused`)", body = Problem)),
    security(("bearer" = ["user"])))]
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
    let answer = Arc::new(std::sync::OnceLock::new());
    let respond = {
        let (answer, state) = (answer.clone(), state.clone());
        Arc::new(move |s: &SignedIn| {
            answer
                .get_or_init(|| serde_json::to_string(&started(&state, s, now)).unwrap_or_default())
                .clone()
        })
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
            respond,
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
            match answer.get().cloned() {
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

/// Keep a session alive, every `heartbeat_every_seconds` (R-SES-3/5/6).
///
/// `active` says whether the product was really used since the last heartbeat (idle awareness).
/// A heartbeat may open the next usage period, charging it; when that cannot be paid the
/// session is ended (422 `insufficient_tokens`: stop the product). Each answer renews the
/// offline lease.
#[utoipa::path(post, path = "/v1/sessions/{id}/heartbeat", tag = "sessions", operation_id = "heartbeat",
    request_body(content = Heartbeat, example = json!({"active": true})),
    params(("id" = i64, Path, description = "The session's id", example = 3)),
    responses(
        (status = 200, description = "The session goes on: what this heartbeat charged (0 \
            within a paid period) and the renewed lease", body = HeartbeatAnswer,
            example = json!({"tokens_charged": 0, "access": "flex",
                "period_ends_at": "2026-01-06T09:12:00Z", "lease": "eyJ2IjoxLCJzZXNzaW9uIjozLCJ1c2VyIjo3LCJ0ZWFtIjoxLCJwcm9kdWN0IjoiYXV0b2NhZCIsImFjY2VzcyI6\
                    ImZsZXgiLCJwZXJpb2RfZW5kc19hdCI6IjIwMjYtMDEtMDZUMDk6MTI6MDBaIiwiaXNzdWVkX2F0IjoiMjAy\
                    Ni0wMS0wNVQwOToxNzowMFoiLCJ2YWxpZF91bnRpbCI6IjIwMjYtMDEtMDZUMDk6MTc6MDBaIn0.B4qEZdmUS2\
                    c9LpY9xszr25zSqY1IJJ6g-D3vp_mTBu2TDUOx-7nxQ6v_SyUdG9yxM1xLIpaieXxOX6Srj0DgwQ"})),
        (status = 403, description = USERS_ONLY, body = Problem),
        (status = 404, description = "No session of this user has this id (`not_found`)",
            body = Problem),
        (status = 410, description = "The server ended the session (`session_ended`): stop \
            the product, or sign in again", body = Problem),
        (status = 422, description = "The next period cannot be paid (`insufficient_tokens`); \
            the session is ended", body = Problem)),
    security(("bearer" = ["user"])))]
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

/// End a session: sign out of the product (R-SES-4).
///
/// When every session of the usage period ended within 5 minutes of its charge, the charge is
/// refunded.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", operation_id = "end_session",
    params(("id" = i64, Path, description = "The session's id", example = 3)),
    responses(
        (status = 200, description = "Ended; the tokens refunded, if any", body = SignedOut,
            example = json!({"tokens_refunded": 7})),
        (status = 403, description = USERS_ONLY, body = Problem),
        (status = 404, description = "No session of this user has this id (`not_found`)",
            body = Problem)),
    security(("bearer" = ["user"])))]
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

/// Charge a result made in a session: the product's rate for its type × quantity (R-SES-8).
///
/// Checked against the balance. Idempotent by the client's `id` within the session: the same
/// `id` again charges nothing more and answers the first charge.
#[utoipa::path(post, path = "/v1/sessions/{id}/results", tag = "sessions",
    request_body(content = NewResult, example = json!({
        "type": "render.cloud", "quantity": 2, "id": "job-1"})),
    params(("id" = i64, Path, description = "The session's id", example = 3)),
    responses(
        (status = 200, description = "The tokens charged", body = ResultCharged,
            example = json!({"tokens_charged": 10})),
        (status = 400, description = "The quantity is not 1 to 10000 (`invalid_tokens`), or the \
            type does not parse (`invalid_rate`)", body = Problem),
        (status = 403, description = USERS_ONLY, body = Problem),
        (status = 404, description = "No session of this user has this id (`not_found`)",
            body = Problem),
        (status = 410, description = "The session is ended (`session_ended`)", body = Problem),
        (status = 422, description = "The team cannot pay (`insufficient_tokens`), the product \
            has no rate for this type (`unknown_result_type`), or the `id` was used for another \
            result (`idempotency_key_reused`)", body = Problem)),
    security(("bearer" = ["user"])))]
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

/// The public key that verifies offline leases (R-SES-7); no key needed.
///
/// Ed25519, base64url. A product checks its lease with it while it cannot reach the server.
#[utoipa::path(get, path = "/v1/lease-key", tag = "sessions", operation_id = "get_lease_key",
    responses(
        (status = 200, description = "The algorithm and the public key", body = LeaseKey,
            example = json!({"algorithm": "ed25519",
                             "public_key": "023TrFHd001MCsMO6_RSV-pWLFExfUQ4EqQHan8gWdM"}))))]
async fn lease_key(State(state): State<AppState>) -> Json<LeaseKey> {
    Json(LeaseKey {
        algorithm: "ed25519".into(),
        public_key: encode_public_key(&state.lease_key.verifying_key()),
    })
}

/// A team's product sessions, newest first (operator and team admins).
///
/// Open sessions by default; `open=false` lists ended ones too, with why they ended.
#[utoipa::path(get, path = "/v1/teams/{team}/sessions", tag = "sessions",
    operation_id = "list_team_sessions",
    params(("team" = i64, Path, description = "The team's id", example = 1), SessionsQuery),
    responses(
        (status = 200, description = "The sessions, newest first", body = Vec<SessionInfo>,
            example = json!([{"id": 3, "team_id": 1, "user_id": 7, "product": "autocad",
                "version": "2027", "machine": "WS-0142", "started_at": "2026-01-05T09:12:00Z",
                "last_seen_at": "2026-01-05T11:02:00Z"}])),
        (status = 400, description = "`limit` is out of range (`invalid_query`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
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
