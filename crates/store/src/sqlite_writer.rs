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
//!
//! A commit is made durable off the connection: `COMMIT` writes the group's pages to the WAL
//! without waiting for the disk (`synchronous = NORMAL`), the connection goes on to the next
//! write transaction, and a thread of its own syncs the WAL file ([`Syncer`]) before any member of
//! the group is answered. Under the benchmark's paid sign-ins a commit's fsync took about 1 ms
//! with the connection held, as long as three batches' statements. While a sync runs, finished
//! write transactions stay in the open group, committed together once it is done.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
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
    /// Makes committed groups durable.
    syncer: Syncer,
}

/// Write transactions committed by one `COMMIT`: each waits for its outcome (the commit, then
/// the WAL's sync) before it answers.
struct Group {
    members: AtomicUsize,
    /// `COMMIT` ran: the outcome comes from the [`Syncer`], or is the commit's error.
    committed: AtomicBool,
    outcome: watch::Sender<Option<Result<(), Arc<str>>>>,
}

impl Group {
    fn new() -> Arc<Group> {
        Arc::new(Group {
            members: AtomicUsize::new(0),
            committed: AtomicBool::new(false),
            outcome: watch::Sender::new(None),
        })
    }

    fn finish(&self, outcome: Result<(), Arc<str>>) {
        self.outcome.send_replace(Some(outcome));
    }

    /// Waits for the outcome: committed and synced, or why not.
    async fn durable(&self) -> Result<(), sqlx::Error> {
        let mut outcome = self.outcome.subscribe();
        let done = match outcome.wait_for(Option::is_some).await {
            Ok(done) => done.clone(),
            Err(_) => Some(Err(Arc::from("the write connection went away"))),
        };
        match done {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(sqlx::Error::Protocol(format!("group commit: {e}"))),
            None => Err(sqlx::Error::Protocol("a commit group was lost".into())),
        }
    }
}

/// How the WAL file is made durable; a test puts its own in.
pub(crate) type SyncWal = Arc<dyn Fn(&Path) -> std::io::Result<()> + Send + Sync>;

