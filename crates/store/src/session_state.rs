//! What session steps plan on, read in one round trip under the team's lock: for each (user,
//! product) of the step or batch, who pays (the user's windows, assignment and own selection, the
//! team's defaults) and the usage (the latest period, what its charge drew, the open sessions);
//! the team's packs; and the answers remembered for the members' idempotency keys.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use jeton_core::access::{self, ProductAccess};
use jeton_core::session::{
    self, Access, AccessKind, Entitlement as Window, FlexStanding, Period, Session, Usage,
};
use jeton_core::{
    DomainError, IdempotencyKey, PackId, PeriodId, ProductId, ProductKey, SessionId, Tokens, UserId,
};

use crate::conn::Conn;
use crate::error::{StoreError, StoreResult};
use crate::flex::AssignmentRow;
use crate::idempotency::Remembered;
use crate::ledger::PackRow;
use crate::team_rows::TeamRow;
use crate::time::{from_db, to_db};

/// A product as a request names it. What it costs (daily rate, idle awareness) is not here: the
/// state query reads it under the team's lock ([`PairState::daily_rate`]), so a period opens at
/// the rate of the moment it is charged, whichever server changed it.
#[derive(sqlx::FromRow, Clone, Debug)]
pub(crate) struct ProductRow {
    #[sqlx(try_from = "i64")]
    pub id: ProductId,
    pub key: String,
}

/// The products' keys and ids this server has looked up. A product's key and id never change and
/// products are never deleted, so an entry never goes stale, on any number of servers; a key not
/// found is not kept (the product may be added later). Bounded by the catalogue. Saves every
/// sign-in a read of the catalogue.
#[derive(Default)]
pub(crate) struct ProductKeys {
    ids: Mutex<HashMap<String, ProductId>>,
}

impl ProductKeys {
    /// The product of `key`, if this server has seen it.
    pub(crate) fn known(&self, key: &str) -> Option<ProductRow> {
        let id = self.lock().get(key).copied()?;
        Some(ProductRow {
            id,
            key: key.to_owned(),
        })
    }

