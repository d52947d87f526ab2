//! R-USR-5: CSV imports as background jobs.
//!
//! [`Store::queue_import`] stores a parsed file as an import (one row per line) in one
//! transaction; a worker then calls [`Store::run_import_chunk`] until the import is over. Each
//! chunk is one transaction that claims the import, applies its next lines, records each line's
//! outcome and the counts, and commits all of it together. So a worker that dies mid-way leaves
//! either a whole chunk or nothing, and whoever resumes starts at the first line without an
//! outcome: no line is applied twice.
//!
//! The claim is a lease on the clock (`claim_token`, `claimed_until`), renewed by every chunk:
//! while it runs, other servers leave the import alone; when a server dies, another takes the
//! import over once the lease has passed. Claiming is the first statement of a chunk's
//! transaction and holds the import's row until the commit, so even a worker that lost its lease
//! while stalled cannot apply a chunk alongside the one that took over.

use crate::conn::Conn;
use chrono::{DateTime, Duration, Utc};
use jeton_core::import::{ImportRow, Rejection, parse_products, products_field};
use jeton_core::limits::MAX_OPEN_IMPORTS_PER_TEAM;
use jeton_core::{DomainError, Email, ImportId, PersonName, TeamId};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::flex::{Catalogue, LineApplied, Secret, import_line};
use crate::ledger::{lock_team, require_open};
use crate::time::{from_db, to_db};

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    /// Stored, no line applied yet.
    Queued,
    /// Lines are being applied (or will be again, after a restart).
    Running,
    /// Every line has its outcome.
    Done,
    /// Stopped for a reason no retry would change (the team was closed); the lines before it
    /// keep their outcomes, the others have none.
    Failed,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<ImportStatus> {
        [
            ImportStatus::Queued,
            ImportStatus::Running,
            ImportStatus::Done,
            ImportStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("import status {s:?}")))
    }

    /// Queued or running: a worker still has lines to apply.
    pub fn is_open(self) -> bool {
        matches!(self, ImportStatus::Queued | ImportStatus::Running)
    }
}

/// What became of one line: exactly the outcomes R-USR-5 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOutcome {
    /// A new assignment, or a changed selection.
    Applied,
    /// Already so (the same line imported before).
    Unchanged,
    /// Not applied, for the line's `reason`.
    Refused,
}

impl LineOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LineOutcome::Applied => "applied",
            LineOutcome::Unchanged => "unchanged",
            LineOutcome::Refused => "refused",
        }
    }

    fn parse(s: &str) -> StoreResult<LineOutcome> {
        [
            LineOutcome::Applied,
            LineOutcome::Unchanged,
            LineOutcome::Refused,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| StoreError::corrupt(format!("import line outcome {s:?}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    pub id: ImportId,
    pub team: TeamId,
    pub status: ImportStatus,
    /// Lines that get an outcome (blank lines and the header get none).
    pub total: u64,
    /// Lines that have their outcome: `applied + unchanged + refused`.
    pub done: u64,
    pub applied: u64,
    pub unchanged: u64,
    pub refused: u64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why a failed import stopped: a stable code and what it means.
    pub error: Option<(String, String)>,
}

/// One line's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLine {
    pub line: u64,
    pub outcome: LineOutcome,
    /// Why a refused line was refused.
    pub reason: Option<String>,
}

/// The lines one chunk gave an outcome, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chunk {
    pub applied: u64,
    pub unchanged: u64,
    pub refused: u64,
}

/// What one call of [`Store::run_import_chunk`] did: the import after it, and the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A chunk of lines was applied and recorded; more are waiting.
    Applied(ImportJob, Chunk),
    /// No line is left: the import is done (by this call, or the chunk before).
    Finished(ImportJob, Chunk),
    /// Nothing was done: another worker holds the import's lease, or it is over.
    NotClaimed,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    #[sqlx(try_from = "i64")]
    id: ImportId,
    #[sqlx(try_from = "i64")]
    team_id: TeamId,
    status: String,
    total: i64,
    done: i64,
    applied: i64,
    unchanged: i64,
    refused: i64,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    error_code: Option<String>,
    error_detail: Option<String>,
}

const JOB_COLUMNS: &str = "id, team_id, status, total, done, applied, unchanged, refused, \
                           created_at, started_at, finished_at, error_code, error_detail";

fn count(n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| StoreError::corrupt(format!("negative import count {n}")))
}

