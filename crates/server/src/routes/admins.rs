//! Team admins (operator only): each gets a key that sees and changes only its teams. The
//! operator lists them, and revokes or rotates their keys (R-AUTH-1).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jeton_api::{AdminCreated, AdminInfo, AdminKey, KeyStatus, NewAdmin, PasswordLink, Problem};
use jeton_core::{AdminId, Email, PersonName, TeamId};
use jeton_store::admins::Admin;
use jeton_store::console::LinkOwner;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::OPERATOR_ONLY;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Malformed};
use crate::extract::{ApiJson, ApiPath};
use crate::keys::{ADMIN_PREFIX, hash_key, new_key};
use crate::password_links;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_admin, list_admins))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
        .routes(routes!(password_link))
}

fn new_admin_key() -> Result<String, ApiError> {
    new_key(ADMIN_PREFIX).map_err(|e| ApiError::NoRandomness(e.to_string()))
}

fn info(admin: &Admin) -> AdminInfo {
    AdminInfo {
        id: admin.id.0,
        email: admin.email.clone(),
        name: admin.name.clone(),
        teams: admin.teams.iter().map(|t| t.0).collect(),
        created_at: admin.created_at,
        key_status: if admin.key_revoked_at.is_some() {
            KeyStatus::Revoked
        } else {
            KeyStatus::Active
        },
        key_created_at: admin.key_created_at,
        key_revoked_at: admin.key_revoked_at,
    }
}

/// Create a team admin (operator).
///
/// The answer holds the admin's API key, shown this once, and a link for them to choose a
/// console password (also emailed to them; it works once, for 7 days).
#[utoipa::path(post, path = "/v1/admins", tag = "admins",
    request_body(content = NewAdmin, example = json!({
        "email": "alex@example.com", "name": "Alex Martin", "teams": [1, 2]})),
    responses(
        (status = 201, description = "The admin, with their key and password link", body = AdminCreated,
            example = json!({"id": 1, "email": "alex@example.com", "name": "Alex Martin",
                "teams": [1, 2],
                "api_key": "jeton_adm_21d18cf3e37be13983bc6865d8df4fa6b48b5fc9c93046aab0064dfb0ecd0853",
                "password_link": "https://jeton.example.com/password?secret=de265863169a1367d543f3f82b1040024f9a95882c976ac1e72ce1339777be26",
                "password_link_expires_at": "2026-01-12T08:00:00Z"})),
        (status = 400, description = "The email or name does not parse (`invalid_email`, \
            `invalid_name`), or `teams` is empty (`invalid_body`)", body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "A listed team does not exist (`not_found`)", body = Problem),
        (status = 409, description = "An admin has this email already (`duplicate_admin`)",
            body = Problem)),
    security(("bearer" = ["operator"])))]
async fn create_admin(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAdmin>,
) -> ApiResult<(StatusCode, Json<AdminCreated>)> {
    caller.require_operator()?;
    let email = Email::parse(&body.email)?;
    let name = PersonName::parse(&body.name)?;
    let created = create(&state, &email, &name, &body.teams).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates an admin of `teams` with a new key, and emails them a link to choose a console
/// password (also the console's Operator › Admins). The answer holds the key and the link.
pub(crate) async fn create(
    state: &AppState,
    email: &Email,
    name: &PersonName,
    teams: &[i64],
) -> ApiResult<AdminCreated> {
    if teams.is_empty() {
        return Err(ApiError::bad_request(
            Malformed::Body,
            "teams is empty: an admin manages at least one team",
        ));
    }
    let teams: Vec<TeamId> = teams.iter().copied().map(TeamId).collect();
    let key = new_admin_key()?;
    let admin = state
        .store
        .create_admin(email, name, &teams, &hash_key(&key), state.now())
        .await?;
    let (link, expires_at) = password_links::send(state, LinkOwner::Admin(admin.id)).await?;
    Ok(AdminCreated {
        id: admin.id.0,
        email: admin.email,
        name: admin.name,
        teams: admin.teams.iter().map(|t| t.0).collect(),
        api_key: key,
        password_link: link,
        password_link_expires_at: expires_at,
    })
}

/// Every team admin, with their teams and whether their key works (operator).
///
/// Never a key: keys are shown once, when made.
#[utoipa::path(get, path = "/v1/admins", tag = "admins",
    responses(
        (status = 200, description = "The admins, by id", body = Vec<AdminInfo>,
            example = json!([{"id": 1, "email": "alex@example.com", "name": "Alex Martin", "teams": [1, 2],
                "created_at": "2026-01-05T08:00:00Z", "key_status": "active",
                "key_created_at": "2026-01-05T08:00:00Z"}])),
        (status = 403, description = OPERATOR_ONLY, body = Problem)),
    security(("bearer" = ["operator"])))]
