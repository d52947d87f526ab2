//! The console's start: the teams the signed-in admin manages (every team for the operator), with
//! their balances. One team opens straight on its tokens.

use axum::extract::State;
use axum::response::IntoResponse;
use jeton_core::TeamId;
use jeton_store::teams::Team;
use maud::html;

use super::page::{PageResult, Tab, console_page, see_other, tokens};
use super::session::Staffer;
use super::words as w;
use crate::auth::Caller;
use crate::state::AppState;

/// Most teams listed with their balance on the start page; the operator's full list is under
/// Operator › All teams.
const MAX_LISTED: usize = 200;

pub async fn home(State(state): State<AppState>, staff: Staffer) -> PageResult {
    let teams = state.store.list_teams(staff.caller.admin_id()?).await?;
    let open: Vec<&Team> = teams.iter().filter(|t| t.closed_at.is_none()).collect();
    if let ([only], Caller::Admin(_)) = (open.as_slice(), &staff.caller) {
        return Ok(see_other(&format!("/console/teams/{}/tokens", only.id)));
    }
    let now = state.now();
    let mut rows = Vec::new();
    for t in open.iter().take(MAX_LISTED) {
        let balance = state.store.balance(t.id, now).await?;
        rows.push((t.id, t.name.clone(), balance.summary));
    }
    let body = html! {
        @if rows.is_empty() {
            p.muted { (w::NO_TEAMS) }
        } @else {
            div.table-wrap { table {
                thead { tr { th { (w::TEAM) } th.num { (w::AVAILABLE) } th.num { (w::TOTAL) } th {} } }
                tbody {
                    @for (id, name, s) in &rows {
                        tr {
                            td { a href=(team_href(*id)) { (name) } }
                            td.num { (tokens(s.available.get())) }
                            td.num { (tokens(s.total.get())) }
                            td { @if s.low { span.badge.low { (w::LOW_BALANCE) } } }
                        }
                    }
                }
            } }
        }
    };
    Ok(console_page(&staff, None, Tab::Teams, w::TEAMS_TITLE, body).into_response())
}

fn team_href(id: TeamId) -> String {
    format!("/console/teams/{id}/tokens")
}

/// The team a console page is about, if the signed-in person may see it; otherwise the same
/// 404 page as a team that does not exist.
pub async fn open_team(state: &AppState, staff: &Staffer, team: i64) -> PageResult<Team> {
    let team = TeamId(team);
    staff.caller.require_team(team)?;
    Ok(state.store.team(team).await?)
}
