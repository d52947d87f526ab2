//! Users › Flex (R-USR-1..4, R-USR-6, R-ACC-1..3): the team's Flex users with their status and
//! products, search and paging; assigning several people at once; one person's products as a
//! checklist; unassigning; resending an invitation; and the team's default assignments. Every
//! change goes through the same functions as the API's `/v1/teams/{team}/flex/...`.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use jeton_core::assignment::AssignmentStatus;
use jeton_core::invitee::{MAX_ENTRIES, split_entries};
use jeton_core::{InvitationId, ProductAccess, ProductKey, UserId};
use jeton_store::catalogue::Product;
use jeton_store::flex::FlexUser;
use jeton_store::teams::Team;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, csrf, refusal, refused,
    see_other, time,
};
use super::session::{StaffForm, Staffer};
use super::teams::open_team;
use super::words as w;
use crate::routes::flex::{do_assign, product_keys, who};
use crate::state::AppState;

const USERS_PER_PAGE: usize = 50;

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct AssignForm {
    #[serde(default)]
    people: String,
    #[serde(default)]
    products: Vec<String>,
    all: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct ProductsForm {
    #[serde(default)]
    products: Vec<String>,
    all: Option<String>,
}

fn status_badge(u: &FlexUser, now: DateTime<Utc>) -> Markup {
    match (u.status, u.invitation) {
        (AssignmentStatus::Active, _) => html! { span.badge.active { (w::STATUS_ACTIVE) } },
        (AssignmentStatus::Invited, Some((_, expires))) if expires <= now => {
            html! { span.badge.expired { (w::STATUS_EXPIRED) } }
        }
        (AssignmentStatus::Invited, _) => html! { span.badge.invited { (w::STATUS_INVITED) } },
    }
}

fn names(keys: &BTreeSet<ProductKey>, catalogue: &[Product]) -> String {
    if keys.is_empty() {
        return w::NONE.to_owned();
    }
    catalogue
        .iter()
        .filter(|p| keys.contains(&p.key))
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn selection_text(s: &ProductAccess, catalogue: &[Product]) -> String {
    match s {
        ProductAccess::All => w::ALL_PRODUCTS.to_owned(),
        ProductAccess::Selected(k) => names(k, catalogue),
    }
}

/// The checklist of the catalogue, with "all products" above it.
fn checklist(
    catalogue: &[Product],
    chosen: &BTreeSet<String>,
    all: bool,
    with_all: bool,
) -> Markup {
    html! {
        @if with_all {
            label.inline { input type="checkbox" name="all" value="on" checked[all]; strong { (w::ALL_PRODUCTS) } }
            p.hint { (w::SELECT_ALL_TEXT) }
        }
        div.checklist {
            @for p in catalogue {
                label.inline {
                    input type="checkbox" name="products" value=(p.key.to_string()) checked[chosen.contains(p.key.as_str())];
                    (p.name) " " span.muted { "(" (p.key) ")" }
                }
            }
        }
    }
}

fn matches(u: &FlexUser, q: &str) -> bool {
    let q = q.to_lowercase();
    u.user.name.to_lowercase().contains(&q) || u.user.email.to_lowercase().contains(&q)
}

struct AssignOutcome {
    done: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn render_list(
    staff: &Staffer,
    team: &Team,
    users: &[FlexUser],
    catalogue: &[Product],
    query: &ListQuery,
    form: &AssignForm,
    errors: &FieldErrors,
    outcome: Option<&AssignOutcome>,
    now: DateTime<Utc>,
) -> Markup {
    let q = query.q.as_deref().unwrap_or("").trim();
    let found: Vec<&FlexUser> = users
        .iter()
        .filter(|u| q.is_empty() || matches(u, q))
        .collect();
    let pages = found.len().div_ceil(USERS_PER_PAGE).max(1);
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let shown = found
        .iter()
        .skip((page - 1) * USERS_PER_PAGE)
        .take(USERS_PER_PAGE);
    let base = format!("/console/teams/{}/users", team.id);
    let page_link = |n: usize| {
        let pairs: Vec<(&str, String)> = [("q", q.to_owned()), ("page", n.to_string())]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let chosen: BTreeSet<String> = form.products.iter().cloned().collect();
    let body = html! {
        @match query.done.as_deref() {
            Some("unassigned") => p.notice.ok role="status" { (w::UNASSIGNED) },
            Some("resent") => p.notice.ok role="status" { (w::RESENT) },
            Some("assigned") => p.notice.ok role="status" { (w::ASSIGNED_ALL) },
            _ => {},
        }
        @if let Some(o) = outcome {
            @if !o.done.is_empty() {
                div.notice.ok role="status" { ul { @for d in &o.done { li { (d) } } } }
            }
        }
        details.card open[!errors.is_empty() || users.is_empty()] {
            summary { strong { (w::ASSIGN_USERS) } }
            @if outcome.is_some_and(|o| !o.done.is_empty()) && !errors.is_empty() {
                p.notice.warn role="alert" { (w::ASSIGNED_PARTLY) }
            } @else {
                (errors.summary())
            }
            form method="post" action=(format!("{base}/assign")) {
                (csrf(&staff.csrf))
                label for="people" { (w::ASSIGN_WHO) }
                textarea id="people" name="people" rows="4" placeholder="Jane Doe <jane@example.com>"
                    aria-invalid=[errors.invalid("people")] aria-describedby="people-hint people-error" { (form.people) }
                p.hint id="people-hint" { (w::ASSIGN_WHO_HINT) }
                (errors.show("people"))
                fieldset {
                    legend { (w::PRODUCTS) }
                    (checklist(catalogue, &chosen, form.all.is_some(), true))
                    p.hint { (w::DEFAULTS_APPLY) }
                    (errors.show("products"))
                }
                p.notice.warn { (w::ASSIGN_EMAIL_RULE) }
                div.actions { button type="submit" { (w::ASSIGN) } }
            }
        }
        form.filters method="get" action=(base) role="search" {
            div {
                label for="q" { (w::SEARCH) }
                input id="q" type="search" name="q" value=(q) placeholder=(w::SEARCH_HINT);
            }
            div { button.secondary type="submit" { (w::SEARCH) } }
        }
        @if found.is_empty() {
            p.muted { (w::NO_USERS) }
        } @else {
            div.table-wrap { table {
                thead { tr { th { (w::NAME) } th { (w::STATUS) } th { (w::SELECTED) } th { (w::EFFECTIVE) } th {} } }
                tbody {
                    @for u in shown {
                        tr {
                            td { a href=(format!("{base}/{}", u.user.id)) { (u.user.name) } br; span.muted { (u.user.email) } }
                            td { (status_badge(u, now)) }
                            td { (selection_text(&u.selection, catalogue)) }
                            td { (names(&u.effective, catalogue)) }
                            td {
                                @if let Some((id, expires)) = u.invitation && expires <= now {
                                    form.inline-form method="post" action=(format!("/console/teams/{}/invitations/{id}/resend", team.id)) {
                                        (csrf(&staff.csrf))
                                        button.secondary type="submit" { (w::RESEND) }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            @if pages > 1 {
                nav.pager aria-label=(w::PAGE) {
                    @if page > 1 { a href=(page_link(page - 1)) { "← " (w::PREVIOUS) } }
                    span { (w::PAGE) " " (page) " / " (pages) }
                    @if page < pages { a href=(page_link(page + 1)) { (w::NEXT) " →" } }
                }
            }
        }
    };
    console_page(staff, Some(team), Tab::Users, w::USERS_TITLE, body)
}

pub async fn list(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(query): PageQuery<ListQuery>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let users = state.store.flex_users(team.id).await?;
    let catalogue = state.store.list_products().await?;
    let markup = render_list(
        &staff,
        &team,
        &users,
        &catalogue,
        &query,
        &AssignForm::default(),
        &FieldErrors::default(),
        None,
        state.now(),
    );
    Ok(markup.into_response())
}

/// The selection a form asks for: "all", the ticked products, or (nothing ticked) none given,
/// which leaves it to the team's defaults.
fn form_selection(all: bool, products: &[String]) -> Result<Option<ProductAccess>, String> {
    if all {
        return Ok(Some(ProductAccess::All));
    }
    if products.is_empty() {
        return Ok(None);
    }
    product_keys(products)
        .map(|k| Some(ProductAccess::Selected(k)))
        .map_err(|e| e.parts().2)
}

/// R-USR-2: several people at once; each line is assigned or refused on its own. Lines that were
/// refused stay in the box with their reasons; the others are listed as done.
pub async fn assign(
    State(state): State<AppState>,
    PagePath(team): PagePath<i64>,
    StaffForm { staff, form }: StaffForm<AssignForm>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let catalogue = state.store.list_products().await?;
    let mut errors = FieldErrors::default();
    let mut done = Vec::new();
    let mut kept = form.clone();
    let entries = split_entries(&form.people);
    let selection = form_selection(form.all.is_some(), &form.products).and_then(|s| {
        // Checked here, before anyone is assigned: otherwise each line would be refused alike.
        match &s {
            Some(ProductAccess::Selected(keys)) => match keys
                .iter()
                .find(|k| !catalogue.iter().any(|p| &p.key == *k))
            {
                Some(k) => {
                    Err(jeton_core::DomainError::UnknownProduct { key: k.to_string() }.to_string())
                }
                None => Ok(s),
            },
            _ => Ok(s),
        }
    });
    match (&selection, entries.len()) {
        (Err(e), _) => errors.add("products", e.clone()),
        (_, 0) => errors.add(
            "people",
            "type at least one person: Full Name <name@example.com>",
        ),
        (_, n) if n > MAX_ENTRIES => {
            errors.add("people", format!("at most {MAX_ENTRIES} people at once"));
        }
        (Ok(selection), _) => {
            let scope = staff.caller.id_scope()?;
            let mut failed = Vec::new();
            let mut reasons = Vec::new();
            for entry in entries {
                let outcome = match who(&entry) {
                    Ok(who) => do_assign(&state, team.id, &who, scope, selection.as_ref()).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(a) => done.push(format!(
                        "{} <{}>: {}",
                        a.user.name,
                        a.user.email,
                        match a.status {
                            AssignmentStatus::Active => "assigned; an email lists their products",
                            AssignmentStatus::Invited => "invited; the invitation is emailed",
                        }
                    )),
                    Err(e) => {
                        let (status, _, detail) = e.parts();
                        if status.is_server_error() {
                            return Err(e.into());
                        }
                        // Most refusals already quote the line; the others are told which.
                        reasons.push(if detail.contains(entry.as_str()) {
                            detail
                        } else {
                            format!("{entry}: {detail}")
                        });
                        failed.push(entry);
                    }
                }
            }
            if !reasons.is_empty() {
                errors.add("people", reasons.join(" · "));
            }
            kept.people = failed.join("\n");
        }
    }
    if errors.is_empty() {
        return Ok(see_other(&format!(
            "/console/teams/{}/users?done=assigned",
            team.id
        )));
    }
    let users = state.store.flex_users(team.id).await?;
    let outcome = AssignOutcome { done };
    let markup = render_list(
        &staff,
        &team,
        &users,
        &catalogue,
        &ListQuery::default(),
        &kept,
        &errors,
        Some(&outcome),
        state.now(),
    );
    Ok(refused(markup))
}

/// What a person's page shows.
struct Detail {
    team: Team,
    user: FlexUser,
    catalogue: Vec<Product>,
    defaults_on: bool,
    now: DateTime<Utc>,
}

async fn detail_of(state: &AppState, team: Team, user: UserId) -> PageResult<Detail> {
    Ok(Detail {
        user: state.store.flex_user(team.id, user).await?,
        catalogue: state.store.list_products().await?,
        defaults_on: !state.store.defaults(team.id).await?.is_empty(),
        now: state.now(),
        team,
    })
}

fn render_detail(
    staff: &Staffer,
    d: &Detail,
    form: Option<&ProductsForm>,
    errors: &FieldErrors,
    saved: bool,
) -> Markup {
    let (team, u, catalogue, defaults_on, now) = (
        &d.team,
        &d.user,
        d.catalogue.as_slice(),
        d.defaults_on,
        d.now,
    );
    let (chosen, all): (BTreeSet<String>, bool) = match form {
        Some(f) => (f.products.iter().cloned().collect(), f.all.is_some()),
        None => match &u.selection {
            ProductAccess::All => (BTreeSet::new(), true),
            ProductAccess::Selected(k) => (k.iter().map(|k| k.to_string()).collect(), false),
        },
    };
    let base = format!("/console/teams/{}/users/{}", team.id, u.user.id);
    let body = html! {
        @if saved { p.notice.ok role="status" { (w::SAVED) } }
        div.card {
            dl.facts {
                dt { (w::NAME) } dd { (u.user.name) }
                dt { (w::EMAIL) } dd { (u.user.email) }
                dt { (w::STATUS) } dd { (status_badge(u, now)) }
                dt { "Assigned" } dd { (time(u.assigned_at)) }
                dt { (w::EFFECTIVE) } dd { (names(&u.effective, catalogue)) }
            }
            @if defaults_on {
                p.notice.warn { "The team's default assignments are on: they decide what every Flex user may open, whatever is chosen here." }
            }
        }
        div.card {
            h2 { (w::PRODUCTS) }
            (errors.summary())
            form method="post" action=(base) {
                (csrf(&staff.csrf))
                (checklist(catalogue, &chosen, all, true))
                (errors.show("products"))
                div.actions { button type="submit" { (w::SAVE_CHANGES) } }
            }
        }
        div.card {
            h2 { (w::UNASSIGN) }
            p.muted { (w::UNASSIGN_TEXT) }
            form method="post" action=(format!("{base}/unassign")) {
                (csrf(&staff.csrf))
                button.danger type="submit" { (w::UNASSIGN) " " (u.user.name) }
            }
        }
    };
    console_page(staff, Some(team), Tab::Users, &u.user.name, body)
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    saved: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath((team, user)): PagePath<(i64, UserId)>,
    PageQuery(query): PageQuery<DetailQuery>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let d = detail_of(&state, team, user).await?;
    Ok(render_detail(
        &staff,
        &d,
        None,
        &FieldErrors::default(),
        query.saved.is_some(),
    )
    .into_response())
}

/// R-ACC-1/2: the same change as `PUT /v1/teams/{team}/flex/users/{user}/products`; nothing
/// ticked takes every product away.
pub async fn set_products(
    State(state): State<AppState>,
    PagePath((team, user)): PagePath<(i64, UserId)>,
    StaffForm { staff, form }: StaffForm<ProductsForm>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let selection = match form_selection(form.all.is_some(), &form.products) {
        Ok(s) => Ok(s.unwrap_or_else(ProductAccess::none)),
        Err(e) => Err(FieldErrors::one("products", e)),
    };
    let errors = match selection {
        Err(e) => e,
        Ok(access) => {
            let compose = |facts: &jeton_store::flex::MailFacts| state.compose_mail(facts);
            match state
                .store
                .set_products(team.id, user, &access, &compose, state.now())
                .await
            {
                Ok(_) => {
                    state.mail_queued();
                    return Ok(see_other(&format!(
                        "/console/teams/{}/users/{user}?saved=1",
                        team.id
                    )));
                }
                Err(e) => refusal("products", e)?,
            }
        }
    };
    let d = detail_of(&state, team, user).await?;
    Ok(refused(render_detail(
        &staff,
        &d,
        Some(&form),
        &errors,
        false,
    )))
}

#[derive(Deserialize)]
pub struct Empty {}

/// R-USR-6: the same as `DELETE /v1/teams/{team}/flex/users/{user}`.
pub async fn unassign(
    State(state): State<AppState>,
    PagePath((team, user)): PagePath<(i64, UserId)>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    state.store.unassign(team.id, user, state.now()).await?;
    Ok(see_other(&format!(
        "/console/teams/{}/users?done=unassigned",
        team.id
    )))
}

/// R-USR-3: a new link valid 7 days; the old one stops working.
pub async fn resend(
    State(state): State<AppState>,
    PagePath((team, id)): PagePath<(i64, InvitationId)>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let secret = crate::keys::new_secret()?;
    let compose = |facts: &jeton_store::flex::MailFacts| state.compose_mail(facts);
    state
        .store
        .resend_invitation(team.id, id, &secret, &compose, state.now())
        .await?;
    state.mail_queued();
    Ok(see_other(&format!(
        "/console/teams/{}/users?done=resent",
        team.id
    )))
}

// ---------------------------------------------------------------- default assignments

#[derive(Deserialize, Default)]
pub struct DefaultsQuery {
    saved: Option<String>,
}

fn render_defaults(
    staff: &Staffer,
    team: &Team,
    catalogue: &[Product],
    chosen: &BTreeSet<String>,
    errors: &FieldErrors,
    saved: bool,
) -> Markup {
    let on = !chosen.is_empty();
    let body = html! {
        @if saved { p.notice.ok role="status" { (w::SAVED) } }
        div.card {
            p { (w::DEFAULTS_TEXT_1) }
            ul {
                li { (w::DEFAULTS_TEXT_2) }
                li { (w::DEFAULTS_TEXT_3) }
                li { (w::DEFAULTS_TEXT_4) }
            }
            p { strong { @if on { "Default assignments are on." } @else { "Default assignments are off." } } }
            (errors.summary())
            form method="post" action=(format!("/console/teams/{}/defaults", team.id)) {
                (csrf(&staff.csrf))
                fieldset {
                    legend { (w::PRODUCTS) }
                    (checklist(catalogue, chosen, false, false))
                }
                (errors.show("products"))
                div.actions { button type="submit" { (w::SAVE_CHANGES) } }
            }
        }
    };
    console_page(staff, Some(team), Tab::Defaults, w::DEFAULTS_TITLE, body)
}

pub async fn defaults_page(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(query): PageQuery<DefaultsQuery>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let catalogue = state.store.list_products().await?;
    let chosen = state
        .store
        .defaults(team.id)
        .await?
        .iter()
        .map(|k| k.to_string())
        .collect();
    Ok(render_defaults(
        &staff,
        &team,
        &catalogue,
        &chosen,
        &FieldErrors::default(),
        query.saved.is_some(),
    )
    .into_response())
}

/// R-ACC-3: the same as `PUT /v1/teams/{team}/flex/defaults`; nothing ticked turns them off.
pub async fn set_defaults(
    State(state): State<AppState>,
    PagePath(team): PagePath<i64>,
    StaffForm { staff, form }: StaffForm<ProductsForm>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let errors = match product_keys(&form.products) {
        Err(e) => refusal("products", e)?,
        Ok(keys) => match state.store.set_defaults(team.id, &keys).await {
            Ok(_) => {
                return Ok(see_other(&format!(
                    "/console/teams/{}/defaults?saved=1",
                    team.id
                )));
            }
            Err(e) => refusal("products", e)?,
        },
    };
    let catalogue = state.store.list_products().await?;
    let chosen = form.products.iter().cloned().collect();
    Ok(refused(render_defaults(
        &staff, &team, &catalogue, &chosen, &errors, false,
    )))
}
