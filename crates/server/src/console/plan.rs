//! Plan: the forecast of the team's balance at its recent pace (`GET /v1/teams/{team}/forecast`)
//! in words, as a projected balance and pack by pack; and the estimator (R-REP-5, `POST
//! /v1/estimate` against this team), a GET form since it changes nothing.

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use jeton_api::{Estimate, EstimateRequest, Forecast, PlanLine};
use jeton_store::catalogue::Product;
use jeton_store::teams::Team;
use maud::{Markup, html};

use super::chart;
use super::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, day, refusal, refused, tokens,
};
use super::session::Staffer;
use super::teams::open_team;
use super::words::reports as w;
use crate::routes::reports::{estimate_of, forecast_of, planned};
use crate::state::AppState;

/// Lines of the estimator's form.
const LINES: usize = 5;
const PRODUCT_FIELDS: [&str; LINES] = ["product1", "product2", "product3", "product4", "product5"];
const USERS_FIELDS: [&str; LINES] = ["users1", "users2", "users3", "users4", "users5"];
const DAYS_FIELDS: [&str; LINES] = ["days1", "days2", "days3", "days4", "days5"];
/// Where a refusal of the plan as a whole is shown.
const PLAN_FIELD: &str = "plan";

/// One line of the form, as typed.
#[derive(Debug, Default, Clone)]
struct Typed {
    product: String,
    users: String,
    days: String,
}

impl Typed {
    fn is_blank(&self) -> bool {
        self.product.is_empty() && self.users.trim().is_empty() && self.days.trim().is_empty()
    }
}

/// The estimator's lines from the query string (`product1`, `users1`, `days1`, …); `None` when
/// the form was not sent.
fn typed(pairs: &[(String, String)]) -> Option<Vec<Typed>> {
    let mut lines = vec![Typed::default(); LINES];
    let mut sent = false;
    for (k, v) in pairs {
        for i in 0..LINES {
            let slot = if k == PRODUCT_FIELDS[i] {
                &mut lines[i].product
            } else if k == USERS_FIELDS[i] {
                &mut lines[i].users
            } else if k == DAYS_FIELDS[i] {
                &mut lines[i].days
            } else {
                continue;
            };
            *slot = v.clone();
            sent = true;
        }
    }
    sent.then_some(lines)
}

fn whole(s: &str) -> Result<i64, String> {
    s.trim()
        .parse()
        .map_err(|_| w::not_a_whole_number(s.trim()))
}

