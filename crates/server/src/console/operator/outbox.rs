//! Operator › Outbox (R-NOT-2): every email, newest first, filtered by status and address;
//! sending a failed one again, or every failed one. Bodies are shown through the same
//! secret-hiding as `GET /v1/outbox`: a link's secret goes to its addressee and nowhere else.

use axum::extract::State;
use axum::response::IntoResponse;
use jeton_core::limits::MAX_LIST_PAGE;
use jeton_core::mail::without_secrets;
use jeton_store::outbox::{OutboxFilter, OutboxRecord, OutboxStatus};
use maud::{Markup, html};
use serde::Deserialize;

use crate::console::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, csrf, see_other, time,
};
use crate::console::session::{StaffForm, Staffer};
use crate::console::words as w;
use crate::routes::outbox as api;
use crate::state::AppState;

/// Messages listed when the filter does not say.
const DEFAULT_LIMIT: usize = 100;

#[derive(Deserialize, Default)]
pub struct OutboxQuery {
    status: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    done: Option<String>,
    n: Option<String>,
}

#[derive(Deserialize)]
pub struct Empty {}

/// The filter a query asks for, or the refusals to show beside its fields.
fn filter(q: &OutboxQuery) -> (OutboxFilter, FieldErrors) {
    let mut errors = FieldErrors::default();
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => OutboxStatus::parse(s).or_else(|| {
            errors.add("status", w::OP_STATUS_VALUES);
            None
        }),
    };
    let to =
        q.to.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    let limit = match q.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_PAGE).contains(&n) => n,
            _ => {
                errors.add("limit", w::op_limit_range(MAX_LIST_PAGE));
                DEFAULT_LIMIT
            }
        },
    };
    (OutboxFilter { status, to, limit }, errors)
}

fn status_badge(m: &OutboxRecord) -> Markup {
    match m.status {
        OutboxStatus::Pending => html! { span.badge.invited { (w::OP_PENDING) } },
        OutboxStatus::Sent => html! { span.badge.active { (w::OP_SENT) } },
        OutboxStatus::Failed => html! { span.badge.expired { (w::OP_FAILED) } },
    }
}

fn message_row(staff: &Staffer, m: &OutboxRecord) -> Markup {
    html! {
        tr data-message=(m.id) data-status=(m.status.as_str()) {
            td { (time(m.created_at)) }
            td { (m.to_name) br; span.muted { (m.to) } }
            td {
                details {
                    summary { (m.subject) }
                    pre.mail { (without_secrets(&m.body)) }
                }
                span.muted { (m.kind) }
            }
            td {
                (status_badge(m))
                br;
                span.muted {
                    (w::op_attempts(m.attempts))
                    @if let Some(sent) = m.sent_at { " · " (w::OP_SENT) " " (time(sent)) }
                }
                @if let Some(e) = &m.last_error { p.field-error { (e) } }
            }
            td.row-actions {
                @if m.status == OutboxStatus::Failed {
                    form.inline-form method="post" action=(format!("/console/operator/outbox/{}/retry", m.id)) {
                        (csrf(&staff.csrf))
                        button.secondary type="submit" { (w::OP_RETRY) }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    staff: Staffer,
    PageQuery(query): PageQuery<OutboxQuery>,
) -> PageResult {
    staff.caller.require_operator()?;
    let (filter, errors) = filter(&query);
    let messages = if errors.is_empty() {
        state.store.outbox(&filter).await?
    } else {
        Vec::new()
    };
    let failed = state
        .store
        .outbox(&OutboxFilter {
            status: Some(OutboxStatus::Failed),
            to: None,
            limit: MAX_LIST_PAGE,
        })
        .await?
        .len();
    let chosen = filter.status.map(OutboxStatus::as_str);
    let body = html! {
        @match query.done.as_deref() {
            Some("retried") => p.notice.ok role="status" { (w::OP_RETRIED) },
            Some("requeued") => p.notice.ok role="status" { (w::op_requeued(query.n.as_deref().unwrap_or("0"))) },
            _ => {},
        }
        p.muted { (w::OP_OUTBOX_TEXT) }
        @if failed > 0 {
            div.notice.warn {
                (w::op_failed_count(failed)) " " (w::OP_RETRY_ALL_TEXT)
                form method="post" action="/console/operator/outbox/retry-failed" {
                    (csrf(&staff.csrf))
                    button type="submit" { (w::OP_RETRY_ALL) }
                }
            }
        }
        form.filters method="get" action="/console/operator/outbox" role="search" {
            div {
                label for="status" { (w::STATUS) }
                select id="status" name="status" aria-invalid=[errors.invalid("status")] {
                    option value="" { (w::OP_ALL_STATUSES) }
                    @for (value, label) in [("pending", w::OP_PENDING), ("sent", w::OP_SENT), ("failed", w::OP_FAILED)] {
                        option value=(value) selected[chosen == Some(value)] { (label) }
                    }
                }
            }
            div {
                label for="to" { (w::OP_TO_ADDRESS) }
                input id="to" type="search" name="to" value=[filter.to.as_deref()] placeholder="name@example.com";
            }
            div {
                label for="limit" { (w::OP_LIMIT) }
                input id="limit" type="number" name="limit" min="1" max=(MAX_LIST_PAGE)
                    value=(query.limit.clone().unwrap_or_else(|| DEFAULT_LIMIT.to_string()))
                    aria-invalid=[errors.invalid("limit")] aria-describedby="limit-error";
            }
            div { button.secondary type="submit" { (w::FILTER) } }
        }
        (errors.show("status")) (errors.show("limit"))
        @if messages.is_empty() {
            p.muted { (w::OP_NO_MESSAGES) }
        } @else {
            div.table-wrap { table {
                thead { tr { th { (w::WHEN) } th { (w::TO) } th { (w::OP_SUBJECT) } th { (w::STATUS) } th {} } }
                tbody { @for m in &messages { (message_row(&staff, m)) } }
            } }
        }
    };
    Ok(console_page(&staff, None, Tab::OpOutbox, w::OP_OUTBOX_TITLE, body).into_response())
}

/// The same as `POST /v1/outbox/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    PagePath(id): PagePath<jeton_core::MessageId>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    staff.caller.require_operator()?;
    api::retry_one(&state, id).await?;
    Ok(see_other("/console/operator/outbox?done=retried"))
}

/// The same as `POST /v1/outbox/failed/retry`.
pub async fn retry_all(
    State(state): State<AppState>,
    StaffForm { staff, .. }: StaffForm<Empty>,
) -> PageResult {
    staff.caller.require_operator()?;
    let n = api::retry_all(&state).await?;
    Ok(see_other(&format!(
        "/console/operator/outbox?done=requeued&n={n}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(status: &str, limit: &str) -> OutboxQuery {
        OutboxQuery {
            status: Some(status.into()),
            limit: Some(limit.into()),
            ..OutboxQuery::default()
        }
    }

    #[test]
    fn the_filter_is_read_or_refused_field_by_field() {
        let (f, e) = filter(&OutboxQuery::default());
        assert!(e.is_empty());
        assert_eq!((f.status, f.limit), (None, DEFAULT_LIMIT));
        let (f, e) = filter(&query("failed", "5"));
        assert!(e.is_empty());
        assert_eq!((f.status, f.limit), (Some(OutboxStatus::Failed), 5));
        let (_, e) = filter(&query("lost", "0"));
        assert_eq!(e.invalid("status"), Some("true"));
        assert_eq!(e.invalid("limit"), Some("true"));
    }
}
