//! The outbox as the operator sees it (R-NOT-2): every email, queued, sent or given up.

use axum::Json;
use axum::extract::State;
use jeton_api::{OutboxMessage, OutboxQuery, Problem, Requeued};
use jeton_store::outbox::{OutboxFilter, OutboxRecord, OutboxStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Malformed};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use jeton_core::MessageId;
use jeton_core::limits::MAX_LIST_PAGE;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retry))
        .routes(routes!(retry_all_failed))
}

/// Emails, newest first (operator). Without `--smtp-url` they stay `pending` here.
#[utoipa::path(get, path = "/v1/outbox", tag = "operations", params(OutboxQuery),
    responses((status = 200, body = Vec<OutboxMessage>), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<Vec<OutboxMessage>>> {
    caller.require_operator()?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            OutboxStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(Malformed::Query, "status is pending, sent or failed")
            })
        })
        .transpose()?;
    let limit = super::page_limit(query.limit, 100, MAX_LIST_PAGE)?;
    let messages = state
        .store
        .outbox(&OutboxFilter {
            status,
            to: query.to,
            limit,
        })
        .await?;
    Ok(Json(messages.iter().map(wire::outbox_message).collect()))
}

/// Sends a `failed` email again (operator): back in the queue at once, with a fresh count of
/// attempts, once the cause is fixed (a wrong address, a relay that refused it). 409
/// `message_not_failed` for a message that is pending or sent: those must not be queued twice.
/// The message goes as it was written: an invitation whose 7 days have run out meanwhile is
/// better resent (`POST /v1/teams/{team}/invitations/{id}/resend`), which makes a new link.
#[utoipa::path(post, path = "/v1/outbox/{id}/retry", tag = "operations",
    params(("id" = i64, Path, description = "The message's id (`GET /v1/outbox`)")),
    responses((status = 200, body = OutboxMessage), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MessageId>,
) -> ApiResult<Json<OutboxMessage>> {
    caller.require_operator()?;
    let message = retry_one(&state, id).await?;
    Ok(Json(wire::outbox_message(&message)))
}

/// Queues failed message `id` again (also the console's Outbox page).
pub(crate) async fn retry_one(state: &AppState, id: MessageId) -> ApiResult<OutboxRecord> {
    let message = state.store.retry_failed_message(id, state.now()).await?;
    tracing::info!(message = %id, kind = %message.kind, "failed email queued again");
    state.mail_queued();
    Ok(message)
}

/// Sends every `failed` email again (operator), after the relay was down longer than the sender
/// keeps trying (about 13 hours). Invitations among them carry their links as they were.
#[utoipa::path(post, path = "/v1/outbox/failed/retry", tag = "operations",
    responses((status = 200, body = Requeued), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn retry_all_failed(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Requeued>> {
    caller.require_operator()?;
    let queued = retry_all(&state).await?;
    Ok(Json(Requeued { queued }))
}

/// Queues every failed message again (also the console's Outbox page); answers how many.
pub(crate) async fn retry_all(state: &AppState) -> ApiResult<u64> {
    let queued = state.store.retry_all_failed_messages(state.now()).await?;
    tracing::info!(queued, "failed emails queued again");
    if queued > 0 {
        state.mail_queued();
    }
    Ok(queued)
}
