//! Connecting to either backend, and what differs between them at run time.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool, ConnectOptions as _, Connection, Executor};

use crate::beats::{self, Beats};
use crate::conn::Conn;
use crate::error::{StoreError, StoreResult};
use crate::postgres_readers::PostgresReaders;
use crate::session_batch::Batches;
use crate::sqlite_readers::Readers;
use crate::sqlite_writer::{self, WriterTx};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> StoreResult<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Database(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL {:?}: use sqlite://FILE or postgres://USER@HOST/DB",
                    redact(url)
                )
                .into(),
            )))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A URL with its password replaced, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Connections to the database, in all. SQLite writes are serialised anyway; readers use the
    /// rest. On PostgreSQL half of them (rounded down) are kept for point reads
    /// (`postgres_readers.rs`), the others are sqlx's pool.
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// How often quiet heartbeats answered by this process are written ([`crate::beats`]);
    /// `None`: only by [`Store::flush_heartbeats`] and [`Store::close`] (tests that look at what
    /// is written before and after).
    pub heartbeat_flush_every: Option<Duration>,
    /// A pooled connection idle for longer than this is checked with a round trip before it is
    /// used, and replaced if the database dropped it (a restart, a network cut); one used more
    /// recently is handed out as it is ([`LIVENESS_CHECK_AFTER`]).
    pub liveness_check_after: Duration,
}

/// sqlx checks every connection it hands out with a round trip (its `test_before_acquire`),
/// which on PostgreSQL is a round trip more for every point read and every transaction: a quiet
/// heartbeat's two reads cost four. A connection that answered less than a second ago is almost
/// surely alive; if the database went away since, the statement fails, the request gets the
/// database's error, and sqlx drops the connection when it comes back (it checks on return).
pub const LIVENESS_CHECK_AFTER: Duration = Duration::from_secs(1);

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            heartbeat_flush_every: Some(beats::FLUSH_EVERY),
            liveness_check_after: LIVENESS_CHECK_AFTER,
        }
    }
}

/// SQLite has a single writer: this process's write transactions all run on one connection
/// ([`sqlite_writer`]), and queue for it on an async mutex instead of in SQLite's busy handler
/// (which sleeps and polls), keeping write latency flat. Other processes on the same file still
/// wait for SQLite's lock. `None` on PostgreSQL.
pub(crate) type WriteGate = Option<sqlite_writer::Gate>;

/// The storage handle: cheap to clone, shared by every request and background job.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    write_gate: WriteGate,
    /// SQLite's point readers ([`sqlite_readers`]); `None` on PostgreSQL.
    readers: Option<Arc<Readers>>,
    /// PostgreSQL's point readers ([`crate::postgres_readers`]); `None` on SQLite, or with a single
    /// connection.
    postgres_readers: Option<Arc<PostgresReaders>>,
    /// Quiet heartbeats answered and not yet written ([`crate::beats`]).
    pub(crate) beats: Arc<Beats>,
    /// Sign-ins and sign-outs waiting for a batch ([`crate::session_batch`]).
    pub(crate) batches: Arc<Batches>,
    /// The catalogue's keys, as sign-ins name products ([`crate::session_state::ProductKeys`]).
    pub(crate) product_keys: Arc<crate::session_state::ProductKeys>,
}

/// A write transaction: on SQLite on the write connection, holding the gate until it ends.
pub(crate) struct WriteTx {
    pub(crate) tx: Conn,
}

/// A write transaction that ended, until what it wrote is durable ([`WriteTx::release`]).
pub(crate) enum Durable {
    Now,
    /// SQLite: released into the write connection's group, durable once its WAL is synced.
    Later(sqlite_writer::Durable),
}

impl Durable {
    pub(crate) async fn wait(self) -> StoreResult<()> {
        match self {
            Durable::Now => Ok(()),
            Durable::Later(d) => Ok(d.wait().await?),
        }
    }
}

impl WriteTx {
    /// Ends the transaction without waiting for its writes to be durable where the backend can
    /// go on meanwhile: SQLite's write connection takes the next write transaction (which sees
    /// these writes and shares their fate) while the WAL is synced. PostgreSQL commits here: its
    /// next transaction on the same rows would wait for this commit anyway. Nobody may be told
    /// of these writes before [`Durable::wait`] says Ok.
    pub(crate) async fn release(self) -> StoreResult<Durable> {
        match self.tx {
            Conn::Writer(w) => Ok(Durable::Later(w.release()?)),
            tx => WriteTx { tx }.commit().await.map(|()| Durable::Now),
        }
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self.tx {
            Conn::Tx(tx) => tx.commit().await?,
            Conn::Writer(w) => w.commit().await?,
            Conn::Pooled(_) | Conn::Reader(_) | Conn::PostgresReader(_) => {
                return Err(StoreError::corrupt("a write outside a transaction"));
            }
        }
        Ok(())
    }
}