impl JobRow {
    fn job(self) -> StoreResult<ImportJob> {
        Ok(ImportJob {
            id: self.id,
            team: self.team_id,
            status: ImportStatus::parse(&self.status)?,
            total: count(self.total)?,
            done: count(self.done)?,
            applied: count(self.applied)?,
            unchanged: count(self.unchanged)?,
            refused: count(self.refused)?,
            created_at: from_db(self.created_at)?,
            started_at: self.started_at.map(from_db).transpose()?,
            finished_at: self.finished_at.map(from_db).transpose()?,
            error: self
                .error_code
                .map(|c| (c, self.error_detail.unwrap_or_default())),
        })
    }
}

/// A line waiting to be applied, as stored.
#[derive(sqlx::FromRow)]
struct WaitingRow {
    line: i64,
    name: Option<String>,
    email: Option<String>,
    products: Option<String>,
}

impl WaitingRow {
    /// The line as it was parsed when queued; it was valid then, so a failure here is a fault.
    fn import_row(&self) -> StoreResult<ImportRow> {
        let corrupt =
            |what: &str| StoreError::corrupt(format!("import line {}: {what}", self.line));
        let name = self.name.as_deref().ok_or_else(|| corrupt("no name"))?;
        let email = self.email.as_deref().ok_or_else(|| corrupt("no email"))?;
        Ok(ImportRow {
            line: u64::try_from(self.line).map_err(|_| corrupt("negative line number"))?,
            name: PersonName::parse(name).map_err(|e| corrupt(&e.to_string()))?,
            email: Email::parse(email).map_err(|e| corrupt(&e.to_string()))?,
            products: self
                .products
                .as_deref()
                .map(parse_products)
                .transpose()
                .map_err(|e| corrupt(&e))?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LineRow {
    line: i64,
    outcome: String,
    reason: Option<String>,
}

/// Lines per INSERT when an import is stored. Multi-row statements save round trips, but the
/// SQLite driver's cost grows faster than the number of parameters: 100 lines (500 parameters)
/// stored 100,000 lines three times faster than 1,000 did.
const INSERT_ROWS: usize = 100;

fn line_db(line: u64) -> StoreResult<i64> {
    i64::try_from(line).map_err(|_| StoreError::corrupt(format!("line number {line} too large")))
}

/// `($1, $2, …), (…)`: `rows` groups of `width` numbered parameters, for a multi-row statement.
fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Stores an import of `team`: its good `rows` wait for a worker, its `refused` lines (refused
    /// when the file was read) have their outcome at once. An import with no good line is done
    /// at once. 409 `too_many_imports` when the team already has
    /// [`MAX_OPEN_IMPORTS_PER_TEAM`] imports queued or running; `team_closed` for a closed team.
    pub async fn queue_import(
        &self,
        team: TeamId,
        rows: &[ImportRow],
        refused: &[Rejection],
        now: DateTime<Utc>,
    ) -> StoreResult<ImportJob> {
        let mut w = self.begin_write().await?;
        // The team's lock makes the count of open imports below exact under concurrent POSTs.
        let team_row = lock_team(&mut w.tx, team).await?;
        require_open(&team_row)?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM import_jobs WHERE team_id = $1 AND status IN ('queued', 'running')",
        )
        .bind(team.0)
        .fetch_one(&mut w.tx)
        .await?;
        if open >= MAX_OPEN_IMPORTS_PER_TEAM as i64 {
            return Err(DomainError::TooManyImports {
                team,
                open: open as usize,
            }
            .into());
        }
        let total = (rows.len() + refused.len()) as i64;
        let (status, finished_at) = if rows.is_empty() {
            (ImportStatus::Done, Some(to_db(now)))
        } else {
            (ImportStatus::Queued, None)
        };
        let sql = format!(
            "INSERT INTO import_jobs (team_id, status, total, done, refused, created_at, finished_at) \
             VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING {JOB_COLUMNS}"
        );
        let job: JobRow = sqlx::query_as(&sql)
            .bind(team.0)
            .bind(status.as_str())
            .bind(total)
            .bind(refused.len() as i64)
            .bind(to_db(now))
            .bind(finished_at)
            .fetch_one(&mut w.tx)
            .await?;
        for batch in rows.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO import_lines (job_id, line, name, email, products) VALUES {}",
                placeholders(batch.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for row in batch {
                query = query
                    .bind(job.id.0)
                    .bind(line_db(row.line)?)
                    .bind(row.name.as_str().to_owned())
                    .bind(row.email.as_str().to_owned())
                    .bind(row.products.as_ref().map(products_field));
            }
            query.execute(&mut w.tx).await?;
        }
        for batch in refused.chunks(INSERT_ROWS) {
            let sql = format!(
                "INSERT INTO import_lines (job_id, line, outcome, reason) VALUES {}",
                placeholders(batch.len(), 4)
            );
            let mut query = sqlx::query(&sql);
            for r in batch {
                query = query
                    .bind(job.id.0)
                    .bind(line_db(r.line)?)
                    .bind(LineOutcome::Refused.as_str())
                    .bind(r.reason.clone());
            }
            query.execute(&mut w.tx).await?;
        }
        w.commit().await?;
        job.job()
    }

    /// Imports a worker may work on now: queued or running, and not held by another worker's
    /// lease. Oldest first.
    pub async fn claimable_imports(
        &self,
        claim: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<ImportId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM import_jobs WHERE status IN ('queued', 'running') \
             AND (claim_token IS NULL OR claim_token = $1 OR claimed_until <= $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(claim)
        .bind(to_db(now))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(ImportId).collect())
    }

    /// Applies the next chunk of import `id` (at most `secrets.len()` lines, one invitation
    /// secret each) for the worker holding `claim`, in one transaction: claims or renews the
    /// lease until `now + lease`, applies the lines in line order, records each one's outcome and
    /// the counts, and marks the import done when no line is left. A domain error (the team was
    /// closed) rolls the chunk back and is returned: the caller records it with
    /// [`Store::fail_import`].
    pub async fn run_import_chunk(
        &self,
        id: ImportId,
        claim: &str,
        secrets: &[Secret],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Step> {
        assert!(!secrets.is_empty(), "a chunk has at least one line");
        let mut w = self.begin_write().await?;
        // First statement: it holds the import's row until the commit (see the module's note).
        let team: Option<i64> = sqlx::query_scalar(
            "UPDATE import_jobs SET status = 'running', claim_token = $1, claimed_until = $2, \
             started_at = COALESCE(started_at, $3) \
             WHERE id = $4 AND status IN ('queued', 'running') \
             AND (claim_token IS NULL OR claim_token = $1 OR claimed_until <= $3) \
             RETURNING team_id",
        )
        .bind(claim)
        .bind(to_db(now + lease))
        .bind(to_db(now))
        .bind(id.0)
        .fetch_optional(&mut w.tx)
        .await?;
        let Some(team) = team else {
            return Ok(Step::NotClaimed);
        };
        let waiting: Vec<WaitingRow> = sqlx::query_as(
            "SELECT line, name, email, products FROM import_lines \
             WHERE job_id = $1 AND outcome IS NULL ORDER BY line LIMIT $2",
        )
        .bind(id.0)
        .bind(secrets.len() as i64)
        .fetch_all(&mut w.tx)
        .await?;
        if waiting.is_empty() {
            let job = finish(&mut w.tx, id, now).await?;
            w.commit().await?;
            return Ok(Step::Finished(job, Chunk::default()));
        }
        let team_row = lock_team(&mut w.tx, TeamId(team)).await?;
        require_open(&team_row)?;
        let catalogue = Catalogue::load(&mut w.tx).await?;
        let (mut applied, mut unchanged, mut refused) = (Vec::new(), Vec::new(), 0i64);
        for (stored, secret) in waiting.iter().zip(secrets) {
            let row = stored.import_row()?;
            match import_line(&mut w.tx, &catalogue, &team_row, &row, secret, now).await? {
                LineApplied::Applied => applied.push(stored.line),
                LineApplied::Unchanged => unchanged.push(stored.line),
                LineApplied::Refused(reason) => {
                    refused += 1;
                    sqlx::query(
                        "UPDATE import_lines SET outcome = 'refused', reason = $1 \
                         WHERE job_id = $2 AND line = $3",
                    )
                    .bind(reason)
                    .bind(id.0)
                    .bind(stored.line)
                    .execute(&mut w.tx)
                    .await?;
                }
            }
        }
        for (outcome, lines) in [
            (LineOutcome::Applied, &applied),
            (LineOutcome::Unchanged, &unchanged),
        ] {
            if lines.is_empty() {
                continue;
            }
            let list: Vec<String> = (0..lines.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "UPDATE import_lines SET outcome = $1 WHERE job_id = $2 AND line IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(outcome.as_str()).bind(id.0);
            for line in lines.iter() {
                query = query.bind(*line);
            }
            query.execute(&mut w.tx).await?;
        }
        let sql = format!(
            "UPDATE import_jobs SET done = done + $1, applied = applied + $2, \
             unchanged = unchanged + $3, refused = refused + $4 WHERE id = $5 RETURNING {JOB_COLUMNS}"
        );
        let job: JobRow = sqlx::query_as(&sql)
            .bind(waiting.len() as i64)
            .bind(applied.len() as i64)
            .bind(unchanged.len() as i64)
            .bind(refused)
            .bind(id.0)
            .fetch_one(&mut w.tx)
            .await?;
        let chunk = Chunk {
            applied: applied.len() as u64,
            unchanged: unchanged.len() as u64,
            refused: refused as u64,
        };
        // Fewer lines than asked for: these were the last ones.
        let step = if waiting.len() < secrets.len() {
            Step::Finished(finish(&mut w.tx, id, now).await?, chunk)
        } else {
            Step::Applied(job.job()?, chunk)
        };
        w.commit().await?;
        Ok(step)
    }

    /// Records that import `id` stopped for good (`code`, `detail`), if `claim` holds it or may
    /// take it (the chunk that failed was rolled back with its claim). Returns whether it did.
    pub async fn fail_import(
        &self,
        id: ImportId,
        claim: &str,
        code: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE import_jobs SET status = 'failed', error_code = $1, error_detail = $2, \
             finished_at = $3, claim_token = NULL, claimed_until = NULL \
             WHERE id = $4 AND status IN ('queued', 'running') \
             AND (claim_token IS NULL OR claim_token = $5 OR claimed_until <= $3)",
        )
        .bind(code)
        .bind(detail.chars().take(1000).collect::<String>())
        .bind(to_db(now))
        .bind(id.0)
        .bind(claim)
        .execute(&mut w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands back every import `claim` holds (its worker is stopping): any worker may take them
    /// on at once instead of after the lease. Returns how many.
    pub async fn release_imports(&self, claim: &str) -> StoreResult<u64> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE import_jobs SET claim_token = NULL, claimed_until = NULL \
             WHERE claim_token = $1 AND status IN ('queued', 'running')",
        )
        .bind(claim)
        .execute(&mut w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected())
    }

    /// Import `id` of `team` (another team's import is not found).
    pub async fn import_job(&self, team: TeamId, id: ImportId) -> StoreResult<ImportJob> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM import_jobs WHERE id = $1 AND team_id = $2");
        sqlx::query_as::<_, JobRow>(&sql)
            .bind(id.0)
            .bind(team.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::not_found("import", id))?
            .job()
    }

    /// A team's imports, newest first.
    pub async fn import_jobs(&self, team: TeamId, limit: usize) -> StoreResult<Vec<ImportJob>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE team_id = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(team.0)
            .bind(limit as i64)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(JobRow::job).collect()
    }

    /// Import `id` of `team` with its outcomes after line `after` (at most `limit`, of kind
    /// `only` when given). The outcomes are read before the import, so that its counts include
    /// every outcome listed; when it finished between the two reads they are read again, so that
    /// a finished import lists them all (its readers stop looking once it is finished).
    pub async fn import_with_outcomes(
        &self,
        team: TeamId,
        id: ImportId,
        after: u64,
        limit: usize,
        only: Option<LineOutcome>,
    ) -> StoreResult<(ImportJob, Vec<ImportLine>)> {
        if limit == 0 {
            return Ok((self.import_job(team, id).await?, Vec::new()));
        }
        let lines = self.import_outcomes(team, id, after, limit, only).await?;
        let job = self.import_job(team, id).await?;
        if job.status.is_open() {
            return Ok((job, lines));
        }
        let lines = self.import_outcomes(team, id, after, limit, only).await?;
        Ok((job, lines))
    }

    /// Outcomes of import `id` of `team` after line `after`, in line order, at most `limit`;
    /// only those of kind `only` when given. Lines still waiting have none yet.
    pub async fn import_outcomes(
        &self,
        team: TeamId,
        id: ImportId,
        after: u64,
        limit: usize,
        only: Option<LineOutcome>,
    ) -> StoreResult<Vec<ImportLine>> {
        let rows: Vec<LineRow> = sqlx::query_as(
            "SELECT l.line, l.outcome, l.reason FROM import_lines l \
             JOIN import_jobs j ON j.id = l.job_id \
             WHERE l.job_id = $1 AND j.team_id = $2 AND l.line > $3 AND l.outcome IS NOT NULL \
             AND ($4 IS NULL OR l.outcome = $4) ORDER BY l.line LIMIT $5",
        )
        .bind(id.0)
        .bind(team.0)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(only.map(LineOutcome::as_str))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ImportLine {
                    line: count(r.line)?,
                    outcome: LineOutcome::parse(&r.outcome)?,
                    reason: r.reason,
                })
            })
            .collect()
    }
}

/// Marks import `id` done and lets go of its claim, in the caller's transaction.
async fn finish(conn: &mut Conn, id: ImportId, now: DateTime<Utc>) -> StoreResult<ImportJob> {
    let sql = format!(
        "UPDATE import_jobs SET status = 'done', finished_at = $1, claim_token = NULL, \
         claimed_until = NULL WHERE id = $2 RETURNING {JOB_COLUMNS}"
    );
    let job: JobRow = sqlx::query_as(&sql)
        .bind(to_db(now))
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await?;
    job.job()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_parameter_once() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }
}
