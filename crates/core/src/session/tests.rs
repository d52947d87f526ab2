//! The engine on the spec's scenarios, with a manual clock and a tiny in-memory "store".

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::ids::{PeriodId, SessionId};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn t(n: u64) -> Tokens {
    Tokens::new(n).unwrap()
}

const FLEX7: Access = Access {
    kind: AccessKind::Flex,
    rate: Tokens::ZERO,
};

fn flex(rate: u64) -> Access {
    Access {
        rate: t(rate),
        ..FLEX7
    }
}

/// Applies plans like the store would, and keeps the books.
struct Sim {
    usage: Usage,
    next: i64,
    charged: u64,
    refunded: u64,
    /// (period start, tokens) of every period opened.
    periods: Vec<(DateTime<Utc>, u64)>,
}

impl Sim {
    fn new(idle_aware: bool) -> Sim {
        Sim {
            usage: Usage {
                idle_aware,
                period: None,
                sessions: vec![],
                unlisted: false,
            },
            next: 1,
            charged: 0,
            refunded: 0,
            periods: vec![],
        }
    }

    fn apply(&mut self, plan: &Plan, refunded_tokens: u64) {
        for p in &plan.open {
            self.charged += p.tokens.get();
            self.periods.push((p.started_at, p.tokens.get()));
        }
        if plan.refund.is_some() {
            self.refunded += refunded_tokens;
        }
        if let Some(p) = &mut self.usage.period
            && p.id < PeriodId(0)
        {
            p.id = PeriodId(1000 + self.next);
            self.next += 1;
        }
    }

    fn sign_in(&mut self, access: Access, now: DateTime<Utc>) -> SessionId {
        let before = self.usage.period.as_ref().map_or(0, |p| p.tokens.get());
        let plan = sign_in(&mut self.usage, access, now);
        self.apply(&plan, before);
        let id = SessionId(self.next);
        self.next += 1;
        self.usage.sessions.push(Session {
            id,
            started_at: now,
            last_seen_at: now,
            last_active_at: now,
        });
        id
    }

    fn beat(&mut self, s: SessionId, active: bool, access: Access, now: DateTime<Utc>) -> Plan {
        let plan = heartbeat(&mut self.usage, s, active, access, now).expect("a live session");
        self.apply(&plan, 0);
        plan
    }

    /// Keeps a session in use from `from` to `to`, beating every 5 minutes.
    fn use_until(&mut self, s: SessionId, access: Access, from: DateTime<Utc>, to: DateTime<Utc>) {
        let mut now = from;
        while now < to {
            now = (now + Duration::minutes(5)).min(to);
            self.beat(s, true, access, now);
        }
    }

    fn sign_out(&mut self, s: SessionId, access: Access, now: DateTime<Utc>) -> Plan {
        let before = self.usage.period.as_ref().map_or(0, |p| p.tokens.get());
        let plan = sign_out(&mut self.usage, s, Some(access), now).unwrap();
        self.apply(&plan, before);
        plan
    }

    fn net(&self) -> u64 {
        self.charged - self.refunded
    }

    /// The id of the current usage period (the one a refund must name).
    fn period_id(&self) -> PeriodId {
        self.usage.period.as_ref().expect("a usage period").id
    }
}

#[test]
fn r_ses_2_3_the_canonical_day_charges_14_tokens_over_two_usage_days() {
    let mut sim = Sim::new(false);
    let a = flex(7);
    // Monday 08:00 opens AutoCAD: 7 tokens, period to Tuesday 08:00. Closed at 17:00.
    let s = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    assert_eq!(sim.charged, 7);
    sim.use_until(s, a, at("2026-01-05T08:00:00Z"), at("2026-01-05T17:00:00Z"));
    sim.sign_out(s, a, at("2026-01-05T17:00:00Z"));
    // Tuesday 07:00: Monday's period still runs; nothing charged.
    let s = sim.sign_in(a, at("2026-01-06T07:00:00Z"));
    assert_eq!(sim.charged, 7);
    // In use at 08:00: the next period opens at 08:00 and charges 7.
    sim.use_until(s, a, at("2026-01-06T07:00:00Z"), at("2026-01-06T17:00:00Z"));
    sim.sign_out(s, a, at("2026-01-06T17:00:00Z"));
    assert_eq!(sim.net(), 14);
    assert_eq!(
        sim.periods,
        vec![
            (at("2026-01-05T08:00:00Z"), 7),
            (at("2026-01-06T08:00:00Z"), 7)
        ],
        "two usage days"
    );
    // No more use that week.
    let p = sweep(&mut sim.usage, Some(a), at("2026-01-11T00:00:00Z"));
    assert!(p.open.is_empty());
}

