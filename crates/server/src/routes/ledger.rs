//! A team's tokens: purchases (R-PACK-1), balance (R-REP-1), events (R-REP-2), moves (R-PACK-6),
//! and the reconciliation audit.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jeton_api::{
    Audit, Balance, Event, EventsQuery, IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, Move,
    NewMove, NewPack, Pack, Problem,
};
use jeton_core::limits::MAX_EVENTS_PER_PAGE;
use jeton_core::report::events_range;
use jeton_core::{DomainError, IdempotencyKey, TeamId, Tokens};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{NO_SUCH_TEAM, OPERATOR_ONLY, REFUSED_TO_USERS, wire};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(buy_pack))
        .routes(routes!(balance))
        .routes(routes!(events))
        .routes(routes!(move_tokens))
        .routes(routes!(audit))
}

const DEFAULT_EVENTS_LIMIT: u32 = 1000;

/// Tells the caller that this answer is the stored first answer of its `Idempotency-Key`.
pub(super) fn mark_replayed(response: &mut Response) {
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED_HEADER, HeaderValue::from_static("true"));
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .map(|v| {
            let text = v.to_str().map_err(|_| DomainError::InvalidIdempotencyKey {
                detail: "the Idempotency-Key header must be visible ASCII".into(),
            })?;
            IdempotencyKey::parse(text)
        })
        .transpose()
        .map_err(ApiError::from)
}

