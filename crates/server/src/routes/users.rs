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
use super::{OPERATOR_ONLY, PASSWORDS_BUSY};
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

/// Create an account with a password (operator): no invitation, no email.
///
/// For service users, single sign-on bridges and simulations; people are normally invited
/// (`POST /v1/teams/{team}/flex/users`).
#[utoipa::path(post, path = "/v1/users", tag = "people",
    request_body(content = NewUser, example = json!({
        "email": "render-farm@example.com", "name": "Render Farm",
        "password": "a-long-passphrase"})),
    responses(
        (status = 201, description = "The account; it signs in with its password", body = UserAccount,
            example = json!({"user_id": 12, "email": "render-farm@example.com",
                             "name": "Render Farm", "created_at": "2026-01-05T08:00:00Z"})),
        (status = 400, description = "The email, name or password does not parse \
            (`invalid_email`, `invalid_name`, `invalid_password`)", body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 409, description = "An account has this email already (`duplicate_user`)",
            body = Problem),
        (status = 503, description = PASSWORDS_BUSY, body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))),
    security(("bearer" = ["operator"])))]
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

/// The answers to a new subscription or trial that does not parse, or names no product.
const WINDOW_REFUSED: &str = "The product key does not parse (`invalid_product_key`), or \
    `ends_at` is not after `starts_at` (`invalid_range`)";
const UNKNOWN_PRODUCT: &str = "The product is not in the catalogue (`unknown_product`)";

/// Give a user a single-user subscription to a product (operator, R-PRI-1).
///
/// While it runs, this identity never pays tokens for the product, on any team.
#[utoipa::path(post, path = "/v1/users/{user}/subscriptions", tag = "people",
    request_body(content = NewEntitlement, example = json!({
        "product": "autocad", "starts_at": "2026-02-01T00:00:00Z",
        "ends_at": "2027-02-01T00:00:00Z"})),
    params(("user" = i64, Path, description = "The user's id", example = 7)),
    responses(
        (status = 201, description = "The subscription", body = Entitlement,
            example = json!({"id": 2, "user_id": 7, "product": "autocad", "kind": "subscription",
                "starts_at": "2026-02-01T00:00:00Z", "ends_at": "2027-02-01T00:00:00Z",
                "created_at": "2026-01-20T11:00:00Z"})),
        (status = 400, description = WINDOW_REFUSED, body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No user has this id (`not_found`)", body = Problem),
        (status = 422, description = UNKNOWN_PRODUCT, body = Problem)),
    security(("bearer" = ["operator"])))]
async fn add_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<UserId>,
    ApiJson(body): ApiJson<NewEntitlement>,
) -> ApiResult<(StatusCode, Json<Entitlement>)> {
    add(&state, &caller, user, &body, AccessKind::Subscription).await
}

/// Give a user a trial of a product (operator, R-PRI-2).
///
/// No tokens are charged while it runs; the first sign-in after it ends pays.
#[utoipa::path(post, path = "/v1/users/{user}/trials", tag = "people",
    request_body(content = NewEntitlement, example = json!({
        "product": "revit", "starts_at": "2026-02-01T00:00:00Z",
        "ends_at": "2026-03-01T00:00:00Z"})),
    params(("user" = i64, Path, description = "The user's id", example = 7)),
    responses(
        (status = 201, description = "The trial", body = Entitlement,
            example = json!({"id": 3, "user_id": 7, "product": "revit", "kind": "trial",
                "starts_at": "2026-02-01T00:00:00Z", "ends_at": "2026-03-01T00:00:00Z",
                "created_at": "2026-01-20T11:00:00Z"})),
        (status = 400, description = WINDOW_REFUSED, body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No user has this id (`not_found`)", body = Problem),
        (status = 422, description = UNKNOWN_PRODUCT, body = Problem)),
    security(("bearer" = ["operator"])))]
async fn add_trial(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<UserId>,
    ApiJson(body): ApiJson<NewEntitlement>,
) -> ApiResult<(StatusCode, Json<Entitlement>)> {
    add(&state, &caller, user, &body, AccessKind::Trial).await
}

/// A user's subscriptions and trials, past and present (operator).
#[utoipa::path(get, path = "/v1/users/{user}/entitlements", tag = "people",
    params(("user" = i64, Path, description = "The user's id", example = 7)),
    responses(
        (status = 200, description = "The user's subscriptions and trials", body = Vec<Entitlement>,
            example = json!([{"id": 2, "user_id": 7, "product": "autocad", "kind": "subscription",
                "starts_at": "2026-02-01T00:00:00Z", "ends_at": "2027-02-01T00:00:00Z",
                "created_at": "2026-01-20T11:00:00Z"}])),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No user has this id (`not_found`)", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn list_entitlements(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<UserId>,
) -> ApiResult<Json<Vec<Entitlement>>> {
    caller.require_operator()?;
    let list = state.store.entitlements(user).await?;
    Ok(Json(list.iter().map(wire).collect()))
}

/// Sign a user out everywhere (operator, R-AUTH-1).
///
/// Every token of theirs answers 401 from now on, on every server; they sign in again with
/// their password.
#[utoipa::path(post, path = "/v1/users/{user}/sign-out-everywhere", tag = "people",
    operation_id = "sign_out_user_everywhere",
    params(("user" = i64, Path, description = "The user's id", example = 7)),
    responses(
        (status = 200, description = "How many tokens were ended", body = TokensEnded,
            example = json!({"user_id": 7, "ended": 2})),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No user has this id (`not_found`)", body = Problem)),
    security(("bearer" = ["operator"])))]
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
