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

use super::wire;
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
#[utoipa::path(post, path = "/v1/products", tag = "catalogue", request_body = NewProduct,
    responses((status = 201, body = Product), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, description = "duplicate_product", body = Problem)),
    security(("bearer" = [])))]
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

/// The catalogue (operator and team admins). A user token is refused: a user sees the products
/// they may open, with their downloads, at `GET /v1/me/products` (R-ACC-4).
#[utoipa::path(get, path = "/v1/products", tag = "catalogue",
    responses((status = 200, body = Vec<Product>), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Product>>> {
    caller.admin_id()?;
    let products = state.store.list_products().await?;
    Ok(Json(products.iter().map(wire::product).collect()))
}

/// One product with its rate history (operator and team admins, as the catalogue).
#[utoipa::path(get, path = "/v1/products/{key}", tag = "catalogue",
    params(("key" = String, Path, description = "product key")),
    responses((status = 200, body = ProductDetail), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
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

/// Change a product (operator). New rates apply to charges made from now on (R-CAT-3).
#[utoipa::path(patch, path = "/v1/products/{key}", tag = "catalogue", request_body = ProductChange,
    params(("key" = String, Path, description = "product key")),
    responses((status = 200, body = Product), (status = 400, body = Problem),
              (status = 403, description = "refused to admin keys and user tokens", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
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
