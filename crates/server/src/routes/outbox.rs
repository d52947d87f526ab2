//! The outbox as the operator sees it (R-NOT-2): every email, queued, sent or given up.

use axum::Json;
use axum::extract::State;
use jeton_api::{OutboxMessage, OutboxQuery, Problem, Requeued};
use jeton_store::outbox::{OutboxFilter, OutboxRecord, OutboxStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{OPERATOR_ONLY, wire};
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

/// The outbox: emails, newest first (operator).
///
/// A server without `--smtp-url` keeps its emails here, `pending`.
#[utoipa::path(get, path = "/v1/outbox", tag = "operations", operation_id = "list_outbox",
    params(OutboxQuery),
    responses(
        (status = 200, description = "The emails, newest first", body = Vec<OutboxMessage>,
            example = json!([{"id": 31, "team_id": 1, "to": "Sam Lee <sam@example.com>",
                "subject": "You are invited to Jeton (Design)",
                "body": "Hello Sam Lee,\n\nYou are invited ...", "kind": "invitation",
                "status": "sent", "attempts": 1, "created_at": "2026-01-06T10:00:00Z",
                "sent_at": "2026-01-06T10:00:02Z"}])),
        (status = 400, description = "`status` is not pending, sent or failed, or `limit` is \
            out of range (`invalid_query`)", body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem)),
    security(("bearer" = ["operator"])))]
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

/// Send a `failed` email again (operator), once the cause is fixed.
///
/// The email is back in the queue at once, with a fresh count of attempts (a wrong address, a
/// relay that refused it). It goes as it was written: an invitation whose 7 days have run out
/// meanwhile is better resent (`POST /v1/teams/{team}/invitations/{id}/resend`), which makes a
/// new link.
#[utoipa::path(post, path = "/v1/outbox/{id}/retry", tag = "operations",
    operation_id = "retry_email",
    params(("id" = i64, Path, description = "The message's id (`GET /v1/outbox`)", example = 31)),
    responses(
        (status = 200, description = "The email, pending again", body = OutboxMessage,
            example = json!({"id": 31, "team_id": 1, "to": "Sam Lee <sam@example.com>",
                "subject": "You are invited to Jeton (Design)",
                "body": "Hello Sam Lee,\n\nYou are invited ...", "kind": "invitation",
                "status": "pending", "attempts": 0, "created_at": "2026-01-06T10:00:00Z",
                "last_error": "550 5.1.1 mailbox unavailable"})),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No email has this id (`not_found`)", body = Problem),
        (status = 409, description = "The email is pending or sent, not failed: it must not be \
            queued twice (`message_not_failed`)", body = Problem)),
    security(("bearer" = ["operator"])))]
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

/// Send every `failed` email again (operator).
///
/// For after the relay was down longer than the sender keeps trying (about 13 hours).
/// Invitations among them carry their links as they were.
#[utoipa::path(post, path = "/v1/outbox/failed/retry", tag = "operations",
    operation_id = "retry_failed_emails",
    responses(
        (status = 200, description = "How many emails were queued again", body = Requeued,
            example = json!({"queued": 3})),
        (status = 403, description = OPERATOR_ONLY, body = Problem)),
    security(("bearer" = ["operator"])))]
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
