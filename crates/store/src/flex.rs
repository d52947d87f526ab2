//! Flex assignments and product access: R-USR-1/2/4/5/6, R-ACC-1..4.

use std::collections::{BTreeMap, BTreeSet};

use crate::conn::Conn;
use chrono::{DateTime, Utc};
use jeton_core::access::{ProductAccess, effective_products};
use jeton_core::assignment::{Arrival, AssignPlan, Standing, plan_assign};
use jeton_core::import::ImportRow;
use jeton_core::invitation::{InvitationState, expires_at};
use jeton_core::mail::Message;
use jeton_core::{
    AdminId, DomainError, Email, InvitationId, Invitee, ProductId, ProductKey, TeamId, UserId,
};

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::ledger::{lock_team, require_open};
use crate::outbox::enqueue;
use crate::team_rows::TeamRow;
use crate::time::{from_db, to_db};
use crate::users::{User, UserRow, find_or_create_user, user_row, user_row_by_email};

pub use jeton_core::assignment::AssignmentStatus;

fn status_of(s: &str) -> StoreResult<AssignmentStatus> {
    AssignmentStatus::parse(s)
        .ok_or_else(|| StoreError::corrupt(format!("assignment status {s:?}")))
}

/// Whom to assign (R-USR-1/2).
#[derive(Debug, Clone)]
pub enum Who {
    /// A person by name and address; their identity is created if it does not exist.
    Invite(Invitee),
    /// An existing identity.
    UserId(UserId),
    Email(Email),
}

/// Whose identities a caller may name by id (R-AUTH-4). Emails are not limited: whoever types
/// an address already knows it, and an id is a number anyone can count through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdScope {
    /// The operator: any identity.
    Anyone,
    /// A team admin: only people they can already see, that is people assigned (now or once) or
    /// invited on one of their teams. Any other id is answered exactly like one that does not
    /// exist, so that ids tell nothing about people outside the admin's teams.
    AdminOf(AdminId),
}

/// The identity `id`, if `scope` may name it; otherwise the same `not found` as for an id
/// nobody has.
pub(crate) async fn user_row_in_scope(
    conn: &mut Conn,
    id: UserId,
    scope: IdScope,
) -> StoreResult<UserRow> {
    if let IdScope::AdminOf(admin) = scope {
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT t.team_id FROM admin_teams t WHERE t.admin_id = $1 AND ( \
               EXISTS (SELECT 1 FROM flex_assignments a WHERE a.team_id = t.team_id AND a.user_id = $2) \
               OR EXISTS (SELECT 1 FROM invitations i WHERE i.team_id = t.team_id AND i.user_id = $2)) \
             LIMIT 1",
        )
        .bind(admin.0)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
        if seen.is_none() {
            return Err(StoreError::not_found("user", id));
        }
    }
    user_row(conn, id).await
}

/// The facts an email about an assignment states; the server turns them into text.
#[derive(Debug, Clone)]
pub struct MailFacts {
    pub to: String,
    pub name: String,
    pub team: String,
    /// Names of the products the person may open, in key order.
    pub products: Vec<String>,
    /// For an invitation: its secret (the link is built from it) and when it ends.
    pub invitation: Option<(String, DateTime<Utc>)>,
}

/// Writes an email's text from its facts (see `jeton_core::mail`).
pub type Compose<'a> = &'a (dyn Fn(&MailFacts) -> Message + Send + Sync);

/// A new invitation's secret: the server keeps the secret for the link, the store its digest.
#[derive(Debug, Clone)]
pub struct Secret {
    pub secret: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub user: User,
    pub status: AssignmentStatus,
    pub invitation_id: Option<InvitationId>,
}

/// A Flex user of a team as admins see them (`GET …/flex/users`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlexUser {
    pub user: User,
    pub status: AssignmentStatus,
    pub selection: ProductAccess,
    pub effective: BTreeSet<ProductKey>,
    pub assigned_at: DateTime<Utc>,
    /// The open invitation (pending or expired), if any.
    pub invitation: Option<(InvitationId, DateTime<Utc>)>,
}

/// The catalogue as access rules need it: key → (id, name).
pub(crate) struct Catalogue(BTreeMap<ProductKey, (ProductId, String)>);

