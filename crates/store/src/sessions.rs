//! Product sessions (R-SES-1..9): the store side of `jeton_core::session`. Every step locks the
//! team, loads the usage of (team, user, product), asks the engine for a plan and applies it in
//! the same transaction: ends sessions, refunds, opens periods and charges them through the one
//! consumption-order function. The team lock makes concurrent sign-ins of one (user, product),
//! on any number of servers, open one period and one charge (R-SES-9). Sign-ins and sign-outs
//! run in batches (`crate::session_batch`), many requests' steps, of one team or several, under
//! their teams' locks; the other steps, and a merged team's, run here one at a time.

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind, EventKind};
use jeton_core::session::{
    self, Access, AccessKind, EndReason, Period, Plan, Refusal, SessionGone, Usage,
};
use jeton_core::{
    DomainError, IdempotencyKey, PackId, PeriodId, ProductId, ProductKey, ResultId, ResultType,
    SessionId, TeamId, Tokens, UserId,
};

use crate::Store;
use crate::backend::WriteTx;
use crate::beats;
use crate::error::{StoreError, StoreResult};
use crate::idempotency;
use crate::ledger::{self, NewEvent, TeamPacks, lock_team};
use crate::session_batch::{Answer, Request, SignInRequest, SignOutRequest};
use crate::session_state;
use crate::session_state::{Listing, PairState, ProductRow, Wanted, product_by_id};
use crate::team_rows::TeamRow;
use crate::time::{from_db, to_db};
use crate::usage;

/// What applying a plan did.
#[derive(Debug, Default)]
struct Applied {
    charged: Tokens,
    refunded: Tokens,
    /// The id of the last period opened, if any.
    opened: Option<PeriodId>,
}

