//! The outbox as the operator sees it (R-NOT-2): every email, queued, sent or given up.

use axum::Json;
use axum::extract::State;
use jeton_api::{OutboxMessage, OutboxQuery, Problem};
use jeton_store::outbox::{OutboxFilter, OutboxStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
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
                ApiError::bad_request("invalid_query", "status is pending, sent or failed")
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1 to 1000, got {limit}"),
        ));
    }
    let messages = state
        .store
        .outbox(&OutboxFilter {
            status,
            to: query.to,
            limit: limit as usize,
        })
        .await?;
    Ok(Json(messages.iter().map(wire::outbox_message).collect()))
}
