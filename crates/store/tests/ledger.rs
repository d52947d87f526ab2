//! The store's conformance suite for the ledger (R-CAT-*, R-PACK-*), run on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use chrono::{DateTime, Duration, Utc};
use jeton_core::ledger::{Actor, Cause, CauseKind, EventKind};
use jeton_core::product::{ProductDraft, ProductPatch, parse_result_rates};
use jeton_core::{
    DomainError, DownloadItem, IdempotencyKey, ProductKey, ProductName, TeamId, TeamName, Tokens,
    UserId,
};
use jeton_store::testing::TestDb;
use jeton_store::{Store, StoreError, both_backends};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn t(n: u64) -> Tokens {
    Tokens::new(n).unwrap()
}

async fn team(store: &Store, name: &str, now: DateTime<Utc>) -> TeamId {
    store
        .create_team(&TeamName::parse(name).unwrap(), None, now)
        .await
        .unwrap()
        .id
}

async fn assert_reconciles(store: &Store, team: TeamId) {
    let audit = store.audit_team(team).await.unwrap();
    assert!(audit.is_clean(), "ledger does not reconcile: {audit:?}");
}

both_backends! {
    r_cat_1_products_are_added_listed_and_changed => products,
    r_pack_1_purchase_creates_a_pack_valid_one_calendar_year => purchase,
    r_pack_1_leap_day_purchase_expires_on_28_february => leap_day,
    r_pack_2_expiry_writes_expired_events_and_tokens_become_unusable => expiry,
    r_pack_3_a_charge_spans_packs_in_consumption_order => charge_order,
    r_pack_4_no_overdraft_and_a_refused_charge_writes_nothing => no_overdraft,
    r_pack_6_moves_keep_expiry_and_are_all_or_nothing => moves,
    r_pack_7_merge_moves_packs_and_history_and_closes_the_source => merge,
    a_team_is_renamed_but_not_once_closed => rename,
    purchases_with_an_idempotency_key_create_one_pack => idempotent_purchase,
    r_pack_5_the_ledger_is_append_only => append_only,
}

async fn products(db: TestDb) {
    let store = db.store().await;
    let now = at("2026-01-05T08:00:00Z");
    let draft = ProductDraft {
        key: ProductKey::parse("autocad").unwrap(),
        name: ProductName::parse("AutoCAD").unwrap(),
        daily_rate: t(7),
        result_rates: parse_result_rates([("render.cloud", 5)]).unwrap(),
        idle_awareness: true,
        items: vec![DownloadItem::parse("2027", "windows", "https://dl.test/acad.exe").unwrap()],
    };
    let p = store
        .create_product(&draft, Actor::Operator, now)
        .await
        .unwrap();
    assert_eq!(p.added_at, now);
    assert!(p.idle_awareness);
    let dup = store
        .create_product(&draft, Actor::Operator, now)
        .await
        .unwrap_err();
    assert!(
        matches!(
            dup,
            StoreError::Domain(DomainError::DuplicateProduct { .. })
        ),
        "{dup:?}"
    );

    let later = now + Duration::days(3);
    let patch = ProductPatch {
        daily_rate: Some(t(9)),
        ..ProductPatch::default()
    };
    let changed = store
        .update_product(&draft.key, &patch, Actor::Operator, later)
        .await
        .unwrap();
    assert_eq!(changed.daily_rate, t(9));
    assert_eq!(
        changed.added_at, now,
        "R-CAT-2: the date it entered Flex stays"
    );
    assert_eq!(changed.items, draft.items);
    assert_eq!(changed.result_rates, draft.result_rates);
    let history = store.rate_history(&draft.key).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.at, h.daily_rate))
            .collect::<Vec<_>>(),
        vec![(now, t(7)), (later, t(9))],
        "R-CAT-3: the rate history says from when each rate applies"
    );
    let list = store.list_products().await.unwrap();
    assert_eq!(list, vec![changed.clone()]);
    assert_eq!(store.product(&draft.key).await.unwrap(), changed);
    let missing = ProductKey::parse("revit").unwrap();
    assert!(matches!(
        store.product(&missing).await.unwrap_err(),
        StoreError::NotFound {
            what: "product",
            ..
        }
    ));
}