    /// Reads the product of `key` from the catalogue, and keeps it.
    pub(crate) async fn look_up(
        &self,
        conn: &mut Conn,
        key: &str,
    ) -> StoreResult<Option<ProductRow>> {
        let row = product_by_key(conn, key).await?;
        if let Some(row) = &row {
            self.lock().insert(row.key.clone(), row.id);
        }
        Ok(row)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProductId>> {
        // A panic while holding this lock leaves a plain map: still usable.
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn product_by_key(conn: &mut Conn, key: &str) -> StoreResult<Option<ProductRow>> {
    Ok(
        sqlx::query_as("SELECT id, key FROM products WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub(crate) async fn product_by_id(conn: &mut Conn, id: ProductId) -> StoreResult<ProductRow> {
    Ok(sqlx::query_as("SELECT id, key FROM products WHERE id = $1")
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await?)
}

/// One (user, product) to read, the idempotency key its request came with, the request's time
/// (when its access is judged), and which of its open sessions the step needs.
pub(crate) struct Wanted<'a> {
    pub user: UserId,
    pub product: &'a ProductRow,
    pub key: Option<(&'a str, &'a IdempotencyKey)>,
    pub now: DateTime<Utc>,
    pub sessions: Listing,
}

/// Which open sessions of a pair are read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Listing {
    /// All of them (a heartbeat, a sweep, a result).
    Every,
    /// What a sign-in (none) or a sign-out of this session at the pair's time needs
    /// ([`Usage::listed_for`]): the others only tell that they exist ([`Usage::unlisted`]). A pair
    /// with a pool of machines signed in reads a few rows instead of every one of them.
    For(Option<SessionId>),
}

impl Listing {
    /// The bounds the state query lists by: (own session, last seen at or before which a session
    /// is listed, the time the latest period must end after for the rest to be left out). Every
    /// session is last seen before the largest cut, and no period (nor its absence, which counts
    /// as ending at the cut) ends by the smallest time: the other branches list nothing.
    fn bounds(self, now: DateTime<Utc>) -> (i64, i64, i64) {
        match self {
            Listing::Every => (-1, i64::MAX, i64::MIN),
            Listing::For(own) => (
                own.map_or(-1, |s| s.0),
                // Seen before the cut is dead (`last_seen_at < cut`); the cut rounded down to the
                // stored microsecond lists at most a microsecond's sessions more, never fewer.
                to_db(session::dead_if_seen_before(now)),
                to_db(now),
            ),
        }
    }
}

/// What one (user, product) plans on.
pub(crate) struct PairState {
    /// R-SES-1, R-PRI: who pays for the product now, or why nobody may.
    pub access: Result<Access, DomainError>,
    /// The product's daily rate now, read under the lock (R-CAT-3: a rate change applies to the
    /// periods opened after it).
    pub daily_rate: Tokens,
    pub usage: Usage,
    /// What the latest period's charge drew, pack by pack, in the order it drew (what its
    /// refund gives back, R-SES-4).
    pub drawn: Vec<(PackId, Tokens)>,
    /// The answer remembered for the request's idempotency key, if it was seen before.
    pub remembered: Option<Remembered>,
}

/// What a step or batch plans on: one [`PairState`] per [`Wanted`], in order, and the packs.
pub(crate) struct TeamState {
    pub pairs: Vec<PairState>,
    /// The team's packs that are active or still hold tokens, by id.
    pub packs: Vec<PackRow>,
}

/// A row of the state query. `source` says which kind, and which columns it fills; `u` and `p`
/// name the (user, product) it belongs to where it belongs to one:
/// - `window`: a subscription or trial (`u`, `p`, `name` kind, `a` starts, `b` ends);
/// - `assignment`: the user's assignment on the team (`u`, `name` status, `a` removed, `b` all
///   products);
/// - `selected`: a product the user selected (`u`, `name` its key); `default`: a team default;
/// - `period`: the latest period (`u`, `p`, `id`, `name` access, `a` started, `b` ends, `c`
///   tokens, `d` refunded);
/// - `drawn`: what the latest period's charge drew (`u`, `p`, `id` the pack, `a` the signed
///   amount, `c` the event's id);
/// - `session`: an open session (`u`, `p`, `id`, `a` started, `b` last seen, `c` last active);
/// - `unlisted`: other sessions of (`u`, `p`) are open ([`Listing::For`]);
/// - `product`: a wanted product as it is now (`p`, `a` daily rate, `b` idle awareness);
/// - `pack`: a pack that is active or still holds tokens (`id`, `a` tokens, `b` remaining, `c`
///   moved out, `d` purchased, `e` expires);
/// - `key`: a remembered answer (`id` the index of the wanted pair, `name` fingerprint, `t`
///   response).
#[derive(sqlx::FromRow)]
struct StateRow {
    source: String,
    /// The team the row belongs to, on PostgreSQL, which reads several teams in one query
    /// ([`POSTGRES_STATE_SQL`]); SQLite reads one team at a time and leaves it out.
    #[sqlx(default)]
    tm: Option<i64>,
    u: Option<i64>,
    p: Option<i64>,
    id: Option<i64>,
    name: Option<String>,
    t: Option<String>,
    a: Option<i64>,
    b: Option<i64>,
    c: Option<i64>,
    d: Option<i64>,
    e: Option<i64>,
}

/// The state query for `slots` pairs on SQLite. `$1` team, `$2` now; slot `k` binds user, product, scope,
/// key and the [`Listing::bounds`] from `$3 + 7k`. A slot past the wanted pairs binds user and
/// product -1 and an empty key, which match nothing: padding the slots to a power of two keeps
/// the distinct statements (each prepared once per connection) to a handful. The first branch
/// names the columns; its casts date from when PostgreSQL ran this text too (it types a union's
/// columns from the branches pairwise, and two untyped NULLs made text). PostgreSQL now runs
/// [`POSTGRES_STATE_SQL`].
fn state_sql(slots: usize) -> String {
    let param = |k: usize, i: usize| format!("${}", 3 + SLOT_PARAMETERS * k + i);
    let users = (0..slots)
        .map(|k| param(k, 0))
        .collect::<Vec<_>>()
        .join(", ");
    let products = (0..slots)
        .map(|k| param(k, 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!(
        "SELECT 'window' AS source, user_id AS u, product_id AS p, CAST(NULL AS BIGINT) AS id, \
             kind AS name, CAST(NULL AS TEXT) AS t, starts_at AS a, ends_at AS b, \
             CAST(NULL AS BIGINT) AS c, CAST(NULL AS BIGINT) AS d, CAST(NULL AS BIGINT) AS e \
             FROM entitlements WHERE user_id IN ({users}) AND product_id IN ({products}) \
         UNION ALL SELECT 'assignment', user_id, NULL, NULL, status, NULL, removed_at, access_all, \
             NULL, NULL, NULL FROM flex_assignments WHERE team_id = $1 AND user_id IN ({users}) \
         UNION ALL SELECT 'selected', s.user_id, NULL, NULL, p.key, NULL, NULL, NULL, NULL, NULL, \
             NULL FROM assignment_products s JOIN products p ON p.id = s.product_id \
             WHERE s.team_id = $1 AND s.user_id IN ({users}) \
         UNION ALL SELECT 'default', NULL, NULL, NULL, p.key, NULL, NULL, NULL, NULL, NULL, NULL \
             FROM team_defaults d JOIN products p ON p.id = d.product_id WHERE d.team_id = $1 \
         UNION ALL SELECT 'pack', NULL, NULL, id, NULL, NULL, tokens, remaining, moved_out, \
             purchased_at, expires_at FROM packs \
             WHERE team_id = $1 AND (expires_at > $2 OR remaining > 0) \
         UNION ALL SELECT 'product', NULL, id, NULL, NULL, NULL, daily_rate, idle_awareness, NULL, \
             NULL, NULL FROM products WHERE id IN ({products})"
    );
    for k in 0..slots {
        let (u, p, scope, key) = (param(k, 0), param(k, 1), param(k, 2), param(k, 3));
        let (own, cut, now) = (param(k, 4), param(k, 5), param(k, 6));
        let latest = format!(
            "FROM usage_periods WHERE team_id = $1 AND user_id = {u} AND product_id = {p} \
             ORDER BY started_at DESC, id DESC LIMIT 1"
        );
        // `Usage::listed_for`: the dead sessions, the step's own, and every one when the latest
        // period has ended (or there is none); otherwise only whether any other is open. Four
        // branches rather than one with ORs (a session two of them list is read once): the dead
        // by last-seen time (few: the sweep ends them), the own by id, every one not at all while
        // the period runs (a one-time test), and whether another is open up to the pair's first
        // live one. `last_seen_at + 0` keeps that last test off `sessions_seen`: PostgreSQL's
        // generic plan, made on a young table's statistics, served a live range from it (every
        // live session of every team) and a state query took 2 ms.
        let ended = format!("COALESCE((SELECT ends_at {latest}), {cut}) <= {now}");
        let open = format!(
            "FROM sessions WHERE team_id = $1 AND user_id = {u} AND product_id = {p} \
             AND ended_at IS NULL"
        );
        let session = "SELECT 'session', user_id, product_id, id, NULL, NULL, started_at, \
             last_seen_at, last_active_at, NULL, NULL";
        // Writing to a String cannot fail.
        let _ = write!(
            sql,
            " UNION ALL SELECT 'period', user_id, product_id, id, access, NULL, started_at, \
                 ends_at, tokens, refunded_at, NULL FROM (SELECT user_id, product_id, id, access, \
                 started_at, ends_at, tokens, refunded_at {latest}) AS latest{k} \
             UNION ALL SELECT 'drawn', CAST({u} AS BIGINT), CAST({p} AS BIGINT), pack_id, NULL, NULL, \
                 amount, NULL, id, NULL, NULL FROM ledger_events WHERE team_id = $1 \
                 AND kind = 'charged' AND cause_kind = 'period' \
                 AND cause_ref = (SELECT CAST(id AS TEXT) {latest}) \
             UNION ALL {session} {open} AND last_seen_at <= {cut} \
             UNION ALL {session} {open} AND id = {own} \
             UNION ALL {session} {open} AND {ended} \
             UNION ALL SELECT 'unlisted', CAST({u} AS BIGINT), CAST({p} AS BIGINT), NULL, NULL, \
                 NULL, NULL, NULL, NULL, NULL, NULL WHERE NOT ({ended}) AND EXISTS (SELECT 1 \
                 {open} AND id <> {own} AND last_seen_at + 0 > {cut}) \
             UNION ALL SELECT 'key', NULL, NULL, {k}, fingerprint, response, NULL, NULL, NULL, \
                 NULL, NULL FROM idempotency_keys WHERE team_id = $1 AND scope = {scope} \
                 AND key = {key}"
        );
    }
    sql
}

/// The state query on PostgreSQL, for any number of pairs of any number of teams: `$1` now, `$2`
/// the wanted pairs as a JSON array of [`Slot`]s. PostgreSQL initialises every node of a plan at
/// each execution, so [`state_sql`]'s branches per slot cost a batch for each slot, padded ones
/// too (a quarter of PostgreSQL's time in a paid sign-in's batch went to starting plans); this
/// plan is the same size for one pair or sixty-four, on one team or several. Every row names its
/// team (`tm`). Lists what [`state_sql`] lists, row for row, except that a session two branches
/// list may come once; SQLite keeps [`state_sql`], where a prepared statement's execution starts
/// nothing.
const POSTGRES_STATE_SQL: &str = "\
WITH w AS (SELECT * FROM jsonb_to_recordset(CAST($2 AS jsonb)) AS w(t BIGINT, k BIGINT, u BIGINT, \
    p BIGINT, scope TEXT, key TEXT, own BIGINT, cut BIGINT, now BIGINT)), \
wt AS (SELECT DISTINCT t FROM w), \
wu AS (SELECT DISTINCT t, u FROM w), \
latest AS (SELECT w.t, w.u, w.p, w.own, w.cut, l.id, l.access, l.started_at, l.ends_at, l.tokens, \
    l.refunded_at, COALESCE(l.ends_at, w.cut) <= w.now AS ended FROM w LEFT JOIN LATERAL \
    (SELECT id, access, started_at, ends_at, tokens, refunded_at FROM usage_periods \
     WHERE team_id = w.t AND user_id = w.u AND product_id = w.p \
     ORDER BY started_at DESC, id DESC LIMIT 1) AS l ON TRUE) \
SELECT 'window' AS source, w.t AS tm, w.u AS u, w.p AS p, CAST(NULL AS BIGINT) AS id, \
    x.kind AS name, CAST(NULL AS TEXT) AS t, x.starts_at AS a, x.ends_at AS b, \
    CAST(NULL AS BIGINT) AS c, CAST(NULL AS BIGINT) AS d, CAST(NULL AS BIGINT) AS e \
    FROM w CROSS JOIN LATERAL \
    (SELECT kind, starts_at, ends_at FROM entitlements WHERE user_id = w.u AND product_id = w.p \
     OFFSET 0) AS x \
UNION ALL SELECT 'assignment', wu.t, wu.u, NULL, NULL, x.status, NULL, x.removed_at, \
    x.access_all, NULL, NULL, NULL FROM wu CROSS JOIN LATERAL (SELECT status, removed_at, \
    access_all FROM flex_assignments WHERE team_id = wu.t AND user_id = wu.u OFFSET 0) AS x \
UNION ALL SELECT 'selected', wu.t, wu.u, NULL, NULL, x.key, NULL, NULL, NULL, NULL, NULL, NULL \
    FROM wu CROSS JOIN LATERAL (SELECT p.key FROM assignment_products s \
    JOIN products p ON p.id = s.product_id WHERE s.team_id = wu.t AND s.user_id = wu.u \
    OFFSET 0) AS x \
UNION ALL SELECT 'default', d.team_id, NULL, NULL, NULL, p.key, NULL, NULL, NULL, NULL, NULL, \
    NULL FROM team_defaults d JOIN products p ON p.id = d.product_id \
    WHERE d.team_id IN (SELECT t FROM wt) \
UNION ALL SELECT 'pack', team_id, NULL, NULL, id, NULL, NULL, tokens, remaining, moved_out, \
    purchased_at, expires_at FROM packs WHERE team_id IN (SELECT t FROM wt) \
    AND (expires_at > $1 OR remaining > 0) \
UNION ALL SELECT 'product', x.t, NULL, x.p, NULL, NULL, NULL, p.daily_rate, p.idle_awareness, \
    NULL, NULL, NULL FROM (SELECT DISTINCT t, p FROM w) AS x JOIN products p ON p.id = x.p \
UNION ALL SELECT 'period', t, u, p, id, access, NULL, started_at, ends_at, tokens, refunded_at, \
    NULL FROM latest WHERE id IS NOT NULL \
UNION ALL SELECT 'drawn', l.t, l.u, l.p, x.pack_id, NULL, NULL, x.amount, NULL, x.id, NULL, NULL \
    FROM latest l CROSS JOIN LATERAL (SELECT pack_id, amount, id FROM ledger_events \
    WHERE team_id = l.t AND kind = 'charged' AND cause_kind = 'period' \
    AND cause_ref = CAST(l.id AS TEXT) OFFSET 0) AS x \
UNION ALL SELECT 'session', l.t, l.u, l.p, x.id, NULL, NULL, x.started_at, x.last_seen_at, \
    x.last_active_at, NULL, NULL FROM latest l CROSS JOIN LATERAL (SELECT id, started_at, \
    last_seen_at, last_active_at FROM sessions WHERE team_id = l.t AND user_id = l.u \
    AND product_id = l.p AND ended_at IS NULL \
    AND (last_seen_at + 0 <= l.cut OR id = l.own OR l.ended) OFFSET 0) AS x \
UNION ALL SELECT 'unlisted', l.t, l.u, l.p, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
    FROM latest l CROSS JOIN LATERAL (SELECT 1 FROM sessions WHERE team_id = l.t \
    AND user_id = l.u AND product_id = l.p AND ended_at IS NULL AND id <> l.own \
    AND last_seen_at + 0 > l.cut LIMIT 1) AS x WHERE NOT l.ended \
UNION ALL SELECT 'key', w.t, NULL, NULL, w.k, x.fingerprint, x.response, NULL, NULL, NULL, NULL, \
    NULL FROM w CROSS JOIN LATERAL (SELECT fingerprint, response FROM idempotency_keys \
    WHERE team_id = w.t AND scope = w.scope AND key = w.key OFFSET 0) AS x";

/// A wanted pair as [`POSTGRES_STATE_SQL`] reads it: `t` its team, `k` its index among its
/// team's pairs, the scope and key of its request's idempotency key (none: null, which matches
/// nothing), and the [`Listing::bounds`].
#[derive(serde::Serialize)]
struct Slot<'a> {
    t: i64,
    k: usize,
    u: i64,
    p: i64,
    scope: Option<&'a str>,
    key: Option<&'a str>,
    own: i64,
    cut: i64,
    now: i64,
}

/// The parameters each slot of the state query binds.
const SLOT_PARAMETERS: usize = 7;

/// How many slots a state query for `wanted` pairs has: the next power of two.
fn slots_for(wanted: usize) -> usize {
    wanted.max(1).next_power_of_two()
}

/// Reads what a step or batch on `team` (locked by the caller) plans on, for each wanted (user,
/// product); at most one wanted entry per (user, product). `now`: the packs that may pay then
/// (the batch's earliest request).
pub(crate) async fn load(
    conn: &mut Conn,
    team: &TeamRow,
    wanted: &[Wanted<'_>],
    now: DateTime<Utc>,
) -> StoreResult<TeamState> {
    load_teams(conn, &[(team, wanted)], now)
        .await?
        .pop()
        .ok_or_else(|| StoreError::corrupt("the state of one team came back empty"))
}

/// [`load`] for several teams at once (each locked by the caller, each at most once), in one
/// query on PostgreSQL: a batch of many teams' requests reads as a batch of one team's does.
/// One [`TeamState`] per team, in order.
pub(crate) async fn load_teams(
    conn: &mut Conn,
    teams: &[(&TeamRow, &[Wanted<'_>])],
    now: DateTime<Utc>,
) -> StoreResult<Vec<TeamState>> {
    let rows: Vec<Vec<StateRow>> = match conn.starts_plans_per_execution() {
        true => {
            let mut by_team: Vec<Vec<StateRow>> = teams.iter().map(|_| Vec::new()).collect();
            for row in postgres_rows(conn, teams, now).await? {
                let at = teams
                    .iter()
                    .position(|(team, _)| Some(team.id.0) == row.tm)
                    .ok_or_else(|| StoreError::corrupt("a state row of no team read"))?;
                by_team[at].push(row);
            }
            by_team
        }
        false => {
            let mut by_team = Vec::with_capacity(teams.len());
            for (team, wanted) in teams {
                by_team.push(sqlite_rows(conn, team, wanted, now).await?);
            }
            by_team
        }
    };
    let mut states = Vec::with_capacity(teams.len());
    for ((team, wanted), rows) in teams.iter().zip(rows) {
        let mut read = Read::new(wanted.len());
        for row in rows {
            read.add(row, wanted, team)?;
        }
        states.push(read.finish(wanted, team)?);
    }
    Ok(states)
}

async fn postgres_rows(
    conn: &mut Conn,
    teams: &[(&TeamRow, &[Wanted<'_>])],
    now: DateTime<Utc>,
) -> StoreResult<Vec<StateRow>> {
    let mut slots: Vec<Slot<'_>> = Vec::new();
    for (team, wanted) in teams {
        for (k, w) in wanted.iter().enumerate() {
            let (own, cut, now) = w.sessions.bounds(w.now);
            slots.push(Slot {
                t: team.id.0,
                k,
                u: w.user.0,
                p: w.product.id.0,
                scope: w.key.map(|(scope, _)| scope),
                key: w.key.map(|(_, key)| key.as_str()),
                own,
                cut,
                now,
            });
        }
    }
    let slots = serde_json::to_string(&slots)
        .map_err(|e| StoreError::corrupt(format!("the state query's pairs: {e}")))?;
    Ok(sqlx::query_as::<_, StateRow>(POSTGRES_STATE_SQL)
        .bind(to_db(now))
        .bind(slots)
        .fetch_all(&mut *conn)
        .await?)
}

async fn sqlite_rows(
    conn: &mut Conn,
    team: &TeamRow,
    wanted: &[Wanted<'_>],
    now: DateTime<Utc>,
) -> StoreResult<Vec<StateRow>> {
    let slots = slots_for(wanted.len());
    let sql = state_sql(slots);
    let mut query = sqlx::query_as::<_, StateRow>(&sql)
        .bind(team.id.0)
        .bind(to_db(now));
    for k in 0..slots {
        query = match wanted.get(k) {
            Some(w) => {
                let (scope, key) = w.key.map_or(("", ""), |(s, k)| (s, k.as_str()));
                let (own, cut, now) = w.sessions.bounds(w.now);
                query
                    .bind(w.user.0)
                    .bind(w.product.id.0)
                    .bind(scope.to_owned())
                    .bind(key.to_owned())
                    .bind(own)
                    .bind(cut)
                    .bind(now)
            }
            None => query
                .bind(-1_i64)
                .bind(-1_i64)
                .bind(String::new())
                .bind(String::new())
                .bind(-1_i64)
                .bind(-1_i64)
                .bind(-1_i64),
        };
    }
    Ok(query.fetch_all(&mut *conn).await?)
}

/// A pair's rows as they come.
#[derive(Default)]
struct PairRows {
    windows: Vec<Window>,
    period: Option<Period>,
    drawn: Vec<(i64, PackId, Tokens)>,
    sessions: Vec<Session>,
    unlisted: bool,
    remembered: Option<Remembered>,
}

/// A user's assignment and own selection.
#[derive(Default)]
struct UserRows {
    assignment: Option<AssignmentRow>,
    selected: BTreeSet<ProductKey>,
}

struct Read {
    pairs: Vec<PairRows>,
    users: Vec<(UserId, UserRows)>,
    defaults: BTreeSet<ProductKey>,
    packs: Vec<PackRow>,
    /// Each wanted product's (daily rate, idle awareness), by id.
    products: BTreeMap<i64, (i64, i64)>,
}

impl Read {
    fn new(wanted: usize) -> Read {
        Read {
            pairs: (0..wanted).map(|_| PairRows::default()).collect(),
            users: Vec::new(),
            defaults: BTreeSet::new(),
            packs: Vec::new(),
            products: BTreeMap::new(),
        }
    }

    /// Every wanted pair of (`u`, `p`), as indexes.
    fn pairs_of(wanted: &[Wanted<'_>], u: Option<i64>, p: Option<i64>) -> Vec<usize> {
        wanted
            .iter()
            .enumerate()
            .filter(|(_, w)| Some(w.user.0) == u && Some(w.product.id.0) == p)
            .map(|(k, _)| k)
            .collect()
    }

    fn user(&mut self, u: Option<i64>) -> StoreResult<&mut UserRows> {
        let u = UserId(u.ok_or_else(|| StoreError::corrupt("a user's row without the user"))?);
        let at = match self.users.iter().position(|(id, _)| *id == u) {
            Some(at) => at,
            None => {
                self.users.push((u, UserRows::default()));
                self.users.len() - 1
            }
        };
        Ok(&mut self.users[at].1)
    }

    fn add(&mut self, row: StateRow, wanted: &[Wanted<'_>], team: &TeamRow) -> StoreResult<()> {
        let StateRow {
            source,
            tm: _,
            u,
            p,
            id,
            name,
            t,
            a,
            b,
            c,
            d,
            e,
        } = row;
        match (source.as_str(), id, name, a, b, c) {
            ("window", None, Some(kind), Some(starts_at), Some(ends_at), None) => {
                let window = Window {
                    kind: AccessKind::parse(&kind)?,
                    starts_at: from_db(starts_at)?,
                    ends_at: from_db(ends_at)?,
                };
                for k in Self::pairs_of(wanted, u, p) {
                    self.pairs[k].windows.push(window);
                }
            }
            ("assignment", None, Some(status), removed_at, Some(access_all), None) => {
                self.user(u)?.assignment = Some(AssignmentRow {
                    status,
                    removed_at,
                    access_all,
                });
            }
            ("selected", None, Some(key), None, None, None) => {
                self.user(u)?.selected.insert(ProductKey::parse(&key)?);
            }
            ("default", None, Some(key), None, None, None) => {
                self.defaults.insert(ProductKey::parse(&key)?);
            }
            ("period", Some(id), Some(access), Some(started_at), Some(ends_at), Some(tokens)) => {
                let period = Period {
                    id: PeriodId(id),
                    access: AccessKind::parse(&access)?,
                    started_at: from_db(started_at)?,
                    ends_at: from_db(ends_at)?,
                    tokens: Tokens::from_stored(tokens)?,
                    refunded: d.is_some(),
                };
                for k in Self::pairs_of(wanted, u, p) {
                    self.pairs[k].period = Some(period.clone());
                }
            }
            ("drawn", Some(pack), None, Some(amount), None, Some(event)) => {
                let tokens = Tokens::from_stored(-amount)?;
                for k in Self::pairs_of(wanted, u, p) {
                    self.pairs[k].drawn.push((event, PackId(pack), tokens));
                }
            }
            (
                "session",
                Some(id),
                None,
                Some(started_at),
                Some(last_seen_at),
                Some(last_active_at),
            ) => {
                let session = Session {
                    id: SessionId(id),
                    started_at: from_db(started_at)?,
                    last_seen_at: from_db(last_seen_at)?,
                    last_active_at: from_db(last_active_at)?,
                };
                for k in Self::pairs_of(wanted, u, p) {
                    self.pairs[k].sessions.push(session.clone());
                }
            }
            ("unlisted", None, None, None, None, None) => {
                for k in Self::pairs_of(wanted, u, p) {
                    self.pairs[k].unlisted = true;
                }
            }
            ("product", None, None, Some(daily_rate), Some(idle_awareness), None) => {
                let id = p.ok_or_else(|| StoreError::corrupt("a product's row without its id"))?;
                self.products.insert(id, (daily_rate, idle_awareness));
            }
            ("pack", Some(id), None, Some(tokens), Some(remaining), Some(moved_out)) => {
                self.packs.push(PackRow {
                    id: PackId(id),
                    team_id: team.id,
                    tokens,
                    remaining,
                    moved_out,
                    purchased_at: d
                        .ok_or_else(|| StoreError::corrupt("a pack without its purchase"))?,
                    expires_at: e
                        .ok_or_else(|| StoreError::corrupt("a pack without its expiry"))?,
                });
            }
            ("key", Some(k), Some(fingerprint), None, None, None) => {
                let pair = usize::try_from(k)
                    .ok()
                    .and_then(|k| self.pairs.get_mut(k))
                    .ok_or_else(|| StoreError::corrupt("a remembered answer of no request"))?;
                pair.remembered = Some(Remembered {
                    fingerprint,
                    response: t.ok_or_else(|| {
                        StoreError::corrupt("a remembered answer without its response")
                    })?,
                });
            }
            (source, ..) => {
                return Err(StoreError::corrupt(format!(
                    "unexpected session step input {source:?}"
                )));
            }
        }
        Ok(())
    }

    fn finish(mut self, wanted: &[Wanted<'_>], team: &TeamRow) -> StoreResult<TeamState> {
        self.packs.sort_by_key(|p| p.id.0);
        let mut pairs = Vec::with_capacity(wanted.len());
        for (w, mut rows) in wanted.iter().zip(self.pairs) {
            rows.sessions.sort_by_key(|s| s.id);
            // A session two branches list (dead and its own, say) is planned on once.
            rows.sessions.dedup_by_key(|s| s.id);
            // The query follows the engine's rule; should they ever part, a step refuses to plan
            // rather than roll a period over on sessions it did not see.
            if rows.unlisted && session::lists_every_session(rows.period.as_ref(), w.now) {
                return Err(StoreError::corrupt(
                    "the state query left out sessions a rollover needs",
                ));
            }
            rows.drawn.sort_by_key(|(event, ..)| *event);
            let user = self.users.iter().find(|(id, _)| *id == w.user);
            let key = ProductKey::parse(&w.product.key)?;
            let standing = match user.and_then(|(_, r)| r.assignment.as_ref().map(|a| (a, r))) {
                Some((a, r)) if a.removed_at.is_none() && a.status == "active" => {
                    let own = match a.access_all == 1 {
                        true => ProductAccess::All,
                        false => ProductAccess::Selected(r.selected.clone()),
                    };
                    FlexStanding::Active {
                        product_allowed: access::allows(&own, &self.defaults, &key),
                    }
                }
                Some((a, _)) if a.removed_at.is_none() => FlexStanding::InvitationPending,
                _ => FlexStanding::NotAssigned,
            };
            let (daily_rate, idle_awareness) =
                *self.products.get(&w.product.id.0).ok_or_else(|| {
                    StoreError::corrupt(format!("product {} is not in the catalogue", w.product.id))
                })?;
            let daily_rate = Tokens::from_stored(daily_rate)?;
            let access = session::resolve_access(
                &rows.windows,
                standing,
                team.closed_at.is_some(),
                daily_rate,
                w.now,
            );
            pairs.push(PairState {
                access,
                daily_rate,
                usage: Usage {
                    idle_aware: idle_awareness == 1,
                    period: rows.period,
                    sessions: rows.sessions,
                    unlisted: rows.unlisted,
                },
                drawn: rows.drawn.into_iter().map(|(_, p, t)| (p, t)).collect(),
                remembered: rows.remembered,
            });
        }
        Ok(TeamState {
            pairs,
            packs: self.packs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_powers_of_two() {
        assert_eq!(slots_for(0), 1);
        assert_eq!(slots_for(1), 1);
        assert_eq!(slots_for(3), 4);
        assert_eq!(slots_for(64), 64);
    }

    /// SQLite refuses a compound SELECT of more than 500 parts (`SQLITE_MAX_COMPOUND_SELECT`):
    /// the largest batch's query stays below.
    #[test]
    fn the_largest_batch_is_one_query_sqlite_takes() {
        let sql = state_sql(slots_for(crate::session_batch::MAX_BATCH));
        let parts = sql.matches("UNION ALL").count() + 1;
        assert!(parts < 500, "{parts} parts");
    }

    #[test]
    fn each_slot_binds_seven_parameters() {
        let sql = state_sql(4);
        assert!(sql.contains("$30") && !sql.contains("$31"), "{sql}");
        assert_eq!(sql.matches("AS latest").count(), 4);
    }
}

#[cfg(test)]
mod listing {
    //! The state query lists what [`Usage::listed_for`] says a step needs, on both backends.

    use chrono::Duration;
    use jeton_core::TeamName;

    use super::*;
    use crate::both_backends;
    use crate::ledger::lock_team;
    use crate::testing::{TestDb, cad_and_a_person, insert_returning_id as insert};

    both_backends! {
        the_state_query_lists_the_sessions_a_step_needs => lists_what_a_step_needs,
    }

    /// Six open sessions of one (user, product), seen at times spread over a day, and a period
    /// running from the start for 24 hours; at times before and after the period's end, for a
    /// sign-in and for sign-outs of each session (and of one that is not open), the listed usage
    /// is exactly the engine's listing of every session.
    async fn lists_what_a_step_needs(db: TestDb) {
        let store = db.store().await;
        let start: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().expect("a time");
        let team = store
            .create_team(&TeamName::parse("Pool").expect("a name"), None, start)
            .await
            .expect("team")
            .id;
        let at = to_db(start);
        let (product, user) = cad_and_a_person(&store, 7, at).await;
        let period = insert(
            &store,
            "INSERT INTO usage_periods (team_id, user_id, product_id, access, opened, started_at, \
             ends_at, rate, tokens, charged_at) VALUES ($1, $2, $3, 'flex', 'sign_in', $4, $5, 7, \
             7, $4) RETURNING id",
            &[
                team.0,
                user,
                product,
                at,
                to_db(start + Duration::hours(24)),
            ],
        )
        .await;
        // Seen 7 seconds past whole minutes, so that no session sits exactly on a cut.
        let mut sessions = Vec::new();
        for seen_minutes in [0_i64, 30, 600, 1_420, 1_435, 1_439] {
            let seen = to_db(start + Duration::minutes(seen_minutes) + Duration::seconds(7));
            let id = insert(
                &store,
                "INSERT INTO sessions (team_id, user_id, product_id, period_id, started_at, \
                 last_seen_at, last_active_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                &[team.0, user, product, period, at, seen],
            )
            .await;
            sessions.push(SessionId(id));
        }
        let row = ProductRow {
            id: ProductId(product),
            key: "cad".into(),
        };
        let mut checked_unlisted = 0;
        for minutes in [20_i64, 700, 1_430, 1_439, 1_441, 1_460] {
            let now = start + Duration::minutes(minutes);
            let owns = std::iter::once(None)
                .chain(sessions.iter().copied().map(Some))
                .chain(std::iter::once(Some(SessionId(-5))));
            for own in owns {
                let read = |sessions: Listing| {
                    let (store, row) = (store.clone(), row.clone());
                    async move {
                        let mut w = store.begin_write().await.expect("transaction");
                        let team_row = lock_team(&mut w.tx, team).await.expect("lock");
                        let wanted = Wanted {
                            user: UserId(user),
                            product: &row,
                            key: None,
                            now,
                            sessions,
                        };
                        let state = load(&mut w.tx, &team_row, &[wanted], now)
                            .await
                            .expect("state");
                        state.pairs.into_iter().next().expect("the pair").usage
                    }
                };
                let every = read(Listing::Every).await;
                assert_eq!(every.sessions.len(), 6);
                assert!(!every.unlisted);
                let listed = read(Listing::For(own)).await;
                assert_eq!(
                    listed,
                    every.listed_for(own, now),
                    "at +{minutes} min for {own:?}"
                );
                if listed.unlisted {
                    checked_unlisted += 1;
                }
            }
        }
        assert!(checked_unlisted > 10, "{checked_unlisted}");
    }
}
