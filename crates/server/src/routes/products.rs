//! R-CAT-1..3: the catalogue, managed by the operator.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jeton_api::{NewProduct, Problem, Product, ProductChange, ProductDetail};
use jeton_core::DownloadItem;
use jeton_core::product::{ProductDraft, ProductPatch, check_item_count, parse_result_rates};
use jeton_core::{ProductKey, ProductName, Tokens};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{OPERATOR_ONLY, REFUSED_TO_USERS, wire};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Malformed};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product))
}

fn items(raw: &[jeton_api::Item]) -> Result<Vec<DownloadItem>, ApiError> {
    check_item_count(raw.len())?;
    Ok(raw
        .iter()
        .map(|i| DownloadItem::parse(&i.version, &i.platform, &i.url))
        .collect::<Result<_, _>>()?)
}

fn draft(body: &NewProduct) -> Result<ProductDraft, ApiError> {
    Ok(ProductDraft {
        key: ProductKey::parse(&body.key)?,
        name: ProductName::parse(&body.name)?,
        daily_rate: Tokens::parse_rate(body.daily_rate)?,
        result_rates: parse_result_rates(body.result_rates.iter().map(|(k, v)| (k.as_str(), *v)))?,
        idle_awareness: body.idle_awareness,
        items: items(&body.items)?,
    })
}

fn patch(body: &ProductChange) -> Result<ProductPatch, ApiError> {
    let patch = ProductPatch {
        name: body.name.as_deref().map(ProductName::parse).transpose()?,
        daily_rate: body.daily_rate.map(Tokens::parse_rate).transpose()?,
        result_rates: body
            .result_rates
            .as_ref()
            .map(|r| parse_result_rates(r.iter().map(|(k, v)| (k.as_str(), *v))))
            .transpose()?,
        idle_awareness: body.idle_awareness,
        items: body.items.as_deref().map(items).transpose()?,
    };
    if patch.is_empty() {
        return Err(ApiError::bad_request(
            Malformed::Body,
            "nothing to change: send at least one of name, daily_rate, result_rates, idle_awareness, items",
        ));
    }
    Ok(patch)
}

fn key(raw: &str) -> Result<ProductKey, ApiError> {
    // A key that cannot exist names no product.
    ProductKey::parse(raw).map_err(|_| ApiError::not_found("product", raw))
}

/// Add a product to the catalogue (operator).
///
/// The key names the product in sessions, reports and imports, and never changes; the name, the
/// rates and the downloads can (`PATCH /v1/products/{key}`).
#[utoipa::path(post, path = "/v1/products", tag = "catalogue",
    request_body(content = NewProduct, example = json!({
            "key": "autocad", "name": "AutoCAD", "daily_rate": 7,
            "result_rates": {"render.cloud": 5}, "idle_awareness": true,
            "items": [{"version": "2027", "platform": "windows",
                       "url": "https://downloads.example.com/autocad-2027.exe"}]})),
    responses(
        (status = 201, description = "The product, in the catalogue from now on", body = Product,
            example = json!({
            "key": "autocad", "name": "AutoCAD", "daily_rate": 7,
            "result_rates": {"render.cloud": 5}, "idle_awareness": true,
            "items": [{"version": "2027", "platform": "windows",
                       "url": "https://downloads.example.com/autocad-2027.exe"}],
            "added_at": "2026-01-05T08:00:00Z", "updated_at": "2026-01-05T08:00:00Z"})),
        (status = 400, description = "A value does not parse: the key, the name, a rate or an \
            item (`invalid_product_key`, `invalid_name`, `invalid_rate`, `invalid_item`)",
            body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 409, description = "A product has this key already (`duplicate_product`)",
            body = Problem)),
    security(("bearer" = ["operator"])))]
async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    caller.require_operator()?;
    let draft = draft(&body)?;
    let product = state
        .store
        .create_product(&draft, caller.actor(), state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(wire::product(&product))))
}

