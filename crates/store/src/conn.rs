//! The connection a helper's statements run on: a write transaction on either backend, or a
//! pool connection for reads. Helpers take `&mut Conn` and run `sqlx::query(...)` on it as on
//! any sqlx connection; which kind it is stays the caller's business.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Describe, Either, Execute, Executor, Transaction};

use crate::sqlite_writer::WriterTx;

#[derive(Debug)]
pub(crate) enum Conn {
    /// A PostgreSQL write transaction.
    Tx(Transaction<'static, Any>),
    /// SQLite's write transaction, on the process's one write connection.
    Writer(WriterTx),
    /// A connection of the pool, outside any write transaction.
    Pooled(PoolConnection<Any>),
}

impl<'c> Executor<'c> for &'c mut Conn {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Conn::Tx(tx) => (&mut **tx).fetch_many(query),
            Conn::Writer(w) => w.fetch_many(query),
            Conn::Pooled(c) => (&mut **c).fetch_many(query),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match self {
            Conn::Tx(tx) => (&mut **tx).fetch_optional(query),
            Conn::Writer(w) => w.fetch_optional(query),
            Conn::Pooled(c) => (&mut **c).fetch_optional(query),
        }
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Conn::Tx(tx) => (&mut **tx).prepare_with(sql, parameters),
            Conn::Writer(w) => w.prepare_with(sql, parameters),
            Conn::Pooled(c) => (&mut **c).prepare_with(sql, parameters),
        }
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Conn::Tx(tx) => (&mut **tx).describe(sql),
            Conn::Writer(w) => w.describe(sql),
            Conn::Pooled(c) => (&mut **c).describe(sql),
        }
    }
}