async fn purchase(db: TestDb) {
    let store = db.store().await;
    let now = at("2026-03-15T10:30:00Z");
    let team = team(&store, "Design", now).await;
    let p = store
        .purchase(team, t(1000), Actor::Operator, now, None)
        .await
        .unwrap();
    assert!(!p.replayed);
    assert_eq!(p.pack.tokens, t(1000));
    assert_eq!(p.pack.remaining, t(1000));
    assert_eq!(p.pack.purchased_at, now);
    assert_eq!(p.pack.expires_at, at("2027-03-15T10:30:00Z"));
    let b = store.balance(team, now).await.unwrap();
    assert_eq!(
        (b.summary.available, b.summary.total, b.summary.used),
        (t(1000), t(1000), t(0))
    );
    let events = store
        .events(
            team,
            now - Duration::days(1),
            now + Duration::days(1),
            100,
            now,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].amount, events[0].pack),
        (EventKind::Purchased, 1000, p.pack.id)
    );
    assert_eq!(events[0].actor, Actor::Operator);
    assert!(matches!(
        store
            .purchase(TeamId(9999), t(1), Actor::Operator, now, None)
            .await
            .unwrap_err(),
        StoreError::NotFound { what: "team", .. }
    ));
    assert_reconciles(&store, team).await;
}

async fn leap_day(db: TestDb) {
    let store = db.store().await;
    let now = at("2028-02-29T12:00:00Z");
    let team = team(&store, "Leap", now).await;
    let p = store
        .purchase(team, t(10), Actor::Operator, now, None)
        .await
        .unwrap();
    assert_eq!(p.pack.expires_at, at("2029-02-28T12:00:00Z"));
    let before = at("2029-02-28T11:59:59Z");
    assert_eq!(
        store.balance(team, before).await.unwrap().summary.available,
        t(10)
    );
    let after = at("2029-02-28T12:00:00Z");
    assert_eq!(
        store.balance(team, after).await.unwrap().summary.available,
        t(0)
    );
}

async fn expiry(db: TestDb) {
    let store = db.store().await;
    let start = at("2026-01-10T09:00:00Z");
    let team = team(&store, "Ops", start).await;
    let old = store
        .purchase(team, t(100), Actor::Operator, start, None)
        .await
        .unwrap()
        .pack;
    let later = start + Duration::days(200);
    let new = store
        .purchase(team, t(50), Actor::Operator, later, None)
        .await
        .unwrap()
        .pack;
    store
        .charge(
            team,
            t(30),
            &Cause::new(CauseKind::Session, "s1"),
            Actor::User(UserId(1)),
            later,
        )
        .await
        .unwrap();

    // The sweep after the old pack's expiry writes one `expired` event at the expiry instant.
    let after = old.expires_at + Duration::hours(5);
    let sweep = store.expire_due(after).await.unwrap();
    assert_eq!((sweep.teams, sweep.packs, sweep.tokens), (1, 1, 70));
    assert_eq!(
        store.expire_due(after).await.unwrap().packs,
        0,
        "expiry is written once"
    );
    let events = store.events(team, start, after, 100, after).await.unwrap();
    let expired: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Expired)
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].amount, expired[0].pack, expired[0].at),
        (-70, old.id, old.expires_at)
    );
    assert_eq!(expired[0].actor, Actor::System);

    // Expired tokens are never usable, even before a sweep has run.
    let b = store.balance(team, after).await.unwrap();
    assert_eq!(b.summary.available, t(50));
    assert_eq!(
        b.packs.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![new.id]
    );
    let err = store
        .charge(
            team,
            t(51),
            &Cause::new(CauseKind::Session, "s2"),
            Actor::User(UserId(1)),
            after,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Domain(DomainError::InsufficientTokens { .. })
    ));
    assert_reconciles(&store, team).await;
}

async fn charge_order(db: TestDb) {
    let store = db.store().await;
    let d0 = at("2026-01-01T00:00:00Z");
    let team = team(&store, "Order", d0).await;
    let a = store
        .purchase(team, t(500), Actor::Operator, d0, None)
        .await
        .unwrap()
        .pack;
    let b = store
        .purchase(team, t(20), Actor::Operator, d0, None)
        .await
        .unwrap()
        .pack;
    let c = store
        .purchase(team, t(100), Actor::Operator, d0 + Duration::days(1), None)
        .await
        .unwrap()
        .pack;
    // Same expiry for a and b: the smaller (b) first, then a, then c (expires a day later).
    let now = d0 + Duration::days(2);
    let r = store
        .charge(
            team,
            t(530),
            &Cause::new(CauseKind::Session, "x"),
            Actor::User(UserId(1)),
            now,
        )
        .await
        .unwrap();
    let drawn: Vec<_> = r.draws.iter().map(|d| (d.pack, d.tokens.get())).collect();
    assert_eq!(drawn, vec![(b.id, 20), (a.id, 500), (c.id, 10)]);
    let events = store
        .events(team, now, now + Duration::seconds(1), 100, now)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventKind::Charged && e.cause.to_string() == "session:x")
    );
    assert_eq!(events.iter().map(|e| e.amount).sum::<i64>(), -530);
    assert_eq!(
        store.balance(team, now).await.unwrap().summary.available,
        t(90)
    );
    assert_reconciles(&store, team).await;
}