/// Record a purchase of tokens (operator): a new pack valid one calendar year.
///
/// With an `Idempotency-Key` header, a retry of the same request returns the first pack and
/// credits nothing more (the answer then carries `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/v1/teams/{team}/packs", tag = "tokens", operation_id = "buy_pack",
    request_body(content = NewPack, example = json!({"tokens": 1000})),
    params(("team" = i64, Path, description = "The team's id", example = 1),
           ("Idempotency-Key" = Option<String>, Header,
            description = "Makes retries safe: the same key gets the first answer", example = "order-2026-0042")),
    responses(
        (status = 201, description = "The new pack (or, replayed, the first answer to this \
            `Idempotency-Key`)", body = Pack,
            headers(("Idempotent-Replayed" = String,
                     description = "`true` when this is the stored answer of an earlier request")),
            example = json!({"id": 5, "team_id": 1, "tokens": 1000, "remaining": 1000,
                             "purchased_at": "2026-01-05T08:00:00Z",
                             "expires_at": "2027-01-05T08:00:00Z"})),
        (status = 400, description = "The amount or the `Idempotency-Key` does not parse \
            (`invalid_tokens`, `invalid_idempotency_key`)", body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No such team (`not_found`)", body = Problem),
        (status = 422, description = "The team is closed (`team_closed`), has as many packs as \
            it may (`too_many_packs`), or the `Idempotency-Key` was used for another request \
            (`idempotency_key_reused`)", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn buy_pack(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewPack>,
) -> ApiResult<Response> {
    caller.require_operator()?;
    let tokens = Tokens::parse_amount(body.tokens)?;
    let key = idempotency_key(&headers)?;
    let purchase = state
        .store
        .purchase(team, tokens, caller.actor(), state.now(), key.as_ref())
        .await?;
    if !purchase.replayed {
        state.metrics.count_tokens("purchased", tokens.get());
    }
    let mut response = (StatusCode::CREATED, Json(wire::pack(&purchase.pack))).into_response();
    if purchase.replayed {
        mark_replayed(&mut response);
    }
    Ok(response)
}

/// The team's balance (R-REP-1): available, used and total tokens of its active packs.
///
/// The packs are listed in the order they will be used: the one that expires first, first.
#[utoipa::path(get, path = "/v1/teams/{team}/balance", tag = "tokens", operation_id = "get_balance",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The balance and the active packs", body = Balance,
            example = json!({"team_id": 1, "available": 1850, "used": 150, "total": 2000,
                "low": false, "low_percent": 20,
                "packs": [
                    {"id": 5, "tokens": 1000, "remaining": 850,
                     "purchased_at": "2026-01-05T08:00:00Z", "expires_at": "2027-01-05T08:00:00Z",
                     "days_to_expiry": 296},
                    {"id": 6, "tokens": 1000, "remaining": 1000,
                     "purchased_at": "2026-02-01T08:00:00Z", "expires_at": "2027-02-01T08:00:00Z",
                     "days_to_expiry": 323}]})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn balance(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Balance>> {
    caller.require_team(team)?;
    let now = state.now();
    let balance = state.store.balance(team, now).await?;
    Ok(Json(wire::balance(&balance, now)))
}

/// The team's ledger events (R-REP-2), oldest first.
///
/// The events with `from <= at < to` (by default the last 90 days up to now), including the
/// history of teams merged into this one.
#[utoipa::path(get, path = "/v1/teams/{team}/events", tag = "tokens", operation_id = "list_events",
    params(("team" = i64, Path, description = "The team's id", example = 1), EventsQuery),
    responses(
        (status = 200, description = "The events of the range, oldest first", body = Vec<Event>,
            example = json!([
                {"id": 11, "team_id": 1, "kind": "purchased", "amount": 1000, "pack_id": 5,
                 "at": "2026-01-05T08:00:00Z", "actor": "operator", "cause": "purchase:5"},
                {"id": 12, "team_id": 1, "kind": "charged", "amount": -7, "pack_id": 5,
                 "at": "2026-01-05T09:12:00Z", "actor": "user:7", "cause": "session:3"}])),
        (status = 400, description = "`from` or `to` does not parse, or `from` is not before \
            `to` (`invalid_range`); `limit` is out of range (`invalid_query`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Json<Vec<Event>>> {
    caller.require_team(team)?;
    let now = state.now();
    let (from, to) = events_range(query.from, query.to, now)?;
    let limit = super::page_limit(query.limit, DEFAULT_EVENTS_LIMIT, MAX_EVENTS_PER_PAGE)?;
    let events = state.store.events(team, from, to, limit, now).await?;
    Ok(Json(events.iter().map(wire::event).collect()))
}

/// Move tokens to another team the caller manages (R-PACK-6).
///
/// Tokens are taken in consumption order and keep their expiry. All or nothing.
#[utoipa::path(post, path = "/v1/teams/{team}/moves", tag = "tokens",
    request_body(content = NewMove, example = json!({"to_team": 2, "tokens": 300})),
    params(("team" = i64, Path, description = "The team giving the tokens", example = 1)),
    responses(
        (status = 201, description = "The move: which packs gave how many tokens, and the packs \
            they became in the other team", body = Move,
            example = json!({"id": 4, "from_team": 1, "to_team": 2, "tokens": 300,
                "at": "2026-02-10T14:00:00Z", "actor": "admin:1",
                "packs": [{"from_pack": 5, "to_pack": 8, "tokens": 300,
                           "expires_at": "2027-01-05T08:00:00Z"}]})),
        (status = 400, description = "The amount does not parse (`invalid_tokens`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No such team, or one of the two is not the caller's \
            (`not_found`)", body = Problem),
        (status = 422, description = "A team is closed (`team_closed`), the team has fewer \
            tokens (`insufficient_tokens`), or it is the same team (`same_team`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn move_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<NewMove>,
) -> ApiResult<(StatusCode, Json<Move>)> {
    let (from, to) = (team, TeamId(body.to_team));
    caller.require_team(from)?;
    caller.require_team(to)?;
    let tokens = Tokens::parse_amount(body.tokens)?;
    let moved = state
        .store
        .move_tokens(from, to, tokens, caller.actor(), state.now())
        .await?;
    state.metrics.count_tokens("moved", tokens.get());
    Ok((StatusCode::CREATED, Json(wire::move_record(&moved))))
}

/// Reconcile the team's ledger: its events must add up to its packs.
///
/// In total and pack by pack; a team that does not reconcile is also logged as an error.
#[utoipa::path(get, path = "/v1/teams/{team}/audit", tag = "tokens", operation_id = "audit_team",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The sums and the packs that do not add up", body = Audit,
            example = json!({"team_id": 1, "events_sum": 1850, "remaining_sum": 1850,
                             "balanced": true, "mismatched_packs": []})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Audit>> {
    caller.require_team(team)?;
    let audit = state.store.audit_team(team).await?;
    if !audit.is_clean() {
        tracing::error!(?audit, "ledger does not reconcile");
    }
    Ok(Json(wire::audit(&audit)))
}
