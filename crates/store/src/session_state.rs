//! What session steps plan on, read in one round trip under the team's lock: for each (user,
//! product) of the step or batch, who pays (the user's windows, assignment and own selection, the
//! team's defaults) and the usage (the latest period, what its charge drew, the open sessions);
//! the team's packs; and the answers remembered for the members' idempotency keys.

use std::collections::BTreeSet;
use std::fmt::Write as _;

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

/// A product as sessions need it.
#[derive(sqlx::FromRow, Clone, Debug)]
pub(crate) struct ProductRow {
    #[sqlx(try_from = "i64")]
    pub id: ProductId,
    pub key: String,
    pub daily_rate: i64,
    pub idle_awareness: i64,
}

pub(crate) async fn product_by_key(conn: &mut Conn, key: &str) -> StoreResult<Option<ProductRow>> {
    Ok(
        sqlx::query_as("SELECT id, key, daily_rate, idle_awareness FROM products WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub(crate) async fn product_by_id(conn: &mut Conn, id: ProductId) -> StoreResult<ProductRow> {
    Ok(
        sqlx::query_as("SELECT id, key, daily_rate, idle_awareness FROM products WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// One (user, product) to read, the idempotency key its request came with, and the request's
/// time (when its access is judged).
pub(crate) struct Wanted<'a> {
    pub user: UserId,
    pub product: &'a ProductRow,
    pub key: Option<(&'a str, &'a IdempotencyKey)>,
    pub now: DateTime<Utc>,
}

/// What one (user, product) plans on.
pub(crate) struct PairState {
    /// R-SES-1, R-PRI: who pays for the product now, or why nobody may.
    pub access: Result<Access, DomainError>,
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
/// - `pack`: a pack that is active or still holds tokens (`id`, `a` tokens, `b` remaining, `c`
///   moved out, `d` purchased, `e` expires);
/// - `key`: a remembered answer (`id` the index of the wanted pair, `name` fingerprint, `t`
///   response).
#[derive(sqlx::FromRow)]
struct StateRow {
    source: String,
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

/// The state query for `slots` pairs. `$1` team, `$2` now; slot `k` binds user, product, scope
/// and key from `$3 + 4k`. A slot past the wanted pairs binds user and product -1 and an empty
/// key, which match nothing: padding the slots to a power of two keeps the distinct statements
/// (each prepared once per connection) to a handful. The first branch gives each column its type
/// (PostgreSQL matches the branches' types pairwise: two untyped NULLs would make text).
fn state_sql(slots: usize) -> String {
    let param = |k: usize, i: usize| format!("${}", 3 + 4 * k + i);
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
             WHERE team_id = $1 AND (expires_at > $2 OR remaining > 0)"
    );
    for k in 0..slots {
        let (u, p, scope, key) = (param(k, 0), param(k, 1), param(k, 2), param(k, 3));
        let latest = format!(
            "FROM usage_periods WHERE team_id = $1 AND user_id = {u} AND product_id = {p} \
             ORDER BY started_at DESC, id DESC LIMIT 1"
        );
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
             UNION ALL SELECT 'session', user_id, product_id, id, NULL, NULL, started_at, \
                 last_seen_at, last_active_at, NULL, NULL FROM sessions WHERE team_id = $1 \
                 AND user_id = {u} AND product_id = {p} AND ended_at IS NULL \
             UNION ALL SELECT 'key', NULL, NULL, {k}, fingerprint, response, NULL, NULL, NULL, \
                 NULL, NULL FROM idempotency_keys WHERE team_id = $1 AND scope = {scope} \
                 AND key = {key}"
        );
    }
    sql
}

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
    let slots = slots_for(wanted.len());
    let sql = state_sql(slots);
    let mut query = sqlx::query_as::<_, StateRow>(&sql)
        .bind(team.id.0)
        .bind(to_db(now));
    for k in 0..slots {
        query = match wanted.get(k) {
            Some(w) => {
                let (scope, key) = w.key.map_or(("", ""), |(s, k)| (s, k.as_str()));
                query
                    .bind(w.user.0)
                    .bind(w.product.id.0)
                    .bind(scope.to_owned())
                    .bind(key.to_owned())
            }
            None => query
                .bind(-1_i64)
                .bind(-1_i64)
                .bind(String::new())
                .bind(String::new()),
        };
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut read = Read::new(wanted.len());
    for row in rows {
        read.add(row, wanted, team)?;
    }
    read.finish(wanted, team)
}

/// A pair's rows as they come.
#[derive(Default)]
struct PairRows {
    windows: Vec<Window>,
    period: Option<Period>,
    drawn: Vec<(i64, PackId, Tokens)>,
    sessions: Vec<Session>,
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
}

impl Read {
    fn new(wanted: usize) -> Read {
        Read {
            pairs: (0..wanted).map(|_| PairRows::default()).collect(),
            users: Vec::new(),
            defaults: BTreeSet::new(),
            packs: Vec::new(),
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
            let access = session::resolve_access(
                &rows.windows,
                standing,
                team.closed_at.is_some(),
                Tokens::from_stored(w.product.daily_rate)?,
                w.now,
            );
            pairs.push(PairState {
                access,
                usage: Usage {
                    idle_aware: w.product.idle_awareness == 1,
                    period: rows.period,
                    sessions: rows.sessions,
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

    #[test]
    fn each_slot_binds_four_parameters() {
        let sql = state_sql(4);
        assert!(sql.contains("$18") && !sql.contains("$19"), "{sql}");
        assert_eq!(sql.matches("AS latest").count(), 4);
    }
}
