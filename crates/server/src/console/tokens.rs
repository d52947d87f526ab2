//! Tokens of a team (R-REP-1, R-REP-2, R-PACK-1, R-PACK-6): the balance as a bar, red under the
//! team's low-balance threshold; the packs in the order they will be used, with a warning when
//! they expire within 90 days; the token events, filtered and paged; recording a pack
//! (operator) and moving tokens to another team.

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use jeton_core::ledger::EventKind;
use jeton_core::{TeamId, Tokens};
use jeton_store::events::{EventFilter, LedgerEvent};
use jeton_store::packs::Balance;
use jeton_store::teams::Team;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, csrf, day, refusal, refused,
    see_other, time, tokens,
};
use super::session::{StaffForm, Staffer};
use super::teams::open_team;
use super::words as w;
use crate::state::AppState;

/// Events per page.
const EVENTS_PER_PAGE: usize = 50;
/// Packs expiring this soon are flagged (R-NOT-1's first warning).
const EXPIRY_WARNING_DAYS: i64 = 90;

#[derive(Deserialize, Default, Clone)]
pub struct EventsQuery {
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// `<at micros>.<id>` of the last event of the previous page.
    before: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct PackForm {
    #[serde(default)]
    tokens: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct MoveForm {
    #[serde(default)]
    tokens: String,
    #[serde(default)]
    to_team: String,
}

/// What the page shows besides the team: filled once per request.
struct View {
    team: Team,
    balance: Balance,
    events: Vec<LedgerEvent>,
    more: Option<String>,
    other_teams: Vec<Team>,
    query: EventsQuery,
    filter_errors: FieldErrors,
}

fn parse_day(s: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9999).contains(&chrono::Datelike::year(d)))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Some(d.and_utc()))
            .ok_or_else(|| format!("{s:?} is not a day like 2026-12-31")),
    }
}

async fn view(
    state: &AppState,
    staff: &Staffer,
    team: Team,
    query: EventsQuery,
) -> PageResult<View> {
    let now = state.now();
    let balance = state.store.balance(team.id, now).await?;
    let mut filter_errors = FieldErrors::default();
    let kind = match query.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => match k.parse::<EventKind>() {
            Ok(k) => Some(k),
            Err(e) => {
                filter_errors.add("kind", e.to_string());
                None
            }
        },
    };
    let from = parse_day(query.from.as_deref()).unwrap_or_else(|e| {
        filter_errors.add("from", e);
        None
    });
    let to = parse_day(query.to.as_deref()).unwrap_or_else(|e| {
        filter_errors.add("to", e);
        None
    });
    // The "to" day is included: events up to its end.
    let to = to.map_or(now + Duration::microseconds(1), |d| d + Duration::days(1));
    let from = from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    if from >= to {
        filter_errors.add("from", "the first day must be before the last");
    }
    let before = query.before.as_deref().and_then(|b| {
        let (at, id) = b.split_once('.')?;
        Some((
            DateTime::from_timestamp_micros(at.parse().ok()?)?,
            id.parse().ok()?,
        ))
    });
    let events = if filter_errors.is_empty() {
        let filter = EventFilter {
            from,
            to,
            kind,
            before,
            limit: EVENTS_PER_PAGE + 1,
        };
        state.store.recent_events(team.id, &filter, now).await?
    } else {
        Vec::new()
    };
    let (events, more) = if events.len() > EVENTS_PER_PAGE {
        let shown: Vec<LedgerEvent> = events.into_iter().take(EVENTS_PER_PAGE).collect();
        let more = shown
            .last()
            .map(|e| format!("{}.{}", e.at.timestamp_micros(), e.id));
        (shown, more)
    } else {
        (events, None)
    };
    let other_teams = state
        .store
        .list_teams(staff.caller.admin_id()?)
        .await?
        .into_iter()
        .filter(|t| t.id != team.id && t.closed_at.is_none())
        .collect();
    Ok(View {
        team,
        balance,
        events,
        more,
        other_teams,
        query,
        filter_errors,
    })
}

