//! Who is calling: the operator (everything) or a team admin (only its teams). A team the caller
//! may not see answers 404, exactly like a team that does not exist, so ids leak nothing.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jeton_core::TeamId;
use jeton_core::ledger::Actor;
use jeton_store::admins::Admin;

use crate::error::ApiError;
use crate::keys::hash_key;
use crate::state::AppState;

pub enum Caller {
    Operator,
    Admin(Admin),
}

impl Caller {
    pub fn actor(&self) -> Actor {
        match self {
            Caller::Operator => Actor::Operator,
            Caller::Admin(a) => Actor::Admin(a.id),
        }
    }

    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Admin(_) => Err(ApiError::Forbidden(
                "only the operator may do this; this key belongs to a team admin".into(),
            )),
        }
    }

    /// The team must be one the caller manages; otherwise it does not exist for them.
    pub fn require_team(&self, team: TeamId) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Admin(a) if a.teams.contains(&team) => Ok(()),
            Caller::Admin(_) => Err(ApiError::not_found("team", team)),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "send the header Authorization: Bearer <api key>",
            ))?;
        let key = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be: Bearer <api key>",
            ))?;
        let hash = hash_key(key);
        if hash == state.operator_key_hash {
            return Ok(Caller::Operator);
        }
        match state.store.admin_by_key_hash(&hash).await? {
            Some(admin) => Ok(Caller::Admin(admin)),
            None => Err(ApiError::Unauthorized("this API key is not valid")),
        }
    }
}
