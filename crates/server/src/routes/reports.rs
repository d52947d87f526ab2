//! Reports (R-REP-1..5): usage over named ranges, the CSV export, team settings (low-balance
//! threshold, pseudonyms), the forecast and the estimator.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use jeton_api::{
    DayUsage, Estimate, EstimateAgainstTeam, EstimateLine, EstimateRequest, Forecast, PackForecast,
    Problem, ProductUsage, TeamSettings, TeamSettingsChange, UsageQuery, UsageRange, UsageReport,
    UsageSummary, UserUsage, WeekUsage,
};
use jeton_core::forecast::{PlanLine, against_team, burn_window, daily_burn, estimate, forecast};
use jeton_core::pack::LowPercent;
use jeton_core::pseudonym::pseudonym;
use jeton_core::report::{DayRange, resolve, week_label};
use jeton_core::{DomainError, ProductKey, TeamId, UserId};
use jeton_store::Store;
use jeton_store::catalogue::Product;
use jeton_store::reports::{Cursor, FIRST_PAGE, TeamSettings as Settings, UsageRow};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{NO_SUCH_TEAM, REFUSED_TO_USERS};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Malformed};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::keys::new_key;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(usage_csv))
        .routes(routes!(get_settings, set_settings))
        .routes(routes!(team_forecast))
        .routes(routes!(estimate_plan))
}

fn range(query: &UsageQuery, now: DateTime<Utc>) -> Result<(String, DayRange), ApiError> {
    let name = match (&query.range, query.from.is_some() || query.to.is_some()) {
        (Some(r), _) => r.clone(),
        (None, true) => "custom".to_owned(),
        (None, false) => "past_30_days".to_owned(),
    };
    let range = resolve(&name, query.from, query.to, now.date_naive())?;
    Ok((name, range))
}

fn wire_range(name: &str, r: &DayRange) -> UsageRange {
    UsageRange {
        name: name.to_owned(),
        from: r.first,
        to: r.last,
        days: r.days(),
    }
}

/// Who a row names: the person, or their pseudonym when the team asks for privacy.
struct Names {
    salt: Option<String>,
}

impl Names {
    fn of(settings: &Settings) -> Names {
        Names {
            salt: settings
                .pseudonyms
                .then(|| settings.pseudonym_salt.clone().unwrap_or_default()),
        }
    }

    /// (id, name, email) as shown.
    fn show(&self, user: UserId, name: &str, email: &str) -> (Option<i64>, String, Option<String>) {
        match &self.salt {
            Some(salt) => (None, pseudonym(salt, user), None),
            None => (Some(user.0), name.to_owned(), Some(email.to_owned())),
        }
    }
}