/// The catalogue: every product (operator and team admins).
///
/// A user token is refused: a user sees the products they may open, with their downloads, at
/// `GET /v1/me/products` (R-ACC-4).
#[utoipa::path(get, path = "/v1/products", tag = "catalogue",
    responses(
        (status = 200, description = "Every product, by key", body = Vec<Product>,
            example = json!([{
            "key": "autocad", "name": "AutoCAD", "daily_rate": 7,
            "result_rates": {"render.cloud": 5}, "idle_awareness": true,
            "items": [{"version": "2027", "platform": "windows",
                       "url": "https://downloads.example.com/autocad-2027.exe"}],
            "added_at": "2026-01-05T08:00:00Z", "updated_at": "2026-01-05T08:00:00Z"}])),
        (status = 403, description = REFUSED_TO_USERS, body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Product>>> {
    caller.admin_id()?;
    let products = state.store.list_products().await?;
    Ok(Json(products.iter().map(wire::product).collect()))
}

/// One product with its rate history (operator and team admins).
///
/// The history lists every change of the rates, oldest first; a charge uses the rates in force
/// when it was made (R-CAT-3).
#[utoipa::path(get, path = "/v1/products/{key}", tag = "catalogue",
    params(("key" = String, Path, description = "The product's key", example = "autocad")),
    responses(
        (status = 200, description = "The product and every rate it has had", body = ProductDetail,
            example = json!({
            "key": "autocad", "name": "AutoCAD", "daily_rate": 7,
            "result_rates": {"render.cloud": 5}, "idle_awareness": true,
            "items": [{"version": "2027", "platform": "windows",
                       "url": "https://downloads.example.com/autocad-2027.exe"}],
            "added_at": "2026-01-05T08:00:00Z", "updated_at": "2026-02-01T09:00:00Z",
            "rate_history": [
                {"at": "2026-01-05T08:00:00Z", "daily_rate": 6, "result_rates": {"render.cloud": 5},
                 "actor": "operator"},
                {"at": "2026-02-01T09:00:00Z", "daily_rate": 7, "result_rates": {"render.cloud": 5},
                 "actor": "operator"}]})),
        (status = 403, description = REFUSED_TO_USERS, body = Problem),
        (status = 404, description = "No product has this key (`not_found`)", body = Problem)),
    security(("bearer" = ["operator", "team_admin"])))]
async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Json<ProductDetail>> {
    // Before the key is looked at: which products exist is not a user's to probe.
    caller.admin_id()?;
    let key = key(&raw)?;
    let product = state.store.product(&key).await?;
    let history = state.store.rate_history(&key).await?;
    Ok(Json(ProductDetail {
        product: wire::product(&product),
        rate_history: history.iter().map(wire::rate_change).collect(),
    }))
}

/// Change a product (operator).
///
/// Fields left out stay as they are; lists that are given replace the old ones. New rates apply
/// to the charges made from now on (R-CAT-3).
#[utoipa::path(patch, path = "/v1/products/{key}", tag = "catalogue",
    request_body(content = ProductChange, example = json!({"daily_rate": 8})),
    params(("key" = String, Path, description = "The product's key", example = "autocad")),
    responses(
        (status = 200, description = "The product as it is now", body = Product,
            example = json!({
            "key": "autocad", "name": "AutoCAD", "daily_rate": 8,
            "result_rates": {"render.cloud": 5}, "idle_awareness": true,
            "items": [{"version": "2027", "platform": "windows",
                       "url": "https://downloads.example.com/autocad-2027.exe"}],
            "added_at": "2026-01-05T08:00:00Z", "updated_at": "2026-02-01T09:00:00Z"})),
        (status = 400, description = "A value does not parse (`invalid_name`, `invalid_rate`, \
            `invalid_item`), or nothing to change (`invalid_body`)", body = Problem),
        (status = 403, description = OPERATOR_ONLY, body = Problem),
        (status = 404, description = "No product has this key (`not_found`)", body = Problem)),
    security(("bearer" = ["operator"])))]
async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
    ApiJson(body): ApiJson<ProductChange>,
) -> ApiResult<Json<Product>> {
    caller.require_operator()?;
    let key = key(&raw)?;
    let patch = patch(&body)?;
    let product = state
        .store
        .update_product(&key, &patch, caller.actor(), state.now())
        .await?;
    Ok(Json(wire::product(&product)))
}
