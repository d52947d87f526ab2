//! Who is at the browser, and forms they may post. A signed-in browser holds one HttpOnly,
//! SameSite=Strict cookie with a random secret; the database holds its SHA-256 (console sign-ins
//! in `console_sessions`, portal sign-ins as ordinary user tokens), so any server can check it
//! and signing out works everywhere at once.
//!
//! Every form that changes something carries a CSRF token: for a signed-in browser, a digest of
//! its cookie's secret (another site can neither read the cookie nor compute the digest); for the
//! forms before signing in, a random value set in a cookie of its own and repeated in the form.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use jeton_store::console::Staff;
use jeton_store::users::User;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::PageError;
use super::frame::Viewer;
use crate::auth::Caller;
use crate::extract::control;
use crate::keys::{hash_key, new_key};
use crate::state::AppState;

/// The admin console's sign-in cookie.
pub const STAFF_COOKIE: &str = "jeton_console";
/// The user portal's sign-in cookie (a user token).
pub const USER_COOKIE: &str = "jeton_portal";
/// The CSRF value of the forms shown before signing in.
pub const FORM_COOKIE: &str = "jeton_form";

/// Largest form the console takes (the CSV import has its own limit).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The CSRF token of forms shown to the holder of `secret`.
pub fn csrf_of(secret: &str) -> String {
    hash_key(&format!("jeton-csrf:{secret}"))
}

/// A cookie only this site's pages send back: HttpOnly, SameSite=Strict, Secure when the public
/// address is HTTPS.
pub fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/");
    c.set_secure(state.public_url.starts_with("https://"));
    // The server ends a sign-in after 12 idle hours; the browser forgets the cookie after a week
    // whatever its use (R-WEB-2).
    c.set_max_age(cookie::time::Duration::seconds(
        jeton_core::console::cookie_lifetime().num_seconds(),
    ));
    c
}

/// Tells the browser to forget a cookie.
pub fn forget(name: &'static str) -> Cookie<'static> {
    let mut c = Cookie::from(name);
    c.set_path("/");
    c
}

/// `next` if it is a path of this site, else `fallback`: a link cannot send a person elsewhere
/// after signing in.
pub fn local_path(next: Option<&str>, fallback: &str) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => fallback.to_owned(),
    }
}

fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    CookieJar::from_headers(&parts.headers)
        .get(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Where to come back to after signing in: the page asked for; for a form posted after the
/// sign-in ended, the page the form was on (its `Referer`, sent for this site's own pages),
/// since the form's address answers only POST.
fn come_back_to(parts: &Parts, fallback: &str) -> String {
    if parts.method == axum::http::Method::GET {
        return parts
            .uri
            .path_and_query()
            .map_or_else(|| fallback.to_owned(), |p| p.as_str().to_owned());
    }
    let referer = parts
        .headers
        .get(axum::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok());
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok());
    match referer {
        // Only a page of this site: another site's address is no place to send the person.
        Some(r) if r.authority().map(|a| a.as_str()) == host && host.is_some() => r
            .path_and_query()
            .map_or_else(|| fallback.to_owned(), |p| p.as_str().to_owned()),
        _ => fallback.to_owned(),
    }
}

/// A browser signed in to the admin console, as the operator or a team admin.
pub struct Staffer {
    pub caller: Caller,
    /// The name shown in the header.
    pub name: String,
    pub csrf: String,
    pub token_hash: String,
}

impl Staffer {
    pub fn is_operator(&self) -> bool {
        matches!(self.caller, Caller::Operator)
    }
}

impl Viewer for Staffer {
    fn name(&self) -> &str {
        &self.name
    }
    fn csrf(&self) -> &str {
        &self.csrf
    }
    fn is_operator(&self) -> bool {
        Staffer::is_operator(self)
    }
}

impl Viewer for PortalUser {
    fn name(&self) -> &str {
        &self.user.name
    }
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl FromRequestParts<AppState> for Staffer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let sign_in = || PageError::SignIn {
            page: "/console/sign-in",
            next: come_back_to(parts, "/console"),
        };
        let secret = cookie_value(parts, STAFF_COOKIE).ok_or_else(sign_in)?;
        let token_hash = hash_key(&secret);
        let staff = state
            .store
            .console_session(&token_hash, state.now())
            .await?
            .ok_or_else(sign_in)?;
        let (caller, name) = match staff {
            Staff::Operator => (Caller::Operator, "Operator".to_owned()),
            Staff::Admin(a) => {
                let name = a.name.clone();
                (Caller::Admin(a), name)
            }
        };
        Ok(Staffer {
            caller,
            name,
            csrf: csrf_of(&secret),
            token_hash,
        })
    }
}

