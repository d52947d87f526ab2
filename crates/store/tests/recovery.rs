//! A transaction that the database itself ends must not leave its connection unusable. SQLite
//! rolls a whole transaction back on some errors (a full disk, an I/O error, `RAISE(ROLLBACK)`);
//! sqlx then fails to roll it back again and still counts the connection as inside a
//! transaction, so every later transaction on it failed (found by the API fuzzing in
//! `.ci/fuzz`: after one "database or disk is full", the server answered 500 to many writes
//! until it was restarted).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use jeton_core::TeamName;
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
