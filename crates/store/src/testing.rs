//! Fresh databases for tests and benchmarks, on either backend (feature `testing`).
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new database created next to the one
//! `JETON_TEST_DATABASE_URL` names, dropped again when the [`TestDb`] is dropped. Without that
//! variable the PostgreSQL variants of tests print that they were skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use jeton_core::report::{Use, contribution};
use jeton_core::rng::Rng;
use jeton_core::session::{self, AccessKind};
use jeton_core::{ProductId, TeamId, Tokens, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Executor, Row};

use crate::time::to_db;
use crate::{Backend, ConnectOptions, Store, StoreResult};

pub const DATABASE_URL_VAR: &str = "JETON_TEST_DATABASE_URL";

/// Runs an `INSERT … RETURNING id` with integer parameters straight on the store's database, for
/// tests that make rows no public call makes as they need them.
pub async fn insert_returning_id(store: &Store, sql: &str, values: &[i64]) -> i64 {
    let mut query = sqlx::query_scalar::<_, i64>(sql);
    for v in values {
        query = query.bind(*v);
    }
    query.fetch_one(store.pool()).await.expect("insert")
}

/// A product `cad` at `rate` tokens a day and a person, made at `at` straight in the database:
/// their ids.
pub async fn cad_and_a_person(store: &Store, rate: i64, at: i64) -> (i64, i64) {
    let product = insert_returning_id(
        store,
        "INSERT INTO products (key, name, daily_rate, idle_awareness, added_at, updated_at) \
         VALUES ('cad', 'CAD', $1, 0, $2, $2) RETURNING id",
        &[rate, at],
    )
    .await;
    let user = insert_returning_id(
        store,
        "INSERT INTO users (email, email_lower, name, created_at) \
         VALUES ('a@example.com', 'a@example.com', 'A', $1) RETURNING id",
        &[at],
    )
    .await;
    (product, user)
}

/// A product that charges `rate` tokens a day: no per-result rates, not idle-aware, no downloads.
pub fn daily_product(key: &str, name: &str, rate: u64) -> jeton_core::product::ProductDraft {
    jeton_core::product::ProductDraft {
        key: jeton_core::ProductKey::parse(key).unwrap(),
        name: jeton_core::ProductName::parse(name).unwrap(),
        daily_rate: Tokens::new(rate).unwrap(),
        result_rates: Default::default(),
        idle_awareness: false,
        items: Vec::new(),
    }
}

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// (server URL to connect to for the DROP, database name)
    drop_on_exit: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        TestDb {
            url: Store::sqlite_url(dir.path()),
            backend: Backend::Sqlite,
            _dir: Some(dir),
            drop_on_exit: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (after saying so) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var(DATABASE_URL_VAR) else {
            println!("skipped: {DATABASE_URL_VAR} is not set, so this PostgreSQL test did not run");
            return None;
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "jeton_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000
        );
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&base).await.unwrap_or_else(|e| {
            panic!("{DATABASE_URL_VAR} is set but PostgreSQL is unreachable: {e}")
        });
        conn.execute(sqlx::query(&format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create test database");
        conn.close().await.ok();
        Some(TestDb {
            url: with_database(&base, &name),
            backend: Backend::Postgres,
            _dir: None,
            drop_on_exit: Some((base, name)),
        })
    }

    /// Another handle on the same database, for a second server. It does not own the database:
    /// the original handle must outlive it, and drops it.
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            backend: self.backend,
            _dir: None,
            drop_on_exit: None,
        }
    }

    /// A new, independent connection pool on this database: two of them behave like two server
    /// processes sharing it.
    pub async fn store(&self) -> Store {
        self.store_with(ConnectOptions::default()).await
    }

    /// [`TestDb::store`] with other options.
    pub async fn store_with(&self, options: ConnectOptions) -> Store {
        Store::connect(&self.url, options)
            .await
            .expect("connect to test database")
    }
}

/// `postgres://u@h:5432/test?x=y` with the database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, name)) = self.drop_on_exit.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread with its
        // own small runtime. FORCE ends connections that pools still hold.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = AnyConnection::connect(&base).await.ok()?;
                conn.execute(sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .await
                .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: test database {:?} was not dropped", self.url);
        }
    }
}