async fn no_overdraft(db: TestDb) {
    let store = db.store().await;
    let now = at("2026-05-01T00:00:00Z");
    let team = team(&store, "Small", now).await;
    store
        .purchase(team, t(20), Actor::Operator, now, None)
        .await
        .unwrap();
    let cause = Cause::new(CauseKind::Session, "s");
    store
        .charge(team, t(7), &cause, Actor::User(UserId(1)), now)
        .await
        .unwrap();
    store
        .charge(team, t(7), &cause, Actor::User(UserId(2)), now)
        .await
        .unwrap();
    let err = store
        .charge(team, t(7), &cause, Actor::User(UserId(3)), now)
        .await
        .unwrap_err();
    match err {
        StoreError::Domain(DomainError::InsufficientTokens { needed, available }) => {
            assert_eq!((needed, available), (7, 6));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.balance(team, now).await.unwrap().summary.available,
        t(6)
    );
    let events = store
        .events(
            team,
            now - Duration::days(1),
            now + Duration::days(1),
            100,
            now,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 3, "the refused charge wrote nothing");
    assert_reconciles(&store, team).await;
}

async fn moves(db: TestDb) {
    let store = db.store().await;
    let d0 = at("2026-02-01T00:00:00Z");
    let from = team(&store, "From", d0).await;
    let to = team(&store, "To", d0).await;
    let p1 = store
        .purchase(from, t(30), Actor::Operator, d0, None)
        .await
        .unwrap()
        .pack;
    let p2 = store
        .purchase(from, t(100), Actor::Operator, d0 + Duration::days(10), None)
        .await
        .unwrap()
        .pack;
    let now = d0 + Duration::days(20);

    let m = store
        .move_tokens(from, to, t(50), Actor::Operator, now)
        .await
        .unwrap();
    assert_eq!(m.tokens, t(50));
    let parts: Vec<_> = m
        .packs
        .iter()
        .map(|p| (p.from_pack, p.tokens.get(), p.expires_at))
        .collect();
    assert_eq!(
        parts,
        vec![(p1.id, 30, p1.expires_at), (p2.id, 20, p2.expires_at)]
    );
    let to_balance = store.balance(to, now).await.unwrap();
    assert_eq!(to_balance.summary.available, t(50));
    let mut expiries: Vec<_> = to_balance.packs.iter().map(|p| p.expires_at).collect();
    expiries.sort();
    assert_eq!(
        expiries,
        vec![p1.expires_at, p2.expires_at],
        "moved tokens keep their expiry"
    );
    let from_balance = store.balance(from, now).await.unwrap();
    assert_eq!(from_balance.summary.available, t(80));
    assert_eq!(
        from_balance.summary.total,
        t(80),
        "moved-out tokens leave the total"
    );
    assert_eq!(
        from_balance.summary.used,
        t(0),
        "moved-out tokens are not 'used'"
    );

    // All or nothing: asking for more than is there moves nothing.
    let err = store
        .move_tokens(from, to, t(81), Actor::Operator, now)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Domain(DomainError::InsufficientTokens { .. })
    ));
    assert_eq!(
        store.balance(from, now).await.unwrap().summary.available,
        t(80)
    );
    assert_eq!(
        store.balance(to, now).await.unwrap().summary.available,
        t(50)
    );
    let err = store
        .move_tokens(from, from, t(1), Actor::Operator, now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Domain(DomainError::SameTeam)));
    let err = store
        .move_tokens(from, TeamId(424242), t(1), Actor::Operator, now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));

    // Received tokens expire with their source pack.
    let after = p1.expires_at + Duration::seconds(1);
    assert_eq!(
        store.balance(to, after).await.unwrap().summary.available,
        t(20)
    );
    for team in [from, to] {
        assert_reconciles(&store, team).await;
    }
}

