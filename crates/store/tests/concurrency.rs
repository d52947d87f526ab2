//! Concurrency on both backends, the way production runs: two independent `Store`s (two server
//! processes) on one database, hundreds of concurrent requests. The PostgreSQL variants are the
//! ones that matter (several `jeton serve` processes); on SQLite the two stores share one file.
//!
//! A refusal may only ever be `insufficient_tokens`: no deadlock, serialization failure,
//! `SQLITE_BUSY` or pool timeout reaches the caller, and afterwards the ledger is exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind};
use jeton_core::rng::Rng;
use jeton_core::{DomainError, TeamId, TeamName, Tokens, UserId};
use jeton_store::testing::TestDb;
use jeton_store::transfers::MoveRecord;
use jeton_store::{Store, StoreError};
use sqlx::AnyPool;
use tokio::sync::Barrier;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn t(n: u64) -> Tokens {
    Tokens::new(n).unwrap()
}

/// The tests of this file each open two pools of up to 16 connections; running them one at a
/// time keeps PostgreSQL's connection limit out of the picture.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `body` on a fresh database of the given backend, on a 4-worker runtime.
fn run<F, Fut>(postgres: bool, body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = if postgres {
            match TestDb::postgres().await {
                Some(db) => db,
                None => return,
            }
        } else {
            TestDb::sqlite().await
        };
        body(db).await
    });
}

macro_rules! both_backends_4_workers {
    ($($name:ident => $body:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::run(false, super::$body)
            }
            #[test]
            fn postgres() {
                super::run(true, super::$body)
            }
        }
    )*};
}

both_backends_4_workers! {
    r_pack_4_5_6_concurrent_charges_and_moves_on_two_servers_stay_exact => charges_and_moves,
    r_pack_4_concurrent_charges_never_overdraw => no_overdraft,
    r_pack_2_concurrent_sweeps_and_reads_expire_each_pack_once => concurrent_expiry,
    r_pack_7_a_merge_under_concurrent_charges_and_moves_loses_nothing => merge_under_load,
    r_pack_5_an_audit_taken_while_charges_run_reconciles => audit_under_load,
}

/// A deterministic generator, so that a failing run can be repeated with the seed it prints
/// (`JETON_TEST_SEED`).
fn rng_from_env() -> Rng {
    let seed = std::env::var("JETON_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_micros() as u64);
    println!("JETON_TEST_SEED={seed}");
    Rng::new(seed)
}

/// Uniform in `lo..=hi`.
fn range(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.below(hi - lo + 1)
}

async fn new_team(store: &Store, name: &str, now: DateTime<Utc>) -> TeamId {
    store
        .create_team(&TeamName::parse(name).unwrap(), None, now)
        .await
        .unwrap()
        .id
}

fn insufficient(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Domain(DomainError::InsufficientTokens { .. })
    )
}

#[derive(Debug, Clone)]
enum Op {
    Charge {
        id: String,
        team: usize,
        amount: u64,
    },
    Move {
        from: usize,
        to: usize,
        amount: u64,
    },
}

#[derive(Debug)]
enum Outcome {
    Charge {
        id: String,
        team: usize,
        amount: u64,
        accepted: bool,
    },
    Move {
        from: usize,
        to: usize,
        amount: u64,
        record: Option<MoveRecord>,
    },
}

/// (cause reference, team) → sum of that cause's events of `kind`, over the given teams.
async fn sums_by_cause(
    raw: &AnyPool,
    kind: &str,
    teams: &[TeamId],
) -> BTreeMap<(String, i64), i64> {
    let rows = sqlx::query_as::<_, (Option<String>, i64, i64)>(
        "SELECT cause_ref, team_id, CAST(SUM(amount) AS BIGINT) FROM ledger_events \
         WHERE kind = $1 AND team_id IN ($2, $3, $4) GROUP BY cause_ref, team_id",
    )
    .bind(kind)
    .bind(teams[0].0)
    .bind(teams[1 % teams.len()].0)
    .bind(teams[2 % teams.len()].0)
    .fetch_all(raw)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(r, team, sum)| ((r.expect("a cause reference"), team), sum))
        .collect()
}

const TASKS: usize = 400;
const PACKS_PER_TEAM: u64 = 4;

