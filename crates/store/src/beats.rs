//! Quiet heartbeats written behind (R-SES-3, R-SES-6). A heartbeat with nothing due only moves its
//! session's last-seen time, which is not money: it is answered at once and kept here, and a
//! background task writes all kept beats of this process in one transaction every
//! [`FLUSH_EVERY`]. Every session step of this process reads the kept beats of the sessions it
//! loads, so what this process was told is what it decides on; other servers see a beat once it
//! is written, well inside the one-minute margin of `jeton_core::session::heartbeat_is_quiet`. A
//! crash loses at most the beats of the last interval: a session can then only be judged dead
//! earlier, never charged more (docs/design.md, "Sessions").

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::Duration;

use jeton_core::session::Session;
use jeton_core::{PeriodId, ProductId, SessionId, TeamId, UserId};
use sqlx::AnyPool;

use crate::backend::{WriteGate, begin_write_on};
use crate::conn::Conn;
use crate::error::StoreResult;
use crate::time::from_db;

/// How often kept beats are written. Far below the one-minute quiet margin, so that a beat
/// answered by this server is in the database long before another server could judge its
/// session dead.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Most beats kept at once. One per open session at most; past it, a heartbeat writes its own
/// beat before it is answered, as every heartbeat did before beats were kept.
pub(crate) const MAX_KEPT: usize = 100_000;

/// Beats written by one statement: 4 parameters each, well inside both backends' limits.
const ROWS_PER_STATEMENT: usize = 250;

/// The rows a statement of `n` beats is written with: `n` rounded up to a power of two (or to
/// [`ROWS_PER_STATEMENT`]), the last beat repeated to fill it. A statement's text depends on its
/// number of rows, and a text prepared anew at every flush was 3 % of the server's CPU under a
/// heartbeat load; with a handful of sizes every text stays prepared on the connection without
/// its memory growing with the sizes a flush happens to have.
fn padded_rows(n: usize) -> usize {
    n.next_power_of_two().min(ROWS_PER_STATEMENT)
}

/// A session's newest kept beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Beat {
    /// Last seen, in database microseconds.
    pub seen: i64,
    /// Last active (`seen` when the beat said active), 0 when no kept beat was active.
    pub active: i64,
    /// The usage period the beat was quiet in: the write holds only while it is unrefunded.
    pub period: PeriodId,
}

/// The (team, user, product) whose usage a session step loads.
pub(crate) type Group = (TeamId, UserId, ProductId);

/// The beats of this process not yet written, by the group a step loads at once.
#[derive(Debug, Default)]
pub(crate) struct Beats {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    groups: HashMap<Group, HashMap<SessionId, Beat>>,
    count: usize,
}

/// A snapshot of a group's kept beats, taken before its usage is read.
pub(crate) struct GroupBeats(HashMap<SessionId, Beat>);

impl GroupBeats {
    /// A loaded session as this process knows it: its kept beat, if newer than what is written.
    pub(crate) fn overlay(&self, session: &mut Session) -> StoreResult<()> {
        let Some(beat) = self.0.get(&session.id) else {
            return Ok(());
        };
        let seen = from_db(beat.seen)?;
        if seen > session.last_seen_at {
            session.last_seen_at = seen;
        }
        if beat.active != 0 {
            let active = from_db(beat.active)?;
            if active > session.last_active_at {
                session.last_active_at = active;
            }
        }
        Ok(())
    }
}

impl Beats {
    fn lock(&self) -> MutexGuard<'_, Kept> {
        // A panic while holding this lock leaves a map of plain values: still usable.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a beat; false when [`MAX_KEPT`] are kept already (the caller writes it itself).
    pub(crate) fn keep(&self, group: Group, session: SessionId, beat: Beat) -> bool {
        let mut kept = self.lock();
        let full = kept.count >= MAX_KEPT;
        let sessions = kept.groups.entry(group).or_default();
        if let Some(old) = sessions.get_mut(&session) {
            *old = Beat {
                seen: old.seen.max(beat.seen),
                active: old.active.max(beat.active),
                period: beat.period,
            };
            return true;
        }
        if full {
            if sessions.is_empty() {
                kept.groups.remove(&group);
            }
            return false;
        }
        sessions.insert(session, beat);
        kept.count += 1;
        true
    }

    /// The kept beats of a group. A step takes them *before* it reads the group's sessions: a
    /// beat is forgotten only after its write committed, so the step sees each beat either here
    /// or in what it reads.
    pub(crate) fn of_group(&self, group: Group) -> GroupBeats {
        GroupBeats(self.lock().groups.get(&group).cloned().unwrap_or_default())
    }

