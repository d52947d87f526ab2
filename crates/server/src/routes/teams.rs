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

use super::{NO_SUCH_TEAM, REFUSED_TO_USERS, wire};
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

/// Create a team (operator and team admins).
///
/// An admin who creates a team manages it from then on.
#[utoipa::path(post, path = "/v1/teams", tag = "teams",
    request_body(content = NewTeam, example = json!({"name": "Design"})),
    responses(
        (status = 201, description = "The new team, open and without tokens", body = Team,
            example = json!({"id": 1, "name": "Design", "status": "open", "created_at": "2026-01-05T08:00:00Z"})),
        (status = 400, description = "The name does not parse (`invalid_name`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
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

/// The teams the caller manages (all of them for the operator).
///
/// Closed teams (merged into another) are listed too, with `closed_at` and `merged_into`.
#[utoipa::path(get, path = "/v1/teams", tag = "teams",
    responses(
        (status = 200, description = "The caller's teams, by id", body = Vec<Team>,
            example = json!([{"id": 1, "name": "Design", "status": "open", "created_at": "2026-01-05T08:00:00Z"},
                {"id": 2, "name": "Old office", "status": "closed",
                 "created_at": "2026-01-05T08:00:00Z", "closed_at": "2026-03-01T10:00:00Z",
                 "merged_into": 1}])),
        (status = 403, description = REFUSED_TO_USERS, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn list_teams(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Team>>> {
    let admin = caller.admin_id()?;
    let teams = state.store.list_teams(admin).await?;
    Ok(Json(teams.iter().map(wire::team).collect()))
}

/// One team (the operator, or an admin of the team).
#[utoipa::path(get, path = "/v1/teams/{team}", tag = "teams",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The team", body = Team, example = json!({"id": 1, "name": "Design", "status": "open", "created_at": "2026-01-05T08:00:00Z"})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn get_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Team>> {
    caller.require_team(team)?;
    Ok(Json(wire::team(&state.store.team(team).await?)))
}

/// Rename a team (the operator, or an admin of the team).
///
/// The name is checked as on creation; names need not be unique. A closed team keeps its name.
#[utoipa::path(patch, path = "/v1/teams/{team}", tag = "teams",
    request_body(content = TeamRename, example = json!({"name": "Design and build"})),
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The team with its new name", body = Team,
            example = json!({"id": 1, "name": "Design and build", "status": "open",
                             "created_at": "2026-01-05T08:00:00Z"})),
        (status = 400, description = "The name does not parse (`invalid_name`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem),
        (status = 422, description = "The team is closed (`team_closed`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
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

/// Merge this team into another (R-PACK-7); the caller must manage both.
///
/// The team's packs, with their expiry, and its history go to `into_team`; this team is closed
/// and answers `team_closed` to changes from then on.
#[utoipa::path(post, path = "/v1/teams/{team}/merge", tag = "teams",
    request_body(content = MergeRequest, example = json!({"into_team": 1})),
    params(("team" = i64, Path, description = "The team that is merged and closed", example = 2)),
    responses(
        (status = 200, description = "What moved: each pack of the closed team and the pack it \
            became in `into_team`", body = Merge,
            example = json!({"from_team": 2, "into_team": 1, "tokens": 400,
                "at": "2026-03-01T10:00:00Z",
                "packs": [{"from_pack": 5, "to_pack": 9, "tokens": 400,
                           "expires_at": "2027-01-20T09:00:00Z"}]})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No such team, or one of the two is not the caller's \
            (`not_found`)", body = Problem),
        (status = 422, description = "One of the teams is closed (`team_closed`), or they are \
            the same team (`same_team`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
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