/// Whether an SQLite connection that comes back to the pool may be used again.
///
/// On some errors (a full disk, an I/O error) SQLite rolls the whole transaction back by itself.
/// Dropping the `Transaction` then queues a `ROLLBACK` that fails ("no transaction is active"),
/// and sqlx still counts the connection as inside a transaction: every later `BEGIN` on it
/// fails, so the server would answer 500 to writes long after the disk had room again. Such a
/// connection is closed instead (the pool opens a new one).
async fn usable_after_release(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    // Runs what dropping a transaction queued (its rollback) before looking.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!(
            "closing a database connection left inside a transaction that SQLite had ended"
        );
        return Ok(false);
    }
    Ok(true)
}

/// How a write transaction begins on PostgreSQL, in one round trip: its statements run on the
/// generic plan that PostgreSQL keeps for each prepared statement. By default PostgreSQL plans a
/// statement afresh for its parameters at every run whenever it guesses that beats the generic
/// plan, and it guesses so for a session batch's state query (`crate::session_state`): planning
/// that union of a few dozen branches cost more than running it, inside the teams' locks. A write
/// transaction's statements look rows up by key, where the generic plan is the plan; reports and
/// other reads are left to PostgreSQL's own choice.
pub(crate) const POSTGRES_BEGIN_WRITE: &str =
    "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";

/// Begins a write transaction: on SQLite on the write connection, with `BEGIN IMMEDIATE`; on
/// PostgreSQL with [`POSTGRES_BEGIN_WRITE`].
pub(crate) async fn begin_write_on(pool: &AnyPool, gate: &WriteGate) -> StoreResult<WriteTx> {
    // BEGIN IMMEDIATE takes SQLite's write lock at the start. A deferred transaction that reads
    // first and writes later cannot wait: if another connection committed in between, its
    // upgrade fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT).
    let tx = match gate {
        Some(gate) => Conn::Writer(WriterTx::begin(gate).await?),
        None => Conn::Tx(pool.begin_with(POSTGRES_BEGIN_WRITE).await?),
    };
    Ok(WriteTx { tx })
}

