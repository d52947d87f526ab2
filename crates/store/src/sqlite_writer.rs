//! SQLite's one write connection, driven in place.
//!
//! sqlx runs each SQLite connection on a worker thread and sends it every statement over a
//! channel: a statement costs two thread hand-offs, and a charging sign-in holds the write lock
//! for a dozen of them. Under load the writer then spends its time waiting to be scheduled, not in
//! SQLite (issue: charging throughput). SQLite has one writer per database anyway, so this
//! process's write transactions all run on one `rusqlite` connection, owned by the write gate,
//! on the task that holds the gate: a statement is a function call.
//!
//! The connection answers sqlx's [`Executor`] for the `Any` database, taking the same queries
//! (`sqlx::query(...).bind(...)`) and giving the same rows as the pool's connections, so one SQL
//! and one row decoding serve both backends and both kinds of SQLite connection. Reads outside
//! a write transaction stay on the pool (several readers at once, beside the writer, in WAL).

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt as _, StreamExt as _, stream};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, ffi};
use sqlx::any::{
    AnyArguments, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo, AnyTypeInfoKind, AnyValue,
};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::{Any, Describe, Either, Execute, Executor};
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long `BEGIN IMMEDIATE` keeps trying while another process holds SQLite's write lock (the
/// pool's connections wait as long, through `busy_timeout`).
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Prepared statements kept on the connection: every distinct statement of the write paths fits.
const STATEMENT_CACHE: usize = 256;

/// The write connection, behind the process's write gate.
pub(crate) type Gate = Arc<Mutex<Connection>>;

/// Opens the write connection on the database file that `url` names, migrated already.
pub(crate) fn open(file: &Path) -> Result<Gate, sqlx::Error> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(to_sqlx)?;
    // As the pool's connections (backend.rs), except the busy timeout: a busy handler would put
    // the runtime's thread to sleep, so `begin` waits for another process's write lock itself.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 0;",
    )
    .map_err(to_sqlx)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(Arc::new(Mutex::new(conn)))
}

/// A write transaction on the write connection: the gate is held from `BEGIN IMMEDIATE` to the
/// end. Dropped without [`WriterTx::commit`], it rolls back.
pub(crate) struct WriterTx {
    conn: OwnedMutexGuard<Connection>,
    open: bool,
}

impl std::fmt::Debug for WriterTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterTx")
            .field("open", &self.open)
            .finish()
    }
}

impl WriterTx {
    pub(crate) async fn begin(gate: &Gate) -> Result<WriterTx, sqlx::Error> {
        let conn = gate.clone().lock_owned().await;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match conn.execute_batch("BEGIN IMMEDIATE") {
                Ok(()) => return Ok(WriterTx { conn, open: true }),
                // Another process writes: wait without holding the runtime's thread.
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < BUSY_WAIT =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(to_sqlx(e)),
            }
        }
    }

    pub(crate) fn commit(mut self) -> Result<(), sqlx::Error> {
        self.open = false;
        self.conn.execute_batch("COMMIT").map_err(to_sqlx)
    }

    /// Runs one statement with its arguments; every row, then the count of changed rows.
    fn run(
        &mut self,
        sql: &str,
        persistent: bool,
        arguments: Option<AnyArguments<'_>>,
    ) -> Result<Vec<Either<AnyQueryResult, AnyRow>>, sqlx::Error> {
        let conn: &Connection = &self.conn;
        if persistent {
            let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
            run_statement(conn, &mut statement, arguments)
        } else {
            let mut statement = conn.prepare(sql).map_err(to_sqlx)?;
            run_statement(conn, &mut statement, arguments)
        }
    }
}

impl Drop for WriterTx {
    fn drop(&mut self) {
        // SQLite may have ended the transaction itself (a full disk, `RAISE(ROLLBACK)`): then
        // there is nothing to roll back, and the connection is fine for the next one.
        if self.open && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "rolling back an SQLite write transaction failed");
            }
        }
    }
}

