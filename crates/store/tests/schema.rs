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
