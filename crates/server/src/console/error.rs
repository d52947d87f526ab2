//! Why a page could not be shown, as a page: sent to sign in, a refused CSRF token, a form that
//! is not the page's, or what the API would answer (with its status).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::frame::bare_page;
use super::words as w;
use crate::error::ApiError;

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the sign-in ended): to the sign-in page, then back.
    SignIn { page: &'static str, next: String },
    /// A form without its CSRF token, or with another browser's: refused, nothing changed.
    Csrf,
    /// A form that is not this page's (tampered or truncated).
    BadForm(String),
    /// What the API would answer, shown as a page.
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError::Api(e.into())
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { page, next } => {
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Redirect::to(&format!("{page}?{query}")).into_response()
            }
            PageError::Csrf => error_page(StatusCode::FORBIDDEN, w::CSRF_TITLE, w::CSRF_TEXT),
            PageError::BadForm(detail) => {
                error_page(StatusCode::BAD_REQUEST, w::BAD_FORM_TITLE, &detail)
            }
            PageError::Api(e) => {
                let (status, code, detail) = e.parts();
                if status.is_server_error() {
                    tracing::error!(error = ?e, code = code.as_str(), "console page failed");
                }
                let (title, text) = match status {
                    StatusCode::NOT_FOUND => (w::NOT_FOUND_TITLE, w::NOT_FOUND_TEXT.to_owned()),
                    StatusCode::FORBIDDEN => (w::FORBIDDEN_TITLE, detail),
                    s if s.is_server_error() => (w::FAULT_TITLE, detail),
                    _ => (w::REFUSED_TITLE, detail),
                };
                error_page(status, title, &text)
            }
        }
    }
}

fn error_page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = html! {
        p.notice.bad role="alert" { (text) }
        p { a href="/" { (w::BACK_HOME) } }
    };
    (status, bare_page(title, body)).into_response()
}