#[test]
fn r_ses_2_reopening_and_other_versions_within_the_period_charge_nothing() {
    let mut sim = Sim::new(false);
    let a = flex(7);
    let s1 = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    sim.use_until(
        s1,
        a,
        at("2026-01-05T08:00:00Z"),
        at("2026-01-05T08:30:00Z"),
    );
    let _s2 = sim.sign_in(a, at("2026-01-05T08:30:00Z")); // a second version, in parallel
    sim.use_until(
        s1,
        a,
        at("2026-01-05T08:30:00Z"),
        at("2026-01-05T09:00:00Z"),
    );
    sim.sign_out(s1, a, at("2026-01-05T09:00:00Z"));
    sim.sign_in(a, at("2026-01-05T20:00:00Z"));
    assert_eq!(sim.charged, 7);
}

#[test]
fn r_ses_4_grace_refunds_a_period_closed_within_five_minutes() {
    let a = flex(7);
    let mut quick = Sim::new(false);
    let s = quick.sign_in(a, at("2026-01-05T08:00:00Z"));
    let period = quick.period_id();
    let plan = quick.sign_out(s, a, at("2026-01-05T08:04:00Z"));
    assert_eq!(
        plan.refund,
        Some(period),
        "the sign-in's period is refunded"
    );
    assert_eq!(quick.net(), 0);

    let mut slow = Sim::new(false);
    let s = slow.sign_in(a, at("2026-01-05T08:00:00Z"));
    slow.beat(s, true, a, at("2026-01-05T08:05:00Z"));
    let plan = slow.sign_out(s, a, at("2026-01-05T08:06:00Z"));
    assert!(plan.refund.is_none());
    assert_eq!(slow.net(), 7);

    // Exactly five minutes is still within.
    let mut edge = Sim::new(false);
    let s = edge.sign_in(a, at("2026-01-05T08:00:00Z"));
    let period = edge.period_id();
    assert_eq!(
        edge.sign_out(s, a, at("2026-01-05T08:05:00Z")).refund,
        Some(period)
    );
}

#[test]
fn r_ses_4_grace_needs_every_session_of_the_period_to_end_in_time() {
    let a = flex(7);
    let mut sim = Sim::new(false);
    let s1 = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    let s2 = sim.sign_in(a, at("2026-01-05T08:01:00Z"));
    assert!(
        sim.sign_out(s1, a, at("2026-01-05T08:02:00Z"))
            .refund
            .is_none(),
        "s2 still open"
    );
    sim.use_until(
        s2,
        a,
        at("2026-01-05T08:02:00Z"),
        at("2026-01-05T08:30:00Z"),
    );
    assert!(
        sim.sign_out(s2, a, at("2026-01-05T08:30:00Z"))
            .refund
            .is_none()
    );
    assert_eq!(sim.net(), 7);
    // After a refund, new use pays again.
    let mut again = Sim::new(false);
    let s = again.sign_in(a, at("2026-01-05T08:00:00Z"));
    again.sign_out(s, a, at("2026-01-05T08:02:00Z"));
    again.sign_in(a, at("2026-01-05T09:00:00Z"));
    assert_eq!(again.net(), 7);
}