impl Store {
    /// Connects, prepares the database (WAL for SQLite) and runs the backend's migrations.
    /// Several processes may start at once on PostgreSQL: the migrator takes an advisory lock.
    pub async fn connect(url: &str, options: ConnectOptions) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let connect_options = AnyConnectOptions::from_str(url)?
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));

        if backend == Backend::Sqlite {
            // WAL is a property of the file: set it once, on one connection, before the pool
            // opens several (concurrent attempts to switch the mode would collide).
            let mut conn = connect_options.connect().await?;
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.close().await?;
        }

        // PostgreSQL's point readers take half of the connections, the pool the rest.
        let postgres_readers = match backend {
            Backend::Postgres => options.max_connections / 2,
            Backend::Sqlite => 0,
        };
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections - postgres_readers)
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > options.liveness_check_after {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        if backend == Backend::Sqlite {
            pool_options = pool_options
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // FULL: a committed purchase or charge survives a power cut, not only a
                        // crash. The page cache is small: these connections serve the longer
                        // reads (reports, exports, sweeps) that the OS's cache serves as well,
                        // and sixteen caches of SQLite's default 2 MiB each would fill slowly
                        // and grow the server by tens of MiB over a long run.
                        conn.execute(
                            "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -256;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .after_release(|conn, _meta| Box::pin(usable_after_release(conn)));
        }
        let pool = pool_options.connect_with(connect_options.clone()).await?;

        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        tracing::info!(backend = backend.name(), "database ready");

        let (write_gate, readers): (WriteGate, _) = match backend {
            Backend::Sqlite => {
                let file = SqliteConnectOptions::from_str(url)?
                    .get_filename()
                    .to_owned();
                (Some(sqlite_writer::open(&file)?), Some(Readers::new(&file)))
            }
            Backend::Postgres => (None, None),
        };
        let postgres_readers = (postgres_readers > 0).then(|| {
            PostgresReaders::new(
                connect_options,
                postgres_readers as usize,
                options.liveness_check_after,
                options.acquire_timeout,
            )
        });
        let beats = Arc::new(Beats::default());
        if let Some(every) = options.heartbeat_flush_every {
            tokio::spawn(beats::flush_loop(
                pool.clone(),
                write_gate.clone(),
                Arc::downgrade(&beats),
                every,
            ));
        }
        Ok(Store {
            pool,
            backend,
            write_gate,
            readers,
            postgres_readers,
            beats,
            batches: Arc::new(Batches::new(crate::session_batch::most_runners(backend))),
            product_keys: Arc::default(),
        })
    }

    /// The embedded database's file name in a data directory.
    pub const SQLITE_FILE: &str = "jeton.db";

    /// The URL of the embedded database in a data directory.
    pub fn sqlite_url(data_dir: &std::path::Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join(Self::SQLITE_FILE).display()
        )
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A connection for short reads outside any write transaction: on SQLite a reader driven in
    /// place, which holds the runtime's thread while it reads (longer reads use the pool); on
    /// PostgreSQL one of the store's point readers, or a pooled connection when all are busy.
    pub(crate) async fn read_conn(&self) -> StoreResult<Conn> {
        if let Some(readers) = &self.readers {
            return Ok(Conn::Reader(readers.take()?));
        }
        if let Some(readers) = &self.postgres_readers
            && let Some(reader) = readers.take().await?
        {
            return Ok(Conn::PostgresReader(reader));
        }
        Ok(Conn::Pooled(self.pool.acquire().await?))
    }

    pub(crate) async fn begin_write(&self) -> StoreResult<WriteTx> {
        begin_write_on(&self.pool, &self.write_gate).await
    }

    /// Writes quiet heartbeats now, in one transaction.
    pub(crate) async fn write_heartbeats(
        &self,
        beats: &[(jeton_core::SessionId, beats::Beat)],
    ) -> StoreResult<()> {
        beats::write(&self.pool, &self.write_gate, beats).await
    }

    /// Writes the quiet heartbeats this process answered and has not written yet; returns how
    /// many. The background task does it every `beats::FLUSH_EVERY`; this is for shutdown and
    /// for readers that list sessions.
    pub async fn flush_heartbeats(&self) -> StoreResult<usize> {
        beats::flush(&self.pool, &self.write_gate, &self.beats).await
    }

    /// Liveness of the database, for `/healthz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Writes what is kept in memory, then closes the connections.
    pub async fn close(&self) {
        if let Err(e) = self.flush_heartbeats().await {
            tracing::warn!(error = %e, "heartbeats answered before shutdown were not written");
        }
        self.pool.close().await;
        if let Some(readers) = &self.postgres_readers {
            readers.close().await;
        }
    }

    /// The schema as this database reports it, in the form both backends share (see
    /// [`crate::schema`]), for the test that both migration folders build the same schema.
    #[cfg(feature = "testing")]
    pub async fn schema(&self) -> StoreResult<crate::schema::Schema> {
        match self.backend {
            Backend::Sqlite => crate::schema::read_sqlite(&self.pool).await,
            Backend::Postgres => crate::schema::read_postgres(&self.pool).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write transaction on PostgreSQL runs its statements on their generic plans (see
    /// [`POSTGRES_BEGIN_WRITE`]); the setting ends with it, and reads keep PostgreSQL's choice.
    #[tokio::test]
    async fn postgres_write_transactions_run_on_generic_plans() {
        let Some(db) = crate::testing::TestDb::postgres().await else {
            return;
        };
        let store = db.store().await;
        let mode = "SELECT current_setting('plan_cache_mode')";
        let mut w = store.begin_write().await.expect("begin");
        let (inside,): (String,) = sqlx::query_as(mode)
            .fetch_one(&mut w.tx)
            .await
            .expect("read inside");
        w.commit().await.expect("commit");
        let (read,): (String,) = sqlx::query_as(mode)
            .fetch_one(&mut store.read_conn().await.expect("read connection"))
            .await
            .expect("read outside");
        assert_eq!(
            (inside.as_str(), read.as_str()),
            ("force_generic_plan", "auto")
        );
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/jeton"),
            "postgres://app:***@db:5432/jeton"
        );
        assert_eq!(redact("postgres://app@db/jeton"), "postgres://app@db/jeton");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn only_the_two_backends_are_accepted() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("postgresql://h/d").unwrap(),
            Backend::Postgres
        );
        let err = Backend::from_url("mysql://u:pw@h/d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("u:***@h/d") && !err.contains("pw"), "{err}");
    }
}
