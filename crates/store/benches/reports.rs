//! How fast the usage reports (R-REP-3) answer on a year of a large team's use.
//!
//!     cargo bench -p jeton-store --bench reports --features testing
//!     bench/reports.sh        (the same, with PostgreSQL when it answers on 127.0.0.1)
//!
//! SQLite always (a fresh file in a temporary directory); PostgreSQL when
//! `JETON_BENCH_DATABASE_URL` or `JETON_TEST_DATABASE_URL` names a server (a fresh database is
//! created next to the one named, and dropped afterwards).
//!
//! Each backend gets one team with 2,000 people using 40 products over 2025
//! (`jeton_store::testing::load_synthetic_usage`): `JETON_BENCH_PERIODS` usage periods (default
//! 1,000,000) and their report aggregates, as recording them one by one would have left them.
//! Then `usage_summary`, `usage_by_product`, `usage_by_user` and `usage_by_day` are timed for the
//! past 12 months on 2026-01-01 (the whole loaded year, read from the monthly aggregates) and for
//! the past 30 days on 2025-12-20 (read from the daily ones), with the first page of the export:
//! one warm-up, then `JETON_BENCH_RUNS` runs (default 5); min / median / max are printed.
//! The goal is under 200 ms each. Assertions are about correctness only, never speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use jeton_core::TeamName;
use jeton_core::report::{resolve, week_key};
use jeton_store::reports::Totals;
use jeton_store::testing::{
    DATABASE_URL_VAR, SyntheticLoad, SyntheticUsage, TestDb, load_synthetic_usage,
};

const BENCH_URL_VAR: &str = "JETON_BENCH_DATABASE_URL";
const PERIODS_VAR: &str = "JETON_BENCH_PERIODS";
const RUNS_VAR: &str = "JETON_BENCH_RUNS";
const GOAL_MS: f64 = 200.0;

fn env_number(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{var} must be a whole number, got {v:?}")),
        Err(_) => default,
    }
}

fn main() {
    let periods = env_number(PERIODS_VAR, 1_000_000);
    let runs = env_number(RUNS_VAR, 5).max(1);
    if let Ok(url) = std::env::var(BENCH_URL_VAR) {
        // SAFETY: no other thread exists yet (the runtime is built below).
        #[allow(unsafe_code, reason = "set before any thread of the bench starts")]
        unsafe {
            std::env::set_var(DATABASE_URL_VAR, url)
        };
    }
    let spec = SyntheticUsage::year(periods);
    println!(
        "{} usage periods of {} people on {} products from {} to {}; \
         {runs} timed runs after a warm-up ({} build)",
        spec.periods,
        spec.users,
        spec.products,
        spec.first_day,
        spec.last_day(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    // `cargo bench` passes `--bench`; nothing else is understood.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let sqlite = TestDb::sqlite().await;
        run_backend(&sqlite, &spec, runs).await;
        drop(sqlite);
        if std::env::var(DATABASE_URL_VAR).is_err() {
            println!(
                "postgres: skipped (set {BENCH_URL_VAR} or {DATABASE_URL_VAR} to a PostgreSQL URL)"
            );
            return;
        }
        if let Some(pg) = TestDb::postgres().await {
            run_backend(&pg, &spec, runs).await;
        }
    });
}