#[test]
fn r_ses_5_an_idle_product_pays_again_when_use_resumes_not_at_the_period_end() {
    let a = flex(7);
    let mut sim = Sim::new(true);
    let s = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    sim.use_until(s, a, at("2026-01-05T08:00:00Z"), at("2026-01-05T10:00:00Z"));
    // Idle from 10:00: heartbeats continue without activity, through the period's end.
    let mut now = at("2026-01-05T10:00:00Z");
    while now < at("2026-01-06T12:00:00Z") {
        now += Duration::minutes(5);
        let plan = sim.beat(s, false, a, now);
        assert!(plan.open.is_empty(), "no period opens while paused ({now})");
    }
    assert_eq!(sim.charged, 7);
    // Active again the next day at 12:00: the second charge happens now.
    let plan = sim.beat(s, true, a, at("2026-01-06T12:00:00Z"));
    assert_eq!(plan.open.len(), 1);
    assert_eq!(plan.open[0].started_at, at("2026-01-06T12:00:00Z"));
    assert_eq!(plan.open[0].opened, Opened::Resume);
    assert_eq!(sim.charged, 14);
}

#[test]
fn r_ses_5_a_product_without_idle_awareness_rolls_over_while_open() {
    let a = flex(7);
    let mut sim = Sim::new(false);
    let s = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    let mut now = at("2026-01-05T08:00:00Z");
    while now < at("2026-01-06T09:00:00Z") {
        now += Duration::minutes(5);
        sim.beat(s, false, a, now);
    }
    assert_eq!(sim.periods.last().unwrap().0, at("2026-01-06T08:00:00Z"));
    assert_eq!(sim.charged, 14);
}

#[test]
fn r_ses_6_a_dead_session_is_ended_at_its_last_heartbeat_and_never_charges() {
    let a = flex(7);
    let mut sim = Sim::new(false);
    let s = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    sim.use_until(s, a, at("2026-01-05T08:00:00Z"), at("2026-01-05T10:00:00Z"));
    // The machine crashes after 10:00. The sweep at the next day's 09:00 ends it, charges nothing.
    let plan = sweep(&mut sim.usage, Some(a), at("2026-01-06T09:00:00Z"));
    assert_eq!(
        plan.end,
        vec![(s, at("2026-01-05T10:00:00Z"), EndReason::LeaseExpired)]
    );
    assert!(plan.open.is_empty() && plan.refund.is_none());
    // A heartbeat from it later is refused.
    let gone = heartbeat(&mut sim.usage, s, true, a, at("2026-01-06T09:01:00Z")).unwrap_err();
    assert_eq!(gone.0, SessionGone::Unknown);
    // Dead before its lease ran out? Not yet at 10:15, dead at 10:15:01.
    let mut sim = Sim::new(false);
    let s = sim.sign_in(a, at("2026-01-05T10:00:00Z"));
    assert!(
        sweep(&mut sim.usage, Some(a), at("2026-01-05T10:15:00Z"))
            .end
            .is_empty()
    );
    let gone = heartbeat(&mut sim.usage, s, true, a, at("2026-01-05T10:15:01Z")).unwrap_err();
    assert_eq!(gone.0, SessionGone::Expired);
    // A session that dies within the grace window is refunded like a quick sign-out.
    let mut sim = Sim::new(false);
    let s = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    let period = sim.period_id();
    let plan = sweep(&mut sim.usage, Some(a), at("2026-01-05T09:00:00Z"));
    assert_eq!(plan.refund, Some(period));
    assert_eq!(
        plan.end,
        vec![(s, at("2026-01-05T08:00:00Z"), EndReason::LeaseExpired)],
        "ended at its last heartbeat"
    );
}

#[test]
fn r_ses_3_the_sweep_charges_at_the_period_end_while_in_use() {
    let a = flex(7);
    let mut sim = Sim::new(false);
    let s = sim.sign_in(a, at("2026-01-05T08:00:00Z"));
    sim.use_until(s, a, at("2026-01-05T08:00:00Z"), at("2026-01-06T07:55:00Z"));
    let plan = sweep(&mut sim.usage, Some(a), at("2026-01-06T08:00:00Z"));
    assert_eq!(plan.open.len(), 1);
    assert_eq!(plan.open[0].started_at, at("2026-01-06T08:00:00Z"));
    assert_eq!(plan.open[0].opened, Opened::Rollover);
}

