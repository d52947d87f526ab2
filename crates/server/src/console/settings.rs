//! Team settings: the low-balance threshold (R-NOT-1, R-REP-1) and the privacy switch
//! (pseudonyms in reports and exports), changed by the same function as
//! `PUT /v1/teams/{team}/settings`: a refused threshold changes nothing, not even the switch.

use axum::extract::State;
use axum::response::IntoResponse;
use jeton_api::{TeamSettings, TeamSettingsChange};
use jeton_store::teams::Team;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, csrf, refusal, refused,
    see_other,
};
use super::session::{StaffForm, Staffer};
use super::teams::open_team;
use super::words::reports as w;
use crate::routes::reports::{change_settings, read_settings};
use crate::state::AppState;

const THRESHOLD: &str = "low_balance_percent";

#[derive(Deserialize, Default, Clone)]
pub struct SettingsQuery {
    done: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct SettingsForm {
    #[serde(default)]
    low_balance_percent: String,
    pseudonyms: Option<String>,
}

impl SettingsForm {
    fn of(s: &TeamSettings) -> SettingsForm {
        SettingsForm {
            low_balance_percent: s.low_balance_percent.to_string(),
            pseudonyms: s.pseudonyms.then(|| "on".to_owned()),
        }
    }
}

fn render(
    staff: &Staffer,
    team: &Team,
    form: &SettingsForm,
    errors: &FieldErrors,
    saved: bool,
) -> Markup {
    let action = format!("/console/teams/{}/settings", team.id);
    let body = html! {
        @if saved { p.notice.ok role="status" { (w::SETTINGS_SAVED) } }
        (errors.summary())
        form.card.settings method="post" action=(action) {
            (csrf(&staff.csrf))
            h2 { (w::LOW_BALANCE) }
            label for=(THRESHOLD) { (w::THRESHOLD) }
            div.with-unit {
                input id=(THRESHOLD) name=(THRESHOLD) type="text" inputmode="numeric" size="3"
                    value=(form.low_balance_percent) aria-invalid=[errors.invalid(THRESHOLD)]
                    aria-describedby=(format!("{THRESHOLD}-hint {THRESHOLD}-error"));
                span { "%" }
            }
            p.hint id=(format!("{THRESHOLD}-hint")) { (w::THRESHOLD_HINT) }
            (errors.show(THRESHOLD))
            h2 { (w::PRIVACY) }
            label.inline for="pseudonyms" {
                input id="pseudonyms" type="checkbox" name="pseudonyms" value="on"
                    checked[form.pseudonyms.is_some()] aria-describedby="pseudonyms-hint";
                (w::PSEUDONYMS)
            }
            p.hint id="pseudonyms-hint" { (w::PSEUDONYMS_HINT) }
            div.actions { button type="submit" { (w::SAVE_CHANGES) } }
        }
    };
    console_page(staff, Some(team), Tab::Settings, w::SETTINGS_TITLE, body)
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(query): PageQuery<SettingsQuery>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let settings = read_settings(&state, &staff.caller, team.id).await?;
    let saved = query.done.as_deref() == Some("saved");
    Ok(render(
        &staff,
        &team,
        &SettingsForm::of(&settings),
        &FieldErrors::default(),
        saved,
    )
    .into_response())
}

pub async fn save(
    State(state): State<AppState>,
    PagePath(team): PagePath<i64>,
    StaffForm { staff, form }: StaffForm<SettingsForm>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let typed = form.low_balance_percent.trim();
    let errors = match typed.parse::<i64>() {
        Err(_) => FieldErrors::one(THRESHOLD, w::not_a_whole_number(typed)),
        Ok(percent) => {
            let change = TeamSettingsChange {
                low_balance_percent: Some(percent),
                pseudonyms: Some(form.pseudonyms.is_some()),
            };
            match change_settings(&state, &staff.caller, team.id, &change).await {
                Ok(_) => {
                    return Ok(see_other(&format!(
                        "/console/teams/{}/settings?done=saved",
                        team.id
                    )));
                }
                Err(e) => refusal(THRESHOLD, e)?,
            }
        }
    };
    Ok(refused(render(&staff, &team, &form, &errors, false)))
}
