//! The session engine (R-SES-2..6, R-PRI): a pure state machine over one (team, user, product).
//!
//! Given what the store knows — the latest usage period and the open sessions — an event (sign-in,
//! heartbeat, sign-out, the background sweep) and "now", it returns a [`Plan`]: the periods to
//! open (each charging its tokens), the charge to refund, the sessions to end. The store applies a
//! plan in one transaction; no charge is decided anywhere else.
//!
//! Usage periods belong to (team, user, product): the team pays and the team is the unit of
//! scale, so two teams never share one period.

pub use crate::refusal::Refusal;
use chrono::{DateTime, Duration, Utc};

use crate::error::DomainError;
use crate::ids::{PeriodId, SessionId};
use crate::tokens::Tokens;

/// R-SES-2: one charge covers 24 hours of use.
pub fn period_length() -> Duration {
    Duration::hours(24)
}

/// R-SES-4: a period whose sessions all end this soon after its charge is refunded.
pub fn grace() -> Duration {
    Duration::minutes(5)
}

/// R-SES-5: an idle-aware product idle this long pauses.
pub fn idle_after() -> Duration {
    Duration::minutes(15)
}

/// R-SES-6: a session with no heartbeat for this long is dead (the machine crashed or slept).
/// Clients send a heartbeat every few minutes; see [`HEARTBEAT_EVERY`].
pub fn session_lease() -> Duration {
    Duration::minutes(15)
}

/// How far a heartbeat that needs no lock must be from its session's lease running out and from
/// its period's end ([`heartbeat_is_quiet`]); closer, the locked step decides.
pub fn quiet_margin() -> Duration {
    Duration::minutes(1)
}

/// Whether a heartbeat at `now` of an open session last seen at `last_seen`, whose (team, user,
/// product) has `latest` as its latest period, has nothing due: no period to roll over, resume or
/// charge, and the session far from dead. Then only its last-seen time is written, without the
/// team's lock; anything else takes the locked step (R-SES-2, R-SES-6). The margins keep a
/// concurrent locked step from judging the session dead or the period over at the same moment.
pub fn heartbeat_is_quiet(latest: &Period, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let margin = quiet_margin();
    latest.runs_at(now)
        && latest.runs_at(now + margin)
        && last_seen <= now
        && now + margin <= last_seen + session_lease()
}

/// What clients are told: heartbeat at least this often (well inside the lease).
pub const HEARTBEAT_EVERY_SECONDS: i64 = 300;

/// R-SES-7: an offline lease is valid this long after the last contact.
pub fn offline_lease() -> Duration {
    Duration::hours(24)
}

/// Most periods one step may open: a session kept alive across many boundaries rolls one period
/// per day; no real gap is longer than a year of boundaries.
pub const MAX_ROLLS: usize = 400;

/// How a user pays for a product (R-PRI-3: subscription, then trial, then Flex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    Subscription,
    Trial,
    Flex,
}

impl AccessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Subscription => "subscription",
            AccessKind::Trial => "trial",
            AccessKind::Flex => "flex",
        }
    }

    pub fn parse(s: &str) -> Result<AccessKind, DomainError> {
        match s {
            "subscription" => Ok(AccessKind::Subscription),
            "trial" => Ok(AccessKind::Trial),
            "flex" => Ok(AccessKind::Flex),
            _ => Err(DomainError::Corrupt {
                detail: format!("access kind {s:?}"),
            }),
        }
    }
}

/// The access resolved for "now" and what a period of it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub kind: AccessKind,
    /// The product's daily rate for Flex; 0 under a subscription or trial (R-PRI-1/2).
    pub rate: Tokens,
}

impl Access {
    pub fn new(kind: AccessKind, daily_rate: Tokens) -> Access {
        let rate = match kind {
            AccessKind::Flex => daily_rate,
            AccessKind::Subscription | AccessKind::Trial => Tokens::ZERO,
        };
        Access { kind, rate }
    }
}

