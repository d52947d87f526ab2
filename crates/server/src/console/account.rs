//! Signing in and out of the console and the portal, and choosing a password through an emailed
//! link (an admin's first console password, a user's forgotten one). Passwords are checked by
//! `crate::sign_in`, the same code and the same 10-tries rule as `POST /v1/auth/token`.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use jeton_core::console::session_lifetime;
use jeton_core::{Email, Password};
use jeton_store::console::LinkOwner;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{FieldErrors, PageError, PageResult, bare_page, csrf, refused, see_other};
use super::session::{
    AnonForm, FORM_COOKIE, FormToken, STAFF_COOKIE, StaffForm, USER_COOKIE, UserForm, cookie,
    forget, local_path,
};
use super::words as w;
use crate::error::ApiError;
use crate::keys::{USER_PREFIX, hash_key, new_key};
use crate::state::AppState;

/// Longer than any secret we make; a longer one names no link.
const MAX_SECRET_LEN: usize = 128;

pub async fn landing() -> Markup {
    bare_page(
        w::LANDING_TITLE,
        html! {
            div.landing {
                div.card {
                    h2 { a href="/portal" { (w::LANDING_USERS) } }
                    p.muted { (w::LANDING_USERS_TEXT) }
                }
                div.card {
                    h2 { a href="/console" { (w::LANDING_ADMINS) } }
                    p.muted { (w::LANDING_ADMINS_TEXT) }
                }
            }
            // For whoever connects a product client or a script: no sign-in needed.
            p.muted { a href="/docs" { (w::LANDING_API) } }
        },
    )
}

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// The page with its form token cookie, when the browser had none yet.
fn with_token(state: &AppState, token: &FormToken, page: Response) -> Response {
    match token.cookie(state) {
        Some(c) => (CookieJar::new().add(c), page).into_response(),
        None => page,
    }
}

#[derive(Deserialize, Default)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    operator_key: String,
    next: Option<String>,
}

fn email_password_form(
    action: &str,
    token: &str,
    form: &SignInForm,
    errors: &FieldErrors,
) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf(token))
            @if let Some(n) = &form.next { input type="hidden" name="next" value=(n); }
            label for="email" { (w::EMAIL) }
            input id="email" type="email" name="email" value=(form.email) required autocomplete="username"
                aria-invalid=[errors.invalid("email")] aria-describedby="email-error";
            (errors.show("email"))
            label for="password" { (w::PASSWORD) }
            input id="password" type="password" name="password" required autocomplete="current-password"
                aria-invalid=[errors.invalid("password")];
            div.actions { button type="submit" { (w::SIGN_IN) } }
        }
    }
}

fn staff_sign_in_view(token: &str, form: &SignInForm, errors: &FieldErrors) -> Markup {
    bare_page(
        w::CONSOLE_SIGN_IN,
        html! {
            div.card { (email_password_form("/console/sign-in", token, form, errors))
                p.hint { (w::NO_CONSOLE_PASSWORD) } }
            div.card {
                h2 { (w::OPERATOR_SIGN_IN) }
                form method="post" action="/console/sign-in" {
                    (csrf(token))
                    @if let Some(n) = &form.next { input type="hidden" name="next" value=(n); }
                    label for="operator_key" { (w::OPERATOR_KEY) }
                    input id="operator_key" type="password" name="operator_key" autocomplete="off"
                        aria-invalid=[errors.invalid("operator_key")] aria-describedby="operator_key-error";
                    (errors.show("operator_key"))
                    p.hint { (w::OPERATOR_KEY_HINT) }
                    div.actions { button.secondary type="submit" { (w::SIGN_IN) } }
                }
            }
        },
    )
}

/// A sign-in page drawn by `view`, empty but for where to go next, with its form token.
fn sign_in_page(
    state: &AppState,
    token: &FormToken,
    next: Next,
    view: fn(&str, &SignInForm, &FieldErrors) -> Markup,
) -> Response {
    let form = SignInForm {
        next: next.next,
        ..SignInForm::default()
    };
    with_token(
        state,
        token,
        view(&token.value, &form, &FieldErrors::default()).into_response(),
    )
}

