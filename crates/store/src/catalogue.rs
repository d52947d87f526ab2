//! R-CAT-1..3: the product catalogue.

use std::collections::BTreeMap;

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::ledger::Actor;
use jeton_core::product::{ProductDraft, ProductPatch};
use jeton_core::{DomainError, DownloadItem, ProductId, ProductKey, ResultType, Tokens};

use crate::Store;
use crate::error::{StoreError, StoreResult, refuse_duplicate};
use crate::time::{from_db, to_db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub key: ProductKey,
    pub name: String,
    pub daily_rate: Tokens,
    pub result_rates: BTreeMap<ResultType, Tokens>,
    pub idle_awareness: bool,
    pub items: Vec<DownloadItem>,
    /// R-CAT-2: when the product entered Flex.
    pub added_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One entry of a product's rate history (R-CAT-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateChange {
    pub at: DateTime<Utc>,
    pub daily_rate: Tokens,
    pub result_rates: BTreeMap<ResultType, Tokens>,
    pub actor: Actor,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    #[sqlx(try_from = "i64")]
    id: ProductId,
    key: String,
    name: String,
    daily_rate: i64,
    // 0 or 1: the Any driver does not carry SQLite booleans.
    idle_awareness: i64,
    added_at: i64,
    updated_at: i64,
}

const PRODUCT_COLUMNS: &str = "id, key, name, daily_rate, idle_awareness, added_at, updated_at";

fn stored_key(s: &str) -> StoreResult<ProductKey> {
    Ok(ProductKey::parse(s)?)
}

