//! R-PRI: subscriptions and trials of one identity, and accounts the operator makes directly.

use chrono::{DateTime, Utc};
use jeton_core::ledger::Actor;
use jeton_core::session::AccessKind;
use jeton_core::{DomainError, Email, EntitlementId, PersonName, ProductKey, UserId};

use crate::Store;
use crate::error::{StoreError, StoreResult, refuse_duplicate};
use crate::time::{from_db, to_db};
use crate::users::{User, user_row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementRecord {
    pub id: EntitlementId,
    pub user_id: UserId,
    pub product: ProductKey,
    pub kind: AccessKind,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct EntitlementRow {
    #[sqlx(try_from = "i64")]
    id: EntitlementId,
    key: String,
    kind: String,
    starts_at: i64,
    ends_at: i64,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct EntitledRow {
    key: String,
    kind: String,
}

fn record(user: UserId, r: EntitlementRow) -> StoreResult<EntitlementRecord> {
    Ok(EntitlementRecord {
        id: r.id,
        user_id: user,
        product: ProductKey::parse(&r.key)?,
        kind: AccessKind::parse(&r.kind)?,
        starts_at: from_db(r.starts_at)?,
        ends_at: from_db(r.ends_at)?,
        created_at: from_db(r.created_at)?,
    })
}

impl Store {
    /// Gives a user a subscription or trial of a product from `starts_at` to `ends_at`.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_entitlement(
        &self,
        user: UserId,
        product: &ProductKey,
        kind: AccessKind,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<EntitlementRecord> {
        assert!(kind != AccessKind::Flex, "Flex is not an entitlement");
        let mut w = self.begin_write().await?;
        user_row(&mut w.tx, user).await?;
        let product_id: i64 = sqlx::query_scalar("SELECT id FROM products WHERE key = $1")
            .bind(product.as_str())
            .fetch_optional(&mut w.tx)
            .await?
            .ok_or_else(|| jeton_core::DomainError::UnknownProduct {
                key: product.to_string(),
            })?;
        let id = sqlx::query_scalar(
            "INSERT INTO entitlements (user_id, product_id, kind, starts_at, ends_at, created_at, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(user.0)
        .bind(product_id)
        .bind(kind.as_str())
        .bind(to_db(starts_at))
        .bind(to_db(ends_at))
        .bind(to_db(now))
        .bind(actor.to_string())
        .fetch_one(&mut w.tx)
        .await
        .map(EntitlementId)?;
        w.commit().await?;
        Ok(EntitlementRecord {
            id,
            user_id: user,
            product: product.clone(),
            kind,
            starts_at,
            ends_at,
            created_at: now,
        })
    }

    pub async fn entitlements(&self, user: UserId) -> StoreResult<Vec<EntitlementRecord>> {
        let mut conn = self.read_conn().await?;
        user_row(&mut conn, user).await?;
        let rows: Vec<EntitlementRow> = sqlx::query_as(
            "SELECT e.id, p.key, e.kind, e.starts_at, e.ends_at, e.created_at FROM entitlements e \
             JOIN products p ON p.id = e.product_id WHERE e.user_id = $1 ORDER BY e.starts_at, e.id",
        )
        .bind(user.0)
        .fetch_all(&mut conn)
        .await?;
        rows.into_iter().map(|r| record(user, r)).collect()
    }

    /// Removes a subscription or trial of `user` (`kind` says which): gone at once. Periods
    /// opened under it keep their access kind, so nothing is charged for them and open sessions
    /// keep their terms until the period ends; session steps read the user's windows every time,
    /// so each later sign-in, and an open session's next period, pays as usual. Not found: no
    /// such user, or no `kind` with this id for them.
    pub async fn remove_entitlement(
        &self,
        user: UserId,
        id: EntitlementId,
        kind: AccessKind,
    ) -> StoreResult<EntitlementRecord> {
        let mut w = self.begin_write().await?;
        user_row(&mut w.tx, user).await?;
        let row: Option<EntitlementRow> = sqlx::query_as(
            "SELECT e.id, p.key, e.kind, e.starts_at, e.ends_at, e.created_at FROM entitlements e \
             JOIN products p ON p.id = e.product_id \
             WHERE e.id = $1 AND e.user_id = $2 AND e.kind = $3",
        )
        .bind(id.0)
        .bind(user.0)
        .bind(kind.as_str())
        .fetch_optional(&mut w.tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::not_found(kind.as_str(), id.0));
        };
        sqlx::query("DELETE FROM entitlements WHERE id = $1")
            .bind(id.0)
            .execute(&mut w.tx)
            .await?;
        w.commit().await?;
        record(user, row)
    }

    /// Products a user holds an active subscription or trial for at `now` (the downloads view).
    pub async fn entitled_products(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(ProductKey, AccessKind)>> {
        let rows: Vec<EntitledRow> = sqlx::query_as(
            "SELECT p.key, e.kind FROM entitlements e JOIN products p ON p.id = e.product_id \
             WHERE e.user_id = $1 AND e.starts_at <= $2 AND e.ends_at > $2",
        )
        .bind(user.0)
        .bind(to_db(now))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| Ok((ProductKey::parse(&r.key)?, AccessKind::parse(&r.kind)?)))
            .collect()
    }

    /// An account with a password, made by the operator (no invitation, no email).
    pub async fn create_user(
        &self,
        email: &Email,
        name: &PersonName,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        let mut w = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, email_lower, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(email.as_str())
        .bind(email.normalized())
        .bind(name.as_str())
        .bind(password_hash)
        .bind(to_db(now))
        .fetch_one(&mut w.tx)
        .await
        .map_err(refuse_duplicate(|| DomainError::DuplicateUser {
            email: email.to_string(),
        }))?;
        let user = user_row(&mut w.tx, UserId(id)).await?.user()?;
        w.commit().await?;
        Ok(user)
    }
}
