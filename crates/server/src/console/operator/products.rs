//! Operator › Products (R-CAT-1..3): the catalogue; adding a product; a product's page to change
//! its name, rates and download items, with its rate history. Each field is checked by the same
//! core functions as `POST /v1/products` and `PATCH /v1/products/{key}`, one field at a time, so
//! a refusal is shown beside the field it is about.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use jeton_core::product::{ProductDraft, ProductPatch, check_item_count, parse_result_rates};
use jeton_core::{DownloadItem, ProductKey, ProductName, ResultType, Tokens};
use jeton_store::catalogue::{Product, RateChange};
use maud::{Markup, html};
use serde::Deserialize;

use crate::console::page::{
    FieldErrors, PagePath, PageQuery, PageResult, Tab, console_page, csrf, day, refusal, refused,
    see_other, time, tokens,
};
use crate::console::session::{StaffForm, Staffer};
use crate::console::words as w;
use crate::error::ApiError;
use crate::state::AppState;

/// A product as typed in the form: every field text, kept as it was when refused.
#[derive(Deserialize, Default, Clone)]
pub struct ProductForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    daily_rate: String,
    #[serde(default)]
    result_rates: String,
    idle_awareness: Option<String>,
    #[serde(default)]
    items: String,
}

impl ProductForm {
    fn of(p: &Product) -> ProductForm {
        ProductForm {
            key: p.key.to_string(),
            name: p.name.clone(),
            daily_rate: p.daily_rate.get().to_string(),
            result_rates: rates_text(&p.result_rates),
            idle_awareness: p.idle_awareness.then(|| "on".to_owned()),
            items: items_text(&p.items),
        }
    }
}

/// What a form's fields mean, each checked on its own.
struct Checked {
    name: ProductName,
    daily_rate: Tokens,
    result_rates: BTreeMap<ResultType, Tokens>,
    items: Vec<DownloadItem>,
}

fn message(e: impl Into<ApiError>) -> String {
    e.into().parts().2
}

