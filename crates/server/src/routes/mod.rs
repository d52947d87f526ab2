//! The HTTP API. Each file is one area of `docs/api.md`; `wire` turns store records into the
//! answers of `jeton_api`.

pub(crate) mod admins;
mod entitlements;
pub(crate) mod flex;
pub mod invitations;
mod ledger;
pub(crate) mod me;
mod ops;
pub(crate) mod outbox;
mod products;
pub(crate) mod reports;
mod sessions;
pub(crate) mod teams;
mod users;
mod wire;

use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ApiResult, Malformed};
use crate::state::AppState;

// What the OpenAPI document says of answers that many operations give, so that each is said
// one way (see `crate::auth::Caller` for who is refused what).

/// 403 where a team admin's key would do: the caller is a user.
const REFUSED_TO_USERS: &str =
    "A user token: this needs the operator key or a team admin's key (`forbidden`)";
/// 403 where only the operator may call.
const OPERATOR_ONLY: &str =
    "A team admin's key or a user token: only the operator may do this (`forbidden`)";
/// 403 where only a user may call.
const USERS_ONLY: &str =
    "The operator key or a team admin's key: this needs a user token (`forbidden`)";
/// 503 where a password is hashed or checked: the slots and their short queue are full.
const PASSWORDS_BUSY: &str = "Every password slot is busy and the queue is full: try again after \
    `Retry-After` seconds (`busy`)";
/// 404 for the `{team}` of the path: an admin's teams are the only ones that exist for them.
const NO_SUCH_TEAM: &str = "No such team, or not one of the caller's (`not_found`)";

/// A listing's `limit` query parameter: `default` when it is not given, else 1 to `max`.
fn page_limit(limit: Option<u32>, default: u32, max: usize) -> ApiResult<usize> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit as usize > max {
        return Err(ApiError::bad_request(
            Malformed::Query,
            format!("limit must be 1 to {max}, got {limit}"),
        ));
    }
    Ok(limit as usize)
}

pub fn api(test_clock: bool) -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .merge(products::router())
        .merge(teams::router())
        .merge(ledger::router())
        .merge(admins::router())
        .merge(flex::router())
        .merge(invitations::router())
        .merge(me::router())
        .merge(outbox::router())
        .merge(sessions::router())
        .merge(users::router())
        .merge(entitlements::router())
        .merge(reports::router())
        .merge(ops::router());
    if test_clock {
        router = router.merge(ops::test_clock_router());
    }
    router
}
