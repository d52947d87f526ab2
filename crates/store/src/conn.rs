//! The connection a helper's statements run on: a write transaction on either backend, or a
//! connection for reads. Helpers take `&mut Conn` and run `sqlx::query(...)` on it as on any sqlx
//! connection; which kind it is stays the caller's business.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt as _, StreamExt as _, TryFutureExt as _, TryStreamExt as _, stream};
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Describe, Either, Execute, Executor, Transaction};

use crate::postgres_readers::{PostgresReader, failed};
use crate::sqlite_readers::Reader;
use crate::sqlite_statement::Results;
use crate::sqlite_writer::WriterTx;

#[derive(Debug)]
pub(crate) enum Conn {
    /// A PostgreSQL write transaction.
    Tx(Transaction<'static, Any>),
    /// SQLite's write transaction, on the process's one write connection.
    Writer(WriterTx),
    /// A connection of the pool, outside any write transaction.
    Pooled(PoolConnection<Any>),
    /// An SQLite reader driven in place.
    Reader(Reader),
    /// A PostgreSQL connection kept for point reads, outside sqlx's pool.
    PostgresReader(PostgresReader),
}

impl Conn {
    /// Whether this transaction can wait for another's row locks: PostgreSQL's can; SQLite's one
    /// writer runs one write transaction at a time.
    pub(crate) fn waits_for_row_locks(&self) -> bool {
        matches!(self, Conn::Tx(_))
    }

    /// Whether this is PostgreSQL's write transaction, whose statements' plans start every node
    /// at each execution: a statement that grows with its batch costs for its size every time.
    pub(crate) fn starts_plans_per_execution(&self) -> bool {
        matches!(self, Conn::Tx(_))
    }

    /// Whether this is PostgreSQL's write transaction, where each statement is a round trip to the
    /// database and independent writes go together as one (`crate::together`); SQLite's writer
    /// runs a statement as a function call, and has no data-modifying `WITH`.
    pub(crate) fn sends_writes_together(&self) -> bool {
        matches!(self, Conn::Tx(_))
    }
}

/// Runs `query` in place on an SQLite connection this process drives itself.
fn in_place<'q, E: Execute<'q, Any>>(
    mut query: E,
    run: impl FnOnce(&str, bool, Option<AnyArguments<'q>>) -> Results,
) -> Results {
    let arguments = query.take_arguments().map_err(sqlx::Error::Encode)?;
    run(query.sql(), query.persistent(), arguments)
}

fn stream_of<'e>(
    results: Results,
) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>> {
    match results {
        Ok(results) => stream::iter(results.into_iter().map(Ok)).boxed(),
        Err(e) => stream::once(async move { Err(e) }).boxed(),
    }
}

fn first_row<'e>(results: Results) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>> {
    let first = results.map(|results| {
        results.into_iter().find_map(|r| match r {
            Either::Right(row) => Some(row),
            Either::Left(_) => None,
        })
    });
    std::future::ready(first).boxed()
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
            Conn::Pooled(c) => (&mut **c).fetch_many(query),
            Conn::Writer(w) => stream_of(in_place(query, |q, p, a| w.run(q, p, a))),
            Conn::Reader(r) => stream_of(in_place(query, |q, p, a| r.run(q, p, a))),
            Conn::PostgresReader(r) => match r.parts() {
                Ok((conn, flag)) => conn
                    .fetch_many(query)
                    .inspect_err(move |_| failed(&flag))
                    .boxed(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            },
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
            Conn::Pooled(c) => (&mut **c).fetch_optional(query),
            Conn::Writer(w) => first_row(in_place(query, |q, p, a| w.run(q, p, a))),
            Conn::Reader(r) => first_row(in_place(query, |q, p, a| r.run(q, p, a))),
            Conn::PostgresReader(r) => match r.parts() {
                Ok((conn, flag)) => conn
                    .fetch_optional(query)
                    .inspect_err(move |_| failed(&flag))
                    .boxed(),
                Err(e) => std::future::ready(Err(e)).boxed(),
            },
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
            Conn::Pooled(c) => (&mut **c).prepare_with(sql, parameters),
            Conn::PostgresReader(r) => match r.parts() {
                Ok((conn, _)) => conn.prepare_with(sql, parameters),
                Err(e) => std::future::ready(Err(e)).boxed(),
            },
            Conn::Writer(_) | Conn::Reader(_) => std::future::ready(Err(sqlx::Error::Protocol(
                "SQLite connections driven in place prepare their statements themselves".into(),
            )))
            .boxed(),
        }
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match self {
            Conn::Tx(tx) => (&mut **tx).describe(sql),
            Conn::Pooled(c) => (&mut **c).describe(sql),
            Conn::PostgresReader(r) => match r.parts() {
                Ok((conn, _)) => conn.describe(sql),
                Err(e) => std::future::ready(Err(e)).boxed(),
            },
            Conn::Writer(_) | Conn::Reader(_) => std::future::ready(Err(sqlx::Error::Protocol(
                "SQLite connections driven in place do not describe statements".into(),
            )))
            .boxed(),
        }
    }
}
