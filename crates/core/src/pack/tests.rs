use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn pack(id: i64, tokens: u64, remaining: u64, purchased: &str) -> PackState {
    let purchased_at = at(purchased);
    PackState {
        id: PackId(id),
        tokens: Tokens::new(tokens).unwrap(),
        remaining: Tokens::new(remaining).unwrap(),
        moved_out: Tokens::ZERO,
        purchased_at,
        expires_at: expiry_for(purchased_at),
    }
}

fn t(n: u64) -> Tokens {
    Tokens::new(n).unwrap()
}

fn draws(v: &[(i64, u64)]) -> Vec<Draw> {
    v.iter()
        .map(|&(p, n)| Draw {
            pack: PackId(p),
            tokens: t(n),
        })
        .collect()
}

#[test]
fn r_pack_1_a_pack_is_valid_one_calendar_year() {
    assert_eq!(
        expiry_for(at("2026-03-15T10:30:00Z")),
        at("2027-03-15T10:30:00Z")
    );
    assert_eq!(
        expiry_for(at("2026-12-31T23:59:59Z")),
        at("2027-12-31T23:59:59Z")
    );
}

#[test]
fn r_pack_1_leap_day_purchase_expires_on_28_february() {
    assert_eq!(
        expiry_for(at("2028-02-29T09:00:00Z")),
        at("2029-02-28T09:00:00Z")
    );
    // The day before a leap day is a plain year later, into the leap year.
    assert_eq!(
        expiry_for(at("2027-02-28T09:00:00Z")),
        at("2028-02-28T09:00:00Z")
    );
}

#[test]
fn r_pack_2_a_pack_is_expired_at_its_expiry_instant() {
    let p = pack(1, 10, 10, "2026-01-01T00:00:00Z");
    assert!(p.is_usable(at("2026-12-31T23:59:59Z")));
    assert!(!p.is_usable(at("2027-01-01T00:00:00Z")));
    let due = due_expiries(std::slice::from_ref(&p), at("2027-01-01T00:00:00Z"));
    assert_eq!(
        due,
        vec![Expiry {
            pack: PackId(1),
            tokens: t(10),
            at: p.expires_at
        }]
    );
    assert!(due_expiries(&[p], at("2026-12-31T00:00:00Z")).is_empty());
}

#[test]
fn r_pack_3_earliest_expiry_is_used_first() {
    let now = at("2026-06-01T00:00:00Z");
    let packs = [
        pack(1, 100, 100, "2026-03-01T00:00:00Z"),
        pack(2, 100, 100, "2026-02-01T00:00:00Z"),
    ];
    assert_eq!(plan_draw(&packs, t(30), now).unwrap(), draws(&[(2, 30)]));
}

#[test]
fn r_pack_3_on_equal_expiry_the_smallest_pack_then_the_oldest_purchase() {
    let now = at("2026-06-01T00:00:00Z");
    let mut big = pack(1, 500, 500, "2026-02-01T00:00:00Z");
    let small = pack(2, 50, 50, "2026-02-01T00:00:00Z");
    // A moved-in pack keeps the source's expiry and purchase time; give `older` an earlier
    // purchase but the same expiry as `small` to test the third key.
    let mut older = pack(3, 50, 50, "2026-01-15T00:00:00Z");
    older.expires_at = small.expires_at;
    big.remaining = t(400);
    let packs = [big, small, older];
    assert_eq!(
        plan_draw(&packs, t(120), now).unwrap(),
        draws(&[(3, 50), (2, 50), (1, 20)])
    );
}

#[test]
fn r_pack_3_a_charge_spans_packs() {
    let now = at("2026-06-01T00:00:00Z");
    let packs = [
        pack(1, 10, 3, "2026-01-01T00:00:00Z"),
        pack(2, 10, 10, "2026-02-01T00:00:00Z"),
    ];
    assert_eq!(
        plan_draw(&packs, t(7), now).unwrap(),
        draws(&[(1, 3), (2, 4)])
    );
}

#[test]
fn r_pack_2_expired_packs_never_pay() {
    let packs = [
        pack(1, 100, 100, "2025-01-01T00:00:00Z"),
        pack(2, 10, 10, "2025-06-01T00:00:00Z"),
    ];
    let now = at("2026-01-01T00:00:00Z"); // pack 1 expired this instant
    assert_eq!(plan_draw(&packs, t(10), now).unwrap(), draws(&[(2, 10)]));
    assert_eq!(
        plan_draw(&packs, t(11), now).unwrap_err(),
        DomainError::InsufficientTokens {
            needed: 11,
            available: 10
        }
    );
}

#[test]
fn r_pack_4_no_overdraft_and_zero_draws_nothing() {
    let now = at("2026-06-01T00:00:00Z");
    let packs = [pack(1, 5, 5, "2026-01-01T00:00:00Z")];
    assert_eq!(
        plan_draw(&packs, t(6), now).unwrap_err().code(),
        crate::ErrorCode::InsufficientTokens
    );
    assert_eq!(plan_draw(&packs, Tokens::ZERO, now).unwrap(), vec![]);
    assert_eq!(plan_draw(&[], Tokens::ZERO, now).unwrap(), vec![]);
}

