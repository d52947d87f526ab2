//! How fast the store takes charges, one charge per transaction, as the server does.
//!
//!     cargo bench -p jeton-store --bench charges --features testing
//!
//! SQLite always (a fresh file in a temporary directory); PostgreSQL when
//! `JETON_BENCH_DATABASE_URL` or `JETON_TEST_DATABASE_URL` names a server (a fresh database is
//! created next to the one named, and dropped afterwards). `JETON_BENCH_CHARGES` sets the number
//! of charges per run (default 100 000).
//!
//! Two runs per backend: sequential (one task, one team: latency of a single charge) and
//! concurrent (8 tasks on 8 teams: throughput when teams do not contend). Prints figures; the only
//! assertions are about exactness: every team's ledger reconciles and holds exactly what was
//! bought less what was charged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind};
use jeton_core::{TeamId, TeamName, Tokens, UserId};
use jeton_store::Store;
use jeton_store::testing::{DATABASE_URL_VAR, TestDb};

const BENCH_URL_VAR: &str = "JETON_BENCH_DATABASE_URL";
const COUNT_VAR: &str = "JETON_BENCH_CHARGES";
const AMOUNT: u64 = 3;
const PACKS_PER_TEAM: u64 = 4;
const CONCURRENT_TEAMS: usize = 8;

fn main() {
    let charges: usize = match std::env::var(COUNT_VAR) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{COUNT_VAR} must be a whole number, got {v:?}")),
        Err(_) => 100_000,
    };
    assert!(charges >= CONCURRENT_TEAMS, "{COUNT_VAR} is too small");
    if let Ok(url) = std::env::var(BENCH_URL_VAR) {
        // SAFETY: no other thread exists yet (the runtime is built below).
        #[allow(unsafe_code, reason = "set before any thread of the bench starts")]
        unsafe {
            std::env::set_var(DATABASE_URL_VAR, url)
        };
    }
    // `cargo bench` passes `--bench`; nothing else is understood.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "{charges} charges of {AMOUNT} tokens per run, one charge per transaction ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    rt.block_on(async {
        let sqlite = TestDb::sqlite().await;
        run_backend(&sqlite, charges).await;
        drop(sqlite);
        if std::env::var(DATABASE_URL_VAR).is_err() {
            println!(
                "postgres: skipped (set {BENCH_URL_VAR} or {DATABASE_URL_VAR} to a PostgreSQL URL)"
            );
            return;
        }
        if let Some(pg) = TestDb::postgres().await {
            run_backend(&pg, charges).await;
        }
    });
}

async fn run_backend(db: &TestDb, charges: usize) {
    let store = db.store().await;
    let name = db.backend.name();

    let team = funded_team(&store, "bench sequential", charges).await;
    let now = start() + chrono::Duration::days(1);
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(charges);
    for i in 0..charges {
        let cause = Cause::new(CauseKind::Session, i);
        let t0 = Instant::now();
        store
            .charge(team, tokens(AMOUNT), &cause, Actor::User(UserId(1)), now)
            .await
            .expect("charge");
        latencies.push(t0.elapsed());
    }
    report(
        name,
        "sequential, 1 task, 1 team",
        started.elapsed(),
        latencies,
    );
    check_exact(&store, team, charges, now).await;

    let per_team = charges / CONCURRENT_TEAMS;
    let mut teams = Vec::new();
    for i in 0..CONCURRENT_TEAMS {
        teams.push(funded_team(&store, &format!("bench concurrent {i}"), per_team).await);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(CONCURRENT_TEAMS));
    for (w, team) in teams.iter().copied().enumerate() {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut latencies = Vec::with_capacity(per_team);
            for i in 0..per_team {
                let cause = Cause::new(CauseKind::Session, format!("{w}-{i}"));
                let t0 = Instant::now();
                store
                    .charge(
                        team,
                        tokens(AMOUNT),
                        &cause,
                        Actor::User(UserId(w as i64)),
                        now,
                    )
                    .await
                    .expect("charge");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(per_team * CONCURRENT_TEAMS);
    for task in tasks {
        latencies.extend(task.await.expect("charging task"));
    }
    report(
        name,
        &format!("concurrent, {CONCURRENT_TEAMS} tasks, {CONCURRENT_TEAMS} teams"),
        started.elapsed(),
        latencies,
    );
    for team in teams {
        check_exact(&store, team, per_team, now).await;
    }
    store.close().await;
}

fn start() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().expect("a time")
}

fn tokens(n: u64) -> Tokens {
    Tokens::new(n).expect("a token count")
}

/// Tokens bought per pack so that `charges` charges fit in `PACKS_PER_TEAM` packs (and so cross
/// from one pack to the next a few times).
fn per_pack(charges: usize) -> u64 {
    (charges as u64 * AMOUNT).div_ceil(PACKS_PER_TEAM)
}

async fn funded_team(store: &Store, name: &str, charges: usize) -> TeamId {
    let team = store
        .create_team(&TeamName::parse(name).expect("a name"), None, start())
        .await
        .expect("create team")
        .id;
    for p in 0..PACKS_PER_TEAM {
        store
            .purchase(
                team,
                tokens(per_pack(charges)),
                Actor::Operator,
                start() + chrono::Duration::hours(p as i64),
                None,
            )
            .await
            .expect("purchase");
    }
    team
}

/// Exactness, not speed: the ledger reconciles and holds what was bought less what was charged.
async fn check_exact(store: &Store, team: TeamId, charges: usize, now: DateTime<Utc>) {
    let audit = store.audit_team(team).await.expect("audit");
    assert!(audit.is_clean(), "ledger does not reconcile: {audit:?}");
    let available = store
        .balance(team, now)
        .await
        .expect("balance")
        .summary
        .available
        .get();
    assert_eq!(
        available,
        PACKS_PER_TEAM * per_pack(charges) - charges as u64 * AMOUNT
    );
    assert_eq!(audit.events_sum, available as i64);
}

fn report(backend: &str, what: &str, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let n = latencies.len();
    let mean = latencies.iter().sum::<Duration>() / n as u32;
    let pct = |p: f64| latencies[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
    println!(
        "{backend:<8} {what}: {n} charges in {:.2} s = {:.0} charges/s; latency per charge: \
         mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        ms(mean),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(latencies[n - 1]),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
