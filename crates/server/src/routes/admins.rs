//! Team admins (operator only): each gets a key that sees and changes only its teams.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jeton_api::{AdminCreated, NewAdmin, Problem};
use jeton_core::{Email, PersonName, TeamId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::keys::{ADMIN_PREFIX, hash_key, new_key};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_admin))
}

/// Create a team admin (operator). The answer holds the admin's API key, shown this once.
#[utoipa::path(post, path = "/v1/admins", tag = "admins", request_body = NewAdmin,
    responses((status = 201, body = AdminCreated), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, description = "a listed team does not exist", body = Problem),
              (status = 409, description = "duplicate_admin", body = Problem)),
    security(("bearer" = [])))]
async fn create_admin(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewAdmin>,
) -> ApiResult<(StatusCode, Json<AdminCreated>)> {
    caller.require_operator()?;
    let email = Email::parse(&body.email)?;
    let name = PersonName::parse(&body.name)?;
    if body.teams.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "teams is empty: an admin manages at least one team",
        ));
    }
    let teams: Vec<TeamId> = body.teams.iter().copied().map(TeamId).collect();
    let key = new_key(ADMIN_PREFIX).map_err(|e| ApiError::Status {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "no_randomness",
        detail: e.to_string(),
    })?;
    let admin = state
        .store
        .create_admin(&email, &name, &teams, &hash_key(&key), state.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AdminCreated {
            id: admin.id.0,
            email: admin.email,
            name: admin.name,
            teams: admin.teams.iter().map(|t| t.0).collect(),
            api_key: key,
        }),
    ))
}