fn balance_card(b: &Balance, low_percent: Option<u8>) -> Markup {
    let s = &b.summary;
    let share = if s.total.get() == 0 {
        0
    } else {
        (s.available.get() * 100 / s.total.get()).min(100)
    };
    html! {
        div.card.balance.low[s.low] id="balance" data-low=(s.low) {
            div.cards {
                div.available { div.muted { (w::AVAILABLE) } div.big { (tokens(s.available.get())) } }
                div { div.muted { (w::USED) } div.big { (tokens(s.used.get())) } }
                div { div.muted { (w::TOTAL) } div.big { (tokens(s.total.get())) } }
            }
            // Drawn in SVG: its sizes are attributes, which the pages' CSP allows (no inline styles).
            svg.meter.low[s.low] viewBox="0 0 100 4" preserveAspectRatio="none" role="meter"
                aria-valuemin="0" aria-valuemax="100" aria-valuenow=(share)
                aria-label=(format!("{share} % available")) {
                rect.track x="0" y="0" width="100" height="4" {}
                rect.fill x="0" y="0" width=(share) height="4" {}
            }
            @if s.low {
                p.notice.bad role="status" { (w::LOW_BALANCE) ": " (share) " % " (w::AVAILABLE.to_lowercase())
                    @if let Some(p) = low_percent { " (threshold " (p) " %)" } }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    staff: &Staffer,
    v: &View,
    pack_form: &PackForm,
    pack_errors: &FieldErrors,
    move_form: &MoveForm,
    move_errors: &FieldErrors,
    now: DateTime<Utc>,
    low_percent: u8,
) -> Markup {
    let team = &v.team;
    let base = format!("/console/teams/{}/tokens", team.id);
    let done = match v.query.done.as_deref() {
        Some("pack") => Some(w::PACK_RECORDED),
        Some("move") => Some(w::TOKENS_MOVED),
        _ => None,
    };
    let body = html! {
        @if let Some(d) = done { p.notice.ok role="status" { (d) } }
        (balance_card(&v.balance, Some(low_percent)))
        h2 { (w::PACKS) }
        p.muted { (w::PACKS_RULE) }
        @if v.balance.packs.is_empty() {
            p.notice.warn { (w::NO_PACKS) }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "#" } th { (w::BOUGHT) } th { (w::EXPIRES) } th.num { (w::TOKENS) } th.num { (w::REMAINING) } } }
                tbody {
                    @for p in &v.balance.packs {
                        tr {
                            td { (p.id) }
                            td { (day(p.purchased_at)) }
                            td { (day(p.expires_at))
                                @if p.expires_at - now <= Duration::days(EXPIRY_WARNING_DAYS) {
                                    " " span.badge.expired { (w::EXPIRES_SOON) }
                                } }
                            td.num { (tokens(p.tokens.get())) }
                            td.num { (tokens(p.remaining.get())) }
                        }
                    }
                }
            } }
        }
        div.cards {
            @if staff.is_operator() {
                div.card {
                    h2 { (w::RECORD_PACK) }
                    p.muted { (w::RECORD_PACK_TEXT) }
                    (pack_errors.summary())
                    form method="post" action=(format!("/console/teams/{}/packs", team.id)) {
                        (csrf(&staff.csrf))
                        label for="pack-tokens" { (w::TOKENS) }
                        input id="pack-tokens" type="number" name="tokens" min="1" required value=(pack_form.tokens)
                            aria-invalid=[pack_errors.invalid("tokens")] aria-describedby="tokens-error";
                        (pack_errors.show("tokens"))
                        div.actions { button type="submit" { (w::RECORD) } }
                    }
                }
            }
            @if !v.other_teams.is_empty() {
                div.card {
                    h2 { (w::MOVE_TOKENS) }
                    p.muted { (w::MOVE_TEXT) }
                    (move_errors.summary())
                    form method="post" action=(format!("/console/teams/{}/moves", team.id)) {
                        (csrf(&staff.csrf))
                        label for="move-tokens" { (w::TOKENS) }
                        input id="move-tokens" type="number" name="tokens" min="1" required value=(move_form.tokens)
                            aria-invalid=[move_errors.invalid("tokens")] aria-describedby="tokens-error";
                        (move_errors.show("tokens"))
                        label for="to_team" { (w::TO_TEAM) }
                        select id="to_team" name="to_team" aria-invalid=[move_errors.invalid("to_team")] {
                            @for t in &v.other_teams {
                                option value=(t.id) selected[move_form.to_team == t.id.to_string()] { (t.name) }
                            }
                        }
                        (move_errors.show("to_team"))
                        div.actions { button type="submit" { (w::MOVE) } }
                    }
                }
            }
        }
        h2 id="events" { (w::EVENTS) }
        form.filters method="get" action=(format!("{base}#events")) {
            div {
                label for="kind" { (w::KIND) }
                select id="kind" name="kind" aria-invalid=[v.filter_errors.invalid("kind")] {
                    option value="" { (w::ALL_KINDS) }
                    @for k in EventKind::ALL {
                        option value=(k.as_str()) selected[v.query.kind.as_deref() == Some(k.as_str())] { (k.as_str()) }
                    }
                }
            }
            div {
                label for="from" { (w::FROM) }
                input id="from" type="date" name="from" value=[v.query.from.as_deref()]
                    aria-invalid=[v.filter_errors.invalid("from")];
            }
            div {
                label for="to" { (w::TO) }
                input id="to" type="date" name="to" value=[v.query.to.as_deref()]
                    aria-invalid=[v.filter_errors.invalid("to")];
            }
            div { button.secondary type="submit" { (w::FILTER) } }
        }
        (v.filter_errors.show("kind")) (v.filter_errors.show("from")) (v.filter_errors.show("to"))
        @if v.events.is_empty() {
            p.muted { (w::NO_EVENTS) }
        } @else {
            div.table-wrap { table {
                thead { tr { th { (w::WHEN) } th { (w::KIND) } th.num { (w::CHANGE) } th { (w::DETAIL) } } }
                tbody {
                    @for e in &v.events {
                        tr {
                            td { (time(e.at)) }
                            td { (e.kind.as_str()) }
                            td.num { @if e.amount > 0 { "+" } (e.amount) }
                            td.muted { (e.cause.kind.as_str()) @if let Some(r) = &e.cause.reference { " " (r) } " · pack " (e.pack) }
                        }
                    }
                }
            } }
        }
        @if let Some(more) = &v.more {
            p.pager { a href=(older_link(&base, &v.query, more)) { (w::OLDER) " →" } }
        }
    };
    console_page(staff, Some(team), Tab::Tokens, w::TOKENS_TITLE, body)
}