async fn charges_and_moves(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let raw = AnyPool::connect(&db.url).await.unwrap();
    // Fewer tokens on SQLite, where every write of both "processes" is serialised.
    let per_pack: u64 = match db.backend {
        jeton_store::Backend::Postgres => 5_000,
        jeton_store::Backend::Sqlite => 1_500,
    };
    let d0 = at("2026-03-01T08:00:00Z");
    let mut teams = Vec::new();
    for i in 0..3 {
        let team = new_team(&a, &format!("C{i}"), d0).await;
        for p in 0..PACKS_PER_TEAM {
            let store = if p % 2 == 0 { &a } else { &b };
            store
                .purchase(
                    team,
                    t(per_pack),
                    Actor::Operator,
                    d0 + Duration::hours(p as i64),
                    None,
                )
                .await
                .unwrap();
        }
        teams.push(team);
    }
    let supply = 3 * PACKS_PER_TEAM * per_pack;

    // Charges asking for 10 % more than exists, so that some are refused; a move for every three
    // charges, between random teams in both directions (lock order matters).
    let mut rng = rng_from_env();
    let mut ops: Vec<Vec<Op>> = vec![Vec::new(); TASKS];
    let mut demand = 0;
    let mut n = 0usize;
    while demand < supply + supply / 10 {
        let op = if range(&mut rng, 0, 3) == 0 {
            let from = range(&mut rng, 0, 2) as usize;
            let to = (from + range(&mut rng, 1, 2) as usize) % 3;
            Op::Move {
                from,
                to,
                amount: range(&mut rng, 1, 300),
            }
        } else {
            let amount = range(&mut rng, 1, 50);
            demand += amount;
            Op::Charge {
                id: format!("c{n}"),
                team: range(&mut rng, 0, 2) as usize,
                amount,
            }
        };
        ops[n % TASKS].push(op);
        n += 1;
    }

    let now = d0 + Duration::days(1);
    let teams = Arc::new(teams);
    let barrier = Arc::new(Barrier::new(TASKS));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (i, my_ops) in ops.into_iter().enumerate() {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let teams = teams.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut outcomes = Vec::new();
            let mut errors = Vec::new();
            for op in my_ops {
                match op {
                    Op::Charge { id, team, amount } => {
                        let cause = Cause::new(CauseKind::Session, &id);
                        let r = store
                            .charge(
                                teams[team],
                                t(amount),
                                &cause,
                                Actor::User(UserId(i as i64)),
                                now,
                            )
                            .await;
                        let accepted = match r {
                            Ok(receipt) => {
                                let drawn: u64 = receipt.draws.iter().map(|d| d.tokens.get()).sum();
                                assert_eq!(drawn, amount, "the draws pay the charge");
                                true
                            }
                            Err(e) if insufficient(&e) => false,
                            Err(e) => {
                                errors.push(format!("charge {id}: {e:?}"));
                                false
                            }
                        };
                        outcomes.push(Outcome::Charge {
                            id,
                            team,
                            amount,
                            accepted,
                        });
                    }
                    Op::Move { from, to, amount } => {
                        let r = store
                            .move_tokens(teams[from], teams[to], t(amount), Actor::Operator, now)
                            .await;
                        let record = match r {
                            Ok(rec) => Some(rec),
                            Err(e) if insufficient(&e) => None,
                            Err(e) => {
                                errors.push(format!("move {from}->{to} of {amount}: {e:?}"));
                                None
                            }
                        };
                        outcomes.push(Outcome::Move {
                            from,
                            to,
                            amount,
                            record,
                        });
                    }
                }
            }
            (outcomes, errors)
        }));
    }
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (o, e) = task.await.unwrap();
        outcomes.extend(o);
        errors.extend(e);
    }
    let elapsed = started.elapsed();
    assert!(
        errors.is_empty(),
        "{} operations failed with something other than insufficient_tokens, e.g. {:#?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );

    // What the callers were told, per team.
    let mut charged = [0u64; 3];
    let mut moved_out = [0u64; 3];
    let mut moved_in = [0u64; 3];
    let (mut accepted, mut refused, mut moves_ok, mut moves_refused) = (0, 0, 0, 0);
    for o in &outcomes {
        match o {
            Outcome::Charge {
                team,
                amount,
                accepted: true,
                ..
            } => {
                charged[*team] += amount;
                accepted += 1;
            }
            Outcome::Charge { .. } => refused += 1,
            Outcome::Move {
                from,
                to,
                amount,
                record: Some(rec),
            } => {
                assert_eq!(rec.tokens, t(*amount));
                assert_eq!(
                    rec.packs.iter().map(|p| p.tokens.get()).sum::<u64>(),
                    *amount,
                    "a move is all or nothing"
                );
                moved_out[*from] += amount;
                moved_in[*to] += amount;
                moves_ok += 1;
            }
            Outcome::Move { .. } => moves_refused += 1,
        }
    }
    println!(
        "{}: {} operations in {elapsed:?}: {accepted} charges accepted, {refused} refused; \
         {moves_ok} moves done, {moves_refused} refused",
        db.backend.name(),
        outcomes.len()
    );
    assert!(
        refused > 0,
        "demand exceeds supply, so some charges are refused"
    );
    assert!(accepted > 0 && moves_ok > 0);

    // Every accepted charge is in the ledger for exactly its amount, on its team; no refused one is.
    let charged_events = sums_by_cause(&raw, "charged", &teams).await;
    let mut expected = BTreeMap::new();
    for o in &outcomes {
        if let Outcome::Charge {
            id,
            team,
            amount,
            accepted: true,
        } = o
        {
            expected.insert((id.clone(), teams[*team].0), -(*amount as i64));
        }
    }
    assert_eq!(
        charged_events.len(),
        expected.len(),
        "one cause per accepted charge, and none for refused ones"
    );
    assert_eq!(charged_events, expected, "charged events by cause");

    // Every done move is in the ledger on both sides for exactly its amount; refused ones left
    // no trace (not even a row in `moves`).
    let out_events = sums_by_cause(&raw, "moved_out", &teams).await;
    let in_events = sums_by_cause(&raw, "moved_in", &teams).await;
    let (mut want_out, mut want_in) = (BTreeMap::new(), BTreeMap::new());
    for o in &outcomes {
        if let Outcome::Move {
            from,
            to,
            amount,
            record: Some(rec),
        } = o
        {
            want_out.insert((rec.id.to_string(), teams[*from].0), -(*amount as i64));
            want_in.insert((rec.id.to_string(), teams[*to].0), *amount as i64);
        }
    }
    assert_eq!(out_events, want_out, "moved_out events by move");
    assert_eq!(in_events, want_in, "moved_in events by move");
    let move_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moves")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(move_rows, moves_ok as i64, "refused moves left no row");

    // Balances: exact per team, conserved overall, never negative.
    let mut total_available = 0;
    for (i, team) in teams.iter().enumerate() {
        let audit = a.audit_team(*team).await.unwrap();
        assert!(audit.is_clean(), "team {i} does not reconcile: {audit:?}");
        let available = b.balance(*team, now).await.unwrap().summary.available.get();
        assert_eq!(
            available as i64,
            (PACKS_PER_TEAM * per_pack + moved_in[i]) as i64 - (charged[i] + moved_out[i]) as i64,
            "team {i}: purchased - charged - moved out + moved in"
        );
        assert_eq!(audit.events_sum, available as i64);
        total_available += available;
    }
    assert_eq!(
        total_available,
        supply - charged.iter().sum::<u64>(),
        "moves conserve tokens"
    );
    let min_remaining: i64 = sqlx::query_scalar("SELECT CAST(MIN(remaining) AS BIGINT) FROM packs")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert!(min_remaining >= 0);
    raw.close().await;
}

