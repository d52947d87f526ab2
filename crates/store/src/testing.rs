//! Fresh databases for tests and benchmarks, on either backend (feature `testing`).
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new database created next to the one
//! `JETON_TEST_DATABASE_URL` names, dropped again when the [`TestDb`] is dropped. Without that
//! variable the PostgreSQL variants of tests print that they were skipped.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AnyConnection, Connection, Executor};

use crate::{Backend, ConnectOptions, Store};

pub const DATABASE_URL_VAR: &str = "JETON_TEST_DATABASE_URL";

pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// (server URL to connect to for the DROP, database name)
    drop_on_exit: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        TestDb {
            url: Store::sqlite_url(dir.path()),
            backend: Backend::Sqlite,
            _dir: Some(dir),
            drop_on_exit: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (after saying so) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var(DATABASE_URL_VAR) else {
            println!("skipped: {DATABASE_URL_VAR} is not set, so this PostgreSQL test did not run");
            return None;
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "jeton_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000
        );
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&base).await.unwrap_or_else(|e| {
            panic!("{DATABASE_URL_VAR} is set but PostgreSQL is unreachable: {e}")
        });
        conn.execute(sqlx::query(&format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create test database");
        conn.close().await.ok();
        Some(TestDb {
            url: with_database(&base, &name),
            backend: Backend::Postgres,
            _dir: None,
            drop_on_exit: Some((base, name)),
        })
    }

    /// Another handle on the same database, for a second server. It does not own the database:
    /// the original handle must outlive it, and drops it.
    pub fn share(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            backend: self.backend,
            _dir: None,
            drop_on_exit: None,
        }
    }

    /// A new, independent connection pool on this database: two of them behave like two server
    /// processes sharing it.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url, ConnectOptions::default())
            .await
            .expect("connect to test database")
    }
}

/// `postgres://u@h:5432/test?x=y` with the database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, name)) = self.drop_on_exit.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; use a thread with its
        // own small runtime. FORCE ends connections that pools still hold.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = AnyConnection::connect(&base).await.ok()?;
                conn.execute(sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .await
                .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: test database {:?} was not dropped", self.url);
        }
    }
}

/// Declares a test that runs against both backends: `name::sqlite` and `name::postgres`.
/// `$body` is an `async fn(TestDb)` in the calling module.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::testing::TestDb::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$body(db).await
                }
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