/// Declares a test that runs against both backends: `name::sqlite` and `name::postgres`.
/// `$body` is an `async fn(TestDb)` in the calling module.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::testing::TestDb::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$body(db).await
                }
            }
        }
    )*};
}

// Synthetic usage, for the report benchmark (`benches/reports.rs`) -------------------------------

/// What [`load_synthetic_usage`] writes: `periods` usage periods of `users` people on `products`
/// products over `days` days from `first_day`, drawn from a pseudo-random generator seeded with
/// `seed` (the same spec always gives the same data). Product keys and emails start with
/// `prefix`, so that several loads can share a database.
///
/// The shape: product popularity falls off like Zipf's law; each person has a personal set of 5
/// to 8 products, a preference for each, an activity level (0.4 to 1.6 times the average) and
/// two weeks of holiday; use happens on weekdays (weekends weigh 1/20 of a weekday), sign-ins
/// between 06:00 and 19:00 UTC, and a person opens at most one period per product and day. 8 %
/// of (person, product) pairs are on a subscription (periods of 0 tokens), 1 % of paid periods
/// get a grace refund (R-SES-4), and periods of products with a per-result rate charge 1 to 3
/// results 3 % of the time (in one session per such period).
#[derive(Debug, Clone)]
pub struct SyntheticUsage {
    pub seed: u64,
    pub periods: usize,
    pub users: usize,
    pub products: usize,
    pub first_day: NaiveDate,
    pub days: u32,
    pub prefix: String,
}

impl SyntheticUsage {
    /// The benchmark's shape: 2,000 people and 40 products over the year 2025.
    pub fn year(periods: usize) -> SyntheticUsage {
        SyntheticUsage {
            seed: 1,
            periods,
            users: 2_000,
            products: 40,
            first_day: NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date"),
            days: 365,
            prefix: "synth".into(),
        }
    }

    pub fn last_day(&self) -> NaiveDate {
        self.first_day + Duration::days(i64::from(self.days) - 1)
    }
}

/// What a load wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyntheticLoad {
    /// Ids of the products and people created, in the order of the spec's indexes.
    pub products: Vec<ProductId>,
    pub users: Vec<UserId>,
    pub periods: usize,
    /// Periods given back by a grace refund (they count as use, with 0 tokens).
    pub refunded: usize,
    pub results: usize,
    pub sessions: usize,
    /// Tokens used in the end: periods less refunds, plus results.
    pub tokens: i64,
    /// Rows written to `usage_days`, `usage_months`, `usage_user_months` and `usage_team_days`.
    pub aggregate_rows: [usize; 4],
}