pub async fn staff_sign_in_page(
    State(state): State<AppState>,
    token: FormToken,
    Query(next): Query<Next>,
) -> Response {
    sign_in_page(&state, &token, next, staff_sign_in_view)
}

/// Signs the browser in: a new random secret in the cookie, its digest in the database.
async fn start_staff_session(
    state: &AppState,
    admin: Option<jeton_core::AdminId>,
    next: Option<&str>,
) -> PageResult {
    let secret = new_key("")?;
    let now = state.now();
    state
        .store
        .create_console_session(&hash_key(&secret), admin, now, now + session_lifetime())
        .await?;
    let jar = CookieJar::new()
        .add(cookie(state, STAFF_COOKIE, secret))
        .remove(forget(FORM_COOKIE));
    Ok((jar, see_other(&local_path(next, "/console"))).into_response())
}

pub async fn staff_sign_in(
    State(state): State<AppState>,
    AnonForm { token, form }: AnonForm<SignInForm>,
) -> PageResult {
    if !form.operator_key.is_empty() {
        if hash_key(form.operator_key.trim()) == state.operator_key_hash {
            return start_staff_session(&state, None, form.next.as_deref()).await;
        }
        let errors = FieldErrors::one("operator_key", w::OPERATOR_KEY_WRONG);
        return Ok(refused(staff_sign_in_view(&token, &form, &errors)));
    }
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            let errors = FieldErrors::one("email", e.to_string());
            return Ok(refused(staff_sign_in_view(&token, &form, &errors)));
        }
    };
    let checked = crate::sign_in::check(&state, &email, &form.password, async || {
        state.store.admin_credentials(&email).await
    })
    .await;
    match checked {
        Ok(admin) if admin.key_revoked_at.is_none() => {
            start_staff_session(&state, Some(admin.id), form.next.as_deref()).await
        }
        Ok(_) => {
            let errors = FieldErrors::one(
                "email",
                "the operator revoked this admin's access; ask them to restore it",
            );
            Ok(refused(staff_sign_in_view(&token, &form, &errors)))
        }
        Err(e) => {
            let errors = sign_in_refusal(e)?;
            Ok(refused(staff_sign_in_view(&token, &form, &errors)))
        }
    }
}

/// A refused sign-in as the message beside the email; a fault stays a fault.
fn sign_in_refusal(e: ApiError) -> Result<FieldErrors, PageError> {
    let (status, _, detail) = e.parts();
    if status.is_server_error() && !matches!(e, ApiError::Busy { .. }) {
        return Err(PageError::Api(e));
    }
    Ok(FieldErrors::one("email", detail))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn staff_sign_out(
    State(state): State<AppState>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    state
        .store
        .end_console_session(&staff.token_hash, state.now())
        .await?;
    let jar = CookieJar::new().remove(forget(STAFF_COOKIE));
    Ok((jar, see_other("/console/sign-in")).into_response())
}

// ---------------------------------------------------------------- the portal's door

fn user_sign_in_view(token: &str, form: &SignInForm, errors: &FieldErrors) -> Markup {
    bare_page(
        w::PORTAL_SIGN_IN,
        html! {
            div.card {
                (email_password_form("/portal/sign-in", token, form, errors))
                p { a href="/portal/forgot-password" { (w::FORGOT) } }
            }
        },
    )
}

pub async fn user_sign_in_page(
    State(state): State<AppState>,
    token: FormToken,
    Query(next): Query<Next>,
) -> Response {
    sign_in_page(&state, &token, next, user_sign_in_view)
}

pub async fn user_sign_in(
    State(state): State<AppState>,
    AnonForm { token, form }: AnonForm<SignInForm>,
) -> PageResult {
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            let errors = FieldErrors::one("email", e.to_string());
            return Ok(refused(user_sign_in_view(&token, &form, &errors)));
        }
    };
    let checked = crate::sign_in::check(&state, &email, &form.password, async || {
        state.store.credentials(&email).await
    })
    .await;
    let user = match checked {
        Ok(user) => user,
        Err(e) => {
            let errors = sign_in_refusal(e)?;
            return Ok(refused(user_sign_in_view(&token, &form, &errors)));
        }
    };
    start_portal_session(&state, user.id, form.next.as_deref()).await
}

