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