/// Loads [`SyntheticUsage`] into `team` (which must exist) quickly: creates the products and
/// people, then writes `usage_periods`, the sessions and `result_charges` of the results, and the
/// report aggregates exactly as `usage::record` would have left them (computed in memory from the
/// same rule, `jeton_core::report::contribution`), with multi-row INSERTs in transactions of about
/// 100,000 rows. The ledger is not touched: no packs, no `charged` events.
///
/// On PostgreSQL it ends with `VACUUM (ANALYZE)` of the tables it filled, which autovacuum would
/// do on its own within minutes of such a load; on SQLite it does not `ANALYZE`, as Jeton never
/// does either.
pub async fn load_synthetic_usage(
    store: &Store,
    team: TeamId,
    spec: &SyntheticUsage,
) -> StoreResult<SyntheticLoad> {
    assert!(
        spec.users > 0 && spec.products > 0 && spec.days > 0,
        "an empty synthetic spec"
    );
    let catalogue = synthetic_products(spec);
    let added = to_db(at_day(spec.first_day) - Duration::days(30));

    let rows = insert_rows(
        store,
        "INSERT INTO products (key, name, daily_rate, idle_awareness, added_at, updated_at)",
        6,
        " RETURNING id, key",
        &catalogue,
        |q, p| {
            q.bind(p.key.clone())
                .bind(p.name.clone())
                .bind(p.daily_rate)
                .bind(i64::from(p.idle_aware))
                .bind(added)
                .bind(added)
        },
    )
    .await?;
    let ids: HashMap<String, i64> = rows
        .iter()
        .map(|r| Ok((r.try_get::<String, _>(1)?, r.try_get::<i64, _>(0)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let products: Vec<ProductId> = catalogue.iter().map(|p| ProductId(ids[&p.key])).collect();
    let rates: Vec<(ProductId, i64)> = catalogue
        .iter()
        .zip(&products)
        .filter_map(|(p, id)| p.result_rate.map(|r| (*id, r)))
        .collect();
    insert_rows(
        store,
        "INSERT INTO product_result_rates (product_id, result_type, rate)",
        3,
        "",
        &rates,
        |q, (id, rate)| q.bind(id.0).bind(SYNTHETIC_RESULT).bind(*rate),
    )
    .await?;

    let people: Vec<usize> = (0..spec.users).collect();
    let rows = insert_rows(
        store,
        "INSERT INTO users (email, email_lower, name, created_at)",
        4,
        " RETURNING id, email_lower",
        &people,
        |q, u| {
            let email = format!("{}-u{u:05}@example.com", spec.prefix);
            q.bind(email.clone())
                .bind(email)
                .bind(format!("Synthetic Person {u}"))
                .bind(added)
        },
    )
    .await?;
    let ids: HashMap<String, i64> = rows
        .iter()
        .map(|r| Ok((r.try_get::<String, _>(1)?, r.try_get::<i64, _>(0)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let users: Vec<UserId> = people
        .iter()
        .map(|u| UserId(ids[&format!("{}-u{u:05}@example.com", spec.prefix)]))
        .collect();

    let plan = synthetic_plan(spec, &catalogue, &products, &users);

    // Periods, oldest first as the server writes them. The ids of periods with results are
    // needed for their sessions.
    let with_results: HashSet<usize> = plan.results.iter().map(|r| r.period).collect();
    let rows = insert_rows(
        store,
        "INSERT INTO usage_periods (team_id, user_id, product_id, access, opened, started_at, \
         ends_at, rate, tokens, charged_at, refunded_at)",
        11,
        " RETURNING id, user_id, product_id, started_at",
        &plan.periods,
        |q, p| {
            let start = to_db(p.started_at);
            q.bind(team.0)
                .bind(p.user.0)
                .bind(p.product.0)
                .bind(p.access.as_str())
                .bind("sign_in")
                .bind(start)
                .bind(to_db(p.started_at + session::period_length()))
                .bind(p.rate)
                .bind(p.tokens)
                .bind(start)
                .bind(p.refunded_at.map(to_db))
        },
    )
    .await?;
    let mut period_ids: HashMap<(UserId, ProductId, i64), i64> =
        HashMap::with_capacity(with_results.len());
    let wanted: HashSet<(UserId, ProductId, i64)> = with_results
        .iter()
        .map(|&i| {
            let p = &plan.periods[i];
            (p.user, p.product, to_db(p.started_at))
        })
        .collect();
    for r in &rows {
        let key = (
            UserId(r.try_get::<i64, _>(1)?),
            ProductId(r.try_get::<i64, _>(2)?),
            r.try_get::<i64, _>(3)?,
        );
        if wanted.contains(&key) {
            period_ids.insert(key, r.try_get::<i64, _>(0)?);
        }
    }
    drop(rows);

    // One session per period with results, from the period's start to 5 minutes after its last
    // result.
    let mut last_result: BTreeMap<usize, DateTime<Utc>> = BTreeMap::new();
    for r in &plan.results {
        let last = last_result.entry(r.period).or_insert(r.at);
        *last = (*last).max(r.at);
    }
    let sessions: Vec<(usize, i64, DateTime<Utc>)> = last_result
        .iter()
        .map(|(&i, &last)| {
            let p = &plan.periods[i];
            let id = period_ids[&(p.user, p.product, to_db(p.started_at))];
            (i, id, last + Duration::minutes(5))
        })
        .collect();
    let rows = insert_rows(
        store,
        "INSERT INTO sessions (team_id, user_id, product_id, period_id, started_at, last_seen_at, \
         last_active_at, ended_at, end_reason)",
        9,
        " RETURNING id, period_id",
        &sessions,
        |q, (i, period, end)| {
            let p = &plan.periods[*i];
            q.bind(team.0)
                .bind(p.user.0)
                .bind(p.product.0)
                .bind(*period)
                .bind(to_db(p.started_at))
                .bind(to_db(*end))
                .bind(to_db(*end))
                .bind(to_db(*end))
                .bind("signed_out")
        },
    )
    .await?;
    let session_of_period: HashMap<i64, i64> = rows
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(0)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let session_of: HashMap<usize, i64> = sessions
        .iter()
        .map(|(i, period, _)| (*i, session_of_period[period]))
        .collect();
    insert_rows(
        store,
        "INSERT INTO result_charges (team_id, user_id, product_id, session_id, client_id, \
         result_type, quantity, rate, tokens, access, at)",
        11,
        "",
        &plan.results,
        |q, r| {
            let p = &plan.periods[r.period];
            q.bind(team.0)
                .bind(p.user.0)
                .bind(p.product.0)
                .bind(session_of[&r.period])
                .bind(format!("r{}", r.seq))
                .bind(SYNTHETIC_RESULT)
                .bind(r.quantity)
                .bind(r.rate)
                .bind(r.tokens)
                .bind(p.access.as_str())
                .bind(to_db(r.at))
        },
    )
    .await?;

    // The aggregates, sorted by key (which is about the order in which production writes them).
    let agg = Aggregates::of(&plan).0;
    let days: Vec<_> = agg.days.iter().collect();
    let months: Vec<_> = agg.months.iter().collect();
    let user_months: Vec<_> = agg.user_months.iter().collect();
    let team_days: Vec<_> = agg.team_days.iter().collect();
    for (table, key_col, rows) in [
        ("usage_days", "day", &days),
        ("usage_months", "month", &months),
    ] {
        let head = format!(
            "INSERT INTO {table} (team_id, {key_col}, user_id, product_id, tokens, periods, results)"
        );
        insert_rows(store, &head, 7, "", rows, |q, ((key, user, product), t)| {
            q.bind(team.0)
                .bind(*key)
                .bind(user.0)
                .bind(product.0)
                .bind(t.tokens)
                .bind(t.periods)
                .bind(t.results)
        })
        .await?;
    }
    insert_rows(
        store,
        "INSERT INTO usage_user_months (team_id, month, user_id, days)",
        4,
        "",
        &user_months,
        |q, ((month, user), days)| q.bind(team.0).bind(*month).bind(user.0).bind(**days),
    )
    .await?;
    insert_rows(
        store,
        "INSERT INTO usage_team_days (team_id, day, tokens, periods, results)",
        5,
        "",
        &team_days,
        |q, (day, t)| {
            q.bind(team.0)
                .bind(**day)
                .bind(t.tokens)
                .bind(t.periods)
                .bind(t.results)
        },
    )
    .await?;

    if store.backend() == Backend::Postgres {
        for table in [
            "users",
            "products",
            "usage_periods",
            "sessions",
            "result_charges",
            "usage_days",
            "usage_months",
            "usage_user_months",
            "usage_team_days",
        ] {
            sqlx::query(&format!("VACUUM (ANALYZE) {table}"))
                .execute(store.pool())
                .await?;
        }
    }

    Ok(SyntheticLoad {
        products,
        users,
        periods: plan.periods.len(),
        refunded: plan
            .periods
            .iter()
            .filter(|p| p.refunded_at.is_some())
            .count(),
        results: plan.results.len(),
        sessions: sessions.len(),
        tokens: agg.team_days.values().map(|t| t.tokens).sum(),
        aggregate_rows: [
            agg.days.len(),
            agg.months.len(),
            agg.user_months.len(),
            agg.team_days.len(),
        ],
    })
}

/// The one result type of synthetic products that charge per result.
const SYNTHETIC_RESULT: &str = "render.cloud";

/// Most bind parameters in one statement: within SQLite's 32,766 (and PostgreSQL's 65,535).
const MAX_BINDS: usize = 32_000;

/// Rows written per transaction by [`insert_rows`].
const ROWS_PER_TRANSACTION: usize = 100_000;

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// `head VALUES (…), (…) tail` over `rows`, as many rows per statement as the bind limit allows,
/// committed every [`ROWS_PER_TRANSACTION`] rows. Returns what `tail`'s RETURNING gives (nothing
/// when `tail` is empty).
async fn insert_rows<R>(
    store: &Store,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[R],
    bind: impl for<'q> Fn(AnyQuery<'q>, &R) -> AnyQuery<'q>,
) -> StoreResult<Vec<AnyRow>> {
    let per_statement = (MAX_BINDS / columns).max(1);
    // SQLite resolves `$N` parameters by name with a linear search each, so preparing a
    // statement with thousands of them takes quadratic time (20,000 periods: 16 s instead of
    // 0.2 s); plain `?` are positional.
    let numbered = store.backend() == Backend::Postgres;
    let statement = |n: usize| {
        let mut sql = String::with_capacity(head.len() + tail.len() + n * columns * 7);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for r in 0..n {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..columns {
                if c > 0 {
                    sql.push_str(", ");
                }
                if numbered {
                    sql.push('$');
                    sql.push_str(&(r * columns + c + 1).to_string());
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
        }
        sql.push_str(tail);
        sql
    };
    let full = statement(per_statement);
    let mut returned = Vec::new();
    for transaction in rows.chunks(ROWS_PER_TRANSACTION) {
        let mut w = store.begin_write().await?;
        for chunk in transaction.chunks(per_statement) {
            let partial;
            let sql = if chunk.len() == per_statement {
                &full
            } else {
                partial = statement(chunk.len());
                &partial
            };
            let mut q = sqlx::query(sql);
            for row in chunk {
                q = bind(q, row);
            }
            if tail.is_empty() {
                q.execute(&mut w.tx).await?;
            } else {
                returned.extend(q.fetch_all(&mut w.tx).await?);
            }
        }
        w.commit().await?;
    }
    Ok(returned)
}

fn at_day(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// An index drawn with the weights whose running sums are `cumulative`.
fn pick(rng: &mut Rng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.unit() * total;
    cumulative
        .partition_point(|&c| c <= x)
        .min(cumulative.len() - 1)
}

fn running_sums(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut sum = 0.0;
    weights
        .into_iter()
        .map(|w| {
            sum += w;
            sum
        })
        .collect()
}

struct SyntheticProduct {
    key: String,
    name: String,
    daily_rate: i64,
    idle_aware: bool,
    /// Tokens per result, for the products that charge per result.
    result_rate: Option<i64>,
}

fn synthetic_products(spec: &SyntheticUsage) -> Vec<SyntheticProduct> {
    let mut rng = Rng::new(spec.seed ^ 0x7072_6f64_7563_7473);
    (0..spec.products)
        .map(|k| SyntheticProduct {
            key: format!("{}-p{k:02}", spec.prefix),
            name: format!("Synthetic Product {k}"),
            // A few free products; the rest cost 5 to 60 tokens a day.
            daily_rate: if k % 13 == 7 {
                0
            } else {
                5 + rng.below(56) as i64
            },
            idle_aware: k % 3 == 0,
            result_rate: (k % 5 == 2).then(|| 1 + rng.below(9) as i64),
        })
        .collect()
}

struct PlannedPeriod {
    user: UserId,
    product: ProductId,
    access: AccessKind,
    started_at: DateTime<Utc>,
    rate: i64,
    tokens: i64,
    refunded_at: Option<DateTime<Utc>>,
}

struct PlannedResult {
    /// Index in `Plan::periods`.
    period: usize,
    /// Index in `Plan::results`: the client's id for it.
    seq: usize,
    at: DateTime<Utc>,
    quantity: i64,
    rate: i64,
    tokens: i64,
}

struct Plan {
    /// Oldest first.
    periods: Vec<PlannedPeriod>,
    /// Oldest first.
    results: Vec<PlannedResult>,
}

/// The periods and results of a spec, over the given product and person ids.
fn synthetic_plan(
    spec: &SyntheticUsage,
    catalogue: &[SyntheticProduct],
    products: &[ProductId],
    users: &[UserId],
) -> Plan {
    let mut rng = Rng::new(spec.seed);
    let days = spec.days as usize;
    let popularity = running_sums((0..products.len()).map(|k| 1.0 / ((k + 1) as f64).powf(0.8)));
    let day_weight: Vec<f64> = (0..days)
        .map(
            |d| match (spec.first_day + Duration::days(d as i64)).weekday() {
                Weekday::Sat | Weekday::Sun => 0.05,
                _ => 1.0,
            },
        )
        .collect();

    struct Person {
        set: Vec<usize>,
        preference: Vec<f64>,
        access: Vec<AccessKind>,
        activity: f64,
        holiday: usize,
    }
    let people: Vec<Person> = users
        .iter()
        .map(|_| {
            let size = (5 + rng.below(4) as usize).min(products.len());
            let mut set = Vec::with_capacity(size);
            while set.len() < size {
                let k = pick(&mut rng, &popularity);
                if !set.contains(&k) {
                    set.push(k);
                }
            }
            let preference = running_sums(set.iter().map(|_| 0.2 + 0.8 * rng.unit()));
            let access = set
                .iter()
                .map(|_| {
                    if rng.unit() < 0.08 {
                        AccessKind::Subscription
                    } else {
                        AccessKind::Flex
                    }
                })
                .collect();
            Person {
                set,
                preference,
                access,
                activity: 0.4 + 1.2 * rng.unit(),
                holiday: rng.below(days as u64) as usize,
            }
        })
        .collect();

    // Periods per person, in proportion to activity, summing to exactly `spec.periods`.
    let activity: f64 = people.iter().map(|p| p.activity).sum();
    let mut targets: Vec<usize> = people
        .iter()
        .map(|p| (spec.periods as f64 * p.activity / activity) as usize)
        .collect();
    let short = spec.periods - targets.iter().sum::<usize>();
    let n = targets.len();
    for i in 0..short {
        targets[i % n] += 1;
    }

    let mut periods = Vec::with_capacity(spec.periods);
    for ((person, &user), &target) in people.iter().zip(users).zip(&targets) {
        assert!(
            target <= days * person.set.len(),
            "{} periods do not fit in {} days of {} people",
            spec.periods,
            days,
            users.len()
        );
        let weights = running_sums((0..days).map(|d| {
            let off = (d + days - person.holiday) % days < 14.min(days / 4);
            if off { 0.0 } else { day_weight[d] }
        }));
        let mut used: HashSet<(usize, usize)> = HashSet::with_capacity(target);
        for _ in 0..target {
            let mut slot = None;
            for _ in 0..1_000 {
                let candidate = (pick(&mut rng, &weights), pick(&mut rng, &person.preference));
                if !used.contains(&candidate) {
                    slot = Some(candidate);
                    break;
                }
            }
            // Nearly full: the first free slot.
            let (day, j) = slot.unwrap_or_else(|| {
                (0..days)
                    .flat_map(|d| (0..person.set.len()).map(move |j| (d, j)))
                    .find(|s| !used.contains(s))
                    .expect("a free slot")
            });
            used.insert((day, j));
            let k = person.set[j];
            let access = person.access[j];
            let started_at = at_day(spec.first_day + Duration::days(day as i64))
                + Duration::seconds(6 * 3600 + rng.below(13 * 3600) as i64)
                + Duration::microseconds(rng.below(1_000_000) as i64);
            let rate = if access == AccessKind::Flex {
                catalogue[k].daily_rate
            } else {
                0
            };
            let refunded_at = (rate > 0 && rng.unit() < 0.01)
                .then(|| started_at + Duration::seconds(30 + rng.below(270) as i64));
            periods.push((
                k,
                PlannedPeriod {
                    user,
                    product: products[k],
                    access,
                    started_at,
                    rate,
                    tokens: rate,
                    refunded_at,
                },
            ));
        }
    }
    periods.sort_by_key(|(_, p)| (p.started_at, p.user, p.product));

    let mut results = Vec::new();
    let end = at_day(spec.last_day() + Duration::days(1));
    for (i, (k, p)) in periods.iter().enumerate() {
        let Some(rate) = catalogue[*k].result_rate else {
            continue;
        };
        if p.refunded_at.is_some() || rng.unit() >= 0.03 {
            continue;
        }
        for _ in 0..1 + rng.below(3) {
            let quantity = 1 + rng.below(5) as i64;
            let rate = if p.access == AccessKind::Flex {
                rate
            } else {
                0
            };
            let at = p.started_at
                + Duration::minutes(10)
                + Duration::seconds(rng.below(10 * 3600) as i64);
            // Nothing happens after the last day.
            if at < end {
                results.push(PlannedResult {
                    period: i,
                    seq: 0,
                    at,
                    quantity,
                    rate,
                    tokens: rate * quantity,
                });
            }
        }
    }
    results.sort_by_key(|r| (r.at, r.period));
    for (seq, r) in results.iter_mut().enumerate() {
        r.seq = seq;
    }
    Plan {
        periods: periods.into_iter().map(|(_, p)| p).collect(),
        results,
    }
}

/// The report aggregates of a plan, as `usage::record` keeps them: each piece of use adds what
/// `jeton_core::report::contribution` (the rule `usage::record` writes) says, summed per
/// (day | month, user, product) and per day, OR-ed into the (month, user) masks of days with use.
#[derive(Default)]
struct Aggregates(crate::usage::Sums);

impl Aggregates {
    fn of(plan: &Plan) -> Aggregates {
        let tokens = |t: i64| Tokens::from_stored(t).expect("planned tokens");
        let mut agg = Aggregates::default();
        for p in &plan.periods {
            let (user, product, at) = (p.user, p.product, p.started_at);
            agg.record(user, product, at, Use::Period(tokens(p.tokens)));
            if p.refunded_at.is_some() {
                agg.record(user, product, at, Use::Refund(tokens(p.tokens)));
            }
        }
        for r in &plan.results {
            let p = &plan.periods[r.period];
            agg.record(p.user, p.product, r.at, Use::Result(tokens(r.tokens)));
        }
        agg
    }

    fn record(&mut self, user: UserId, product: ProductId, at: DateTime<Utc>, what: Use) {
        self.0.add(user, product, &contribution(at, what));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::NaiveDate;
    use jeton_core::{TeamId, TeamName, Tokens};

    use super::{
        SyntheticUsage, TestDb, at_day, load_synthetic_usage, synthetic_plan, synthetic_products,
        with_database,
    };
    use crate::Store;
    use crate::usage::{self, Use};

    type Row6 = (i64, i64, i64, i64, i64, i64);

    async fn rows(store: &Store, sql: &str, team: TeamId) -> Vec<Row6> {
        sqlx::query_as(sql)
            .bind(team.0)
            .fetch_all(store.pool())
            .await
            .expect("aggregate rows")
    }

    /// The bulk loader writes the aggregates that recording the same use one piece at a time
    /// (`usage::record`, as sign-ins, refunds and results do) writes, and they
    /// agree with the periods and results it wrote.
    async fn synthetic_aggregates_match_recording(db: TestDb) {
        let store = db.store().await;
        let spec = SyntheticUsage {
            seed: 7,
            periods: 2_000,
            users: 20,
            products: 10,
            // Across a month, a year and an ISO week-year boundary.
            first_day: NaiveDate::from_ymd_opt(2025, 12, 1).expect("a date"),
            days: 62,
            prefix: "t".into(),
        };
        let start = at_day(spec.first_day);
        let team = |name: &'static str| {
            let store = store.clone();
            async move {
                store
                    .create_team(&TeamName::parse(name).expect("a name"), None, start)
                    .await
                    .expect("team")
                    .id
            }
        };
        let (bulk, recorded) = (team("bulk").await, team("recorded").await);
        let load = load_synthetic_usage(&store, bulk, &spec)
            .await
            .expect("load");
        assert_eq!(load.periods, 2_000);
        assert!(
            load.refunded > 0 && load.results > 0 && load.sessions > 0,
            "{load:?}"
        );

        // The same use through the code path of the server.
        let plan = synthetic_plan(
            &spec,
            &synthetic_products(&spec),
            &load.products,
            &load.users,
        );
        let tokens = |t: i64| Tokens::from_stored(t).expect("tokens");
        let mut w = store.begin_write().await.expect("transaction");
        for p in &plan.periods {
            let (user, product, at) = (p.user, p.product, p.started_at);
            usage::record(
                &mut w.tx,
                recorded,
                user,
                product,
                at,
                Use::Period(tokens(p.tokens)),
            )
            .await
            .expect("record");
            if p.refunded_at.is_some() {
                let refund = Use::Refund(tokens(p.tokens));
                usage::record(&mut w.tx, recorded, user, product, at, refund)
                    .await
                    .expect("refund");
            }
        }
        for r in &plan.results {
            let p = &plan.periods[r.period];
            usage::record(
                &mut w.tx,
                recorded,
                p.user,
                p.product,
                r.at,
                Use::Result(tokens(r.tokens)),
            )
            .await
            .expect("record result");
        }
        w.commit().await.expect("commit");

        let queries = [
            "SELECT day, user_id, product_id, tokens, periods, results FROM usage_days \
             WHERE team_id = $1 ORDER BY day, user_id, product_id",
            "SELECT month, user_id, product_id, tokens, periods, results FROM usage_months \
             WHERE team_id = $1 ORDER BY month, user_id, product_id",
            "SELECT month, user_id, days, CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT) \
             FROM usage_user_months WHERE team_id = $1 ORDER BY month, user_id",
            "SELECT day, CAST(0 AS BIGINT), CAST(0 AS BIGINT), tokens, periods, results \
             FROM usage_team_days WHERE team_id = $1 ORDER BY day",
        ];
        let mut bulk_rows = Vec::new();
        for (sql, count) in queries.iter().zip(load.aggregate_rows) {
            let (a, b) = (
                rows(&store, sql, bulk).await,
                rows(&store, sql, recorded).await,
            );
            assert_eq!(a.len(), count, "{sql}");
            assert_eq!(a, b, "bulk-loaded and recorded aggregates differ: {sql}");
            bulk_rows.push(a);
        }

        // And they count the rows the loader wrote: periods (0 tokens once refunded) and results,
        // by the UTC day they began.
        let mut by_day: BTreeMap<(i64, i64, i64), [i64; 3]> = BTreeMap::new();
        let base = [
            "SELECT started_at / 86400000000, user_id, product_id, \
             CAST(SUM(CASE WHEN refunded_at IS NULL THEN tokens ELSE 0 END) AS BIGINT), \
             CAST(COUNT(*) AS BIGINT), CAST(0 AS BIGINT) FROM usage_periods WHERE team_id = $1 \
             GROUP BY started_at / 86400000000, user_id, product_id",
            "SELECT at / 86400000000, user_id, product_id, CAST(SUM(tokens) AS BIGINT), \
             CAST(0 AS BIGINT), CAST(COUNT(*) AS BIGINT) FROM result_charges WHERE team_id = $1 \
             GROUP BY at / 86400000000, user_id, product_id",
        ];
        for sql in base {
            for (day, user, product, tokens, periods, results) in rows(&store, sql, bulk).await {
                let t = by_day.entry((day, user, product)).or_default();
                t[0] += tokens;
                t[1] += periods;
                t[2] += results;
            }
        }
        let expected: Vec<Row6> = by_day
            .into_iter()
            .map(|((d, u, p), [t, n, r])| (d, u, p, t, n, r))
            .collect();
        assert_eq!(bulk_rows[0], expected);
        let used: BTreeSet<(i64, i64)> = sqlx::query_as::<_, (i64, i64)>(
            "SELECT DISTINCT started_at / 86400000000, user_id FROM usage_periods \
             WHERE team_id = $1",
        )
        .bind(bulk.0)
        .fetch_all(store.pool())
        .await
        .expect("days used")
        .into_iter()
        .collect();
        let user_days: BTreeSet<(i64, i64)> = bulk_rows[2]
            .iter()
            .flat_map(|r| {
                jeton_core::report::days_of_mask(r.0, r.2)
                    .map(move |d| (jeton_core::report::day_key(d), r.1))
            })
            .collect();
        assert_eq!(used, user_days);

        // The reports read them.
        let range = jeton_core::report::DayRange {
            first: spec.first_day,
            last: spec.last_day(),
        };
        let summary = store.usage_summary(&[bulk], &range).await.expect("summary");
        assert_eq!(summary.totals.tokens, load.tokens);
        assert_eq!(summary.totals.periods, 2_000);
        assert_eq!(summary.totals.results, load.results as i64);
        assert_eq!(summary.users, 20);
        store.close().await;
    }

    crate::both_backends! {
        synthetic_aggregates => synthetic_aggregates_match_recording,
    }

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
