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

use super::{NO_SUCH_TEAM, PASSWORDS_BUSY, REFUSED_TO_USERS, wire};
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

/// The team's open invitations, pending and expired, with who and until when.
#[utoipa::path(get, path = "/v1/teams/{team}/invitations", tag = "people",
    operation_id = "list_invitations",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The invitations not yet accepted nor replaced",
            body = Vec<Invitation>,
            example = json!([{"id": 4, "team_id": 1, "user_id": 7, "email": "sam@example.com",
                "name": "Sam Lee", "status": "pending", "emailed": true,
                "created_at": "2026-01-06T10:00:00Z", "expires_at": "2026-01-13T10:00:00Z"}])),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Vec<Invitation>>> {
    caller.require_team(team)?;
    let list = state.store.invitations(team, state.now()).await?;
    Ok(Json(list.iter().map(wire::invitation).collect()))
}

/// Send an invitation again with a new link, valid 7 days from now (R-USR-3).
///
/// The email goes out again and the old link stops working.
#[utoipa::path(post, path = "/v1/teams/{team}/invitations/{id}/resend", tag = "people",
    operation_id = "resend_invitation",
    params(("team" = i64, Path, description = "The team's id", example = 1),
           ("id" = i64, Path, description = "The invitation's id", example = 4)),
    responses(
        (status = 200, description = "The invitation with its new expiry", body = Invitation,
            example = json!({"id": 4, "team_id": 1, "user_id": 7, "email": "sam@example.com",
                "name": "Sam Lee", "status": "pending", "emailed": false,
                "created_at": "2026-01-06T10:00:00Z", "expires_at": "2026-01-16T09:30:00Z"})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No such team, or not one of the caller's; or no such \
            invitation of it (`not_found`)", body = Problem),
        (status = 409, description = "The person accepted already: there is nothing to resend \
            (`invitation_accepted`)", body = Problem),
        (status = 410, description = "A newer invitation replaced this one: resend that one \
            (`invitation_superseded`)", body = Problem),
        (status = 422, description = "The team is closed (`team_closed`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
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

/// Accept an invitation with the secret of its link; no key needed.
///
/// The secret is the proof. A new account chooses its password here; a person who has an
/// account already gives theirs. After 7 days the link answers 410 `invitation_expired`; after a
/// resend, the old link 410 `invitation_superseded`.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "people",
    operation_id = "accept_invitation",
    request_body(content = AcceptInvitation, example = json!({
        "secret": "2f0c6b9e4d7a1358c2e9f0a4b6d8e1c3a5f7b9d2e4c6a8f0b1d3e5a7c9f2b4d6",
        "password": "a-long-passphrase"})),
    responses(
        (status = 200, description = "Accepted: the user is active on the team and may sign in",
            body = Accepted, example = json!({"user_id": 7, "team_id": 1})),
        (status = 400, description = "The new password is too short or too long \
            (`invalid_password`)", body = Problem),
        (status = 401, description = "The person has an account and this is not its password \
            (`invalid_credentials`)", body = Problem),
        (status = 404, description = "No invitation has this secret (`not_found`)", body = Problem),
        (status = 409, description = "Accepted already (`invitation_accepted`)", body = Problem),
        (status = 410, description = "The link expired (`invitation_expired`) or a newer one \
            replaced it (`invitation_superseded`)", body = Problem),
        (status = 422, description = "The administrator removed the assignment since \
            (`not_assigned`), or the team is closed (`team_closed`)", body = Problem),
        (status = 503, description = PASSWORDS_BUSY, body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))))]
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