async fn run_backend(db: &TestDb, spec: &SyntheticUsage, runs: usize) {
    let store = db.store().await;
    let name = db.backend.name();
    let first_day = spec.first_day;
    let team = store
        .create_team(
            &TeamName::parse("Synthetic").expect("a name"),
            None,
            at(first_day),
        )
        .await
        .expect("create team")
        .id;
    let started = Instant::now();
    let load = load_synthetic_usage(&store, team, spec)
        .await
        .expect("load synthetic usage");
    let [days, months, user_months, team_days] = load.aggregate_rows;
    println!(
        "{name:<8} loaded in {:.1} s: {} periods ({} refunded), {} results in {} sessions, \
         {} tokens; aggregates: {days} usage_days, {months} usage_months, \
         {user_months} usage_user_months, {team_days} usage_team_days rows{}",
        started.elapsed().as_secs_f64(),
        load.periods,
        load.refunded,
        load.results,
        load.sessions,
        load.tokens,
        if name == "postgres" {
            "; then VACUUM (ANALYZE)"
        } else {
            ""
        },
    );
    let teams = store.team_lineage(team).await.expect("lineage");

    let year = resolve(
        "past_12_months",
        None,
        None,
        spec.last_day() + chrono::Duration::days(1),
    )
    .expect("a range");
    let days30 = resolve(
        "past_30_days",
        None,
        None,
        spec.last_day() - chrono::Duration::days(11),
    )
    .expect("a range");
    for (label, range) in [("past_12_months", year), ("past_30_days", days30)] {
        println!("{name:<8} {label} ({} to {}):", range.first, range.last);
        let summary = time(
            name,
            "usage_summary",
            runs,
            || store.usage_summary(&teams, &range),
            |_| 1,
        )
        .await;
        let products = time(
            name,
            "usage_by_product",
            runs,
            || store.usage_by_product(&teams, &range),
            Vec::len,
        )
        .await;
        let users = time(
            name,
            "usage_by_user",
            runs,
            || store.usage_by_user(&teams, &range),
            Vec::len,
        )
        .await;
        let by_day = time(
            name,
            "usage_by_day",
            runs,
            || store.usage_by_day(&teams, &range),
            Vec::len,
        )
        .await;
        let page = time(
            name,
            "usage_rows (page 1)",
            runs,
            || store.usage_rows(&teams, &range, jeton_store::reports::FIRST_PAGE),
            Vec::len,
        )
        .await;

        // Correctness, not speed: every breakdown adds up to the summary.
        assert_eq!(
            add_up(products.iter().map(|p| p.totals)),
            summary.totals,
            "by product"
        );
        assert_eq!(
            add_up(users.iter().map(|u| u.totals)),
            summary.totals,
            "by user"
        );
        assert_eq!(
            add_up(by_day.iter().map(|d| d.totals)),
            summary.totals,
            "by day"
        );
        assert_eq!(products.len() as i64, summary.products);
        assert_eq!(users.len() as i64, summary.users);
        assert_eq!(by_day.len() as i64, range.days());
        assert!(products.iter().all(|p| p.users <= summary.users));
        let weeks = week_key(range.first)..=week_key(range.last);
        for u in &users {
            let days: i64 = u.weeks.values().sum();
            assert!(days <= range.days(), "days used by {}: {days}", u.user);
            assert!(u.weeks.keys().all(|w| weeks.contains(w)), "{:?}", u.weeks);
        }
        assert!(page.len() as i64 <= jeton_store::reports::EXPORT_PAGE);
        if label == "past_12_months" {
            whole_load(
                &load,
                &summary.totals,
                summary.users,
                summary.products,
                spec,
            );
        }
    }
    store.close().await;
}

/// The past 12 months cover the whole loaded year: the summary is everything loaded.
fn whole_load(
    load: &SyntheticLoad,
    totals: &Totals,
    users: i64,
    products: i64,
    spec: &SyntheticUsage,
) {
    assert_eq!(totals.periods, load.periods as i64);
    assert_eq!(totals.results, load.results as i64);
    assert_eq!(totals.tokens, load.tokens);
    assert!(users <= spec.users as i64);
    assert!(products <= spec.products as i64);
}

/// One warm-up call, then `runs` timed calls; prints min / median / max and the row count.
async fn time<T, E, F, Fut>(
    backend: &str,
    what: &str,
    runs: usize,
    mut call: F,
    count: impl Fn(&T) -> usize,
) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut answer = call().await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        answer = call().await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        times.push(t0.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{backend:<8}   {what:<20} {:>6} rows   \
         min {:>8.1} ms   median {:>8.1} ms   max {:>8.1} ms{}",
        count(&answer),
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1]),
        if ms(median) > GOAL_MS {
            "   (over 200 ms)"
        } else {
            ""
        },
    );
    answer
}

fn at(d: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn add_up(totals: impl Iterator<Item = Totals>) -> Totals {
    totals.fold(Totals::default(), |a, t| Totals {
        tokens: a.tokens + t.tokens,
        periods: a.periods + t.periods,
        results: a.results + t.results,
    })
}