/// The plan of the filled lines, each field held against the estimator's own rules (the
/// product first, then each number alone with neutral companions) so that a refusal is shown
/// beside the field it is about.
fn read_plan(lines: &[Typed], catalogue: &[Product]) -> Result<Vec<PlanLine>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut plan = Vec::new();
    let check = |line: PlanLine| planned(catalogue, &[line]).err();
    for (i, t) in lines.iter().enumerate() {
        if t.is_blank() {
            continue;
        }
        let product = t.product.trim().to_owned();
        if product.is_empty() {
            errors.add(PRODUCT_FIELDS[i], w::CHOOSE_PRODUCT);
            continue;
        }
        let probe = |users, days_per_month| PlanLine {
            product: product.clone(),
            users,
            days_per_month,
        };
        if let Some(e) = check(probe(1, 1)) {
            errors.add(PRODUCT_FIELDS[i], e.parts().2);
            continue;
        }
        let users = whole(&t.users).and_then(|u| match check(probe(u, 1)) {
            None => Ok(u),
            Some(e) => Err(e.parts().2),
        });
        let days = whole(&t.days).and_then(|d| match check(probe(1, d)) {
            None => Ok(d),
            Some(e) => Err(e.parts().2),
        });
        match (users, days) {
            (Ok(users), Ok(days_per_month)) => plan.push(probe(users, days_per_month)),
            (users, days) => {
                if let Err(e) = users {
                    errors.add(USERS_FIELDS[i], e);
                }
                if let Err(e) = days {
                    errors.add(DAYS_FIELDS[i], e);
                }
            }
        }
    }
    if errors.is_empty() && plan.is_empty() {
        errors.add(PRODUCT_FIELDS[0], w::PLAN_EMPTY);
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

/// The projected balance of a forecast as (days from now, tokens): tokens are used at the daily
/// burn, in the order of the packs, until the forecast's uses are spent, and each pack's unused
/// rest leaves the balance on its expiry day. The forecast's own figures, drawn; no rule here.
fn projection(f: &Forecast, now: DateTime<Utc>) -> Vec<(f64, u64)> {
    let Some(zero_at) = f.balance_zero_at else {
        return Vec::new();
    };
    let days = |t: DateTime<Utc>| ((t - now).num_seconds() as f64 / 86_400.0).max(0.0);
    let end = days(zero_at);
    let used: u64 = f.packs.iter().map(|p| p.used).sum();
    let burn = f.daily_burn.max(0.0);
    let balance = |t: f64, expired_at_t: bool| -> u64 {
        let spent = ((burn * t).floor() as u64).min(used);
        let expired: u64 = f
            .packs
            .iter()
            .filter(|p| {
                let e = days(p.expires_at);
                e < t || (expired_at_t && e <= t)
            })
            .map(|p| p.expiring)
            .sum();
        f.available.saturating_sub(spent).saturating_sub(expired)
    };
    let mut at: Vec<f64> = vec![0.0, end];
    at.extend(
        f.packs
            .iter()
            .map(|p| days(p.expires_at))
            .filter(|d| *d < end),
    );
    if burn > 0.0 {
        at.push((used as f64 / burn).min(end));
    }
    at.sort_by(f64::total_cmp);
    at.dedup();
    let mut points = Vec::with_capacity(at.len() * 2);
    for t in at {
        let before = balance(t, false);
        let after = balance(t, true);
        points.push((t, before));
        if after != before {
            points.push((t, after));
        }
    }
    if let Some(last) = points.last_mut() {
        // Zero is where the forecast says it is, whatever the rounding of whole tokens left.
        last.1 = 0;
    }
    points
}

fn forecast_section(f: &Forecast, now: DateTime<Utc>) -> Markup {
    let zero_day = f.balance_zero_at.map(|t| t.date_naive());
    let points = projection(f, now);
    let desc = match zero_day {
        Some(d) => w::projection_desc(f.available, d),
        None => w::NO_ACTIVE_PACK.to_owned(),
    };
    let start = now.date_naive().to_string();
    let end = zero_day.map(|d| d.to_string()).unwrap_or_default();
    html! {
        section.card id="forecast" aria-labelledby="forecast-title" {
            h2 id="forecast-title" { (w::FORECAST) }
            @match f.balance_zero_at {
                None => p { (w::NO_ACTIVE_PACK) },
                Some(zero) => {
                    p.lead { (w::pace(f.daily_burn)) }
                    p.lead id="runs-out" {
                        (w::ZERO_ON) " " strong { (day(zero)) }
                        @if f.runs_out_by_use { (w::BY_USE) } @else { (w::BY_EXPIRY) }
                    }
                    p.lead id="expiring-unused" {
                        @if f.expiring_unused == 0 { (w::NOTHING_EXPIRES) }
                        @else { strong { (w::n_tokens(f.expiring_unused)) } " " (w::EXPIRE_UNUSED) }
                    }
                },
            }
            (chart::line_over_days("projected-balance", w::CHART_PROJECTION, &desc, &points, (&start, &end), w::NO_ACTIVE_PACK))
            @if !f.packs.is_empty() {
                div.table-wrap { table {
                    caption.visually-hidden { (w::FORECAST_BY_PACK) }
                    thead { tr { th { "#" } th { (w::EXPIRES) } th.num { (w::REMAINING) } th.num { (w::USED_BEFORE_EXPIRY) } th.num { (w::EXPIRING_UNUSED) } } }
                    tbody {
                        @for p in &f.packs {
                            tr { td { (p.pack_id) } td { (day(p.expires_at)) } td.num { (tokens(p.remaining)) }
                                 td.num { (tokens(p.used)) } td.num { (tokens(p.expiring)) } }
                        }
                    }
                } }
            }
        }
    }
}

fn estimator_form(
    base: &str,
    catalogue: &[Product],
    lines: &[Typed],
    errors: &FieldErrors,
) -> Markup {
    html! {
        form.plan-form method="get" action=(format!("{base}#estimate")) {
            (errors.summary())
            (errors.show(PLAN_FIELD))
            div.table-wrap { table.plan-lines {
                caption.visually-hidden { (w::PLAN_LINES) }
                thead { tr { th scope="col" { (w::PRODUCT) } th scope="col" { (w::PLANNED_USERS) } th scope="col" { (w::DAYS_PER_MONTH) } } }
                tbody {
                    @for i in 0..LINES {
                        @let t = lines.get(i).cloned().unwrap_or_default();
                        @let (pf, uf, df) = (PRODUCT_FIELDS[i], USERS_FIELDS[i], DAYS_FIELDS[i]);
                        tr {
                            td {
                                label.visually-hidden for=(pf) { (w::line_label(w::PRODUCT, i + 1)) }
                                select id=(pf) name=(pf) aria-invalid=[errors.invalid(pf)] aria-describedby=(format!("{pf}-error")) {
                                    option value="" { "—" }
                                    @for p in catalogue {
                                        option value=(p.key.to_string()) selected[t.product == p.key.as_str()] {
                                            (p.name) " (" (w::n_tokens(p.daily_rate.get())) " " (w::A_DAY) ")"
                                        }
                                    }
                                }
                                (errors.show(pf))
                            }
                            td {
                                label.visually-hidden for=(uf) { (w::line_label(w::PLANNED_USERS, i + 1)) }
                                input id=(uf) name=(uf) type="text" inputmode="numeric" value=(t.users)
                                    aria-invalid=[errors.invalid(uf)] aria-describedby=(format!("{uf}-error"));
                                (errors.show(uf))
                            }
                            td {
                                label.visually-hidden for=(df) { (w::line_label(w::DAYS_PER_MONTH, i + 1)) }
                                input id=(df) name=(df) type="text" inputmode="numeric" value=(t.days)
                                    aria-invalid=[errors.invalid(df)] aria-describedby=(format!("{df}-error"));
                                (errors.show(df))
                            }
                        }
                    }
                }
            } }
            p.hint { (w::PLAN_HINT) }
            div.actions { button type="submit" { (w::ESTIMATE) } }
        }
    }
}

fn estimate_answer(e: &Estimate, catalogue: &[Product]) -> Markup {
    let name = |key: &str| {
        catalogue
            .iter()
            .find(|p| p.key.as_str() == key)
            .map_or_else(|| key.to_owned(), |p| p.name.clone())
    };
    let rows: Vec<(String, u64)> = e
        .lines
        .iter()
        .map(|l| (name(&l.product), l.tokens_per_year))
        .collect();
    html! {
        div id="estimate-answer" role="status" {
            p.lead {
                (w::PLAN_NEEDS) " " strong id="tokens-per-year" { (w::n_tokens(e.tokens_per_year)) } " " (w::A_YEAR)
                " (" (w::n_tokens(e.tokens_per_month)) " " (w::A_MONTH) ")."
            }
            @if let Some(t) = &e.team {
                ul.facts-list {
                    li { (w::AVAILABLE_NOW) ": " strong { (tokens(t.available)) } }
                    @if t.expiring_before_use > 0 {
                        li { (w::n_tokens(t.expiring_before_use)) " " (w::EXPIRE_BEFORE_PLAN) }
                    }
                    li id="shortfall" {
                        @if t.shortfall == 0 { (w::BALANCE_COVERS) }
                        @else { (w::TO_BUY) " " strong { (w::n_tokens(t.shortfall)) } "." }
                    }
                    @if let Some(z) = t.balance_zero_at {
                        li { (w::PLAN_ZERO_ON) " " (day(z)) "." }
                    }
                }
            }
            (chart::bars_by_row("estimate-by-product", w::CHART_ESTIMATE, &rows, w::PLAN_EMPTY))
            div.table-wrap { table {
                caption.visually-hidden { (w::ESTIMATE_TABLE) }
                thead { tr { th { (w::PRODUCT) } th.num { (w::PLANNED_USERS) } th.num { (w::DAYS_PER_MONTH) } th.num { (w::DAILY_RATE_SHORT) } th.num { (w::PER_MONTH) } th.num { (w::PER_YEAR) } } }
                tbody {
                    @for l in &e.lines {
                        tr { td { (name(&l.product)) } td.num { (l.users) } td.num { (l.days_per_month) } td.num { (tokens(l.daily_rate)) }
                             td.num { (tokens(l.tokens_per_month)) } td.num { (tokens(l.tokens_per_year)) } }
                    }
                }
                tfoot { tr { th { (w::TOTAL) } th {} th {} th {} th.num { (tokens(e.tokens_per_month)) } th.num { (tokens(e.tokens_per_year)) } } }
            } }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(pairs): PageQuery<Vec<(String, String)>>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let forecast = forecast_of(&state, &staff.caller, team.id).await?;
    let catalogue = state.store.list_products().await?;
    let sent = typed(&pairs);
    let lines = sent.clone().unwrap_or_default();
    let mut errors = FieldErrors::default();
    let mut answer = None;
    if let Some(lines) = &sent {
        match read_plan(lines, &catalogue) {
            Err(e) => errors = e,
            Ok(plan) => {
                let request = EstimateRequest {
                    team: Some(team.id.0),
                    plan,
                };
                match estimate_of(&state, &staff.caller, &request).await {
                    Ok(e) => answer = Some(e),
                    Err(e) => errors = refusal(PLAN_FIELD, e)?,
                }
            }
        }
    }
    let markup = render(
        &staff,
        &team,
        &forecast,
        state.now(),
        &catalogue,
        (&lines, &errors, answer.as_ref()),
    );
    Ok(if errors.is_empty() {
        markup.into_response()
    } else {
        refused(markup)
    })
}

fn render(
    staff: &Staffer,
    team: &Team,
    forecast: &Forecast,
    now: DateTime<Utc>,
    catalogue: &[Product],
    (lines, errors, answer): (&[Typed], &FieldErrors, Option<&Estimate>),
) -> Markup {
    let base = format!("/console/teams/{}/plan", team.id);
    let body = html! {
        (forecast_section(forecast, now))
        section.card id="estimate" aria-labelledby="estimate-title" {
            h2 id="estimate-title" { (w::ESTIMATOR) }
            p.muted { (w::ESTIMATOR_TEXT) }
            // The answer first, where the page opens after the form is sent.
            @if let Some(e) = answer { (estimate_answer(e, catalogue)) }
            (estimator_form(&base, catalogue, lines, errors))
        }
    };
    console_page(staff, Some(team), Tab::Plan, w::PLAN_TITLE, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jeton_api::PackForecast;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn pack(id: i64, expires: &str, remaining: u64, used: u64) -> PackForecast {
        PackForecast {
            pack_id: id,
            expires_at: at(expires),
            remaining,
            used,
            expiring: remaining - used,
        }
    }

    #[test]
    fn the_projection_falls_at_the_burn_and_drops_at_each_expiry() {
        let now = at("2026-01-01T00:00:00Z");
        // 7 a day; pack 1 (1000 left) expires on day 100 with 300 unused; pack 2 (70) is used
        // from day 100 to day 110.
        let f = Forecast {
            team_id: 1,
            available: 1070,
            daily_burn: 7.0,
            balance_zero_at: Some(at("2026-04-21T00:00:00Z")),
            runs_out_by_use: true,
            expiring_unused: 300,
            packs: vec![
                pack(1, "2026-04-11T00:00:00Z", 1000, 700),
                pack(2, "2027-01-01T00:00:00Z", 70, 70),
            ],
        };
        assert_eq!(
            projection(&f, now),
            [(0.0, 1070), (100.0, 370), (100.0, 70), (110.0, 0)]
        );
    }

    #[test]
    fn without_use_the_balance_stays_until_the_packs_expire() {
        let now = at("2026-01-01T00:00:00Z");
        let f = Forecast {
            team_id: 1,
            available: 150,
            daily_burn: 0.0,
            balance_zero_at: Some(at("2026-03-02T00:00:00Z")),
            runs_out_by_use: false,
            expiring_unused: 150,
            packs: vec![
                pack(1, "2026-01-31T00:00:00Z", 100, 0),
                pack(2, "2026-03-02T00:00:00Z", 50, 0),
            ],
        };
        assert_eq!(
            projection(&f, now),
            [(0.0, 150), (30.0, 150), (30.0, 50), (60.0, 50), (60.0, 0)],
            "steps down at each expiry"
        );
        let empty = Forecast {
            balance_zero_at: None,
            packs: vec![],
            ..f
        };
        assert!(projection(&empty, now).is_empty());
    }

    fn line(product: &str, users: &str, days: &str) -> Typed {
        Typed {
            product: product.into(),
            users: users.into(),
            days: days.into(),
        }
    }

    #[test]
    fn the_form_is_read_from_numbered_fields() {
        let pairs: Vec<(String, String)> = [("product2", "cad"), ("users2", "3"), ("x", "y")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lines = typed(&pairs).unwrap();
        assert_eq!(lines.len(), LINES);
        assert!(lines[0].is_blank());
        assert_eq!(
            (lines[1].product.as_str(), lines[1].users.as_str()),
            ("cad", "3")
        );
        assert!(typed(&[("x".into(), "y".into())]).is_none(), "not sent");
    }

    #[test]
    fn blank_lines_are_skipped_and_an_empty_plan_is_refused() {
        let blank = vec![Typed::default(); LINES];
        let e = read_plan(&blank, &[]).unwrap_err();
        assert_eq!(e.invalid("product1"), Some("true"));
        let e = read_plan(&[line("", "3", "")], &[]).unwrap_err();
        assert_eq!(e.invalid("product1"), Some("true"));
        let e = read_plan(&[Typed::default(), line("cad", "x", "4")], &[]).unwrap_err();
        assert_eq!(e.invalid("product2"), Some("true"), "unknown product");
        assert_eq!(e.invalid("users2"), None, "the product first");
    }
}