/// Signs the browser in to the portal and sends it on to `next` (or "My products"). The portal's
/// sign-in is a user token like the API's, so signing out everywhere ends it too.
pub(crate) async fn start_portal_session(
    state: &AppState,
    user: jeton_core::UserId,
    next: Option<&str>,
) -> PageResult {
    let secret = new_key(USER_PREFIX)?;
    let now = state.now();
    state
        .store
        .create_user_token(user, &hash_key(&secret), now, now + session_lifetime())
        .await?;
    let jar = CookieJar::new()
        .add(cookie(state, USER_COOKIE, secret))
        .remove(forget(FORM_COOKIE));
    Ok((jar, see_other(&local_path(next, "/portal"))).into_response())
}

pub async fn user_sign_out(
    State(state): State<AppState>,
    UserForm { user, form }: UserForm<Empty>,
) -> PageResult {
    let Empty {} = form;
    state.store.end_user_token(&user.token_hash).await?;
    let jar = CookieJar::new().remove(forget(USER_COOKIE));
    Ok((jar, see_other("/portal/sign-in")).into_response())
}

// ---------------------------------------------------------------- forgotten passwords

#[derive(Deserialize, Default)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

fn forgot_view(token: &str, form: &ForgotForm, errors: &FieldErrors, sent: bool) -> Markup {
    bare_page(
        w::FORGOT_TITLE,
        html! {
            @if sent { p.notice.ok role="status" { (w::FORGOT_SENT) } }
            div.card {
                p { (w::FORGOT_TEXT) }
                form method="post" action="/portal/forgot-password" {
                    (csrf(token))
                    label for="email" { (w::EMAIL) }
                    input id="email" type="email" name="email" value=(form.email) required autocomplete="username"
                        aria-invalid=[errors.invalid("email")] aria-describedby="email-error";
                    (errors.show("email"))
                    div.actions { button type="submit" { (w::SEND_LINK) } }
                }
            }
            p { a href="/portal/sign-in" { (w::SIGN_IN) } }
        },
    )
}

pub async fn forgot_page(State(state): State<AppState>, token: FormToken) -> Response {
    let page = forgot_view(
        &token.value,
        &ForgotForm::default(),
        &FieldErrors::default(),
        false,
    )
    .into_response();
    with_token(&state, &token, page)
}

pub async fn forgot(
    State(state): State<AppState>,
    AnonForm { token, form }: AnonForm<ForgotForm>,
) -> PageResult {
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            let errors = FieldErrors::one("email", e.to_string());
            return Ok(refused(forgot_view(&token, &form, &errors, false)));
        }
    };
    // The same answer whether or not the address has an account: the page tells nobody who
    // has one. Asking counts as a sign-in attempt, so the link cannot be used to flood a mailbox.
    let now = state.now();
    if let jeton_core::sign_in::Verdict::Check(_) = state.store.sign_in_attempt(&email, now).await?
        && let Some(user) = state.store.user_for_reset(&email).await?
        && user.has_password
    {
        crate::password_links::send(&state, LinkOwner::User(user.id)).await?;
    }
    Ok(forgot_view(
        &token,
        &ForgotForm::default(),
        &FieldErrors::default(),
        true,
    )
    .into_response())
}

// ---------------------------------------------------------------- choosing a password

