//! Usage reports (R-REP-3, R-REP-4): a range picker, the summary and the rows by product, by
//! user (with the days used each week) and by day, charts of tokens per day and per product, and
//! the CSV download. Every figure is the report `GET /v1/teams/{team}/usage` answers, from the
//! same function, so the pseudonyms setting applies here exactly as it does there.

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use jeton_api::{UsageQuery, UsageReport};
use jeton_store::teams::Team;
use maud::{Markup, html};
use serde::Deserialize;

use super::chart;
use super::page::{
    FieldErrors, PageError, PagePath, PageQuery, PageResult, Tab, console_page, refusal, refused,
    tokens,
};
use super::session::Staffer;
use super::teams::open_team;
use super::words::reports as w;
use crate::routes::reports::{usage_export, usage_report};
use crate::state::AppState;

/// The range names of the API, in the order the picker offers them.
const RANGES: [(&str, &str); 6] = [
    ("past_30_days", w::RANGE_30_DAYS),
    ("past_3_months", w::RANGE_3_MONTHS),
    ("past_6_months", w::RANGE_6_MONTHS),
    ("past_9_months", w::RANGE_9_MONTHS),
    ("past_12_months", w::RANGE_12_MONTHS),
    ("custom", w::RANGE_CUSTOM),
];
const CUSTOM: &str = "custom";
const DEFAULT_RANGE: &str = "past_30_days";

/// The views of a report: the API's `by`.
const VIEWS: [(&str, &str); 4] = [
    ("summary", w::VIEW_SUMMARY),
    ("product", w::VIEW_PRODUCT),
    ("user", w::VIEW_USER),
    ("day", w::VIEW_DAY),
];

#[derive(Deserialize, Default, Clone)]
pub struct ReportQuery {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
}

/// What the picker asks for, as typed (kept in the form) and as read.
struct Asked {
    range: String,
    from_text: String,
    to_text: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    by: &'static str,
}

impl Asked {
    fn is_custom(&self) -> bool {
        self.range == CUSTOM
    }

    /// The API's query: the days go only with a custom range (as the API asks).
    fn query(&self, by: Option<&str>) -> UsageQuery {
        let custom = self.is_custom();
        UsageQuery {
            range: Some(self.range.clone()),
            from: self.from.filter(|_| custom),
            to: self.to.filter(|_| custom),
            by: by.map(str::to_owned),
        }
    }

    /// The query string of this range (and view), for links.
    fn link_query(&self, by: Option<&str>) -> String {
        let mut pairs = vec![("range", self.range.clone())];
        if self.is_custom() {
            pairs.push(("from", self.from_text.clone()));
            pairs.push(("to", self.to_text.clone()));
        }
        if let Some(by) = by {
            pairs.push(("by", by.to_owned()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// A day typed in the picker, within the days the API takes.
fn parse_day(s: &str) -> Result<Option<NaiveDate>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| w::not_a_day(s))?;
    jeton_api::bounds::day(d).map(Some)
}

/// Reads the query; what does not parse is a message beside its field.
fn read(q: &ReportQuery) -> Result<(Asked, FieldErrors), PageError> {
    let mut errors = FieldErrors::default();
    let by = match q.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => "summary",
        Some(b) => VIEWS
            .iter()
            .find(|(key, _)| *key == b)
            .map(|(key, _)| *key)
            .ok_or_else(|| PageError::BadForm(w::unknown_view(b)))?,
    };
    let from_text = q.from.clone().unwrap_or_default();
    let to_text = q.to.clone().unwrap_or_default();
    let range = match q.range.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => r.to_owned(),
        // As the API: days without a range name a custom range.
        None if !from_text.trim().is_empty() || !to_text.trim().is_empty() => CUSTOM.to_owned(),
        None => DEFAULT_RANGE.to_owned(),
    };
    let custom = range == CUSTOM;
    let mut day = |field: &'static str, text: &str| match parse_day(text) {
        Ok(d) => d,
        Err(e) => {
            if custom {
                errors.add(field, e);
            }
            None
        }
    };
    let from = day("from", &from_text);
    let to = day("to", &to_text);
    Ok((
        Asked {
            range,
            from_text,
            to_text,
            from,
            to,
            by,
        },
        errors,
    ))
}

/// The field a refusal of the range is about: the picker, or the day that is missing or wrong.
fn range_field(a: &Asked) -> &'static str {
    match (a.is_custom(), a.from) {
        (false, _) => "range",
        (true, None) => "from",
        (true, Some(_)) => "to",
    }
}