fn rates_json(rates: &BTreeMap<ResultType, Tokens>) -> String {
    let map: BTreeMap<&str, u64> = rates.iter().map(|(k, v)| (k.as_str(), v.get())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

/// A per-result rate of a product.
#[derive(sqlx::FromRow)]
struct RateRow {
    #[sqlx(try_from = "i64")]
    product_id: ProductId,
    result_type: String,
    rate: i64,
}

/// A downloadable item of a product.
#[derive(sqlx::FromRow)]
struct ItemRow {
    #[sqlx(try_from = "i64")]
    product_id: ProductId,
    version: String,
    platform: String,
    url: String,
}

/// A change of a product's rates.
#[derive(sqlx::FromRow)]
struct RateChangeRow {
    at: i64,
    daily_rate: i64,
    result_rates: String,
    actor: String,
}

fn parse_rates_json(s: &str) -> StoreResult<BTreeMap<ResultType, Tokens>> {
    let map: BTreeMap<String, i64> =
        serde_json::from_str(s).map_err(|e| StoreError::corrupt(format!("rate history: {e}")))?;
    map.into_iter()
        .map(|(k, v)| Ok((ResultType::parse(&k)?, Tokens::from_stored(v)?)))
        .collect()
}

async fn write_rates(
    conn: &mut Conn,
    product: ProductId,
    rates: &BTreeMap<ResultType, Tokens>,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM product_result_rates WHERE product_id = $1")
        .bind(product.0)
        .execute(&mut *conn)
        .await?;
    for (kind, rate) in rates {
        sqlx::query(
            "INSERT INTO product_result_rates (product_id, result_type, rate) VALUES ($1, $2, $3)",
        )
        .bind(product.0)
        .bind(kind.as_str())
        .bind(rate.as_i64())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn write_items(
    conn: &mut Conn,
    product: ProductId,
    items: &[DownloadItem],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM product_items WHERE product_id = $1")
        .bind(product.0)
        .execute(&mut *conn)
        .await?;
    for (position, item) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO product_items (product_id, position, version, platform, url) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(product.0)
        .bind(position as i64)
        .bind(&item.version)
        .bind(&item.platform)
        .bind(&item.url)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn record_rates(
    conn: &mut Conn,
    product: ProductId,
    daily_rate: Tokens,
    rates: &BTreeMap<ResultType, Tokens>,
    actor: Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO product_rate_changes (product_id, at, daily_rate, result_rates, actor) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(product.0)
    .bind(to_db(now))
    .bind(daily_rate.as_i64())
    .bind(rates_json(rates))
    .bind(actor.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn create_product(
        &self,
        draft: &ProductDraft,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<Product> {
        let mut w = self.begin_write().await?;
        let id = sqlx::query_scalar(
            "INSERT INTO products (key, name, daily_rate, idle_awareness, added_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(draft.key.as_str())
        .bind(draft.name.as_str())
        .bind(draft.daily_rate.as_i64())
        .bind(i64::from(draft.idle_awareness))
        .bind(to_db(now))
        .fetch_one(&mut w.tx)
        .await
        .map(ProductId)
        .map_err(refuse_duplicate(|| DomainError::DuplicateProduct {
            key: draft.key.as_str().to_owned(),
        }))?;
        write_rates(&mut w.tx, id, &draft.result_rates).await?;
        write_items(&mut w.tx, id, &draft.items).await?;
        record_rates(
            &mut w.tx,
            id,
            draft.daily_rate,
            &draft.result_rates,
            actor,
            now,
        )
        .await?;
        w.commit().await?;
        Ok(Product {
            key: draft.key.clone(),
            name: draft.name.as_str().to_owned(),
            daily_rate: draft.daily_rate,
            result_rates: draft.result_rates.clone(),
            idle_awareness: draft.idle_awareness,
            items: draft.items.clone(),
            added_at: now,
            updated_at: now,
        })
    }

    /// Changes a product. A rate change is recorded in the rate history and applies to charges
    /// made from now on (R-CAT-3).
    pub async fn update_product(
        &self,
        key: &ProductKey,
        patch: &ProductPatch,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<Product> {
        let mut w = self.begin_write().await?;
        let current = self.product_in(&mut w.tx, key).await?;
        let id = ProductId(
            sqlx::query_scalar("SELECT id FROM products WHERE key = $1")
                .bind(key.as_str())
                .fetch_one(&mut w.tx)
                .await?,
        );
        let name = patch
            .name
            .as_ref()
            .map_or(current.name.clone(), |n| n.as_str().to_owned());
        let daily_rate = patch.daily_rate.unwrap_or(current.daily_rate);
        let idle = patch.idle_awareness.unwrap_or(current.idle_awareness);
        sqlx::query("UPDATE products SET name = $1, daily_rate = $2, idle_awareness = $3, updated_at = $4 WHERE id = $5")
            .bind(&name)
            .bind(daily_rate.as_i64())
            .bind(i64::from(idle))
            .bind(to_db(now))
            .bind(id.0)
            .execute(&mut w.tx)
            .await?;
        if let Some(rates) = &patch.result_rates {
            write_rates(&mut w.tx, id, rates).await?;
        }
        if let Some(items) = &patch.items {
            write_items(&mut w.tx, id, items).await?;
        }
        let rates = patch.result_rates.as_ref().unwrap_or(&current.result_rates);
        if daily_rate != current.daily_rate || *rates != current.result_rates {
            record_rates(&mut w.tx, id, daily_rate, rates, actor, now).await?;
        }
        let updated = self.product_in(&mut w.tx, key).await?;
        w.commit().await?;
        Ok(updated)
    }

    pub async fn product(&self, key: &ProductKey) -> StoreResult<Product> {
        let mut conn = self.read_conn().await?;
        self.product_in(&mut conn, key).await
    }

    async fn product_in(&self, conn: &mut Conn, key: &ProductKey) -> StoreResult<Product> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE key = $1");
        let row = sqlx::query_as::<_, ProductRow>(&sql)
            .bind(key.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::not_found("product", key))?;
        let mut products = self.assemble(conn, vec![row]).await?;
        products
            .pop()
            .ok_or_else(|| StoreError::corrupt("product vanished"))
    }

    pub async fn list_products(&self) -> StoreResult<Vec<Product>> {
        let mut conn = self.read_conn().await?;
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY key");
        let rows = sqlx::query_as::<_, ProductRow>(&sql)
            .fetch_all(&mut conn)
            .await?;
        self.assemble(&mut conn, rows).await
    }

    pub async fn rate_history(&self, key: &ProductKey) -> StoreResult<Vec<RateChange>> {
        let rows: Vec<RateChangeRow> = sqlx::query_as(
            "SELECT c.at, c.daily_rate, c.result_rates, c.actor FROM product_rate_changes c \
             JOIN products p ON p.id = c.product_id WHERE p.key = $1 ORDER BY c.at, c.id",
        )
        .bind(key.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RateChange {
                    at: from_db(r.at)?,
                    daily_rate: Tokens::from_stored(r.daily_rate)?,
                    result_rates: parse_rates_json(&r.result_rates)?,
                    actor: r.actor.parse()?,
                })
            })
            .collect()
    }

    /// Joins products with their rates and items: three queries whatever the count. With one
    /// product the side tables are read for it alone; otherwise whole.
    async fn assemble(&self, conn: &mut Conn, rows: Vec<ProductRow>) -> StoreResult<Vec<Product>> {
        let only: Option<i64> = (rows.len() == 1).then(|| rows[0].id.0);
        let mut rates: BTreeMap<ProductId, Vec<RateRow>> = BTreeMap::new();
        let mut items: BTreeMap<ProductId, Vec<ItemRow>> = BTreeMap::new();
        if !rows.is_empty() {
            for rate in sqlx::query_as::<_, RateRow>(
                "SELECT product_id, result_type, rate FROM product_result_rates \
                 WHERE ($1 IS NULL OR product_id = $1)",
            )
            .bind(only)
            .fetch_all(&mut *conn)
            .await?
            {
                rates.entry(rate.product_id).or_default().push(rate);
            }
            for item in sqlx::query_as::<_, ItemRow>(
                "SELECT product_id, version, platform, url FROM product_items \
                 WHERE ($1 IS NULL OR product_id = $1) ORDER BY product_id, position",
            )
            .bind(only)
            .fetch_all(&mut *conn)
            .await?
            {
                items.entry(item.product_id).or_default().push(item);
            }
        }
        rows.into_iter()
            .map(|r| {
                let result_rates = rates
                    .remove(&r.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| {
                        Ok((
                            ResultType::parse(&r.result_type)?,
                            Tokens::from_stored(r.rate)?,
                        ))
                    })
                    .collect::<StoreResult<_>>()?;
                let items = items
                    .remove(&r.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| Ok(DownloadItem::parse(&i.version, &i.platform, &i.url)?))
                    .collect::<StoreResult<_>>()?;
                Ok(Product {
                    key: stored_key(&r.key)?,
                    name: r.name,
                    daily_rate: Tokens::from_stored(r.daily_rate)?,
                    result_rates,
                    idle_awareness: r.idle_awareness != 0,
                    items,
                    added_at: from_db(r.added_at)?,
                    updated_at: from_db(r.updated_at)?,
                })
            })
            .collect()
    }
}
