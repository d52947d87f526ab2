//! The user portal (R-ACC-4): the products a signed-in person may open, how (Flex through which
//! teams, a subscription or a trial), each one's daily rate, and its download items by version and
//! platform. The list is `GET /v1/me/products`, drawn as a page.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::IntoResponse;
use jeton_api::AccessKind;
use jeton_core::TeamId;
use maud::html;

use super::page::{PageResult, portal_page, tokens};
use super::session::PortalUser;
use super::words as w;
use crate::routes::me::products_of;
use crate::state::AppState;

pub async fn my_products(State(state): State<AppState>, user: PortalUser) -> PageResult {
    let products = products_of(&state, user.user.id).await?;
    let rates: BTreeMap<String, u64> = state
        .store
        .list_products()
        .await?
        .into_iter()
        .map(|p| (p.key.to_string(), p.daily_rate.get()))
        .collect();
    let mut team_names: BTreeMap<i64, String> = BTreeMap::new();
    for p in &products {
        for t in &p.teams {
            if !team_names.contains_key(t) {
                team_names.insert(*t, state.store.team(TeamId(*t)).await?.name);
            }
        }
    }
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
    };
    Ok(portal_page(&user, w::MY_PRODUCTS, body).into_response())
}
