//! The console's state on both backends: password links work once (even when two requests race),
//! only the newest link of a person works, and console sign-ins end when they expire, when the
//! admin's key is revoked, or when the admin chooses a new password.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jeton_core::console::{LinkPurpose, session_lifetime};
use jeton_core::{AdminId, DomainError, Email, PersonName, TeamName};
use jeton_store::console::{LinkOwner, Staff};
use jeton_store::testing::TestDb;
use jeton_store::{Store, StoreError, both_backends};

both_backends! {
    a_password_link_works_once_even_when_two_requests_race => once,
    only_the_newest_password_link_of_a_person_works => newest,
    console_sign_ins_end_on_expiry_revocation_and_a_new_password => sign_ins_end,
}

fn now() -> DateTime<Utc> {
    "2026-01-05T08:00:00Z".parse().unwrap()
}

async fn admin(store: &Store) -> AdminId {
    let team = store
        .create_team(&TeamName::parse("Design").unwrap(), None, now())
        .await
        .unwrap();
    store
        .create_admin(
            &Email::parse("ann@example.com").unwrap(),
            &PersonName::parse("Ann Admin").unwrap(),
            &[team.id],
            "key-hash",
            now(),
        )
        .await
        .unwrap()
        .id
}

async fn link(store: &Store, owner: LinkOwner, hash: &str) -> DateTime<Utc> {
    store
        .create_password_link(owner, hash, &|_, _| None, now())
        .await
        .unwrap()
}

fn is_used(e: &StoreError) -> bool {
    matches!(e, StoreError::Domain(DomainError::PasswordLinkUsed))
}

async fn once(db: TestDb) {
    let store = db.store().await;
    let ann = admin(&store).await;
    let expires = link(&store, LinkOwner::Admin(ann), "link-1").await;
    assert_eq!(expires, now() + LinkPurpose::AdminPassword.validity());
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .use_password_link("link-1", &format!("hash-{i}"), now())
                    .await
            })
        })
        .collect();
    let mut used = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(link) => {
                assert_eq!(link.owner, LinkOwner::Admin(ann));
                used += 1;
            }
            Err(e) => assert!(is_used(&e), "{e:?}"),
        }
    }
    assert_eq!(used, 1, "exactly one request set the password");
    let (_, hash) = store
        .admin_credentials(&Email::parse("ann@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(hash.unwrap().starts_with("hash-"));
    assert!(matches!(
        store.use_password_link("no-such-link", "h", now()).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn newest(db: TestDb) {
    let store = db.store().await;
    let ann = admin(&store).await;
    link(&store, LinkOwner::Admin(ann), "first").await;
    link(&store, LinkOwner::Admin(ann), "second").await;
    let e = store.password_link("first", now()).await.unwrap_err();
    assert!(is_used(&e), "the older link stopped working: {e:?}");
    let open = store.password_link("second", now()).await.unwrap().unwrap();
    assert_eq!(open.email, "ann@example.com");
    // An expired link says so.
    let later = now() + LinkPurpose::AdminPassword.validity();
    assert!(matches!(
        store.password_link("second", later).await,
        Err(StoreError::Domain(DomainError::PasswordLinkExpired))
    ));
    assert!(matches!(
        store.use_password_link("second", "h", later).await,
        Err(StoreError::Domain(DomainError::PasswordLinkExpired))
    ));
    assert!(
        store
            .password_link("unknown", now())
            .await
            .unwrap()
            .is_none()
    );
}

async fn sign_ins_end(db: TestDb) {
    let store = db.store().await;
    let ann = admin(&store).await;
    let until = now() + session_lifetime();
    store
        .create_console_session("s-1", Some(ann), now(), until)
        .await
        .unwrap();
    store
        .create_console_session("s-op", None, now(), until)
        .await
        .unwrap();
    assert!(matches!(
        store.console_session("s-1", now()).await.unwrap(),
        Some(Staff::Admin(a)) if a.id == ann
    ));
    assert_eq!(
        store.console_session("s-op", now()).await.unwrap(),
        Some(Staff::Operator)
    );
    assert_eq!(store.console_session("s-1", until).await.unwrap(), None);
    assert_eq!(store.console_session("nope", now()).await.unwrap(), None);

    // R-WEB-2: used, a sign-in keeps running; left alone 12 hours, it ends.
    let h = |n: i64| now() + Duration::hours(n);
    store
        .create_console_session("busy", None, now(), until)
        .await
        .unwrap();
    for used_at in [2, 13, 24] {
        assert_eq!(
            store.console_session("busy", h(used_at)).await.unwrap(),
            Some(Staff::Operator),
            "in use at +{used_at} h"
        );
    }
    assert_eq!(
        store.console_session("busy", h(24 + 12)).await.unwrap(),
        None,
        "12 hours without use"
    );

    // A new password ends the admin's sign-ins (not the operator's).
    link(&store, LinkOwner::Admin(ann), "reset").await;
    store
        .use_password_link("reset", "new-hash", now() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(store.console_session("s-1", now()).await.unwrap(), None);
    assert_eq!(
        store.console_session("s-op", now()).await.unwrap(),
        Some(Staff::Operator)
    );

    // A revoked admin is out, whatever sign-in they hold.
    store
        .create_console_session("s-2", Some(ann), now(), until)
        .await
        .unwrap();
    store.revoke_admin_key(ann, now()).await.unwrap();
    assert_eq!(store.console_session("s-2", now()).await.unwrap(), None);
    store.rotate_admin_key(ann, "new-key", now()).await.unwrap();
    assert_eq!(
        store.console_session("s-2", now()).await.unwrap(),
        None,
        "a new key does not bring old sign-ins back"
    );

    // Signing out removes the row; expired ones go with it.
    store.end_console_session("s-op", now()).await.unwrap();
    assert_eq!(store.console_session("s-op", now()).await.unwrap(), None);
}