async fn list_admins(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AdminInfo>>> {
    caller.require_operator()?;
    let admins = state.store.admins().await?;
    Ok(Json(admins.iter().map(info).collect()))
}

/// Revoke an admin's key (operator, R-AUTH-1).
///
/// The key is refused (401 `key_revoked`) from the next request on, on every server; rotating
/// gives the admin a new one. Revoking a revoked key changes nothing.
#[utoipa::path(post, path = "/v1/admins/{admin}/revoke", tag = "admins", operation_id = "revoke_admin_key",
    params(("admin" = i64, Path, description = "The admin's id", example = 1)),
    responses(
        (status = 200, description = "The admin, their key revoked", body = AdminInfo,
            example = json!({"id": 1, "email": "alex@example.com", "name": "Alex Martin",
                "teams": [1, 2], "created_at": "2026-01-05T08:00:00Z", "key_status": "revoked",
                "key_created_at": "2026-01-05T08:00:00Z",
                "key_revoked_at": "2026-03-02T16:30:00Z"})),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No admin has this id (`not_found`)", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(admin): ApiPath<AdminId>,
) -> ApiResult<Json<AdminInfo>> {
    caller.require_operator()?;
    let admin = state.store.revoke_admin_key(admin, state.now()).await?;
    Ok(Json(info(&admin)))
}

/// Give an admin a new key (operator, R-AUTH-1); the old one stops working.
///
/// The new key is shown this once; the old one is refused from the next request on. A revoked
/// admin works again with the new key.
#[utoipa::path(post, path = "/v1/admins/{admin}/rotate", tag = "admins", operation_id = "rotate_admin_key",
    params(("admin" = i64, Path, description = "The admin's id", example = 1)),
    responses(
        (status = 200, description = "The admin and their new key", body = AdminKey,
            example = json!({"admin": {"id": 1, "email": "alex@example.com",
                "name": "Alex Martin", "teams": [1, 2], "created_at": "2026-01-05T08:00:00Z",
                "key_status": "active", "key_created_at": "2026-03-02T16:35:00Z"},
                "api_key": "jeton_adm_7e516eb1b2906cd80a938c50ccb4f66448ff763298e88b42d227e380bc660d4b"})),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No admin has this id (`not_found`)", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(admin): ApiPath<AdminId>,
) -> ApiResult<Json<AdminKey>> {
    caller.require_operator()?;
    let (admin, key) = rotate(&state, admin).await?;
    Ok(Json(AdminKey {
        admin: info(&admin),
        api_key: key,
    }))
}

/// Gives `admin` a new key; the old one stops working (also the console's Operator › Admins).
pub(crate) async fn rotate(state: &AppState, admin: AdminId) -> ApiResult<(Admin, String)> {
    let key = new_admin_key()?;
    let admin = state
        .store
        .rotate_admin_key(admin, &hash_key(&key), state.now())
        .await?;
    Ok((admin, key))
}

/// A new link for an admin to choose their console password (operator).
///
/// The link is emailed to the admin and answered here, to hand over another way. It works once,
/// for 7 days; earlier links stop working.
#[utoipa::path(post, path = "/v1/admins/{admin}/password-link", tag = "admins", operation_id = "create_password_link",
    params(("admin" = i64, Path, description = "The admin's id", example = 1)),
    responses(
        (status = 200, description = "The link and when it stops working", body = PasswordLink,
            example = json!({"admin_id": 1,
                "link": "https://jeton.example.com/password?secret=74ed51fd4f436ca79b6bfc550d31ee690865c04436cca0345015964a8b8f391d",
                "expires_at": "2026-01-12T08:00:00Z"})),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No admin has this id (`not_found`)", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn password_link(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(admin): ApiPath<i64>,
) -> ApiResult<Json<PasswordLink>> {
    caller.require_operator()?;
    let (link, expires_at) = password_links::send(&state, LinkOwner::Admin(AdminId(admin))).await?;
    Ok(Json(PasswordLink {
        admin_id: admin,
        link,
        expires_at,
    }))
}
