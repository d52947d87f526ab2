//! Subscriptions and trials (R-PRI) as the store keeps them, on both backends: one is removed by
//! its id, for its user and of its kind only; what is not there is not found and nothing changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use chrono::{DateTime, Duration, Utc};
use jeton_core::ledger::Actor;
use jeton_core::session::AccessKind;
use jeton_core::{Email, EntitlementId, PersonName, UserId};
use jeton_store::testing::{TestDb, daily_product};
use jeton_store::{Store, StoreError, both_backends};

both_backends! {
    r_pri_a_subscription_or_trial_is_removed_by_its_id_and_kind => remove,
}

fn t0() -> DateTime<Utc> {
    "2026-03-02T08:00:00Z".parse().unwrap()
}

async fn user(store: &Store, email: &str) -> UserId {
    store
        .create_user(
            &Email::parse(email).unwrap(),
            &PersonName::parse("Jane Doe").unwrap(),
            "hash",
            t0(),
        )
        .await
        .unwrap()
        .id
}

fn is_not_found(result: Result<impl std::fmt::Debug, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound { what: w, .. }) if w == what => {}
        other => panic!("expected {what} not found, got {other:?}"),
    }
}

async fn remove(db: TestDb) {
    let store = db.store().await;
    let draft = daily_product("autocad", "AutoCAD", 7);
    store
        .create_product(&draft, Actor::Operator, t0())
        .await
        .unwrap();
    let jane = user(&store, "jane@example.com").await;
    let john = user(&store, "john@example.com").await;
    let add = |user: UserId, kind: AccessKind, days: i64| {
        let store = store.clone();
        let key = draft.key.clone();
        async move {
            store
                .add_entitlement(
                    user,
                    &key,
                    kind,
                    t0(),
                    t0() + Duration::days(days),
                    Actor::Operator,
                    t0(),
                )
                .await
                .unwrap()
        }
    };
    // Two windows of the same product: each is removed on its own, by id.
    let first = add(jane, AccessKind::Subscription, 30).await;
    let second = add(jane, AccessKind::Subscription, 365).await;
    let trial = add(jane, AccessKind::Trial, 14).await;
    let johns = add(john, AccessKind::Subscription, 30).await;

    // Of another kind, of another user, unknown ids and users: not found, nothing removed.
    is_not_found(
        store
            .remove_entitlement(jane, trial.id, AccessKind::Subscription)
            .await,
        "subscription",
    );
    is_not_found(
        store
            .remove_entitlement(jane, johns.id, AccessKind::Subscription)
            .await,
        "subscription",
    );
    is_not_found(
        store
            .remove_entitlement(jane, EntitlementId(999_999), AccessKind::Trial)
            .await,
        "trial",
    );
    is_not_found(
        store
            .remove_entitlement(UserId(999_999), first.id, AccessKind::Subscription)
            .await,
        "user",
    );
    assert_eq!(store.entitlements(jane).await.unwrap().len(), 3);

    let removed = store
        .remove_entitlement(jane, first.id, AccessKind::Subscription)
        .await
        .unwrap();
    assert_eq!(removed, first, "the answer is what was removed");
    let left = store.entitlements(jane).await.unwrap();
    assert_eq!(left, vec![second.clone(), trial.clone()]);
    is_not_found(
        store
            .remove_entitlement(jane, first.id, AccessKind::Subscription)
            .await,
        "subscription",
    );
    let removed = store
        .remove_entitlement(jane, trial.id, AccessKind::Trial)
        .await
        .unwrap();
    assert_eq!(removed.kind, AccessKind::Trial);
    assert_eq!(store.entitlements(jane).await.unwrap(), vec![second]);
    assert_eq!(store.entitlements(john).await.unwrap(), vec![johns]);
    // Active windows are what the downloads view and sessions read.
    let active = store.entitled_products(jane, t0()).await.unwrap();
    assert_eq!(active, vec![(draft.key.clone(), AccessKind::Subscription)]);
}
