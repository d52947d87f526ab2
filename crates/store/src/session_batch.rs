//! Sign-ins and sign-outs, run together: the store's batches.
//!
//! Every charge and refund of a team runs under the team's lock (R-SES-9: one charge per period
//! on any number of servers). A step alone holds the lock for about a dozen round trips to the
//! database, and most of a step's work in the database is the same for one request or many
//! (starting the plan of the state query, of each insert, the commit). So the requests that
//! arrive while a batch runs wait together, whichever team they are for; the next batch takes
//! them all: it locks their teams in id order (the order every change of several teams keeps),
//! reads every team's state in one query (`crate::session_state`), asks the engine for each plan
//! in turn on that state in memory (each team's packs carried from one request to the next),
//! writes every row with one statement per table (`crate::step_writes`) and commits once. Each
//! request is answered only after that commit. The load of a thousand teams with one request each
//! is then batched as well as one team's thousand requests.
//!
//! At most [`most_runners`] batches run at once, on teams apart: a team's requests wait for the batch
//! that holds the team, so that two batches of one process never queue on one lock. A batch holds
//! at most one request per (team, user, product) and per idempotency key: the others wait for the
//! next batch, so that each plan is made on what was read. A request the rules refuse (no access,
//! not enough tokens) writes nothing and does not hold up the others; a batch that fails as a
//! whole (a database error) is run again one request at a time, so one bad request cannot fail
//! its neighbours. A merged team's refunds go where its packs went (`crate::sessions`): its
//! requests take the step of one request.

use std::collections::{HashSet, VecDeque};
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
use crate::step_writes::{self, NewSessionRow, PeriodRef, Writes};
use crate::team_rows::TeamRow;
use crate::time::to_db;

/// Most requests in one batch: bounds the statements' sizes and a batch's time under the locks.
pub(crate) const MAX_BATCH: usize = 64;

/// Most batches one process runs at once: on SQLite two, one on the write connection and one
/// waiting for it with its requests taken, to start the moment the first releases it; on
/// PostgreSQL three, so that batches run their round trips while others wait for theirs. More
/// would split the waiting requests into smaller batches, each paying the fixed part of a batch
/// again (measured in docs/performance.md: with 4 teams of 4 workers, two runners left PostgreSQL
/// charging 10 % slower than one batch per team, three matched it).
pub(crate) fn most_runners(backend: crate::Backend) -> usize {
    match backend {
        crate::Backend::Sqlite => 2,
        crate::Backend::Postgres => 3,
    }
}

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
    team: TeamId,
    request: Request,
    answer: oneshot::Sender<StoreResult<Answer>>,
}

impl Member {
    /// Whether the two may not be in one batch: the same (team, user, product), or the same
    /// idempotency key on the same team.
    fn clashes_with(&self, other: &Member) -> bool {
        self.team == other.team
            && (self.request.pair() == other.request.pair()
                || (self.request.key().is_some() && self.request.key() == other.request.key()))
    }
}

/// The waiting requests, in the order they came, and the teams the running batches hold.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Member>,
    held: HashSet<TeamId>,
    /// Runners started and not stopped.
    runners: usize,
    /// Runners that hold a batch (the others are about to take one, or to stop).
    busy: usize,
}

/// The store's waiting requests, and how batches ran (`/metrics`).
pub(crate) struct Batches {
    /// Most runners at once ([`most_runners`]).
    most: usize,
    queue: Mutex<Queue>,
    batches: AtomicU64,
    requests: AtomicU64,
    retried_alone: AtomicU64,
}

