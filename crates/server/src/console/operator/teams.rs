//! Operator › All teams: every team, open and closed, with its balance, paged; creating a team;
//! a team's page to rename it or merge it into another (R-PACK-7). The same functions as
//! `POST /v1/teams`, `PATCH /v1/teams/{team}` and `POST /v1/teams/{team}/merge`.

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use jeton_core::TeamId;
use jeton_core::pack::BalanceSummary;
use jeton_store::teams::Team;
use maud::{Markup, html};
use serde::Deserialize;

use super::{page_number, pager};
use crate::console::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, csrf, day, refusal, refused,
    see_other, time, tokens,
};
use crate::console::session::{StaffForm, Staffer};
use crate::console::words as w;
use crate::routes::teams as api;
use crate::state::AppState;

const TEAMS_PER_PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    page: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct MergeForm {
    #[serde(default)]
    into_team: String,
}

fn team_page(id: TeamId) -> String {
    format!("/console/operator/teams/{id}")
}

/// Open teams first, then closed ones; by name within each.
fn listing_order(teams: &mut [Team]) {
    teams.sort_by(|a, b| {
        (a.closed_at.is_some(), a.name.to_lowercase(), a.id).cmp(&(
            b.closed_at.is_some(),
            b.name.to_lowercase(),
            b.id,
        ))
    });
}

fn status(team: &Team, all: &[Team]) -> Markup {
    match team.merged_into {
        None => html! { span.badge.active { (w::OP_TEAM_OPEN) } },
        Some(into) => {
            let name = all
                .iter()
                .find(|t| t.id == into)
                .map_or_else(|| into.to_string(), |t| t.name.clone());
            html! { span.badge { (w::OP_TEAM_CLOSED) } " " (w::OP_MERGED_INTO) " " a href=(team_page(into)) { (name) } }
        }
    }
}

async fn render_list(
    state: &AppState,
    staff: &Staffer,
    query: &ListQuery,
    form: &NameForm,
    errors: &FieldErrors,
) -> PageResult<Markup> {
    let mut teams = state.store.list_teams(None).await?;
    listing_order(&mut teams);
    let pages = teams.len().div_ceil(TEAMS_PER_PAGE).max(1);
    let page = page_number(query.page.as_deref(), pages);
    let now = state.now();
    let mut rows: Vec<(&Team, Option<BalanceSummary>)> = Vec::new();
    for t in teams
        .iter()
        .skip((page - 1) * TEAMS_PER_PAGE)
        .take(TEAMS_PER_PAGE)
    {
        let balance = match t.closed_at {
            None => Some(state.store.balance(t.id, now).await?.summary),
            Some(_) => None,
        };
        rows.push((t, balance));
    }
    let open = teams.iter().filter(|t| t.closed_at.is_none()).count();
    let body = html! {
        div.card {
            h2 { (w::OP_CREATE_TEAM) }
            (errors.summary())
            form method="post" action="/console/operator/teams" {
                (csrf(&staff.csrf))
                label for="name" { (w::NAME) }
                input id="name" type="text" name="name" required value=(form.name)
                    aria-invalid=[errors.invalid("name")] aria-describedby="name-error";
                (errors.show("name"))
                div.actions { button type="submit" { (w::OP_CREATE_TEAM_BUTTON) } }
            }
        }
        p.muted { (w::op_teams_count(open, teams.len() - open)) }
        @if teams.is_empty() {
            p.muted { (w::NO_TEAMS) }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { (w::TEAM) } th { (w::STATUS) } th.num { (w::AVAILABLE) } th.num { (w::TOTAL) }
                    th { (w::OP_CREATED) } th {}
                } }
                tbody {
                    @for (t, balance) in &rows {
                        tr data-team=(t.id) {
                            td { a href=(team_page(t.id)) { (t.name) } }
                            td { (status(t, &teams)) }
                            @match balance {
                                Some(b) => {
                                    td.num { (tokens(b.available.get())) @if b.low { " " span.badge.low { (w::LOW_BALANCE) } } }
                                    td.num { (tokens(b.total.get())) }
                                },
                                None => { td.num.muted { "—" } td.num.muted { "—" } },
                            }
                            td { (day(t.created_at)) }
                            td { @if t.closed_at.is_none() { a href=(format!("/console/teams/{}/tokens", t.id)) { (w::NAV_TOKENS) } } }
                        }
                    }
                }
            } }
            (pager(page, pages, |n| format!("/console/operator/teams?page={n}")))
        }
    };
    Ok(console_page(
        staff,
        None,
        Tab::OpTeams,
        w::OP_TEAMS_TITLE,
        body,
    ))
}