#[test]
fn r_pri_1_2_3_subscription_then_trial_then_flex() {
    let now = at("2026-03-01T10:00:00Z");
    let sub = Entitlement {
        kind: AccessKind::Subscription,
        starts_at: at("2026-01-01T00:00:00Z"),
        ends_at: at("2027-01-01T00:00:00Z"),
    };
    let trial = Entitlement {
        kind: AccessKind::Trial,
        starts_at: at("2026-02-20T00:00:00Z"),
        ends_at: at("2026-03-06T00:00:00Z"),
    };
    let ok = FlexStanding::Active {
        product_allowed: true,
    };
    let r = |e: &[Entitlement], f| resolve_access(e, f, false, t(7), now);
    assert_eq!(
        r(&[trial, sub], ok).unwrap(),
        Access {
            kind: AccessKind::Subscription,
            rate: t(0)
        }
    );
    assert_eq!(
        r(&[trial], FlexStanding::NotAssigned).unwrap().kind,
        AccessKind::Trial
    );
    assert_eq!(r(&[], ok).unwrap(), flex(7));
    let code = |e: &[Entitlement], f| r(e, f).unwrap_err().code();
    assert_eq!(
        code(&[], FlexStanding::NotAssigned),
        crate::ErrorCode::NotAssigned
    );
    assert_eq!(
        code(&[], FlexStanding::InvitationPending),
        crate::ErrorCode::InvitationPending
    );
    assert_eq!(
        code(
            &[],
            FlexStanding::Active {
                product_allowed: false
            }
        ),
        crate::ErrorCode::ProductNotAllowed
    );
    let ended = Entitlement {
        ends_at: now,
        ..trial
    };
    assert_eq!(
        code(&[ended], FlexStanding::NotAssigned),
        crate::ErrorCode::NotAssigned,
        "ended at now"
    );
    assert_eq!(
        resolve_access(&[sub], ok, true, t(7), now)
            .unwrap_err()
            .code(),
        crate::ErrorCode::TeamClosed
    );
}

#[test]
fn r_pri_2_the_first_sign_in_after_a_trial_ends_pays() {
    let mut sim = Sim::new(false);
    let trial = Access::new(AccessKind::Trial, t(7));
    let s = sim.sign_in(trial, at("2026-01-05T08:00:00Z"));
    sim.sign_out(s, trial, at("2026-01-05T09:00:00Z"));
    assert_eq!(sim.charged, 0);
    // The trial ended at 12:00; the 13:00 sign-in is inside the trial's 24 hours, but pays.
    sim.sign_in(flex(7), at("2026-01-05T13:00:00Z"));
    assert_eq!(sim.charged, 7);
}

#[test]
fn r_ses_9_a_trial_starting_at_the_instant_of_a_paid_period_opens_no_second_period() {
    let mut sim = Sim::new(false);
    let start = at("2026-01-05T08:00:00Z");
    sim.sign_in(flex(7), start);
    // The trial begins at this very instant: the period opened now covers the instant.
    let trial = Access::new(AccessKind::Trial, t(7));
    sim.sign_in(trial, start);
    assert_eq!(sim.periods, vec![(start, 7)], "one period per instant");
    // A moment later the trial is not covered by the Flex period: it opens its own, free.
    let later = start + Duration::seconds(1);
    sim.sign_in(trial, later);
    assert_eq!(sim.periods, vec![(start, 7), (later, 0)]);
    assert_eq!(sim.net(), 7);
}

#[test]
fn r_ses_8_results_cost_rate_times_quantity_under_flex_only() {
    assert_eq!(result_tokens(AccessKind::Flex, t(5), 3).unwrap(), t(15));
    assert_eq!(
        result_tokens(AccessKind::Subscription, t(5), 3).unwrap(),
        t(0)
    );
    assert!(result_tokens(AccessKind::Flex, t(1_000_000), u64::MAX / 2).is_err());
}

#[test]
fn r_pri_3_a_subscription_wins_over_a_trial_and_a_trial_over_flex() {
    let all = |_| true;
    let none = |_| false;
    let trial = |k| k == AccessKind::Trial;
    assert_eq!(preferred_access(all, true), Some(AccessKind::Subscription));
    assert_eq!(preferred_access(trial, true), Some(AccessKind::Trial));
    assert_eq!(preferred_access(none, true), Some(AccessKind::Flex));
    assert_eq!(preferred_access(none, false), None);
}

