//! A transaction that the database itself ends must not leave its connection unusable. SQLite
//! rolls a whole transaction back on some errors (a full disk, an I/O error, `RAISE(ROLLBACK)`);
//! sqlx then fails to roll it back again and still counts the connection as inside a
//! transaction, so every later transaction on it failed (found by the API fuzzing in
//! `.ci/fuzz`: after one "database or disk is full", the server answered 500 to many writes
//! until it was restarted).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use jeton_core::{Email, PersonName, TeamName};
use jeton_store::sqlx::{AnyConnection, Connection, Executor};
use jeton_store::testing::TestDb;
use jeton_store::{Backend, ConnectOptions, Store, StoreError, both_backends};

both_backends! {
    writes_work_again_after_the_database_ended_a_transaction => recovery,
}

/// A fault inside the database: inserting a team named `Fault` fails and ends the transaction
/// (on SQLite the whole transaction is rolled back by the database, as a full disk does).
async fn inject_fault(db: &TestDb) {
    let mut conn = AnyConnection::connect(&db.url).await.unwrap();
    let sql = match db.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER fault BEFORE INSERT ON teams WHEN NEW.name = 'Fault' \
             BEGIN SELECT RAISE(ROLLBACK, 'injected fault'); END"
        }
        Backend::Postgres => {
            "CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.name = 'Fault' THEN RAISE EXCEPTION 'injected fault'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER fault BEFORE INSERT ON teams FOR EACH ROW EXECUTE FUNCTION fault()"
        }
    };
    conn.execute(sql).await.unwrap();
    conn.close().await.unwrap();
}

async fn recovery(db: TestDb) {
    // One connection, so that the write after the fault runs on the connection that had it.
    let options = ConnectOptions {
        max_connections: 1,
        ..ConnectOptions::default()
    };
    let store = Store::connect(&db.url, options).await.unwrap();
    inject_fault(&db).await;
    let now = "2026-01-05T08:00:00Z".parse().unwrap();
    let fault = TeamName::parse("Fault").unwrap();
    for round in 0..3 {
        let error = store.create_team(&fault, None, now).await.unwrap_err();
        assert!(matches!(error, StoreError::Database(_)), "{error:?}");
        let name = TeamName::parse(&format!("Fine {round}")).unwrap();
        store
            .create_team(&name, None, now)
            .await
            .unwrap_or_else(|e| panic!("a write after the fault failed too: {e:?}"));
    }
    let teams = store.list_teams(None).await.unwrap();
    let names: Vec<_> = teams.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Fine 0", "Fine 1", "Fine 2"]);
}

both_backends! {
    a_write_acknowledged_beside_a_fault_is_kept => fault_among_concurrent_writes,
}

/// Concurrent writes may share one commit (SQLite's group commit). A fault that makes the
/// database end the whole transaction must then fail every write that shared it: a write that
/// was answered Ok is stored, whatever its neighbours did. A refusal that fails only its own
/// statement (a duplicate name) takes nothing else with it.
async fn fault_among_concurrent_writes(db: TestDb) {
    let store = Store::connect(&db.url, ConnectOptions::default())
        .await
        .unwrap();
    inject_fault(&db).await;
    let now = "2026-01-05T08:00:00Z".parse().unwrap();
    let taken = Email::parse("taken@example.com").unwrap();
    let person = PersonName::parse("Taken").unwrap();
    store.create_user(&taken, &person, "x", now).await.unwrap();
    let mut acknowledged = Vec::new();
    for round in 0..40 {
        // Half the rounds carry a fault; all carry a duplicate.
        let faulty = round % 2 == 0;
        let writes = (0..12).map(|i| {
            let store = store.clone();
            let taken = taken.clone();
            let name = match i {
                5 if faulty => "Fault".to_owned(),
                7 => "Taken".to_owned(),
                _ => format!("Team {round}-{i}"),
            };
            tokio::spawn(async move {
                let result = if name == "Taken" {
                    let person = PersonName::parse("Taken").unwrap();
                    store
                        .create_user(&taken, &person, "x", now)
                        .await
                        .map(|_| ())
                } else {
                    let team = TeamName::parse(&name).unwrap();
                    store.create_team(&team, None, now).await.map(|_| ())
                };
                (name, result)
            })
        });
        for write in writes.collect::<Vec<_>>() {
            let (name, result) = write.await.unwrap();
            match (name.as_str(), result) {
                ("Taken", Err(StoreError::Domain(_))) => {}
                ("Fault", Err(StoreError::Database(_))) => {}
                ("Fault" | "Taken", other) => panic!("{name}: {other:?}"),
                (_, Ok(_)) => acknowledged.push(name),
                (_, Err(e)) => {
                    assert!(faulty, "{name} failed in a round without a fault: {e:?}");
                    assert!(matches!(e, StoreError::Database(_)), "{name}: {e:?}");
                }
            }
        }
    }
    let stored: Vec<String> = store
        .list_teams(None)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.as_str().to_owned())
        .collect();
    for name in &acknowledged {
        assert!(
            stored.contains(name),
            "{name} was answered Ok and is not stored"
        );
    }
    assert_eq!(stored.len(), acknowledged.len(), "stored: {stored:?}");
    // Every write of the 20 rounds without a fault, besides the duplicate, went through.
    assert!(
        acknowledged.len() >= 20 * 10,
        "{} acknowledged",
        acknowledged.len()
    );
}

