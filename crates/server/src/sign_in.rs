//! Checking an email and password, the same way for every door: a user's token
//! (`POST /v1/auth/token`), the portal and the admin console. An address gets 10 attempts in 15
//! minutes (`jeton_core::sign_in`), counted before the password is checked.

use jeton_core::Email;
use jeton_core::sign_in::{self, MAX_ATTEMPTS, Verdict};
use jeton_store::StoreResult;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(crate) fn bad_credentials() -> ApiError {
    ApiError::InvalidCredentials("the email or the password is wrong".into())
}

/// The account `lookup` finds for `email` if `password` is its password. `lookup` answers the
/// account and its stored hash (None: no password chosen yet, which never matches).
pub(crate) async fn check<T>(
    state: &AppState,
    email: &Email,
    password: &str,
    lookup: impl AsyncFnOnce() -> StoreResult<Option<(T, Option<String>)>>,
) -> ApiResult<T> {
    let now = state.now();
    // A hashing slot first: a request turned away as busy has not used one of the address's
    // attempts.
    let slot = state.passwords.slot().await?;
    // Counted before the password is checked, so that parallel guesses are counted too.
    if let Verdict::Locked { until } = state.store.sign_in_attempt(email, now).await? {
        let wait = (until - now).num_seconds().max(1);
        return Err(ApiError::TooManySignInAttempts {
            detail: format!(
                "too many sign-in attempts for this address ({MAX_ATTEMPTS} within {} minutes); \
                 try again in {} minutes",
                sign_in::WINDOW.num_minutes(),
                (wait + 59) / 60
            ),
            retry_after: wait as u64,
        });
    }
    let found = lookup().await?;
    let stored = found.as_ref().and_then(|(_, hash)| hash.as_deref());
    // Always verify (a dummy hash when there is no account), so timing tells nothing.
    if !slot.verify(password, stored).await {
        return Err(bad_credentials());
    }
    let (account, _) = found.ok_or_else(bad_credentials)?;
    state.store.clear_sign_in_attempts(email).await?;
    Ok(account)
}
