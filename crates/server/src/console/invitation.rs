//! R-USR-3: the page behind the link in an invitation email. A new person chooses a password, a
//! person with an account proves it with theirs; either way they land in the portal, signed in.
//! Accepting is the API's own (`routes::invitations::accept_secret`); this is its face.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::account::start_portal_session;
use super::page::bare_page;
use crate::emails::ACCEPT_PATH;
use crate::error::ApiError;
use crate::extract::ApiForm;
use crate::routes::invitations::{accept_secret, open_invitation};
use crate::state::AppState;

/// The console's frame (stylesheet, header), so the link opens a page of the same site.
fn page(title: &str, content: Markup) -> Markup {
    bare_page(title, content)
}

fn error_page(e: &ApiError) -> Response {
    let (status, _, detail) = e.parts();
    (
        status,
        page(
            "This link does not work",
            html! { p.notice.bad role="alert" { (detail) } },
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LinkQuery {
    secret: Option<String>,
}

pub async fn accept_page(
    State(state): State<AppState>,
    query: axum::extract::Query<LinkQuery>,
) -> Response {
    let secret = query.0.secret.unwrap_or_default();
    accept_view(&state, &secret, None).await
}

/// The form behind the link; `refusal` is the message beside the password after a refused try.
/// A link that no longer works gets a page that says why.
async fn accept_view(state: &AppState, secret: &str, refusal: Option<(&str, String)>) -> Response {
    let invited = match open_invitation(state, secret, state.now()).await {
        Ok((_, invited)) => invited,
        Err(e) => return error_page(&e),
    };
    let team = match state.store.team(invited.invitation.team).await {
        Ok(t) => t.name,
        Err(e) => return error_page(&e.into()),
    };
    let existing = invited.password_hash.is_some();
    let error = |field: &str| {
        html! {
            @if let Some((f, message)) = &refusal && *f == field {
                p.field-error id=(format!("{field}-error")) role="alert" { (message) }
            }
        }
    };
    let invalid = |field: &str| {
        refusal
            .as_ref()
            .is_some_and(|(f, _)| *f == field)
            .then_some("true")
    };
    let markup = page(
        "Accept your invitation",
        html! {
            p { "Hello " (invited.invitation.name) ", you are invited to use Flex products on the team "
                strong { (team) } "." }
            div.card {
                form method="post" action=(ACCEPT_PATH) {
                    input type="hidden" name="secret" value=(secret);
                    @if existing {
                        p { "You already have an account as " (invited.invitation.email) ". Enter its password to accept." }
                        label for="password" { "Password" }
                        input id="password" type="password" name="password" required autocomplete="current-password"
                            aria-invalid=[invalid("password")] aria-describedby="password-error";
                        (error("password"))
                    } @else {
                        label for="password" { "Choose a password for " (invited.invitation.email) " (at least 8 characters)" }
                        input id="password" type="password" name="password" required minlength="8" autocomplete="new-password"
                            aria-invalid=[invalid("password")] aria-describedby="password-error";
                        (error("password"))
                        label for="again" { "The same password again" }
                        input id="again" type="password" name="again" required minlength="8" autocomplete="new-password"
                            aria-invalid=[invalid("again")] aria-describedby="again-error";
                        (error("again"))
                    }
                    div.actions { button type="submit" { "Accept the invitation" } }
                }
            }
            p.muted { "The link works until " (invited.invitation.expires_at.format("%Y-%m-%d %H:%M")) " UTC." }
        },
    );
    match refusal {
        Some(_) => (StatusCode::UNPROCESSABLE_ENTITY, markup).into_response(),
        None => markup.into_response(),
    }
}

#[derive(Deserialize)]
pub struct AcceptForm {
    secret: String,
    password: String,
    again: Option<String>,
}

pub async fn accept_form(
    State(state): State<AppState>,
    ApiForm(form): ApiForm<AcceptForm>,
) -> Response {
    if let Some(again) = &form.again
        && *again != form.password
    {
        let message = "the two passwords differ; type them again".to_owned();
        return accept_view(&state, &form.secret, Some(("again", message))).await;
    }
    match accept_secret(&state, &form.secret, &form.password).await {
        // Straight into the portal, signed in: the person just proved who they are.
        Ok((user, _)) => start_portal_session(&state, user, None)
            .await
            .into_response(),
        // A password refused (too short, or not the account's): the form again, the message
        // beside it. A link that stopped working: the page that says why.
        Err(e) => {
            let (status, _, detail) = e.parts();
            if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED {
                accept_view(&state, &form.secret, Some(("password", detail))).await
            } else {
                error_page(&e)
            }
        }
    }
}