#[test]
fn r_rep_1_balance_counts_only_active_packs() {
    let now = at("2026-06-01T00:00:00Z");
    let mut moved = pack(2, 100, 40, "2026-02-01T00:00:00Z");
    moved.moved_out = t(50); // 50 moved away, 10 used, 40 left
    let packs = [
        pack(1, 100, 100, "2025-01-01T00:00:00Z"), // expired
        moved,
        pack(3, 20, 20, "2026-03-01T00:00:00Z"),
    ];
    let b = summarize(&packs, now, LowPercent::DEFAULT).unwrap();
    assert_eq!((b.available, b.used, b.total), (t(60), t(10), t(70)));
    assert!(!b.low);
    assert!(is_low(t(19), t(100), 20));
    assert!(!is_low(t(20), t(100), 20));
    assert!(!is_low(Tokens::ZERO, Tokens::ZERO, 20));
}

fn arb_packs() -> impl Strategy<Value = Vec<PackState>> {
    let start = at("2026-01-01T00:00:00Z");
    prop::collection::vec((1u64..200, 0u64..=100, 0i64..400), 0..12).prop_map(move |raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (tokens, used_pct, day))| {
                let purchased_at = start + Duration::days(day);
                PackState {
                    id: PackId(i as i64 + 1),
                    tokens: Tokens::new(tokens).unwrap(),
                    remaining: Tokens::new(tokens * (100 - used_pct) / 100).unwrap(),
                    moved_out: Tokens::ZERO,
                    purchased_at,
                    expires_at: expiry_for(purchased_at),
                }
            })
            .collect()
    })
}

proptest! {
    /// R-PACK-3/4 for any packs, amount and time: either the draws pay exactly the amount, from
    /// usable packs only, as a prefix of the consumption order in which every pack but the last is
    /// emptied; or nothing is drawn because the usable tokens fall short.
    #[test]
    fn r_pack_3_draws_follow_the_consumption_order(
        packs in arb_packs(),
        amount in 0u64..2_000,
        day in 0i64..800,
    ) {
        let now = at("2026-01-01T00:00:00Z") + Duration::days(day);
        let amount = Tokens::new(amount).unwrap();
        let mut order: Vec<&PackState> = packs.iter().filter(|p| p.is_usable(now)).collect();
        order.sort_by(|a, b| consumption_order(a, b));
        let usable: u64 = order.iter().map(|p| p.remaining.get()).sum();

        match plan_draw(&packs, amount, now) {
            Ok(draws) => {
                prop_assert!(usable >= amount.get());
                prop_assert_eq!(draws.iter().map(|d| d.tokens.get()).sum::<u64>(), amount.get());
                prop_assert!(draws.len() <= order.len());
                for (i, d) in draws.iter().enumerate() {
                    let p = order[i];
                    prop_assert_eq!(d.pack, p.id, "draw {} out of order", i);
                    prop_assert!(p.is_usable(now));
                    prop_assert!(!d.tokens.is_zero() && d.tokens <= p.remaining);
                    if i + 1 < draws.len() {
                        prop_assert_eq!(d.tokens, p.remaining, "pack emptied before the next");
                    }
                }
            }
            Err(DomainError::InsufficientTokens { needed, available }) => {
                prop_assert_eq!(needed, amount.get());
                prop_assert_eq!(available, usable);
                prop_assert!(usable < amount.get());
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn r_pack_1_expiry_is_within_a_year_and_a_day_and_keeps_the_time_of_day(
        secs in 0i64..(400 * 365 * 86_400),
    ) {
        let purchased = at("2000-01-01T00:00:00Z") + Duration::seconds(secs);
        let expires = expiry_for(purchased);
        let days = (expires - purchased).num_days();
        prop_assert!(days == 365 || days == 366, "{} days", days);
        prop_assert_eq!(expires.time(), purchased.time());
    }
}

#[test]
fn days_until_expiry_round_up() {
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    assert_eq!(days_until(now, now + Duration::days(90)), 90);
    assert_eq!(
        days_until(now, now + Duration::days(90) - Duration::hours(12)),
        90
    );
    assert_eq!(
        days_until(now, now + Duration::days(90) + Duration::seconds(1)),
        91
    );
}

#[test]
fn r_not_1_expiry_warnings_reached_and_the_nearest_to_send() {
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let at = |days: i64| now + Duration::days(days);
    assert_eq!(expiry_warnings_reached(now, at(91)), None);
    assert_eq!(expiry_warnings_reached(now, at(90)), Some((vec![90], 90)));
    assert_eq!(expiry_warnings_reached(now, at(31)), Some((vec![90], 90)));
    assert_eq!(
        expiry_warnings_reached(now, at(30)),
        Some((vec![90, 30], 30))
    );
    // A clock that jumps past all three sends only the nearest.
    assert_eq!(
        expiry_warnings_reached(now, at(2)),
        Some((vec![90, 30, 7], 7))
    );
}

#[test]
fn r_rep_1_the_low_balance_threshold_is_1_to_99_percent() {
    assert_eq!(LowPercent::parse(1).unwrap().get(), 1);
    assert_eq!(LowPercent::parse(99).unwrap().get(), 99);
    for bad in [0, 100, -1, 256, i64::MAX] {
        let e = LowPercent::parse(bad).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::InvalidRange);
        assert!(e.to_string().contains(&format!("got {bad}")), "{e}");
        assert_eq!(
            LowPercent::from_stored(bad).unwrap_err().code(),
            crate::ErrorCode::LedgerCorrupt
        );
    }
    assert_eq!(LowPercent::DEFAULT.get(), 20);
}
