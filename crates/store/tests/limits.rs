//! Limits that bound what one caller can make, on both backends, under concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use chrono::{DateTime, Utc};
use jeton_core::limits::MAX_TEAMS_PER_ADMIN;
use jeton_core::{DomainError, Email, PersonName, TeamName};
use jeton_store::testing::TestDb;
use jeton_store::{StoreError, both_backends};

both_backends! {
    an_admin_creates_at_most_the_limit_of_teams_even_all_at_once => teams_per_admin,
}

fn now() -> DateTime<Utc> {
    "2026-01-05T08:00:00Z".parse().unwrap()
}

/// An admin who creates teams (each becomes theirs) stops at `MAX_TEAMS_PER_ADMIN`, even when
/// the last ones are asked for at once through two server processes.
async fn teams_per_admin(db: TestDb) {
    let (one, two) = (db.store().await, db.store().await);
    let first = one
        .create_team(&TeamName::parse("First").unwrap(), None, now())
        .await
        .unwrap();
    let admin = one
        .create_admin(
            &Email::parse("ann@example.com").unwrap(),
            &PersonName::parse("Ann Admin").unwrap(),
            &[first.id],
            "not-a-real-key-hash",
            now(),
        )
        .await
        .unwrap();
    // Up to 10 below the limit one by one, then 30 at once for the last 10 places.
    for i in 1..MAX_TEAMS_PER_ADMIN - 10 {
        one.create_team(
            &TeamName::parse(&format!("T{i}")).unwrap(),
            Some(admin.id),
            now(),
        )
        .await
        .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..30 {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .create_team(
                    &TeamName::parse(&format!("Last {i}")).unwrap(),
                    Some(admin.id),
                    now(),
                )
                .await
        }));
    }
    let (mut made, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => made += 1,
            Err(StoreError::Domain(DomainError::TooManyTeams { limit })) => {
                assert_eq!(limit, MAX_TEAMS_PER_ADMIN);
                refused += 1;
            }
            Err(e) => panic!("only the limit may refuse: {e:?}"),
        }
    }
    assert_eq!((made, refused), (10, 20));
    let teams = one.list_teams(Some(admin.id)).await.unwrap();
    assert_eq!(teams.len(), MAX_TEAMS_PER_ADMIN);
    // The operator (no creator) is not an admin and has no such limit.
    one.create_team(&TeamName::parse("Operator's").unwrap(), None, now())
        .await
        .unwrap();
}