async fn no_overdraft(db: TestDb) {
    const CHARGES: usize = 200;
    const FITS: usize = 37;
    let a = db.store().await;
    let b = db.store().await;
    let d0 = at("2026-05-01T00:00:00Z");
    let team = new_team(&a, "Tight", d0).await;
    // 259 = 7 × 37 tokens in three packs, so that some charges span two packs.
    for (i, n) in [100u64, 100, 59].into_iter().enumerate() {
        a.purchase(
            team,
            t(n),
            Actor::Operator,
            d0 + Duration::minutes(i as i64),
            None,
        )
        .await
        .unwrap();
    }
    let now = d0 + Duration::hours(1);
    let barrier = Arc::new(Barrier::new(CHARGES));
    let mut tasks = Vec::new();
    for i in 0..CHARGES {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let cause = Cause::new(CauseKind::Session, format!("s{i}"));
            store
                .charge(team, t(7), &cause, Actor::User(UserId(i as i64)), now)
                .await
                .map(|receipt| (i, receipt))
        }));
    }
    let mut accepted = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok((i, receipt)) => {
                assert_eq!(receipt.draws.iter().map(|d| d.tokens.get()).sum::<u64>(), 7);
                accepted.push(i);
            }
            Err(e) => assert!(insufficient(&e), "only insufficient_tokens, got {e:?}"),
        }
    }
    assert_eq!(accepted.len(), FITS, "exactly 259 / 7 charges fit");
    let balance = b.balance(team, now).await.unwrap();
    assert_eq!(balance.summary.available, t(0));
    assert!(balance.packs.iter().all(|p| p.remaining.is_zero()));
    let audit = a.audit_team(team).await.unwrap();
    assert!(audit.is_clean(), "{audit:?}");
    assert_eq!(audit.events_sum, 0);
    let events = a
        .events(team, d0, now + Duration::seconds(1), 10_000, now)
        .await
        .unwrap();
    let mut by_cause: BTreeMap<String, i64> = BTreeMap::new();
    for e in events.iter().filter(|e| e.cause.kind == CauseKind::Session) {
        *by_cause.entry(e.cause.to_string()).or_default() += e.amount;
    }
    let want: BTreeMap<String, i64> = accepted
        .iter()
        .map(|i| (format!("session:s{i}"), -7))
        .collect();
    assert_eq!(
        by_cause, want,
        "each accepted charge took 7, refused ones nothing"
    );
}

