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
use std::sync::atomic::{AtomicUsize, Ordering};
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
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

/// How long `BEGIN IMMEDIATE` keeps trying while another process holds SQLite's write lock (the
/// pool's connections wait as long, through `busy_timeout`).
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Prepared statements kept on the connection: every distinct statement of the write paths fits.
const STATEMENT_CACHE: usize = 256;

/// Write transactions committed together at most (group commit, see [`WriterTx::commit`]).
const MAX_GROUP: usize = 256;

/// The write connection and the writers queued for it.
pub(crate) struct Writer {
    conn: Arc<Mutex<Open>>,
    /// Writers waiting for the connection: while any are, a finished write transaction leaves
    /// the commit to the group.
    waiting: AtomicUsize,
}

/// The connection, and the group of finished write transactions its open SQLite transaction
/// holds, not committed yet.
struct Open {
    conn: Connection,
    group: Option<Arc<Group>>,
}

/// Write transactions committed by one `COMMIT`: each waits for its outcome before it answers.
struct Group {
    members: AtomicUsize,
    outcome: watch::Sender<Option<Result<(), Arc<str>>>>,
}

impl Group {
    fn new() -> Arc<Group> {
        Arc::new(Group {
            members: AtomicUsize::new(0),
            outcome: watch::Sender::new(None),
        })
    }

    fn outcome(&self) -> Option<Result<(), Arc<str>>> {
        self.outcome.borrow().clone()
    }

    fn finish(&self, outcome: Result<(), Arc<str>>) {
        self.outcome.send_replace(Some(outcome));
    }
}

/// The write connection, behind the process's write gate.
pub(crate) type Gate = Arc<Writer>;

/// Opens the write connection on the database file, migrated already.
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
    Ok(Arc::new(Writer {
        conn: Arc::new(Mutex::new(Open { conn, group: None })),
        waiting: AtomicUsize::new(0),
    }))
}

impl Writer {
    /// The connection, queued behind the writers before.
    async fn take(&self) -> OwnedMutexGuard<Open> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        self.conn.clone().lock_owned().await
    }
}

impl Open {
    /// Commits the group the open transaction holds; every member learns the outcome.
    fn commit_group(&mut self) -> Result<(), sqlx::Error> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let result = self.conn.execute_batch("COMMIT").map_err(to_sqlx);
        if result.is_err() && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "rolling back a failed SQLite commit failed");
            }
        }
        group.finish(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| Arc::from(e.to_string())),
        );
        result
    }

    /// After an error: if SQLite ended the whole transaction by itself (a full disk,
    /// `RAISE(ROLLBACK)`), the group's finished members are lost with it, and learn so.
    fn check_alive(&mut self, cause: &sqlx::Error) {
        if self.conn.is_autocommit() {
            if let Some(group) = self.group.take() {
                group.finish(Err(Arc::from(format!(
                    "SQLite rolled the transaction back: {cause}"
                ))));
            }
        }
    }
}

/// A write transaction on the write connection: a savepoint in the open SQLite transaction,
/// which it may share with other write transactions (group commit). It holds the connection
/// from its start to its end; dropped without [`WriterTx::commit`], it rolls back.
pub(crate) struct WriterTx {
    writer: Gate,
    open: OwnedMutexGuard<Open>,
    done: bool,
}

impl std::fmt::Debug for WriterTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterTx")
            .field("done", &self.done)
            .finish()
    }
}

impl WriterTx {
    pub(crate) async fn begin(writer: &Gate) -> Result<WriterTx, sqlx::Error> {
        let mut open = writer.take().await;
        if open.group.is_some() && open.conn.is_autocommit() {
            open.check_alive(&sqlx::Error::Protocol("the transaction ended".into()));
        }
        if open.group.is_none() {
            begin_immediate(&mut open).await?;
            open.group = Some(Group::new());
        }
        if let Err(e) = open.conn.execute_batch("SAVEPOINT step").map_err(to_sqlx) {
            open.check_alive(&e);
            return Err(e);
        }
        Ok(WriterTx {
            writer: writer.clone(),
            open,
            done: false,
        })
    }

