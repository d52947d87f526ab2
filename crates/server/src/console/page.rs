//! What the pages share besides their frame: field errors, the answers after a form, the CSRF
//! field, path and query extractors, and the embedded assets. The frame, errors and formats are
//! re-exported here, so a page has one place to import from.

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

pub use super::error::{PageError, PageResult};
pub use super::format::{day, time, tokens};
pub use super::frame::{CSS, CSS_PATH, JS, JS_PATH, Tab, bare_page, console_page, portal_page};
use super::words as w;
use crate::error::ApiError;

/// Messages beside the fields of a form that was refused, by field name.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn one(field: &'static str, message: impl Into<String>) -> FieldErrors {
        let mut e = FieldErrors::default();
        e.add(field, message);
        e
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `aria-invalid` for the field's input.
    pub fn invalid(&self, field: &str) -> Option<&'static str> {
        self.0.contains_key(field).then_some("true")
    }

    /// The message under the field, if it has one.
    pub fn show(&self, field: &str) -> Markup {
        html! {
            @if let Some(m) = self.0.get(field) {
                p.field-error id=(format!("{field}-error")) role="alert" { (m) }
            }
        }
    }

    /// The refusal of a form as a whole, shown above it.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.0.is_empty() {
                p.notice.bad role="alert" { (w::FORM_REFUSED) }
            }
        }
    }
}

/// What a refused change says beside `field`; errors that are not the person's (the database,
/// a bug) stay errors and become an error page.
pub fn refusal(field: &'static str, e: impl Into<ApiError>) -> Result<FieldErrors, PageError> {
    let e = e.into();
    let (status, _, detail) = e.parts();
    if status.is_server_error() || status == StatusCode::NOT_FOUND {
        return Err(PageError::Api(e));
    }
    Ok(FieldErrors::one(field, detail))
}

/// A refused form answers 422 with the form again.
pub fn refused(page: Markup) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

/// After a change: back to a page (303, so reloading does not post again).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A path parameter of a page; one that does not parse is a page that does not exist.
pub struct PagePath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for PagePath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, PageError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PagePath(v)),
            Err(_) => Err(PageError::Api(ApiError::not_found(
                "page",
                parts.uri.path(),
            ))),
        }
    }
}

/// A page's query string; every field is text the page reads itself, so only a broken encoding
/// or a control character is refused.
pub struct PageQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for PageQuery<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, PageError> {
        match crate::extract::ApiQuery::<T>::from_request_parts(parts, state).await {
            Ok(crate::extract::ApiQuery(v)) => Ok(PageQuery(v)),
            Err(e) => Err(PageError::BadForm(e.parts().2)),
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// The stylesheet and script, cached by browsers for a day.
pub fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
