//! Property tests of the ledger (R-PACK-1..7) on both backends.
//!
//! Random sequences of purchases, charges, moves, merges, clock jumps and expiry sweeps over three
//! teams run against the store and against a small reference model written here, independently
//! of `jeton_core::pack` (its own expiry date arithmetic, its own consumption order). After every
//! step the store must agree with the model: which operations succeed, which packs pay and how
//! much, balances, the ledger, and global conservation of tokens.
//!
//! One database per backend is shared by all cases; each case works on three fresh teams and
//! first expires whatever earlier cases left, so cases cannot see each other (the expiry sweep is
//! global). Number of cases per backend: `PROPTEST_CASES` (default 24).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind, EventKind};
use jeton_core::limits::MAX_EVENTS_PER_PAGE;
use jeton_core::{DomainError, PackId, TeamId, TeamName, Tokens, UserId};
use jeton_store::events::LedgerEvent;
use jeton_store::testing::TestDb;
use jeton_store::{Store, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sqlx::AnyPool;

const TEAMS: usize = 3;
const DEFAULT_CASES: u32 = 24;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn t(n: u64) -> Tokens {
    Tokens::new(n).unwrap()
}

/// Before every time any case uses.
fn dawn() -> DateTime<Utc> {
    at("2000-01-01T00:00:00Z")
}

/// After every time any case uses (60 jumps of at most 400 days from 2028 end before 2095).
fn far_future() -> DateTime<Utc> {
    at("2200-01-01T00:00:00Z")
}

/// R-PACK-1, computed here without `jeton_core::pack::expiry_for`: the same day and time one
/// year later; 29 February becomes 28 February.
fn one_calendar_year_after(t: DateTime<Utc>) -> DateTime<Utc> {
    let d = t.date_naive();
    let day = NaiveDate::from_ymd_opt(d.year() + 1, d.month(), d.day())
        .or_else(|| NaiveDate::from_ymd_opt(d.year() + 1, d.month(), d.day() - 1))
        .expect("a valid date");
    day.and_time(t.time()).and_utc()
}

#[test]
fn the_reference_model_knows_calendar_years() {
    assert_eq!(
        one_calendar_year_after(at("2028-02-29T10:00:00Z")),
        at("2029-02-28T10:00:00Z")
    );
    assert_eq!(
        one_calendar_year_after(at("2027-03-01T00:00:01Z")),
        at("2028-03-01T00:00:01Z")
    );
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Jump {
    Minutes(i64),
    Days(i64),
    /// To the next instant a pack expires, plus -1, 0 or +1 second: the edges of R-PACK-2.
    ToNextExpiry(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Purchase { team: usize, tokens: u64 },
    Charge { team: usize, amount: u64 },
    Move { from: usize, to: usize, amount: u64 },
    Merge { from: usize, into: usize },
    Advance(Jump),
    Sweep,
}

fn jump() -> impl Strategy<Value = Jump> {
    prop_oneof![
        4 => (1..=720i64).prop_map(Jump::Minutes),
        3 => (1..=45i64).prop_map(Jump::Days),
        1 => (300..=400i64).prop_map(Jump::Days),
        1 => (-1..=1i64).prop_map(Jump::ToNextExpiry),
    ]
}

/// A purchase: 1 to 500 tokens, often one of a few fixed sizes so that equal sizes (and so the
/// later tie-breaks of R-PACK-3) happen.
fn tokens() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 1..=500u64, 1 => Just(10u64), 1 => Just(50u64), 1 => Just(100u64)]
}

/// A charge or move: 1 to 300 tokens, mostly small.
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 1..=60u64, 1 => 1..=300u64]
}

