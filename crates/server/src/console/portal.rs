//! The user portal (R-ACC-4): the products a signed-in person may open, how (Flex through which
//! teams, a subscription or a trial), each one's daily rate, and its download items by version and
//! platform. The list is `GET /v1/me/products`, drawn as a page.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use jeton_api::AccessKind;
use jeton_core::TeamId;
use jeton_core::refusal::Refusal;
use maud::html;

use super::page::{PageResult, portal_page, tokens};
use super::session::PortalUser;
use super::words as w;
use crate::routes::me::products_of;
use crate::state::AppState;

pub async fn my_products(State(state): State<AppState>, user: PortalUser) -> PageResult {
    let products = products_of(&state, user.user.id).await?;
    let catalogue = state.store.list_products().await?;
    let rates: BTreeMap<String, u64> = catalogue
        .iter()
        .map(|p| (p.key.to_string(), p.daily_rate.get()))
        .collect();
    // Why the other products of the catalogue would be refused (R-SES-1's reasons, in words).
    let flex_user = !state.store.flex_teams_of(user.user.id).await?.is_empty();
    let why_not = if flex_user {
        Refusal::ProductNotAllowed.message()
    } else {
        Refusal::NotAssigned.message()
    };
    let others: Vec<&jeton_store::catalogue::Product> = catalogue
        .iter()
        .filter(|c| !products.iter().any(|p| p.key == c.key.as_str()))
        .collect();
    // A team whose available tokens do not pay a new day of a product refuses its sign-in
    // (R-SES-2); the person is told so, not the balance, which stays an admin matter.
    let now = state.now();
    let mut available: BTreeMap<i64, u64> = BTreeMap::new();
    let mut team_names: BTreeMap<i64, String> = BTreeMap::new();
    for p in &products {
        for t in &p.teams {
            if !team_names.contains_key(t) {
                team_names.insert(*t, state.store.team(TeamId(*t)).await?.name);
                let balance = state.store.balance(TeamId(*t), now).await?;
                available.insert(*t, balance.summary.available.get());
            }
        }
    }
    let short_on = |p: &jeton_api::MyProduct| -> Vec<String> {
        let rate = rates.get(&p.key).copied().unwrap_or(0);
        p.teams
            .iter()
            .filter(|t| available.get(t).is_some_and(|a| *a < rate))
            .filter_map(|t| team_names.get(t).cloned())
            .collect()
    };
    let body = html! {
        @if products.is_empty() {
            p.notice.warn { (w::NO_PRODUCTS) }
        }
        @for p in &products {
            article.card.product-card data-product=(p.key) {
                div.product {
                    div {
                        h3 { (p.name) }
                        span.muted { (p.key) }
                    }
                    div {
                        @match p.access {
                            AccessKind::Flex => span.badge.flex { (w::ACCESS_FLEX) },
                            AccessKind::Subscription => span.badge.subscription { (w::ACCESS_SUBSCRIPTION) },
                            AccessKind::Trial => span.badge.trial { (w::ACCESS_TRIAL) },
                        }
                    }
                }
                @if matches!(p.access, AccessKind::Flex) {
                    p {
                        (tokens(rates.get(&p.key).copied().unwrap_or(0))) " " (w::DAILY_RATE)
                        @if !p.teams.is_empty() {
                            " · " (w::ON_TEAMS) " "
                            (p.teams.iter().filter_map(|t| team_names.get(t).cloned()).collect::<Vec<_>>().join(", "))
                        }
                    }
                    @let short = short_on(p);
                    @if !short.is_empty() {
                        p.notice.warn { (w::NOT_ENOUGH_TOKENS) " " (short.join(", ")) "." }
                    }
                }
                h4 { (w::DOWNLOADS) }
                @if p.items.is_empty() {
                    p.muted { (w::NO_DOWNLOADS) }
                } @else {
                    ul.items {
                        @for i in &p.items {
                            li { a href=(i.url) rel="noreferrer" { (p.name) " " (i.version) " — " (i.platform) } }
                        }
                    }
                }
            }
        }
        @if !others.is_empty() {
            h2 { (w::OTHER_PRODUCTS) }
            div.table-wrap { table {
                tbody {
                    @for p in &others {
                        tr { td { (p.name) } td.muted { (why_not) } }
                    }
                }
            } }
        }
    };
    Ok(portal_page(&user, w::MY_PRODUCTS, body).into_response())
}
