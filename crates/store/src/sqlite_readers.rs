//! SQLite connections for the point reads of every request (the caller's key, the session, the
//! product), driven in place like the write connection ([`crate::sqlite_writer`]): a read is a
//! function call of a few microseconds instead of two thread hand-offs to a sqlx worker. In WAL
//! they read beside the writer without waiting for it. Longer reads (reports, exports) stay on
//! the pool, off the runtime's threads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use sqlx::any::AnyArguments;

use crate::sqlite_statement::{self, Results, to_sqlx};

/// Idle readers kept open; more are opened when more requests read at once.
const KEPT: usize = 8;

/// Prepared statements kept on each reader.
const STATEMENT_CACHE: usize = 64;

pub(crate) struct Readers {
    file: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(file: &Path) -> Arc<Readers> {
        Arc::new(Readers {
            file: file.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// An idle reader, or a new one.
    pub(crate) fn take(self: &Arc<Readers>) -> Result<Reader, sqlx::Error> {
        let idle = self.idle.lock().map(|mut idle| idle.pop()).ok().flatten();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.file,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(to_sqlx)?;
                // A reader never writes. A busy handler would put the runtime's thread to sleep;
                // in WAL a reader waits only while another connection recovers the log. Point
                // reads need the index pages near the root in SQLite's own cache (256 KiB, as
                // the pool's connections), the OS's cache holds the rest.
                conn.execute_batch(
                    "PRAGMA query_only = ON; PRAGMA busy_timeout = 1000; PRAGMA cache_size = -256;",
                )
                .map_err(to_sqlx)?;
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                conn
            }
        };
        Ok(Reader {
            readers: self.clone(),
            conn: Some(conn),
        })
    }
}

/// A reader taken from [`Readers`]; it goes back when dropped.
pub(crate) struct Reader {
    readers: Arc<Readers>,
    conn: Option<Connection>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Reader {
    pub(crate) fn run(
        &mut self,
        sql: &str,
        persistent: bool,
        arguments: Option<AnyArguments<'_>>,
    ) -> Results {
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| sqlx::Error::Protocol("a reader used after it went back".into()))?;
        sqlite_statement::run(conn, sql, persistent, arguments)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A reader left inside a transaction (it never begins one) is not reused.
        if !conn.is_autocommit() {
            return;
        }
        if let Ok(mut idle) = self.readers.idle.lock()
            && idle.len() < KEPT
        {
            idle.push(conn);
        }
    }
}
