//! R-REP-3 aggregates, kept in the same transaction as the charge, refund or result they count.
//! What a piece of use adds where is `jeton_core::report::contribution`; this module writes it.

use std::collections::BTreeMap;

use crate::conn::Conn;
use chrono::{DateTime, Utc};
pub(crate) use jeton_core::report::Use;
use jeton_core::report::{Contribution, Counts, contribution};
use jeton_core::{ProductId, TeamId, UserId};

use crate::error::{StoreError, StoreResult};

/// Records a piece of use in the aggregates of its day: a period or its refund at the period's
/// start, a result at its time.
pub(crate) async fn record(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
    product: ProductId,
    at: DateTime<Utc>,
    what: Use,
) -> StoreResult<()> {
    let c = contribution(at, what);
    if let Use::Refund(_) = what {
        return take_back(conn, team, user, product, &c).await;
    }
    for (table, key_col, key) in [
        ("usage_days", "day", c.day),
        ("usage_months", "month", c.month),
    ] {
        let sql = format!(
            "INSERT INTO {table} (team_id, {key_col}, user_id, product_id, tokens, periods, results) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (team_id, {key_col}, user_id, product_id) DO UPDATE SET \
             tokens = {table}.tokens + excluded.tokens, periods = {table}.periods + excluded.periods, \
             results = {table}.results + excluded.results"
        );
        sqlx::query(&sql)
            .bind(team.0)
            .bind(key)
            .bind(user.0)
            .bind(product.0)
            .bind(c.counts.tokens)
            .bind(c.counts.periods)
            .bind(c.counts.results)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO usage_team_days (team_id, day, tokens, periods, results) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (team_id, day) DO UPDATE SET tokens = usage_team_days.tokens + excluded.tokens, \
         periods = usage_team_days.periods + excluded.periods, results = usage_team_days.results + excluded.results",
    )
    .bind(team.0)
    .bind(c.day)
    .bind(c.counts.tokens)
    .bind(c.counts.periods)
    .bind(c.counts.results)
    .execute(&mut *conn)
    .await?;
    if let Some(bit) = c.day_bit {
        sqlx::query(
            "INSERT INTO usage_user_months (team_id, month, user_id, days) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_id, month, user_id) DO UPDATE SET days = usage_user_months.days | excluded.days",
        )
        .bind(team.0)
        .bind(c.month)
        .bind(user.0)
        .bind(bit)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// R-SES-4: a refunded period keeps counting as use, with its tokens taken back from the rows
/// its charge was added to, which must hold them: anything else is a broken invariant.
async fn take_back(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
    product: ProductId,
    c: &Contribution,
) -> StoreResult<()> {
    // A refund takes tokens only: the rows' periods and the day of use stay.
    let taken = -c.counts.tokens;
    for (table, key_col, key) in [
        ("usage_days", "day", c.day),
        ("usage_months", "month", c.month),
    ] {
        let sql = format!(
            "UPDATE {table} SET tokens = tokens - $1 \
             WHERE team_id = $2 AND {key_col} = $3 AND user_id = $4 AND product_id = $5 AND tokens >= $1"
        );
        let done = sqlx::query(&sql)
            .bind(taken)
            .bind(team.0)
            .bind(key)
            .bind(user.0)
            .bind(product.0)
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::corrupt(format!(
                "no {table} row holds the refunded period's tokens"
            )));
        }
    }
    let done = sqlx::query(
        "UPDATE usage_team_days SET tokens = tokens - $1 WHERE team_id = $2 AND day = $3 AND tokens >= $1",
    )
    .bind(taken)
    .bind(team.0)
    .bind(c.day)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::corrupt(
            "no usage_team_days row holds the refunded period's tokens",
        ));
    }
    Ok(())
}

/// The aggregate rows many pieces of use add up to, summed in memory before they are written (a
/// batch, `crate::step_writes`; the benchmark's bulk loader): what [`record`] would add to
/// each row, one contribution after the other.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sums {
    /// Per (day, user, product).
    pub days: BTreeMap<(i64, UserId, ProductId), Counts>,
    /// Per (month, user, product).
    pub months: BTreeMap<(i64, UserId, ProductId), Counts>,
    /// Per day, the team's.
    pub team_days: BTreeMap<i64, Counts>,
    /// Per (month, user), the mask of days with use.
    pub user_months: BTreeMap<(i64, UserId), i64>,
}

impl Sums {
    pub(crate) fn add(&mut self, user: UserId, product: ProductId, c: &Contribution) {
        self.days
            .entry((c.day, user, product))
            .or_default()
            .add(c.counts);
        self.months
            .entry((c.month, user, product))
            .or_default()
            .add(c.counts);
        self.team_days.entry(c.day).or_default().add(c.counts);
        if let Some(bit) = c.day_bit {
            *self.user_months.entry((c.month, user)).or_default() |= bit;
        }
    }
}
