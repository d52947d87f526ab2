//! Removing a user's subscription or trial (R-PRI), and looking an account up by its address:
//! the operator's, like adding them (`routes::users`).
//!
//! What a removal means for money: nothing is charged for what was used under it (no retroactive
//! charge), and sessions already open keep the terms of their usage period until it ends.
//! Sessions read the user's windows at every step, so from the removal on each sign-in is paid
//! as usual (a period opened under the subscription or trial covers only its own kind of
//! access), and so is an open session's next period once the running one ends.

use axum::Json;
use axum::extract::State;
use jeton_api::{Entitlement, Problem, UserAccount, UserSearch};
use jeton_core::session::AccessKind;
use jeton_core::{Email, EntitlementId, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::OPERATOR_ONLY;
use super::users::wire;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(remove_subscription))
        .routes(routes!(remove_trial))
        .routes(routes!(find_users))
}

async fn remove(
    state: &AppState,
    caller: &Caller,
    user: UserId,
    id: EntitlementId,
    kind: AccessKind,
) -> ApiResult<Json<Entitlement>> {
    // Before the ids are looked up: an admin learns nothing about who exists (R-AUTH-4).
    caller.require_operator()?;
    let removed = state.store.remove_entitlement(user, id, kind).await?;
    Ok(Json(wire(&removed)))
}

/// Remove a user's single-user subscription (operator).
///
/// The subscription is gone at once. Nothing is charged for what was used under it, and sessions
/// already open keep the terms of their usage period until it ends. From now on each sign-in to
/// the product, and an open session's next period, is paid with Flex tokens as usual.
#[utoipa::path(delete, path = "/v1/users/{user}/subscriptions/{id}", tag = "people",
    operation_id = "remove_subscription",
    params(("user" = i64, Path, description = "The user's id.", example = 42),
           ("id" = i64, Path, description = "The subscription's id (`GET /v1/users/{user}/entitlements` lists them).", example = 7)),
    responses((status = 200, description = "The subscription, as it was before it was removed.", body = Entitlement,
               example = json!({"id": 7, "user_id": 42, "product": "revit", "kind": "subscription",
                                "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
                                "created_at": "2025-12-15T10:30:00Z"})),
              (status = 400, description = "`invalid_path`: an id that is not a whole number.", body = Problem),
              (status = 403, description = OPERATOR_ONLY, body = Problem),
              (status = 404, description = "`not_found`: no such user, or no subscription with this id for the user (a trial's id included).", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn remove_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((user, id)): ApiPath<(UserId, EntitlementId)>,
) -> ApiResult<Json<Entitlement>> {
    remove(&state, &caller, user, id, AccessKind::Subscription).await
}

/// Remove a user's trial (operator).
///
/// The trial is gone at once. Nothing is charged for what was used under it, and sessions already
/// open keep the terms of their usage period until it ends. From now on each sign-in to the
/// product, and an open session's next period, is paid with Flex tokens as usual.
#[utoipa::path(delete, path = "/v1/users/{user}/trials/{id}", tag = "people",
    operation_id = "remove_trial",
    params(("user" = i64, Path, description = "The user's id.", example = 42),
           ("id" = i64, Path, description = "The trial's id (`GET /v1/users/{user}/entitlements` lists them).", example = 8)),
    responses((status = 200, description = "The trial, as it was before it was removed.", body = Entitlement,
               example = json!({"id": 8, "user_id": 42, "product": "revit", "kind": "trial",
                                "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
                                "created_at": "2025-12-15T10:30:00Z"})),
              (status = 400, description = "`invalid_path`: an id that is not a whole number.", body = Problem),
              (status = 403, description = OPERATOR_ONLY, body = Problem),
              (status = 404, description = "`not_found`: no such user, or no trial with this id for the user (a subscription's id included).", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn remove_trial(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((user, id)): ApiPath<(UserId, EntitlementId)>,
) -> ApiResult<Json<Entitlement>> {
    remove(&state, &caller, user, id, AccessKind::Trial).await
}

/// Find an account by its email address (operator).
///
/// The answer lists the account with this address (compared without regard to case): one, or
/// none. Every account is found, whether or not it is on a team.
#[utoipa::path(get, path = "/v1/users", tag = "people",
    operation_id = "find_users",
    params(UserSearch),
    responses((status = 200, description = "The accounts with this address: one or none.", body = Vec<UserAccount>,
               example = json!([{"user_id": 42, "email": "jane@example.com", "name": "Jane Doe",
                                 "created_at": "2026-01-05T08:00:00Z"}])),
              (status = 400, description = "`invalid_query` without `email`; `invalid_email` for an address that is not one.", body = Problem),
              (status = 403, description = OPERATOR_ONLY, body = Problem)),
    security(("bearer" = ["operator"])))]
async fn find_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UserSearch>,
) -> ApiResult<Json<Vec<UserAccount>>> {
    caller.require_operator()?;
    let email = Email::parse(&query.email)?;
    let found = state.store.user_by_email(&email).await?;
    Ok(Json(
        found
            .into_iter()
            .map(|user| UserAccount {
                user_id: user.id.0,
                email: user.email,
                name: user.name,
                created_at: user.created_at,
            })
            .collect(),
    ))
}