    fn snapshot(&self) -> Vec<(Group, SessionId, Beat)> {
        let kept = self.lock();
        let mut all = Vec::with_capacity(kept.count);
        for (group, sessions) in &kept.groups {
            for (session, beat) in sessions {
                all.push((*group, *session, *beat));
            }
        }
        all
    }

    /// Forgets written beats, except where a newer beat came in meanwhile.
    fn forget(&self, written: &[(Group, SessionId, Beat)]) {
        let mut kept = self.lock();
        for (group, session, beat) in written {
            let Some(sessions) = kept.groups.get_mut(group) else {
                continue;
            };
            if sessions.get(session) == Some(beat) {
                sessions.remove(session);
                if sessions.is_empty() {
                    kept.groups.remove(group);
                }
                kept.count -= 1;
            }
        }
    }

    #[cfg(test)]
    fn of(&self, group: Group, session: SessionId) -> Option<Beat> {
        self.lock()
            .groups
            .get(&group)
            .and_then(|s| s.get(&session))
            .copied()
    }
}

/// Writes kept beats. A beat moves last-seen (and last-active) forward only, and only while the
/// session is open and the period it was quiet in unrefunded: a session that a locked step ended
/// meanwhile stays as that step left it.
pub(crate) async fn flush(pool: &AnyPool, gate: &WriteGate, beats: &Beats) -> StoreResult<usize> {
    let kept = beats.snapshot();
    if kept.is_empty() {
        return Ok(0);
    }
    let rows: Vec<(SessionId, Beat)> = kept.iter().map(|(_, s, b)| (*s, *b)).collect();
    write(pool, gate, &rows).await?;
    // Only now, once committed: a step that no longer finds a beat here reads it written.
    beats.forget(&kept);
    Ok(kept.len())
}

/// Writes `beats` now, in one transaction: the kept ones, or a heartbeat's own past [`MAX_KEPT`].
pub(crate) async fn write(
    pool: &AnyPool,
    gate: &WriteGate,
    beats: &[(SessionId, Beat)],
) -> StoreResult<()> {
    // Rows are locked in session order (`lock_sessions`), as a batch locks the sessions
    // it ends (`crate::step_writes`).
    let mut beats = beats.to_vec();
    beats.sort_by_key(|(session, _)| *session);
    let mut w = begin_write_on(pool, gate).await?;
    for chunk in beats.chunks(ROWS_PER_STATEMENT) {
        lock_sessions(&mut w.tx, chunk.iter().map(|(session, _)| *session)).await?;
        // VALUES names its columns column1.. on both backends.
        let mut sql = String::from(
            "UPDATE sessions SET last_seen_at = v.column2, last_active_at = \
             CASE WHEN v.column3 > sessions.last_active_at THEN v.column3 ELSE sessions.last_active_at END \
             FROM (VALUES ",
        );
        let rows = padded_rows(chunk.len());
        for i in 0..rows {
            let p = i * 4;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                p + 1,
                p + 2,
                p + 3,
                p + 4
            ));
        }
        sql.push_str(
            ") AS v WHERE sessions.id = v.column1 AND sessions.ended_at IS NULL \
             AND sessions.last_seen_at < v.column2 \
             AND EXISTS (SELECT 1 FROM usage_periods p WHERE p.id = v.column4 AND p.refunded_at IS NULL)",
        );
        // A repeated beat changes nothing more: the statement uses one of a row's matches, and
        // they are the same (and once written, `last_seen_at < v.column2` holds no more).
        let mut query = sqlx::query(&sql);
        let last = chunk.len() - 1;
        for i in 0..rows {
            let (session, beat) = chunk[i.min(last)];
            query = query
                .bind(session.0)
                .bind(beat.seen)
                .bind(beat.active)
                .bind(beat.period.0);
        }
        query.execute(&mut w.tx).await?;
    }
    w.commit().await
}

