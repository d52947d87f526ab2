//! Single-use links to choose a password (rules in `jeton_core::console`): made for an admin by
//! the operator (`POST /v1/admins`, `…/password-link`) and for a user who forgot theirs (the
//! portal). The email goes through the outbox like every other.

use jeton_store::console::LinkOwner;

use crate::error::ApiError;
use crate::keys::{hash_key, new_key};
use crate::state::AppState;

/// Makes a password link for `owner` and queues its email; answers the link.
pub async fn send(
    state: &AppState,
    owner: LinkOwner,
) -> Result<(String, chrono::DateTime<chrono::Utc>), ApiError> {
    let secret = new_key("")?;
    let link = format!("{}/password?secret={secret}", state.public_url);
    let compose = |open: &jeton_store::console::OpenLink, expires_at| {
        Some(jeton_core::mail::password_link(
            &open.email,
            &open.name,
            owner.purpose(),
            &link,
            expires_at,
        ))
    };
    let expires_at = state
        .store
        .create_password_link(owner, &hash_key(&secret), &compose, state.now())
        .await?;
    state.mail_queued();
    Ok((link, expires_at))
}
