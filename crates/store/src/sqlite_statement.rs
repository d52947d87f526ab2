//! One statement on an SQLite connection that this process drives itself (the write connection,
//! [`crate::sqlite_writer`], and the readers, [`crate::sqlite_readers`]), answered in the form
//! sqlx's `Any` driver gives: the same `sqlx::query(...).bind(...)` in, the same rows out, as
//! sqlx's own SQLite driver maps them. So one SQL and one row decoding serve every connection.

use std::borrow::Cow;
use std::sync::Arc;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ffi};
use sqlx::Either;
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

/// What a statement gave: every row, then the count of changed rows (as sqlx's `fetch_many`).
pub(crate) type Results = Result<Vec<Either<AnyQueryResult, AnyRow>>, sqlx::Error>;

/// Runs one statement with its arguments: every row, then the count of changed rows.
/// `persistent` statements stay prepared on the connection.
pub(crate) fn run(
    conn: &Connection,
    sql: &str,
    persistent: bool,
    arguments: Option<AnyArguments<'_>>,
) -> Results {
    if persistent {
        let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
        run_statement(conn, &mut statement, arguments)
    } else {
        let mut statement = conn.prepare(sql).map_err(to_sqlx)?;
        run_statement(conn, &mut statement, arguments)
    }
}

fn run_statement(
    conn: &Connection,
    statement: &mut rusqlite::Statement<'_>,
    arguments: Option<AnyArguments<'_>>,
) -> Results {
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
    // Made once per statement and shared by its rows (a `UStr` clone is a reference count).
    let names: Vec<UStr> = statement
        .column_names()
        .into_iter()
        .map(|n| UStr::from(n.to_owned()))
        .collect();
    let column_names: Arc<sqlx_core::HashMap<UStr, usize>> =
        Arc::new(names.iter().cloned().zip(0..).collect());
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
                name: name.clone(),
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

pub(crate) fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
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
