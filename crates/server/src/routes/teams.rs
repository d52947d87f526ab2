//! Teams: creating, listing, renaming, merging (R-PACK-7).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jeton_api::{Merge, MergeRequest, NewTeam, Problem, Team, TeamRename};
use jeton_core::{TeamId, TeamName};
use jeton_store::teams::Team as StoreTeam;
use jeton_store::transfers::MergeRecord;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_team, list_teams))
        .routes(routes!(get_team, rename_team))
        .routes(routes!(merge_team))
}

/// Create a team. An admin who creates a team manages it.
#[utoipa::path(post, path = "/v1/teams", tag = "teams", request_body = NewTeam,
    responses((status = 201, body = Team), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, description = "refused to user tokens", body = Problem)),
    security(("bearer" = [])))]
async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    let team = create(&state, &caller, &body.name).await?;
    Ok((StatusCode::CREATED, Json(wire::team(&team))))
}

/// Creates a team named `name` (also the console's Operator › All teams).
pub(crate) async fn create(state: &AppState, caller: &Caller, name: &str) -> ApiResult<StoreTeam> {
    let creator = caller.admin_id()?;
    let name = TeamName::parse(name)?;
    Ok(state.store.create_team(&name, creator, state.now()).await?)
}

/// The teams the caller manages (all of them for the operator), closed ones included.
#[utoipa::path(get, path = "/v1/teams", tag = "teams",
    responses((status = 200, body = Vec<Team>), (status = 401, body = Problem),
              (status = 403, description = "refused to user tokens", body = Problem)),
    security(("bearer" = [])))]
async fn list_teams(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Team>>> {
    let admin = caller.admin_id()?;
    let teams = state.store.list_teams(admin).await?;
    Ok(Json(teams.iter().map(wire::team).collect()))
}

#[utoipa::path(get, path = "/v1/teams/{team}", tag = "teams",
    params(("team" = i64, Path)),
    responses((status = 200, body = Team),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn get_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Team>> {
    caller.require_team(team)?;
    Ok(Json(wire::team(&state.store.team(team).await?)))
}

/// Rename a team (the operator, or an admin of the team). The name is checked as on creation;
/// names need not be unique. A closed team keeps its name: 422 `team_closed`.
#[utoipa::path(patch, path = "/v1/teams/{team}", tag = "teams", request_body = TeamRename,
    params(("team" = i64, Path)),
    responses((status = 200, body = Team),
              (status = 400, description = "invalid_name", body = Problem),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem),
              (status = 422, description = "team_closed", body = Problem)),
    security(("bearer" = [])))]
async fn rename_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<i64>,
    ApiJson(body): ApiJson<TeamRename>,
) -> ApiResult<Json<Team>> {
    let team = rename(&state, &caller, TeamId(team), &body.name).await?;
    Ok(Json(wire::team(&team)))
}

/// Renames `team` (also the console's team page).
pub(crate) async fn rename(
    state: &AppState,
    caller: &Caller,
    team: TeamId,
    name: &str,
) -> ApiResult<StoreTeam> {
    caller.require_team(team)?;
    Ok(state
        .store
        .rename_team(team, &TeamName::parse(name)?)
        .await?)
}

/// Merge this team into another (R-PACK-7): its packs, with their expiry, and its history go to
/// `into_team`; this team is closed. The caller must manage both.
#[utoipa::path(post, path = "/v1/teams/{team}/merge", tag = "teams", request_body = MergeRequest,
    params(("team" = i64, Path, description = "the team that is merged and closed")),
    responses((status = 200, body = Merge),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem),
              (status = 422, description = "team_closed, same_team", body = Problem)),
    security(("bearer" = [])))]
async fn merge_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<MergeRequest>,
) -> ApiResult<Json<Merge>> {
    let merge = merge(&state, &caller, team, TeamId(body.into_team)).await?;
    Ok(Json(wire::merge(&merge)))
}

/// Merges `from` into `into` (also the console's team page).
pub(crate) async fn merge(
    state: &AppState,
    caller: &Caller,
    from: TeamId,
    into: TeamId,
) -> ApiResult<MergeRecord> {
    caller.require_team(from)?;
    caller.require_team(into)?;
    let merge = state
        .store
        .merge_teams(from, into, caller.actor(), state.now())
        .await?;
    for p in &merge.packs {
        state.metrics.count_tokens("merged", p.tokens.get());
    }
    Ok(merge)
}