/// Applies an engine plan: ends sessions, refunds, opens and charges periods. A charge the live
/// packs cannot cover fails with `InsufficientTokens` and the caller's transaction is dropped.
#[allow(clippy::too_many_arguments)]
async fn apply(
    conn: &mut Conn,
    packs: &mut TeamPacks,
    merged: bool,
    user: UserId,
    product: &ProductRow,
    daily_rate: Tokens,
    plan: &Plan,
    actor: Actor,
    now: DateTime<Utc>,
) -> StoreResult<Applied> {
    let team = packs.team();
    let mut applied = Applied::default();
    // In id order, as every transaction that changes several sessions locks them.
    beats::lock_sessions(conn, plan.end.iter().map(|(session, ..)| *session)).await?;
    for (session, at, reason) in &plan.end {
        sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(to_db(*at))
        .bind(reason.as_str())
        .bind(session.0)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(period) = plan.refund {
        applied.refunded = refund_period(conn, packs, merged, period, actor, now).await?;
    }
    for p in &plan.open {
        // The rate this access pays per period (R-PRI: nothing under a subscription or trial).
        let rate = Access::new(p.access, daily_rate).rate;
        let id = PeriodId(sqlx::query_scalar(
            "INSERT INTO usage_periods (team_id, user_id, product_id, access, opened, started_at, ends_at, rate, tokens, charged_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(team.0)
        .bind(user.0)
        .bind(product.id.0)
        .bind(p.access.as_str())
        .bind(p.opened.as_str())
        .bind(to_db(p.started_at))
        .bind(to_db(p.ends_at))
        .bind(rate.as_i64())
        .bind(p.tokens.as_i64())
        .bind(to_db(now))
        .fetch_one(&mut *conn)
        .await?);
        usage::record(
            conn,
            team,
            user,
            product.id,
            p.started_at,
            usage::Use::Period(p.tokens),
        )
        .await?;
        if !p.tokens.is_zero() {
            let cause = Cause::new(CauseKind::Period, id);
            packs.charge(conn, p.tokens, &cause, actor, now).await?;
            applied.charged = applied
                .charged
                .checked_add(p.tokens)
                .ok_or_else(|| StoreError::corrupt("charged tokens overflow"))?;
        }
        applied.opened = Some(id);
    }
    Ok(applied)
}

/// The team a merged team's packs went to in the end (R-PACK-7: merges can follow one another);
/// `None` for a team that was not merged.
async fn merge_heir(conn: &mut Conn, team: TeamId) -> StoreResult<Option<TeamId>> {
    let mut heir = None;
    let mut at = team;
    // A chain ends: a team is merged only into an open team, and merging closes it for good.
    loop {
        let next: Option<Option<i64>> =
            sqlx::query_scalar("SELECT merged_into FROM teams WHERE id = $1")
                .bind(at.0)
                .fetch_optional(&mut *conn)
                .await?;
        match next.flatten() {
            Some(next) => {
                heir = Some(TeamId(next));
                at = TeamId(next);
            }
            None => return Ok(heir),
        }
    }
}

/// Locks a session's team for a step that may refund. A session may outlive a merge of its team
/// (its period may be used up) and a grace refund then goes where the charged packs are now, on
/// the team's [`merge_heir`]: that team is locked too, the two in id order like every change of
/// two teams, so that no two transactions can wait on each other.
async fn lock_session_team(conn: &mut Conn, team: TeamId) -> StoreResult<TeamRow> {
    match merge_heir(conn, team).await? {
        None => lock_team(conn, team).await,
        Some(heir) => Ok(ledger::lock_two_teams(conn, team, heir).await?.0),
    }
}

/// Where the tokens of a pack are now: the pack itself, or, after merges of its team, the pack
/// that took them over (a merged pack leaves whole, `origin_pack_id` pointing back at it).
async fn pack_home(conn: &mut Conn, pack: PackId, team: TeamId) -> StoreResult<(PackId, TeamId)> {
    let mut home = (pack, team);
    loop {
        let next: Option<PackHomeRow> = sqlx::query_as(
            "SELECT id, team_id FROM packs WHERE origin = 'merge' AND origin_pack_id = $1",
        )
        .bind(home.0.0)
        .fetch_optional(&mut *conn)
        .await?;
        match next {
            Some(next) => home = (next.id, next.team_id),
            None => return Ok(home),
        }
    }
}

#[derive(sqlx::FromRow)]
struct PackHomeRow {
    #[sqlx(try_from = "i64")]
    id: PackId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
}

/// What a period's charge drew from one pack.
#[derive(sqlx::FromRow)]
struct DrawnRow {
    #[sqlx(try_from = "i64")]
    pack_id: PackId,
    amount: i64,
}

/// A refunded period, as its use was recorded.
#[derive(sqlx::FromRow)]
struct RefundedPeriodRow {
    tokens: i64,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    #[sqlx(try_from = "i64")]
    product_id: ProductId,
    started_at: i64,
}

/// R-SES-4: gives a period's charge back to the packs it came from; after a merge of the team
/// (`merged`), to the packs that took them over, on the team they went to.
async fn refund_period(
    conn: &mut Conn,
    packs: &mut TeamPacks,
    merged: bool,
    period: PeriodId,
    actor: Actor,
    now: DateTime<Utc>,
) -> StoreResult<Tokens> {
    let team = packs.team();
    let drawn: Vec<DrawnRow> = sqlx::query_as(
        "SELECT pack_id, amount FROM ledger_events \
         WHERE team_id = $1 AND kind = 'charged' AND cause_kind = 'period' AND cause_ref = $2 ORDER BY id",
    )
    .bind(team.0)
    .bind(period.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let cause = Cause::new(CauseKind::Period, period);
    let mut total = Tokens::ZERO;
    let mut heirs = Vec::new();
    for DrawnRow { pack_id, amount } in drawn {
        let tokens = Tokens::from_stored(-amount)?;
        let (pack, home) = match merged {
            true => pack_home(conn, pack_id, team).await?,
            false => (pack_id, team),
        };
        if home != team && !heirs.contains(&home) {
            // Locked already by `lock_session_team`, unless the heir was merged on in between:
            // then this takes the lock of the team the packs went to last.
            let row = lock_team(conn, home).await?;
            if row.closed_at.is_none() {
                ledger::expire_team(conn, home, now).await?;
            }
            heirs.push(home);
        }
        let done = sqlx::query(
            "UPDATE packs SET remaining = remaining + $1 WHERE id = $2 AND team_id = $3",
        )
        .bind(tokens.as_i64())
        .bind(pack.0)
        .bind(home.0)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::corrupt(format!(
                "pack {pack} of a refunded period is gone"
            )));
        }
        if home == team {
            packs.credit(pack, tokens);
        }
        ledger::insert_event(
            conn,
            NewEvent {
                team: home,
                pack,
                kind: EventKind::Refunded,
                amount: EventKind::Refunded.signed(tokens, true),
                at: now,
                actor,
                cause: &cause,
            },
        )
        .await?;
        total = total
            .checked_add(tokens)
            .ok_or_else(|| StoreError::corrupt("refund overflows"))?;
    }
    for heir in heirs {
        crate::alerts::check_low_balance(conn, heir, now).await?;
    }
    let p: RefundedPeriodRow = sqlx::query_as(
        "SELECT tokens, user_id, product_id, started_at FROM usage_periods WHERE id = $1",
    )
    .bind(period.0)
    .fetch_one(&mut *conn)
    .await?;
    let refund = usage::Use::Refund(total);
    usage::record(
        conn,
        team,
        p.user_id,
        p.product_id,
        from_db(p.started_at)?,
        refund,
    )
    .await?;
    let expected = p.tokens;
    if expected != total.as_i64() {
        return Err(StoreError::corrupt(format!(
            "period {period} charged {expected} tokens but its ledger shows {total}"
        )));
    }
    sqlx::query("UPDATE usage_periods SET refunded_at = $1 WHERE id = $2")
        .bind(to_db(now))
        .bind(period.0)
        .execute(&mut *conn)
        .await?;
    packs.settle(conn, now).await?;
    Ok(total)
}

/// A session row as the steps need it, with its product: a sign-out, a heartbeat that has
/// something due and a result each need both, and one read is one round trip less per request.
#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    ended_at: Option<i64>,
    end_reason: Option<String>,
    #[sqlx(flatten)]
    product: ProductRow,
}

