//! Sign-ins and sign-outs of one team, run together: the team's batch.
//!
//! Every charge and refund of a team runs under the team's lock (R-SES-9: one charge per period
//! on any number of servers). A step alone holds the lock for about a dozen round trips to the
//! database, so a busy team's requests spend their time queueing for it. Here the requests of a
//! team that arrive while its previous batch runs wait together; the next batch takes them all
//! under one lock: it reads their state in one query (`crate::session_state`), asks the engine
//! for each plan in turn on that state in memory (the packs carried from one to the next), writes
//! every row with one statement per table (`crate::step_writes`) and commits once. Each request
//! is answered only after that commit.
//!
//! A batch holds at most one request per (user, product) and per idempotency key: the others
//! wait for the next batch, so that each plan is made on what was read. A request the rules
//! refuse (no access, not enough tokens) writes nothing and does not hold up the others; a batch
//! that fails as a whole (a database error) is run again one request at a time, so one bad
//! request cannot fail its neighbours. A merged team's refunds go where its packs went
//! (`crate::sessions`): its requests take the step of one request.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, EventKind};
use jeton_core::report::{Use, contribution};
use jeton_core::session::{self, Access, AccessKind, Plan, Refusal};
use jeton_core::{
    DomainError, IdempotencyKey, ProductId, ProductKey, SessionId, TeamId, Tokens, UserId,
};
use tokio::sync::oneshot;

use crate::Store;
use crate::backend::Durable;
use crate::error::{StoreError, StoreResult};
use crate::gauges::BatchCounts;
use crate::idempotency::{self, NewAnswer};
use crate::ledger::{TeamPacks, lock_team};
use crate::session_state::{self, Listing, PairState, ProductRow, Wanted};
use crate::sessions::{Respond, SignInOutcome, SignedIn, current_period};
use crate::step_writes::{NewSessionRow, PeriodRef, Writes};
use crate::time::to_db;

/// Most requests in one batch: bounds the statements' sizes and a batch's time under the lock.
pub(crate) const MAX_BATCH: usize = 64;

pub(crate) struct SignInRequest {
    pub user: UserId,
    /// `None`: no such product (refused after the idempotency key had its say).
    pub product: Option<ProductRow>,
    pub version: Option<String>,
    pub machine: Option<String>,
    pub key: Option<IdempotencyKey>,
    pub fingerprint: String,
    pub scope: String,
    pub respond: Respond,
    pub now: DateTime<Utc>,
}

pub(crate) struct SignOutRequest {
    pub session: SessionId,
    pub user: UserId,
    pub product: ProductRow,
    pub now: DateTime<Utc>,
}

pub(crate) enum Request {
    SignIn(SignInRequest),
    SignOut(SignOutRequest),
}

impl Request {
    fn now(&self) -> DateTime<Utc> {
        match self {
            Request::SignIn(r) => r.now,
            Request::SignOut(r) => r.now,
        }
    }

    /// The (user, product) whose usage the request changes.
    fn pair(&self) -> (UserId, Option<ProductId>) {
        match self {
            Request::SignIn(r) => (r.user, r.product.as_ref().map(|p| p.id)),
            Request::SignOut(r) => (r.user, Some(r.product.id)),
        }
    }