fn run_statement(
    conn: &Connection,
    statement: &mut rusqlite::Statement<'_>,
    arguments: Option<AnyArguments<'_>>,
) -> Result<Vec<Either<AnyQueryResult, AnyRow>>, sqlx::Error> {
    let values = arguments.map(|a| a.values.0).unwrap_or_default();
    // `$N` is a named parameter to SQLite, numbered by first appearance: bind by its number, as
    // sqlx's own SQLite driver does.
    for index in 1..=statement.parameter_count() {
        let n = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$').or_else(|| name.strip_prefix('?')))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(index);
        let value = values.get(n.wrapping_sub(1)).ok_or_else(|| {
            sqlx::Error::Protocol(format!(
                "statement parameter ${n} has no argument ({} given)",
                values.len()
            ))
        })?;
        statement
            .raw_bind_parameter(index, to_value(value)?)
            .map_err(to_sqlx)?;
    }
    let names: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let column_names: Arc<sqlx_core::HashMap<UStr, usize>> = Arc::new(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (UStr::from(n.clone()), i))
            .collect(),
    );
    let writes = !statement.readonly();
    let mut out = Vec::new();
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next().map_err(to_sqlx)? {
        let mut any = AnyRow {
            column_names: column_names.clone(),
            columns: Vec::with_capacity(names.len()),
            values: Vec::with_capacity(names.len()),
        };
        for (i, name) in names.iter().enumerate() {
            // As sqlx's SQLite driver maps a row for `Any`: by the value's own type.
            let kind = match row.get_ref(i).map_err(to_sqlx)? {
                ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
                ValueRef::Integer(v) => AnyValueKind::BigInt(v),
                ValueRef::Real(v) => AnyValueKind::Double(v),
                ValueRef::Text(v) => AnyValueKind::Text(Cow::Owned(
                    String::from_utf8(v.to_vec()).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                )),
                ValueRef::Blob(v) => AnyValueKind::Blob(Cow::Owned(v.to_vec())),
            };
            let type_info = AnyTypeInfo {
                kind: type_kind(&kind),
            };
            any.columns.push(AnyColumn {
                ordinal: i,
                name: UStr::from(name.clone()),
                type_info,
            });
            any.values.push(AnyValue { kind });
        }
        out.push(Either::Right(any));
    }
    out.push(Either::Left(AnyQueryResult {
        rows_affected: if writes { conn.changes() } else { 0 },
        last_insert_id: writes.then(|| conn.last_insert_rowid()),
    }));
    Ok(out)
}

fn type_kind(kind: &AnyValueKind<'_>) -> AnyTypeInfoKind {
    match kind {
        AnyValueKind::BigInt(_) => AnyTypeInfoKind::BigInt,
        AnyValueKind::Double(_) => AnyTypeInfoKind::Double,
        AnyValueKind::Text(_) => AnyTypeInfoKind::Text,
        AnyValueKind::Blob(_) => AnyTypeInfoKind::Blob,
        _ => AnyTypeInfoKind::Null,
    }
}

/// An argument as SQLite stores it, as sqlx's SQLite driver binds it (`bool` as 0/1).
fn to_value(value: &AnyValueKind<'_>) -> Result<Value, sqlx::Error> {
    Ok(match value {
        AnyValueKind::Null(_) => Value::Null,
        AnyValueKind::Bool(b) => Value::Integer(i64::from(*b)),
        AnyValueKind::SmallInt(i) => Value::Integer(i64::from(*i)),
        AnyValueKind::Integer(i) => Value::Integer(i64::from(*i)),
        AnyValueKind::BigInt(i) => Value::Integer(*i),
        AnyValueKind::Real(r) => Value::Real(f64::from(*r)),
        AnyValueKind::Double(d) => Value::Real(*d),
        AnyValueKind::Text(t) => Value::Text(t.to_string()),
        AnyValueKind::Blob(b) => Value::Blob(b.to_vec()),
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "an argument of a kind SQLite cannot store: {other:?}"
            )));
        }
    })
}

/// SQLite's error, in the form sqlx's SQLite driver gives it (so that a unique violation is
/// recognised the same way on every connection, see `error::refuse_duplicate`).
#[derive(Debug)]
struct SqliteError {
    code: i32,
    message: String,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for SqliteError {}

impl DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(f, message) => {
            sqlx::Error::Database(Box::new(SqliteError {
                code: f.extended_code,
                message: message.unwrap_or_else(|| f.to_string()),
            }))
        }
        other => sqlx::Error::Protocol(format!("SQLite: {other}")),
    }
}

impl<'c> Executor<'c> for &'c mut WriterTx {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        mut query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let results = query
            .take_arguments()
            .map_err(sqlx::Error::Encode)
            .and_then(|arguments| self.run(query.sql(), query.persistent(), arguments));
        match results {
            Ok(results) => stream::iter(results.into_iter().map(Ok)).boxed(),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        mut query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let first = query
            .take_arguments()
            .map_err(sqlx::Error::Encode)
            .and_then(|arguments| self.run(query.sql(), query.persistent(), arguments))
            .map(|results| {
                results.into_iter().find_map(|r| match r {
                    Either::Right(row) => Some(row),
                    Either::Left(_) => None,
                })
            });
        std::future::ready(first).boxed()
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        _sql: &'q str,
        _parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        std::future::ready(Err(sqlx::Error::Protocol(
            "the SQLite write connection prepares its statements itself".into(),
        )))
        .boxed()
    }

    fn describe<'e, 'q: 'e>(
        self,
        _sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        std::future::ready(Err(sqlx::Error::Protocol(
            "the SQLite write connection does not describe statements".into(),
        )))
        .boxed()
    }
}
