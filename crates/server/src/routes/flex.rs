//! Flex users of a team: assigning and inviting (R-USR-1/2/4), product access (R-ACC-1..3),
//! unassigning (R-USR-6), CSV imports (R-USR-5: queued here, applied by `crate::imports`).

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use jeton_api::{
    AssignRequest, Assignment, BatchAssignRequest, BatchEntry, Defaults, EntryError, FlexUser,
    ImportDetail, ImportJob, ImportOutcomesQuery, ImportQuery, ImportsQuery, Problem, SetDefaults,
    SetProducts,
};
use jeton_core::import::{MAX_FIRST_LINE, MAX_IMPORT_LINES, parse_csv};
use jeton_core::invitee::{MAX_ENTRIES, split_entries};
use jeton_core::limits::{MAX_IMPORT_OUTCOMES_PER_PAGE, MAX_LIST_PAGE};
use jeton_core::{
    DomainError, Email, ImportId, Invitee, ProductAccess, ProductKey, TeamId, UserId,
};
use jeton_store::flex::{Assigned, IdScope, Secret, Who};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{NO_SUCH_TEAM, REFUSED_TO_USERS, wire};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Malformed};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::keys::new_secret;
use crate::state::AppState;

/// Largest CSV import body; clients send larger files in parts. (10 MiB holds 100,000 lines of
/// about 100 bytes, `MAX_IMPORT_LINES`.)
pub(crate) const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(assign, list_users))
        .routes(routes!(assign_batch))
        .routes(routes!(unassign))
        .routes(routes!(set_products))
        .routes(routes!(get_defaults, set_defaults))
        .routes(routes!(list_imports))
        .routes(routes!(import_status))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import))
                .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
}

fn secret() -> Result<Secret, ApiError> {
    Ok(new_secret()?)
}

pub(crate) fn product_keys(keys: &[String]) -> Result<BTreeSet<ProductKey>, ApiError> {
    keys.iter()
        .map(|k| ProductKey::parse(k).map_err(ApiError::from))
        .collect()
}

/// `{"all": true}` or `{"products": [...]}`; neither leaves the selection unset.
fn selection(
    all: Option<bool>,
    products: Option<&Vec<String>>,
) -> Result<Option<ProductAccess>, ApiError> {
    match (all, products) {
        (Some(true), Some(_)) => Err(DomainError::InvalidSelection {
            detail: "send either \"all\": true or \"products\": [...], not both".into(),
        }
        .into()),
        (Some(true), None) => Ok(Some(ProductAccess::All)),
        (_, Some(keys)) => Ok(Some(ProductAccess::Selected(product_keys(keys)?))),
        (_, None) => Ok(None),
    }
}

fn assignment(a: &Assigned) -> Assignment {
    Assignment {
        user_id: a.user.id.0,
        email: a.user.email.clone(),
        name: a.user.name.clone(),
        status: wire::assignment_status(a.status),
        invitation_id: a.invitation_id.map(|i| i.0),
    }
}

/// An entry of a batch: `Full Name <email>` invites; a bare email or a user id names an existing
/// person.
pub(crate) fn who(entry: &str) -> Result<Who, ApiError> {
    if entry.contains('<') {
        return Ok(Who::Invite(Invitee::parse(entry)?));
    }
    if let Ok(id) = entry.parse::<i64>() {
        return Ok(Who::UserId(UserId(id)));
    }
    match Email::parse(entry) {
        Ok(email) => Ok(Who::Email(email)),
        // Neither form: say what an invitation looks like.
        Err(_) => Err(Invitee::parse(entry).err().map_or_else(
            || {
                ApiError::from(DomainError::InvalidInvitee {
                    detail: "expected Full Name <name@example.com>".into(),
                })
            },
            ApiError::from,
        )),
    }
}

pub(crate) async fn do_assign(
    state: &AppState,
    team: TeamId,
    who: &Who,
    scope: IdScope,
    selection: Option<&ProductAccess>,
) -> Result<Assigned, ApiError> {
    let compose = |facts: &jeton_store::flex::MailFacts| state.compose_mail(facts);
    let assigned = state
        .store
        .assign(
            team,
            who,
            scope,
            selection,
            &secret()?,
            &compose,
            state.now(),
        )
        .await?;
    state.mail_queued();
    Ok(assigned)
}