fn op() -> impl Strategy<Value = Op> {
    let team = || 0..TEAMS;
    prop_oneof![
        10 => (team(), tokens()).prop_map(|(team, tokens)| Op::Purchase { team, tokens }),
        12 => (team(), amount()).prop_map(|(team, amount)| Op::Charge { team, amount }),
        // Mostly between two different teams; sometimes a team to itself (refused).
        6 => (team(), prop_oneof![4 => 1..TEAMS, 1 => Just(0)], amount()).prop_map(
            |(from, offset, amount)| Op::Move { from, to: (from + offset) % TEAMS, amount }
        ),
        1 => (team(), team()).prop_map(|(from, into)| Op::Merge { from, into }),
        8 => jump().prop_map(Op::Advance),
        2 => Just(Op::Sweep),
    ]
}

fn case() -> impl Strategy<Value = (i64, Vec<Op>)> {
    // Start somewhere between October 2027 and February 2028 (whole seconds: the store keeps
    // microseconds), so that some cases cross 29 February 2028.
    (0..=150 * 86_400i64, prop::collection::vec(op(), 20..=60))
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct MPack {
    id: PackId,
    team: usize,
    /// Original size: bought, moved in, or (for a merged pack) the source's original size.
    tokens: u64,
    remaining: u64,
    moved_out: u64,
    purchased_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// What was left when it expired, if it expired holding tokens.
    expired: Option<u64>,
}

#[derive(Debug)]
struct Model {
    ids: [TeamId; TEAMS],
    closed: [bool; TEAMS],
    packs: Vec<MPack>,
    purchased: u64,
    charged: u64,
    expired: u64,
    /// Expired in the model since the store last had a reason to write the `expired` events.
    pending_expiries: Vec<(usize, PackId, u64)>,
}

impl Model {
    fn active(&self, team: usize, now: DateTime<Utc>) -> impl Iterator<Item = &MPack> {
        self.packs
            .iter()
            .filter(move |p| p.team == team && now < p.expires_at)
    }

    /// Active packs in consumption order, written out plainly: earliest expiry, then smallest
    /// original size, then oldest purchase, then id.
    fn active_sorted(&self, team: usize, now: DateTime<Utc>) -> Vec<&MPack> {
        let mut packs: Vec<&MPack> = self.active(team, now).collect();
        packs.sort_by_key(|p| (p.expires_at, p.tokens, p.purchased_at, p.id));
        packs
    }

    fn available(&self, team: usize, now: DateTime<Utc>) -> u64 {
        self.active(team, now).map(|p| p.remaining).sum()
    }

    /// Tokens of active packs less what was moved out of them (R-REP-1 `total`).
    fn total(&self, team: usize, now: DateTime<Utc>) -> u64 {
        self.active(team, now).map(|p| p.tokens - p.moved_out).sum()
    }

    /// The draws that pay `amount`, or the available tokens when they do not cover it.
    fn plan(
        &self,
        team: usize,
        amount: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<(PackId, u64)>, u64> {
        let available = self.available(team, now);
        if available < amount {
            return Err(available);
        }
        let mut left = amount;
        let mut draws = Vec::new();
        for p in self.active_sorted(team, now) {
            if left == 0 {
                break;
            }
            if p.remaining == 0 {
                continue;
            }
            let take = p.remaining.min(left);
            draws.push((p.id, take));
            left -= take;
        }
        assert_eq!(left, 0);
        Ok(draws)
    }

    fn pack_mut(&mut self, id: PackId) -> &mut MPack {
        self.packs
            .iter_mut()
            .find(|p| p.id == id)
            .expect("known pack")
    }

    fn pack(&self, id: PackId) -> &MPack {
        self.packs.iter().find(|p| p.id == id).expect("known pack")
    }

    fn debit(&mut self, draws: &[(PackId, u64)], moved: bool) {
        for &(id, n) in draws {
            let p = self.pack_mut(id);
            p.remaining -= n;
            if moved {
                p.moved_out += n;
            }
        }
    }

    /// The clock moved to `now`: packs expired by then lose what they held (R-PACK-2).
    fn advance(&mut self, now: DateTime<Utc>) {
        for p in &mut self.packs {
            if p.expires_at <= now && p.remaining > 0 {
                p.expired = Some(p.remaining);
                self.expired += p.remaining;
                self.pending_expiries.push((p.team, p.id, p.remaining));
                p.remaining = 0;
            }
        }
    }

    fn next_expiry_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.packs
            .iter()
            .filter(|p| p.remaining > 0 && p.expires_at > now)
            .map(|p| p.expires_at)
            .min()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the store
// ---------------------------------------------------------------------------------------------

/// What an operation that fails must leave exactly as it was, per team: (closed, events, their
/// sum, packs, their remaining, a checksum of remaining pack by pack, moves). Read in one query
/// without side effects (`balance` and `events` write due expiries).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot(Vec<TeamSnapshot>);

type TeamSnapshot = (i64, i64, i64, i64, i64, i64, i64, i64);

async fn snapshot(raw: &AnyPool, ids: &[TeamId; TEAMS]) -> Snapshot {
    let rows = sqlx::query_as::<_, TeamSnapshot>(
        "SELECT t.id, \
            CASE WHEN t.closed_at IS NULL THEN 0 ELSE 1 END, \
            (SELECT COUNT(*) FROM ledger_events e WHERE e.team_id = t.id), \
            (SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM ledger_events e WHERE e.team_id = t.id), \
            (SELECT COUNT(*) FROM packs p WHERE p.team_id = t.id), \
            (SELECT CAST(COALESCE(SUM(p.remaining), 0) AS BIGINT) FROM packs p WHERE p.team_id = t.id), \
            (SELECT CAST(COALESCE(SUM(p.remaining * (p.id % 9973 + 1)), 0) AS BIGINT) FROM packs p WHERE p.team_id = t.id), \
            (SELECT COUNT(*) FROM moves v WHERE v.from_team_id = t.id OR v.to_team_id = t.id) \
         FROM teams t WHERE t.id IN ($1, $2, $3) ORDER BY t.id",
    )
    .bind(ids[0].0)
    .bind(ids[1].0)
    .bind(ids[2].0)
    .fetch_all(raw)
    .await
    .unwrap();
    assert_eq!(rows.len(), TEAMS);
    Snapshot(rows)
}

/// Every event of `team` itself (not of teams merged into it).
async fn own_events(store: &Store, team: TeamId, now: DateTime<Utc>) -> Vec<LedgerEvent> {
    let all = store
        .events(team, dawn(), far_future(), MAX_EVENTS_PER_PAGE, now)
        .await
        .unwrap();
    assert!(all.len() < MAX_EVENTS_PER_PAGE, "the listing was cut");
    all.into_iter().filter(|e| e.team == team).collect()
}

fn with_cause<'a>(events: &'a [LedgerEvent], cause: &Cause) -> Vec<&'a LedgerEvent> {
    events.iter().filter(|e| &e.cause == cause).collect()
}

fn domain(err: &StoreError) -> Option<&DomainError> {
    match err {
        StoreError::Domain(d) => Some(d),
        _ => None,
    }
}

/// The checks made after every operation except a clock jump (which must not make the store
/// write anything, so that the next operation finds expiries still to be written).
async fn check_everything(store: &Store, m: &mut Model, now: DateTime<Utc>, ctx: &str) {
    let mut sum_available = 0u64;
    let mut purchased = 0i64;
    let mut charged = 0i64;
    let mut expired_events: BTreeMap<PackId, (usize, i64, DateTime<Utc>)> = BTreeMap::new();
    for i in 0..TEAMS {
        let id = m.ids[i];
        let b = store.balance(id, now).await.unwrap();
        let available = m.available(i, now);
        assert_eq!(
            b.summary.available.get(),
            available,
            "{ctx}: R-PACK-2 available tokens of team {i}"
        );
        sum_available += available;

        // Active packs, in consumption order (R-PACK-3), each as the model has it; no remaining
        // below zero or above the pack's size (R-PACK-4).
        let want: Vec<_> = m
            .active_sorted(i, now)
            .into_iter()
            .map(|p| (p.id, p.tokens, p.remaining, p.purchased_at, p.expires_at))
            .collect();
        let got: Vec<_> = b
            .packs
            .iter()
            .map(|p| {
                (
                    p.id,
                    p.tokens.get(),
                    p.remaining.get(),
                    p.purchased_at,
                    p.expires_at,
                )
            })
            .collect();
        assert_eq!(got, want, "{ctx}: active packs of team {i}");
        assert!(
            b.packs
                .iter()
                .all(|p| p.team_id == id && p.remaining <= p.tokens)
        );
        // R-REP-1 total and used; a merged team keeps neither (R-PACK-7).
        let total = m.total(i, now);
        assert_eq!(
            (b.summary.total.get(), b.summary.used.get()),
            (total, total - available),
            "{ctx}: R-REP-1 total and used of team {i}"
        );
        if m.closed[i] {
            assert_eq!(total, 0, "{ctx}: closed team {i} keeps no total");
        }

        // R-PACK-5: the ledger reconciles with the packs, pack by pack.
        let audit = store.audit_team(id).await.unwrap();
        assert!(
            audit.is_clean(),
            "{ctx}: team {i} does not reconcile: {audit:?}"
        );
        // Nothing expired is left in a pack, so the sum of the events is the balance.
        assert_eq!(
            audit.events_sum, available as i64,
            "{ctx}: R-PACK-5 the sum of team {i}'s events is its balance"
        );
        // And with the history of teams merged into it, still the balance: nothing counted twice.
        let lineage = store
            .events(id, dawn(), far_future(), MAX_EVENTS_PER_PAGE, now)
            .await
            .unwrap();
        assert!(lineage.len() < MAX_EVENTS_PER_PAGE, "the listing was cut");
        assert_eq!(
            lineage.iter().map(|e| e.amount).sum::<i64>(),
            available as i64,
            "{ctx}: R-PACK-7 team {i} with its merged history"
        );

        for e in lineage.iter().filter(|e| e.team == id) {
            match e.kind {
                EventKind::Purchased => purchased += e.amount,
                EventKind::Charged => charged -= e.amount,
                EventKind::Expired => {
                    let dup = expired_events.insert(e.pack, (i, e.amount, e.at));
                    assert!(dup.is_none(), "{ctx}: pack {} expired twice", e.pack);
                }
                _ => {}
            }
        }
    }

    // Every pack that expired holding tokens has exactly one `expired` event, for what it held,
    // at its expiry instant, on the team that held it (R-PACK-2).
    let want_expired: BTreeMap<PackId, (usize, i64, DateTime<Utc>)> = m
        .packs
        .iter()
        .filter_map(|p| {
            p.expired
                .map(|n| (p.id, (p.team, -(n as i64), p.expires_at)))
        })
        .collect();
    assert_eq!(
        expired_events, want_expired,
        "{ctx}: R-PACK-2 expired events"
    );
    let expired: i64 = -expired_events.values().map(|v| v.1).sum::<i64>();

    assert_eq!(purchased, m.purchased as i64, "{ctx}: purchased events");
    assert_eq!(charged, m.charged as i64, "{ctx}: charged events");
    assert_eq!(expired, m.expired as i64, "{ctx}: expired events");
    // Global conservation: moves and merges create and destroy nothing.
    assert_eq!(
        sum_available,
        m.purchased - m.charged - m.expired,
        "{ctx}: conservation (model)"
    );
    assert_eq!(
        sum_available as i64,
        purchased - charged - expired,
        "{ctx}: conservation (ledger)"
    );
    // The store has written every due expiry by now.
    m.pending_expiries.clear();
}

// ---------------------------------------------------------------------------------------------
// One case
// ---------------------------------------------------------------------------------------------

async fn run_case(store: &Store, raw: &AnyPool, start_offset: i64, ops: &[Op]) {
    // Earlier cases (and failed, shrunk ones) may have left tokens; expire them so that the sweep
    // of this case sees only this case's teams.
    store.expire_due(far_future()).await.unwrap();

    let mut now = at("2027-10-01T00:00:00Z") + Duration::seconds(start_offset);
    let mut ids = [TeamId(0); TEAMS];
    for (i, id) in ids.iter_mut().enumerate() {
        *id = store
            .create_team(&TeamName::parse(&format!("P{i}")).unwrap(), None, now)
            .await
            .unwrap()
            .id;
    }
    let mut m = Model {
        ids,
        closed: [false; TEAMS],
        packs: Vec::new(),
        purchased: 0,
        charged: 0,
        expired: 0,
        pending_expiries: Vec::new(),
    };

    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step} {op:?} at {now}");
        let before = snapshot(raw, &m.ids).await;
        // The error the model expects, or None when the operation must succeed.
        let refused: Option<DomainError> = match op {
            Op::Purchase { team, tokens } => {
                let id = m.ids[*team];
                let r = store
                    .purchase(id, t(*tokens), Actor::Operator, now, None)
                    .await;
                if m.closed[*team] {
                    check_refused(r.map(|_| ()), DomainError::TeamClosed { team: id }, &ctx)
                } else {
                    let p = r.unwrap_or_else(|e| panic!("{ctx}: {e:?}")).pack;
                    assert_eq!(
                        (
                            p.team_id,
                            p.tokens,
                            p.remaining,
                            p.purchased_at,
                            p.expires_at
                        ),
                        (
                            id,
                            t(*tokens),
                            t(*tokens),
                            now,
                            one_calendar_year_after(now)
                        ),
                        "{ctx}: R-PACK-1"
                    );
                    let events = own_events(store, id, now).await;
                    let mine = with_cause(&events, &Cause::new(CauseKind::Purchase, p.id));
                    assert_eq!(mine.len(), 1, "{ctx}");
                    assert_eq!(
                        (mine[0].kind, mine[0].pack, mine[0].amount, mine[0].at),
                        (EventKind::Purchased, p.id, *tokens as i64, now),
                        "{ctx}"
                    );
                    m.packs.push(MPack {
                        id: p.id,
                        team: *team,
                        tokens: *tokens,
                        remaining: *tokens,
                        moved_out: 0,
                        purchased_at: now,
                        expires_at: p.expires_at,
                        expired: None,
                    });
                    m.purchased += tokens;
                    None
                }
            }
            Op::Charge { team, amount } => {
                let id = m.ids[*team];
                let cause = Cause::new(CauseKind::Session, format!("step-{step}"));
                let r = store
                    .charge(id, t(*amount), &cause, Actor::User(UserId(1)), now)
                    .await;
                if m.closed[*team] {
                    check_refused(r.map(|_| ()), DomainError::TeamClosed { team: id }, &ctx)
                } else {
                    match m.plan(*team, *amount, now) {
                        Err(available) => check_refused(
                            r.map(|_| ()),
                            DomainError::InsufficientTokens {
                                needed: *amount,
                                available,
                            },
                            &ctx,
                        ),
                        Ok(plan) => {
                            let receipt = r.unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
                            let drawn: Vec<_> = receipt
                                .draws
                                .iter()
                                .map(|d| (d.pack, d.tokens.get()))
                                .collect();
                            assert_eq!(drawn, plan, "{ctx}: R-PACK-3 draws");
                            assert_eq!(receipt.amount, t(*amount), "{ctx}");
                            check_draws_live(&m, *team, &drawn, now, &ctx);
                            // One `charged` event per draw, in order, for the cause.
                            let events = own_events(store, id, now).await;
                            let logged: Vec<_> = with_cause(&events, &cause)
                                .iter()
                                .map(|e| {
                                    assert_eq!((e.kind, e.at), (EventKind::Charged, now), "{ctx}");
                                    (e.pack, (-e.amount) as u64)
                                })
                                .collect();
                            assert_eq!(logged, plan, "{ctx}: charged events");
                            m.debit(&plan, false);
                            m.charged += amount;
                            None
                        }
                    }
                }
            }
            Op::Move { from, to, amount } => {
                let (fid, tid) = (m.ids[*from], m.ids[*to]);
                let r = store
                    .move_tokens(fid, tid, t(*amount), Actor::Operator, now)
                    .await;
                let blocked = if from == to {
                    Some(DomainError::SameTeam)
                } else if m.closed[*from] {
                    Some(DomainError::TeamClosed { team: fid })
                } else if m.closed[*to] {
                    Some(DomainError::TeamClosed { team: tid })
                } else {
                    None
                };
                match blocked {
                    Some(e) => check_refused(r.map(|_| ()), e, &ctx),
                    None => match m.plan(*from, *amount, now) {
                        Err(available) => check_refused(
                            r.map(|_| ()),
                            DomainError::InsufficientTokens {
                                needed: *amount,
                                available,
                            },
                            &ctx,
                        ),
                        Ok(plan) => {
                            let rec = r.unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
                            assert_eq!(
                                (rec.from_team, rec.to_team, rec.tokens, rec.at),
                                (fid, tid, t(*amount), now),
                                "{ctx}"
                            );
                            let drawn: Vec<_> = rec
                                .packs
                                .iter()
                                .map(|p| (p.from_pack, p.tokens.get()))
                                .collect();
                            assert_eq!(drawn, plan, "{ctx}: R-PACK-6 draws in consumption order");
                            check_draws_live(&m, *from, &drawn, now, &ctx);
                            let cause = Cause::new(CauseKind::Move, rec.id.0);
                            let out: Vec<_> =
                                with_cause(&own_events(store, fid, now).await, &cause)
                                    .iter()
                                    .map(|e| (e.kind, e.pack, e.amount))
                                    .collect();
                            let inn: Vec<_> =
                                with_cause(&own_events(store, tid, now).await, &cause)
                                    .iter()
                                    .map(|e| (e.kind, e.pack, e.amount))
                                    .collect();
                            let want_out: Vec<_> = rec
                                .packs
                                .iter()
                                .map(|p| (EventKind::MovedOut, p.from_pack, -(p.tokens.as_i64())))
                                .collect();
                            let want_in: Vec<_> = rec
                                .packs
                                .iter()
                                .map(|p| (EventKind::MovedIn, p.to_pack, p.tokens.as_i64()))
                                .collect();
                            assert_eq!((out, inn), (want_out, want_in), "{ctx}: move events");
                            m.debit(&plan, true);
                            for p in &rec.packs {
                                let source = m.pack(p.from_pack).clone();
                                assert_eq!(
                                    p.expires_at, source.expires_at,
                                    "{ctx}: R-PACK-6 moved tokens keep their expiry"
                                );
                                assert!(
                                    m.packs.iter().all(|q| q.id != p.to_pack),
                                    "{ctx}: a new pack"
                                );
                                m.packs.push(MPack {
                                    id: p.to_pack,
                                    team: *to,
                                    tokens: p.tokens.get(),
                                    remaining: p.tokens.get(),
                                    moved_out: 0,
                                    purchased_at: source.purchased_at,
                                    expires_at: source.expires_at,
                                    expired: None,
                                });
                            }
                            None
                        }
                    },
                }
            }
            Op::Merge { from, into } => {
                let (fid, iid) = (m.ids[*from], m.ids[*into]);
                let r = store.merge_teams(fid, iid, Actor::Operator, now).await;
                let blocked = if from == into {
                    Some(DomainError::SameTeam)
                } else if m.closed[*from] {
                    Some(DomainError::TeamClosed { team: fid })
                } else if m.closed[*into] {
                    Some(DomainError::TeamClosed { team: iid })
                } else {
                    None
                };
                match blocked {
                    Some(e) => check_refused(r.map(|_| ()), e, &ctx),
                    None => {
                        let rec = r.unwrap_or_else(|e| panic!("{ctx}: {e:?}"));
                        // Every active pack moves whole, used-up ones too.
                        let mut want: Vec<_> = m
                            .active(*from, now)
                            .map(|p| (p.id, p.remaining, p.expires_at))
                            .collect();
                        want.sort();
                        let mut got: Vec<_> = rec
                            .packs
                            .iter()
                            .map(|p| (p.from_pack, p.tokens.get(), p.expires_at))
                            .collect();
                        got.sort();
                        assert_eq!(got, want, "{ctx}: R-PACK-7 merged packs");
                        assert_eq!(
                            rec.tokens.get(),
                            want.iter().map(|w| w.1).sum::<u64>(),
                            "{ctx}"
                        );
                        let cause = Cause::new(CauseKind::Merge, fid);
                        let out: Vec<_> = with_cause(&own_events(store, fid, now).await, &cause)
                            .iter()
                            .map(|e| (e.kind, e.pack, e.amount))
                            .collect();
                        let inn: Vec<_> = with_cause(&own_events(store, iid, now).await, &cause)
                            .iter()
                            .map(|e| (e.kind, e.pack, e.amount))
                            .collect();
                        let want_out: Vec<_> = rec
                            .packs
                            .iter()
                            .filter(|p| !p.tokens.is_zero())
                            .map(|p| (EventKind::Merged, p.from_pack, -(p.tokens.as_i64())))
                            .collect();
                        let want_in: Vec<_> = rec
                            .packs
                            .iter()
                            .filter(|p| !p.tokens.is_zero())
                            .map(|p| (EventKind::Merged, p.to_pack, p.tokens.as_i64()))
                            .collect();
                        assert_eq!((out, inn), (want_out, want_in), "{ctx}: merge events");
                        for p in &rec.packs {
                            let source = m.pack(p.from_pack).clone();
                            let left = m.pack_mut(p.from_pack);
                            left.remaining = 0;
                            left.moved_out = left.tokens;
                            m.packs.push(MPack {
                                id: p.to_pack,
                                team: *into,
                                tokens: source.tokens,
                                remaining: source.remaining,
                                moved_out: source.moved_out,
                                purchased_at: source.purchased_at,
                                expires_at: source.expires_at,
                                expired: None,
                            });
                        }
                        m.closed[*from] = true;
                        let closed = store.team(fid).await.unwrap();
                        assert_eq!(
                            (closed.closed_at, closed.merged_into),
                            (Some(now), Some(iid)),
                            "{ctx}: the source is closed"
                        );
                        let lineage = store.team_lineage(iid).await.unwrap();
                        assert!(lineage.contains(&fid), "{ctx}: history moves along");
                        None
                    }
                }
            }
            Op::Sweep => {
                let s = store.expire_due(now).await.unwrap();
                let teams: std::collections::BTreeSet<usize> =
                    m.pending_expiries.iter().map(|e| e.0).collect();
                assert_eq!(
                    (s.teams, s.packs, s.tokens),
                    (
                        teams.len(),
                        m.pending_expiries.len(),
                        m.pending_expiries.iter().map(|e| e.2).sum::<u64>()
                    ),
                    "{ctx}: R-PACK-2 the sweep expires what is due, once"
                );
                None
            }
            Op::Advance(jump) => {
                let target = match jump {
                    Jump::Minutes(n) => now + Duration::minutes(*n),
                    Jump::Days(n) => now + Duration::days(*n),
                    Jump::ToNextExpiry(delta) => m
                        .next_expiry_after(now)
                        .map(|e| e + Duration::seconds(*delta))
                        .filter(|e| *e > now)
                        .unwrap_or(now + Duration::minutes(1)),
                };
                now = target;
                m.advance(now);
                // Nothing is written now: the next operation finds the expiries still due and
                // must write them itself (or the sweep, or a balance read, does).
                continue;
            }
        };
        if let Some(err) = refused {
            assert_eq!(
                snapshot(raw, &m.ids).await,
                before,
                "{ctx}: a refused {} changed something",
                err.code()
            );
        }
        check_everything(store, &mut m, now, &ctx).await;
    }
}

