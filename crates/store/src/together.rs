//! Write statements of one transaction that do not depend on each other's results, sent together.
//!
//! Each statement's SQL is the same on both backends. On SQLite a statement is a function call on
//! the write connection, and they run one after the other. On PostgreSQL each would be a round
//! trip under the team's lock, about 0.7 ms apiece on a loaded machine (docs/performance.md), so
//! they go as one statement: every one a data-modifying `WITH` part, the parts' rows or counts
//! read back by part. PostgreSQL runs such parts on one snapshot, in no set order: they must not
//! touch the same row, nor read what another writes — which is what "independent" means here.

use std::fmt::Write as _;

use sqlx::Arguments as _;
use sqlx::any::AnyArguments;

use crate::conn::Conn;
use crate::error::{StoreError, StoreResult};

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    MaybeText(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_owned())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::MaybeText(v)
    }
}

/// What a statement must do, checked once they have all run.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// Whatever it changes.
    Any,
    /// Change exactly this many rows, or the transaction fails with this complaint: the plans
    /// assumed rows the database does not hold (a stale read, a broken invariant).
    Rows(u64, String),
    /// An `INSERT` whose new rows' `(id, user_id, product_id)` come back.
    Ids,
}

#[derive(Debug, Clone)]
struct Part {
    sql: String,
    args: Vec<Arg>,
    expect: Expect,
}

/// Most parameters one PostgreSQL statement may carry (its protocol counts them in 16 bits).
const MAX_PARAMETERS: usize = u16::MAX as usize;

/// Statements gathered to run together; see the module's comment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Together {
    parts: Vec<Part>,
}

/// A statement's new rows (`Expect::Ids`), by the index [`Together::push`] gave it.
pub(crate) type Ids = Vec<(i64, i64, i64)>;

impl Together {
    /// Adds a statement with its `$1…$n` parameters; returns its index among the results.
    pub(crate) fn push(&mut self, sql: String, args: Vec<Arg>, expect: Expect) -> usize {
        debug_assert_eq!(
            placeholders(&sql),
            args.len(),
            "a statement's parameters: {sql}"
        );
        self.parts.push(Part { sql, args, expect });
        self.parts.len() - 1
    }

    /// Runs every statement on `conn`, checks what each was to do, and returns each one's new
    /// rows (empty for those not `Expect::Ids`), in the order they were pushed.
    pub(crate) async fn run(self, conn: &mut Conn) -> StoreResult<Vec<Ids>> {
        let parameters: usize = self.parts.iter().map(|p| p.args.len()).sum();
        let done =
            if self.parts.len() > 1 && conn.sends_writes_together() && parameters <= MAX_PARAMETERS
            {
                self.run_as_one(conn).await?
            } else {
                self.run_each(conn).await?
            };
        for (part, (count, _)) in self.parts.iter().zip(&done) {
            if let Expect::Rows(expected, complaint) = &part.expect
                && count != expected
            {
                return Err(StoreError::corrupt(complaint.clone()));
            }
        }
        Ok(done.into_iter().map(|(_, ids)| ids).collect())
    }

    /// One statement after the other: each one's changed rows and new ids.
    async fn run_each(&self, conn: &mut Conn) -> StoreResult<Vec<(u64, Ids)>> {
        let mut done = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            if let Expect::Ids = part.expect {
                let sql = format!("{} {RETURN_IDS}", part.sql);
                let ids =
                    sqlx::query_as_with::<_, (i64, i64, i64), _>(&sql, arguments(&part.args)?)
                        .fetch_all(&mut *conn)
                        .await?;
                done.push((ids.len() as u64, ids));
            } else {
                let changed = sqlx::query_with(&part.sql, arguments(&part.args)?)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                done.push((changed, Vec::new()));
            }
        }
        Ok(done)
    }

    /// All in one PostgreSQL statement, one round trip.
    async fn run_as_one(&self, conn: &mut Conn) -> StoreResult<Vec<(u64, Ids)>> {
        let sql = self.as_one();
        let args = arguments(self.parts.iter().flat_map(|p| &p.args))?;
        let rows = sqlx::query_as_with::<_, (i64, i64, i64, i64), _>(&sql, args)
            .fetch_all(&mut *conn)
            .await?;
        let mut done: Vec<(u64, Ids)> = vec![(0, Vec::new()); self.parts.len()];
        for (part, a, b, c) in rows {
            let k = usize::try_from(part)
                .ok()
                .filter(|k| *k < self.parts.len())
                .ok_or_else(|| StoreError::corrupt("a statement's result for no statement"))?;
            match self.parts[k].expect {
                Expect::Ids => {
                    done[k].0 += 1;
                    done[k].1.push((a, b, c));
                }
                Expect::Any | Expect::Rows(..) => {
                    done[k].0 = u64::try_from(a)
                        .map_err(|_| StoreError::corrupt("a negative count of rows"))?;
                }
            }
        }
        Ok(done)
    }

    /// `WITH p0 AS (… RETURNING …), p1 AS (…) SELECT …`: each part's rows (`Expect::Ids`) or its
    /// count of changed rows, tagged with the part's index.
    fn as_one(&self) -> String {
        let mut with = String::new();
        let mut select = String::new();
        let mut offset = 0;
        for (k, part) in self.parts.iter().enumerate() {
            let returning = match part.expect {
                Expect::Ids => RETURN_IDS,
                Expect::Any | Expect::Rows(..) => "RETURNING 1",
            };
            let sep = if k == 0 { "WITH" } else { "," };
            let _ = write!(
                with,
                "{sep} p{k} AS ({} {returning})",
                shift(&part.sql, offset)
            );
            let sep = if k == 0 { "" } else { " UNION ALL " };
            let _ = match part.expect {
                Expect::Ids => write!(
                    select,
                    "{sep}SELECT CAST({k} AS BIGINT), id, user_id, product_id FROM p{k}"
                ),
                Expect::Any | Expect::Rows(..) => write!(
                    select,
                    "{sep}SELECT CAST({k} AS BIGINT), count(*), CAST(0 AS BIGINT), \
                     CAST(0 AS BIGINT) FROM p{k}"
                ),
            };
            offset += part.args.len();
        }
        format!("{with} {select}")
    }
}

