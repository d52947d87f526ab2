//! The web console (admins and the operator, under `/console`) and the user portal (`/portal`):
//! server-rendered pages over the same store and core code as the JSON API, with plain HTML
//! forms that work without JavaScript. Each file is one area of the Flex page (see
//! docs/console.md); `session` says who is at the browser, `page` draws the frame.

pub(crate) mod account;
mod chart;
mod error;
mod format;
mod frame;
mod import;
mod invitation;
mod operator;
mod page;
mod plan;
mod portal;
mod reference;
mod reports;
mod session;
mod settings;
mod teams;
mod tokens;
mod users;
mod words;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(account::landing))
        .route(
            page::CSS_PATH,
            get(|| async { page::asset(page::CSS, "text/css; charset=utf-8") }),
        )
        .route(
            page::JS_PATH,
            get(|| async { page::asset(page::JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/sign-in",
            get(account::staff_sign_in_page).post(account::staff_sign_in),
        )
        .route("/console/sign-out", post(account::staff_sign_out))
        .route(
            "/password",
            get(account::password_page).post(account::set_password),
        )
        .route(
            "/portal/sign-in",
            get(account::user_sign_in_page).post(account::user_sign_in),
        )
        .route("/portal/sign-out", post(account::user_sign_out))
        .route(
            "/portal/forgot-password",
            get(account::forgot_page).post(account::forgot),
        )
        .route("/portal", get(portal::my_products))
        .route("/console", get(teams::home))
        .route("/console/teams/{team}/tokens", get(tokens::page))
        .route("/console/teams/{team}/packs", post(tokens::record_pack))
        .route("/console/teams/{team}/moves", post(tokens::move_tokens))
        .route("/console/teams/{team}/users", get(users::list))
        .route("/console/teams/{team}/users/assign", post(users::assign))
        .route(
            "/console/teams/{team}/users/{user}",
            get(users::detail).post(users::set_products),
        )
        .route(
            "/console/teams/{team}/users/{user}/unassign",
            post(users::unassign),
        )
        .route(
            "/console/teams/{team}/invitations/{id}/resend",
            post(users::resend),
        )
        .route(
            "/console/teams/{team}/defaults",
            get(users::defaults_page).post(users::set_defaults),
        )
        .route(
            crate::emails::ACCEPT_PATH,
            get(invitation::accept_page).post(invitation::accept_form),
        )
        .route("/console/teams/{team}/reports", get(reports::page))
        .route("/console/teams/{team}/usage.csv", get(reports::csv))
        .route("/console/teams/{team}/plan", get(plan::page))
        .route(
            "/console/teams/{team}/settings",
            get(settings::page).post(settings::save),
        )
        .route("/console/teams/{team}/import", get(import::page))
        .route(
            "/console/teams/{team}/import",
            post(import::upload).layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES)),
        )
        .route("/console/teams/{team}/import/{id}", get(import::detail))
        .route(
            "/console/operator/teams",
            get(operator::teams::list).post(operator::teams::create),
        )
        .route(
            "/console/operator/teams/{team}",
            get(operator::teams::detail),
        )
        .route(
            "/console/operator/teams/{team}/rename",
            post(operator::teams::rename),
        )
        .route(
            "/console/operator/teams/{team}/merge",
            post(operator::teams::merge),
        )
        .route(
            "/console/operator/products",
            get(operator::products::list).post(operator::products::create),
        )
        .route(
            "/console/operator/products/{key}",
            get(operator::products::detail).post(operator::products::update),
        )
        .route(
            "/console/operator/admins",
            get(operator::admins::list).post(operator::admins::create),
        )
        .route(
            "/console/operator/admins/{admin}/revoke",
            post(operator::admins::revoke),
        )
        .route(
            "/console/operator/admins/{admin}/rotate",
            post(operator::admins::rotate),
        )
        .route(
            "/console/operator/admins/{admin}/password-link",
            post(operator::admins::password_link),
        )
        .route("/console/operator/outbox", get(operator::outbox::page))
        .route(
            "/console/operator/outbox/retry-failed",
            post(operator::outbox::retry_all),
        )
        .route(
            "/console/operator/outbox/{id}/retry",
            post(operator::outbox::retry),
        )
        .layer(axum::middleware::map_response(page_headers))
}

/// `GET /docs`: the API reference drawn from `doc`, the OpenAPI document as JSON, with the
/// pages' headers. It is drawn here, once: the document does not change while the server runs.
pub fn reference_page(doc: &serde_json::Value) -> Router<AppState> {
    let page = axum::body::Bytes::from(reference::page(doc).into_string());
    Router::new()
        .route(
            "/docs",
            get(move || {
                let page = page.clone();
                async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) }
            }),
        )
        .layer(axum::middleware::map_response(page_headers))
}

/// The page for an address that is no page, for browsers.
pub fn not_found_page() -> Response {
    use axum::response::IntoResponse;
    page::PageError::Api(crate::error::ApiError::not_found("page", "")).into_response()
}

/// Pages are not cached (they show balances and people), cannot be framed by another site, and
/// load scripts and styles only from here; links out do not carry the page's address (which may
/// hold a password link's secret).
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let is_asset = h
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.as_bytes().starts_with(b"public"));
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
