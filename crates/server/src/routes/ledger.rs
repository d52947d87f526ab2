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

use super::wire;
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

/// Record a purchase of tokens (operator): a new pack valid one calendar year. With an
/// `Idempotency-Key` header, a retry of the same request returns the first pack and credits
/// nothing more (the answer then carries `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/v1/teams/{team}/packs", tag = "tokens", request_body = NewPack,
    params(("team" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    responses((status = 201, body = Pack), (status = 400, body = Problem),
              (status = 403, description = "refused to admin keys and user tokens", body = Problem),
              (status = 404, body = Problem),
              (status = 422, description = "team_closed, idempotency_key_reused", body = Problem)),
    security(("bearer" = [])))]
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

/// R-REP-1: available, used and total tokens of the active packs, and the packs in the order
/// they will be used.
#[utoipa::path(get, path = "/v1/teams/{team}/balance", tag = "tokens",
    params(("team" = i64, Path)),
    responses((status = 200, body = Balance),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
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

/// R-REP-2: the team's ledger events with `from <= at < to` (default: the last 90 days up to
/// now), oldest first; includes the history of teams merged into this one.
#[utoipa::path(get, path = "/v1/teams/{team}/events", tag = "tokens",
    params(("team" = i64, Path), EventsQuery),
    responses((status = 200, body = Vec<Event>), (status = 400, body = Problem),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
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

/// R-PACK-6: move tokens to another team the caller manages. Tokens are taken in consumption
/// order and keep their expiry. All or nothing.
#[utoipa::path(post, path = "/v1/teams/{team}/moves", tag = "tokens", request_body = NewMove,
    params(("team" = i64, Path, description = "the team giving the tokens")),
    responses((status = 201, body = Move), (status = 400, body = Problem),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem),
              (status = 422, description = "team_closed, insufficient_tokens or same_team", body = Problem)),
    security(("bearer" = [])))]
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

/// Reconcile the team's ledger: its events must add up to its packs, in total and pack by pack.
#[utoipa::path(get, path = "/v1/teams/{team}/audit", tag = "tokens",
    params(("team" = i64, Path)),
    responses((status = 200, body = Audit),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
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
