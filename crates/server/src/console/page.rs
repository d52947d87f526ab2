//! The frame every console and portal page is drawn in, the error pages, and small pieces the
//! pages share (field errors, numbers, times). Pages are maud markup rendered on the server; the
//! one stylesheet and the one small script are embedded in the binary.

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use jeton_store::teams::Team;
use maud::{DOCTYPE, Markup, html};

use super::session::{PortalUser, Staffer};
use super::words as w;
use crate::error::ApiError;

pub const CSS_PATH: &str = "/assets/console.css";
pub const JS_PATH: &str = "/assets/console.js";
pub const CSS: &str = include_str!("../../assets/console.css");
pub const JS: &str = include_str!("../../assets/console.js");

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

/// The console's areas, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Teams,
    Tokens,
    Users,
    Defaults,
    Import,
    Reports,
    Plan,
    Settings,
    OpTeams,
    OpProducts,
    OpAdmins,
    OpOutbox,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — Jeton" }
            link rel="stylesheet" href=(CSS_PATH);
            script src=(JS_PATH) defer {}
        }
    }
}

/// A page without navigation: signing in, choosing a password, errors.
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { a.brand href="/" { "Jeton" span { "." } } }
                main.narrow id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// A console page: the header with who is signed in, the navigation of the team (when one is
/// open) and of the operator's areas, and the content.
pub fn console_page(
    staff: &Staffer,
    team: Option<&Team>,
    tab: Tab,
    title: &str,
    body: Markup,
) -> Markup {
    let link = |href: String, t: Tab, label: &str| {
        html! { a href=(href) aria-current=[(t == tab).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { (w::SKIP) }
                header.top {
                    a.brand href="/console" { "Jeton" span { "." } }
                    @if let Some(t) = team { span.team { (t.name) } }
                    div.who {
                        span { (staff.name) }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(staff.csrf);
                            button type="submit" { (w::SIGN_OUT) }
                        }
                    }
                }
                div.frame {
                    nav.side aria-label=(w::NAVIGATION) {
                        (link("/console".into(), Tab::Teams, w::NAV_TEAMS))
                        @if let Some(t) = team {
                            h2 { (t.name) }
                            (link(format!("/console/teams/{}/tokens", t.id), Tab::Tokens, w::NAV_TOKENS))
                            (link(format!("/console/teams/{}/users", t.id), Tab::Users, w::NAV_USERS))
                            (link(format!("/console/teams/{}/defaults", t.id), Tab::Defaults, w::NAV_DEFAULTS))
                            (link(format!("/console/teams/{}/import", t.id), Tab::Import, w::NAV_IMPORT))
                            (link(format!("/console/teams/{}/reports", t.id), Tab::Reports, w::NAV_REPORTS))
                            (link(format!("/console/teams/{}/plan", t.id), Tab::Plan, w::NAV_PLAN))
                            (link(format!("/console/teams/{}/settings", t.id), Tab::Settings, w::NAV_SETTINGS))
                        }
                        @if staff.is_operator() {
                            h2 { (w::NAV_OPERATOR) }
                            (link("/console/operator/teams".into(), Tab::OpTeams, w::NAV_OP_TEAMS))
                            (link("/console/operator/products".into(), Tab::OpProducts, w::NAV_OP_PRODUCTS))
                            (link("/console/operator/admins".into(), Tab::OpAdmins, w::NAV_OP_ADMINS))
                            (link("/console/operator/outbox".into(), Tab::OpOutbox, w::NAV_OP_OUTBOX))
                        }
                    }
                    main id="main" { h1 { (title) } (body) }
                }
            }
        }
    }
}

/// A portal page for a signed-in user.
pub fn portal_page(user: &PortalUser, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { (w::SKIP) }
                header.top {
                    a.brand href="/portal" { "Jeton" span { "." } }
                    div.who {
                        span { (user.user.name) }
                        form method="post" action="/portal/sign-out" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            button type="submit" { (w::SIGN_OUT) }
                        }
                    }
                }
                main.narrow.portal id="main" { h1 { (title) } (body) }
            }
        }
    }
}

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

/// A token amount with thousands separators: 12,345.
pub fn tokens(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time, in UTC here and in the viewer's zone once the script runs; UTC stays on hover.
pub fn time(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) title=(format!("{} UTC", t.format("%Y-%m-%d %H:%M"))) { (t.format("%Y-%m-%d %H:%M")) " UTC" } }
}

/// A calendar day.
pub fn day(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.format("%Y-%m-%d")) data-date="1" { (t.format("%Y-%m-%d")) } }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_amounts_have_thousands_separators() {
        assert_eq!(tokens(0), "0");
        assert_eq!(tokens(999), "999");
        assert_eq!(tokens(1000), "1,000");
        assert_eq!(tokens(1_234_567), "1,234,567");
    }
}
