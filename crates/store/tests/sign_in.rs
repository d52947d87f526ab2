//! Sign-in attempts (`jeton_core::sign_in`) as the store counts them, on both backends: the
//! limit holds when two servers count attempts on one address at once, a success starts afresh,
//! and the clean-up deletes exactly what the core rule calls stale.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use chrono::{DateTime, Duration, Utc};
use jeton_core::Email;
use jeton_core::sign_in::{self, Attempts, LOCK, MAX_ATTEMPTS, Verdict};
use jeton_store::both_backends;
use jeton_store::testing::TestDb;

both_backends! {
    attempts_lock_after_the_limit_and_a_success_starts_afresh => limit_and_clear,
    concurrent_attempts_from_two_servers_are_all_counted => concurrent,
    stale_records_are_forgotten_and_live_ones_kept => forget,
}

fn t0() -> DateTime<Utc> {
    "2026-03-02T08:00:00Z".parse().unwrap()
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

async fn limit_and_clear(db: TestDb) {
    let store = db.store().await;
    let jane = email("Jane@Example.com");
    for i in 0..MAX_ATTEMPTS {
        let now = t0() + Duration::seconds(i64::from(i));
        assert!(
            matches!(store.sign_in_attempt(&jane, now).await.unwrap(), Verdict::Check(a) if a.count == i + 1),
            "attempt {i}"
        );
    }
    let until = t0() + Duration::seconds(i64::from(MAX_ATTEMPTS) - 1) + LOCK;
    // The address is compared case-insensitively, like accounts (R-USR-1).
    let again = store
        .sign_in_attempt(&email("jane@example.COM"), t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(again, Verdict::Locked { until });
    // Another address is not affected.
    assert!(matches!(
        store
            .sign_in_attempt(&email("john@example.com"), t0())
            .await
            .unwrap(),
        Verdict::Check(_)
    ));
    // The lock ends by itself …
    assert!(matches!(
        store.sign_in_attempt(&jane, until).await.unwrap(),
        Verdict::Check(a) if a.count == 1
    ));
    // … and a success starts afresh.
    for _ in 1..MAX_ATTEMPTS - 1 {
        store.sign_in_attempt(&jane, until).await.unwrap();
    }
    store.clear_sign_in_attempts(&jane).await.unwrap();
    for i in 0..MAX_ATTEMPTS {
        assert!(
            matches!(store.sign_in_attempt(&jane, until).await.unwrap(), Verdict::Check(a) if a.count == i + 1),
            "after a success, attempt {i}"
        );
    }
}

async fn concurrent(db: TestDb) {
    let (a, b) = (db.store().await, db.store().await);
    let jane = email("jane@example.com");
    let tries = 40;
    let mut tasks = Vec::new();
    for i in 0..tries {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let jane = jane.clone();
        tasks.push(tokio::spawn(async move {
            store.sign_in_attempt(&jane, t0()).await.unwrap()
        }));
    }
    let mut counts = Vec::new();
    let mut locked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Verdict::Check(a) => counts.push(a.count),
            Verdict::Locked { until } => {
                assert_eq!(until, t0() + LOCK);
                locked += 1;
            }
        }
    }
    counts.sort();
    // Every attempt was counted exactly once: the checked ones got 1, 2, … MAX.
    assert_eq!(counts, (1..=MAX_ATTEMPTS).collect::<Vec<_>>());
    assert_eq!(locked, tries - MAX_ATTEMPTS);
}

async fn forget(db: TestDb) {
    let store = db.store().await;
    // An address per situation: (attempts made, minutes before "now" they were made).
    let cases = [
        ("fresh@x.com", 3, 1),
        ("window-just-open@x.com", 3, 14),
        ("window-passed@x.com", 3, 15),
        ("locked@x.com", MAX_ATTEMPTS, 10),
        ("lock-ended@x.com", MAX_ATTEMPTS, 31),
    ];
    let now = t0() + Duration::hours(1);
    let mut expected_stale = Vec::new();
    for (address, attempts, minutes_ago) in cases {
        let at = now - Duration::minutes(minutes_ago);
        let mut last = None;
        for _ in 0..attempts {
            if let Verdict::Check(a) = store.sign_in_attempt(&email(address), at).await.unwrap() {
                last = Some(a);
            }
        }
        let last: Attempts = last.unwrap();
        if sign_in::is_stale(&last, now) {
            expected_stale.push(address);
        }
    }
    assert_eq!(
        expected_stale,
        vec!["window-passed@x.com", "lock-ended@x.com"],
        "the fixture covers both kinds of stale record"
    );
    assert_eq!(
        store.forget_stale_sign_in_attempts(now).await.unwrap(),
        expected_stale.len() as u64
    );
    assert_eq!(store.forget_stale_sign_in_attempts(now).await.unwrap(), 0);
    // What was kept still counts: the locked address is still locked, the open windows go on.
    assert!(matches!(
        store
            .sign_in_attempt(&email("locked@x.com"), now)
            .await
            .unwrap(),
        Verdict::Locked { .. }
    ));
    assert!(matches!(
        store.sign_in_attempt(&email("fresh@x.com"), now).await.unwrap(),
        Verdict::Check(a) if a.count == 4
    ));
    // What was forgotten starts afresh.
    assert!(matches!(
        store.sign_in_attempt(&email("window-passed@x.com"), now).await.unwrap(),
        Verdict::Check(a) if a.count == 1 && a.since == now
    ));
}