#[derive(sqlx::FromRow)]
struct CatalogueRow {
    #[sqlx(try_from = "i64")]
    id: ProductId,
    key: String,
    name: String,
}

impl Catalogue {
    pub(crate) async fn load(conn: &mut Conn) -> StoreResult<Catalogue> {
        let rows: Vec<CatalogueRow> = sqlx::query_as("SELECT id, key, name FROM products")
            .fetch_all(&mut *conn)
            .await?;
        rows.into_iter()
            .map(|r| Ok((ProductKey::parse(&r.key)?, (r.id, r.name))))
            .collect::<StoreResult<_>>()
            .map(Catalogue)
    }

    pub(crate) fn keys(&self) -> BTreeSet<ProductKey> {
        self.0.keys().cloned().collect()
    }

    fn id(&self, key: &ProductKey) -> StoreResult<ProductId> {
        self.0.get(key).map(|(id, _)| *id).ok_or_else(|| {
            DomainError::UnknownProduct {
                key: key.to_string(),
            }
            .into()
        })
    }

    /// Product id → key, for reading selections stored by id.
    fn keys_by_id(&self) -> BTreeMap<ProductId, ProductKey> {
        self.0.iter().map(|(k, (id, _))| (*id, k.clone())).collect()
    }

    pub(crate) fn names(&self, keys: &BTreeSet<ProductKey>) -> Vec<String> {
        keys.iter()
            .filter_map(|k| self.0.get(k).map(|(_, name)| name.clone()))
            .collect()
    }

    /// Every key of a selection must name a product (R-ACC-1).
    fn check(&self, access: &ProductAccess) -> StoreResult<()> {
        if let ProductAccess::Selected(keys) = access {
            for k in keys {
                self.id(k)?;
            }
        }
        Ok(())
    }
}

pub(crate) async fn team_defaults(
    conn: &mut Conn,
    team: TeamId,
) -> StoreResult<BTreeSet<ProductKey>> {
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT p.key FROM team_defaults d JOIN products p ON p.id = d.product_id WHERE d.team_id = $1",
    )
    .bind(team.0)
    .fetch_all(&mut *conn)
    .await?;
    keys.iter().map(|k| Ok(ProductKey::parse(k)?)).collect()
}

pub(crate) async fn selection(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
) -> StoreResult<ProductAccess> {
    let all: Option<i64> = sqlx::query_scalar(
        "SELECT access_all FROM flex_assignments WHERE team_id = $1 AND user_id = $2",
    )
    .bind(team.0)
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?;
    selected_products(conn, team, user, all == Some(1)).await
}

/// What a Flex user of `team` may open now (R-ACC-1..3): their selection or the team's defaults,
/// within the catalogue.
pub(crate) async fn effective_of(
    conn: &mut Conn,
    catalogue: &Catalogue,
    team: TeamId,
    user: UserId,
) -> StoreResult<BTreeSet<ProductKey>> {
    let defaults = team_defaults(conn, team).await?;
    let own = selection(conn, team, user).await?;
    Ok(effective_products(&own, &defaults, &catalogue.keys()))
}

/// A user's own selection when the assignment's `access_all` flag is already at hand.
pub(crate) async fn selected_products(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
    access_all: bool,
) -> StoreResult<ProductAccess> {
    if access_all {
        return Ok(ProductAccess::All);
    }
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT p.key FROM assignment_products a JOIN products p ON p.id = a.product_id \
         WHERE a.team_id = $1 AND a.user_id = $2",
    )
    .bind(team.0)
    .bind(user.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ProductAccess::Selected(
        keys.iter()
            .map(|k| ProductKey::parse(k))
            .collect::<Result<_, _>>()?,
    ))
}