impl Batches {
    pub(crate) fn new(most: usize) -> Batches {
        assert!(most > 0, "a store runs at least one batch at a time");
        Batches {
            most,
            queue: Mutex::default(),
            batches: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retried_alone: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves a plain queue: still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a request; true when the caller is to start a runner: fewer than the most run,
    /// every one holds a batch (one about to take will take this request too) and none holds
    /// the request's team (that one takes it next).
    fn push(&self, member: Member) -> bool {
        let mut queue = self.lock();
        let start = queue.runners < self.most
            && queue.runners == queue.busy
            && !queue.held.contains(&member.team);
        queue.waiting.push_back(member);
        if start {
            queue.runners += 1;
        }
        start
    }

    /// A runner's next batch, once its last batch (which held `done`) ended: waiting requests in
    /// order, of teams no other batch holds, at most one per (team, user, product) and per
    /// idempotency key. While runners are free the teams are shared out: this batch takes the
    /// first of them, and the second return value asks the caller to start a runner for the
    /// rest, so that batches of different teams run side by side. Empty when there is nothing
    /// to take: the runner then stops (the next request that finds fewer runners starts one).
    fn take(&self, done: &[TeamId]) -> (Vec<Member>, bool) {
        let mut queue = self.lock();
        if !done.is_empty() {
            queue.busy -= 1;
        }
        for team in done {
            queue.held.remove(team);
        }
        // The runners that hold no batch, this one included, or could start.
        let free = self.most - queue.busy;
        let Queue { waiting, held, .. } = &mut *queue;
        // The teams no batch holds, in the order their first requests came; this batch's share
        // is the first of them. (Sets: thousands of teams may wait at once.)
        let mut open: Vec<TeamId> = Vec::new();
        let mut seen: HashSet<TeamId> = HashSet::new();
        for m in waiting.iter() {
            if !held.contains(&m.team) && seen.insert(m.team) {
                open.push(m.team);
            }
        }
        let share = open.len().div_ceil(free.max(1));
        let mine: HashSet<TeamId> = open.into_iter().take(share).collect();
        let mut batch: Vec<Member> = Vec::new();
        let mut left = VecDeque::with_capacity(waiting.len());
        while let Some(m) = waiting.pop_front() {
            if batch.len() == MAX_BATCH
                || !mine.contains(&m.team)
                || batch.iter().any(|b| b.clashes_with(&m))
            {
                left.push_back(m);
            } else {
                batch.push(m);
            }
        }
        *waiting = left;
        for m in &batch {
            held.insert(m.team);
        }
        let more = waiting.iter().any(|m| !held.contains(&m.team));
        if batch.is_empty() {
            queue.runners -= 1;
            return (batch, false);
        }
        queue.busy += 1;
        let start = more && queue.runners < self.most;
        if start {
            queue.runners += 1;
        }
        (batch, start)
    }

    pub(crate) fn counts(&self) -> BatchCounts {
        BatchCounts {
            batches: self.batches.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retried_alone: self.retried_alone.load(Ordering::Relaxed),
        }
    }

    /// After a runner ended without finishing (it panicked): the requests waiting for its teams
    /// are answered with an error rather than left waiting (they may be what made it panic), its
    /// teams are free again; true when others still wait for a runner.
    fn abandon(&self, teams: &[TeamId]) -> bool {
        let mut queue = self.lock();
        if !teams.is_empty() {
            queue.busy -= 1;
        }
        for team in teams {
            queue.held.remove(team);
        }
        queue.waiting.retain(|m| !teams.contains(&m.team));
        queue.runners -= 1;
        let start = queue.runners < self.most && !queue.waiting.is_empty();
        if start {
            queue.runners += 1;
        }
        start
    }
}

/// Stops a runner cleanly however it ends.
struct Running {
    store: Store,
    /// The teams its current batch holds.
    teams: Vec<TeamId>,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done && self.store.batches.abandon(&self.teams) {
            start_runner(self.store.clone());
        }
    }
}

/// Starts a runner (a function of its own: a runner starts others).
fn start_runner(store: Store) {
    tokio::spawn(run_batches(store));
}

/// Runs batches until none can be taken.
async fn run_batches(store: Store) {
    let mut running = Running {
        store: store.clone(),
        teams: Vec::new(),
        done: false,
    };
    loop {
        let (members, another) = store.batches.take(&running.teams);
        if members.is_empty() {
            running.done = true;
            return;
        }
        if another {
            start_runner(store.clone());
        }
        running.teams = members.iter().map(|m| m.team).collect();
        running.teams.sort_unstable();
        running.teams.dedup();
        let requests: Vec<(TeamId, &Request)> =
            members.iter().map(|m| (m.team, &m.request)).collect();
        let counts = &store.batches;
        counts.batches.fetch_add(1, Ordering::Relaxed);
        counts
            .requests
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        let (answers, durable) = match store.run_batch(&requests).await {
            Ok(done) => done,
            Err(e) if requests.len() == 1 => (vec![Err(e)], Durable::Now),
            Err(e) => {
                counts
                    .retried_alone
                    .fetch_add(requests.len() as u64, Ordering::Relaxed);
                tracing::warn!(error = %e, size = requests.len(), "a batch failed; its requests run one at a time");
                let mut answers = Vec::with_capacity(requests.len());
                for r in &requests {
                    let answer = match store.run_batch(&[*r]).await {
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
            // on SQLite the next batch runs meanwhile, while the WAL is synced (it sees this
            // batch's writes and shares their fate, see `WriteTx::release`).
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
    /// Its index among its team's new sessions.
    session: usize,
    access: AccessKind,
    charged: Tokens,
    period_ends_at: DateTime<Utc>,
}

enum Outcome {
    Done(StoreResult<Answer>),
    SignedIn(SignedInPending),
}

/// One team of a batch, locked: its requests (indexes into the batch) and the earliest and
/// latest of their times, the pairs they read, and what its plans write.
struct TeamPart<'a> {
    row: TeamRow,
    members: Vec<usize>,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    wanted: Vec<Wanted<'a>>,
    writes: Writes,
}

/// Every request's answer, once the batch gave each one.
fn answered(answers: Vec<Option<StoreResult<Answer>>>) -> Vec<StoreResult<Answer>> {
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(StoreError::corrupt("a request left unanswered"))))
        .collect()
}

impl Store {
    /// Runs `request` on `team` in the store's next batch and waits for its answer.
    pub(crate) async fn in_team_batch(
        &self,
        team: TeamId,
        request: Request,
    ) -> StoreResult<Answer> {
        let (answer, answered) = oneshot::channel();
        if self.batches.push(Member {
            team,
            request,
            answer,
        }) {
            start_runner(self.clone());
        }
        answered
            .await
            .map_err(|_| StoreError::corrupt("the batch ended without answering"))?
    }

    /// One batch: an answer per request (refusals included), in order, to be given once the
    /// writes are durable, or an error that failed it whole (nothing written).
    async fn run_batch(
        &self,
        requests: &[(TeamId, &Request)],
    ) -> StoreResult<(Vec<StoreResult<Answer>>, Durable)> {
        let mut answers: Vec<Option<StoreResult<Answer>>> = requests.iter().map(|_| None).collect();
        let mut teams: Vec<TeamId> = requests.iter().map(|(team, _)| *team).collect();
        teams.sort_unstable();
        teams.dedup();
        // Teams locked in id order. A merged team's requests each take a step of their own,
        // outside this transaction: the batch starts again without them (merges are rare).
        let (mut w, mut parts) = 'locked: loop {
            let mut w = self.begin_write().await?;
            let mut parts = Vec::with_capacity(teams.len());
            for team in teams.clone() {
                let row = match lock_team(&mut w.tx, team).await {
                    Ok(row) => row,
                    Err(StoreError::NotFound { .. }) => {
                        for (k, (t, _)) in requests.iter().enumerate() {
                            if *t == team {
                                answers[k] = Some(Err(StoreError::not_found("team", team)));
                            }
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if row.merged_into.is_some() {
                    drop(w);
                    for (k, (t, r)) in requests.iter().enumerate() {
                        if *t == team {
                            answers[k] = Some(self.step_alone(team, r).await);
                        }
                    }
                    teams.retain(|t| *t != team);
                    continue 'locked;
                }
                let members: Vec<usize> = (0..requests.len())
                    .filter(|&k| requests[k].0 == team)
                    .collect();
                let nows = members.iter().map(|&k| requests[k].1.now());
                let (Some(first), Some(last)) = (nows.clone().min(), nows.max()) else {
                    return Err(StoreError::corrupt("a team of a batch without requests"));
                };
                parts.push(TeamPart {
                    row,
                    members,
                    first,
                    last,
                    wanted: Vec::new(),
                    writes: Writes::default(),
                });
            }
            break (w, parts);
        };
        let Some(first) = parts.iter().map(|p| p.first).min() else {
            return Ok((answered(answers), Durable::Now));
        };
        // Which team and which of its pairs each request reads; no pair for an unknown product.
        let mut slot: Vec<Option<(usize, Option<usize>)>> = requests.iter().map(|_| None).collect();
        for (i, part) in parts.iter_mut().enumerate() {
            for &k in &part.members {
                let r = requests[k].1;
                let (user, product) = match r {
                    Request::SignIn(r) => (r.user, r.product.as_ref()),
                    Request::SignOut(r) => (r.user, Some(&r.product)),
                };
                slot[k] = Some((i, product.map(|_| part.wanted.len())));
                if let Some(product) = product {
                    let sessions = match r {
                        Request::SignIn(_) => Listing::For(None),
                        Request::SignOut(r) => Listing::For(Some(r.session)),
                    };
                    part.wanted.push(Wanted {
                        user,
                        product,
                        key: r.key(),
                        now: r.now(),
                        sessions,
                    });
                }
            }
        }
        // The kept beats are taken before the sessions are read (`beats::Beats::of_group`).
        let kept: Vec<Vec<_>> = parts
            .iter()
            .map(|part| {
                part.wanted
                    .iter()
                    .map(|w| self.beats.of_group((part.row.id, w.user, w.product.id)))
                    .collect()
            })
            .collect();
        let read: Vec<_> = parts.iter().map(|p| (&p.row, &p.wanted[..])).collect();
        let states = session_state::load_teams(&mut w.tx, &read, first).await?;
        let mut pairs = Vec::with_capacity(parts.len());
        let mut packs = Vec::with_capacity(parts.len());
        for ((part, state), kept) in parts.iter().zip(states).zip(&kept) {
            let mut team_pairs = state.pairs;
            for (pair, kept) in team_pairs.iter_mut().zip(kept) {
                for s in &mut pair.usage.sessions {
                    kept.overlay(s)?;
                }
            }
            let mut team_packs = TeamPacks::new(&part.row, state.packs);
            if part.row.closed_at.is_none() {
                team_packs.expire(&mut w.tx, part.first).await?;
            }
            pairs.push(team_pairs);
            packs.push(team_packs);
        }
        // The plans, in the order the requests came.
        let mut outcomes: Vec<Option<Outcome>> = requests.iter().map(|_| None).collect();
        for (k, (team, r)) in requests.iter().enumerate() {
            let Some((i, pair)) = slot[k] else {
                continue;
            };
            let (writes, packs, pairs) = (&mut parts[i].writes, &mut packs[i], &mut pairs[i]);
            let outcome = match (r, pair) {
                (Request::SignIn(r), None) => {
                    let replay = match &r.key {
                        Some(key) => idempotency::recall(&mut w.tx, *team, &r.scope, key).await?,
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
                (Request::SignIn(r), Some(p)) => sign_in(writes, packs, &mut pairs[p], r)?,
                (Request::SignOut(r), Some(p)) => sign_out(writes, packs, &mut pairs[p], r)?,
                (Request::SignOut(_), None) => {
                    return Err(StoreError::corrupt("a sign-out without its product"));
                }
            };
            outcomes[k] = Some(outcome);
        }
        for (part, packs) in parts.iter().zip(&mut packs) {
            packs.settle(&mut w.tx, part.last).await?;
        }
        let written: Vec<(TeamId, &Writes)> = parts.iter().map(|p| (p.row.id, &p.writes)).collect();
        let sessions = step_writes::flush(&mut w.tx, &written).await?;
        let mut remembered: Vec<Vec<NewAnswer<'_>>> = parts.iter().map(|_| Vec::new()).collect();
        for (k, ((team, r), outcome)) in requests.iter().zip(outcomes).enumerate() {
            if answers[k].is_some() {
                continue;
            }
            let (i, pending) = match (slot[k], outcome) {
                (_, Some(Outcome::Done(answer))) => {
                    answers[k] = Some(answer);
                    continue;
                }
                (Some((i, _)), Some(Outcome::SignedIn(pending))) => (i, pending),
                _ => {
                    return Err(StoreError::corrupt(
                        "a request of the batch was not planned",
                    ));
                }
            };
            let Request::SignIn(r) = r else {
                return Err(StoreError::corrupt("a sign-in answer for another request"));
            };
            let product = r
                .product
                .as_ref()
                .ok_or_else(|| StoreError::corrupt("a sign-in answer without its product"))?;
            let signed_in = SignedIn {
                session: *sessions[i]
                    .get(pending.session)
                    .ok_or_else(|| StoreError::corrupt("a new session was not written"))?,
                team: *team,
                user: r.user,
                product: ProductKey::parse(&product.key)?,
                access: pending.access,
                tokens_charged: pending.charged,
                period_ends_at: pending.period_ends_at,
            };
            if let Some(key) = &r.key {
                remembered[i].push(NewAnswer {
                    scope: &r.scope,
                    key,
                    fingerprint: &r.fingerprint,
                    response: (r.respond)(&signed_in),
                    at: r.now,
                });
            }
            answers[k] = Some(Ok(Answer::SignIn(SignInOutcome::New(signed_in))));
        }
        for (part, remembered) in parts.iter().zip(&remembered) {
            idempotency::remember_all(&mut w.tx, part.row.id, remembered).await?;
        }
        let durable = w.release().await?;
        Ok((answered(answers), durable))
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

    /// Queues the requests, each on its team; the receivers keep the members' channels open.
    /// Returns whether each push was to start a runner.
    fn queue(
        batches: &Batches,
        requests: Vec<(i64, Request)>,
    ) -> (Vec<bool>, Vec<oneshot::Receiver<StoreResult<Answer>>>) {
        requests
            .into_iter()
            .map(|(team, request)| {
                let (answer, answered) = oneshot::channel();
                let start = batches.push(Member {
                    team: TeamId(team),
                    request,
                    answer,
                });
                (start, answered)
            })
            .unzip()
    }

    fn pairs(batch: &[Member]) -> Vec<(i64, UserId, Option<ProductId>)> {
        batch
            .iter()
            .map(|m| (m.team.0, m.request.pair().0, m.request.pair().1))
            .collect()
    }

    /// The members of a runner's next batch (see [`Batches::take`]).
    fn take(batches: &Batches, done: &[i64]) -> Vec<(i64, UserId, Option<ProductId>)> {
        let done: Vec<TeamId> = done.iter().copied().map(TeamId).collect();
        pairs(&batches.take(&done).0)
    }

    fn at(team: i64, user: i64) -> (i64, UserId, Option<ProductId>) {
        (team, UserId(user), Some(ProductId(1)))
    }

    #[test]
    fn a_batch_holds_one_request_per_pair_and_per_key_of_a_team_in_order() {
        let batches = Batches::new(2);
        let (started, _answers) = queue(
            &batches,
            vec![
                (1, sign_in(1, 1, Some("a"))),
                (1, sign_out(1, 1)),
                (1, sign_in(2, 1, None)),
                (1, sign_in(1, 2, Some("a"))),
                (1, sign_in(3, 1, Some("a"))),
            ],
        );
        assert_eq!(started, [true, false, false, false, false]);
        // User 1's second request on product 1 and the reuse of user 1's key "a" wait; user 3's
        // key "a" is another scope.
        assert_eq!(take(&batches, &[]), [at(1, 1), at(1, 2), at(1, 3)]);
        assert_eq!(
            take(&batches, &[1]),
            [at(1, 1), (1, UserId(1), Some(ProductId(2)))]
        );
        assert!(take(&batches, &[1]).is_empty());
    }

    #[test]
    fn the_same_pair_and_key_on_two_teams_are_two_pairs() {
        let batches = Batches::new(2);
        let (_, _answers) = queue(&batches, vec![(1, sign_out(7, 1))]);
        assert_eq!(take(&batches, &[]), [at(1, 7)]);
        // The only runner is busy: team 2's request starts the second, which takes both teams.
        let (started, _more) = queue(
            &batches,
            vec![(2, sign_in(1, 1, Some("a"))), (3, sign_in(1, 1, Some("a")))],
        );
        assert_eq!(started, [true, false]);
        assert_eq!(take(&batches, &[]), [at(2, 1), at(3, 1)]);
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_requests() {
        let batches = Batches::new(2);
        let (_, _answers) = queue(
            &batches,
            (0..MAX_BATCH as i64 + 3)
                .map(|u| (1, sign_out(u, 1)))
                .collect(),
        );
        assert_eq!(take(&batches, &[]).len(), MAX_BATCH);
        assert_eq!(take(&batches, &[1]).len(), 3);
    }

    /// Two runners at most, never on one team at once: a team's requests wait for the batch that
    /// holds the team; a runner with teams to spare starts another; a runner stops when nothing
    /// is left for it.
    #[test]
    fn runners_share_out_the_teams_and_stop_when_nothing_is_left() {
        let batches = Batches::new(2);
        // The first request starts a runner; it takes team 1.
        let (started, _a) = queue(&batches, vec![(1, sign_out(1, 1))]);
        assert_eq!(started, [true]);
        assert_eq!(take(&batches, &[]), [at(1, 1)]);
        // Team 1 is held: its next request starts no runner; team 2's starts the second; team
        // 3's finds both started.
        let (started, _b) = queue(
            &batches,
            vec![
                (1, sign_out(2, 1)),
                (2, sign_out(3, 1)),
                (3, sign_out(4, 1)),
            ],
        );
        assert_eq!(started, [false, true, false]);
        // The second runner, the only one free, takes what no batch holds: teams 2 and 3.
        assert_eq!(take(&batches, &[]), [at(2, 3), at(3, 4)]);
        // The first runner's batch ends: team 1's request is its next.
        assert_eq!(take(&batches, &[1]), [at(1, 2)]);
        // Both find nothing more and stop; the next request starts a runner again.
        assert!(take(&batches, &[2, 3]).is_empty());
        assert!(take(&batches, &[1]).is_empty());
        let idle = {
            let queue = batches.lock();
            (queue.runners, queue.busy)
        };
        assert_eq!(idle, (0, 0));
        let (started, _c) = queue(
            &batches,
            vec![
                (4, sign_out(5, 1)),
                (4, sign_out(6, 1)),
                (5, sign_out(7, 1)),
                (6, sign_out(8, 1)),
            ],
        );
        // One runner started, and about to take: it takes every one of them in.
        assert_eq!(started, [true, false, false, false]);
        // Two runners free: the first takes half of the teams and asks for a runner...
        let (mine, another) = batches.take(&[]);
        assert_eq!(pairs(&mine), [at(4, 5), at(4, 6), at(5, 7)]);
        assert!(another, "the teams left need a runner");
        // ...which takes the rest.
        assert_eq!(take(&batches, &[]), [at(6, 8)]);
        // With both busy, one that ends takes all it may, starting none.
        let (_, _d) = queue(&batches, vec![(7, sign_out(9, 1)), (8, sign_out(10, 1))]);
        let (mine, another) = batches.take(&[TeamId(6)]);
        assert_eq!(pairs(&mine), [at(7, 9), at(8, 10)]);
        assert!(!another);
    }

    /// A runner that panicked frees its teams and drops the requests waiting for them; the
    /// others still get a runner.
    #[test]
    fn an_abandoned_runner_frees_its_teams() {
        let batches = Batches::new(2);
        let (_, mut answers) = queue(&batches, vec![(1, sign_out(1, 1))]);
        assert_eq!(take(&batches, &[]).len(), 1);
        let (started, more) = queue(&batches, vec![(1, sign_out(2, 1)), (2, sign_out(3, 1))]);
        answers.extend(more);
        assert_eq!(started, [false, true]);
        // The second runner takes team 2 and finishes; team 1's runner panics.
        assert_eq!(take(&batches, &[]).len(), 1);
        assert!(!batches.abandon(&[TeamId(1)]));
        // Team 1's waiting request was answered (its channel closed), not left waiting.
        assert!(matches!(
            answers[1].try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(take(&batches, &[2]).is_empty());
        let queue = batches.lock();
        assert_eq!((queue.runners, queue.busy), (0, 0));
        assert!(queue.held.is_empty());
    }
}

#[cfg(test)]
mod across_teams {
    //! One batch of requests for several teams, on both backends: each team's charge is its own,
    //! a merged team's request takes its own step, and an unknown team's is refused alone.

    use jeton_core::ledger::Actor;
    use jeton_core::{DomainError, TeamName, Tokens};

    use super::*;
    use crate::both_backends;
    use crate::testing::{TestDb, cad_and_a_person};

    both_backends! {
        a_batch_of_several_teams_charges_each_team_its_own => several_teams,
    }

    fn t(n: u64) -> Tokens {
        Tokens::new(n).expect("tokens")
    }

    fn sign_in(user: i64, product: i64, now: DateTime<Utc>) -> Request {
        Request::SignIn(SignInRequest {
            user: UserId(user),
            product: Some(ProductRow {
                id: ProductId(product),
                key: "cad".into(),
            }),
            version: None,
            machine: None,
            key: None,
            fingerprint: String::new(),
            scope: format!("sign_in:{user}"),
            respond: std::sync::Arc::new(|_| String::new()),
            now,
        })
    }

    async fn several_teams(db: TestDb) {
        let store = db.store().await;
        let start: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().expect("a time");
        let at = to_db(start);
        let mut teams = Vec::new();
        for name in ["North", "South", "Merged"] {
            let team = store
                .create_team(&TeamName::parse(name).expect("a name"), None, start)
                .await
                .expect("team")
                .id;
            store
                .purchase(team, t(100), Actor::Operator, start, None)
                .await
                .expect("a pack");
            teams.push(team);
        }
        let (north, south, merged) = (teams[0], teams[1], teams[2]);
        // One person on every team: the same (user, product) is a pair of each team.
        let (product, user) = cad_and_a_person(&store, 7, at).await;
        for team in &teams {
            sqlx::query(
                "INSERT INTO flex_assignments (team_id, user_id, status, access_all, source, \
                 assigned_at, updated_at) VALUES ($1, $2, 'active', 1, 'admin', $3, $3)",
            )
            .bind(team.0)
            .bind(user)
            .bind(at)
            .execute(store.pool())
            .await
            .expect("assignment");
        }
        store
            .merge_teams(merged, north, Actor::Operator, start)
            .await
            .expect("merge");
        let now = start + chrono::Duration::minutes(1);
        let requests = [
            sign_in(user, product, now),
            sign_in(user, product, now),
            sign_in(user, product, now),
            sign_in(user, product, now),
        ];
        let unknown = TeamId(i64::MAX);
        // South first: the batch locks its teams in id order whatever order the requests came.
        let batch: Vec<(TeamId, &Request)> = vec![
            (south, &requests[0]),
            (merged, &requests[1]),
            (unknown, &requests[2]),
            (north, &requests[3]),
        ];
        let (answers, durable) = store.run_batch(&batch).await.expect("the batch");
        durable.wait().await.expect("durable");
        let charged_on = |answer: &StoreResult<Answer>| match answer {
            Ok(Answer::SignIn(SignInOutcome::New(s))) => Some((s.team, s.tokens_charged)),
            _ => None,
        };
        assert_eq!(charged_on(&answers[0]), Some((south, t(7))));
        assert_eq!(charged_on(&answers[3]), Some((north, t(7))));
        // The merged team's request took a step of its own: a closed team charges nothing.
        assert!(
            matches!(
                answers[1],
                Err(StoreError::Domain(DomainError::Refused { .. }))
            ),
            "{:?}",
            answers[1]
        );
        assert!(
            matches!(answers[2], Err(StoreError::NotFound { .. })),
            "{:?}",
            answers[2]
        );
        // Each team's ledger holds its own charge; each session names its team.
        let charges: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT team_id, amount FROM ledger_events WHERE kind = 'charged' ORDER BY team_id",
        )
        .fetch_all(store.pool())
        .await
        .expect("charges");
        let mut expected = vec![(north.0, -7), (south.0, -7)];
        expected.sort_unstable();
        assert_eq!(charges, expected);
        let sessions: Vec<(i64,)> = sqlx::query_as("SELECT team_id FROM sessions ORDER BY team_id")
            .fetch_all(store.pool())
            .await
            .expect("sessions");
        let mut expected = vec![(north.0,), (south.0,)];
        expected.sort_unstable();
        assert_eq!(sessions, expected);
        for team in [north, south] {
            let audit = store.audit_team(team).await.expect("audit");
            assert!(audit.is_clean(), "team {team}: {audit:?}");
        }
    }
}