pub async fn list(
    State(state): State<AppState>,
    staff: Staffer,
    PageQuery(query): PageQuery<ListQuery>,
) -> PageResult {
    staff.caller.require_operator()?;
    let markup = render_list(
        &state,
        &staff,
        &query,
        &NameForm::default(),
        &FieldErrors::default(),
    )
    .await?;
    Ok(markup.into_response())
}

/// The same as `POST /v1/teams`.
pub async fn create(
    State(state): State<AppState>,
    StaffForm { staff, form }: StaffForm<NameForm>,
) -> PageResult {
    staff.caller.require_operator()?;
    let errors = match api::create(&state, &staff.caller, &form.name).await {
        Ok(team) => return Ok(see_other(&format!("{}?done=created", team_page(team.id)))),
        Err(e) => refusal("name", e)?,
    };
    let markup = render_list(&state, &staff, &ListQuery::default(), &form, &errors).await?;
    Ok(refused(markup))
}

#[derive(Deserialize, Default)]
pub struct TeamQuery {
    done: Option<String>,
}

struct TeamForms<'a> {
    name: &'a NameForm,
    name_errors: &'a FieldErrors,
    merge: &'a MergeForm,
    merge_errors: &'a FieldErrors,
}

async fn render_team(
    state: &AppState,
    staff: &Staffer,
    team: i64,
    done: Option<&str>,
    forms: TeamForms<'_>,
) -> PageResult<Markup> {
    let team = state.store.team(TeamId(team)).await?;
    let all = state.store.list_teams(None).await?;
    let others: Vec<&Team> = all
        .iter()
        .filter(|t| t.id != team.id && t.closed_at.is_none())
        .collect();
    let admins: Vec<String> = state
        .store
        .admins()
        .await?
        .into_iter()
        .filter(|a| a.teams.contains(&team.id))
        .map(|a| format!("{} <{}>", a.name, a.email))
        .collect();
    let now: DateTime<Utc> = state.now();
    let balance = match team.closed_at {
        None => Some(state.store.balance(team.id, now).await?.summary),
        Some(_) => None,
    };
    let action = team_page(team.id);
    let name_value = if forms.name_errors.is_empty() {
        team.name.clone()
    } else {
        forms.name.name.clone()
    };
    let body = html! {
        @match done {
            Some("created") => p.notice.ok role="status" { (w::OP_TEAM_CREATED) },
            Some("renamed") => p.notice.ok role="status" { (w::OP_TEAM_RENAMED) },
            Some("merged") => p.notice.ok role="status" { (w::OP_TEAM_MERGED) },
            _ => {},
        }
        div.card {
            dl.facts {
                dt { "Id" } dd { (team.id) }
                dt { (w::STATUS) } dd id="team-status" { (status(&team, &all)) }
                dt { (w::OP_CREATED) } dd { (time(team.created_at)) }
                @if let Some(closed) = team.closed_at { dt { (w::OP_CLOSED) } dd { (time(closed)) } }
                @if let Some(b) = &balance {
                    dt { (w::AVAILABLE) } dd { (tokens(b.available.get())) " / " (tokens(b.total.get())) " " (w::TOKENS.to_lowercase()) }
                }
                dt { (w::OP_TEAM_ADMINS) }
                dd { @if admins.is_empty() { span.muted { (w::NONE) } } @else { (admins.join(", ")) } }
            }
            @if team.closed_at.is_none() {
                p { a href=(format!("/console/teams/{}/tokens", team.id)) { (w::OP_OPEN_TEAM) " →" } }
            }
        }
        @if team.closed_at.is_some() {
            p.notice.warn { (w::OP_TEAM_CLOSED_TEXT) }
        } @else {
            div.cards {
                div.card {
                    h2 { (w::OP_RENAME) }
                    (forms.name_errors.summary())
                    form method="post" action=(format!("{action}/rename")) {
                        (csrf(&staff.csrf))
                        label for="name" { (w::OP_NEW_NAME) }
                        input id="name" type="text" name="name" required value=(name_value)
                            aria-invalid=[forms.name_errors.invalid("name")] aria-describedby="name-error";
                        (forms.name_errors.show("name"))
                        div.actions { button type="submit" { (w::OP_RENAME_BUTTON) } }
                    }
                }
                div.card {
                    h2 { (w::OP_MERGE) }
                    p { (w::op_merge_text(&team.name)) }
                    ul {
                        li { (w::OP_MERGE_MOVES) }
                        li { (w::OP_MERGE_CLOSES) }
                        li { (w::OP_MERGE_FINAL) }
                    }
                    @if others.is_empty() {
                        p.muted { (w::OP_MERGE_NO_TARGET) }
                    } @else {
                        (forms.merge_errors.summary())
                        form method="post" action=(format!("{action}/merge")) {
                            (csrf(&staff.csrf))
                            label for="into_team" { (w::OP_MERGE_INTO) }
                            select id="into_team" name="into_team" aria-invalid=[forms.merge_errors.invalid("into_team")]
                                aria-describedby="into_team-error" {
                                @for t in &others {
                                    option value=(t.id) selected[forms.merge.into_team == t.id.to_string()] { (t.name) " (" (t.id) ")" }
                                }
                            }
                            (forms.merge_errors.show("into_team"))
                            div.actions { button.danger type="submit" { (w::op_merge_button(&team.name)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(console_page(staff, None, Tab::OpTeams, &team.name, body))
}

pub async fn detail(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(query): PageQuery<TeamQuery>,
) -> PageResult {
    staff.caller.require_operator()?;
    let none = FieldErrors::default();
    let markup = render_team(
        &state,
        &staff,
        team,
        query.done.as_deref(),
        TeamForms {
            name: &NameForm::default(),
            name_errors: &none,
            merge: &MergeForm::default(),
            merge_errors: &none,
        },
    )
    .await?;
    Ok(markup.into_response())
}

/// The same as `PATCH /v1/teams/{team}`.
pub async fn rename(
    State(state): State<AppState>,
    PagePath(team): PagePath<i64>,
    StaffForm { staff, form }: StaffForm<NameForm>,
) -> PageResult {
    staff.caller.require_operator()?;
    let errors = match api::rename(&state, &staff.caller, TeamId(team), &form.name).await {
        Ok(t) => return Ok(see_other(&format!("{}?done=renamed", team_page(t.id)))),
        Err(e) => refusal("name", e)?,
    };
    let none = FieldErrors::default();
    let markup = render_team(
        &state,
        &staff,
        team,
        None,
        TeamForms {
            name: &form,
            name_errors: &errors,
            merge: &MergeForm::default(),
            merge_errors: &none,
        },
    )
    .await?;
    Ok(refused(markup))
}

/// The same as `POST /v1/teams/{team}/merge` (R-PACK-7).
pub async fn merge(
    State(state): State<AppState>,
    PagePath(team): PagePath<i64>,
    StaffForm { staff, form }: StaffForm<MergeForm>,
) -> PageResult {
    staff.caller.require_operator()?;
    let errors = match form.into_team.trim().parse::<i64>() {
        Err(_) => FieldErrors::one("into_team", w::OP_MERGE_CHOOSE),
        Ok(into) => match api::merge(&state, &staff.caller, TeamId(team), TeamId(into)).await {
            Ok(m) => {
                return Ok(see_other(&format!(
                    "{}?done=merged",
                    team_page(m.from_team)
                )));
            }
            Err(e) => refusal("into_team", e)?,
        },
    };
    let none = FieldErrors::default();
    let markup = render_team(
        &state,
        &staff,
        team,
        None,
        TeamForms {
            name: &NameForm::default(),
            name_errors: &none,
            merge: &form,
            merge_errors: &errors,
        },
    )
    .await?;
    Ok(refused(markup))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(id: i64, name: &str, closed: bool) -> Team {
        Team {
            id: TeamId(id),
            name: name.into(),
            created_at: DateTime::UNIX_EPOCH,
            closed_at: closed.then_some(DateTime::UNIX_EPOCH),
            merged_into: closed.then_some(TeamId(1)),
        }
    }

    #[test]
    fn open_teams_come_first_then_by_name() {
        let mut teams = vec![
            team(1, "zeta", false),
            team(2, "Alpha", true),
            team(3, "beta", false),
            team(4, "alpha", false),
        ];
        listing_order(&mut teams);
        let ids: Vec<i64> = teams.iter().map(|t| t.id.0).collect();
        assert_eq!(ids, [4, 3, 1, 2]);
    }
}