fn rates_text(rates: &BTreeMap<ResultType, Tokens>) -> String {
    rates
        .iter()
        .map(|(k, v)| format!("{k}={}", v.get()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn items_text(items: &[DownloadItem]) -> String {
    items
        .iter()
        .map(|i| format!("{} | {} | {}", i.version, i.platform, i.url))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of a text box that hold something, with their line numbers (from 1).
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

fn parse_daily_rate(raw: &str) -> Result<Tokens, String> {
    let n: i64 = raw
        .trim()
        .parse()
        .map_err(|_| w::op_not_a_rate(raw.trim()))?;
    Tokens::parse_rate(n).map_err(message)
}

/// Result rates as lines `type=rate`.
fn parse_rates(text: &str) -> Result<BTreeMap<ResultType, Tokens>, String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut pairs: Vec<(&str, i64)> = Vec::new();
    for (n, line) in lines(text) {
        let (kind, rate) = line
            .split_once('=')
            .ok_or_else(|| w::op_rate_line(n, w::OP_RATE_FORM))?;
        let (kind, rate) = (kind.trim(), rate.trim());
        ResultType::parse(kind).map_err(|e| w::op_rate_line(n, &message(e)))?;
        let rate: i64 = rate
            .parse()
            .map_err(|_| w::op_rate_line(n, &w::op_not_a_rate(rate)))?;
        Tokens::parse_rate(rate).map_err(|e| w::op_rate_line(n, &message(e)))?;
        if let Some(first) = seen.insert(kind.to_owned(), n) {
            return Err(w::op_rate_line(n, &w::op_repeated_type(kind, first)));
        }
        pairs.push((kind, rate));
    }
    parse_result_rates(pairs).map_err(message)
}

/// Download items as lines `version | platform | url`.
fn parse_items(text: &str) -> Result<Vec<DownloadItem>, String> {
    let mut items = Vec::new();
    for (n, line) in lines(text) {
        let parts: Vec<&str> = line.split('|').collect();
        let [version, platform, url] = parts[..] else {
            return Err(w::op_item_line(n, w::OP_ITEM_FORM));
        };
        items.push(
            DownloadItem::parse(version, platform, url)
                .map_err(|e| w::op_item_line(n, &message(e)))?,
        );
    }
    check_item_count(items.len()).map_err(message)?;
    Ok(items)
}

/// Checks every field but the key; the refusals go beside their fields.
fn check(form: &ProductForm, errors: &mut FieldErrors) -> Option<Checked> {
    let name = ProductName::parse(&form.name).map_err(message);
    let daily_rate = parse_daily_rate(&form.daily_rate);
    let result_rates = parse_rates(&form.result_rates);
    let items = parse_items(&form.items);
    match (name, daily_rate, result_rates, items) {
        (Ok(name), Ok(daily_rate), Ok(result_rates), Ok(items)) => Some(Checked {
            name,
            daily_rate,
            result_rates,
            items,
        }),
        (name, daily_rate, result_rates, items) => {
            for (field, r) in [
                ("name", name.err()),
                ("daily_rate", daily_rate.err()),
                ("result_rates", result_rates.err()),
                ("items", items.err()),
            ] {
                if let Some(m) = r {
                    errors.add(field, m);
                }
            }
            None
        }
    }
}

/// The fields of a product, as the add form and the product page show them.
fn fields(form: &ProductForm, errors: &FieldErrors, with_key: bool) -> Markup {
    html! {
        @if with_key {
            label for="key" { (w::OP_KEY) }
            input id="key" type="text" name="key" required value=(form.key) autocapitalize="none"
                aria-invalid=[errors.invalid("key")] aria-describedby="key-hint key-error";
            p.hint id="key-hint" { (w::OP_KEY_HINT) }
            (errors.show("key"))
        }
        label for="name" { (w::NAME) }
        input id="name" type="text" name="name" required value=(form.name)
            aria-invalid=[errors.invalid("name")] aria-describedby="name-error";
        (errors.show("name"))
        label for="daily_rate" { (w::OP_DAILY_RATE) }
        input id="daily_rate" type="text" inputmode="numeric" name="daily_rate" required value=(form.daily_rate)
            aria-invalid=[errors.invalid("daily_rate")] aria-describedby="daily_rate-hint daily_rate-error";
        p.hint id="daily_rate-hint" { (w::OP_DAILY_RATE_HINT) }
        (errors.show("daily_rate"))
        label for="result_rates" { (w::OP_RESULT_RATES) }
        textarea id="result_rates" name="result_rates" rows="3" placeholder="render.cloud=5"
            aria-invalid=[errors.invalid("result_rates")] aria-describedby="result_rates-hint result_rates-error" { (form.result_rates) }
        p.hint id="result_rates-hint" { (w::OP_RESULT_RATES_HINT) }
        (errors.show("result_rates"))
        label.inline {
            input type="checkbox" name="idle_awareness" value="on" checked[form.idle_awareness.is_some()];
            (w::OP_IDLE)
        }
        p.hint { (w::OP_IDLE_HINT) }
        label for="items" { (w::OP_ITEMS) }
        textarea.wide id="items" name="items" rows="4" placeholder="2027 | windows | https://downloads.example.com/cad-2027.msi"
            aria-invalid=[errors.invalid("items")] aria-describedby="items-hint items-error" { (form.items) }
        p.hint id="items-hint" { (w::OP_ITEMS_HINT) }
        (errors.show("items"))
    }
}

fn rates_cell(rates: &BTreeMap<ResultType, Tokens>) -> Markup {
    html! {
        @if rates.is_empty() { span.muted { "—" } }
        @for (k, v) in rates { code { (k) } " " (tokens(v.get())) br; }
    }
}

fn render_list(
    staff: &Staffer,
    products: &[Product],
    form: &ProductForm,
    errors: &FieldErrors,
) -> Markup {
    let body = html! {
        @if products.is_empty() {
            p.muted { (w::OP_NO_PRODUCTS) }
        } @else {
            div.table-wrap { table {
                thead { tr {
                    th { (w::OP_KEY) } th { (w::NAME) } th.num { (w::OP_DAILY_RATE_SHORT) }
                    th { (w::OP_RESULT_RATES_SHORT) } th.num { (w::OP_ITEMS_SHORT) } th { (w::OP_ADDED) }
                } }
                tbody {
                    @for p in products {
                        tr data-product=(p.key) {
                            td { a href=(format!("/console/operator/products/{}", p.key)) { code { (p.key) } } }
                            td { (p.name) }
                            td.num { (tokens(p.daily_rate.get())) }
                            td { (rates_cell(&p.result_rates)) }
                            td.num { (p.items.len()) }
                            td { (day(p.added_at)) }
                        }
                    }
                }
            } }
        }
        details.card open[!errors.is_empty() || products.is_empty()] {
            summary { strong { (w::OP_ADD_PRODUCT) } }
            p.muted { (w::OP_ADD_PRODUCT_TEXT) }
            (errors.summary())
            form method="post" action="/console/operator/products" {
                (csrf(&staff.csrf))
                (fields(form, errors, true))
                div.actions { button type="submit" { (w::OP_ADD_PRODUCT_BUTTON) } }
            }
        }
    };
    console_page(staff, None, Tab::OpProducts, w::OP_PRODUCTS_TITLE, body)
}

pub async fn list(State(state): State<AppState>, staff: Staffer) -> PageResult {
    staff.caller.require_operator()?;
    let products = state.store.list_products().await?;
    Ok(render_list(
        &staff,
        &products,
        &ProductForm::default(),
        &FieldErrors::default(),
    )
    .into_response())
}

/// R-CAT-1/2: the same as `POST /v1/products`.
pub async fn create(
    State(state): State<AppState>,
    StaffForm { staff, form }: StaffForm<ProductForm>,
) -> PageResult {
    staff.caller.require_operator()?;
    let mut errors = FieldErrors::default();
    let key = ProductKey::parse(form.key.trim()).map_err(message);
    if let Err(m) = &key {
        errors.add("key", m.clone());
    }
    if let (Some(c), Ok(key)) = (check(&form, &mut errors), key) {
        let draft = ProductDraft {
            key,
            name: c.name,
            daily_rate: c.daily_rate,
            result_rates: c.result_rates,
            idle_awareness: form.idle_awareness.is_some(),
            items: c.items,
        };
        match state
            .store
            .create_product(&draft, staff.caller.actor(), state.now())
            .await
        {
            Ok(p) => {
                return Ok(see_other(&format!(
                    "/console/operator/products/{}?done=added",
                    p.key
                )));
            }
            Err(e) => errors = refusal("key", e)?,
        }
    }
    let products = state.store.list_products().await?;
    Ok(refused(render_list(&staff, &products, &form, &errors)))
}

#[derive(Deserialize, Default)]
pub struct ProductQuery {
    done: Option<String>,
}

fn render_product(
    staff: &Staffer,
    product: &Product,
    history: &[RateChange],
    form: &ProductForm,
    errors: &FieldErrors,
    done: Option<&str>,
) -> Markup {
    let body = html! {
        @match done {
            Some("added") => p.notice.ok role="status" { (w::OP_PRODUCT_ADDED) },
            Some("saved") => p.notice.ok role="status" { (w::SAVED) },
            _ => {},
        }
        div.card {
            dl.facts {
                dt { (w::OP_KEY) } dd { code { (product.key) } }
                dt { (w::OP_ADDED) } dd { (time(product.added_at)) }
                dt { (w::OP_UPDATED) } dd { (time(product.updated_at)) }
            }
        }
        h2 id="history" { (w::OP_RATE_HISTORY) }
        p.muted { (w::OP_RATE_HISTORY_TEXT) }
        div.table-wrap { table {
            thead { tr { th { (w::OP_FROM_TIME) } th.num { (w::OP_DAILY_RATE_SHORT) } th { (w::OP_RESULT_RATES_SHORT) } th { (w::OP_BY) } } }
            tbody {
                @for c in history.iter().rev() {
                    tr.rate-change {
                        td { (time(c.at)) }
                        td.num { (tokens(c.daily_rate.get())) }
                        td { (rates_cell(&c.result_rates)) }
                        td.muted { (c.actor) }
                    }
                }
            }
        } }
        div.card {
            h2 { (w::OP_CHANGE_PRODUCT) }
            p.muted { (w::OP_RATES_APPLY) }
            (errors.summary())
            form method="post" action=(format!("/console/operator/products/{}", product.key)) {
                (csrf(&staff.csrf))
                (fields(form, errors, false))
                div.actions { button type="submit" { (w::SAVE_CHANGES) } }
            }
        }
    };
    console_page(staff, None, Tab::OpProducts, &product.name, body)
}

fn product_key(raw: &str) -> Result<ProductKey, ApiError> {
    // A key that cannot exist names no product, as in the API.
    ProductKey::parse(raw).map_err(|_| ApiError::not_found("product", raw))
}

pub async fn detail(
    State(state): State<AppState>,
    staff: Staffer,
    PagePath(key): PagePath<String>,
    PageQuery(query): PageQuery<ProductQuery>,
) -> PageResult {
    staff.caller.require_operator()?;
    let key = product_key(&key)?;
    let product = state.store.product(&key).await?;
    let history = state.store.rate_history(&key).await?;
    Ok(render_product(
        &staff,
        &product,
        &history,
        &ProductForm::of(&product),
        &FieldErrors::default(),
        query.done.as_deref(),
    )
    .into_response())
}

/// R-CAT-3: the same as `PATCH /v1/products/{key}`; new rates apply to charges from now on.
pub async fn update(
    State(state): State<AppState>,
    PagePath(key): PagePath<String>,
    StaffForm { staff, form }: StaffForm<ProductForm>,
) -> PageResult {
    staff.caller.require_operator()?;
    let key = product_key(&key)?;
    let mut errors = FieldErrors::default();
    if let Some(c) = check(&form, &mut errors) {
        let patch = ProductPatch {
            name: Some(c.name),
            daily_rate: Some(c.daily_rate),
            result_rates: Some(c.result_rates),
            idle_awareness: Some(form.idle_awareness.is_some()),
            items: Some(c.items),
        };
        match state
            .store
            .update_product(&key, &patch, staff.caller.actor(), state.now())
            .await
        {
            Ok(p) => {
                return Ok(see_other(&format!(
                    "/console/operator/products/{}?done=saved",
                    p.key
                )));
            }
            Err(e) => errors = refusal("name", e)?,
        }
    }
    let product = state.store.product(&key).await?;
    let history = state.store.rate_history(&key).await?;
    let form = ProductForm {
        key: product.key.to_string(),
        ..form
    };
    Ok(refused(render_product(
        &staff, &product, &history, &form, &errors, None,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_rates_are_lines_of_type_equals_rate() {
        let rates = parse_rates("render.cloud = 5\n\n  export.pdf=0 \n").unwrap();
        assert_eq!(rates_text(&rates), "export.pdf=0\nrender.cloud=5");
        assert!(parse_rates("").unwrap().is_empty());
        let e = parse_rates("render.cloud=5\nrender.cloud=6").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse_rates("a=1\nrender.cloud").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse_rates("render.cloud=-5").unwrap_err();
        assert!(e.contains("from 0 to"), "{e}");
        let e = parse_rates("render.cloud=five").unwrap_err();
        assert!(e.contains("\"five\""), "{e}");
    }

    #[test]
    fn download_items_are_lines_of_three_fields() {
        let items = parse_items(
            "2027 | windows | https://x.example.com/a.msi\n2027|macos|https://x.example.com/a.dmg",
        )
        .unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].platform, "macos");
        assert_eq!(
            items_text(&items).lines().next(),
            Some("2027 | windows | https://x.example.com/a.msi")
        );
        let e = parse_items("2027 | windows").unwrap_err();
        assert!(e.starts_with("line 1:"), "{e}");
        let e = parse_items("\n2027 | windows | ftp://x.example.com/a").unwrap_err();
        assert!(e.starts_with("line 2:") && e.contains("http"), "{e}");
    }

    #[test]
    fn a_daily_rate_is_a_whole_number_from_zero() {
        assert_eq!(parse_daily_rate(" 12 ").unwrap().get(), 12);
        assert!(parse_daily_rate("-1").unwrap_err().contains("from 0 to"));
        assert!(parse_daily_rate("1.5").unwrap_err().contains("\"1.5\""));
    }
}
