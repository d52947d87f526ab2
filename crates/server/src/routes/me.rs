//! Signing in and out, and what a signed-in user sees: themselves and their downloads (R-ACC-4).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use jeton_api::{Me, MyProduct, MyTeam, Problem, TokenRequest, TokensEnded, UserToken};
use jeton_core::Email;
use jeton_core::session::preferred_access;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{PASSWORDS_BUSY, USERS_ONLY, wire};
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

/// Sign a user in with email and password: a user token, valid 30 days.
///
/// The token authenticates product clients (`POST /v1/sessions`) and `/v1/me`. An address gets
/// 10 attempts in 15 minutes; after that, 429 with `Retry-After` for 15 minutes.
#[utoipa::path(post, path = "/v1/auth/token", tag = "people", operation_id = "create_user_token",
    request_body(content = TokenRequest, example = json!({
        "email": "sam@example.com", "password": "a-long-passphrase"})),
    responses(
        (status = 200, description = "The user token and when it stops working", body = UserToken,
            example = json!({
                "token": "jeton_usr_de265863169a1367d543f3f82b1040024f9a95882c976ac1e72ce1339777be26",
                "user_id": 7, "expires_at": "2026-02-04T08:00:00Z"})),
        (status = 400, description = "The email does not parse (`invalid_email`)", body = Problem),
        (status = 401, description = "No account has this email and password \
            (`invalid_credentials`)", body = Problem),
        (status = 429, description = "Too many attempts for this address: try again after \
            `Retry-After` seconds (`too_many_sign_in_attempts`)", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds until the address may try again"))),
        (status = 503, description = PASSWORDS_BUSY, body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))))]
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

/// Sign out here: end the user token this request carries (R-AUTH-1).
///
/// The token answers 401 from now on; the user's other tokens keep working.
#[utoipa::path(post, path = "/v1/me/sign-out", tag = "people", operation_id = "sign_out_me",
    responses(
        (status = 204, description = "The token is ended"),
        (status = 403, description = USERS_ONLY, body = Problem,
            example = json!({"type": "urn:jeton:problem:forbidden", "title": "Forbidden",
                "status": 403, "code": "forbidden",
                "detail": "this needs a user token (POST /v1/auth/token), not an operator or admin key"}))),
    security(("bearer" = ["user"])))]
async fn sign_out(
    State(state): State<AppState>,
    caller: Caller,
    CurrentKeyHash(hash): CurrentKeyHash,
) -> ApiResult<StatusCode> {
    caller.require_user()?;
    state.store.end_user_token(&hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out everywhere: end every token of this user, this one included (R-AUTH-1).
///
/// Each token answers 401 from now on, on every server. Product sessions opened with them stop
/// at their next heartbeat; offline leases already given stay valid until they run out.
#[utoipa::path(post, path = "/v1/me/sign-out-everywhere", tag = "people",
    operation_id = "sign_out_me_everywhere",
    responses(
        (status = 200, description = "How many tokens were ended", body = TokensEnded,
            example = json!({"user_id": 7, "ended": 3})),
        (status = 403, description = USERS_ONLY, body = Problem)),
    security(("bearer" = ["user"])))]
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
#[utoipa::path(get, path = "/v1/me", tag = "people", operation_id = "get_me",
    responses(
        (status = 200, description = "The token's user", body = Me,
            example = json!({"user_id": 7, "email": "sam@example.com", "name": "Sam Lee",
                             "teams": [{"id": 1, "name": "Design"}]})),
        (status = 403, description = USERS_ONLY, body = Problem)),
    security(("bearer" = ["user"])))]
async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let user = caller.require_user()?;
    let teams = state.store.flex_teams_named(user.id).await?;
    Ok(Json(Me {
        user_id: user.id.0,
        email: user.email.clone(),
        name: user.name.clone(),
        teams: teams
            .into_iter()
            .map(|(id, name)| MyTeam { id: id.0, name })
            .collect(),
    }))
}

/// The products this user may open, how, and their installers (R-ACC-4).
///
/// The downloads view: products open to the user through Flex on a team, a subscription or a
/// trial.
#[utoipa::path(get, path = "/v1/me/products", tag = "people", operation_id = "list_my_products",
    responses(
        (status = 200, description = "The user's products, by key", body = Vec<MyProduct>,
            example = json!([{"key": "autocad", "name": "AutoCAD", "access": "flex",
                "teams": [1],
                "items": [{"version": "2027", "platform": "windows",
                           "url": "https://downloads.example.com/autocad-2027.exe"}]}])),
        (status = 403, description = USERS_ONLY, body = Problem)),
    security(("bearer" = ["user"])))]
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
