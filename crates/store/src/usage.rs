//! R-REP-3 aggregates, kept in the same transaction as the charge, refund or result they count.

use chrono::{DateTime, Utc};
use jeton_core::report::{day_bit, day_key, month_key};
use jeton_core::{TeamId, Tokens};
use sqlx::AnyConnection;

use crate::error::{StoreError, StoreResult};

/// What one piece of use adds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Use {
    /// A usage period began (a usage day), charging `tokens` (0 counts as use too).
    Period(Tokens),
    /// A result was charged.
    Result(Tokens),
}

/// Adds a piece of use to the aggregates of its day (the period's start, or the result's time).
pub(crate) async fn record(
    conn: &mut AnyConnection,
    team: TeamId,
    user: i64,
    product: i64,
    at: DateTime<Utc>,
    what: Use,
) -> StoreResult<()> {
    let date = at.date_naive();
    let (tokens, periods, results) = match what {
        Use::Period(t) => (t.as_i64(), 1i64, 0i64),
        Use::Result(t) => (t.as_i64(), 0, 1),
    };
    for (table, key_col, key) in [
        ("usage_days", "day", day_key(date)),
        ("usage_months", "month", month_key(date)),
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
            .bind(user)
            .bind(product)
            .bind(tokens)
            .bind(periods)
            .bind(results)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO usage_team_days (team_id, day, tokens, periods, results) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (team_id, day) DO UPDATE SET tokens = usage_team_days.tokens + excluded.tokens, \
         periods = usage_team_days.periods + excluded.periods, results = usage_team_days.results + excluded.results",
    )
    .bind(team.0)
    .bind(day_key(date))
    .bind(tokens)
    .bind(periods)
    .bind(results)
    .execute(&mut *conn)
    .await?;
    if periods > 0 {
        sqlx::query(
            "INSERT INTO usage_user_months (team_id, month, user_id, days) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_id, month, user_id) DO UPDATE SET days = usage_user_months.days | excluded.days",
        )
        .bind(team.0)
        .bind(month_key(date))
        .bind(user)
        .bind(day_bit(date))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// R-SES-4: a refunded period keeps counting as use, with its tokens taken back.
pub(crate) async fn record_refund(
    conn: &mut AnyConnection,
    team: TeamId,
    user: i64,
    product: i64,
    period_start: DateTime<Utc>,
    tokens: Tokens,
) -> StoreResult<()> {
    let date = period_start.date_naive();
    for (table, key_col, key) in [
        ("usage_days", "day", day_key(date)),
        ("usage_months", "month", month_key(date)),
    ] {
        let sql = format!(
            "UPDATE {table} SET tokens = tokens - $1 \
             WHERE team_id = $2 AND {key_col} = $3 AND user_id = $4 AND product_id = $5 AND tokens >= $1"
        );
        let done = sqlx::query(&sql)
            .bind(tokens.as_i64())
            .bind(team.0)
            .bind(key)
            .bind(user)
            .bind(product)
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
    .bind(tokens.as_i64())
    .bind(team.0)
    .bind(day_key(date))
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::corrupt(
            "no usage_team_days row holds the refunded period's tokens",
        ));
    }
    Ok(())
}