/// A team's usage over a range (R-REP-3): the summary, and rows by product, user or day.
///
/// The team's usage includes the teams merged into it. Zero-token use (grace, subscription,
/// trial) counts, with 0 tokens. With the team's `pseudonyms` setting on, users are shown as
/// stable pseudonyms, without id or email.
#[utoipa::path(get, path = "/v1/teams/{team}/usage", tag = "reports", operation_id = "get_usage",
    params(("team" = i64, Path, description = "The team's id", example = 1), UsageQuery),
    responses(
        (status = 200, description = "The report: the summary, and the rows asked for with `by`",
            body = UsageReport,
            example = json!({"team_id": 1, "pseudonyms": false,
                "range": {"name": "past_30_days", "from": "2026-01-06", "to": "2026-02-04",
                          "days": 30},
                "summary": {"tokens": 182, "products": 2, "users": 5, "periods": 24,
                            "results": 6},
                "by_product": [
                    {"product": "autocad", "name": "AutoCAD", "tokens": 140, "users": 4,
                     "days": 20, "results": 0},
                    {"product": "revit", "name": "Revit", "tokens": 42, "users": 2, "days": 4,
                     "results": 6}]})),
        (status = 400, description = "The range does not parse (`invalid_range`), or `by` is \
            not summary, product, user or day (`invalid_query`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    Ok(Json(usage_report(&state, &caller, team, &query).await?))
}

/// The report `GET /v1/teams/{team}/usage` answers; the console's report page shows the same.
pub(crate) async fn usage_report(
    state: &AppState,
    caller: &Caller,
    team: TeamId,
    query: &UsageQuery,
) -> ApiResult<UsageReport> {
    caller.require_team(team)?;
    let (name, range) = range(query, state.now())?;
    let by = query.by.as_deref().unwrap_or("summary");
    if !["summary", "product", "user", "day"].contains(&by) {
        return Err(ApiError::bad_request(
            Malformed::Query,
            "by is summary, product, user or day",
        ));
    }
    let store = &state.store;
    let teams = store.team_lineage(team).await?;
    let settings = store.team_settings(team).await?;
    let summary = store.usage_summary(&teams, &range).await?;
    let mut report = UsageReport {
        team_id: team.0,
        range: wire_range(&name, &range),
        pseudonyms: settings.pseudonyms,
        summary: UsageSummary {
            tokens: summary.totals.tokens,
            products: summary.products,
            users: summary.users,
            periods: summary.totals.periods,
            results: summary.totals.results,
        },
        by_product: None,
        by_user: None,
        by_day: None,
    };
    match by {
        "product" => {
            let rows = store.usage_by_product(&teams, &range).await?;
            report.by_product = Some(
                rows.into_iter()
                    .map(|r| ProductUsage {
                        product: r.product.to_string(),
                        name: r.name,
                        tokens: r.totals.tokens,
                        users: r.users,
                        days: r.totals.periods,
                        results: r.totals.results,
                    })
                    .collect(),
            );
        }
        "user" => {
            let names = Names::of(&settings);
            let rows = store.usage_by_user(&teams, &range).await?;
            report.by_user = Some(
                rows.into_iter()
                    .map(|r| {
                        let (user_id, user, email) = names.show(r.user, &r.name, &r.email);
                        UserUsage {
                            user_id,
                            user,
                            email,
                            tokens: r.totals.tokens,
                            products: r.products,
                            days: r.totals.periods,
                            weeks: r
                                .weeks
                                .iter()
                                .map(|(w, d)| WeekUsage {
                                    week: week_label(*w),
                                    days: *d,
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            );
        }
        "day" => {
            let rows = store.usage_by_day(&teams, &range).await?;
            report.by_day = Some(
                rows.into_iter()
                    .map(|r| DayUsage {
                        date: r.day,
                        tokens: r.totals.tokens,
                        periods: r.totals.periods,
                        results: r.totals.results,
                    })
                    .collect(),
            );
        }
        _ => {}
    }
    Ok(report)
}

const CSV_HEADER: [&str; 10] = [
    "date",
    "user",
    "email",
    "product",
    "tokens",
    "access",
    "team",
    "entry",
    "result_type",
    "quantity",
];

/// A text cell a spreadsheet will not run: one starting with `=`, `+`, `-`, `@` (or a tab or
/// carriage return) is read as a formula by Excel and LibreOffice, so it gets a leading `'`,
/// which they show as text (OWASP's advice for CSV injection). Names and team names are typed
/// by people, some of whom are not friendly.
fn inert(cell: String) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell,
    }
}

fn csv_rows(rows: &[UsageRow], names: &Names, header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    if header {
        w.write_record(CSV_HEADER)?;
    }
    for r in rows {
        let (_, user, email) = names.show(r.user, &r.name, &r.email);
        let (entry, kind, quantity) = match &r.result {
            None => ("period", String::new(), String::new()),
            Some((k, q)) => ("result", k.clone(), q.to_string()),
        };
        w.write_record([
            r.at.date_naive().to_string(),
            inert(user),
            inert(email.unwrap_or_default()),
            inert(r.product.clone()),
            r.tokens.to_string(),
            r.access.as_str().to_owned(),
            inert(r.team.clone()),
            entry.to_owned(),
            inert(kind),
            quantity,
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// What the export stream has left to read.
struct Export {
    store: Store,
    teams: Vec<TeamId>,
    range: DayRange,
    names: Names,
    cursor: Option<Cursor>,
    header: bool,
}

impl Export {
    /// The next page of rows (empty at the end). Read in a task of its own, so that even a panic
    /// in the store becomes an error here, logged and answered, instead of a dropped connection.
    async fn next_page(&mut self) -> ApiResult<Vec<UsageRow>> {
        let Some(cursor) = self.cursor else {
            return Ok(Vec::new());
        };
        let (store, teams, range) = (self.store.clone(), self.teams.clone(), self.range);
        let page = tokio::spawn(async move { store.usage_rows(&teams, &range, cursor).await })
            .await
            .map_err(|e| ApiError::Internal(format!("usage export page: {e}")))??;
        self.cursor = page.last().map(|r| r.cursor);
        Ok(page)
    }

    /// The page as CSV (with the header the first time).
    fn csv(&mut self, page: &[UsageRow]) -> ApiResult<Vec<u8>> {
        let bytes = csv_rows(page, &self.names, self.header)
            .map_err(|e| ApiError::Internal(format!("usage export CSV: {e}")))?;
        self.header = false;
        Ok(bytes)
    }
}

/// A team's usage rows as CSV (R-REP-4): one per usage period or result charge.
///
/// With a header line; the range is chosen as for the report. Streamed page by page, so a year of
/// a large team does not sit in memory.
#[utoipa::path(get, path = "/v1/teams/{team}/usage.csv", tag = "reports",
    operation_id = "export_usage_csv",
    params(("team" = i64, Path, description = "The team's id", example = 1), UsageQuery),
    responses(
        (status = 200, description = "The rows, oldest first", content_type = "text/csv",
            body = String,
            example = "date,user,email,product,tokens,access,team,entry,result_type,quantity\n\
                       2026-01-06,Sam Lee,sam@example.com,autocad,7,flex,Design,period,,\n\
                       2026-01-06,Sam Lee,sam@example.com,revit,5,flex,Design,result,render.cloud,1\n"),
        (status = 400, description = "The range does not parse (`invalid_range`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn usage_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Response> {
    usage_export(&state, &caller, team, &query).await
}

/// The CSV download `GET /v1/teams/{team}/usage.csv` answers (headers and streamed body); the
/// console's download button gets the same.
pub(crate) async fn usage_export(
    state: &AppState,
    caller: &Caller,
    team: TeamId,
    query: &UsageQuery,
) -> ApiResult<Response> {
    caller.require_team(team)?;
    if query.by.is_some() {
        return Err(ApiError::bad_request(
            Malformed::Query,
            "the export has one row per use; by does not apply",
        ));
    }
    let (_, range) = range(query, state.now())?;
    let mut export = Export {
        teams: state.store.team_lineage(team).await?,
        names: Names::of(&state.store.team_settings(team).await?),
        store: state.store.clone(),
        range,
        cursor: Some(FIRST_PAGE),
        header: true,
    };
    // The first page is read before answering, so that a failure there is a proper problem
    // answer rather than a 200 whose body breaks off.
    let first = export.next_page().await?;
    let first = export.csv(&first)?;
    let rest = futures_util::stream::unfold(export, |mut e| async move {
        e.cursor?;
        let bytes = match e.next_page().await {
            Ok(page) => e.csv(&page),
            Err(err) => Err(err),
        };
        let bytes = bytes.map_err(|err| {
            // The status line is sent: all that is left is to end the body early, which the
            // client sees as an incomplete transfer rather than a short but complete file.
            tracing::error!(error = %err, "usage export failed mid-stream; the body is cut short");
            e.cursor = None;
            std::io::Error::other("export failed")
        });
        Some((bytes, e))
    });
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    let filename = format!("usage-{}-{}-{}.csv", team.0, range.first, range.last);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

fn wire_settings(s: &Settings) -> TeamSettings {
    TeamSettings {
        low_balance_percent: s.low_percent.get(),
        pseudonyms: s.pseudonyms,
    }
}

/// A team's report and alert settings.
#[utoipa::path(get, path = "/v1/teams/{team}/settings", tag = "reports", operation_id = "get_team_settings",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The settings", body = TeamSettings,
            example = json!({"low_balance_percent": 20, "pseudonyms": false})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<TeamSettings>> {
    Ok(Json(read_settings(&state, &caller, team).await?))
}

/// The settings `GET /v1/teams/{team}/settings` answers.
pub(crate) async fn read_settings(
    state: &AppState,
    caller: &Caller,
    team: TeamId,
) -> ApiResult<TeamSettings> {
    caller.require_team(team)?;
    Ok(wire_settings(&state.store.team_settings(team).await?))
}

/// Change a team's low-balance threshold or privacy switch.
///
/// The threshold is a percentage of the active total (R-NOT-1): below it the balance is "low"
/// and the admins are emailed once per crossing. The privacy switch shows users as pseudonyms in
/// reports and exports. Fields left out stay as they are.
#[utoipa::path(put, path = "/v1/teams/{team}/settings", tag = "reports", operation_id = "set_team_settings",
    request_body(content = TeamSettingsChange, example = json!({"low_balance_percent": 15})),
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The settings as they are now", body = TeamSettings,
            example = json!({"low_balance_percent": 15, "pseudonyms": false})),
        (status = 400, description = "The threshold is not 1 to 99 (`invalid_range`)",
            body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<TeamSettingsChange>,
) -> ApiResult<Json<TeamSettings>> {
    Ok(Json(change_settings(&state, &caller, team, &body).await?))
}

/// The change `PUT /v1/teams/{team}/settings` makes: a threshold out of 1..=99 is refused before
/// anything is written; turning pseudonyms on the first time gives the team its salt.
pub(crate) async fn change_settings(
    state: &AppState,
    caller: &Caller,
    team: TeamId,
    body: &TeamSettingsChange,
) -> ApiResult<TeamSettings> {
    caller.require_team(team)?;
    let low = body
        .low_balance_percent
        .map(LowPercent::parse)
        .transpose()?;
    let salt = new_key("")?;
    let settings = state
        .store
        .set_team_settings(team, low, body.pseudonyms, &salt, state.now())
        .await?;
    state.mail_queued();
    Ok(wire_settings(&settings))
}

/// Tokens per day used over the burn window (`jeton_core::forecast::burn_window`).
async fn burn_rate(store: &Store, teams: &[TeamId], today: NaiveDate) -> ApiResult<f64> {
    let used = store.tokens_used(teams, &burn_window(today)).await?;
    Ok(daily_burn(used))
}

/// When a team's tokens run out at its recent burn rate, and how many expire unused.
///
/// The burn rate is the tokens used over the last 30 days, per day; the forecast says when the
/// balance reaches zero (by use or by expiry) and what expires unused, pack by pack.
#[utoipa::path(get, path = "/v1/teams/{team}/forecast", tag = "reports", operation_id = "get_forecast",
    params(("team" = i64, Path, description = "The team's id", example = 1)),
    responses(
        (status = 200, description = "The forecast", body = Forecast,
            example = json!({"team_id": 1, "available": 850, "daily_burn": 6.5,
                "balance_zero_at": "2026-05-12T08:00:00Z", "runs_out_by_use": true,
                "expiring_unused": 0,
                "packs": [{"pack_id": 5, "expires_at": "2027-01-05T08:00:00Z", "remaining": 850,
                           "used": 850, "expiring": 0}]})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn team_forecast(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Forecast>> {
    Ok(Json(forecast_of(&state, &caller, team).await?))
}

/// The forecast `GET /v1/teams/{team}/forecast` answers.
pub(crate) async fn forecast_of(
    state: &AppState,
    caller: &Caller,
    team: TeamId,
) -> ApiResult<Forecast> {
    caller.require_team(team)?;
    let now = state.now();
    let teams = state.store.team_lineage(team).await?;
    let burn = burn_rate(&state.store, &teams, now.date_naive()).await?;
    let packs = state.store.active_packs(team, now).await?;
    let f = forecast(&packs, now, burn);
    Ok(Forecast {
        team_id: team.0,
        available: jeton_core::pack::available(&packs, now)?.get(),
        daily_burn: f.daily_burn,
        balance_zero_at: f.balance_zero_at,
        runs_out_by_use: f.runs_out_by_use,
        expiring_unused: f.expiring_unused.get(),
        packs: f
            .packs
            .iter()
            .map(|p| PackForecast {
                pack_id: p.pack.0,
                expires_at: p.expires_at,
                remaining: p.remaining.get(),
                used: p.used.get(),
                expiring: p.expiring.get(),
            })
            .collect(),
    })
}

/// Estimate the tokens a plan needs per month and year (R-REP-5).
///
/// Each line is users × days per month × the product's daily rate. With a team, the estimate is
/// compared with its balance and the expiry dates of its packs.
#[utoipa::path(post, path = "/v1/estimate", tag = "reports",
    request_body(content = EstimateRequest, example = json!({
        "team": 1, "plan": [{"product": "autocad", "users": 4, "days_per_month": 10}]})),
    responses(
        (status = 200, description = "The estimate, line by line and in total", body = Estimate,
            example = json!({"tokens_per_month": 280, "tokens_per_year": 3360,
                "lines": [{"product": "autocad", "users": 4, "days_per_month": 10,
                           "daily_rate": 7, "tokens_per_month": 280,
                           "tokens_per_year": 3360}],
                "team": {"team_id": 1, "available": 850, "expiring_before_use": 0,
                         "shortfall": 2510, "balance_zero_at": "2026-04-07T08:00:00Z"}})),
        (status = 400, description = "A product key does not parse (`invalid_product_key`), \
            or the plan is empty, too long, or has users or days out of range \
            (`invalid_range`)", body = Problem),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = NO_SUCH_TEAM, body = Problem),
        (status = 422, description = "A product is not in the catalogue (`unknown_product`)",
            body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn estimate_plan(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<EstimateRequest>,
) -> ApiResult<Json<Estimate>> {
    Ok(Json(estimate_of(&state, &caller, &body).await?))
}

/// The estimate `POST /v1/estimate` answers.
pub(crate) async fn estimate_of(
    state: &AppState,
    caller: &Caller,
    body: &EstimateRequest,
) -> ApiResult<Estimate> {
    caller.admin_id()?;
    if let Some(team) = body.team {
        caller.require_team(TeamId(team))?;
    }
    let catalogue = state.store.list_products().await?;
    let (plan, e) = planned(&catalogue, &body.plan)?;
    let team = match body.team {
        None => None,
        Some(team) => {
            let team = TeamId(team);
            let now = state.now();
            let packs = state.store.active_packs(team, now).await?;
            let a = against_team(&e, &packs, now)?;
            Some(EstimateAgainstTeam {
                team_id: team.0,
                available: a.available,
                expiring_before_use: a.expiring_before_use,
                shortfall: a.shortfall,
                balance_zero_at: a.balance_zero_at,
            })
        }
    };
    Ok(Estimate {
        lines: plan
            .iter()
            .zip(&e.lines)
            .map(|(p, l)| EstimateLine {
                product: l.product.to_string(),
                daily_rate: p.daily_rate.get(),
                users: p.users as i64,
                days_per_month: p.days_per_month as i64,
                tokens_per_month: l.tokens_per_month.get(),
                tokens_per_year: l.tokens_per_year.get(),
            })
            .collect(),
        tokens_per_month: e.tokens_per_month.get(),
        tokens_per_year: e.tokens_per_year.get(),
        team,
    })
}

/// A plan's lines against the catalogue, and what they need (R-REP-5): every check the
/// estimator makes on what was typed, without I/O, so the console can also hold one field
/// against these rules to say which one is wrong.
pub(crate) fn planned(
    catalogue: &[Product],
    lines: &[jeton_api::PlanLine],
) -> ApiResult<(Vec<PlanLine>, jeton_core::forecast::Estimate)> {
    let mut plan = Vec::with_capacity(lines.len());
    for line in lines {
        let key = ProductKey::parse(&line.product)?;
        let product =
            catalogue
                .iter()
                .find(|p| p.key == key)
                .ok_or_else(|| DomainError::UnknownProduct {
                    key: key.to_string(),
                })?;
        plan.push(PlanLine::new(
            key,
            product.daily_rate,
            line.users,
            line.days_per_month,
        )?);
    }
    let e = estimate(&plan)?;
    Ok((plan, e))
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_made_text() {
        for formula in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=x", "\r=x"] {
            assert_eq!(inert(formula.into()), format!("'{formula}"));
        }
        for plain in ["Jane Doe", "jane@example.com", "a=b", "", "'quoted"] {
            assert_eq!(inert(plain.into()), plain);
        }
    }
}
