//! Operator › Admins (R-AUTH-1): the team admins with their teams and whether their key works;
//! creating an admin (the API key shown once, and the console password link, also emailed);
//! revoking and rotating keys; sending a new password link. The same functions as
//! `/v1/admins…`. A revoked admin is out of the console too (`Store::console_session`).

use std::collections::BTreeSet;

use axum::extract::State;
use axum::response::IntoResponse;
use jeton_core::ErrorCode;
use jeton_core::{AdminId, Email, PersonName};
use jeton_store::admins::Admin;
use jeton_store::console::LinkOwner;
use jeton_store::teams::Team;
use maud::{Markup, html};
use serde::Deserialize;

use super::secret_box;
use crate::console::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, csrf, day, refused, see_other,
    time,
};
use crate::console::session::{StaffForm, Staffer};
use crate::console::words as w;
use crate::error::ApiError;
use crate::password_links;
use crate::routes::admins as api;
use crate::state::AppState;

#[derive(Deserialize, Default, Clone)]
pub struct AdminForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    teams: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    done: Option<String>,
    who: Option<String>,
}

#[derive(Deserialize)]
pub struct Empty {}

fn team_names(ids: &[jeton_core::TeamId], teams: &[Team]) -> String {
    let names: Vec<&str> = ids
        .iter()
        .map(|id| {
            teams
                .iter()
                .find(|t| t.id == *id)
                .map_or("?", |t| t.name.as_str())
        })
        .collect();
    names.join(", ")
}

fn admin_row(staff: &Staffer, a: &Admin, teams: &[Team]) -> Markup {
    let base = format!("/console/operator/admins/{}", a.id);
    html! {
        tr data-admin=(a.id) {
            td { strong { (a.name) } br; span.muted { (a.email) } }
            td { (team_names(&a.teams, teams)) }
            td {
                @match a.key_revoked_at {
                    None => { span.badge.active { (w::OP_KEY_ACTIVE) } br; span.muted { (w::OP_SINCE) " " (day(a.key_created_at)) } },
                    Some(at) => { span.badge.expired { (w::OP_KEY_REVOKED) } br; span.muted { (w::OP_SINCE) " " (day(at)) } },
                }
            }
            td.row-actions {
                @if a.key_revoked_at.is_none() {
                    form.inline-form method="post" action=(format!("{base}/revoke")) {
                        (csrf(&staff.csrf))
                        button.danger.revoke type="submit" { (w::OP_REVOKE) }
                    }
                }
                form.inline-form method="post" action=(format!("{base}/rotate")) {
                    (csrf(&staff.csrf))
                    button.secondary.rotate type="submit" { (w::OP_ROTATE) }
                }
                form.inline-form method="post" action=(format!("{base}/password-link")) {
                    (csrf(&staff.csrf))
                    button.secondary.link type="submit" { (w::OP_SEND_LINK) }
                }
            }
        }
    }
}

fn render_list(
    staff: &Staffer,
    admins: &[Admin],
    teams: &[Team],
    query: &ListQuery,
    form: &AdminForm,
    errors: &FieldErrors,
) -> Markup {
    let chosen: BTreeSet<&str> = form.teams.iter().map(String::as_str).collect();
    let who = query.who.as_deref().unwrap_or("");
    let body = html! {
        @if query.done.as_deref() == Some("revoked") {
            p.notice.ok role="status" { (w::op_revoked(who)) }
        }
        @if admins.is_empty() {
            p.muted { (w::OP_NO_ADMINS) }
        } @else {
            div.table-wrap { table {
                thead { tr { th { (w::NAME) } th { (w::OP_TEAMS) } th { (w::OP_API_KEY) } th {} } }
                tbody { @for a in admins { (admin_row(staff, a, teams)) } }
            } }
            p.muted { (w::OP_REVOKE_TEXT) " " (w::OP_ROTATE_TEXT) }
        }
        details.card open[!errors.is_empty() || admins.is_empty()] {
            summary { strong { (w::OP_CREATE_ADMIN) } }
            p.muted { (w::OP_CREATE_ADMIN_TEXT) }
            (errors.summary())
            form method="post" action="/console/operator/admins" {
                (csrf(&staff.csrf))
                label for="email" { (w::EMAIL) }
                input id="email" type="email" name="email" required value=(form.email) autocomplete="off"
                    aria-invalid=[errors.invalid("email")] aria-describedby="email-error";
                (errors.show("email"))
                label for="name" { (w::NAME) }
                input id="name" type="text" name="name" required value=(form.name) autocomplete="off"
                    aria-invalid=[errors.invalid("name")] aria-describedby="name-error";
                (errors.show("name"))
                fieldset aria-describedby="teams-error" {
                    legend { (w::OP_TEAMS_MANAGED) }
                    div.checklist {
                        @for t in teams.iter().filter(|t| t.closed_at.is_none()) {
                            label.inline {
                                input type="checkbox" name="teams" value=(t.id) checked[chosen.contains(t.id.to_string().as_str())];
                                (t.name)
                            }
                        }
                    }
                    (errors.show("teams"))
                }
                div.actions { button type="submit" { (w::OP_CREATE_ADMIN_BUTTON) } }
            }
        }
    };
    console_page(staff, None, Tab::OpAdmins, w::OP_ADMINS_TITLE, body)
}