/// A signed token amount (refunds can only cancel charges, but the report's sums are signed).
fn count(v: i64) -> String {
    if v < 0 {
        format!("−{}", tokens(v.unsigned_abs()))
    } else {
        tokens(v.unsigned_abs())
    }
}

fn positive(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// What the page shows of the team's usage, for the view asked.
struct Shown {
    report: UsageReport,
    /// For the summary, the rows by product beside those by day.
    by_product: Option<UsageReport>,
}

fn picker(base: &str, a: &Asked, errors: &FieldErrors) -> Markup {
    html! {
        form.filters.range-picker method="get" action=(base) aria-label=(w::RANGE_PICKER) {
            input type="hidden" name="by" value=(a.by);
            div {
                label for="range" { (w::RANGE) }
                select id="range" name="range" aria-invalid=[errors.invalid("range")]
                    aria-describedby="range-error" {
                    @for (key, label) in RANGES {
                        option value=(key) selected[a.range == key] { (label) }
                    }
                    @if !RANGES.iter().any(|(k, _)| *k == a.range) {
                        option value=(a.range) selected { (a.range) }
                    }
                }
                (errors.show("range"))
            }
            div {
                label for="from" { (w::CUSTOM_FROM) }
                input id="from" type="date" name="from" value=(a.from_text)
                    aria-invalid=[errors.invalid("from")] aria-describedby="range-hint from-error";
                (errors.show("from"))
            }
            div {
                label for="to" { (w::CUSTOM_TO) }
                input id="to" type="date" name="to" value=(a.to_text)
                    aria-invalid=[errors.invalid("to")] aria-describedby="range-hint to-error";
                (errors.show("to"))
            }
            div {
                // Keeps the button level with the fields when a message grows a column.
                span.label-space aria-hidden="true" { "\u{a0}" }
                button.secondary type="submit" { (w::SHOW) }
            }
        }
        p.hint id="range-hint" { (w::RANGE_HINT) }
    }
}

fn views(base: &str, a: &Asked) -> Markup {
    html! {
        nav.tabs aria-label=(w::REPORT_VIEWS) {
            @for (key, label) in VIEWS {
                a href=(format!("{base}?{}", a.link_query(Some(key))))
                    aria-current=[(a.by == key).then_some("page")] { (label) }
            }
        }
    }
}

fn summary_cards(r: &UsageReport) -> Markup {
    let s = &r.summary;
    html! {
        div.cards.figures {
            div.card { div.muted { (w::TOKENS_USED) } div.big id="total-tokens" data-tokens=(s.tokens) { (count(s.tokens)) } }
            div.card { div.muted { (w::PRODUCTS_USED) } div.big { (s.products) } }
            div.card { div.muted { (w::USERS) } div.big { (s.users) } }
            div.card { div.muted { (w::USAGE_DAYS) } div.big { (s.periods) } }
            @if s.results > 0 {
                div.card { div.muted { (w::RESULTS) } div.big { (s.results) } }
            }
        }
    }
}

fn day_chart(r: &UsageReport) -> Markup {
    let days: Vec<(NaiveDate, u64)> = r
        .by_day
        .iter()
        .flatten()
        .map(|d| (d.date, positive(d.tokens)))
        .collect();
    chart::tokens_per_day("tokens-per-day", w::CHART_PER_DAY, &days)
}

fn product_chart(r: &UsageReport) -> Markup {
    let rows: Vec<(String, u64)> = r
        .by_product
        .iter()
        .flatten()
        .map(|p| (p.name.clone(), positive(p.tokens)))
        .collect();
    chart::bars_by_row(
        "tokens-per-product",
        w::CHART_PER_PRODUCT,
        &rows,
        w::CHART_NO_USE,
    )
}

fn product_table(r: &UsageReport) -> Markup {
    let rows = r.by_product.as_deref().unwrap_or_default();
    html! {
        @if rows.is_empty() {
            p.muted { (w::NO_USE) }
        } @else {
            div.table-wrap { table id="usage-table" {
                caption.visually-hidden { (w::VIEW_PRODUCT) }
                thead { tr { th { (w::PRODUCT) } th.num { (w::TOKENS) } th.num { (w::USERS) } th.num { (w::USAGE_DAYS) } th.num { (w::RESULTS) } } }
                tbody {
                    @for p in rows {
                        tr { td { (p.name) " " span.muted { "(" (p.product) ")" } }
                             td.num { (count(p.tokens)) } td.num { (p.users) } td.num { (p.days) } td.num { (p.results) } }
                    }
                }
                tfoot { tr { th { (w::TOTAL) } th.num data-total=(r.summary.tokens) { (count(r.summary.tokens)) }
                             th.num { (r.summary.users) } th.num { (r.summary.periods) } th.num { (r.summary.results) } } }
            } }
        }
    }
}

fn user_table(r: &UsageReport) -> Markup {
    let rows = r.by_user.as_deref().unwrap_or_default();
    html! {
        @if rows.is_empty() {
            p.muted { (w::NO_USE) }
        } @else {
            div.table-wrap { table id="usage-table" {
                caption.visually-hidden { (w::VIEW_USER) }
                thead { tr {
                    th { (w::USER) }
                    @if !r.pseudonyms { th { (w::EMAIL) } }
                    th.num { (w::TOKENS) } th.num { (w::PRODUCTS) } th.num { (w::USAGE_DAYS) } th { (w::DAYS_PER_WEEK) }
                } }
                tbody {
                    @for u in rows {
                        tr {
                            td.user { (u.user) }
                            @if !r.pseudonyms { td { (u.email.as_deref().unwrap_or_default()) } }
                            td.num { (count(u.tokens)) } td.num { (u.products) } td.num { (u.days) }
                            td { ul.weeks {
                                @for wk in &u.weeks {
                                    li { span.week { (wk.week) } " " (w::n_days(wk.days)) }
                                }
                            } }
                        }
                    }
                }
                tfoot { tr {
                    th { (w::TOTAL) }
                    @if !r.pseudonyms { th {} }
                    th.num data-total=(r.summary.tokens) { (count(r.summary.tokens)) }
                    th.num { (r.summary.products) } th.num { (r.summary.periods) } th {}
                } }
            } }
        }
    }
}

fn day_table(r: &UsageReport) -> Markup {
    let used: Vec<_> = r
        .by_day
        .iter()
        .flatten()
        .filter(|d| d.tokens != 0 || d.periods > 0 || d.results > 0)
        .collect();
    html! {
        @if used.is_empty() {
            p.muted { (w::NO_USE) }
        } @else {
            p.hint { (w::DAYS_WITHOUT_USE) }
            div.table-wrap { table id="usage-table" {
                caption.visually-hidden { (w::VIEW_DAY) }
                thead { tr { th { (w::DAY) } th.num { (w::TOKENS) } th.num { (w::USAGE_DAYS) } th.num { (w::RESULTS) } } }
                tbody {
                    @for d in &used {
                        tr { td { (d.date) }
                             td.num { (count(d.tokens)) } td.num { (d.periods) } td.num { (d.results) } }
                    }
                }
                tfoot { tr { th { (w::TOTAL) } th.num data-total=(r.summary.tokens) { (count(r.summary.tokens)) }
                             th.num { (r.summary.periods) } th.num { (r.summary.results) } } }
            } }
        }
    }
}

fn render(
    staff: &Staffer,
    team: &Team,
    a: &Asked,
    errors: &FieldErrors,
    shown: Option<&Shown>,
) -> Markup {
    let base = format!("/console/teams/{}/reports", team.id);
    let body = html! {
        (picker(&base, a, errors))
        @if let Some(s) = shown {
            @let r = &s.report;
            div.report-head {
                p id="range-shown" {
                    strong { (w::range_shown(r.range.from, r.range.to, r.range.days)) }
                }
                a.button.secondary href=(format!("/console/teams/{}/usage.csv?{}", team.id, a.link_query(None)))
                    download id="download-csv" { (w::DOWNLOAD_CSV) }
            }
            @if r.pseudonyms {
                p.notice.warn id="pseudonyms-on" {
                    (w::PSEUDONYMS_ON) " "
                    a href=(format!("/console/teams/{}/settings", team.id)) { (w::NAV_SETTINGS) }
                }
            }
            (views(&base, a))
            @match a.by {
                "product" => {
                    (product_chart(r))
                    (product_table(r))
                },
                "user" => {
                    p.hint { (w::WEEKS_HINT) }
                    (user_table(r))
                },
                "day" => {
                    (day_chart(r))
                    (day_table(r))
                },
                _ => {
                    (summary_cards(r))
                    div.charts {
                        (day_chart(r))
                        @if let Some(p) = &s.by_product { (product_chart(p)) }
                    }
                },
            }
        }
    };
    console_page(staff, Some(team), Tab::Reports, w::REPORTS_TITLE, body)
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(query): PageQuery<ReportQuery>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    let (mut asked, mut errors) = read(&query)?;
    let mut shown = None;
    if errors.is_empty() {
        // The summary draws the days and the products; the other views their own rows.
        let by = if asked.by == "summary" {
            "day"
        } else {
            asked.by
        };
        match usage_report(&state, &staff.caller, team.id, &asked.query(Some(by))).await {
            Err(e) => errors = refusal(range_field(&asked), e)?,
            Ok(report) => {
                let by_product = if asked.by == "summary" {
                    Some(
                        usage_report(
                            &state,
                            &staff.caller,
                            team.id,
                            &asked.query(Some("product")),
                        )
                        .await?,
                    )
                } else {
                    None
                };
                // The days of a named range fill the picker's date fields, a start for a
                // custom range.
                if !asked.is_custom() {
                    asked.from_text = report.range.from.to_string();
                    asked.to_text = report.range.to.to_string();
                }
                shown = Some(Shown { report, by_product });
            }
        }
    }
    let markup = render(&staff, &team, &asked, &errors, shown.as_ref());
    Ok(if errors.is_empty() {
        markup.into_response()
    } else {
        refused(markup)
    })
}

/// R-REP-4 for the signed-in browser: the API's export of the same range, as a download.
pub async fn csv(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(query): PageQuery<ReportQuery>,
) -> PageResult {
    let team = open_team(&state, &staff, team).await?;
    if query.by.is_some() {
        return Err(PageError::BadForm(w::CSV_NO_VIEW.into()));
    }
    let (asked, _) = read(&query)?;
    if asked.is_custom() {
        for text in [&asked.from_text, &asked.to_text] {
            parse_day(text).map_err(PageError::BadForm)?;
        }
    }
    Ok(usage_export(&state, &staff.caller, team.id, &asked.query(None)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> ReportQuery {
        ReportQuery {
            range: range.map(Into::into),
            from: from.map(Into::into),
            to: to.map(Into::into),
            by: None,
        }
    }

    #[test]
    fn days_go_to_the_api_only_with_a_custom_range() {
        let (a, e) = read(&q(Some("past_3_months"), Some("2026-01-01"), None)).unwrap();
        assert!(e.is_empty());
        let query = a.query(None);
        assert_eq!(query.range.as_deref(), Some("past_3_months"));
        assert_eq!((query.from, query.to), (None, None));
        assert_eq!(a.link_query(Some("day")), "range=past_3_months&by=day");

        let (a, _) = read(&q(None, Some("2026-01-01"), Some("2026-01-31"))).unwrap();
        assert_eq!(
            a.range, "custom",
            "days alone name a custom range, as in the API"
        );
        assert_eq!(a.query(None).to, "2026-01-31".parse().ok());
        assert_eq!(
            a.link_query(None),
            "range=custom&from=2026-01-01&to=2026-01-31"
        );
        let (a, _) = read(&q(None, None, None)).unwrap();
        assert_eq!(a.range, DEFAULT_RANGE);
    }

    #[test]
    fn a_day_that_does_not_parse_is_a_message_beside_its_field() {
        let (_, e) = read(&q(Some("custom"), Some("2026-13-01"), Some("2026-01-01"))).unwrap();
        assert_eq!(e.invalid("from"), Some("true"));
        assert_eq!(e.invalid("to"), None);
        let (_, e) = read(&q(Some("custom"), Some("2026-01-01"), Some("1969-12-31"))).unwrap();
        assert_eq!(e.invalid("to"), Some("true"));
        // Ignored with a named range.
        let (_, e) = read(&q(Some("past_30_days"), Some("nonsense"), None)).unwrap();
        assert!(e.is_empty());
    }

    #[test]
    fn a_refused_range_is_shown_beside_the_field_it_is_about() {
        let (a, _) = read(&q(Some("custom"), None, Some("2026-01-01"))).unwrap();
        assert_eq!(range_field(&a), "from");
        let (a, _) = read(&q(Some("custom"), Some("2026-02-01"), Some("2026-01-01"))).unwrap();
        assert_eq!(range_field(&a), "to");
        let (a, _) = read(&q(Some("yesterday"), None, None)).unwrap();
        assert_eq!(range_field(&a), "range");
    }

    #[test]
    fn an_unknown_view_is_a_bad_address() {
        let mut query = q(None, None, None);
        query.by = Some("month".into());
        assert!(matches!(read(&query), Err(PageError::BadForm(_))));
    }
}
