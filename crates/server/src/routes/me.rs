//! Signing in and out, and what a signed-in user sees: themselves and their downloads (R-ACC-4).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use jeton_api::{Me, MyProduct, Problem, TokenRequest, TokensEnded, UserToken};
use jeton_core::Email;
use jeton_core::session::preferred_access;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire;
use crate::auth::{Caller, CurrentKeyHash};
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::keys::{USER_PREFIX, hash_key, new_key};
use crate::state::AppState;

/// How long a user token stays valid.
const TOKEN_DAYS: i64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(me))
        .routes(routes!(my_products))
        .routes(routes!(sign_out))
        .routes(routes!(sign_out_everywhere))
}

/// Sign in with email and password; the token authenticates product clients and `/v1/me`.
/// An address gets 10 attempts in 15 minutes; after that, 429 with `Retry-After` for 15 minutes
/// (`jeton_core::sign_in`).
#[utoipa::path(post, path = "/v1/auth/token", tag = "people", request_body = TokenRequest,
    responses((status = 200, body = UserToken), (status = 400, body = Problem),
              (status = 401, description = "invalid_credentials", body = Problem),
              (status = 429, description = "too_many_sign_in_attempts", body = Problem)))]
async fn sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TokenRequest>,
) -> ApiResult<Json<UserToken>> {
    let email = Email::parse(&body.email)?;
    let now = state.now();
    let user = crate::sign_in::check(&state, &email, &body.password, async || {
        state.store.credentials(&email).await
    })
    .await?;
    let token = new_key(USER_PREFIX)?;
    let expires_at = now + Duration::days(TOKEN_DAYS);
    state
        .store
        .create_user_token(user.id, &hash_key(&token), now, expires_at)
        .await?;
    Ok(Json(UserToken {
        token,
        user_id: user.id.0,
        expires_at,
    }))
}

/// R-AUTH-1: sign out here: ends the user token this request carries (it answers 401 from now
/// on); the user's other tokens keep working.
#[utoipa::path(post, path = "/v1/me/sign-out", tag = "people",
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn sign_out(
    State(state): State<AppState>,
    caller: Caller,
    CurrentKeyHash(hash): CurrentKeyHash,
) -> ApiResult<StatusCode> {
    caller.require_user()?;
    state.store.end_user_token(&hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// R-AUTH-1: sign out everywhere: ends every token of this user, this one included; each answers
/// 401 from now on, on every server. Product sessions opened with them stop at their next
/// heartbeat; offline leases already given stay valid until they run out.
#[utoipa::path(post, path = "/v1/me/sign-out-everywhere", tag = "people",
    responses((status = 200, body = TokensEnded), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<TokensEnded>> {
    let user = caller.require_user()?;
    let ended = state.store.end_user_tokens(user.id, state.now()).await?;
    Ok(Json(TokensEnded {
        user_id: user.id.0,
        ended,
    }))
}

/// Who this user token belongs to.
#[utoipa::path(get, path = "/v1/me", tag = "people",
    responses((status = 200, body = Me), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn me(caller: Caller) -> ApiResult<Json<Me>> {
    let user = caller.require_user()?;
    Ok(Json(Me {
        user_id: user.id.0,
        email: user.email.clone(),
        name: user.name.clone(),
    }))
}

/// R-ACC-4, the downloads view: the products this user may open (through Flex, a subscription or
/// a trial), how, and their installers.
#[utoipa::path(get, path = "/v1/me/products", tag = "people",
    responses((status = 200, body = Vec<MyProduct>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn my_products(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<MyProduct>>> {
    let user = caller.require_user()?;
    Ok(Json(products_of(&state, user.id).await?))
}

/// What [`my_products`] answers, for the portal too.
pub(crate) async fn products_of(
    state: &AppState,
    user: jeton_core::UserId,
) -> ApiResult<Vec<MyProduct>> {
    let flex = state.store.flex_products_of(user).await?;
    let entitled = state.store.entitled_products(user, state.now()).await?;
    let catalogue = state.store.list_products().await?;
    let best = |key: &jeton_core::ProductKey| {
        let held = |k| entitled.iter().any(|(p, kind)| p == key && *kind == k);
        preferred_access(held, flex.contains_key(key)).map(wire::access)
    };
    let mine = catalogue
        .into_iter()
        .filter_map(|p| {
            let access = best(&p.key)?;
            Some(MyProduct {
                key: p.key.to_string(),
                name: p.name,
                access,
                teams: flex
                    .get(&p.key)
                    .map(|t| t.iter().map(|t| t.0).collect())
                    .unwrap_or_default(),
                items: p.items.iter().map(wire::item).collect(),
            })
        })
        .collect();
    Ok(mine)
}