fn older_link(base: &str, q: &EventsQuery, before: &str) -> String {
    let pairs: Vec<(&str, &str)> = [
        ("kind", q.kind.as_deref()),
        ("from", q.from.as_deref()),
        ("to", q.to.as_deref()),
        ("before", Some(before)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
    .collect();
    format!(
        "{base}?{}#events",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

async fn show(
    state: &AppState,
    staff: &Staffer,
    team: i64,
    query: EventsQuery,
    forms: (&PackForm, &FieldErrors, &MoveForm, &FieldErrors),
) -> PageResult<Markup> {
    let team = open_team(state, staff, team).await?;
    let low = state.store.team_settings(team.id).await?.low_percent.get();
    let v = view(state, staff, team, query).await?;
    Ok(render(
        staff,
        &v,
        forms.0,
        forms.1,
        forms.2,
        forms.3,
        state.now(),
        low,
    ))
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(team): PagePath<i64>,
    PageQuery(query): PageQuery<EventsQuery>,
) -> PageResult {
    let none = FieldErrors::default();
    let markup = show(
        &state,
        &staff,
        team,
        query,
        (&PackForm::default(), &none, &MoveForm::default(), &none),
    )
    .await?;
    Ok(markup.into_response())
}

fn parse_tokens(s: &str) -> Result<Tokens, String> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a whole number of tokens", s.trim()))?;
    Tokens::parse_amount(n).map_err(|e| e.to_string())
}

/// R-PACK-1, operator only: the same purchase as `POST /v1/teams/{team}/packs`.
pub async fn record_pack(
    State(state): State<AppState>,
    PagePath(team): PagePath<i64>,
    StaffForm { staff, form }: StaffForm<PackForm>,
) -> PageResult {
    staff.caller.require_operator()?;
    let id = open_team(&state, &staff, team).await?.id;
    let errors = match parse_tokens(&form.tokens) {
        Err(e) => FieldErrors::one("tokens", e),
        Ok(n) => match state
            .store
            .purchase(id, n, staff.caller.actor(), state.now(), None)
            .await
        {
            Ok(_) => {
                state.metrics.count_tokens("purchased", n.get());
                return Ok(see_other(&format!("/console/teams/{id}/tokens?done=pack")));
            }
            Err(e) => refusal("tokens", e)?,
        },
    };
    again(
        &state,
        &staff,
        team,
        (
            &form,
            &errors,
            &MoveForm::default(),
            &FieldErrors::default(),
        ),
    )
    .await
}

/// R-PACK-6: the same move as `POST /v1/teams/{team}/moves`, to a team the caller also manages.
pub async fn move_tokens(
    State(state): State<AppState>,
    PagePath(team): PagePath<i64>,
    StaffForm { staff, form }: StaffForm<MoveForm>,
) -> PageResult {
    let from = open_team(&state, &staff, team).await?.id;
    let errors = match (
        parse_tokens(&form.tokens),
        form.to_team.trim().parse::<i64>(),
    ) {
        (Err(e), _) => FieldErrors::one("tokens", e),
        (_, Err(_)) => FieldErrors::one("to_team", "choose the team to move the tokens to"),
        (Ok(n), Ok(to)) => {
            let to = TeamId(to);
            match staff.caller.require_team(to) {
                Err(e) => refusal("to_team", e).unwrap_or_else(|_| {
                    FieldErrors::one("to_team", "choose the team to move the tokens to")
                }),
                Ok(()) => match state
                    .store
                    .move_tokens(from, to, n, staff.caller.actor(), state.now())
                    .await
                {
                    Ok(_) => {
                        state.metrics.count_tokens("moved", n.get());
                        return Ok(see_other(&format!(
                            "/console/teams/{from}/tokens?done=move"
                        )));
                    }
                    Err(e) => refusal("tokens", e)?,
                },
            }
        }
    };
    again(
        &state,
        &staff,
        team,
        (
            &PackForm::default(),
            &FieldErrors::default(),
            &form,
            &errors,
        ),
    )
    .await
}

/// The page again with the refused form filled in as it was sent.
async fn again(
    state: &AppState,
    staff: &Staffer,
    team: i64,
    forms: (&PackForm, &FieldErrors, &MoveForm, &FieldErrors),
) -> PageResult {
    let markup = show(state, staff, team, EventsQuery::default(), forms).await?;
    Ok(refused(markup))
}