async fn write_selection(
    conn: &mut Conn,
    catalogue: &Catalogue,
    team: TeamId,
    user: UserId,
    access: &ProductAccess,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    catalogue.check(access)?;
    sqlx::query("DELETE FROM assignment_products WHERE team_id = $1 AND user_id = $2")
        .bind(team.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE flex_assignments SET access_all = $1, updated_at = $2 WHERE team_id = $3 AND user_id = $4")
        .bind(i64::from(*access == ProductAccess::All))
        .bind(to_db(now))
        .bind(team.0)
        .bind(user.0)
        .execute(&mut *conn)
        .await?;
    if let ProductAccess::Selected(keys) = access {
        for k in keys {
            sqlx::query("INSERT INTO assignment_products (team_id, user_id, product_id) VALUES ($1, $2, $3)")
                .bind(team.0)
                .bind(user.0)
                .bind(catalogue.id(k)?.0)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct FlexRow {
    #[sqlx(flatten)]
    user: UserRow,
    status: String,
    access_all: i64,
    assigned_at: i64,
}

/// A product of a user's own selection.
#[derive(sqlx::FromRow)]
struct ChosenRow {
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    #[sqlx(try_from = "i64")]
    product_id: ProductId,
}

/// A user's open invitation on a team.
#[derive(sqlx::FromRow)]
struct OpenInvitationRow {
    #[sqlx(try_from = "i64")]
    id: InvitationId,
    #[sqlx(try_from = "i64")]
    user_id: UserId,
    expires_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AssignmentRow {
    pub status: String,
    pub removed_at: Option<i64>,
    pub access_all: i64,
}

pub(crate) async fn assignment(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
) -> StoreResult<Option<AssignmentRow>> {
    Ok(sqlx::query_as(
        "SELECT status, removed_at, access_all FROM flex_assignments WHERE team_id = $1 AND user_id = $2",
    )
    .bind(team.0)
    .bind(user.0)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The current (not removed) assignment of a user, or 404.
async fn current_assignment(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
) -> StoreResult<AssignmentStatus> {
    match assignment(conn, team, user).await? {
        Some(a) if a.removed_at.is_none() => status_of(&a.status),
        _ => Err(StoreError::not_found(
            "flex user",
            format!("{user} on team {team}"),
        )),
    }
}

/// Ends any open invitation of (team, user): their links stop working.
pub(crate) async fn supersede_invitations(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE invitations SET superseded_at = $1 \
         WHERE team_id = $2 AND user_id = $3 AND accepted_at IS NULL AND superseded_at IS NULL",
    )
    .bind(to_db(now))
    .bind(team.0)
    .bind(user.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_invitation(
    conn: &mut Conn,
    team: TeamId,
    user: UserId,
    secret_hash: &str,
    emailed: bool,
    now: DateTime<Utc>,
) -> StoreResult<InvitationId> {
    Ok(InvitationId(sqlx::query_scalar(
        "INSERT INTO invitations (team_id, user_id, secret_hash, emailed, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(team.0)
    .bind(user.0)
    .bind(secret_hash)
    .bind(i64::from(emailed))
    .bind(to_db(now))
    .bind(to_db(expires_at(now)))
    .fetch_one(&mut *conn)
    .await?))
}

/// What one person's assignment did, for imports (which count applied and unchanged lines).
enum Applied {
    New(Assigned),
    SelectionChanged,
    Unchanged,
}

/// The heart of assigning: creates or revives the assignment (active for a person with an
/// account, invited otherwise, with a fresh invitation), sets the selection, and queues the email
/// when `compose` is given (R-USR-4: individual assignments only).
#[allow(clippy::too_many_arguments)]
async fn assign_in(
    conn: &mut Conn,
    catalogue: &Catalogue,
    team: &TeamRow,
    user: &UserRow,
    selection_in: Option<&ProductAccess>,
    source: &str,
    secret: &Secret,
    compose: Option<Compose<'_>>,
    re_assign: bool,
    now: DateTime<Utc>,
) -> StoreResult<Applied> {
    let team_id = team.id;
    if let Some(s) = selection_in {
        catalogue.check(s)?;
    }
    let current = assignment(conn, team_id, user.id).await?;
    let standing = match &current {
        None => Standing::Never,
        Some(a) if a.removed_at.is_some() => Standing::Removed,
        Some(a) => Standing::Current(status_of(&a.status)?),
    };
    let arrival = if re_assign {
        Arrival::Import
    } else {
        Arrival::Individual
    };
    let has_account = user.password_hash.is_some();
    let status = match plan_assign(standing, has_account, arrival, &user.email)? {
        AssignPlan::KeepAssignment => {
            // An import line for someone already assigned changes at most their selection.
            return match selection_in {
                Some(s) if *s != selection(conn, team_id, user.id).await? => {
                    write_selection(conn, catalogue, team_id, user.id, s, now).await?;
                    Ok(Applied::SelectionChanged)
                }
                _ => Ok(Applied::Unchanged),
            };
        }
        AssignPlan::Assign { status } => status,
    };
    if standing == Standing::Never {
        sqlx::query(
            "INSERT INTO flex_assignments (team_id, user_id, status, source, assigned_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(team.id.0)
        .bind(user.id.0)
        .bind(status.as_str())
        .bind(source)
        .bind(to_db(now))
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query(
            "UPDATE flex_assignments SET status = $1, source = $2, assigned_at = $3, updated_at = $3, removed_at = NULL \
             WHERE team_id = $4 AND user_id = $5",
        )
        .bind(status.as_str())
        .bind(source)
        .bind(to_db(now))
        .bind(team.id.0)
        .bind(user.id.0)
        .execute(&mut *conn)
        .await?;
    }
    let access = selection_in.cloned().unwrap_or_else(ProductAccess::none);
    write_selection(conn, catalogue, team_id, user.id, &access, now).await?;

    let invitation = if status == AssignmentStatus::Invited {
        supersede_invitations(conn, team_id, user.id, now).await?;
        Some(insert_invitation(conn, team_id, user.id, &secret.hash, compose.is_some(), now).await?)
    } else {
        None
    };
    if let Some(compose) = compose {
        let defaults = team_defaults(conn, team_id).await?;
        let effective = effective_products(&access, &defaults, &catalogue.keys());
        let facts = MailFacts {
            to: user.email.clone(),
            name: user.name.clone(),
            team: team.name.clone(),
            products: catalogue.names(&effective),
            invitation: invitation.map(|_| (secret.secret.clone(), expires_at(now))),
        };
        enqueue(conn, team_id, &compose(&facts), now).await?;
    }
    Ok(Applied::New(Assigned {
        user: user.user()?,
        status,
        invitation_id: invitation,
    }))
}

/// What one import line did (R-USR-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineApplied {
    /// A new assignment, or a changed selection.
    Applied,
    /// Already so: importing the same line again changes nothing.
    Unchanged,
    /// Refused with this reason (a product not in the catalogue); nothing was written.
    Refused(String),
}

/// R-USR-5: applies one good line of an import inside the caller's transaction, which holds the
/// team's lock (the team open) and the catalogue. No email is queued: a new person gets an
/// invitation an admin may resend. A line naming unknown products is refused on its own.
pub(crate) async fn import_line(
    conn: &mut Conn,
    catalogue: &Catalogue,
    team: &TeamRow,
    row: &ImportRow,
    secret: &Secret,
    now: DateTime<Utc>,
) -> StoreResult<LineApplied> {
    if let Some(access) = &row.products
        && let Err(e) = catalogue.check(access)
    {
        return Ok(LineApplied::Refused(e.to_string()));
    }
    let user = find_or_create_user(conn, &row.email, &row.name, now).await?;
    let applied = assign_in(
        conn,
        catalogue,
        team,
        &user,
        row.products.as_ref(),
        "import",
        secret,
        None,
        true,
        now,
    )
    .await?;
    Ok(match applied {
        Applied::Unchanged => LineApplied::Unchanged,
        Applied::New(_) | Applied::SelectionChanged => LineApplied::Applied,
    })
}

impl Store {
    /// R-USR-1/2: assigns a person to Flex on a team, with an optional product selection, and
    /// queues the invitation or "access granted" email written by `compose`. A [`Who::UserId`]
    /// must be one `scope` may name (R-AUTH-4).
    #[allow(clippy::too_many_arguments)]
    pub async fn assign(
        &self,
        team: TeamId,
        who: &Who,
        scope: IdScope,
        selection: Option<&ProductAccess>,
        secret: &Secret,
        compose: Compose<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<Assigned> {
        let mut w = self.begin_write().await?;
        let team_row = lock_team(&mut w.tx, team).await?;
        require_open(&team_row)?;
        let user = match who {
            Who::Invite(invitee) => {
                find_or_create_user(&mut w.tx, &invitee.email, &invitee.name, now).await?
            }
            Who::UserId(id) => user_row_in_scope(&mut w.tx, *id, scope).await?,
            Who::Email(email) => {
                user_row_by_email(&mut w.tx, email)
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "user",
                        id: format!("with email {email} (invite them as Full Name <{email}>)"),
                    })?
            }
        };
        let catalogue = Catalogue::load(&mut w.tx).await?;
        let applied = assign_in(
            &mut w.tx,
            &catalogue,
            &team_row,
            &user,
            selection,
            "admin",
            secret,
            Some(compose),
            false,
            now,
        )
        .await?;
        w.commit().await?;
        match applied {
            Applied::New(a) => Ok(a),
            _ => Err(StoreError::corrupt("a new assignment was not created")),
        }
    }

    /// R-USR-6: unassigns a user: new sessions stop at once, open invitations die, the history
    /// (the assignment row and its ledger events) stays.
    pub async fn unassign(
        &self,
        team: TeamId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut w = self.begin_write().await?;
        lock_team(&mut w.tx, team).await?;
        current_assignment(&mut w.tx, team, user).await?;
        sqlx::query("UPDATE flex_assignments SET removed_at = $1, updated_at = $1 WHERE team_id = $2 AND user_id = $3")
            .bind(to_db(now))
            .bind(team.0)
            .bind(user.0)
            .execute(&mut w.tx)
            .await?;
        supersede_invitations(&mut w.tx, team, user, now).await?;
        w.commit().await
    }

    /// R-ACC-1/2: sets a user's own selection. When it adds products an active user may now open
    /// (default assignments off), `compose` writes the "access granted" email naming them.
    pub async fn set_products(
        &self,
        team: TeamId,
        user: UserId,
        access: &ProductAccess,
        compose: Compose<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<FlexUser> {
        let mut w = self.begin_write().await?;
        let team_row = lock_team(&mut w.tx, team).await?;
        require_open(&team_row)?;
        let status = current_assignment(&mut w.tx, team, user).await?;
        let catalogue = Catalogue::load(&mut w.tx).await?;
        let defaults = team_defaults(&mut w.tx, team).await?;
        let before = effective_products(
            &selection(&mut w.tx, team, user).await?,
            &defaults,
            &catalogue.keys(),
        );
        write_selection(&mut w.tx, &catalogue, team, user, access, now).await?;
        let after = effective_products(access, &defaults, &catalogue.keys());
        let added: BTreeSet<ProductKey> = after.difference(&before).cloned().collect();
        if status == AssignmentStatus::Active && !added.is_empty() {
            let u = user_row(&mut w.tx, user).await?;
            let facts = MailFacts {
                to: u.email.clone(),
                name: u.name.clone(),
                team: team_row.name.clone(),
                products: catalogue.names(&added),
                invitation: None,
            };
            enqueue(&mut w.tx, team, &compose(&facts), now).await?;
        }
        w.commit().await?;
        self.flex_user(team, user).await
    }

    /// R-ACC-3: sets the team's default assignments (an empty list turns them off). No email.
    pub async fn set_defaults(
        &self,
        team: TeamId,
        keys: &BTreeSet<ProductKey>,
    ) -> StoreResult<BTreeSet<ProductKey>> {
        let mut w = self.begin_write().await?;
        let team_row = lock_team(&mut w.tx, team).await?;
        require_open(&team_row)?;
        let catalogue = Catalogue::load(&mut w.tx).await?;
        catalogue.check(&ProductAccess::Selected(keys.clone()))?;
        sqlx::query("DELETE FROM team_defaults WHERE team_id = $1")
            .bind(team.0)
            .execute(&mut w.tx)
            .await?;
        for k in keys {
            sqlx::query("INSERT INTO team_defaults (team_id, product_id) VALUES ($1, $2)")
                .bind(team.0)
                .bind(catalogue.id(k)?.0)
                .execute(&mut w.tx)
                .await?;
        }
        w.commit().await?;
        Ok(keys.clone())
    }

    pub async fn defaults(&self, team: TeamId) -> StoreResult<BTreeSet<ProductKey>> {
        self.team(team).await?;
        let mut conn = self.read_conn().await?;
        team_defaults(&mut conn, team).await
    }

    /// One Flex user of a team (not removed).
    pub async fn flex_user(&self, team: TeamId, user: UserId) -> StoreResult<FlexUser> {
        self.flex_users_where(team, Some(user))
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("flex user", format!("{user} on team {team}")))
    }

    /// `GET …/flex/users`: every assigned user with their selection and effective products.
    pub async fn flex_users(&self, team: TeamId) -> StoreResult<Vec<FlexUser>> {
        self.team(team).await?;
        self.flex_users_where(team, None).await
    }

    async fn flex_users_where(
        &self,
        team: TeamId,
        only: Option<UserId>,
    ) -> StoreResult<Vec<FlexUser>> {
        let only = only.map(|u| u.0);
        let mut conn = self.read_conn().await?;
        let rows: Vec<FlexRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.name, u.password_hash, u.created_at, a.status, a.access_all, a.assigned_at \
             FROM flex_assignments a JOIN users u ON u.id = a.user_id \
             WHERE a.team_id = $1 AND a.removed_at IS NULL AND ($2 IS NULL OR a.user_id = $2) ORDER BY u.email_lower",
        )
        .bind(team.0)
        .bind(only)
        .fetch_all(&mut conn)
        .await?;
        let catalogue = Catalogue::load(&mut conn).await?;
        let keys = catalogue.keys();
        let defaults = team_defaults(&mut conn, team).await?;
        let by_id = catalogue.keys_by_id();
        let mut selected: BTreeMap<UserId, BTreeSet<ProductKey>> = BTreeMap::new();
        for chosen in sqlx::query_as::<_, ChosenRow>(
            "SELECT user_id, product_id FROM assignment_products WHERE team_id = $1 AND ($2 IS NULL OR user_id = $2)",
        )
        .bind(team.0)
        .bind(only)
        .fetch_all(&mut conn)
        .await?
        {
            if let Some(k) = by_id.get(&chosen.product_id) {
                selected.entry(chosen.user_id).or_default().insert(k.clone());
            }
        }
        let mut invitations: BTreeMap<UserId, (InvitationId, DateTime<Utc>)> = BTreeMap::new();
        for open in sqlx::query_as::<_, OpenInvitationRow>(
            "SELECT id, user_id, expires_at FROM invitations \
             WHERE team_id = $1 AND accepted_at IS NULL AND superseded_at IS NULL AND ($2 IS NULL OR user_id = $2)",
        )
        .bind(team.0)
        .bind(only)
        .fetch_all(&mut conn)
        .await?
        {
            invitations.insert(open.user_id, (open.id, from_db(open.expires_at)?));
        }
        rows.into_iter()
            .map(|r| {
                let selection = if r.access_all == 1 {
                    ProductAccess::All
                } else {
                    ProductAccess::Selected(selected.remove(&r.user.id).unwrap_or_default())
                };
                let effective = effective_products(&selection, &defaults, &keys);
                Ok(FlexUser {
                    user: r.user.user()?,
                    status: status_of(&r.status)?,
                    selection,
                    effective,
                    assigned_at: from_db(r.assigned_at)?,
                    invitation: invitations.remove(&r.user.id),
                })
            })
            .collect()
    }

    /// R-ACC-4: the products a user may open through Flex, with the teams that give them:
    /// every team where the user is active (and which is open), by that team's rules.
    pub async fn flex_products_of(
        &self,
        user: UserId,
    ) -> StoreResult<BTreeMap<ProductKey, Vec<TeamId>>> {
        let mut conn = self.read_conn().await?;
        let teams = flex_teams_in(&mut conn, user).await?;
        let catalogue = Catalogue::load(&mut conn).await?;
        let mut products: BTreeMap<ProductKey, Vec<TeamId>> = BTreeMap::new();
        for (team, _) in teams {
            for k in effective_of(&mut conn, &catalogue, team, user).await? {
                products.entry(k).or_default().push(team);
            }
        }
        Ok(products)
    }
}

/// The open teams where `user` is an active Flex user, with their names, in id order.
async fn flex_teams_in(conn: &mut Conn, user: UserId) -> StoreResult<Vec<(TeamId, String)>> {
    let teams: Vec<(i64, String)> = sqlx::query_as(
        "SELECT a.team_id, t.name FROM flex_assignments a JOIN teams t ON t.id = a.team_id \
         WHERE a.user_id = $1 AND a.status = 'active' AND a.removed_at IS NULL AND t.closed_at IS NULL \
         ORDER BY a.team_id",
    )
    .bind(user.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(teams
        .into_iter()
        .map(|(id, name)| (TeamId(id), name))
        .collect())
}

impl Store {
    /// The open teams where `user` is an active Flex user (R-ACC-4).
    pub async fn flex_teams_of(&self, user: UserId) -> StoreResult<Vec<TeamId>> {
        let teams = self.flex_teams_named(user).await?;
        Ok(teams.into_iter().map(|(id, _)| id).collect())
    }

    /// [`Store::flex_teams_of`] with the teams' names, for the user to choose one by name.
    pub async fn flex_teams_named(&self, user: UserId) -> StoreResult<Vec<(TeamId, String)>> {
        flex_teams_in(&mut self.read_conn().await?, user).await
    }
}

/// An assignment that moves to the team its team was merged into.
#[derive(sqlx::FromRow)]
struct MovingAssignmentRow {
    status: String,
    access_all: i64,
    assigned_at: i64,
}

/// Moves Flex users and open invitations of a merged team to its target (R-PACK-7), inside the
/// merge's transaction. A user already assigned on the target keeps the target's assignment.
pub(crate) async fn merge_people(
    conn: &mut Conn,
    from: TeamId,
    into: TeamId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let users: Vec<i64> = sqlx::query_scalar(
        "SELECT user_id FROM flex_assignments WHERE team_id = $1 AND removed_at IS NULL ORDER BY user_id",
    )
    .bind(from.0)
    .fetch_all(&mut *conn)
    .await?;
    for user in users.into_iter().map(UserId) {
        let target = assignment(conn, into, user).await?;
        if matches!(&target, Some(a) if a.removed_at.is_none()) {
            supersede_invitations(conn, from, user, now).await?;
        } else {
            let moving: MovingAssignmentRow = sqlx::query_as(
                "SELECT status, access_all, assigned_at FROM flex_assignments WHERE team_id = $1 AND user_id = $2",
            )
            .bind(from.0)
            .bind(user.0)
            .fetch_one(&mut *conn)
            .await?;
            if target.is_some() {
                // Assigned there once and removed: the merged assignment takes its place.
                sqlx::query("DELETE FROM assignment_products WHERE team_id = $1 AND user_id = $2")
                    .bind(into.0)
                    .bind(user.0)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM flex_assignments WHERE team_id = $1 AND user_id = $2")
                    .bind(into.0)
                    .bind(user.0)
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO flex_assignments (team_id, user_id, status, access_all, source, assigned_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'merge', $5, $6)",
            )
            .bind(into.0)
            .bind(user.0)
            .bind(&moving.status)
            .bind(moving.access_all)
            .bind(moving.assigned_at)
            .bind(to_db(now))
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO assignment_products (team_id, user_id, product_id) \
                 SELECT $1, user_id, product_id FROM assignment_products WHERE team_id = $2 AND user_id = $3",
            )
            .bind(into.0)
            .bind(from.0)
            .bind(user.0)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE invitations SET team_id = $1 \
                 WHERE team_id = $2 AND user_id = $3 AND accepted_at IS NULL AND superseded_at IS NULL",
            )
            .bind(into.0)
            .bind(from.0)
            .bind(user.0)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query("UPDATE flex_assignments SET removed_at = $1, updated_at = $1 WHERE team_id = $2 AND user_id = $3")
            .bind(to_db(now))
            .bind(from.0)
            .bind(user.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The state of an invitation row, for listings.
pub(crate) fn invitation_state(
    expires: i64,
    accepted: Option<i64>,
    superseded: Option<i64>,
    now: DateTime<Utc>,
) -> StoreResult<InvitationState> {
    Ok(InvitationState::of(
        from_db(expires)?,
        accepted.map(from_db).transpose()?,
        superseded.map(from_db).transpose()?,
        now,
    ))
}
