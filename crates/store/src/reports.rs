//! R-REP-1..4: team settings and usage reports, read from the aggregates of `usage.rs` (a few
//! rows per day or month), over a team and the teams merged into it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use jeton_core::pack::LowPercent;
use jeton_core::report::{DayRange, day_key, day_of_key, days_of_mask, month_key, week_key};
use jeton_core::session::AccessKind;
use jeton_core::{ProductKey, TeamId, Tokens, UserId};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::ledger::lock_team;
use crate::time::{from_db, to_db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSettings {
    pub low_percent: LowPercent,
    pub pseudonyms: bool,
    /// Set once pseudonyms were first switched on.
    pub pseudonym_salt: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Totals {
    pub tokens: i64,
    pub periods: i64,
    pub results: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub totals: Totals,
    pub products: i64,
    pub users: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByProduct {
    pub product: ProductKey,
    pub name: String,
    pub totals: Totals,
    pub users: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByUser {
    pub user: UserId,
    pub name: String,
    pub email: String,
    pub totals: Totals,
    pub products: i64,
    /// Days with use, per ISO week key (`jeton_core::report::week_key`).
    pub weeks: BTreeMap<i64, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByDay {
    pub day: NaiveDate,
    pub totals: Totals,
}

/// One row of the usage export (R-REP-4): a usage period or a result charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub at: DateTime<Utc>,
    pub user: UserId,
    pub name: String,
    pub email: String,
    pub product: String,
    /// Tokens it cost in the end (0 after a grace refund).
    pub tokens: i64,
    pub access: AccessKind,
    pub team: String,
    /// `None` for a usage period; the result type and quantity for a result.
    pub result: Option<(String, i64)>,
    /// Position for paging: (0 period | 1 result, time, id).
    pub cursor: Cursor,
}

#[derive(sqlx::FromRow)]
struct ExportRow {
    id: i64,
    at: i64,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    name: String,
    email: String,
    key: String,
    tokens: i64,
    access: String,
    team: String,
    result_type: Option<String>,
    quantity: Option<i64>,
}

/// Where an export page starts: the part (0 periods, 1 results), then time and id of the last row
/// read. Paging in time order follows the `(team_id, started_at)` and `(team_id, at)` indexes.
pub type Cursor = (i64, i64, i64);

/// The start of an export.
pub const FIRST_PAGE: Cursor = (0, i64::MIN, 0);

/// Most export rows read per page.
pub const EXPORT_PAGE: i64 = 5_000;

/// `team_id IN (…)` for a lineage: ids come from the database, never from a request.
fn in_teams(teams: &[TeamId]) -> String {
    let ids: Vec<String> = teams.iter().map(|t| t.0.to_string()).collect();
    format!("team_id IN ({})", ids.join(", "))
}

/// The month and day bounds of a range for the union queries: unused parts get an empty range.
fn bounds(range: &DayRange) -> [i64; 6] {
    let split = range.split();
    let (m1, m2) = split.months.unwrap_or((1, 0));
    let day = |i: usize| {
        split
            .days
            .get(i)
            .map_or((1, 0), |d| (day_key(d.first), day_key(d.last)))
    };
    let (a1, a2) = day(0);
    let (b1, b2) = day(1);
    [m1, m2, a1, a2, b1, b2]
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    low_percent: i64,
    pseudonyms: i64,
    pseudonym_salt: Option<String>,
}

/// How many distinct products and users used something in a range.
#[derive(sqlx::FromRow)]
struct DistinctRow {
    products: i64,
    users: i64,
}

/// A product's use in a range, as the by-product query returns it.
#[derive(sqlx::FromRow)]
struct ProductTotalsRow {
    key: String,
    name: String,
    #[sqlx(flatten)]
    totals: Totals,
    /// Distinct users.
    others: i64,
}

/// A user's use in a range, as the by-user query returns it.
#[derive(sqlx::FromRow)]
struct UserTotalsRow {
    #[sqlx(try_from = "i64")]
    id: UserId,
    name: String,
    email: String,
    #[sqlx(flatten)]
    totals: Totals,
    /// Distinct products.
    others: i64,
}

/// A user's mask of days with use in a month, on one team.
#[derive(sqlx::FromRow)]
struct MaskRow {
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    month: i64,
    days: i64,
}

/// A team's use on a day.
#[derive(sqlx::FromRow)]
struct DayTotalsRow {
    day: i64,
    #[sqlx(flatten)]
    totals: Totals,
}

/// Use grouped by `key` (product or user): totals, and how many distinct `other`s (users or
/// products). Grouping first by (key, other) and then by key keeps the distinct count a plain
/// count of a small set, which both databases do fast; the caller joins the names afterwards.
fn grouped(teams: &[TeamId], key: &str, other: &str) -> String {
    format!(
        "SELECT id, CAST(SUM(t) AS BIGINT) AS tokens, CAST(SUM(n) AS BIGINT) AS periods, \
         CAST(SUM(r) AS BIGINT) AS results, CAST(COUNT(*) AS BIGINT) AS others FROM ( \
             SELECT {key} AS id, {other}, SUM(tokens) AS t, SUM(periods) AS n, SUM(results) AS r \
             FROM ({}) u GROUP BY {key}, {other}) g \
         GROUP BY id",
        use_rows(teams)
    )
}

/// Rows of use (user, product, tokens, periods, results) in the range: whole months from the
/// monthly aggregate, the edges from the daily one.
fn use_rows(teams: &[TeamId]) -> String {
    let t = in_teams(teams);
    format!(
        "SELECT user_id, product_id, tokens, periods, results FROM usage_months WHERE {t} AND month BETWEEN $1 AND $2 \
         UNION ALL \
         SELECT user_id, product_id, tokens, periods, results FROM usage_days WHERE {t} \
         AND (day BETWEEN $3 AND $4 OR day BETWEEN $5 AND $6)"
    )
}

impl Store {
    pub async fn team_settings(&self, team: TeamId) -> StoreResult<TeamSettings> {
        let row: Option<SettingsRow> = sqlx::query_as(
            "SELECT low_percent, pseudonyms, pseudonym_salt FROM teams WHERE id = $1",
        )
        .bind(team.0)
        .fetch_optional(self.pool())
        .await?;
        let row = row.ok_or_else(|| StoreError::not_found("team", team))?;
        Ok(TeamSettings {
            low_percent: LowPercent::from_stored(row.low_percent)?,
            pseudonyms: row.pseudonyms == 1,
            pseudonym_salt: row.pseudonym_salt,
        })
    }

    /// Changes a team's settings. A new threshold is checked at once (it may make the balance
    /// low now, and admins are then told). `new_salt` is used the first time pseudonyms go on.
    pub async fn set_team_settings(
        &self,
        team: TeamId,
        low_percent: Option<LowPercent>,
        pseudonyms: Option<bool>,
        new_salt: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<TeamSettings> {
        let mut w = self.begin_write().await?;
        lock_team(&mut w.tx, team).await?;
        if let Some(p) = low_percent {
            sqlx::query("UPDATE teams SET low_percent = $1 WHERE id = $2")
                .bind(i64::from(p.get()))
                .bind(team.0)
                .execute(&mut w.tx)
                .await?;
            crate::alerts::check_low_balance(&mut w.tx, team, now).await?;
        }
        if let Some(on) = pseudonyms {
            sqlx::query(
                "UPDATE teams SET pseudonyms = $1, pseudonym_salt = COALESCE(pseudonym_salt, $2) WHERE id = $3",
            )
            .bind(i64::from(on))
            .bind(new_salt)
            .bind(team.0)
            .execute(&mut w.tx)
            .await?;
        }
        w.commit().await?;
        self.team_settings(team).await
    }

    /// R-REP-3 summary: tokens, periods and results, and how many products and users.
    pub async fn usage_summary(&self, teams: &[TeamId], range: &DayRange) -> StoreResult<Summary> {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) AS tokens, \
             CAST(COALESCE(SUM(periods), 0) AS BIGINT) AS periods, \
             CAST(COALESCE(SUM(results), 0) AS BIGINT) AS results \
             FROM usage_team_days WHERE {} AND day BETWEEN $1 AND $2",
            in_teams(teams)
        );
        let totals: Totals = sqlx::query_as(&sql)
            .bind(day_key(range.first))
            .bind(day_key(range.last))
            .fetch_one(self.pool())
            .await?;
        let sql = format!(
            "SELECT CAST(COUNT(DISTINCT product_id) AS BIGINT) AS products, \
             CAST(COUNT(DISTINCT user_id) AS BIGINT) AS users FROM ({}) u",
            use_rows(teams)
        );
        let mut query = sqlx::query_as(&sql);
        for bound in bounds(range) {
            query = query.bind(bound);
        }
        let distinct: DistinctRow = query.fetch_one(self.pool()).await?;
        Ok(Summary {
            totals,
            products: distinct.products,
            users: distinct.users,
        })
    }

    /// R-REP-3 by product: tokens, users, usage days, results.
    pub async fn usage_by_product(
        &self,
        teams: &[TeamId],
        range: &DayRange,
    ) -> StoreResult<Vec<ByProduct>> {
        let sql = format!(
            "SELECT p.key, p.name, a.tokens, a.periods, a.results, a.others FROM ({}) a \
             JOIN products p ON p.id = a.id ORDER BY p.key",
            grouped(teams, "product_id", "user_id")
        );
        let mut query = sqlx::query_as(&sql);
        for bound in bounds(range) {
            query = query.bind(bound);
        }
        let rows: Vec<ProductTotalsRow> = query.fetch_all(self.pool()).await?;
        rows.into_iter()
            .map(|r| {
                Ok(ByProduct {
                    product: ProductKey::parse(&r.key)?,
                    name: r.name,
                    totals: r.totals,
                    users: r.others,
                })
            })
            .collect()
    }

    /// R-REP-3 by user: tokens, products, usage days, and days used per ISO week.
    pub async fn usage_by_user(
        &self,
        teams: &[TeamId],
        range: &DayRange,
    ) -> StoreResult<Vec<ByUser>> {
        let sql = format!(
            "SELECT us.id, us.name, us.email, a.tokens, a.periods, a.results, a.others FROM ({}) a \
             JOIN users us ON us.id = a.id ORDER BY us.id",
            grouped(teams, "user_id", "product_id")
        );
        let mut query = sqlx::query_as(&sql);
        for bound in bounds(range) {
            query = query.bind(bound);
        }
        // Days used per ISO week, from the monthly masks of days (OR-ed across merged teams, so a
        // day counts once), keeping only the range's days. Read beside the totals, on another
        // connection: the two queries do not depend on each other.
        let (first, last) = (month_key(range.first), month_key(range.last));
        let mask_sql = format!(
            "SELECT user_id, month, days FROM usage_user_months WHERE {} AND month BETWEEN $1 AND $2",
            in_teams(teams)
        );
        let masks = sqlx::query_as(&mask_sql)
            .bind(first)
            .bind(last)
            .fetch_all(self.pool());
        let (rows, masks): (Vec<UserTotalsRow>, Vec<MaskRow>) =
            tokio::try_join!(query.fetch_all(self.pool()), masks)?;
        let mut merged: BTreeMap<(UserId, i64), i64> = BTreeMap::new();
        for m in masks {
            *merged.entry((m.user_id, m.month)).or_default() |= m.days;
        }
        let mut by_user: BTreeMap<UserId, BTreeMap<i64, i64>> = BTreeMap::new();
        for ((user, month), mask) in merged {
            for day in days_of_mask(month, mask).filter(|d| range.contains(*d)) {
                *by_user
                    .entry(user)
                    .or_default()
                    .entry(week_key(day))
                    .or_default() += 1;
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| ByUser {
                user: r.id,
                name: r.name,
                email: r.email,
                totals: r.totals,
                products: r.others,
                weeks: by_user.remove(&r.id).unwrap_or_default(),
            })
            .collect())
    }

    /// R-REP-3 by day: every day of the range (at most 366), with zeros for days without use.
    pub async fn usage_by_day(
        &self,
        teams: &[TeamId],
        range: &DayRange,
    ) -> StoreResult<Vec<ByDay>> {
        let sql = format!(
            "SELECT day, CAST(SUM(tokens) AS BIGINT) AS tokens, CAST(SUM(periods) AS BIGINT) AS periods, \
             CAST(SUM(results) AS BIGINT) AS results \
             FROM usage_team_days WHERE {} AND day BETWEEN $1 AND $2 GROUP BY day",
            in_teams(teams)
        );
        let rows: Vec<DayTotalsRow> = sqlx::query_as(&sql)
            .bind(day_key(range.first))
            .bind(day_key(range.last))
            .fetch_all(self.pool())
            .await?;
        let mut found: BTreeMap<i64, Totals> =
            rows.into_iter().map(|r| (r.day, r.totals)).collect();
        Ok((day_key(range.first)..=day_key(range.last))
            .map(|d| ByDay {
                day: day_of_key(d),
                totals: found.remove(&d).unwrap_or_default(),
            })
            .collect())
    }

    /// Tokens used (charged less refunded) by usage that began in `[from, to)`, for burn rates.
    pub async fn tokens_used(&self, teams: &[TeamId], range: &DayRange) -> StoreResult<Tokens> {
        let s = self.usage_summary(teams, range).await?;
        Ok(Tokens::from_stored(s.totals.tokens)?)
    }

    /// R-REP-4: a page of usage rows (periods, then results) after `after`, oldest first.
    pub async fn usage_rows(
        &self,
        teams: &[TeamId],
        range: &DayRange,
        after: Cursor,
    ) -> StoreResult<Vec<UsageRow>> {
        let from = to_db(range.first.and_time(chrono::NaiveTime::MIN).and_utc());
        let to = to_db(
            (range.last + chrono::Duration::days(1))
                .and_time(chrono::NaiveTime::MIN)
                .and_utc(),
        );
        let t = in_teams(teams).replace("team_id", "x.team_id");
        let queries = [
            // Usage periods: a grace refund leaves the period with 0 tokens.
            format!(
                "SELECT x.id, x.started_at AS at, x.user_id, u.name, u.email, p.key, \
                 CASE WHEN x.refunded_at IS NULL THEN x.tokens ELSE 0 END AS tokens, x.access, t.name AS team, \
                 CAST(NULL AS TEXT) AS result_type, CAST(NULL AS BIGINT) AS quantity \
                 FROM usage_periods x JOIN users u ON u.id = x.user_id JOIN products p ON p.id = x.product_id \
                 JOIN teams t ON t.id = x.team_id \
                 WHERE {t} AND x.started_at >= $1 AND x.started_at < $2 \
                 AND (x.started_at > $3 OR (x.started_at = $3 AND x.id > $4)) ORDER BY x.started_at, x.id LIMIT $5"
            ),
            format!(
                "SELECT x.id, x.at, x.user_id, u.name, u.email, p.key, x.tokens, x.access, t.name AS team, \
                 x.result_type, x.quantity \
                 FROM result_charges x JOIN users u ON u.id = x.user_id JOIN products p ON p.id = x.product_id \
                 JOIN teams t ON t.id = x.team_id \
                 WHERE {t} AND x.at >= $1 AND x.at < $2 \
                 AND (x.at > $3 OR (x.at = $3 AND x.id > $4)) ORDER BY x.at, x.id LIMIT $5"
            ),
        ];
        let mut out = Vec::new();
        for (part, sql) in queries.iter().enumerate() {
            let part = part as i64;
            if part < after.0 {
                continue;
            }
            let (after_at, after_id) = if part == after.0 {
                (after.1, after.2)
            } else {
                (i64::MIN, 0)
            };
            let rows: Vec<ExportRow> = sqlx::query_as(sql)
                .bind(from)
                .bind(to)
                .bind(after_at)
                .bind(after_id)
                .bind(EXPORT_PAGE)
                .fetch_all(self.pool())
                .await?;
            for r in rows {
                out.push(UsageRow {
                    at: from_db(r.at)?,
                    user: r.user_id,
                    name: r.name,
                    email: r.email,
                    product: r.key,
                    tokens: r.tokens,
                    access: AccessKind::parse(&r.access)?,
                    team: r.team,
                    result: r.result_type.zip(r.quantity),
                    cursor: (part, r.at, r.id),
                });
            }
            if !out.is_empty() {
                break;
            }
        }
        Ok(out)
    }
}