async fn merge(db: TestDb) {
    let store = db.store().await;
    let d0 = at("2026-04-01T00:00:00Z");
    let src = team(&store, "Source", d0).await;
    let dst = team(&store, "Target", d0).await;
    let sp = store
        .purchase(src, t(100), Actor::Operator, d0, None)
        .await
        .unwrap()
        .pack;
    store
        .purchase(dst, t(40), Actor::Operator, d0, None)
        .await
        .unwrap();
    store
        .charge(
            src,
            t(25),
            &Cause::new(CauseKind::Session, "before"),
            Actor::User(UserId(1)),
            d0,
        )
        .await
        .unwrap();
    let now = d0 + Duration::days(1);
    let m = store
        .merge_teams(src, dst, Actor::Operator, now)
        .await
        .unwrap();
    assert_eq!(m.tokens, t(75));
    assert_eq!(m.packs.len(), 1);
    assert_eq!(m.packs[0].expires_at, sp.expires_at);

    let b = store.balance(dst, now).await.unwrap();
    assert_eq!(b.summary.available, t(115));
    assert_eq!(b.summary.total, t(140), "the merged pack keeps its size");
    assert_eq!(b.summary.used, t(25), "and its use: history moves with it");
    assert_eq!(
        store.balance(src, now).await.unwrap().summary.available,
        t(0)
    );
    let closed = store.team(src).await.unwrap();
    assert_eq!(
        (closed.closed_at, closed.merged_into),
        (Some(now), Some(dst))
    );

    // The target's history includes the source's.
    let events = store
        .events(dst, d0, now + Duration::seconds(1), 100, now)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.team == src && e.kind == EventKind::Charged)
    );
    assert_eq!(
        events.iter().map(|e| e.amount).sum::<i64>(),
        115,
        "no token counted twice"
    );

    // A closed team takes no more changes.
    for err in [
        store
            .purchase(src, t(1), Actor::Operator, now, None)
            .await
            .unwrap_err(),
        store
            .charge(
                src,
                t(1),
                &Cause::new(CauseKind::Session, "x"),
                Actor::User(UserId(1)),
                now,
            )
            .await
            .unwrap_err(),
        store
            .move_tokens(dst, src, t(1), Actor::Operator, now)
            .await
            .unwrap_err(),
        store
            .merge_teams(dst, src, Actor::Operator, now)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::Domain(DomainError::TeamClosed { .. })),
            "{err:?}"
        );
    }
    for team in [src, dst] {
        assert_reconciles(&store, team).await;
    }
}

async fn idempotent_purchase(db: TestDb) {
    let store = db.store().await;
    let now = at("2026-06-01T00:00:00Z");
    let team = team(&store, "Retry", now).await;
    let key = IdempotencyKey::parse("order-77").unwrap();
    let first = store
        .purchase(team, t(500), Actor::Operator, now, Some(&key))
        .await
        .unwrap();
    let again = store
        .purchase(
            team,
            t(500),
            Actor::Operator,
            now + Duration::minutes(1),
            Some(&key),
        )
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.pack, first.pack);
    assert_eq!(
        store.balance(team, now).await.unwrap().summary.available,
        t(500)
    );
    let err = store
        .purchase(team, t(501), Actor::Operator, now, Some(&key))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Domain(DomainError::IdempotencyKeyReused { .. })
        ),
        "{err:?}"
    );
    // The same key on another team is another request.
    let other = self::team(&store, "Other", now).await;
    assert!(
        !store
            .purchase(other, t(500), Actor::Operator, now, Some(&key))
            .await
            .unwrap()
            .replayed
    );
}

async fn append_only(db: TestDb) {
    let store = db.store().await;
    let now = at("2026-06-01T00:00:00Z");
    let team = team(&store, "Ledger", now).await;
    store
        .purchase(team, t(5), Actor::Operator, now, None)
        .await
        .unwrap();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    assert!(
        sqlx::query("UPDATE ledger_events SET amount = 500")
            .execute(&pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM ledger_events")
            .execute(&pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("INSERT INTO ledger_events (team_id, pack_id, kind, amount, at, actor, cause_kind) VALUES ($1, 1, 'charged', 5, 0, 'system', 'session')")
            .bind(team.0)
            .execute(&pool)
            .await
            .is_err(),
        "a debit kind with a positive amount is refused by the schema"
    );
    assert_reconciles(&store, team).await;
}

async fn rename(db: TestDb) {
    let store = db.store().await;
    let d0 = at("2026-04-01T00:00:00Z");
    let a = team(&store, "Design", d0).await;
    let b = team(&store, "Ops", d0).await;
    let renamed = store
        .rename_team(a, &TeamName::parse("  Design & Build ").unwrap())
        .await
        .unwrap();
    assert_eq!(renamed.name, "Design & Build", "trimmed as on creation");
    assert_eq!(store.team(a).await.unwrap(), renamed);
    let missing = store
        .rename_team(TeamId(999_999), &TeamName::parse("X").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );

    store.merge_teams(b, a, Actor::Operator, d0).await.unwrap();
    let closed = store
        .rename_team(b, &TeamName::parse("Ops again").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(closed, StoreError::Domain(DomainError::TeamClosed { .. })),
        "{closed:?}"
    );
    assert_eq!(store.team(b).await.unwrap().name, "Ops", "unchanged");
}
