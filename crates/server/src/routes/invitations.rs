//! R-USR-3: invitations. Admins list and resend them; the invited person accepts through the
//! API or through the page behind the email's link (`console::invitation`), which calls
//! [`accept_secret`] here.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use jeton_api::{AcceptInvitation, Accepted, Invitation, Problem};
use jeton_core::{InvitationId, Password, TeamId, UserId};
use jeton_store::invitations::Invited;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::keys::{hash_key, new_secret};
use crate::state::AppState;

/// Longer than any secret we make; a longer one names no invitation.
const MAX_SECRET_LEN: usize = 128;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(resend))
        .routes(routes!(accept))
}

/// Open invitations of the team (pending and expired), with who and until when.
#[utoipa::path(get, path = "/v1/teams/{team}/invitations", tag = "people",
    params(("team" = i64, Path)),
    responses((status = 200, body = Vec<Invitation>),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Vec<Invitation>>> {
    caller.require_team(team)?;
    let list = state.store.invitations(team, state.now()).await?;
    Ok(Json(list.iter().map(wire::invitation).collect()))
}

/// R-USR-3: a new link valid 7 days from now, emailed; the old link stops working.
#[utoipa::path(post, path = "/v1/teams/{team}/invitations/{id}/resend", tag = "people",
    params(("team" = i64, Path), ("id" = i64, Path)),
    responses((status = 200, body = Invitation),
              (status = 403, description = "refused to user tokens", body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "invitation_accepted: the person already accepted; there is nothing to resend", body = Problem),
              (status = 410, description = "invitation_superseded: a newer invitation exists; resend that one", body = Problem),
              (status = 422, description = "team_closed", body = Problem)),
    security(("bearer" = [])))]
async fn resend(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((team, id)): ApiPath<(TeamId, InvitationId)>,
) -> ApiResult<Json<Invitation>> {
    caller.require_team(team)?;
    let secret = new_secret()?;
    let compose = |facts: &jeton_store::flex::MailFacts| state.compose_mail(facts);
    let invitation = state
        .store
        .resend_invitation(team, id, &secret, &compose, state.now())
        .await?;
    state.mail_queued();
    Ok(Json(wire::invitation(&invitation)))
}

fn no_such_link() -> ApiError {
    ApiError::not_found("invitation", "for this link")
}

/// The invitation a link's secret names, with the secret's digest, if it can still be accepted;
/// otherwise the answer for a dead or unknown link. Shared by the page and accepting.
pub(crate) async fn open_invitation(
    state: &AppState,
    secret: &str,
    now: DateTime<Utc>,
) -> ApiResult<(String, Invited)> {
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
        return Err(no_such_link());
    }
    let hash = hash_key(secret);
    let invited = state
        .store
        .invitation_by_secret(&hash, now)
        .await?
        .ok_or_else(no_such_link)?;
    invited.invitation.state.check_acceptable()?;
    Ok((hash, invited))
}

/// Accepting, shared by the API and the page: a new account chooses its password; a person who
/// already has an account proves it with theirs.
pub(crate) async fn accept_secret(
    state: &AppState,
    secret: &str,
    password: &str,
) -> Result<(UserId, TeamId), ApiError> {
    let now = state.now();
    // A dead link is refused before any time is spent on hashing.
    let (hash, invited) = open_invitation(state, secret, now).await?;
    let slot = state.passwords.slot().await?;
    let new_hash = match &invited.password_hash {
        Some(stored) => {
            if !slot.verify(password, Some(stored)).await {
                return Err(ApiError::InvalidCredentials(format!(
                    "{} already has an account: enter its password to accept",
                    invited.invitation.email
                )));
            }
            None
        }
        None => Some(slot.hash(&Password::parse(password)?).await?),
    };
    Ok(state
        .store
        .accept_invitation(&hash, new_hash.as_deref(), now)
        .await?)
}

/// Accept an invitation (no authentication: the secret is the proof). After 7 days:
/// 410 `invitation_expired`; after a resend, the old secret: 410 `invitation_superseded`.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "people", request_body = AcceptInvitation,
    responses((status = 200, body = Accepted), (status = 400, description = "invalid_password", body = Problem),
              (status = 401, description = "invalid_credentials (existing account)", body = Problem),
              (status = 404, body = Problem), (status = 409, description = "invitation_accepted", body = Problem),
              (status = 410, description = "invitation_expired, invitation_superseded", body = Problem),
              (status = 422, description = "not_assigned: the administrator removed the assignment since; team_closed", body = Problem)))]
async fn accept(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<AcceptInvitation>,
) -> ApiResult<Json<Accepted>> {
    let (user_id, team) = accept_secret(&state, &body.secret, &body.password).await?;
    Ok(Json(Accepted {
        user_id: user_id.0,
        team_id: team.0,
    }))
}