async fn session_row(conn: &mut Conn, id: SessionId) -> StoreResult<Option<SessionRow>> {
    Ok(sqlx::query_as(
        "SELECT s.team_id, s.user_id, s.ended_at, s.end_reason, \
         p.id, p.key \
         FROM sessions s JOIN products p ON p.id = s.product_id WHERE s.id = $1",
    )
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?)
}

fn gone(reason: &str) -> StoreError {
    if reason == EndReason::InsufficientTokens.as_str() {
        // R-SES-3: the product is told why it must stop.
        return DomainError::SessionStopped.into();
    }
    DomainError::SessionEnded {
        reason: reason.to_owned(),
    }
    .into()
}

/// The period the user is in once a plan is written: the engine's latest, named by what the step
/// opened (`opened`) when the engine planned it (the engine knows planned periods by negative
/// ids), or by `stored` when it was written before.
pub(crate) fn current_period<P>(
    usage: &Usage,
    opened: Option<P>,
    stored: impl FnOnce(PeriodId) -> P,
) -> StoreResult<(P, AccessKind, DateTime<Utc>)> {
    let p = usage
        .period
        .as_ref()
        .ok_or_else(|| StoreError::corrupt("no usage period after a sign-in or heartbeat"))?;
    let id = match opened {
        Some(id) if p.id < PeriodId(0) => id,
        _ if p.id >= PeriodId(0) => stored(p.id),
        _ => return Err(StoreError::corrupt("a planned period was not written")),
    };
    Ok((id, p.access, p.ends_at))
}

/// Makes the answer a sign-in remembers for its idempotency key: called once the session has
/// its id, inside the transaction that writes it (on the task that runs the batch).
pub type Respond = std::sync::Arc<dyn Fn(&SignedIn) -> String + Send + Sync>;

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub session: SessionId,
    pub team: TeamId,
    pub user: UserId,
    pub product: ProductKey,
    pub access: AccessKind,
    pub tokens_charged: Tokens,
    pub period_ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInOutcome {
    New(SignedIn),
    /// A retried request: the first answer, as it was given.
    Replayed(String),
}

/// A heartbeat taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    pub signed_in: SignedIn,
}

/// Limits on client-supplied session details.
const MAX_DETAIL_LEN: usize = 100;
/// Most results in one report (R-SES-8).
pub const MAX_RESULT_QUANTITY: u64 = 10_000;
const SIGN_IN_SCOPE: &str = "sign_in";