/// Assign a person to the team's Flex, or invite them (R-USR-1/2).
///
/// Send exactly one of `user_id` or `email` (an existing person) or `invite`
/// (`"Full Name <email>"`, a new one), and optionally the products they may open. A person with
/// an account becomes active and gets an "access granted" email naming the products; anyone
/// else is invited: an email with a link valid 7 days. A team admin may give the `user_id` only
/// of someone assigned (now or once) or invited on one of their teams; any other id is 404
/// exactly like an id nobody has (R-AUTH-4).
#[utoipa::path(post, path = "/v1/teams/{team}/flex/users", tag = "people", operation_id = "assign_user",
    request_body(content = AssignRequest, example = json!({
        "invite": "Sam Lee <sam@example.com>", "products": ["autocad"]})),
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 201, description = "The assignment: `active` for a person with an account, \
            `invited` (with the invitation's id) for anyone else", body = Assignment,
            example = json!({"user_id": 7, "email": "sam@example.com", "name": "Sam Lee",
                             "status": "invited", "invitation_id": 4})),
        (status = 400, description = "The invitee or email does not parse \
            (`invalid_invitee`, `invalid_email`), a product key does not parse \
            (`invalid_product_key`), both `all` and `products` are sent (`invalid_selection`), \
            or not exactly one of `invite`, `user_id` and `email` (`invalid_body`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No such team, or not one of the caller's; or no such \
            user, or not one the caller may name (`not_found`)", body = Problem),
        (status = 409, description = "The person is assigned already (`already_assigned`) or \
            invited already (`already_invited`)", body = Problem),
        (status = 422, description = "The team is closed (`team_closed`), or a product is not \
            in the catalogue (`unknown_product`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> ApiResult<(StatusCode, Json<Assignment>)> {
    caller.require_team(team)?;
    let who = match (&body.invite, body.user_id, &body.email) {
        (Some(invite), None, None) => {
            if split_entries(invite).len() > 1 {
                return Err(DomainError::InvalidInvitee {
                    detail: "one person per request here; send several to /v1/teams/{team}/flex/users/batch".into(),
                }
                .into());
            }
            Who::Invite(Invitee::parse(invite)?)
        }
        (None, Some(id), None) => Who::UserId(UserId(id)),
        (None, None, Some(email)) => Who::Email(Email::parse(email)?),
        _ => {
            return Err(ApiError::bad_request(
                Malformed::Body,
                "send exactly one of \"invite\" (Full Name <email>), \"user_id\" or \"email\"",
            ));
        }
    };
    let selection = selection(body.all, body.products.as_ref())?;
    let assigned = do_assign(&state, team, &who, caller.id_scope()?, selection.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(assignment(&assigned))))
}

/// Assign or invite several people at once (R-USR-2).
///
/// One entry per line or comma-separated: `Full Name <email>` invites, a bare email or a user id
/// names an existing person (ids follow the rule of the single form). Each entry gets its own
/// result, and a bad entry does not stop the others.
#[utoipa::path(post, path = "/v1/teams/{team}/flex/users/batch", tag = "people", operation_id = "assign_users",
    request_body(content = BatchAssignRequest, example = json!({
        "entries": "Sam Lee <sam@example.com>\nkim@", "all": true})),
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "One result per entry, in order: an assignment or an error",
            body = Vec<BatchEntry>,
            example = json!([
                {"entry": "Sam Lee <sam@example.com>",
                 "assignment": {"user_id": 7, "email": "sam@example.com", "name": "Sam Lee",
                                "status": "invited", "invitation_id": 4}},
                {"entry": "kim@",
                 "error": {"code": "invalid_invitee",
                           "detail": "expected Full Name <name@example.com>"}}])),
        (status = 400, description = "No entries or too many (`invalid_invitee`), a product key \
            does not parse (`invalid_product_key`), or both `all` and `products` are sent \
            (`invalid_selection`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn assign_batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<BatchAssignRequest>,
) -> ApiResult<Json<Vec<BatchEntry>>> {
    caller.require_team(team)?;
    state.store.team(team).await?;
    let entries = split_entries(&body.entries);
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(DomainError::InvalidInvitee {
            detail: format!("send 1 to {MAX_ENTRIES} entries, one per line or comma-separated, each Full Name <email>"),
        }
        .into());
    }
    let selection = selection(body.all, body.products.as_ref())?;
    let scope = caller.id_scope()?;
    let mut results = Vec::with_capacity(entries.len());
    for entry in entries {
        let outcome = match who(&entry) {
            Ok(who) => do_assign(&state, team, &who, scope, selection.as_ref()).await,
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(a) => BatchEntry {
                entry,
                assignment: Some(assignment(&a)),
                error: None,
            },
            Err(e) => {
                let (status, code, detail) = e.parts();
                if status.is_server_error() {
                    return Err(e);
                }
                BatchEntry {
                    entry,
                    assignment: None,
                    error: Some(EntryError {
                        code: code.as_str().to_owned(),
                        detail,
                    }),
                }
            }
        });
    }
    Ok(Json(results))
}