/// The operation must have been refused with exactly `want`.
fn check_refused(r: Result<(), StoreError>, want: DomainError, ctx: &str) -> Option<DomainError> {
    match r {
        Ok(()) => panic!("{ctx}: succeeded, but the model expects {want:?}"),
        Err(e) => {
            assert_eq!(domain(&e), Some(&want), "{ctx}: wrong refusal {e:?}");
            Some(want)
        }
    }
}

/// No draw comes from a pack that is expired at `now` or belongs to another team (R-PACK-2).
fn check_draws_live(
    m: &Model,
    team: usize,
    drawn: &[(PackId, u64)],
    now: DateTime<Utc>,
    ctx: &str,
) {
    for (id, n) in drawn {
        let p = m.pack(*id);
        assert!(*n > 0, "{ctx}: empty draw");
        assert!(
            p.team == team && now < p.expires_at,
            "{ctx}: drew from {p:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Running it on both backends
// ---------------------------------------------------------------------------------------------

fn run_properties(backend: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(async {
        match backend {
            "sqlite" => Some(TestDb::sqlite().await),
            _ => TestDb::postgres().await,
        }
    });
    let Some(db) = db else { return };
    let (store, raw) = rt.block_on(async {
        let store = db.store().await;
        let raw = AnyPool::connect(&db.url).await.unwrap();
        (store, raw)
    });
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        // Only the files of this crate's tests are ours to write; the failing input is printed.
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    });
    let result = runner.run(&case(), |(start, ops)| {
        rt.block_on(run_case(&store, &raw, start, &ops));
        Ok(())
    });
    rt.block_on(async {
        store.close().await;
        raw.close().await;
    });
    drop(db);
    if let Err(e) = result {
        panic!("{backend}: {e}");
    }
}

mod r_pack_ledger_invariants_hold_for_random_sequences {
    #[test]
    fn sqlite() {
        super::run_properties("sqlite");
    }

    #[test]
    fn postgres() {
        super::run_properties("postgres");
    }
}

// ---------------------------------------------------------------------------------------------
// Found while writing the model
// ---------------------------------------------------------------------------------------------

jeton_store::both_backends! {
    r_pack_7_a_merged_team_no_longer_counts_the_packs_it_handed_over => merged_source_summary,
}

/// R-PACK-7 "nothing is lost or double-counted", R-REP-1 balance: after a merge the target's
/// balance shows the merged packs' size and use, used-up packs included (see `Store::merge_teams`);
/// the closed source must not show them as well.
async fn merged_source_summary(db: TestDb) {
    let store = db.store().await;
    let d0 = at("2026-04-01T00:00:00Z");
    let mut teams = Vec::new();
    for name in ["Source", "Target"] {
        teams.push(
            store
                .create_team(&TeamName::parse(name).unwrap(), None, d0)
                .await
                .unwrap()
                .id,
        );
    }
    let (src, dst) = (teams[0], teams[1]);
    store
        .purchase(src, t(100), Actor::Operator, d0, None)
        .await
        .unwrap();
    store
        .purchase(dst, t(40), Actor::Operator, d0, None)
        .await
        .unwrap();
    // A small pack bought at the same time is used first (R-PACK-3) and used up: it moves too,
    // with its use.
    store
        .purchase(src, t(10), Actor::Operator, d0, None)
        .await
        .unwrap();
    store
        .charge(
            src,
            t(35),
            &Cause::new(CauseKind::Session, "s"),
            Actor::User(UserId(1)),
            d0,
        )
        .await
        .unwrap();
    let now = d0 + Duration::days(1);
    let merge = store
        .merge_teams(src, dst, Actor::Operator, now)
        .await
        .unwrap();
    let moved: Vec<u64> = merge.packs.iter().map(|p| p.tokens.get()).collect();
    assert_eq!(
        moved,
        vec![75, 0],
        "both packs moved; the used-up one with nothing left"
    );

    let target = store.balance(dst, now).await.unwrap().summary;
    assert_eq!(
        (target.available, target.total, target.used),
        (t(115), t(150), t(35))
    );
    let source = store.balance(src, now).await.unwrap().summary;
    assert_eq!(source.available, t(0));
    assert_eq!(
        (
            source.total.get() + target.total.get(),
            source.used.get() + target.used.get()
        ),
        (150, 35),
        "150 tokens were bought and 35 used across the two teams; the closed source shows \
         total {} and used {} on top of the target's",
        source.total,
        source.used
    );
}