#[derive(Deserialize, Default)]
pub struct LinkQuery {
    secret: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    secret: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

fn password_view(token: &str, secret: &str, email: &str, errors: &FieldErrors) -> Markup {
    bare_page(
        w::CHOOSE_PASSWORD,
        html! {
            (errors.summary())
            div.card {
                p { (email) }
                form method="post" action="/password" {
                    (csrf(token))
                    input type="hidden" name="secret" value=(secret);
                    label for="password" { (w::NEW_PASSWORD) }
                    input id="password" type="password" name="password" required minlength="8" autocomplete="new-password"
                        aria-invalid=[errors.invalid("password")] aria-describedby="password-error";
                    (errors.show("password"))
                    label for="again" { (w::PASSWORD_AGAIN) }
                    input id="again" type="password" name="again" required minlength="8" autocomplete="new-password"
                        aria-invalid=[errors.invalid("again")] aria-describedby="again-error";
                    (errors.show("again"))
                    div.actions { button type="submit" { (w::SAVE_PASSWORD) } }
                }
            }
        },
    )
}

/// A dead or unknown link: a page that says so, never an error document.
fn broken_link(e: Option<ApiError>) -> PageResult {
    let text = match e {
        None => w::LINK_UNKNOWN.to_owned(),
        Some(e) => {
            let (status, _, detail) = e.parts();
            if status.is_server_error() {
                return Err(PageError::Api(e));
            }
            detail
        }
    };
    let page = bare_page(
        w::LINK_BROKEN_TITLE,
        html! {
            p.notice.bad role="alert" { (text) }
            p { a href="/portal/forgot-password" { (w::FORGOT) } }
        },
    );
    Ok((axum::http::StatusCode::GONE, page).into_response())
}

async fn open_link(
    state: &AppState,
    secret: &str,
) -> Result<Option<jeton_store::console::OpenLink>, ApiError> {
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
        return Ok(None);
    }
    Ok(state
        .store
        .password_link(&hash_key(secret), state.now())
        .await?)
}

pub async fn password_page(
    State(state): State<AppState>,
    token: FormToken,
    Query(q): Query<LinkQuery>,
) -> PageResult {
    let secret = q.secret.unwrap_or_default();
    let link = match open_link(&state, &secret).await {
        Ok(Some(link)) => link,
        Ok(None) => return broken_link(None),
        Err(e) => return broken_link(Some(e)),
    };
    let page =
        password_view(&token.value, &secret, &link.email, &FieldErrors::default()).into_response();
    Ok(with_token(&state, &token, page))
}

pub async fn set_password(
    State(state): State<AppState>,
    AnonForm { token, form }: AnonForm<PasswordForm>,
) -> PageResult {
    let link = match open_link(&state, &form.secret).await {
        Ok(Some(link)) => link,
        Ok(None) => return broken_link(None),
        Err(e) => return broken_link(Some(e)),
    };
    let password = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(e) => {
            let errors = FieldErrors::one("password", e.to_string());
            return Ok(refused(password_view(
                &token,
                &form.secret,
                &link.email,
                &errors,
            )));
        }
    };
    if form.again != form.password {
        let errors = FieldErrors::one("again", w::PASSWORDS_DIFFER);
        return Ok(refused(password_view(
            &token,
            &form.secret,
            &link.email,
            &errors,
        )));
    }
    let hash = state.passwords.slot().await?.hash(&password).await?;
    let used = match state
        .store
        .use_password_link(&hash_key(&form.secret), &hash, state.now())
        .await
    {
        Ok(used) => used,
        // Used by a request that raced this one, or expired meanwhile.
        Err(e) => return broken_link(Some(e.into())),
    };
    let sign_in = match used.owner {
        LinkOwner::Admin(_) => "/console/sign-in",
        LinkOwner::User(_) => "/portal/sign-in",
    };
    let page = bare_page(
        w::CHOOSE_PASSWORD,
        html! {
            p.notice.ok role="status" { (w::PASSWORD_SAVED) }
            p { a.button href=(sign_in) { (w::SIGN_IN) } }
        },
    );
    Ok(page.into_response())
}