pub async fn list(
    State(state): State<AppState>,
    staff: Staffer,
    PageQuery(query): PageQuery<ListQuery>,
) -> PageResult {
    staff.caller.require_operator()?;
    let admins = state.store.admins().await?;
    let teams = state.store.list_teams(None).await?;
    Ok(render_list(
        &staff,
        &admins,
        &teams,
        &query,
        &AdminForm::default(),
        &FieldErrors::default(),
    )
    .into_response())
}

/// Where a refusal of `routes::admins::create` goes: a taken address beside the email, the rest
/// (no team, a team gone meanwhile) beside the teams.
fn creation_refusal(e: ApiError) -> Result<FieldErrors, ApiError> {
    let (status, code, detail) = e.parts();
    if status.is_server_error() {
        return Err(e);
    }
    Ok(match code {
        ErrorCode::DuplicateAdmin => FieldErrors::one("email", detail),
        ErrorCode::NotFound => FieldErrors::one("teams", w::OP_TEAM_GONE),
        _ => FieldErrors::one("teams", detail),
    })
}

/// The same as `POST /v1/admins`: the answer shows the key and the password link, this once.
pub async fn create(
    State(state): State<AppState>,
    StaffForm { staff, form }: StaffForm<AdminForm>,
) -> PageResult {
    staff.caller.require_operator()?;
    let mut errors = FieldErrors::default();
    let email = Email::parse(&form.email).map_err(|e| ApiError::from(e).parts().2);
    let name = PersonName::parse(&form.name).map_err(|e| ApiError::from(e).parts().2);
    let teams: Result<Vec<i64>, _> = form.teams.iter().map(|t| t.trim().parse()).collect();
    match (&email, &name, &teams) {
        (Ok(email), Ok(name), Ok(teams)) if !teams.is_empty() => {
            match api::create(&state, email, name, teams).await {
                Ok(created) => {
                    let body = html! {
                        p.notice.ok role="status" { (w::op_admin_created(&created.name, &created.email)) }
                        div.card.once {
                            (secret_box("api-key", w::OP_API_KEY, &created.api_key, w::OP_KEY_ONCE))
                            (secret_box("password-link", w::OP_PASSWORD_LINK, &created.password_link,
                                &w::op_link_emailed(&created.email)))
                            p.muted { (w::OP_LINK_EXPIRES) " " (time(created.password_link_expires_at)) }
                        }
                        p { a.button href="/console/operator/admins" { (w::OP_BACK_TO_ADMINS) } }
                    };
                    return Ok(console_page(
                        &staff,
                        None,
                        Tab::OpAdmins,
                        w::OP_ADMIN_CREATED,
                        body,
                    )
                    .into_response());
                }
                Err(e) => errors = creation_refusal(e)?,
            }
        }
        _ => {
            if let Err(m) = &email {
                errors.add("email", m.clone());
            }
            if let Err(m) = &name {
                errors.add("name", m.clone());
            }
            match &teams {
                Ok(t) if t.is_empty() => errors.add("teams", w::OP_CHOOSE_TEAM),
                Ok(_) => {}
                Err(_) => errors.add("teams", w::OP_TEAM_GONE),
            }
        }
    }
    let admins = state.store.admins().await?;
    let all = state.store.list_teams(None).await?;
    Ok(refused(render_list(
        &staff,
        &admins,
        &all,
        &ListQuery::default(),
        &form,
        &errors,
    )))
}

/// R-AUTH-1: the same as `POST /v1/admins/{admin}/revoke`; their console sign-ins end with it.
pub async fn revoke(
    State(state): State<AppState>,
    PagePath(admin): PagePath<i64>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    staff.caller.require_operator()?;
    let admin = state
        .store
        .revoke_admin_key(AdminId(admin), state.now())
        .await?;
    let query = serde_urlencoded::to_string([("done", "revoked"), ("who", &admin.name)])
        .unwrap_or_default();
    Ok(see_other(&format!("/console/operator/admins?{query}")))
}

/// R-AUTH-1: the same as `POST /v1/admins/{admin}/rotate`: the new key, shown this once.
pub async fn rotate(
    State(state): State<AppState>,
    PagePath(admin): PagePath<i64>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    staff.caller.require_operator()?;
    let (admin, key) = api::rotate(&state, AdminId(admin)).await?;
    let body = html! {
        p.notice.ok role="status" { (w::op_rotated(&admin.name)) }
        div.card.once {
            (secret_box("api-key", w::OP_NEW_API_KEY, &key, w::OP_KEY_ONCE))
        }
        p { a.button href="/console/operator/admins" { (w::OP_BACK_TO_ADMINS) } }
    };
    Ok(console_page(&staff, None, Tab::OpAdmins, w::OP_KEY_ROTATED, body).into_response())
}

/// The same as `POST /v1/admins/{admin}/password-link`: emailed, and shown here to hand over.
pub async fn password_link(
    State(state): State<AppState>,
    PagePath(admin): PagePath<i64>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    staff.caller.require_operator()?;
    let admin = state.store.admin(AdminId(admin)).await?;
    let (link, expires_at) = password_links::send(&state, LinkOwner::Admin(admin.id)).await?;
    let body = html! {
        div.card.once {
            (secret_box("password-link", w::OP_PASSWORD_LINK, &link, &w::op_link_emailed(&admin.email)))
            p.muted { (w::OP_LINK_EXPIRES) " " (time(expires_at)) " " (w::OP_EARLIER_LINKS) }
        }
        p { a.button href="/console/operator/admins" { (w::OP_BACK_TO_ADMINS) } }
    };
    Ok(console_page(
        &staff,
        None,
        Tab::OpAdmins,
        &w::op_link_title(&admin.name),
        body,
    )
    .into_response())
}