    /// Makes the transaction's writes durable, and only then returns.
    ///
    /// Group commit: when other writers are queued for the connection, the savepoint is released
    /// into the open SQLite transaction and the connection handed on; the queued writers add
    /// theirs, and one `COMMIT` (one fsync) makes the whole group durable. Whoever finds the
    /// connection with no writer behind it, or the group full, commits; a member that is still
    /// waiting when it gets the connection back commits the group itself, so a group never
    /// waits for a writer that went away.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.done = true;
        if let Err(e) = self
            .open
            .conn
            .execute_batch("RELEASE step")
            .map_err(to_sqlx)
        {
            self.open.check_alive(&e);
            return Err(e);
        }
        let group =
            self.open.group.clone().ok_or_else(|| {
                sqlx::Error::Protocol("a write transaction outside a group".into())
            })?;
        let members = group.members.fetch_add(1, Ordering::SeqCst) + 1;
        if self.writer.waiting.load(Ordering::SeqCst) == 0 || members >= MAX_GROUP {
            return self.open.commit_group();
        }
        let writer = self.writer.clone();
        drop(self);
        let mut outcome = group.outcome.subscribe();
        let result = tokio::select! {
            biased;
            done = outcome.wait_for(Option::is_some) => match done {
                Ok(done) => done.clone(),
                Err(_) => Some(Err(Arc::from("the write connection went away"))),
            },
            mut open = writer.take() => match group.outcome() {
                Some(done) => Some(done),
                None => {
                    let ours = open.group.as_ref().is_some_and(|g| Arc::ptr_eq(g, &group));
                    if !ours {
                        return Err(sqlx::Error::Protocol("a commit group was lost".into()));
                    }
                    return open.commit_group();
                }
            },
        };
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(sqlx::Error::Protocol(format!("group commit: {e}"))),
            None => Err(sqlx::Error::Protocol("a commit group was lost".into())),
        }
    }

    /// Runs one statement with its arguments; every row, then the count of changed rows.
    fn run(
        &mut self,
        sql: &str,
        persistent: bool,
        arguments: Option<AnyArguments<'_>>,
    ) -> Result<Vec<Either<AnyQueryResult, AnyRow>>, sqlx::Error> {
        let conn: &Connection = &self.open.conn;
        let result = if persistent {
            let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
            run_statement(conn, &mut statement, arguments)
        } else {
            let mut statement = conn.prepare(sql).map_err(to_sqlx)?;
            run_statement(conn, &mut statement, arguments)
        };
        if let Err(e) = &result {
            self.open.check_alive(e);
        }
        result
    }
}

/// `BEGIN IMMEDIATE`, waiting for another process's write lock without holding the runtime's
/// thread. A deferred transaction that reads first and writes later could not wait: if another
/// connection committed in between, its upgrade fails at once (SQLITE_BUSY_SNAPSHOT).
async fn begin_immediate(open: &mut Open) -> Result<(), sqlx::Error> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match open.conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < BUSY_WAIT =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(to_sqlx(e)),
        }
    }
}

impl Drop for WriterTx {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let open = &mut *self.open;
        if open.conn.is_autocommit() {
            // SQLite ended the transaction itself: the group, if any, is lost (and learns so).
            open.check_alive(&sqlx::Error::Protocol("the transaction ended".into()));
            return;
        }
        let members = open
            .group
            .as_ref()
            .map_or(0, |g| g.members.load(Ordering::SeqCst));
        // Only this transaction's writes go; a group's finished members stay for their commit.
        let undo = if members == 0 {
            open.group = None;
            "ROLLBACK"
        } else {
            "ROLLBACK TO step; RELEASE step"
        };
        if let Err(e) = open.conn.execute_batch(undo) {
            tracing::warn!(error = %e, "rolling back an SQLite write transaction failed");
            open.check_alive(&to_sqlx(e));
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