/// An entitlement of the signing-in identity to the product (R-PRI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entitlement {
    pub kind: AccessKind,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Entitlement {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// Where the user stands on the team's Flex (R-USR, R-ACC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlexStanding {
    NotAssigned,
    InvitationPending,
    /// Assigned and active; whether the product is among their effective products.
    Active {
        product_allowed: bool,
    },
}

/// R-PRI-3: how a user pays for a product, when `held` says which of a subscription and a trial
/// they hold for it now and `flex` whether Flex lets them open it: a subscription, then a trial,
/// then Flex; `None` when none applies.
pub fn preferred_access(held: impl Fn(AccessKind) -> bool, flex: bool) -> Option<AccessKind> {
    [AccessKind::Subscription, AccessKind::Trial]
        .into_iter()
        .find(|kind| held(*kind))
        .or(flex.then_some(AccessKind::Flex))
}

/// R-SES-1 and R-PRI-1..3: who pays for this sign-in, or why it is refused. A subscription, then a
/// trial, of this very identity; then Flex on the team.
pub fn resolve_access(
    entitlements: &[Entitlement],
    flex: FlexStanding,
    team_closed: bool,
    daily_rate: Tokens,
    now: DateTime<Utc>,
) -> Result<Access, DomainError> {
    if team_closed {
        return Err(DomainError::Refused {
            reason: Refusal::TeamClosed,
        });
    }
    let held = |kind| {
        entitlements
            .iter()
            .any(|e| e.kind == kind && e.is_active(now))
    };
    if let Some(kind) = preferred_access(held, false) {
        return Ok(Access::new(kind, daily_rate));
    }
    let refusal = match flex {
        FlexStanding::NotAssigned => Refusal::NotAssigned,
        FlexStanding::InvitationPending => Refusal::InvitationPending,
        FlexStanding::Active {
            product_allowed: false,
        } => Refusal::ProductNotAllowed,
        FlexStanding::Active {
            product_allowed: true,
        } => return Ok(Access::new(AccessKind::Flex, daily_rate)),
    };
    Err(DomainError::Refused { reason: refusal })
}

/// The latest usage period of (team, user, product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub id: PeriodId,
    pub access: AccessKind,
    pub started_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Tokens charged for it. The charge belongs to the period's start (for a rollover: the end
    /// of the previous period, whenever the server noticed), which is where the grace window of
    /// R-SES-4 starts.
    pub tokens: Tokens,
    pub refunded: bool,
}

impl Period {
    /// Whether a sign-in with `access` at `now` is covered by this period (R-SES-2). A refunded
    /// period covers nothing: its use was as if it never happened, and new use pays. A period of
    /// another access kind does not cover either: the first sign-in after a trial ends pays.
    pub fn covers(&self, access: AccessKind, now: DateTime<Utc>) -> bool {
        self.access == access && self.runs_at(now)
    }

    /// Running (and paid) at `now`, whatever its access: an ongoing session keeps the terms of
    /// its period until the period ends.
    pub fn runs_at(&self, now: DateTime<Utc>) -> bool {
        !self.refunded && self.started_at <= now && now < self.ends_at
    }
}

/// An open (not ended) session of (team, user, product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Last heartbeat that reported meaningful use (idle awareness); sign-in counts as use.
    pub last_active_at: DateTime<Utc>,
}

impl Session {
    /// Alive at `t`: started, and not yet past its lease without a heartbeat.
    fn alive_at(&self, t: DateTime<Utc>) -> bool {
        self.started_at <= t && t <= self.last_seen_at + session_lease()
    }

    /// In use at `t` (R-SES-3/5): alive, and for an idle-aware product not paused.
    pub fn in_use_at(&self, t: DateTime<Utc>, idle_aware: bool) -> bool {
        self.alive_at(t) && (!idle_aware || t < self.last_active_at + idle_after())
    }

    /// Dead at `now`: no heartbeat for the lease time (R-SES-6).
    pub fn is_dead(&self, now: DateTime<Utc>) -> bool {
        now > self.last_seen_at + session_lease()
    }
}