/// The heartbeat that skips the team's lock: wherever [`heartbeat_is_quiet`] says nothing is due,
/// the engine's locked heartbeat plans nothing either (no period, refund or end) — for sessions
/// beating at every minute of a day, idle-aware or not, last seen from just now to past the lease.
#[test]
fn r_ses_2_6_a_quiet_heartbeat_is_one_the_engine_would_plan_nothing_for() {
    let start = at("2026-01-05T08:00:00Z");
    let mut quiet_seen = 0;
    for idle_aware in [false, true] {
        for minutes in (0..=26 * 60).step_by(7) {
            for since_seen in [0, 1, 5, 13, 14, 15, 16, 30] {
                let mut sim = Sim::new(idle_aware);
                let s = sim.sign_in(flex(7), start);
                let now = start + Duration::minutes(minutes);
                let last_seen = now - Duration::minutes(since_seen);
                if last_seen < start {
                    continue;
                }
                sim.usage.sessions[0].last_seen_at = last_seen;
                sim.usage.sessions[0].last_active_at = last_seen;
                let latest = sim.usage.period.clone().expect("a period");
                if !heartbeat_is_quiet(&latest, last_seen, now) {
                    continue;
                }
                quiet_seen += 1;
                let plan = heartbeat(&mut sim.usage, s, true, flex(7), now).expect("live");
                assert!(
                    plan.open.is_empty() && plan.refund.is_none() && plan.end.is_empty(),
                    "quiet at +{minutes} min, seen {since_seen} min before, idle-aware {idle_aware}: {plan:?}"
                );
            }
        }
    }
    assert!(
        quiet_seen > 100,
        "the grid reaches quiet heartbeats: {quiet_seen}"
    );
    // And the margins: a minute before the period ends, or before the lease runs out, is not quiet.
    let mut sim = Sim::new(false);
    sim.sign_in(flex(7), start);
    let latest = sim.usage.period.clone().expect("a period");
    let end = latest.ends_at;
    assert!(heartbeat_is_quiet(
        &latest,
        end - Duration::minutes(5),
        end - Duration::minutes(2)
    ));
    assert!(!heartbeat_is_quiet(
        &latest,
        end - Duration::minutes(5),
        end - Duration::seconds(30)
    ));
    let now = start + Duration::hours(1);
    assert!(!heartbeat_is_quiet(
        &latest,
        now - Duration::minutes(14) - Duration::seconds(30),
        now
    ));
    assert!(
        !heartbeat_is_quiet(&latest, now + Duration::seconds(1), now),
        "seen in the future"
    );
    let refunded = Period {
        refunded: true,
        ..latest
    };
    assert!(!heartbeat_is_quiet(&refunded, now, now));
}

mod listed {
    //! [`Usage::listed_for`]: a sign-in or sign-out plans the same on the sessions it lists (or on
    //! any list that holds those) as on every open session.

    use proptest::prelude::*;

    use super::*;

    fn base() -> DateTime<Utc> {
        at("2026-01-05T08:00:00Z")
    }

    /// A time before `now` (seconds back): mostly close to it, where the lease (15 minutes), the
    /// grace window (5 minutes) and a period's end fall, sometimes up to two days back.
    fn back() -> impl Strategy<Value = i64> {
        prop_oneof![3 => 0_i64..1_800, 1 => 0_i64..172_800]
    }

