//! Who is calling: the operator (everything) or a team admin (only its teams). A team the caller
//! may not see answers 404, exactly like a team that does not exist, so ids leak nothing.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jeton_core::ledger::Actor;
use jeton_core::{AdminId, TeamId};
use jeton_store::admins::Admin;
use jeton_store::flex::IdScope;
use jeton_store::users::User;

use crate::error::ApiError;
use crate::keys::{USER_PREFIX, hash_key};
use crate::state::AppState;

pub enum Caller {
    Operator,
    Admin(Admin),
    /// A person signed in with `POST /v1/auth/token`: may use products and see `/v1/me`.
    User(User),
}

impl Caller {
    pub fn actor(&self) -> Actor {
        match self {
            Caller::Operator => Actor::Operator,
            Caller::Admin(a) => Actor::Admin(a.id),
            Caller::User(u) => Actor::User(u.id),
        }
    }

    pub fn require_user(&self) -> Result<&User, ApiError> {
        match self {
            Caller::User(u) => Ok(u),
            _ => Err(ApiError::Forbidden(
                "this needs a user token (POST /v1/auth/token), not an operator or admin key"
                    .into(),
            )),
        }
    }

    /// The admin's id when an admin calls; `None` for the operator.
    pub fn admin_id(&self) -> Result<Option<AdminId>, ApiError> {
        match self {
            Caller::Operator => Ok(None),
            Caller::Admin(a) => Ok(Some(a.id)),
            Caller::User(_) => Err(staff_only()),
        }
    }

    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Admin(_) => Err(ApiError::Forbidden(
                "only the operator may do this; this key belongs to a team admin".into(),
            )),
            Caller::User(_) => Err(staff_only()),
        }
    }

    /// Whose people this caller may name by id (R-AUTH-4): the operator anyone, an admin only
    /// people of their own teams.
    pub fn id_scope(&self) -> Result<IdScope, ApiError> {
        match self {
            Caller::Operator => Ok(IdScope::Anyone),
            Caller::Admin(a) => Ok(IdScope::AdminOf(a.id)),
            Caller::User(_) => Err(staff_only()),
        }
    }

    /// The team must be one the caller manages; otherwise it does not exist for them.
    pub fn require_team(&self, team: TeamId) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Admin(a) if a.teams.contains(&team) => Ok(()),
            Caller::Admin(_) => Err(ApiError::not_found("team", team)),
            Caller::User(_) => Err(staff_only()),
        }
    }
}

fn staff_only() -> ApiError {
    ApiError::Forbidden(
        "this needs the operator key or a team admin's key, not a user token".into(),
    )
}

/// The bearer key of a request, as sent (trimmed); 401 when there is none.
fn bearer_key(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "send the header Authorization: Bearer <api key>",
        ))?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must be: Bearer <api key>",
        ))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        Caller::from_key(bearer_key(parts)?, state).await
    }
}

impl Caller {
    /// Who a bearer key stands for (what the extractor does, for a handler that took the key
    /// with [`BearerKey`] to check it later).
    pub async fn from_key(key: &str, state: &AppState) -> Result<Caller, ApiError> {
        let hash = hash_key(key);
        if key.starts_with(USER_PREFIX) {
            return match state.store.user_by_token(&hash, state.now()).await? {
                Some(user) => Ok(Caller::User(user)),
                None => Err(ApiError::Unauthorized(
                    "this user token is not valid, has expired or was signed out; sign in again with POST /v1/auth/token",
                )),
            };
        }
        if hash == state.operator_key_hash {
            return Ok(Caller::Operator);
        }
        // Looked up on every request (no cache), so a revoked or rotated key is refused at once
        // on every server (R-AUTH-1).
        match state.store.admin_by_key_hash(&hash).await? {
            Some(admin) if admin.key_revoked_at.is_some() => Err(ApiError::KeyRevoked(
                "this API key was revoked by the operator; ask them for a new one \
                 (`jeton admins rotate`)"
                    .into(),
            )),
            Some(admin) => Ok(Caller::Admin(admin)),
            None => Err(ApiError::Unauthorized("this API key is not valid")),
        }
    }
}

/// The bearer key a request carries, present and well formed but not checked yet: for a handler
/// that checks it together with its own read (a quiet heartbeat), and otherwise through
/// [`Caller::from_key`] before anything else it answers.
pub struct BearerKey(pub String);

impl BearerKey {
    /// Whether it has the form of a user token (only those are checked with a quiet heartbeat).
    pub fn is_user_token(&self) -> bool {
        self.0.starts_with(USER_PREFIX)
    }

    pub fn hash(&self) -> String {
        hash_key(&self.0)
    }
}

impl FromRequestParts<AppState> for BearerKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<BearerKey, ApiError> {
        Ok(BearerKey(bearer_key(parts)?.to_owned()))
    }
}

/// The digest of the user token a request carries, for signing out of this token alone. Use it
/// beside [`Caller`], which checks that the token is valid.
pub struct CurrentKeyHash(pub String);

impl FromRequestParts<AppState> for CurrentKeyHash {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<CurrentKeyHash, ApiError> {
        Ok(CurrentKeyHash(hash_key(bearer_key(parts)?)))
    }
}