/// The values of `args`, bound in order.
fn arguments<'a>(args: impl IntoIterator<Item = &'a Arg>) -> StoreResult<AnyArguments<'a>> {
    let mut out = AnyArguments::default();
    for arg in args {
        match arg {
            Arg::Int(v) => out.add(*v),
            Arg::Text(v) => out.add(v.as_str()),
            Arg::MaybeText(v) => out.add(v.as_deref()),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

const RETURN_IDS: &str = "RETURNING id, user_id, product_id";

/// `sql` with every `$n` renumbered `$(n + offset)`. The statements here are built by the store,
/// with no `$` in any literal.
fn shift(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, ch)) = chars.next() {
        out.push(ch);
        if ch != '$' {
            continue;
        }
        let mut n = 0usize;
        let mut digits = false;
        while let Some((_, d)) = chars.peek().copied() {
            let Some(v) = d.to_digit(10) else { break };
            n = n * 10 + v as usize;
            digits = true;
            chars.next();
        }
        if digits {
            let _ = write!(out, "{}", n + offset);
        }
    }
    out
}

/// The highest `$n` in `sql`: how many parameters it takes.
fn placeholders(sql: &str) -> usize {
    let mut most = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            most = most.max(n);
        }
        rest = &rest[digits..];
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_after_those_before() {
        assert_eq!(
            shift("UPDATE t SET a = $1 WHERE b = $2 AND c = $1 + $10", 3),
            "UPDATE t SET a = $4 WHERE b = $5 AND c = $4 + $13"
        );
        assert_eq!(shift("SELECT 1", 5), "SELECT 1");
        assert_eq!(placeholders("($1, $2), ($3, $12)"), 12);
        assert_eq!(placeholders("SELECT 1"), 0);
    }

    /// Statements pushed together run on SQLite one after the other, and on PostgreSQL as one
    /// statement: there the update does not see the row the insert beside it adds, as parts of
    /// one statement share its snapshot. A count that is not the one expected fails the whole.
    #[tokio::test]
    async fn statements_run_together_on_postgres_and_in_turn_on_sqlite() {
        let sqlite = crate::testing::TestDb::sqlite().await;
        let mut dbs = vec![(sqlite.store().await, 1)];
        let postgres = crate::testing::TestDb::postgres().await;
        if let Some(db) = &postgres {
            dbs.push((db.store().await, 0));
        }
        for (store, sees_insert) in dbs {
            let mut w = store.begin_write().await.expect("begin");
            sqlx::query(
                "CREATE TEMPORARY TABLE things (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, \
                 product_id BIGINT NOT NULL)",
            )
            .execute(&mut w.tx)
            .await
            .expect("create");
            let mut t = Together::default();
            let insert = t.push(
                "INSERT INTO things (id, user_id, product_id) VALUES ($1, $2, $3), ($4, $5, $6)"
                    .into(),
                [7, 1, 2, 8, 3, 4].map(Arg::from).to_vec(),
                Expect::Ids,
            );
            t.push(
                "UPDATE things SET user_id = $1 WHERE id = $2".into(),
                vec![9.into(), 8.into()],
                Expect::Rows(sees_insert, "the update's count".into()),
            );
            let mut ids = t.run(&mut w.tx).await.expect("run");
            ids[insert].sort();
            assert_eq!(ids[insert], [(7, 1, 2), (8, 3, 4)]);
            assert_eq!(ids[1], []);

            let mut t = Together::default();
            t.push(
                "UPDATE things SET product_id = $1 WHERE id = $2".into(),
                vec![5.into(), 7.into()],
                Expect::Any,
            );
            t.push(
                "UPDATE things SET product_id = $1 WHERE id = $2".into(),
                vec![5.into(), 99.into()],
                Expect::Rows(1, "no thing 99".into()),
            );
            let err = t.run(&mut w.tx).await.expect_err("no row 99");
            assert!(err.to_string().contains("no thing 99"), "{err}");
        }
    }

    #[test]
    fn statements_become_parts_of_one() {
        let mut t = Together::default();
        t.push(
            "INSERT INTO a (x, y) VALUES ($1, $2)".into(),
            vec![1.into(), 2.into()],
            Expect::Ids,
        );
        t.push(
            "UPDATE b SET x = $1 WHERE id = $2".into(),
            vec![3.into(), 4.into()],
            Expect::Rows(1, "b".into()),
        );
        assert_eq!(
            t.as_one(),
            "WITH p0 AS (INSERT INTO a (x, y) VALUES ($1, $2) RETURNING id, user_id, product_id), \
             p1 AS (UPDATE b SET x = $3 WHERE id = $4 RETURNING 1) \
             SELECT CAST(0 AS BIGINT), id, user_id, product_id FROM p0 UNION ALL \
             SELECT CAST(1 AS BIGINT), count(*), CAST(0 AS BIGINT), CAST(0 AS BIGINT) FROM p1"
        );
    }
}
