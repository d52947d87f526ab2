//! The two migration folders describe one schema: the same tables with the same columns on
//! SQLite and on PostgreSQL.

use jeton_store::testing::{DATABASE_URL_VAR, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_build_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite().await;
    let sqlite_schema = sqlite.store().await.schema().await.unwrap();
    assert!(
        sqlite_schema
            .iter()
            .any(|(t, c)| t == "ledger_events" && c == "amount"),
        "the schema listing works: {sqlite_schema:?}"
    );
    assert!(
        sqlite_schema
            .iter()
            .all(|(t, _)| !t.starts_with("_sqlx") && !t.starts_with("sqlite_")),
        "bookkeeping tables are left out: {sqlite_schema:?}"
    );

    let Some(pg) = TestDb::postgres().await else {
        println!("skipped the comparison: {DATABASE_URL_VAR} is not set");
        return;
    };
    let pg_schema = pg.store().await.schema().await.unwrap();

    let only_sqlite: Vec<_> = sqlite_schema
        .iter()
        .filter(|c| !pg_schema.contains(c))
        .collect();
    let only_pg: Vec<_> = pg_schema
        .iter()
        .filter(|c| !sqlite_schema.contains(c))
        .collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "the migrations differ:\n  only in SQLite: {only_sqlite:?}\n  only in PostgreSQL: {only_pg:?}"
    );
    assert_eq!(sqlite_schema, pg_schema);
}

