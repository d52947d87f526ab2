//! Accounts made by the operator directly, subscriptions and trials (R-PRI), and signing a user
//! out everywhere (R-AUTH-1).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jeton_api::{Entitlement, NewEntitlement, NewUser, Problem, TokensEnded, UserAccount};
use jeton_core::session::AccessKind;
use jeton_core::{DomainError, Email, Password, PersonName, ProductKey, UserId};
use jeton_store::entitlements::EntitlementRecord;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire::access;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(add_subscription))
        .routes(routes!(add_trial))
        .routes(routes!(list_entitlements))
        .routes(routes!(sign_out_everywhere))
}

/// Create an account with a password (operator): no invitation, no email. For service users,
/// single sign-on bridges and simulations; people are normally invited.
#[utoipa::path(post, path = "/v1/users", tag = "people", request_body = NewUser,
    responses((status = 201, body = UserAccount), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, description = "duplicate_user", body = Problem)),
    security(("bearer" = [])))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserAccount>)> {
    caller.require_operator()?;
    let email = Email::parse(&body.email)?;
    let name = PersonName::parse(&body.name)?;
    let password = Password::parse(&body.password)?;
    let hash = state.passwords.slot().await?.hash(&password).await?;
    let user = state
        .store
        .create_user(&email, &name, &hash, state.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserAccount {
            user_id: user.id.0,
            email: user.email,
            name: user.name,
            created_at: user.created_at,
        }),
    ))
}

pub(super) fn wire(e: &EntitlementRecord) -> Entitlement {
    Entitlement {
        id: e.id.0,
        user_id: e.user_id.0,
        product: e.product.to_string(),
        kind: access(e.kind),
        starts_at: e.starts_at,
        ends_at: e.ends_at,
        created_at: e.created_at,
    }
}

async fn add(
    state: &AppState,
    caller: &Caller,
    user: UserId,
    body: &NewEntitlement,
    kind: AccessKind,
) -> ApiResult<(StatusCode, Json<Entitlement>)> {
    caller.require_operator()?;
    let product = ProductKey::parse(&body.product)?;
    if body.ends_at <= body.starts_at {
        return Err(DomainError::InvalidRange {
            detail: format!(
                "ends_at ({}) must be after starts_at ({})",
                body.ends_at, body.starts_at
            ),
        }
        .into());
    }
    let e = state
        .store
        .add_entitlement(
            user,
            &product,
            kind,
            body.starts_at,
            body.ends_at,
            caller.actor(),
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(wire(&e))))
}

/// R-PRI-1: a single-user subscription: this identity never pays tokens for the product while it
/// runs.
#[utoipa::path(post, path = "/v1/users/{user}/subscriptions", tag = "people", request_body = NewEntitlement,
    params(("user" = i64, Path)),
    responses((status = 201, body = Entitlement), (status = 400, body = Problem),
              (status = 403, description = "refused to admin keys and user tokens", body = Problem),
              (status = 404, body = Problem),
              (status = 422, description = "unknown_product", body = Problem)),
    security(("bearer" = [])))]
async fn add_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<UserId>,
    ApiJson(body): ApiJson<NewEntitlement>,
) -> ApiResult<(StatusCode, Json<Entitlement>)> {
    add(&state, &caller, user, &body, AccessKind::Subscription).await
}

/// R-PRI-2: a trial: no tokens while it runs; the first sign-in after it ends pays.
#[utoipa::path(post, path = "/v1/users/{user}/trials", tag = "people", request_body = NewEntitlement,
    params(("user" = i64, Path)),
    responses((status = 201, body = Entitlement), (status = 400, body = Problem),
              (status = 403, description = "refused to admin keys and user tokens", body = Problem),
              (status = 404, body = Problem),
              (status = 422, description = "unknown_product", body = Problem)),
    security(("bearer" = [])))]
async fn add_trial(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<UserId>,
    ApiJson(body): ApiJson<NewEntitlement>,
) -> ApiResult<(StatusCode, Json<Entitlement>)> {
    add(&state, &caller, user, &body, AccessKind::Trial).await
}

#[utoipa::path(get, path = "/v1/users/{user}/entitlements", tag = "people",
    params(("user" = i64, Path)),
    responses((status = 200, body = Vec<Entitlement>),
              (status = 403, description = "refused to admin keys and user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn list_entitlements(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<UserId>,
) -> ApiResult<Json<Vec<Entitlement>>> {
    caller.require_operator()?;
    let list = state.store.entitlements(user).await?;
    Ok(Json(list.iter().map(wire).collect()))
}

/// R-AUTH-1: sign a user out everywhere (operator): every token of theirs answers 401 from now
/// on, on every server; they sign in again with their password.
#[utoipa::path(post, path = "/v1/users/{user}/sign-out-everywhere", tag = "people",
    params(("user" = i64, Path)),
    responses((status = 200, body = TokensEnded), (status = 400, description = "invalid_path", body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<UserId>,
) -> ApiResult<Json<TokensEnded>> {
    // Before the id is looked up: an admin learns nothing about who exists (R-AUTH-4).
    caller.require_operator()?;
    let ended = state.store.end_user_tokens(user, state.now()).await?;
    Ok(Json(TokensEnded {
        user_id: user.0,
        ended,
    }))
}