/// What the store knows about (team, user, product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub idle_aware: bool,
    pub period: Option<Period>,
    /// The open sessions, or those a step needs ([`Usage::listed_for`]).
    pub sessions: Vec<Session>,
    /// Other sessions are open that `sessions` leaves out: alive at the step's time, and not the
    /// step's own. The engine needs to know only that they exist (R-SES-4: no refund while one
    /// is open).
    pub unlisted: bool,
}

/// A session last seen before this is dead at `now` (R-SES-6): a step at `now` needs every such
/// session listed, to end it. Sessions seen later are alive then.
pub fn dead_if_seen_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - session_lease()
}

/// Whether a step at `now` needs every open session listed: when the latest period has ended
/// (or there is none), a period may roll over, and whether it does depends on which sessions were
/// in use at its end (R-SES-3). Otherwise the dead ones, the step's own and whether any other is
/// open are all a sign-in or sign-out plans on.
pub fn lists_every_session(period: Option<&Period>, now: DateTime<Utc>) -> bool {
    period.is_none_or(|p| p.ends_at <= now)
}

impl Usage {
    /// What a sign-in (`own` none) or a sign-out of `own` at `now` needs of these sessions:
    /// the dead ones, its own, and all of them when [`lists_every_session`]; the others are
    /// only counted in [`Usage::unlisted`]. The engine plans the same on the listed usage (or on
    /// any that lists more) as on the whole. A store reading many open sessions of one (user,
    /// product), a pool of build machines on one account say, reads only these.
    pub fn listed_for(&self, own: Option<SessionId>, now: DateTime<Utc>) -> Usage {
        if lists_every_session(self.period.as_ref(), now) {
            return self.clone();
        }
        let cut = dead_if_seen_before(now);
        let (sessions, others): (Vec<Session>, Vec<Session>) = self
            .sessions
            .iter()
            .cloned()
            .partition(|s| s.last_seen_at < cut || Some(s.id) == own);
        Usage {
            idle_aware: self.idle_aware,
            period: self.period.clone(),
            sessions,
            unlisted: self.unlisted || !others.is_empty(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    SignIn,
    /// The previous period ended while the product was in use (R-SES-3).
    Rollover,
    /// Use resumed after a pause or a gap (R-SES-5).
    Resume,
}

impl Opened {
    pub fn as_str(self) -> &'static str {
        match self {
            Opened::SignIn => "sign_in",
            Opened::Rollover => "rollover",
            Opened::Resume => "resume",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPeriod {
    pub access: AccessKind,
    pub started_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Tokens to charge (0 under a subscription or trial, or for a free product).
    pub tokens: Tokens,
    pub opened: Opened,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    SignedOut,
    /// No heartbeat for the lease time (R-SES-6).
    LeaseExpired,
    /// The next period could not be paid (R-SES-3).
    InsufficientTokens,
    /// The user lost access (unassigned, product taken away).
    AccessEnded,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SignedOut => "signed_out",
            EndReason::LeaseExpired => "lease_expired",
            EndReason::InsufficientTokens => "insufficient_tokens",
            EndReason::AccessEnded => "access_ended",
        }
    }

    pub fn parse(s: &str) -> Result<EndReason, DomainError> {
        [
            EndReason::SignedOut,
            EndReason::LeaseExpired,
            EndReason::InsufficientTokens,
            EndReason::AccessEnded,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| DomainError::Corrupt {
            detail: format!("session end reason {s:?}"),
        })
    }
}

/// What the store must do, in this order: end sessions, refund, open periods (charging each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub end: Vec<(SessionId, DateTime<Utc>, EndReason)>,
    /// The period whose charge is refunded (R-SES-4).
    pub refund: Option<PeriodId>,
    pub open: Vec<NewPeriod>,
}

impl Plan {
    pub fn tokens_charged(&self) -> Tokens {
        self.open.iter().fold(Tokens::ZERO, |acc, p| {
            acc.checked_add(p.tokens).unwrap_or(acc)
        })
    }
}

/// The engine for one (team, user, product) while a step is decided. It mutates a working copy so
/// that each rule sees the effect of the previous one.
struct Engine<'a> {
    usage: &'a mut Usage,
    plan: Plan,
}

impl Engine<'_> {
    /// Ends every session that died (at its last heartbeat: that is when use stopped).
    fn end_dead(&mut self, now: DateTime<Utc>) {
        let dead: Vec<Session> = self
            .usage
            .sessions
            .iter()
            .filter(|s| s.is_dead(now))
            .cloned()
            .collect();
        for s in dead {
            self.end(s.id, s.last_seen_at, EndReason::LeaseExpired);
        }
    }