/// The team's Flex users: status, own selection and effective products.
///
/// `products` is the user's own selection (`"all"` or a list); `effective_products` what they
/// may open now, the team's defaults applied.
#[utoipa::path(get, path = "/v1/teams/{team}/flex/users", tag = "people", operation_id = "list_flex_users",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The assigned and invited users", body = Vec<FlexUser>,
            example = json!([{"user_id": 7, "email": "sam@example.com", "name": "Sam Lee",
                "status": "active", "assigned_at": "2026-01-06T10:00:00Z",
                "products": ["autocad"], "effective_products": ["autocad"]}])),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Vec<FlexUser>>> {
    caller.require_team(team)?;
    let users = state.store.flex_users(team).await?;
    Ok(Json(users.iter().map(wire::flex_user).collect()))
}

/// Unassign a user from the team's Flex (R-USR-6).
///
/// New sessions are refused at once and open invitations stop working; the history stays.
#[utoipa::path(delete, path = "/v1/teams/{team}/flex/users/{user}", tag = "people", operation_id = "unassign_user",
    params(("team" = i64, Path, description = "The team's id", example = 1),
           ("user" = i64, Path, description = "The user's id", example = 7)),
    responses(
        (status = 204, description = "Unassigned"),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No such team, or not one of the caller's; or the user is \
            not assigned to it (`not_found`)", body = Problem,
            example = json!({"type": "urn:jeton:problem:not_found", "title": "Not Found",
                "status": 404, "detail": "flex user 7 on team 1 not found", "code": "not_found"}))),
    security(("bearer" = ["operator", "team_admin"])))]