/// Ends every other connection to the test database and waits until PostgreSQL has let them go.
async fn drop_connections(db: &TestDb) {
    let mut admin = AnyConnection::connect(&db.url).await.unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    loop {
        let (left,): (i64,) = jeton_store::sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    admin.close().await.unwrap();
}

/// `connections` to the database, checked before use after `check_after` idle.
fn pool_of(connections: u32, check_after: std::time::Duration) -> ConnectOptions {
    ConnectOptions {
        max_connections: connections,
        liveness_check_after: check_after,
        ..ConnectOptions::default()
    }
}

/// The pool hands out a connection that has been idle for a while only after a round trip shows
/// it alive (`ConnectOptions::liveness_check_after`): one the database dropped is replaced, and
/// nobody sees an error. One used more recently than that is handed out unchecked: if the
/// database dropped it, one statement fails, and the connection after it works.
#[tokio::test]
async fn connections_the_database_dropped_are_replaced() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let now = "2026-01-05T08:00:00Z".parse().unwrap();
    let name = TeamName::parse("Kept").unwrap();
    let checked = pool_of(1, std::time::Duration::ZERO);
    let store = Store::connect(&db.url, checked).await.unwrap();
    store.create_team(&name, None, now).await.unwrap();
    drop_connections(&db).await;
    let teams = store.list_teams(None).await.expect("a checked connection");
    assert_eq!(teams.len(), 1);
    store.close().await;

    let unchecked = pool_of(1, std::time::Duration::from_secs(3600));
    let store = Store::connect(&db.url, unchecked).await.unwrap();
    store.list_teams(None).await.unwrap();
    drop_connections(&db).await;
    let error = store.list_teams(None).await.unwrap_err();
    assert!(matches!(error, StoreError::Database(_)), "{error:?}");
    let teams = store.list_teams(None).await.expect("a new connection");
    assert_eq!(teams.len(), 1);
}

/// The same for the connections PostgreSQL's point reads use, which the store keeps outside
/// sqlx's pool (two connections: one reader, one pooled).
#[tokio::test]
async fn point_readers_the_database_dropped_are_replaced() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let now = "2026-01-05T08:00:00Z".parse().unwrap();
    let checked = pool_of(2, std::time::Duration::ZERO);
    let store = Store::connect(&db.url, checked).await.unwrap();
    let team = store
        .create_team(&TeamName::parse("Kept").unwrap(), None, now)
        .await
        .unwrap();
    assert_eq!(store.team(team.id).await.unwrap(), team);
    drop_connections(&db).await;
    assert_eq!(store.team(team.id).await.expect("a checked reader"), team);
    store.close().await;

    let unchecked = pool_of(2, std::time::Duration::from_secs(3600));
    let store = Store::connect(&db.url, unchecked).await.unwrap();
    assert_eq!(store.team(team.id).await.unwrap(), team);
    drop_connections(&db).await;
    let error = store.team(team.id).await.unwrap_err();
    assert!(matches!(error, StoreError::Database(_)), "{error:?}");
    assert_eq!(store.team(team.id).await.expect("a new reader"), team);
}