/// `audit_team` must not report a ledger that does not reconcile just because charges commit
/// while it reads (the server logs such an audit as an error and answers `balanced: false`).
async fn audit_under_load(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let d0 = at("2026-07-01T00:00:00Z");
    let team = new_team(&a, "Busy", d0).await;
    a.purchase(team, t(100_000), Actor::Operator, d0, None)
        .await
        .unwrap();
    let now = d0 + Duration::hours(1);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut chargers = Vec::new();
    for w in 0..4 {
        let store = a.clone();
        let stop = stop.clone();
        chargers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let cause = Cause::new(CauseKind::Session, format!("w{w}-{n}"));
                store
                    .charge(team, t(1), &cause, Actor::User(UserId(w)), now)
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut dirty = Vec::new();
    let audits = 200;
    for _ in 0..audits {
        let audit = b.audit_team(team).await.unwrap();
        if !audit.is_clean() {
            dirty.push(audit);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut charges = 0;
    for c in chargers {
        charges += c.await.unwrap();
    }
    println!(
        "{}: {audits} audits during {charges} charges",
        db.backend.name()
    );
    assert!(b.audit_team(team).await.unwrap().is_clean());
    assert!(
        dirty.is_empty(),
        "{} of {audits} audits taken while charges committed did not reconcile, e.g. {:?}",
        dirty.len(),
        dirty[0]
    );
}

async fn concurrent_expiry(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let d0 = at("2026-01-15T12:00:00Z");
    // Per team: two packs that expire together, one that lives on.
    let mut teams = Vec::new();
    for i in 0..4 {
        let team = new_team(&a, &format!("E{i}"), d0).await;
        a.purchase(team, t(40), Actor::Operator, d0, None)
            .await
            .unwrap();
        a.purchase(team, t(60), Actor::Operator, d0, None)
            .await
            .unwrap();
        a.purchase(team, t(500), Actor::Operator, d0 + Duration::days(30), None)
            .await
            .unwrap();
        teams.push(team);
    }
    let first_expiry = d0 + Duration::days(365);
    // Everything at the instant the first packs expire: they are already expired then.
    let now = first_expiry;
    let barrier = Arc::new(Barrier::new(80));
    let mut tasks = Vec::new();
    for i in 0..80usize {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let team = teams[i % teams.len()];
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            match i % 4 {
                0 => {
                    store.expire_due(now).await.unwrap();
                }
                1 => {
                    let b = store.balance(team, now).await.unwrap();
                    assert!(
                        b.summary.available.get() <= 500,
                        "expired tokens are not available"
                    );
                }
                2 => {
                    store
                        .charge(
                            team,
                            t(3),
                            &Cause::new(CauseKind::Session, format!("x{i}")),
                            Actor::User(UserId(1)),
                            now,
                        )
                        .await
                        .unwrap();
                }
                _ => {
                    store
                        .events(team, d0, now + Duration::days(1), 1000, now)
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for team in &teams {
        let events = a
            .events(*team, d0, now + Duration::days(1), 1000, now)
            .await
            .unwrap();
        let expired: Vec<_> = events
            .iter()
            .filter(|e| e.kind == jeton_core::EventKind::Expired)
            .map(|e| (e.amount, e.at))
            .collect();
        let mut expired_sorted = expired.clone();
        expired_sorted.sort();
        assert_eq!(
            expired_sorted,
            vec![(-60, first_expiry), (-40, first_expiry)],
            "each expired pack has exactly one expired event, for all it held"
        );
        let audit = b.audit_team(*team).await.unwrap();
        assert!(audit.is_clean(), "{audit:?}");
        let available = a.balance(*team, now).await.unwrap().summary.available.get();
        let charged = events
            .iter()
            .filter(|e| e.kind == jeton_core::EventKind::Charged)
            .map(|e| -e.amount)
            .sum::<i64>();
        assert_eq!(available as i64, 500 - charged, "only the live pack paid");
    }
}

async fn merge_under_load(db: TestDb) {
    let a = db.store().await;
    let b = db.store().await;
    let d0 = at("2026-09-01T00:00:00Z");
    let src = new_team(&a, "Source", d0).await;
    let dst = new_team(&a, "Target", d0).await;
    let third = new_team(&a, "Third", d0).await;
    for team in [src, dst, third] {
        for h in 0..3 {
            a.purchase(
                team,
                t(2_000),
                Actor::Operator,
                d0 + Duration::hours(h),
                None,
            )
            .await
            .unwrap();
        }
    }
    let now = d0 + Duration::days(2);
    const TASKS: usize = 120;
    let barrier = Arc::new(Barrier::new(TASKS + 1));
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        let teams = [src, dst, third];
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut charged = [0i64; 3];
            let mut errors = Vec::new();
            for k in 0..5usize {
                let team = (i + k) % 3;
                let r = if (i + k) % 4 == 0 {
                    let to = (team + 1 + k % 2) % 3;
                    store
                        .move_tokens(teams[team], teams[to], t(25), Actor::Operator, now)
                        .await
                        .map(|_| ())
                } else {
                    let cause = Cause::new(CauseKind::Session, format!("m{i}-{k}"));
                    store
                        .charge(teams[team], t(10), &cause, Actor::User(UserId(1)), now)
                        .await
                        .map(|_| charged[team] += 10)
                };
                match r {
                    Ok(()) => {}
                    Err(StoreError::Domain(DomainError::TeamClosed { team: closed })) => {
                        assert_eq!(closed, teams[0], "only the source closes");
                    }
                    Err(e) => errors.push(format!("{e:?}")),
                }
            }
            (charged, errors)
        }));
    }
    barrier.wait().await;
    // The merge lands in the middle of the traffic, from the other "process".
    let merged = b.merge_teams(src, dst, Actor::Operator, now).await.unwrap();
    let mut charged = [0i64; 3];
    for task in tasks {
        let (c, errors) = task.await.unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        for i in 0..3 {
            charged[i] += c[i];
        }
    }
    assert_eq!(
        a.balance(src, now).await.unwrap().summary.available,
        t(0),
        "the source keeps nothing"
    );
    let mut available = 0;
    for team in [src, dst, third] {
        let audit = a.audit_team(team).await.unwrap();
        assert!(audit.is_clean(), "{audit:?}");
        available += b.balance(team, now).await.unwrap().summary.available.get() as i64;
    }
    assert_eq!(
        available,
        3 * 6_000 - charged.iter().sum::<i64>(),
        "nothing lost or counted twice; merged {} tokens",
        merged.tokens
    );
    let closed = a.team(src).await.unwrap();
    assert_eq!(closed.merged_into, Some(dst));
}
