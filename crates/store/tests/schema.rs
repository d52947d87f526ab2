//! The two migration folders describe one schema. Each backend's catalogue is read into one
//! normalised form (`jeton_store::schema`) and compared whole: columns (type, NOT NULL,
//! default, identity), primary keys, UNIQUE constraints, foreign keys, CHECKs, indexes and
//! triggers. A drift made on purpose on either backend is reported exactly. Upgrades from older
//! versions keep their data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use jeton_store::schema::{self, Difference, Index, Schema, Trigger};
use jeton_store::testing::{DATABASE_URL_VAR, TestDb};

fn lines(differences: &[Difference]) -> Vec<String> {
    differences.iter().map(ToString::to_string).collect()
}

/// Facts of the current schema that the reading must find on `backend`, so that two readings
/// that both missed something (an empty catalogue query, say) cannot agree by accident.
fn assert_reads_the_schema(backend: &str, schema: &Schema) {
    let table = |name: &str| {
        schema
            .tables
            .get(name)
            .unwrap_or_else(|| panic!("{backend}: no table {name}: {schema:#?}"))
    };
    assert!(
        schema
            .tables
            .keys()
            .all(|t| !t.starts_with("_sqlx") && !t.starts_with("sqlite_")),
        "{backend}: bookkeeping tables are left out: {:?}",
        schema.tables.keys()
    );
    assert_eq!(
        schema.tables.len(),
        32,
        "{backend}: {:?}",
        schema.tables.keys()
    );

    let teams = table("teams");
    let id = &teams.columns[0];
    assert_eq!(
        (
            id.name.as_str(),
            id.ty.as_str(),
            id.not_null,
            id.generated.as_deref()
        ),
        ("id", "integer", true, Some("identity")),
        "{backend}"
    );
    let low = teams
        .columns
        .iter()
        .find(|c| c.name == "low_percent")
        .unwrap();
    assert_eq!(
        (low.ty.as_str(), low.not_null, low.default.as_deref()),
        ("integer", true, Some("20")),
        "{backend}"
    );
    assert!(
        teams
            .checks
            .contains(&"low_percent >= 1 AND low_percent <= 99".to_string()),
        "{backend}: {:?}",
        teams.checks
    );
    assert_eq!(teams.primary_key, ["id"], "{backend}");

    let packs = table("packs");
    assert_eq!(packs.checks.len(), 6, "{backend}: {:?}", packs.checks);
    assert_eq!(
        packs.indexes.get("packs_due"),
        Some(&Index {
            columns: vec!["expires_at".into()],
            unique: false,
            method: "btree".into(),
            predicate: Some("remaining > 0".into()),
        }),
        "{backend}"
    );
    assert!(
        packs.foreign_keys.iter().any(|fk| fk.columns == ["team_id"]
            && fk.table == "teams"
            && fk.referenced == ["id"]
            && fk.on_delete == "no action"),
        "{backend}: {:?}",
        packs.foreign_keys
    );

    let assignment_products = table("assignment_products");
    assert!(
        assignment_products
            .foreign_keys
            .iter()
            .any(|fk| fk.columns == ["team_id", "user_id"]
                && fk.table == "flex_assignments"
                && fk.referenced == ["team_id", "user_id"]),
        "{backend}: {:?}",
        assignment_products.foreign_keys
    );
    assert_eq!(
        assignment_products.primary_key,
        ["team_id", "user_id", "product_id"]
    );

    let admins = table("admins");
    assert_eq!(
        admins.unique.iter().cloned().collect::<Vec<_>>(),
        [
            vec!["email_lower".to_string()],
            vec!["key_hash".to_string()]
        ],
        "{backend}"
    );

    let one_per_start = &table("usage_periods").indexes["usage_periods_one_per_start"];
    assert!(one_per_start.unique, "{backend}");
    assert_eq!(
        one_per_start.predicate.as_deref(),
        Some("refunded_at IS NULL")
    );

    let refusals: Vec<(String, String)> = table("ledger_events")
        .triggers
        .keys()
        .map(|t: &Trigger| (format!("{} {}", t.timing, t.event), t.action.clone()))
        .collect();
    assert_eq!(
        refusals,
        [
            ("BEFORE DELETE".to_string(), "raises an error".to_string()),
            ("BEFORE UPDATE".to_string(), "raises an error".to_string()),
        ],
        "{backend}: ledger_events is append-only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    let sqlite = TestDb::sqlite().await;
    let sqlite_schema = sqlite.store().await.schema().await.unwrap();
    assert_reads_the_schema("sqlite", &sqlite_schema);

    let Some(pg) = TestDb::postgres().await else {
        println!("skipped the comparison: {DATABASE_URL_VAR} is not set");
        return;
    };
    let pg_schema = pg.store().await.schema().await.unwrap();
    assert_reads_the_schema("postgres", &pg_schema);

    let differences = schema::compare(&sqlite_schema, &pg_schema);
    assert!(
        differences.is_empty(),
        "the migrations differ:\n  {}",
        lines(&differences).join("\n  ")
    );
}

/// Runs `statements` on `db` outside the store, as a hand-made change to one database would.
async fn drift(db: &TestDb, statements: &[&str]) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    for statement in statements {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    pool.close().await;
}

/// The comparison is only worth something if it fails: each kind of drift, made on purpose on
/// one backend after the real migrations, is reported as exactly that difference, and nothing
/// else is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_made_on_purpose_on_either_backend_is_reported_exactly() {
    let sqlite = TestDb::sqlite().await;
    let Some(pg) = TestDb::postgres().await else {
        println!("skipped: {DATABASE_URL_VAR} is not set");
        return;
    };
    let (sqlite_store, pg_store) = (sqlite.store().await, pg.store().await);
    let before = schema::compare(
        &sqlite_store.schema().await.unwrap(),
        &pg_store.schema().await.unwrap(),
    );
    assert_eq!(
        lines(&before),
        Vec::<String>::new(),
        "no drift to start with"
    );

    drift(
        &sqlite,
        &[
            // An index only one backend has.
            "CREATE INDEX packs_by_origin ON packs (origin, purchased_at DESC)",
            // One of the two append-only triggers gone: deletes would go through.
            "DROP TRIGGER ledger_events_no_delete",
            // A column only one backend has.
            "ALTER TABLE outbox ADD COLUMN priority BIGINT NOT NULL DEFAULT 0",
        ],
    )
    .await;
    drift(
        &pg,
        &[
            // A narrower type.
            "ALTER TABLE outbox ALTER COLUMN attempts TYPE INTEGER",
            // A dropped CHECK.
            "ALTER TABLE packs DROP CONSTRAINT packs_remaining_check",
            // NULL allowed on one side only.
            "ALTER TABLE teams ALTER COLUMN pseudonym_salt SET NOT NULL",
            // Another default.
            "ALTER TABLE teams ALTER COLUMN low_percent SET DEFAULT 25",
            // A partial index with the opposite predicate.
            "DROP INDEX sessions_seen",
            "CREATE INDEX sessions_seen ON sessions (last_seen_at) WHERE ended_at IS NOT NULL",
            // A foreign key and a UNIQUE constraint gone.
            "ALTER TABLE moves DROP CONSTRAINT moves_to_team_id_fkey",
            "ALTER TABLE admins DROP CONSTRAINT admins_key_hash_key",
            // A CHECK with another bound.
            "ALTER TABLE usage_user_months DROP CONSTRAINT usage_user_months_days_check",
            "ALTER TABLE usage_user_months ADD CHECK (days >= 0)",
        ],
    )
    .await;

    let after = schema::compare(
        &sqlite_store.schema().await.unwrap(),
        &pg_store.schema().await.unwrap(),
    );
    assert_eq!(
        lines(&after),
        [
            "admins: UNIQUE (key_hash): sqlite present | postgres missing",
            "ledger_events: trigger BEFORE DELETE FOR EACH ROW raises an error: \
             sqlite missing | postgres present (ledger_events_append_only)",
            "moves: FOREIGN KEY (to_team_id) REFERENCES teams (id) ON UPDATE NO ACTION \
             ON DELETE NO ACTION: sqlite present | postgres missing",
            "outbox: column attempts: type: sqlite integer | postgres integer (32-bit)",
            "outbox: column priority: sqlite present | postgres missing",
            "packs: CHECK (remaining >= 0): sqlite present | postgres missing",
            "packs: index packs_by_origin: sqlite USING btree (origin, purchased_at DESC) \
             | postgres missing",
            "sessions: index sessions_seen: sqlite USING btree (last_seen_at) \
             WHERE ended_at IS NULL | postgres USING btree (last_seen_at) \
             WHERE ended_at IS NOT NULL",
            "teams: column low_percent: default: sqlite 20 | postgres 25",
            "teams: column pseudonym_salt: NOT NULL: sqlite no | postgres yes",
            "usage_user_months: CHECK (days > 0): sqlite present | postgres missing",
            "usage_user_months: CHECK (days >= 0): sqlite missing | postgres present",
        ]
    );
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
