//! SQLite's one write connection, driven in place.
//!
//! sqlx runs each SQLite connection on a worker thread and sends it every statement over a
//! channel: a statement costs two thread hand-offs, and a charging sign-in holds the write lock
//! for a dozen of them. Under load the writer then spends its time waiting to be scheduled, not in
//! SQLite (issue: charging throughput). SQLite has one writer per database anyway, so this
//! process's write transactions all run on one `rusqlite` connection, owned by the write gate,
//! on the task that holds the gate: a statement is a function call.
//!
//! Its statements are run by [`crate::sqlite_statement`], which takes the same queries and gives
//! the same rows as sqlx's drivers (see [`crate::conn::Conn`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use sqlx::any::AnyArguments;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::sqlite_statement::{self, Results, to_sqlx};

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
    //
    // `temp_store = MEMORY` keeps the savepoints' sub-journal in memory. Every write transaction
    // is a savepoint (group commit), and SQLite copies each page a savepoint changes first to the
    // sub-journal; by default that spills to a temporary file past 64 KiB, which a group's
    // transactions reach: under the charging benchmark the server spent a tenth of its CPU
    // writing, creating and deleting that file. It holds only the pages of the open group.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 0; \
         PRAGMA temp_store = MEMORY;",
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
        if result.is_err()
            && !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "rolling back a failed SQLite commit failed");
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
        if self.conn.is_autocommit()
            && let Some(group) = self.group.take()
        {
            group.finish(Err(Arc::from(format!(
                "SQLite rolled the transaction back: {cause}"
            ))));
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
            // A transaction left open by a rollback that failed (an I/O error) would make every
            // later `BEGIN` fail: end it first.
            if !open.conn.is_autocommit() {
                open.conn.execute_batch("ROLLBACK").map_err(to_sqlx)?;
            }
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
        if let Err(e) = self
            .open
            .conn
            .execute_batch("RELEASE step")
            .map_err(to_sqlx)
        {
            // Dropped, the transaction rolls back to its savepoint.
            self.open.check_alive(&e);
            return Err(e);
        }
        self.done = true;
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
        // The wait is a task of its own: should the caller go away meanwhile (a client that hung
        // up), this member still takes its turn at the connection and commits the group, which
        // would otherwise hold SQLite's write lock until the next writer came.
        match tokio::spawn(follow(writer, group)).await {
            Ok(result) => result,
            Err(e) => Err(sqlx::Error::Protocol(format!("group commit: {e}"))),
        }
    }

    /// Runs one statement with its arguments; every row, then the count of changed rows.
    pub(crate) fn run(
        &mut self,
        sql: &str,
        persistent: bool,
        arguments: Option<AnyArguments<'_>>,
    ) -> Results {
        let result = sqlite_statement::run(&self.open.conn, sql, persistent, arguments);
        if let Err(e) = &result {
            self.open.check_alive(e);
        }
        result
    }
}

/// A finished member's wait for its group: the group's outcome, or, when the member gets the
/// connection back first, the commit of the group by this member.
async fn follow(writer: Gate, group: Arc<Group>) -> Result<(), sqlx::Error> {
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
        if members == 0 {
            open.group = None;
            if let Err(e) = open.conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "rolling back an SQLite write transaction failed");
            }
            return;
        }
        // Only this transaction's writes go. It may have read what the group's finished members
        // wrote, and its caller goes on at once: the group is committed now, so that nothing
        // read here can be lost afterwards (as before group commit, a transaction only ever
        // reads what is durable by the time its caller sees the result).
        if let Err(e) = open.conn.execute_batch("ROLLBACK TO step; RELEASE step") {
            tracing::warn!(error = %e, "rolling back an SQLite write transaction failed");
            open.check_alive(&to_sqlx(e));
        }
        if let Err(e) = open.commit_group() {
            tracing::warn!(error = %e, "committing a group of SQLite write transactions failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The write connection commits durably, checks foreign keys, and keeps the savepoints'
    /// sub-journal in memory: spilled to a temporary file, created and deleted group after group,
    /// it cost a tenth of the server's CPU under the charging benchmark.
    #[test]
    fn the_write_connection_commits_durably_and_keeps_its_sub_journal_in_memory() {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let file = std::env::temp_dir().join(format!(
            "jeton-writer-settings-{}-{unique}.db",
            std::process::id()
        ));
        drop(Connection::open(&file).expect("create the database file"));
        let gate = open(&file).expect("open the write connection");
        let pragmas: Vec<i64> = {
            let open = gate.conn.try_lock().expect("nobody else holds it");
            ["temp_store", "synchronous", "foreign_keys"]
                .iter()
                .map(|name| {
                    open.conn
                        .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                        .expect("read the pragma")
                })
                .collect()
        };
        drop(gate);
        let _ = std::fs::remove_file(&file);
        // temp_store 2 = MEMORY, synchronous 2 = FULL, foreign_keys 1 = ON.
        assert_eq!(pragmas, vec![2, 2, 1]);
    }
}