/// Locks the rows of `sessions` (in any order, repeats allowed) in id order, before statements
/// that change several of them. An `UPDATE … FROM (VALUES …)` locks its rows in the order its plan meets them
/// (a hash join meets them in the table's physical order), not in the order of its VALUES: a team
/// batch ending sessions and a flush of kept beats each held a row the other waited for, until
/// PostgreSQL's deadlock check ended one a second later (a p99 of one second in the charging
/// benchmark, and the batch run again one request at a time). Locked in one order first, two such
/// transactions wait for each other at most one way. One session needs no order, and SQLite's one
/// writer never waits for another transaction's rows: nothing to do for either.
pub(crate) async fn lock_sessions(
    conn: &mut Conn,
    sessions: impl IntoIterator<Item = SessionId>,
) -> StoreResult<()> {
    let sessions: BTreeSet<SessionId> = sessions.into_iter().collect();
    if sessions.len() < 2 || !conn.waits_for_row_locks() {
        return Ok(());
    }
    let list = (1..=sessions.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    // `FOR UPDATE` locks the rows as the sorted scan returns them: in id order.
    let sql = format!("SELECT id FROM sessions WHERE id IN ({list}) ORDER BY id FOR UPDATE");
    // A batch's few sizes are kept prepared; a flush's many are not (see `write`).
    let mut query = sqlx::query(&sql).persistent(sessions.len() <= 64);
    for session in sessions {
        query = query.bind(session.0);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Writes this process's kept beats `every` so often until the store is gone or closed.
pub(crate) async fn flush_loop(
    pool: AnyPool,
    gate: WriteGate,
    beats: Weak<Beats>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(beats) = beats.upgrade() else {
            return;
        };
        if pool.is_closed() {
            return;
        }
        if let Err(e) = flush(&pool, &gate, &beats).await {
            tracing::warn!(error = %e, "writing kept heartbeats failed; retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Group = (TeamId(1), UserId(2), ProductId(3));

    fn beat(seen: i64, active: i64) -> Beat {
        Beat {
            seen,
            active,
            period: PeriodId(1),
        }
    }

    #[test]
    fn a_session_keeps_its_newest_beat_and_newest_activity() {
        let beats = Beats::default();
        assert!(beats.keep(G, SessionId(7), beat(10, 10)));
        assert!(beats.keep(G, SessionId(7), beat(20, 0)));
        assert!(beats.keep(G, SessionId(7), beat(15, 15)));
        assert_eq!(beats.of(G, SessionId(7)), Some(beat(20, 15)));
        assert_eq!(beats.lock().count, 1);
    }

    #[test]
    fn a_written_beat_is_forgotten_unless_a_newer_one_came_in() {
        let beats = Beats::default();
        beats.keep(G, SessionId(1), beat(10, 0));
        beats.keep(G, SessionId(2), beat(10, 0));
        let written = beats.snapshot();
        beats.keep(G, SessionId(1), beat(30, 30));
        beats.forget(&written);
        assert_eq!(beats.of(G, SessionId(1)), Some(beat(30, 30)));
        assert_eq!(beats.of(G, SessionId(2)), None);
        assert_eq!(beats.lock().count, 1);
    }

    /// A new team with `periods` usage periods (and their sessions, ended) of `users` people on
    /// `products` products over ten days.
    async fn team_with_usage(
        store: &crate::Store,
        name: &str,
        periods: usize,
        users: usize,
        products: usize,
    ) -> TeamId {
        let team = store
            .create_team(
                &jeton_core::TeamName::parse(name).expect("a name"),
                None,
                "2026-01-01T00:00:00Z".parse().expect("a time"),
            )
            .await
            .expect("team")
            .id;
        let spec = crate::testing::SyntheticUsage {
            periods,
            users,
            products,
            days: 10,
            ..crate::testing::SyntheticUsage::year(periods)
        };
        crate::testing::load_synthetic_usage(store, team, &spec)
            .await
            .expect("load");
        team
    }

    /// `lock_sessions` takes the rows in id order: while the higher row is held elsewhere, the
    /// lower one is already locked by the transaction that waits. (Without the order, a batch
    /// ending sessions and a flush of beats deadlocked on PostgreSQL.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_locks_sessions_in_id_order() {
        let Some(db) = crate::testing::TestDb::postgres().await else {
            return;
        };
        let store = db.store().await;
        team_with_usage(&store, "Locks", 200, 10, 4).await;
        let ids: Vec<(i64,)> = sqlx::query_as("SELECT id FROM sessions ORDER BY id LIMIT 2")
            .fetch_all(store.pool())
            .await
            .expect("sessions");
        assert_eq!(ids.len(), 2, "the loader wrote sessions");
        let (low, high) = (SessionId(ids[0].0), SessionId(ids[1].0));
        let lock_one = "SELECT id FROM sessions WHERE id = $1 FOR UPDATE";

        // Someone holds the higher row.
        let mut holder = store.begin_write().await.expect("begin");
        sqlx::query(lock_one)
            .bind(high.0)
            .execute(&mut holder.tx)
            .await
            .expect("lock the higher row");
        // A transaction locks both and waits for the higher one.
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut w = store.begin_write().await.expect("begin");
                lock_sessions(&mut w.tx, [low, high]).await.expect("lock");
                w.commit().await.expect("commit");
            })
        };
        let waiting = "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_stat_activity \
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
        let mut seen = false;
        for _ in 0..1000 {
            let (n,): (i64,) = sqlx::query_as(waiting)
                .fetch_one(store.pool())
                .await
                .expect("activity");
            if n == 1 {
                seen = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(
            seen,
            "the second transaction never waited for the higher row"
        );
        // It holds the lower row already.
        let mut third = store.begin_write().await.expect("begin");
        let tried = sqlx::query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE NOWAIT")
            .bind(low.0)
            .execute(&mut third.tx)
            .await;
        assert!(tried.is_err(), "the lower row was not locked first");
        drop(third);
        drop(holder);
        waiter
            .await
            .expect("the waiter ends once the higher row is free");
        store.close().await;
    }

    #[test]
    fn a_flush_uses_a_handful_of_statement_sizes_each_holding_its_beats() {
        let sizes: BTreeSet<usize> = (1..=ROWS_PER_STATEMENT).map(padded_rows).collect();
        assert!(sizes.len() <= 9, "sizes: {sizes:?}");
        for n in 1..=ROWS_PER_STATEMENT {
            let rows = padded_rows(n);
            assert!(
                rows >= n && rows <= ROWS_PER_STATEMENT && rows < 2 * n,
                "{n} -> {rows}"
            );
        }
    }

    crate::both_backends! {
        beats_padded_to_a_statement_size_are_each_written_once => padded_beats_are_written,
    }

    /// Flushes of 3 and 5 beats (written with 4 and 8 rows, the last beat repeated) set every
    /// session's last-seen and last-active times to its own beat, and leave the others alone.
    async fn padded_beats_are_written(db: crate::testing::TestDb) {
        let store = db.store().await;
        let team = team_with_usage(&store, "Beats", 40, 4, 2).await;
        // Nine open sessions of unrefunded periods, last seen when they started.
        let periods: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, user_id, product_id, started_at FROM usage_periods \
             WHERE refunded_at IS NULL ORDER BY id LIMIT 9",
        )
        .fetch_all(store.pool())
        .await
        .expect("periods");
        assert_eq!(periods.len(), 9, "the loader wrote periods");
        let mut open = Vec::new();
        for (period, user, product, started) in periods {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO sessions (team_id, user_id, product_id, period_id, started_at, \
                 last_seen_at, last_active_at) VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING id",
            )
            .bind(team.0)
            .bind(user)
            .bind(product)
            .bind(period)
            .bind(started)
            .fetch_one(store.pool())
            .await
            .expect("an open session");
            open.push((id, period, started));
        }
        let beat_of = |k: usize| {
            let (id, period, started) = open[k];
            let seen = started + 60_000_000 * (k as i64 + 1);
            let active = if k.is_multiple_of(2) { seen } else { 0 };
            (
                SessionId(id),
                Beat {
                    seen,
                    active,
                    period: PeriodId(period),
                },
            )
        };
        let first: Vec<_> = (0..3).map(beat_of).collect();
        let second: Vec<_> = (3..8).map(beat_of).collect();
        store.write_heartbeats(&first).await.expect("three beats");
        store.write_heartbeats(&second).await.expect("five beats");
        for (k, (id, _, started)) in open.iter().enumerate() {
            let (seen, active): (i64, i64) =
                sqlx::query_as("SELECT last_seen_at, last_active_at FROM sessions WHERE id = $1")
                    .bind(*id)
                    .fetch_one(store.pool())
                    .await
                    .expect("a session");
            if k == 8 {
                assert_eq!((seen, active), (*started, *started), "no beat, unchanged");
                continue;
            }
            let (_, beat) = beat_of(k);
            let want_active = if beat.active > 0 {
                beat.active
            } else {
                *started
            };
            assert_eq!((seen, active), (beat.seen, want_active), "session {k}");
        }
        store.close().await;
    }

    #[test]
    fn past_the_limit_a_beat_is_not_kept() {
        let beats = Beats::default();
        beats.lock().count = MAX_KEPT;
        assert!(!beats.keep(G, SessionId(1), beat(10, 0)));
        assert!(beats.lock().groups.is_empty());
    }
}