/// A pool on `db` after the backend's migrations numbered below `below` (e.g. "0005"), as a
/// database of that older version would be.
async fn migrated_below(db: &TestDb, below: &str) -> sqlx::AnyPool {
    let folder = match db.backend {
        jeton_store::Backend::Sqlite => "sqlite",
        jeton_store::Backend::Postgres => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let old = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < below {
            std::fs::copy(&path, old.path().join(name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    sqlx::migrate::Migrator::new(old.path().to_path_buf())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool
}

/// Version 5 replaced version 4's one row per user and day with one mask per user and month. A
/// database that ran version 4 keeps the days it recorded, month ends and leap days included.
async fn upgrade_from_version_4_keeps_the_days_used(db: TestDb) {
    let pool = migrated_below(&db, "0005").await;
    sqlx::query("INSERT INTO teams (name, created_at) VALUES ('T', 0)")
        .execute(&pool)
        .await
        .unwrap();
    let day = |s: &str| {
        let d: chrono::NaiveDate = s.parse().unwrap();
        jeton_core::report::day_key(d)
    };
    for (d, user) in [
        ("2028-02-01", 7),
        ("2028-02-29", 7),
        ("2026-12-31", 7),
        ("2027-01-01", 7),
        ("2027-01-01", 8),
    ] {
        sqlx::query(
            "INSERT INTO usage_user_days (team_id, day, user_id, week) VALUES (1, $1, $2, 0)",
        )
        .bind(day(d))
        .bind(user as i64)
        .execute(&pool)
        .await
        .unwrap();
    }

    db.store().await; // runs the remaining migrations

    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT user_id, month, days FROM usage_user_months ORDER BY user_id, month",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let month = |s: &str| jeton_core::report::month_key(s.parse().unwrap());
    let days = |list: &[&str]| -> i64 {
        list.iter()
            .map(|s| jeton_core::report::day_bit(s.parse().unwrap()))
            .fold(0, |a, b| a | b)
    };
    assert_eq!(
        rows,
        vec![
            (7, month("2026-12-01"), days(&["2026-12-31"])),
            (7, month("2027-01-01"), days(&["2027-01-01"])),
            (7, month("2028-02-01"), days(&["2028-02-01", "2028-02-29"])),
            (8, month("2027-01-01"), days(&["2027-01-01"])),
        ]
    );
    let old = sqlx::query("SELECT * FROM usage_user_days")
        .fetch_all(&pool)
        .await;
    assert!(old.is_err(), "version 5 drops the per-day table");
    pool.close().await;
}

#[tokio::test]
async fn sqlite_upgrade_from_version_4_keeps_the_days_used() {
    upgrade_from_version_4_keeps_the_days_used(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn postgres_upgrade_from_version_4_keeps_the_days_used() {
    if let Some(db) = TestDb::postgres().await {
        upgrade_from_version_4_keeps_the_days_used(db).await;
    }
}

/// Version 7 made admin keys revocable (R-AUTH-1). An admin made before keeps a working key,
/// issued when the admin was made, and not revoked.
async fn upgrade_from_version_6_keeps_admin_keys_working(db: TestDb) {
    let pool = migrated_below(&db, "0007").await;
    sqlx::query("INSERT INTO teams (name, created_at) VALUES ('T', 0)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO admins (email, email_lower, name, key_hash, created_at) \
         VALUES ('Ann@example.com', 'ann@example.com', 'Ann', 'digest-of-ann', 1767600000000000)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO admin_teams (admin_id, team_id) VALUES (1, 1)")
        .execute(&pool)
        .await
        .unwrap();

    let store = db.store().await; // runs the remaining migrations
    let ann = store
        .admin_by_key_hash("digest-of-ann")
        .await
        .unwrap()
        .expect("the key still names the admin");
    assert_eq!(ann.key_created_at, ann.created_at);
    assert_eq!(ann.key_revoked_at, None);
    assert_eq!(ann.teams, vec![jeton_core::TeamId(1)]);
    pool.close().await;
}

#[tokio::test]
async fn sqlite_upgrade_from_version_6_keeps_admin_keys_working() {
    upgrade_from_version_6_keeps_admin_keys_working(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn postgres_upgrade_from_version_6_keeps_admin_keys_working() {
    if let Some(db) = TestDb::postgres().await {
        upgrade_from_version_6_keeps_admin_keys_working(db).await;
    }
}

/// Version 9 made `sign_in_attempts.email_lower` NOT NULL on SQLite as well (PostgreSQL had it
/// from the primary key), by rebuilding the table. Attempts counted before the upgrade still
/// count, a lock still holds, and a row without an address is refused from then on.
async fn upgrade_from_version_8_keeps_sign_in_attempts(db: TestDb) {
    use jeton_core::sign_in::{Attempts, Verdict};

    let pool = migrated_below(&db, "0009").await;
    let t0: chrono::DateTime<chrono::Utc> = "2026-03-02T08:00:00Z".parse().unwrap();
    let micros = |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros();
    let lock_end = t0 + chrono::Duration::minutes(15);
    for (email, attempts, locked_until) in [
        ("ann@example.com", 3, None),
        ("bob@example.com", 10, Some(micros(lock_end))),
    ] {
        sqlx::query(
            "INSERT INTO sign_in_attempts (email_lower, attempts, since, locked_until) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(email)
        .bind(attempts as i64)
        .bind(micros(t0))
        .bind(locked_until)
        .execute(&pool)
        .await
        .unwrap();
    }
    if db.backend == jeton_store::Backend::Sqlite {
        // The drift itself: version 8 on SQLite took a row without an address. The rebuild
        // leaves it behind (nothing could ever look it up).
        sqlx::query(
            "INSERT INTO sign_in_attempts (email_lower, attempts, since) VALUES (NULL, 1, 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
    }

    let store = db.store().await; // runs the remaining migrations
    let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT email_lower, attempts, since, locked_until FROM sign_in_attempts \
         ORDER BY email_lower",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("ann@example.com".to_string(), 3, micros(t0), None),
            (
                "bob@example.com".to_string(),
                10,
                micros(t0),
                Some(micros(lock_end))
            ),
        ]
    );
    let now = t0 + chrono::Duration::minutes(1);
    let email = |s: &str| jeton_core::Email::parse(s).unwrap();
    assert_eq!(
        store
            .sign_in_attempt(&email("ann@example.com"), now)
            .await
            .unwrap(),
        Verdict::Check(Attempts {
            count: 4,
            since: t0,
            locked_until: None
        }),
        "the attempts before the upgrade count"
    );
    assert_eq!(
        store
            .sign_in_attempt(&email("bob@example.com"), now)
            .await
            .unwrap(),
        Verdict::Locked { until: lock_end }
    );
    let refused = sqlx::query(
        "INSERT INTO sign_in_attempts (email_lower, attempts, since) VALUES (NULL, 1, 0)",
    )
    .execute(&pool)
    .await
    .unwrap_err();
    assert_eq!(
        refused.as_database_error().map(|e| e.kind()),
        Some(sqlx::error::ErrorKind::NotNullViolation),
        "{refused}"
    );
    pool.close().await;
}

#[tokio::test]
async fn sqlite_upgrade_from_version_8_keeps_sign_in_attempts() {
    upgrade_from_version_8_keeps_sign_in_attempts(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn postgres_upgrade_from_version_8_keeps_sign_in_attempts() {
    if let Some(db) = TestDb::postgres().await {
        upgrade_from_version_8_keeps_sign_in_attempts(db).await;
    }
}