    /// Ends a session; if it was the last one and everything of the period happened within the
    /// grace window after its charge, the charge is refunded (R-SES-4).
    fn end(&mut self, session: SessionId, at: DateTime<Utc>, reason: EndReason) {
        self.usage.sessions.retain(|s| s.id != session);
        self.plan.end.push((session, at, reason));
        if !self.usage.sessions.is_empty() || self.usage.unlisted {
            return;
        }
        if let Some(p) = &mut self.usage.period
            && !p.refunded
            && !p.tokens.is_zero()
            && at >= p.started_at
            && at <= p.started_at + grace()
        {
            p.refunded = true;
            // A period opened in this very step is refunded by not charging it at all.
            if let Some(i) = self
                .plan
                .open
                .iter()
                .position(|n| n.started_at == p.started_at && n.access == p.access)
            {
                self.plan.open[i].tokens = Tokens::ZERO;
            } else {
                self.plan.refund = Some(p.id);
            }
        }
    }

    fn open(&mut self, access: Access, start: DateTime<Utc>, opened: Opened) {
        let n = NewPeriod {
            access: access.kind,
            started_at: start,
            ends_at: start + period_length(),
            tokens: access.rate,
            opened,
        };
        // Period ids are the store's; a planned period is known by its start.
        self.usage.period = Some(Period {
            id: PeriodId(-1 - self.plan.open.len() as i64),
            access: n.access,
            started_at: n.started_at,
            ends_at: n.ends_at,
            tokens: n.tokens,
            refunded: false,
        });
        self.plan.open.push(n);
    }

    /// R-SES-3: while the latest period has ended and the product was in use at its end, the next
    /// period opens at that end and charges.
    fn roll(&mut self, access: Access, now: DateTime<Utc>) {
        debug_assert!(
            self.usage
                .period
                .as_ref()
                .is_none_or(|p| p.started_at <= now)
        );
        for _ in 0..MAX_ROLLS {
            let Some(p) = self.usage.period.clone() else {
                return;
            };
            if p.refunded || p.ends_at > now {
                return;
            }
            // Which sessions were in use at its end decides: all are listed then.
            debug_assert!(
                !self.usage.unlisted,
                "a rollover without every open session"
            );
            let boundary = p.ends_at;
            let idle_aware = self.usage.idle_aware;
            if !self
                .usage
                .sessions
                .iter()
                .any(|s| s.in_use_at(boundary, idle_aware))
            {
                return;
            }
            self.open(access, boundary, Opened::Rollover);
        }
    }

    fn covered(&self, access: AccessKind, now: DateTime<Utc>) -> bool {
        self.usage
            .period
            .as_ref()
            .is_some_and(|p| p.covers(access, now))
    }
}

/// R-SES-2: a sign-in. Dead sessions are ended first; a covering period charges nothing; otherwise
/// a new period opens now and charges.
pub fn sign_in(usage: &mut Usage, access: Access, now: DateTime<Utc>) -> Plan {
    let mut e = Engine {
        usage,
        plan: Plan::default(),
    };
    e.end_dead(now);
    e.roll(access, now);
    // One period starts at one instant (R-SES-9): a period that opened at this very instant, of
    // whatever access, covers a sign-in at the same instant. Otherwise a trial or subscription
    // that starts exactly when a paid period did would open a second period beside it.
    let opened_now = e
        .usage
        .period
        .as_ref()
        .is_some_and(|p| p.runs_at(now) && p.started_at == now);
    if !e.covered(access.kind, now) && !opened_now {
        e.open(access, now, Opened::SignIn);
    }
    e.plan
}