    fn key(&self) -> Option<(&str, &IdempotencyKey)> {
        match self {
            Request::SignIn(r) => r.key.as_ref().map(|k| (r.scope.as_str(), k)),
            Request::SignOut(_) => None,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Answer {
    SignIn(SignInOutcome),
    SignOut(Tokens),
}

struct Member {
    request: Request,
    answer: oneshot::Sender<StoreResult<Answer>>,
}

/// The teams' waiting requests, and how batches ran (`/metrics`).
#[derive(Default)]
pub(crate) struct Batches {
    teams: Mutex<HashMap<TeamId, VecDeque<Member>>>,
    batches: AtomicU64,
    requests: AtomicU64,
    retried_alone: AtomicU64,
}

impl Batches {
    fn lock(&self) -> MutexGuard<'_, HashMap<TeamId, VecDeque<Member>>> {
        // A panic while holding this lock leaves plain queues: still usable.
        self.teams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a request; true when the team had no batch running (the caller starts one).
    fn push(&self, team: TeamId, member: Member) -> bool {
        let mut teams = self.lock();
        match teams.get_mut(&team) {
            Some(waiting) => {
                waiting.push_back(member);
                false
            }
            None => {
                teams.insert(team, VecDeque::from([member]));
                true
            }
        }
    }

    /// The next batch of a team: waiting requests in order, at most one per (user, product) and
    /// per idempotency key. Empty when none wait: the team's runner then stops (the next request
    /// starts another).
    fn take(&self, team: TeamId) -> Vec<Member> {
        let mut teams = self.lock();
        let Some(waiting) = teams.get_mut(&team) else {
            return Vec::new();
        };
        let mut batch: Vec<Member> = Vec::new();
        let mut left = VecDeque::new();
        while let Some(m) = waiting.pop_front() {
            let clash = batch.iter().any(|b| {
                b.request.pair() == m.request.pair()
                    || (m.request.key().is_some() && b.request.key() == m.request.key())
            });
            if clash || batch.len() == MAX_BATCH {
                left.push_back(m);
            } else {
                batch.push(m);
            }
        }
        *waiting = left;
        if batch.is_empty() {
            teams.remove(&team);
        }
        batch
    }

    pub(crate) fn counts(&self) -> BatchCounts {
        BatchCounts {
            batches: self.batches.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retried_alone: self.retried_alone.load(Ordering::Relaxed),
        }
    }

    /// After a runner ended without emptying its queue (it panicked): its waiting requests are
    /// answered with an error rather than left waiting.
    fn abandon(&self, team: TeamId) {
        self.lock().remove(&team);
    }
}

/// Stops a team's runner cleanly however it ends.
struct Running {
    store: Store,
    team: TeamId,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            self.store.batches.abandon(self.team);
        }
    }
}

/// Runs a team's batches until none wait.
async fn run_team(store: Store, team: TeamId) {
    let mut running = Running {
        store: store.clone(),
        team,
        done: false,
    };
    loop {
        let members = store.batches.take(team);
        if members.is_empty() {
            running.done = true;
            return;
        }
        let requests: Vec<&Request> = members.iter().map(|m| &m.request).collect();
        let counts = &store.batches;
        counts.batches.fetch_add(1, Ordering::Relaxed);
        counts
            .requests
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        let (answers, durable) = match store.run_batch(team, &requests).await {
            Ok(done) => done,
            Err(e) if requests.len() == 1 => (vec![Err(e)], Durable::Now),
            Err(e) => {
                counts
                    .retried_alone
                    .fetch_add(requests.len() as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, size = requests.len(), "a team's batch failed; its requests run one at a time");
                let mut answers = Vec::with_capacity(requests.len());
                for r in &requests {
                    let answer = match store.run_batch(team, &[*r]).await {
                        Ok((mut one, durable)) => match durable.wait().await {
                            Ok(()) => one.pop().unwrap_or_else(|| {
                                Err(StoreError::corrupt("a batch of one gave no answer"))
                            }),
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    };
                    answers.push(answer);
                }
                (answers, Durable::Now)
            }
        };
        match durable {
            Durable::Now => send(members, answers, Ok(())),
            // The answers go out once the batch's writes are durable, from a task of their own:
            // on SQLite the team's next batch runs meanwhile, while the WAL is synced (it sees
            // this batch's writes and shares their fate, see `WriteTx::release`).
            later => {
                tokio::spawn(async move {
                    let durable = later.wait().await.map_err(|e| e.to_string());
                    send(members, answers, durable);
                });
            }
        }
    }
}

/// Gives each member its answer, or, when the batch's writes could not be made durable, why.
fn send(members: Vec<Member>, answers: Vec<StoreResult<Answer>>, durable: Result<(), String>) {
    for (member, answer) in members.into_iter().zip(answers) {
        let answer = match &durable {
            Ok(()) => answer,
            Err(e) => Err(StoreError::from(sqlx::Error::Protocol(e.clone()))),
        };
        // The requester may have gone (its client hung up): its answer is dropped.
        let _ = member.answer.send(answer);
    }
}

/// What applying one plan did.
#[derive(Debug, Default)]
struct Applied {
    charged: Tokens,
    refunded: Tokens,
    /// The last period opened, if any.
    opened: Option<PeriodRef>,
}

/// A sign-in planned in the batch, answered once its session has an id.
struct SignedInPending {
    session: usize,
    access: AccessKind,
    charged: Tokens,
    period_ends_at: DateTime<Utc>,
}

enum Outcome {
    Done(StoreResult<Answer>),
    SignedIn(SignedInPending),
}

impl Store {
    /// Runs `request` in its team's next batch and waits for its answer.
    pub(crate) async fn in_team_batch(
        &self,
        team: TeamId,
        request: Request,
    ) -> StoreResult<Answer> {
        let (answer, answered) = oneshot::channel();
        if self.batches.push(team, Member { request, answer }) {
            tokio::spawn(run_team(self.clone(), team));
        }
        answered
            .await
            .map_err(|_| StoreError::corrupt("the team's batch ended without answering"))?
    }

    /// One batch: an answer per request (refusals included), to be given once the writes are
    /// durable, or an error that failed it whole (nothing written).
    async fn run_batch(
        &self,
        team: TeamId,
        requests: &[&Request],
    ) -> StoreResult<(Vec<StoreResult<Answer>>, Durable)> {
        let mut w = self.begin_write().await?;
        let team_row = match lock_team(&mut w.tx, team).await {
            Ok(row) => row,
            Err(StoreError::NotFound { .. }) => {
                let answers = requests
                    .iter()
                    .map(|_| Err(StoreError::not_found("team", team)))
                    .collect();
                return Ok((answers, Durable::Now));
            }
            Err(e) => return Err(e),
        };
        if team_row.merged_into.is_some() {
            drop(w);
            let mut answers = Vec::with_capacity(requests.len());
            for r in requests {
                answers.push(self.step_alone(team, r).await);
            }
            return Ok((answers, Durable::Now));
        }
        let nows = requests.iter().map(|r| r.now());
        let (first, last) = match (nows.clone().min(), nows.max()) {
            (Some(first), Some(last)) => (first, last),
            _ => return Ok((Vec::new(), Durable::Now)),
        };
        // Which pair of the state each request reads; none for an unknown product.
        let mut wanted = Vec::with_capacity(requests.len());
        let mut slot = Vec::with_capacity(requests.len());
        for r in requests {
            let (user, product) = match r {
                Request::SignIn(r) => (r.user, r.product.as_ref()),
                Request::SignOut(r) => (r.user, Some(&r.product)),
            };
            slot.push(product.map(|_| wanted.len()));
            if let Some(product) = product {
                let (key, now) = (r.key(), r.now());
                let sessions = match r {
                    Request::SignIn(_) => Listing::For(None),
                    Request::SignOut(r) => Listing::For(Some(r.session)),
                };
                wanted.push(Wanted {
                    user,
                    product,
                    key,
                    now,
                    sessions,
                });
            }
        }
        // The kept beats are taken before the sessions are read (`beats::Beats::of_group`).
        let kept: Vec<_> = wanted
            .iter()
            .map(|w| self.beats.of_group((team, w.user, w.product.id)))
            .collect();
        let state = session_state::load(&mut w.tx, &team_row, &wanted, first).await?;
        let mut pairs = state.pairs;
        for (pair, kept) in pairs.iter_mut().zip(&kept) {
            for s in &mut pair.usage.sessions {
                kept.overlay(s)?;
            }
        }
        let mut packs = TeamPacks::new(&team_row, state.packs);
        if team_row.closed_at.is_none() {
            packs.expire(&mut w.tx, first).await?;
        }
        let mut writes = Writes::default();
        let mut outcomes = Vec::with_capacity(requests.len());
        for (r, slot) in requests.iter().zip(&slot) {
            let outcome = match (r, slot) {
                (Request::SignIn(r), None) => {
                    let replay = match &r.key {
                        Some(key) => idempotency::recall(&mut w.tx, team, &r.scope, key).await?,
                        None => None,
                    };
                    Outcome::Done(match (replay, &r.key) {
                        (Some(first), Some(key)) => {
                            replayed(idempotency::replay(first, &r.fingerprint, key))
                        }
                        _ => Err(DomainError::Refused {
                            reason: Refusal::UnknownProduct,
                        }
                        .into()),
                    })
                }
                (Request::SignIn(r), Some(k)) => {
                    sign_in(&mut writes, &mut packs, &mut pairs[*k], r)?
                }
                (Request::SignOut(r), Some(k)) => {
                    sign_out(&mut writes, &mut packs, &mut pairs[*k], r)?
                }
                (Request::SignOut(_), None) => {
                    return Err(StoreError::corrupt("a sign-out without its product"));
                }
            };
            outcomes.push(outcome);
        }
        packs.settle(&mut w.tx, last).await?;
        let sessions = writes.flush(&mut w.tx, team).await?;
        let mut answers = Vec::with_capacity(outcomes.len());
        let mut remembered = Vec::new();
        for (r, outcome) in requests.iter().zip(outcomes) {
            let pending = match outcome {
                Outcome::Done(answer) => {
                    answers.push(answer);
                    continue;
                }
                Outcome::SignedIn(pending) => pending,
            };
            let Request::SignIn(r) = r else {
                return Err(StoreError::corrupt("a sign-in answer for another request"));
            };
            let product = r
                .product
                .as_ref()
                .ok_or_else(|| StoreError::corrupt("a sign-in answer without its product"))?;
            let signed_in = SignedIn {
                session: *sessions
                    .get(pending.session)
                    .ok_or_else(|| StoreError::corrupt("a new session was not written"))?,
                team,
                user: r.user,
                product: ProductKey::parse(&product.key)?,
                access: pending.access,
                tokens_charged: pending.charged,
                period_ends_at: pending.period_ends_at,
            };
            if let Some(key) = &r.key {
                remembered.push(NewAnswer {
                    scope: &r.scope,
                    key,
                    fingerprint: &r.fingerprint,
                    response: (r.respond)(&signed_in),
                    at: r.now,
                });
            }
            answers.push(Ok(Answer::SignIn(SignInOutcome::New(signed_in))));
        }
        idempotency::remember_all(&mut w.tx, team, &remembered).await?;
        let durable = w.release().await?;
        Ok((answers, durable))
    }

    /// A request of a merged team, in a step of its own (its refunds may go to another team).
    async fn step_alone(&self, team: TeamId, request: &Request) -> StoreResult<Answer> {
        match request {
            Request::SignIn(r) => self.sign_in_alone(team, r).await.map(Answer::SignIn),
            Request::SignOut(r) => self.sign_out_alone(team, r).await.map(Answer::SignOut),
        }
    }
}

fn replayed(answer: StoreResult<String>) -> StoreResult<Answer> {
    answer.map(|json| Answer::SignIn(SignInOutcome::Replayed(json)))
}

/// R-SES-1/2/9 for one request of the batch (see `Store::sign_in`).
fn sign_in(
    writes: &mut Writes,
    packs: &mut TeamPacks,
    pair: &mut PairState,
    r: &SignInRequest,
) -> StoreResult<Outcome> {
    let product = r
        .product
        .as_ref()
        .ok_or_else(|| StoreError::corrupt("a sign-in's state without its product"))?;
    if let (Some(key), Some(first)) = (&r.key, pair.remembered.take()) {
        return Ok(Outcome::Done(replayed(idempotency::replay(
            first,
            &r.fingerprint,
            key,
        ))));
    }
    let access = match pair.access.clone() {
        Ok(access) => access,
        Err(e) => return Ok(Outcome::Done(Err(e.into()))),
    };
    let (saved_writes, saved_packs) = (writes.clone(), packs.clone());
    let read = pair.usage.period.clone();
    let plan = session::sign_in(&mut pair.usage, access, r.now);
    let actor = Actor::User(r.user);
    let applied = match apply(
        writes, packs, pair, read, product, r.user, &plan, actor, r.now,
    ) {
        Ok(applied) => applied,
        Err(StoreError::Domain(e @ DomainError::InsufficientTokens { .. })) => {
            (*writes, *packs) = (saved_writes, saved_packs);
            return Ok(Outcome::Done(Err(e.into())));
        }
        Err(e) => return Err(e),
    };
    let (period, access, period_ends_at) =
        current_period(&pair.usage, applied.opened, PeriodRef::Stored)?;
    let session = writes.open_session(NewSessionRow {
        user: r.user,
        product: product.id,
        period,
        version: r.version.clone(),
        machine: r.machine.clone(),
        at: to_db(r.now),
    });
    Ok(Outcome::SignedIn(SignedInPending {
        session,
        access,
        charged: applied.charged,
        period_ends_at,
    }))
}

/// R-SES-4 for one request of the batch (see `Store::sign_out`): use since the last heartbeat
/// that crossed into a period that cannot be paid ends the session without it.
fn sign_out(
    writes: &mut Writes,
    packs: &mut TeamPacks,
    pair: &mut PairState,
    r: &SignOutRequest,
) -> StoreResult<Outcome> {
    let read = pair.usage.period.clone();
    for pay_rollover in [true, false] {
        let mut usage = pair.usage.clone();
        let access = match pay_rollover {
            true => pair.access.clone().ok(),
            false => None,
        };
        let Ok(plan) = session::sign_out(&mut usage, r.session, access, r.now) else {
            return Ok(Outcome::Done(Ok(Answer::SignOut(Tokens::ZERO))));
        };
        let (saved_writes, saved_packs) = (writes.clone(), packs.clone());
        let actor = Actor::User(r.user);
        match apply(
            writes,
            packs,
            pair,
            read.clone(),
            &r.product,
            r.user,
            &plan,
            actor,
            r.now,
        ) {
            Ok(applied) => {
                pair.usage = usage;
                return Ok(Outcome::Done(Ok(Answer::SignOut(applied.refunded))));
            }
            Err(StoreError::Domain(DomainError::InsufficientTokens { .. })) if pay_rollover => {
                (*writes, *packs) = (saved_writes, saved_packs);
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::corrupt("sign-out could not be applied"))
}

/// Applies an engine plan to the batch's writes and packs: ends sessions, refunds the period as
/// it was read (`read`, with what its charge drew), opens and charges periods. A charge the
/// packs cannot cover fails with `InsufficientTokens`; the caller then puts back what it saved.
#[allow(clippy::too_many_arguments)]
fn apply(
    writes: &mut Writes,
    packs: &mut TeamPacks,
    pair: &PairState,
    read: Option<session::Period>,
    product: &ProductRow,
    user: UserId,
    plan: &Plan,
    actor: Actor,
    now: DateTime<Utc>,
) -> StoreResult<Applied> {
    let at = to_db(now);
    let mut applied = Applied::default();
    for (session, ended, reason) in &plan.end {
        writes.end_session(*session, to_db(*ended), reason.as_str());
    }
    if let Some(period) = plan.refund {
        let read = read
            .filter(|p| p.id == period)
            .ok_or_else(|| StoreError::corrupt(format!("period {period} is not the latest")))?;
        let mut total = Tokens::ZERO;
        for (pack, tokens) in &pair.drawn {
            let amount = EventKind::Refunded.signed(*tokens, true);
            writes.event(
                *pack,
                EventKind::Refunded,
                amount,
                at,
                actor,
                PeriodRef::Stored(period),
            )?;
            packs.credit(*pack, *tokens);
            total = total
                .checked_add(*tokens)
                .ok_or_else(|| StoreError::corrupt("refund overflows"))?;
        }
        if total != read.tokens {
            return Err(StoreError::corrupt(format!(
                "period {period} charged {} tokens but its ledger shows {total}",
                read.tokens
            )));
        }
        writes.usage(
            user,
            product.id,
            &contribution(read.started_at, Use::Refund(total)),
        );
        writes.refund_period(period, at);
        applied.refunded = total;
    }
    for p in &plan.open {
        // The rate this access pays per period (R-PRI: nothing under a subscription or trial).
        let rate = Access::new(p.access, pair.daily_rate).rate;
        let opened = writes.open_period(user, product.id, p, rate, at);
        writes.usage(
            user,
            product.id,
            &contribution(p.started_at, Use::Period(p.tokens)),
        );
        if !p.tokens.is_zero() {
            for d in packs.draw(p.tokens, now)? {
                let amount = EventKind::Charged.signed(d.tokens, false);
                writes.event(d.pack, EventKind::Charged, amount, at, actor, opened)?;
            }
            applied.charged = applied
                .charged
                .checked_add(p.tokens)
                .ok_or_else(|| StoreError::corrupt("charged tokens overflow"))?;
        }
        applied.opened = Some(opened);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64) -> ProductRow {
        ProductRow {
            id: ProductId(id),
            key: format!("p{id}"),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-01-05T08:00:00Z".parse().unwrap_or_default()
    }

    fn sign_in(user: i64, product_id: i64, key: Option<&str>) -> Request {
        Request::SignIn(SignInRequest {
            user: UserId(user),
            product: Some(product(product_id)),
            version: None,
            machine: None,
            key: key.and_then(|k| IdempotencyKey::parse(k).ok()),
            fingerprint: String::new(),
            scope: format!("sign_in:{user}"),
            respond: std::sync::Arc::new(|_| String::new()),
            now: now(),
        })
    }

    fn sign_out(user: i64, product_id: i64) -> Request {
        Request::SignOut(SignOutRequest {
            session: SessionId(1),
            user: UserId(user),
            product: product(product_id),
            now: now(),
        })
    }

    /// Queues the requests on team 1; the receivers keep the members' channels open.
    fn queue(
        batches: &Batches,
        requests: Vec<Request>,
    ) -> Vec<oneshot::Receiver<StoreResult<Answer>>> {
        requests
            .into_iter()
            .map(|request| {
                let (answer, answered) = oneshot::channel();
                batches.push(TeamId(1), Member { request, answer });
                answered
            })
            .collect()
    }

    fn pairs(batch: &[Member]) -> Vec<(UserId, Option<ProductId>)> {
        batch.iter().map(|m| m.request.pair()).collect()
    }

    #[test]
    fn a_batch_holds_one_request_per_pair_and_per_key_in_order() {
        let batches = Batches::default();
        let _answers = queue(
            &batches,
            vec![
                sign_in(1, 1, Some("a")),
                sign_out(1, 1),
                sign_in(2, 1, None),
                sign_in(1, 2, Some("a")),
                sign_in(3, 1, Some("a")),
            ],
        );
        let first = batches.take(TeamId(1));
        // User 1's second request on product 1 and the reuse of user 1's key "a" wait; user 3's
        // key "a" is another scope.
        assert_eq!(
            pairs(&first),
            [
                (UserId(1), Some(ProductId(1))),
                (UserId(2), Some(ProductId(1))),
                (UserId(3), Some(ProductId(1))),
            ]
        );
        let second = batches.take(TeamId(1));
        assert_eq!(
            pairs(&second),
            [
                (UserId(1), Some(ProductId(1))),
                (UserId(1), Some(ProductId(2)))
            ]
        );
        assert!(batches.take(TeamId(1)).is_empty());
        // The queue is gone: the next request starts a runner.
        assert!(batches.push(
            TeamId(1),
            Member {
                request: sign_out(9, 9),
                answer: oneshot::channel().0,
            }
        ));
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_requests() {
        let batches = Batches::default();
        let _answers = queue(
            &batches,
            (0..MAX_BATCH as i64 + 3).map(|u| sign_out(u, 1)).collect(),
        );
        assert_eq!(batches.take(TeamId(1)).len(), MAX_BATCH);
        assert_eq!(batches.take(TeamId(1)).len(), 3);
    }
}