async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((team, user)): ApiPath<(TeamId, UserId)>,
) -> ApiResult<StatusCode> {
    caller.require_team(team)?;
    state.store.unassign(team, user, state.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Choose the products a Flex user may open (R-ACC-1/2).
///
/// `{"all": true}` (kept as "all": products added to the catalogue later are included) or
/// `{"products": [keys]}` (`[]` takes every product away). Adding products sends the user an
/// email naming them.
#[utoipa::path(put, path = "/v1/teams/{team}/flex/users/{user}/products", tag = "people", operation_id = "set_user_products",
    request_body(content = SetProducts, example = json!({"products": ["autocad", "revit"]})),
    params(("team" = i64, Path, description = "The team's id", example = 1),
           ("user" = i64, Path, description = "The user's id", example = 7)),
    responses(
        (status = 200, description = "The user with their new selection", body = FlexUser,
            example = json!({"user_id": 7, "email": "sam@example.com", "name": "Sam Lee",
                "status": "active", "assigned_at": "2026-01-06T10:00:00Z",
                "products": ["autocad", "revit"], "effective_products": ["autocad", "revit"]})),
        (status = 400, description = "Neither `all` nor `products`, or both \
            (`invalid_selection`), or a product key does not parse (`invalid_product_key`)",
            body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No such team, or not one of the caller's; or the user is \
            not assigned to it (`not_found`)", body = Problem),
        (status = 422, description = "The team is closed (`team_closed`), or a product is not \
            in the catalogue (`unknown_product`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn set_products(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((team, user)): ApiPath<(TeamId, UserId)>,
    ApiJson(body): ApiJson<SetProducts>,
) -> ApiResult<Json<FlexUser>> {
    caller.require_team(team)?;
    if body.all == Some(false) && body.products.is_none() {
        return Err(DomainError::InvalidSelection {
            detail: "to take away all products send {\"products\": []}".into(),
        }
        .into());
    }
    let access = selection(body.all, body.products.as_ref())?.ok_or_else(|| {
        DomainError::InvalidSelection {
            detail: "send {\"all\": true} or {\"products\": [keys]}".into(),
        }
    })?;
    let compose = |facts: &jeton_store::flex::MailFacts| state.compose_mail(facts);
    let updated = state
        .store
        .set_products(team, user, &access, &compose, state.now())
        .await?;
    state.mail_queued();
    Ok(Json(wire::flex_user(&updated)))
}

/// The team's default assignments (R-ACC-3).
///
/// `enabled` is false when the list is empty: each user's own selection applies.
#[utoipa::path(get, path = "/v1/teams/{team}/flex/defaults", tag = "people", operation_id = "get_defaults",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The default products", body = Defaults,
            example = json!({"team_id": 1, "enabled": true, "products": ["autocad"]})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn get_defaults(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Defaults>> {
    caller.require_team(team)?;
    let keys = state.store.defaults(team).await?;
    Ok(Json(wire::defaults(team, &keys)))
}

/// Set the team's default assignments (R-ACC-3).
///
/// While the list is not empty every Flex user of the team gets exactly these products;
/// products added to the catalogue later are not added; no email is sent. An empty list turns
/// defaults off and per-user selections apply again.
#[utoipa::path(put, path = "/v1/teams/{team}/flex/defaults", tag = "people", operation_id = "set_defaults",
    request_body(content = SetDefaults, example = json!({"products": ["autocad"]})),
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The defaults as they are now", body = Defaults,
            example = json!({"team_id": 1, "enabled": true, "products": ["autocad"]})),
        (status = 400, description = "A product key does not parse (`invalid_product_key`)",
            body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem),
        (status = 422, description = "The team is closed (`team_closed`), or a product is not \
            in the catalogue (`unknown_product`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn set_defaults(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<SetDefaults>,
) -> ApiResult<Json<Defaults>> {
    caller.require_team(team)?;
    let keys = state
        .store
        .set_defaults(team, &product_keys(&body.products)?)
        .await?;
    Ok(Json(wire::defaults(team, &keys)))
}

/// Import Flex users from a CSV file (R-USR-5), applied in the background.
///
/// Lines are `name,email[,products]`, products `a;b` or `*`; a header line is allowed. The file
/// is stored as an import and answered at once with `202 Accepted` and its `Location`; a worker
/// applies it in chunks. Each line is checked alone: good lines are applied, bad ones get their
/// line number and reason in the import's outcomes (`GET …/flex/imports/{id}`). Importing the
/// same file again changes nothing. No email is sent.
///
/// At most 100,000 lines and 10 MiB per request; larger files are sent in parts with
/// `first_line`.
#[utoipa::path(post, path = "/v1/teams/{team}/flex/import", tag = "people", operation_id = "import_users",
    request_body(content = String, content_type = "text/csv",
        example = "name,email,products\nSam Lee,sam@example.com,autocad\nKim Park,kim@example.com,*\n"),
    params(("team" = i64, Path, description = "The team's id", example = 1), ImportQuery),
    responses(
        (status = 202, description = "The import, queued", body = ImportJob,
            headers(("Location" = String, description = "The import: GET it to follow its progress")),
            example = json!({"id": 3, "team_id": 1, "status": "queued", "total": 120, "done": 0, "applied": 0,
                "unchanged": 0, "refused": 0, "created_at": "2026-01-07T09:00:00Z"})),
        (status = 400, description = "The file is not CSV of this form (`invalid_import`), or \
            `first_line` is out of range (`invalid_query`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem),
        (status = 409, description = "The team has as many unfinished imports as it may \
            (`too_many_imports`)", body = Problem),
        (status = 413, description = "The file is over 10 MiB (`body_too_large`): send it in \
            parts", body = Problem),
        (status = 415, description = "The file is not sent as `Content-Type: text/csv` \
            (`unsupported_media_type`)", body = Problem),
        (status = 422, description = "The team is closed (`team_closed`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    // Taken as a `Result` so that a body over the limit is answered here, as problem+json naming
    // the limit, and only after the caller was found allowed to import into the team.
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, [(HeaderName, String); 1], Json<ImportJob>)> {
    caller.require_team(team)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(content_type.starts_with("text/csv") || content_type.starts_with("text/plain")) {
        return Err(ApiError::UnsupportedMediaType(
            "send the file as Content-Type: text/csv".into(),
        ));
    }
    let first_line = query.first_line.unwrap_or(1);
    if !(1..=MAX_FIRST_LINE).contains(&first_line) {
        return Err(ApiError::bad_request(
            Malformed::Query,
            format!("first_line counts from 1, up to {MAX_FIRST_LINE}, got {first_line}"),
        ));
    }
    state.store.team(team).await?;
    let body = body.map_err(body_rejection)?;
    let job = queue_csv(&state, team, &body, first_line).await?;
    let location = format!("/v1/teams/{team}/flex/imports/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(wire::import_job(&job)),
    ))
}

/// Stores a CSV file as an import of `team` and wakes the worker (also the console's Import
/// page). The caller was found allowed to import into the team.
pub(crate) async fn queue_csv(
    state: &AppState,
    team: TeamId,
    csv: &[u8],
    first_line: u64,
) -> ApiResult<jeton_store::imports::ImportJob> {
    let (rows, rejected) = parse_csv(csv, first_line)?;
    let job = state
        .store
        .queue_import(team, &rows, &rejected, state.now())
        .await?;
    state.importer.queued();
    Ok(job)
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::BodyTooLarge(format!(
            "the file is larger than {} MiB, the most one import request takes; \
                 `jeton import` sends larger files in parts (or send parts of at most {} lines \
                 with ?first_line=N, the file line number of each part's first line)",
            MAX_IMPORT_BYTES / (1024 * 1024),
            MAX_IMPORT_LINES
        ));
    }
    ApiError::bad_request(
        Malformed::Body,
        format!("the file could not be read: {}", rejection.body_text()),
    )
}

/// The team's imports, newest first: status, progress and counts.
#[utoipa::path(get, path = "/v1/teams/{team}/flex/imports", tag = "people",
    params(("team" = i64, Path, description = "The team's id", example = 1), ImportsQuery),
    responses(
        (status = 200, description = "The imports, newest first", body = Vec<ImportJob>,
            example = json!([{"id": 3, "team_id": 1, "status": "done", "total": 120, "done": 120, "applied": 117,
                "unchanged": 1, "refused": 2, "created_at": "2026-01-07T09:00:00Z", "started_at": "2026-01-07T09:00:01Z",
                              "finished_at": "2026-01-07T09:00:03Z"}])),
        (status = 400, description = "`limit` is out of range (`invalid_query`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn list_imports(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(query): ApiQuery<ImportsQuery>,
) -> ApiResult<Json<Vec<ImportJob>>> {
    caller.require_team(team)?;
    let limit = super::page_limit(query.limit, 20, MAX_LIST_PAGE)?;
    state.store.team(team).await?;
    let jobs = state.store.import_jobs(team, limit).await?;
    Ok(Json(jobs.iter().map(wire::import_job).collect()))
}

/// One import: status, progress, counts, and a page of its lines' outcomes.
///
/// Status is `queued`, `running`, `done` or `failed`; progress is `done` of `total` lines. The
/// outcomes come in line order (`applied`, `unchanged`, or `refused` with the reason), after line
/// `after`; `next_after` is there when more follow. A client that gave up waiting can tell from
/// here exactly what was applied.
#[utoipa::path(get, path = "/v1/teams/{team}/flex/imports/{id}", tag = "people", operation_id = "get_import",
    params(("team" = i64, Path, description = "The team's id", example = 1),
           ("id" = i64, Path, description = "The import's id", example = 3), ImportOutcomesQuery),
    responses(
        (status = 200, description = "The import and a page of outcomes", body = ImportDetail,
            example = json!({"id": 3, "team_id": 1, "status": "done", "total": 120, "done": 120, "applied": 117,
                "unchanged": 1, "refused": 2, "created_at": "2026-01-07T09:00:00Z", "started_at": "2026-01-07T09:00:01Z",
                "finished_at": "2026-01-07T09:00:03Z",
                "outcomes": [
                    {"line": 2, "outcome": "applied"},
                    {"line": 3, "outcome": "refused", "reason": "invalid email: kim@"}],
                "next_after": 3})),
        (status = 400, description = "`limit` is out of range (`invalid_query`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No such team, or not one of the caller's; or no such \
            import of it (`not_found`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn import_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((team, id)): ApiPath<(TeamId, ImportId)>,
    ApiQuery(query): ApiQuery<ImportOutcomesQuery>,
) -> ApiResult<Json<ImportDetail>> {
    caller.require_team(team)?;
    let limit = query.limit.unwrap_or(1000) as usize;
    if limit > MAX_IMPORT_OUTCOMES_PER_PAGE {
        return Err(ApiError::bad_request(
            Malformed::Query,
            format!("limit must be 0 to {MAX_IMPORT_OUTCOMES_PER_PAGE}, got {limit}"),
        ));
    }
    // One more than asked for tells whether another page follows (none when 0 are asked for).
    let (job, mut outcomes) = state
        .store
        .import_with_outcomes(
            team,
            id,
            query.after.unwrap_or(0),
            if limit == 0 { 0 } else { limit + 1 },
            query.outcome.map(wire::line_outcome),
        )
        .await?;
    let next_after = if outcomes.len() > limit {
        outcomes.truncate(limit);
        outcomes.last().map(|l| l.line)
    } else {
        None
    };
    Ok(Json(ImportDetail {
        job: wire::import_job(&job),
        outcomes: outcomes.iter().map(wire::import_line).collect(),
        next_after,
    }))
}