fn check_detail(what: &str, value: Option<&str>) -> StoreResult<()> {
    if let Some(v) = value
        && (v.chars().count() > MAX_DETAIL_LEN || v.chars().any(char::is_control))
    {
        return Err(DomainError::InvalidName {
            detail: format!(
                "the {what} is at most {MAX_DETAIL_LEN} characters without line breaks"
            ),
        }
        .into());
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionSweep {
    pub groups: usize,
    pub ended: usize,
    pub charged: u64,
}

/// One step of the session engine for a (team, user, product), inside one write transaction: the
/// team locked, due expiries written, and what the engine plans on loaded under that lock — who
/// pays now and the usage. Every session step goes through it: the caller asks the engine for a
/// plan, [`Step::apply`]s it, writes its own rows on [`Step::conn`] and [`Step::commit`]s (or
/// drops the step, which writes nothing).
struct Step {
    w: WriteTx,
    team: TeamId,
    user: UserId,
    product: ProductRow,
    /// R-SES-1, R-PRI: who pays for the product now, or why nobody may.
    access: Result<Access, DomainError>,
    /// The product's daily rate, read under the lock.
    daily_rate: Tokens,
    usage: Usage,
    /// The team's packs, as this step leaves them.
    packs: TeamPacks,
    /// Whether the team was merged into another (its refunds go where its packs went).
    merged: bool,
}

impl Step {
    /// Loads a step in a transaction that holds its team's lock already.
    /// The sessions' kept heartbeats (`beats`) count as written.
    async fn load(
        mut w: WriteTx,
        team_row: TeamRow,
        user: UserId,
        product: ProductRow,
        beats: &beats::Beats,
        now: DateTime<Utc>,
    ) -> StoreResult<Step> {
        let team = team_row.id;
        // The kept beats are taken before the sessions are read (see `beats::Beats::of_group`).
        let kept = beats.of_group((team, user, product.id));
        let wanted = Wanted {
            user,
            product: &product,
            key: None,
            now,
            sessions: Listing::Every,
        };
        let state = session_state::load(&mut w.tx, &team_row, &[wanted], now).await?;
        let Some(PairState {
            access,
            daily_rate,
            mut usage,
            ..
        }) = state.pairs.into_iter().next()
        else {
            return Err(StoreError::corrupt("a step's state without its pair"));
        };
        let packs = state.packs;
        let mut packs = TeamPacks::new(&team_row, packs);
        if team_row.closed_at.is_none() {
            packs.expire(&mut w.tx, now).await?;
        }
        for s in &mut usage.sessions {
            kept.overlay(s)?;
        }
        Ok(Step {
            w,
            team,
            user,
            product,
            access,
            daily_rate,
            usage,
            packs,
            merged: team_row.merged_into.is_some(),
        })
    }

    fn conn(&mut self) -> &mut Conn {
        &mut self.w.tx
    }

    /// Applies an engine plan (see [`apply`]); a charge the packs cannot cover fails with
    /// `InsufficientTokens`, and the step must then be dropped.
    async fn apply(
        &mut self,
        plan: &Plan,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        apply(
            &mut self.w.tx,
            &mut self.packs,
            self.merged,
            self.user,
            &self.product,
            self.daily_rate,
            plan,
            actor,
            now,
        )
        .await
    }

    /// Charges `tokens` for `cause` to the team's packs (R-PACK-4).
    async fn charge(
        &mut self,
        tokens: Tokens,
        cause: &Cause,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.packs
            .charge(&mut self.w.tx, tokens, cause, actor, now)
            .await?;
        Ok(())
    }

    /// The answer for `session` once `applied` is written: the period the user is in.
    fn signed_in(&self, session: SessionId, applied: &Applied) -> StoreResult<SignedIn> {
        let (_, access, period_ends_at) = current_period(&self.usage, applied.opened, |id| id)?;
        Ok(SignedIn {
            session,
            team: self.team,
            user: self.user,
            product: ProductKey::parse(&self.product.key)?,
            access,
            tokens_charged: applied.charged,
            period_ends_at,
        })
    }

    async fn commit(self) -> StoreResult<()> {
        self.w.commit().await
    }
}

impl Store {
    /// Begins a step on a session's (team, user, product). The team is locked with the team a
    /// merge sent its packs to, if any ([`lock_session_team`]), as a step may refund there.
    async fn session_step(
        &self,
        team: TeamId,
        user: UserId,
        product: ProductRow,
        now: DateTime<Utc>,
    ) -> StoreResult<Step> {
        let mut w = self.begin_write().await?;
        let mut team_row = lock_team(&mut w.tx, team).await?;
        if team_row.merged_into.is_some() {
            // Rare: a merged team. Its heir must be locked too, and in id order: start again.
            drop(w);
            w = self.begin_write().await?;
            team_row = lock_session_team(&mut w.tx, team).await?;
        }
        Step::load(w, team_row, user, product, &self.beats, now).await
    }

    /// R-SES-1/2/9: signs a user in to a product on a team. Refused with a stable reason (nothing
    /// written), or: a covering period charges nothing, otherwise a period opens and charges the
    /// daily rate. `respond` makes the answer remembered for the idempotency key. Runs in the
    /// next batch that takes the team (`crate::session_batch`).
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_in(
        &self,
        team: TeamId,
        user: UserId,
        product: &str,
        version: Option<&str>,
        machine: Option<&str>,
        key: Option<&IdempotencyKey>,
        respond: Respond,
        now: DateTime<Utc>,
    ) -> StoreResult<SignInOutcome> {
        check_detail("version", version)?;
        check_detail("machine", machine)?;
        let fingerprint = format!(
            "sign-in of user {user} to {product:?} (version {version:?}, machine {machine:?})"
        );
        // The catalogue is not the team's: looked up outside the lock, as the lock gives it
        // nothing (refused only after the team and the idempotency key had their say, as before).
        // Its rate is read under the lock, by the batch.
        let product = match self.product_keys.known(product) {
            Some(known) => Some(known),
            None => {
                let mut conn = self.read_conn().await?;
                self.product_keys.look_up(&mut conn, product).await?
            }
        };
        let request = SignInRequest {
            user,
            product,
            version: version.map(str::to_owned),
            machine: machine.map(str::to_owned),
            key: key.cloned(),
            fingerprint,
            // Each user's keys are their own: two people who happen to pick the same key never
            // meet.
            scope: format!("{SIGN_IN_SCOPE}:{user}"),
            respond,
            now,
        };
        match self.in_team_batch(team, Request::SignIn(request)).await? {
            Answer::SignIn(outcome) => Ok(outcome),
            Answer::SignOut(_) => Err(StoreError::corrupt("a sign-out's answer to a sign-in")),
        }
    }

    /// [`Store::sign_in`] in a step of its own, for a merged team.
    pub(crate) async fn sign_in_alone(
        &self,
        team: TeamId,
        r: &SignInRequest,
    ) -> StoreResult<SignInOutcome> {
        let (user, now) = (r.user, r.now);
        let mut w = self.begin_write().await?;
        let team_row = lock_team(&mut w.tx, team).await?;
        if let Some(key) = &r.key
            && let Some(first) = idempotency::recall(&mut w.tx, team, &r.scope, key).await?
        {
            return Ok(SignInOutcome::Replayed(idempotency::replay(
                first,
                &r.fingerprint,
                key,
            )?));
        }
        let product_row = r.product.clone().ok_or(DomainError::Refused {
            reason: Refusal::UnknownProduct,
        })?;
        let mut step = Step::load(w, team_row, user, product_row, &self.beats, now).await?;
        let access = step.access.clone()?;
        let plan = session::sign_in(&mut step.usage, access, now);
        let applied = step.apply(&plan, Actor::User(user), now).await?;
        let (period, _, _) = current_period(&step.usage, applied.opened, |id| id)?;
        let product_id = step.product.id;
        let session = SessionId(sqlx::query_scalar(
            "INSERT INTO sessions (team_id, user_id, product_id, period_id, version, machine, started_at, last_seen_at, last_active_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7) RETURNING id",
        )
        .bind(team.0)
        .bind(user.0)
        .bind(product_id.0)
        .bind(period.0)
        .bind(r.version.as_deref())
        .bind(r.machine.as_deref())
        .bind(to_db(now))
        .fetch_one(step.conn())
        .await?);
        let signed_in = step.signed_in(session, &applied)?;
        if let Some(key) = &r.key {
            idempotency::remember(
                step.conn(),
                team,
                &r.scope,
                key,
                &r.fingerprint,
                &(r.respond)(&signed_in),
                now,
            )
            .await?;
        }
        step.commit().await?;
        Ok(SignInOutcome::New(signed_in))
    }

    /// R-SES-3/5/6: a heartbeat of `user`'s session that may have something due, under the
    /// team's lock (the caller found it not quiet: [`Store::quiet_heartbeat_by_token`]). May roll
    /// the period over (charging), or resume after a pause. When the next period cannot be paid
    /// the session is ended and the answer is `InsufficientTokens`: the product must stop.
    pub async fn locked_heartbeat(
        &self,
        session: SessionId,
        user: UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Beat> {
        let row = self.own_session(session, user).await?;
        let team = row.team_id;
        let mut step = self.session_step(team, user, row.product, now).await?;
        let result = match step.access.clone() {
            Ok(access) => session::heartbeat(&mut step.usage, session, active, access, now),
            Err(_) => {
                // Access is gone (unassigned, product taken away): the running period may be used
                // up, nothing new is paid.
                let plan = session::sweep(&mut step.usage, None, now);
                if step.usage.sessions.iter().any(|s| s.id == session) {
                    Ok(plan)
                } else {
                    Err((SessionGone::Unknown, plan))
                }
            }
        };
        let plan = match result {
            Ok(plan) => plan,
            Err((why, plan)) => {
                step.apply(&plan, Actor::System, now).await?;
                step.commit().await?;
                let reason = match why {
                    SessionGone::Expired => "no heartbeat for 15 minutes",
                    SessionGone::Unknown => "it was ended by the server",
                };
                return Err(gone(reason));
            }
        };
        // The sessions the plan ends and the beating one, all locked in id order first: the
        // beating one is written after the others are ended.
        let touched = plan.end.iter().map(|(s, ..)| *s).chain([session]);
        beats::lock_sessions(step.conn(), touched).await?;
        match step.apply(&plan, Actor::User(user), now).await {
            Ok(applied) => {
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $1, last_active_at = CASE WHEN $2 = 1 THEN $1 ELSE last_active_at END, \
                     period_id = COALESCE($3, period_id) WHERE id = $4",
                )
                .bind(to_db(now))
                .bind(i64::from(active))
                .bind(applied.opened.map(|p| p.0))
                .bind(session.0)
                .execute(step.conn())
                .await?;
                let signed_in = step.signed_in(session, &applied)?;
                step.commit().await?;
                Ok(Beat { signed_in })
            }
            Err(StoreError::Domain(e @ DomainError::InsufficientTokens { .. })) => {
                drop(step);
                self.end_for_lack_of_tokens(team, &[session], now).await?;
                Err(e.into())
            }
            Err(e) => Err(e),
        }
    }

    /// A heartbeat with nothing due, without the team's lock: the session is open and far from
    /// its 15-minute lease, and the latest period of its (team, user, product) runs well past
    /// `now`. The engine would then plan nothing (no session of this step to end, no period to
    /// roll over or resume, nothing to charge): only the session's last-seen (and last-active)
    /// time moves. `None` when anything may be due: the caller takes the full, locked step.
    ///
    /// One read, and the beat is kept to be written behind ([`crate::beats`]): the write moves
    /// last-seen forward only while the session is open and its period unrefunded, and a period
    /// is refunded only once its last session has ended, so a beat can never revive a session or
    /// a period. The margins keep a concurrent locked step (a sweep, another heartbeat) from
    /// seeing this session dead or the period over at about the same time; at worst such a step
    /// ends the session at its previous heartbeat — earlier, never charging more.
    ///
    /// The user is the holder of the user token whose digest is `token_hash`, checked in the same
    /// read (the check of `user_by_token`, joined to the session's user): `None` also when the
    /// token is not a valid token of the session's user, and the caller checks it on its own.
    pub async fn quiet_heartbeat_by_token(
        &self,
        session: SessionId,
        token_hash: &str,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Beat>> {
        let query = sqlx::query_as(
            "SELECT s.team_id, s.user_id, s.product_id, s.last_seen_at, pr.key, p.id AS period_id, \
                 p.access, p.started_at, p.ends_at, p.refunded_at \
             FROM sessions s JOIN products pr ON pr.id = s.product_id \
             JOIN usage_periods p ON p.id = (SELECT q.id FROM usage_periods q \
                 WHERE q.team_id = s.team_id AND q.user_id = s.user_id AND q.product_id = s.product_id \
                 ORDER BY q.started_at DESC, q.id DESC LIMIT 1) \
             JOIN user_tokens t ON t.user_id = s.user_id \
             WHERE s.id = $1 AND t.token_hash = $2 AND t.expires_at > $3 AND s.ended_at IS NULL",
        )
        .bind(session.0)
        .bind(token_hash)
        .bind(to_db(now));
        let row: Option<QuietRow> = query.fetch_optional(&mut self.read_conn().await?).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = row.user_id;
        let period = Period {
            id: row.period_id,
            access: AccessKind::parse(&row.access)?,
            started_at: from_db(row.started_at)?,
            ends_at: from_db(row.ends_at)?,
            tokens: Tokens::ZERO,
            refunded: row.refunded_at.is_some(),
        };
        // The written last-seen, not a newer kept one: other servers judge by what is written.
        let last_seen = from_db(row.last_seen_at)?;
        if !session::heartbeat_is_quiet(&period, last_seen, now) {
            return Ok(None);
        }
        let beat = beats::Beat {
            seen: to_db(now),
            active: if active { to_db(now) } else { 0 },
            period: row.period_id,
        };
        if !self
            .beats
            .keep((row.team_id, user, row.product_id), session, beat)
        {
            self.write_heartbeats(&[(session, beat)]).await?;
        }
        Ok(Some(Beat {
            signed_in: SignedIn {
                session,
                team: row.team_id,
                user,
                product: ProductKey::parse(&row.key)?,
                access: period.access,
                tokens_charged: Tokens::ZERO,
                period_ends_at: period.ends_at,
            },
        }))
    }

    /// R-SES-4: signs a session out. Returns the tokens refunded by the grace rule. Signing out a
    /// session that already ended answers 0. Runs in the next batch that takes the team
    /// (`crate::session_batch`).
    pub async fn sign_out(
        &self,
        session: SessionId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Tokens> {
        let row = match self.own_session(session, user).await {
            Ok(row) => row,
            Err(StoreError::Domain(
                DomainError::SessionEnded { .. } | DomainError::SessionStopped,
            )) => return Ok(Tokens::ZERO),
            Err(e) => return Err(e),
        };
        let request = SignOutRequest {
            session,
            user,
            product: row.product,
            now,
        };
        match self
            .in_team_batch(row.team_id, Request::SignOut(request))
            .await?
        {
            Answer::SignOut(refunded) => Ok(refunded),
            Answer::SignIn(_) => Err(StoreError::corrupt("a sign-in's answer to a sign-out")),
        }
    }

    /// [`Store::sign_out`] in a step of its own, for a merged team (a refund goes where the
    /// team's packs went).
    pub(crate) async fn sign_out_alone(
        &self,
        team: TeamId,
        r: &SignOutRequest,
    ) -> StoreResult<Tokens> {
        let (session, user, now) = (r.session, r.user, r.now);
        for pay_rollover in [true, false] {
            let mut step = self
                .session_step(team, user, r.product.clone(), now)
                .await?;
            let access = match pay_rollover {
                true => step.access.clone().ok(),
                false => None,
            };
            let Ok(plan) = session::sign_out(&mut step.usage, session, access, now) else {
                return Ok(Tokens::ZERO);
            };
            match step.apply(&plan, Actor::User(user), now).await {
                Ok(applied) => {
                    step.commit().await?;
                    return Ok(applied.refunded);
                }
                // Use since the last heartbeat crossed into a period that cannot be paid: end the
                // session without it.
                Err(StoreError::Domain(DomainError::InsufficientTokens { .. })) if pay_rollover => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::corrupt("sign-out could not be applied"))
    }

    /// R-SES-8: a per-result charge, idempotent by the client's id within the session.
    pub async fn report_result(
        &self,
        session: SessionId,
        user: UserId,
        result_type: &ResultType,
        quantity: u64,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(Tokens, bool)> {
        if quantity == 0 || quantity > MAX_RESULT_QUANTITY {
            return Err(DomainError::InvalidTokens {
                detail: format!("quantity must be 1 to {MAX_RESULT_QUANTITY}, got {quantity}"),
            }
            .into());
        }
        if client_id.is_empty()
            || client_id.len() > 255
            || !client_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(DomainError::InvalidIdempotencyKey {
                detail: "a result id is 1 to 255 visible ASCII characters".into(),
            }
            .into());
        }
        let row = self.own_session(session, user).await?;
        let team = row.team_id;
        let mut step = self.session_step(team, user, row.product, now).await?;
        let first: Option<ReportedResultRow> = sqlx::query_as(
            "SELECT result_type, quantity, tokens FROM result_charges WHERE session_id = $1 AND client_id = $2",
        )
        .bind(session.0)
        .bind(client_id)
        .fetch_optional(step.conn())
        .await?;
        if let Some(first) = first {
            let (kind, q) = (first.result_type, first.quantity);
            if kind != result_type.as_str() || q != quantity as i64 {
                return Err(DomainError::IdempotencyKeyReused {
                    detail: format!(
                        "result {client_id:?} was already reported as {q} × {kind}; send a new id for a new result"
                    ),
                }
                .into());
            }
            return Ok((Tokens::from_stored(first.tokens)?, true));
        }
        let product_id = step.product.id;
        let rate: Option<i64> = sqlx::query_scalar(
            "SELECT rate FROM product_result_rates WHERE product_id = $1 AND result_type = $2",
        )
        .bind(product_id.0)
        .bind(result_type.as_str())
        .fetch_optional(step.conn())
        .await?;
        let rate = Tokens::from_stored(rate.ok_or_else(|| DomainError::UnknownResultType {
            product: step.product.key.clone(),
            result_type: result_type.to_string(),
        })?)?;
        if !step
            .usage
            .sessions
            .iter()
            .any(|s| s.id == session && !s.is_dead(now))
        {
            return Err(gone("no heartbeat for 15 minutes"));
        }
        let access = step.access.clone()?;
        let tokens = session::result_tokens(access.kind, rate, quantity)?;
        let id = ResultId(sqlx::query_scalar(
            "INSERT INTO result_charges (team_id, user_id, product_id, session_id, client_id, result_type, quantity, rate, tokens, access, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(team.0)
        .bind(user.0)
        .bind(product_id.0)
        .bind(session.0)
        .bind(client_id)
        .bind(result_type.as_str())
        .bind(quantity as i64)
        .bind(rate.as_i64())
        .bind(tokens.as_i64())
        .bind(access.kind.as_str())
        .bind(to_db(now))
        .fetch_one(step.conn())
        .await?);
        usage::record(
            step.conn(),
            team,
            user,
            product_id,
            now,
            usage::Use::Result(tokens),
        )
        .await?;
        if !tokens.is_zero() {
            step.charge(
                tokens,
                &Cause::new(CauseKind::Result, id),
                Actor::User(user),
                now,
            )
            .await?;
        }
        step.commit().await?;
        Ok((tokens, false))
    }

    /// The background sweep (R-SES-3/6): ends dead sessions and rolls periods over for products
    /// in use, one (team, user, product) per transaction. Safe on several servers at once.
    pub async fn sweep_sessions(&self, now: DateTime<Utc>) -> StoreResult<SessionSweep> {
        let dead_before = to_db(now - session::session_lease());
        let mut sweep = SessionSweep::default();
        let groups: Vec<UsageGroupRow> = sqlx::query_as(
            "SELECT DISTINCT s.team_id, s.user_id, s.product_id FROM sessions s WHERE s.ended_at IS NULL AND ( \
                 s.last_seen_at < $1 OR NOT EXISTS (SELECT 1 FROM usage_periods p \
                     WHERE p.team_id = s.team_id AND p.user_id = s.user_id AND p.product_id = s.product_id \
                     AND p.refunded_at IS NULL AND p.ends_at > $2)) \
             ORDER BY s.team_id, s.user_id, s.product_id LIMIT 1000",
        )
        .bind(dead_before)
        .bind(to_db(now))
        .fetch_all(self.pool())
        .await?;
        for UsageGroupRow {
            team_id: team,
            user_id: user,
            product_id: product,
        } in groups
        {
            // The catalogue is not the team's: read outside the lock, as the lock gives it nothing.
            let product = product_by_id(&mut self.read_conn().await?, product).await?;
            let mut step = self.session_step(team, user, product, now).await?;
            let open: Vec<SessionId> = step.usage.sessions.iter().map(|s| s.id).collect();
            let access = step.access.clone().ok();
            let plan = session::sweep(&mut step.usage, access, now);
            sweep.groups += 1;
            match step.apply(&plan, Actor::System, now).await {
                Ok(applied) => {
                    step.commit().await?;
                    sweep.ended += plan.end.len();
                    sweep.charged += applied.charged.get();
                }
                Err(StoreError::Domain(DomainError::InsufficientTokens { .. })) => {
                    drop(step);
                    sweep.ended += self.end_for_lack_of_tokens(team, &open, now).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sweep)
    }

    /// R-SES-3: the next period could not be paid: these sessions stop.
    async fn end_for_lack_of_tokens(
        &self,
        team: TeamId,
        sessions: &[SessionId],
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut w = self.begin_write().await?;
        lock_team(&mut w.tx, team).await?;
        // In id order, as every transaction that changes several sessions locks them.
        beats::lock_sessions(&mut w.tx, sessions.iter().copied()).await?;
        let mut ended = 0;
        for s in sessions {
            let done = sqlx::query(
                "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND team_id = $4 AND ended_at IS NULL",
            )
            .bind(to_db(now))
            .bind(EndReason::InsufficientTokens.as_str())
            .bind(s.0)
            .bind(team.0)
            .execute(&mut w.tx)
            .await?;
            ended += done.rows_affected() as usize;
        }
        w.commit().await?;
        Ok(ended)
    }

    /// The session if it is `user`'s and still open: 404 for anyone else's, 410 once ended.
    async fn own_session(&self, session: SessionId, user: UserId) -> StoreResult<SessionRow> {
        let mut conn = self.read_conn().await?;
        let row = session_row(&mut conn, session)
            .await?
            .filter(|r| r.user_id == user)
            .ok_or_else(|| StoreError::not_found("session", session))?;
        if row.ended_at.is_some() {
            return Err(gone(row.end_reason.as_deref().unwrap_or("ended")));
        }
        Ok(row)
    }

    /// Sessions of a team, newest first (admins).
    pub async fn team_sessions(
        &self,
        team: TeamId,
        open_only: bool,
        limit: usize,
    ) -> StoreResult<Vec<SessionRecord>> {
        self.team(team).await?;
        // A listing shows the heartbeats this process answered.
        self.flush_heartbeats().await?;
        let rows: Vec<SessionRecordRow> = sqlx::query_as(
            "SELECT s.id, s.team_id, s.user_id, p.key, s.version, s.machine, s.started_at, s.last_seen_at, s.ended_at, s.end_reason \
             FROM sessions s JOIN products p ON p.id = s.product_id \
             WHERE s.team_id = $1 AND ($2 = 0 OR s.ended_at IS NULL) ORDER BY s.id DESC LIMIT $3",
        )
        .bind(team.0)
        .bind(i64::from(open_only))
        .bind(limit.clamp(1, jeton_core::limits::MAX_LIST_PAGE) as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(SessionRecordRow::record).collect()
    }
}

/// A session with the latest period of its (team, user, product), for a quiet heartbeat.
#[derive(sqlx::FromRow)]
struct QuietRow {
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    #[sqlx(try_from = "i64")]
    product_id: ProductId,
    last_seen_at: i64,
    key: String,
    #[sqlx(try_from = "i64")]
    period_id: PeriodId,
    access: String,
    started_at: i64,
    ends_at: i64,
    refunded_at: Option<i64>,
}

/// A result reported before under the same client id.
#[derive(sqlx::FromRow)]
struct ReportedResultRow {
    result_type: String,
    quantity: i64,
    tokens: i64,
}

/// A (team, user, product) whose sessions the sweep looks at.
#[derive(sqlx::FromRow)]
struct UsageGroupRow {
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    #[sqlx(try_from = "i64")]
    product_id: ProductId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub team: TeamId,
    pub user: UserId,
    pub product: ProductKey,
    pub version: Option<String>,
    pub machine: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<EndReason>,
}

#[derive(sqlx::FromRow)]
struct SessionRecordRow {
    #[sqlx(try_from = "i64")]
    id: SessionId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    key: String,
    version: Option<String>,
    machine: Option<String>,
    started_at: i64,
    last_seen_at: i64,
    ended_at: Option<i64>,
    end_reason: Option<String>,
}

impl SessionRecordRow {
    fn record(self) -> StoreResult<SessionRecord> {
        Ok(SessionRecord {
            id: self.id,
            team: self.team_id,
            user: self.user_id,
            product: ProductKey::parse(&self.key)?,
            version: self.version,
            machine: self.machine,
            started_at: from_db(self.started_at)?,
            last_seen_at: from_db(self.last_seen_at)?,
            ended_at: self.ended_at.map(from_db).transpose()?,
            end_reason: self
                .end_reason
                .as_deref()
                .map(EndReason::parse)
                .transpose()?,
        })
    }
}