    /// Up to six open sessions, each started, last seen and last active at or before `now`; a
    /// latest period started by then too, running or over, maybe refunded, maybe free.
    fn usage_at() -> impl Strategy<Value = (Usage, DateTime<Utc>)> {
        let session = (back(), back(), back()).prop_map(|(a, b, c)| {
            let mut backs = [a, b, c];
            backs.sort_unstable();
            // Started first, then last active, then last seen.
            (backs[2], backs[0], backs[1])
        });
        // Periods that start within a day of now are the ones still running.
        let period = proptest::option::of((
            prop_oneof![back(), 80_000_i64..90_000],
            any::<bool>(),
            prop_oneof![Just(0_u64), Just(7_u64)],
        ));
        (
            any::<bool>(),
            period,
            proptest::collection::vec(session, 0..6),
        )
            .prop_map(|(idle_aware, period, sessions)| {
                let now = base() + Duration::days(3);
                let ago = |secs: i64| now - Duration::seconds(secs);
                let usage = Usage {
                    idle_aware,
                    period: period.map(|(start, refunded, tokens)| Period {
                        id: PeriodId(1),
                        access: AccessKind::Flex,
                        started_at: ago(start),
                        ends_at: ago(start) + period_length(),
                        tokens: t(tokens),
                        refunded,
                    }),
                    sessions: sessions
                        .into_iter()
                        .enumerate()
                        .map(|(i, (start, seen, active))| Session {
                            id: SessionId(i as i64 + 1),
                            started_at: ago(start),
                            last_seen_at: ago(seen),
                            last_active_at: ago(active),
                        })
                        .collect(),
                    unlisted: false,
                };
                (usage, now)
            })
    }

    /// The listed usage, with some of the sessions it leaves out listed after all (a store may
    /// list more than it must).
    fn with_extra(listed: Usage, all: &Usage, extra: &[bool]) -> Usage {
        let mut sessions = listed.sessions.clone();
        for (s, add) in all.sessions.iter().zip(extra) {
            if *add && !sessions.contains(s) {
                sessions.push(s.clone());
            }
        }
        sessions.sort_by_key(|s| s.id);
        let unlisted = all.sessions.iter().any(|s| !sessions.contains(s));
        Usage {
            sessions,
            unlisted,
            ..listed
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn a_step_plans_the_same_on_the_sessions_it_lists(
            (usage, now) in usage_at(),
            own in 0_i64..8,
            extra in proptest::collection::vec(any::<bool>(), 6),
        ) {
            // Sign-in.
            let listed = with_extra(usage.listed_for(None, now), &usage, &extra);
            prop_assert!(listed.sessions.iter().all(|s| usage.sessions.contains(s)));
            let (mut whole, mut part) = (usage.clone(), listed);
            let plan = sign_in(&mut whole, flex(7), now);
            prop_assert_eq!(&plan, &sign_in(&mut part, flex(7), now));
            prop_assert_eq!(whole.period, part.period);
            // Sign-out of one of the sessions, or of one that is not open (own 0 or past them).
            let own = SessionId(own);
            let listed = with_extra(usage.listed_for(Some(own), now), &usage, &extra);
            let (mut whole, mut part) = (usage.clone(), listed);
            let plan = sign_out(&mut whole, own, Some(flex(7)), now);
            prop_assert_eq!(&plan, &sign_out(&mut part, own, Some(flex(7)), now));
            prop_assert_eq!(whole.period, part.period);
        }
    }

    /// The listing leaves out live sessions, and only when the period runs on.
    #[test]
    fn live_sessions_of_a_running_period_are_only_counted() {
        let mut sim = Sim::new(false);
        let start = base();
        let first = sim.sign_in(flex(7), start);
        let second = sim.sign_in(flex(7), start + Duration::minutes(1));
        let now = start + Duration::minutes(2);
        let listed = sim.usage.listed_for(Some(second), now);
        assert_eq!(
            listed.sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![second]
        );
        assert!(listed.unlisted, "{first} is open and not listed");
        // Signing the second out refunds nothing: the first is still open, though unlisted.
        let mut part = listed;
        let plan = sign_out(&mut part, second, Some(flex(7)), now).expect("open");
        assert_eq!(plan.refund, None);
        // A day later the period is over: every session is listed.
        let later = start + Duration::hours(25);
        let listed = sim.usage.listed_for(None, later);
        assert_eq!(listed.sessions.len(), 2);
        assert!(!listed.unlisted);
        assert!(lists_every_session(sim.usage.period.as_ref(), later));
        assert!(!lists_every_session(sim.usage.period.as_ref(), now));
    }
}