/// `fdatasync` of the WAL file, opened by name each time: SQLite may truncate or recreate it
/// between two syncs (what it held then was checkpointed into the database file, which SQLite
/// syncs itself at every checkpoint). No WAL file at all is nothing to sync: SQLite deletes it
/// only after checkpointing all of it, when its last connection closes (a server stopping, a
/// test's database going away).
fn sync_wal_file(wal: &Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The thread that syncs the WAL after commits. Groups committed while a sync runs share the next
/// one, as transactions share a group.
#[derive(Clone)]
struct Syncer {
    committed: mpsc::Sender<Arc<Group>>,
    /// Whether a sync is running. Meanwhile a finished write transaction leaves its group open
    /// for the next ones to join, and it is committed once the sync is done: one `COMMIT` (and
    /// one write of each page the group changed) per sync, instead of one per transaction.
    syncing: Arc<watch::Sender<bool>>,
}

impl Syncer {
    fn start(wal: PathBuf, sync: SyncWal) -> std::io::Result<Syncer> {
        let (committed, groups) = mpsc::channel::<Arc<Group>>();
        let syncing = Arc::new(watch::Sender::new(false));
        let busy = syncing.clone();
        std::thread::Builder::new()
            .name("jeton-wal-sync".into())
            .spawn(move || {
                // Ends when the write connection is gone (every sender dropped).
                while let Ok(first) = groups.recv() {
                    busy.send_replace(true);
                    let mut synced = vec![first];
                    synced.extend(groups.try_iter());
                    if let Err(e) = sync(&wal) {
                        // As PostgreSQL does on a failed fsync: the kernel may have dropped the
                        // pages it could not write, so no later sync could vouch for them. The
                        // groups were committed, so they cannot be failed either; stopping leaves
                        // what the disk holds to SQLite's recovery at the next start.
                        tracing::error!(error = %e, wal = %wal.display(), "syncing SQLite's WAL failed: stopping");
                        eprintln!("syncing SQLite's WAL {} failed: {e}; stopping", wal.display());
                        std::process::abort();
                    }
                    for group in synced {
                        group.finish(Ok(()));
                    }
                    busy.send_replace(false);
                }
            })?;
        Ok(Syncer { committed, syncing })
    }

    fn is_syncing(&self) -> bool {
        *self.syncing.borrow()
    }

    /// Returns once no sync runs (at once if none does, or if the thread is gone).
    async fn idle(syncing: &watch::Sender<bool>) {
        let mut busy = syncing.subscribe();
        let _ = busy.wait_for(|busy| !busy).await;
    }

    /// Hands a committed group over; its members are answered once the WAL is synced.
    fn sync(&self, group: Arc<Group>) {
        if let Err(mpsc::SendError(group)) = self.committed.send(group) {
            group.finish(Err(Arc::from("the WAL's sync thread stopped")));
        }
    }
}

/// The write connection, behind the process's write gate.
pub(crate) type Gate = Arc<Writer>;

/// Opens the write connection on the database file, migrated already.
pub(crate) fn open(file: &Path) -> Result<Gate, sqlx::Error> {
    open_with(file, Arc::new(sync_wal_file))
}

/// [`open`], with the WAL made durable by `sync`.
pub(crate) fn open_with(file: &Path, sync: SyncWal) -> Result<Gate, sqlx::Error> {
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
    //
    // `synchronous = NORMAL`: `COMMIT` does not wait for the disk, the [`Syncer`] does, before
    // anyone is answered (FULL would sync inside `COMMIT`, holding the connection). Checkpoints
    // still sync the WAL before copying it and the database file after.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 0; \
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(to_sqlx)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mut wal = OsString::from(file.as_os_str());
    wal.push("-wal");
    let syncer = Syncer::start(PathBuf::from(wal), sync)
        .map_err(|e| sqlx::Error::Protocol(format!("starting the WAL's sync thread: {e}")))?;
    Ok(Arc::new(Writer {
        conn: Arc::new(Mutex::new(Open {
            conn,
            group: None,
            syncer,
        })),
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
    /// Commits the group the open transaction holds and hands it to the [`Syncer`]; every member
    /// learns the outcome (a failed commit's at once).
    fn commit_group(&mut self) -> Result<(), sqlx::Error> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        group.committed.store(true, Ordering::SeqCst);
        let result = self.conn.execute_batch("COMMIT").map_err(to_sqlx);
        match &result {
            Ok(()) => self.syncer.sync(group),
            Err(e) => {
                if !self.conn.is_autocommit()
                    && let Err(e) = self.conn.execute_batch("ROLLBACK")
                {
                    tracing::warn!(error = %e, "rolling back a failed SQLite commit failed");
                }
                group.finish(Err(Arc::from(e.to_string())));
            }
        }
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
    /// Group commit: when other writers are queued for the connection, or the WAL is being
    /// synced, the savepoint is released into the open SQLite transaction and the connection
    /// handed on; the writers that come meanwhile add theirs, and one `COMMIT` makes the whole
    /// group committed, and one sync of the WAL durable (the [`Syncer`], after the connection is
    /// handed on). Whoever finds the connection with no writer behind it and no sync running, or
    /// the group full, commits; a member that is still waiting when it gets the connection back
    /// (after the sync that ran) commits the group itself, so a group never waits for a writer
    /// that went away.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.release()?.wait().await
    }

    /// Ends the transaction as [`WriterTx::commit`] does, without waiting for its writes to be
    /// durable: the connection is free for the next write transaction, which sees these writes,
    /// and [`Durable::wait`] says when they are durable. Whoever reads them on this connection
    /// before then shares their fate (the same group, or a later one synced after it).
    pub(crate) fn release(mut self) -> Result<Durable, sqlx::Error> {
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
        let alone = self.writer.waiting.load(Ordering::SeqCst) == 0;
        if (alone && !self.open.syncer.is_syncing()) || members >= MAX_GROUP {
            self.open.commit_group()?;
            // The connection goes to the next writer while the WAL is synced.
            return Ok(Durable(Waiting::Group(group)));
        }
        let writer = self.writer.clone();
        let syncing = self.open.syncer.syncing.clone();
        drop(self);
        // The wait is a task of its own: should the caller go away meanwhile (a client that hung
        // up), this member still takes its turn at the connection and commits the group, which
        // would otherwise hold SQLite's write lock until the next writer came.
        Ok(Durable(Waiting::Following(tokio::spawn(follow(
            writer, group, syncing,
        )))))
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

/// A released write transaction, until its writes are durable.
pub(crate) struct Durable(Waiting);

enum Waiting {
    /// Its group is committed, or failed.
    Group(Arc<Group>),
    /// Its group is open: this member commits it if nobody else does first.
    Following(tokio::task::JoinHandle<Result<(), sqlx::Error>>),
}

impl Durable {
    /// Ok once the writes are committed and the WAL synced.
    pub(crate) async fn wait(self) -> Result<(), sqlx::Error> {
        match self.0 {
            Waiting::Group(group) => group.durable().await,
            Waiting::Following(follower) => match follower.await {
                Ok(result) => result,
                Err(e) => Err(sqlx::Error::Protocol(format!("group commit: {e}"))),
            },
        }
    }
}

/// A finished member's wait for its group: the group's outcome, or, when the member gets the
/// connection back before anyone committed the group, the commit of the group by this member.
/// While a sync runs it does not ask for the connection: the group stays open for the writers
/// that come meanwhile, and is committed when the sync is done.
async fn follow(
    writer: Gate,
    group: Arc<Group>,
    syncing: Arc<watch::Sender<bool>>,
) -> Result<(), sqlx::Error> {
    let turn = async {
        Syncer::idle(&syncing).await;
        writer.take().await
    };
    tokio::select! {
        biased;
        done = group.durable() => return done,
        mut open = turn => {
            let ours = open.group.as_ref().is_some_and(|g| Arc::ptr_eq(g, &group));
            if ours {
                open.commit_group()?;
            } else if !group.committed.load(Ordering::SeqCst) {
                return Err(sqlx::Error::Protocol("a commit group was lost".into()));
            }
        }
    }
    // Committed, by this member or another: the connection goes on while the WAL is synced.
    group.durable().await
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

    /// The SQLite this crate runs is built as `.cargo/config.toml` says (docs/design.md): without
    /// memory statistics, whose process-wide mutex at every allocation cost ~4 % of the server.
    #[test]
    fn sqlite_is_built_without_memory_statistics() {
        let conn = Connection::open_in_memory().expect("an in-memory database");
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("the compile options");
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "built with: {options:?}"
        );
    }

    /// A fresh WAL database with one table, in a directory removed when the guard is dropped.
    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("jeton.db");
        let conn = Connection::open(&file).expect("create the database file");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .expect("set the database up");
        (dir, file)
    }

    /// A write connection on `file` whose WAL syncs each announce themselves (with the WAL's
    /// path) on the first receiver and wait for the test to send on the second.
    fn with_held_syncs(file: &Path) -> (Gate, mpsc::Receiver<PathBuf>, mpsc::Sender<()>) {
        let (started, syncing) = mpsc::channel::<PathBuf>();
        let (release, released) = mpsc::channel::<()>();
        let released = std::sync::Mutex::new(released);
        let sync: SyncWal = Arc::new(move |wal: &Path| {
            started.send(wal.to_path_buf()).expect("the test listens");
            released
                .lock()
                .expect("one sync at a time")
                .recv()
                .expect("the test releases the sync");
            sync_wal_file(wal)
        });
        let gate = open_with(file, sync).expect("open the write connection");
        (gate, syncing, release)
    }

    /// The rows of the test table, read on a connection of its own.
    fn rows(file: &Path) -> i64 {
        Connection::open(file)
            .expect("open")
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .expect("count")
    }

    /// The write connection checks foreign keys and keeps the savepoints' sub-journal in memory
    /// (spilled to a temporary file, created and deleted group after group, it cost a tenth of
    /// the server's CPU under the charging benchmark). Its commits do not sync (`NORMAL`): the
    /// syncer does, off the connection (the next test).
    #[test]
    fn the_write_connection_keeps_its_sub_journal_in_memory_and_leaves_syncing_to_the_syncer() {
        let (_dir, file) = database();
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
        // temp_store 2 = MEMORY, synchronous 1 = NORMAL, foreign_keys 1 = ON.
        assert_eq!(pragmas, vec![2, 1, 1]);
    }

    /// A commit is answered only once the WAL file holding it was synced, and the connection is
    /// free for the next write transaction while the sync runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_is_answered_after_the_wal_is_synced_and_the_connection_goes_on_meanwhile() {
        let (_dir, file) = database();
        let (gate, syncing, release) = with_held_syncs(&file);

        let first = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let tx = WriterTx::begin(&gate).await?;
                tx.open
                    .conn
                    .execute_batch("INSERT INTO t VALUES (1)")
                    .map_err(to_sqlx)?;
                tx.commit().await
            })
        };
        // The sync of the first commit has started and is held.
        let wal = tokio::task::spawn_blocking(move || {
            let wal = syncing.recv().expect("the first commit is synced");
            (wal, syncing)
        })
        .await
        .expect("wait for the sync");
        let (wal, syncing) = wal;
        assert_eq!(
            wal.file_name(),
            PathBuf::from(format!("{}-wal", file.display())).file_name()
        );
        assert!(!first.is_finished(), "answered before its WAL was synced");

        // Meanwhile the connection takes the next write transaction, which sees the first.
        let second = WriterTx::begin(&gate)
            .await
            .expect("the connection is free");
        let seen: i64 = second
            .open
            .conn
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(seen, 1);
        second
            .open
            .conn
            .execute_batch("INSERT INTO t VALUES (2)")
            .expect("insert");
        let second = tokio::spawn(second.commit());
        assert!(!first.is_finished(), "answered before its WAL was synced");

        // Released, the first is answered; the second is synced next.
        release.send(()).expect("the sync waits");
        first.await.expect("the task").expect("the first commit");
        let _ = tokio::task::spawn_blocking(move || syncing.recv())
            .await
            .expect("the second sync starts");
        assert!(!second.is_finished(), "answered before its WAL was synced");
        release.send(()).expect("the sync waits");
        second.await.expect("the task").expect("the second commit");
        assert_eq!(rows(&file), 2);
    }

    /// While the WAL is being synced, a finished write transaction stays in the open group and the
    /// next ones join it: one `COMMIT` and one sync for them all once the sync is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transactions_finished_during_a_sync_are_committed_together_after_it() {
        let (_dir, file) = database();
        let (gate, syncing, release) = with_held_syncs(&file);
        let insert = |tx: &WriterTx, x: i64| {
            tx.open
                .conn
                .execute_batch(&format!("INSERT INTO t VALUES ({x})"))
                .expect("insert");
        };

        // The first commit's sync starts and is held.
        let first = WriterTx::begin(&gate).await.expect("begin");
        insert(&first, 1);
        let first = first.release().expect("release");
        let syncing = tokio::task::spawn_blocking(move || {
            syncing.recv().expect("the first sync");
            syncing
        })
        .await
        .expect("wait for the sync");

        // Two more finish meanwhile: both stay in one open group, uncommitted.
        let second = WriterTx::begin(&gate).await.expect("begin");
        insert(&second, 2);
        let second = second.release().expect("release");
        let group = {
            let open = gate.conn.try_lock().expect("free");
            let group = open.group.clone().expect("the group is left open");
            assert!(!open.conn.is_autocommit(), "not committed");
            group
        };
        let third = WriterTx::begin(&gate).await.expect("begin");
        insert(&third, 3);
        let third = third.release().expect("release");
        {
            let open = gate.conn.try_lock().expect("free");
            let same = open.group.as_ref().is_some_and(|g| Arc::ptr_eq(g, &group));
            assert!(same, "the third joined the second's group");
            assert_eq!(group.members.load(Ordering::SeqCst), 2);
            assert!(!group.committed.load(Ordering::SeqCst));
        }

        // The first sync done, the group is committed and synced once.
        release.send(()).expect("the sync waits");
        first.wait().await.expect("the first commit");
        let syncing = tokio::task::spawn_blocking(move || {
            syncing.recv().expect("the group's sync");
            syncing
        })
        .await
        .expect("wait for the sync");
        assert!(group.committed.load(Ordering::SeqCst));
        release.send(()).expect("the sync waits");
        second.wait().await.expect("the second commit");
        third.wait().await.expect("the third commit");
        assert!(
            syncing.try_recv().is_err(),
            "no third sync: the group was synced once"
        );
        assert_eq!(rows(&file), 3);
    }
}