/// A browser signed in to the user portal.
pub struct PortalUser {
    pub user: User,
    pub csrf: String,
    pub token_hash: String,
}

impl FromRequestParts<AppState> for PortalUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let sign_in = || PageError::SignIn {
            page: "/portal/sign-in",
            next: come_back_to(parts, "/portal"),
        };
        let token = cookie_value(parts, USER_COOKIE).ok_or_else(sign_in)?;
        let token_hash = hash_key(&token);
        let user = state
            .store
            .portal_user(&token_hash, state.now())
            .await?
            .ok_or_else(sign_in)?;
        Ok(PortalUser {
            user,
            csrf: csrf_of(&token),
            token_hash,
        })
    }
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// Refuses a form whose CSRF token is missing or not `expected`. Forms that `StaffForm` cannot
/// read (multipart uploads) call this with their `csrf` part before using anything else.
pub fn check_csrf(sent: Option<&str>, expected: &str) -> Result<(), PageError> {
    // Compared as digests, so the time taken says nothing about how much of it matched.
    if sent.map(hash_key) != Some(hash_key(expected)) {
        return Err(PageError::Csrf);
    }
    Ok(())
}

/// Reads a posted form: size, control characters, the CSRF token, then the fields. Repeated
/// fields (checkboxes) fill a `Vec`.
async fn read_form<T: DeserializeOwned>(
    req: Request,
    state: &AppState,
    expected_csrf: &str,
) -> Result<T, PageError> {
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|_| PageError::BadForm("the form could not be read".into()))?;
    if bytes.len() > MAX_FORM_BYTES {
        return Err(PageError::BadForm(format!(
            "the form is larger than {} KiB",
            MAX_FORM_BYTES / 1024
        )));
    }
    let pairs: Vec<(String, String)> = serde_html_form::from_bytes(&bytes)
        .map_err(|e| PageError::BadForm(format!("the form could not be read: {e}")))?;
    for (name, value) in &pairs {
        if let Some(c) = control(name).or_else(|| control(value)) {
            return Err(PageError::BadForm(format!(
                "{name} must not contain control characters; found U+{:04X}",
                c as u32
            )));
        }
    }
    let sent: CsrfField = serde_html_form::from_bytes(&bytes)
        .map_err(|e| PageError::BadForm(format!("the form could not be read: {e}")))?;
    check_csrf(sent.csrf.as_deref(), expected_csrf)?;
    serde_html_form::from_bytes(&bytes)
        .map_err(|e| PageError::BadForm(format!("the form does not fit this page: {e}")))
}

/// A form posted from the console by a signed-in admin or the operator.
pub struct StaffForm<T> {
    pub staff: Staffer,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for StaffForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let staff = Staffer::from_request_parts(&mut parts, state).await?;
        let form = read_form(Request::from_parts(parts, body), state, &staff.csrf).await?;
        Ok(StaffForm { staff, form })
    }
}

/// A form posted from the portal by a signed-in user.
pub struct UserForm<T> {
    pub user: PortalUser,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for UserForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let user = PortalUser::from_request_parts(&mut parts, state).await?;
        let form = read_form(Request::from_parts(parts, body), state, &user.csrf).await?;
        Ok(UserForm { user, form })
    }
}

/// The CSRF value for a form shown before signing in: the browser's own if it has one, else a
/// new one to set (the page sets the cookie it returns).
pub struct FormToken {
    pub value: String,
    pub is_new: bool,
}

impl FormToken {
    /// The cookie to set with the page, when the browser had none.
    pub fn cookie(&self, state: &AppState) -> Option<Cookie<'static>> {
        self.is_new
            .then(|| cookie(state, FORM_COOKIE, self.value.clone()))
    }
}

impl FromRequestParts<AppState> for FormToken {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, PageError> {
        match cookie_value(parts, FORM_COOKIE) {
            Some(value) => Ok(FormToken {
                value,
                is_new: false,
            }),
            None => Ok(FormToken {
                value: new_key("")?,
                is_new: true,
            }),
        }
    }
}

/// A form posted before signing in (sign-in, forgotten password, choosing a password).
pub struct AnonForm<T> {
    pub token: String,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for AnonForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (parts, body) = req.into_parts();
        let token = cookie_value(&parts, FORM_COOKIE).ok_or(PageError::Csrf)?;
        let form = read_form(Request::from_parts(parts, body), state, &token).await?;
        Ok(AnonForm { token, form })
    }
}