/// Why a heartbeat or result cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionGone {
    /// Not an open session of this (team, user, product).
    Unknown,
    /// It went past its lease without a heartbeat and is ended now (R-SES-6).
    Expired,
}

/// R-SES-3/5/6: a heartbeat. Periods that ended while the product was in use roll over; for an
/// idle-aware product, use resuming after a pause opens a new period now.
pub fn heartbeat(
    usage: &mut Usage,
    session: SessionId,
    active: bool,
    access: Access,
    now: DateTime<Utc>,
) -> Result<Plan, (SessionGone, Plan)> {
    let mut e = Engine {
        usage,
        plan: Plan::default(),
    };
    let Some(me) = e.usage.sessions.iter().find(|s| s.id == session).cloned() else {
        return Err((SessionGone::Unknown, e.plan));
    };
    e.end_dead(now);
    if me.is_dead(now) {
        return Err((SessionGone::Expired, e.plan));
    }
    e.roll(access, now);
    let idle_aware = e.usage.idle_aware;
    let in_use_now = !idle_aware || active || me.in_use_at(now, true);
    let running = e.usage.period.as_ref().is_some_and(|p| p.runs_at(now));
    if in_use_now && !running {
        e.open(access, now, Opened::Resume);
    }
    if let Some(s) = e.usage.sessions.iter_mut().find(|s| s.id == session) {
        s.last_seen_at = now;
        if active {
            s.last_active_at = now;
        }
    }
    Ok(e.plan)
}

/// R-SES-4: a sign-out. When the last session of a period ends within the grace window after its
/// charge, the charge is refunded.
pub fn sign_out(
    usage: &mut Usage,
    session: SessionId,
    access: Option<Access>,
    now: DateTime<Utc>,
) -> Result<Plan, SessionGone> {
    let mut e = Engine {
        usage,
        plan: Plan::default(),
    };
    if !e.usage.sessions.iter().any(|s| s.id == session) {
        return Err(SessionGone::Unknown);
    }
    e.end_dead(now);
    if e.usage.sessions.iter().any(|s| s.id == session) {
        // Use up to now may have crossed a period end (no heartbeat came since): roll first, so
        // that the period that was in use is paid. Without access nothing new is paid.
        if let Some(access) = access {
            e.roll(access, now);
        }
        e.end(session, now, EndReason::SignedOut);
    }
    Ok(e.plan)
}

/// The background sweep (R-SES-3/6): ends dead sessions (never charging for them) and rolls
/// periods over for products still in use, so that the charge at a period's end happens on time.
pub fn sweep(usage: &mut Usage, access: Option<Access>, now: DateTime<Utc>) -> Plan {
    let mut e = Engine {
        usage,
        plan: Plan::default(),
    };
    e.end_dead(now);
    match access {
        Some(access) => e.roll(access, now),
        None => {
            // Access is gone (unassigned, product removed): nothing new is paid; sessions stop
            // once the current period is over.
            let over = e.usage.period.as_ref().is_none_or(|p| p.ends_at <= now);
            if over {
                // Every session is listed then (`lists_every_session`): all of them end.
                debug_assert!(!e.usage.unlisted, "a sweep without every open session");
                let ids: Vec<SessionId> = e.usage.sessions.iter().map(|s| s.id).collect();
                for id in ids {
                    e.end(id, now, EndReason::AccessEnded);
                }
            }
        }
    }
    e.plan
}

/// R-SES-8: what a result costs.
pub fn result_tokens(
    access: AccessKind,
    rate: Tokens,
    quantity: u64,
) -> Result<Tokens, DomainError> {
    Access::new(access, rate)
        .rate
        .checked_mul(quantity)
        .ok_or_else(|| DomainError::InvalidTokens {
            detail: format!("{quantity} results at {rate} tokens each is more than can be charged"),
        })
}

#[cfg(test)]
mod tests;
