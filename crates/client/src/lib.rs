//! Typed async client for Jeton's HTTP API (`docs/api.md`).
//!
//! One method per endpoint; requests and answers are the wire types of [`jeton_api`]. Every
//! failure is a [`ClientError`]: the server's `application/problem+json` answer
//! ([`ClientError::Api`]), a server that could not be reached ([`ClientError::Transport`]), or an
//! answer that is not what the endpoint promises ([`ClientError::Decode`]).
//!
//! A desktop product uses the layer above, [`product::ProductClient`]: sign-in with a verified
//! offline lease, a heartbeat task with an online/offline/stopped status, and the fallback to the
//! lease while the server cannot be reached ([`lease`], R-SES-7).
//!
//! ```no_run
//! # async fn demo() -> Result<(), jeton_client::ClientError> {
//! use jeton_api::{NewPack, NewTeam};
//! let client = jeton_client::Client::new("http://127.0.0.1:8080", Some("operator-key".into()));
//! let team = client.create_team(&NewTeam { name: "Design".into() }).await?;
//! let pack = client.buy_pack(team.id, &NewPack { tokens: 1000 }, Some("order-42")).await?;
//! println!("pack {} expires {}", pack.id, pack.expires_at);
//! # Ok(()) }
//! ```

pub use jeton_api as api;

pub mod lease;
pub mod product;

pub use lease::{PublicKey, verify_lease};
pub use product::{ProductClient, SessionHandle, SessionStatus, StopReason};

use std::time::Duration;

use bytes::Bytes;
use chrono::SecondsFormat;
use jeton_api::{
    AcceptInvitation, Accepted, AdminCreated, AdminInfo, AdminKey, AssignRequest, Assignment,
    Audit, Balance, BatchAssignRequest, BatchEntry, ClockAdvance, ClockNow, Defaults, Event,
    EventsQuery, FlexUser, Health, IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER,
    ImportDetail, ImportJob, ImportLine, ImportLineOutcome, ImportOutcomesQuery, ImportQuery,
    ImportsQuery, Invitation, Me, Merge, MergeRequest, Move, MyProduct, NewAdmin, NewMove, NewPack,
    NewProduct, NewTeam, OutboxMessage, OutboxQuery, Pack, PasswordLink, Problem, Product,
    ProductChange, ProductDetail, Requeued, SetDefaults, SetProducts, Team, TeamRename,
    TokenRequest, TokensEnded, UserToken,
};
use jeton_api::{
    Entitlement, Heartbeat, HeartbeatAnswer, LeaseKey, NewEntitlement, NewResult, NewUser,
    ResultCharged, SessionInfo, SessionStarted, SessionsQuery, SignIn, SignedOut, UserAccount,
};
use jeton_api::{
    Estimate, EstimateRequest, Forecast, TeamSettings, TeamSettingsChange, UsageQuery, UsageReport,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (4xx/5xx). When its body was not problem+json, the
    /// problem is synthesized: code `http_<status>`, the body text as detail.
    #[error("{} (code {}, HTTP {})", .0.detail, .0.code, .0.status)]
    Api(Problem),
    /// The server could not be reached (or the URL is unusable); the message names the URL.
    #[error("{0}")]
    Transport(String),
    /// The server answered with success but not with what the endpoint promises.
    #[error("{0}")]
    Decode(String),
}

impl ClientError {
    /// The server's problem, when it answered with one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Api(p) => Some(p),
            _ => None,
        }
    }

    /// The problem's stable `code`, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        self.problem().map(|p| p.code.as_str())
    }

    /// The HTTP status of the server's error answer.
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }
}

/// The answer to a request that may carry an idempotency key, and whether it is the stored
/// answer of an earlier request with the same key (`Idempotent-Replayed: true`): then the
/// server did nothing now, and `value` is what it did the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<T> {
    pub value: T,
    pub replayed: bool,
}

/// Connect timeout used unless [`Client::with_timeout`] says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Jeton API client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`), sending `key` as
    /// `Authorization: Bearer <key>` when given.
    pub fn new(base_url: &str, key: Option<String>) -> Client {
        Client {
            http: http_client(None),
            base: base_url.trim().trim_end_matches('/').to_string(),
            key: key.filter(|k| !k.is_empty()),
        }
    }

    /// The same client, giving up on any call that takes longer than `timeout` in all.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.http = http_client(Some(timeout));
        self
    }

    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether calls carry an API key.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The same server and connection pool, with another key (e.g. one user token per
    /// simulated user, without a connection pool each).
    pub fn with_key(&self, key: Option<String>) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            key: key.filter(|k| !k.is_empty()),
        }
    }

    // ------------------------------------------------------------ operations

    /// `GET /healthz`: liveness and database reachability.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.call(Request::new(Method::GET, "/healthz".into()))
            .await
    }

    /// `POST /v1/test-clock/advance` (servers started with `--test-clock` only).
    pub async fn advance_clock(&self, seconds: i64) -> Result<ClockNow, ClientError> {
        let body = ClockAdvance { seconds };
        self.call(Request::new(Method::POST, "/v1/test-clock/advance".into()).json(&body)?)
            .await
    }

    // ------------------------------------------------------------ catalogue

    /// `POST /v1/products` (operator).
    pub async fn create_product(&self, product: &NewProduct) -> Result<Product, ClientError> {
        self.call(Request::new(Method::POST, "/v1/products".into()).json(product)?)
            .await
    }

    /// `GET /v1/products`.
    pub async fn list_products(&self) -> Result<Vec<Product>, ClientError> {
        self.call(Request::new(Method::GET, "/v1/products".into()))
            .await
    }

    /// `GET /v1/products/{key}`: the product with its rate history.
    pub async fn product(&self, key: &str) -> Result<ProductDetail, ClientError> {
        let path = format!("/v1/products/{}", path_segment(key));
        self.call(Request::new(Method::GET, path)).await
    }

    /// `PATCH /v1/products/{key}` (operator): fields left `None` stay as they are.
    pub async fn update_product(
        &self,
        key: &str,
        change: &ProductChange,
    ) -> Result<Product, ClientError> {
        let path = format!("/v1/products/{}", path_segment(key));
        self.call(Request::new(Method::PATCH, path).json(change)?)
            .await
    }

    // ------------------------------------------------------------ teams

    /// `POST /v1/teams`.
    pub async fn create_team(&self, team: &NewTeam) -> Result<Team, ClientError> {
        self.call(Request::new(Method::POST, "/v1/teams".into()).json(team)?)
            .await
    }

    /// `GET /v1/teams`: the teams the caller may see.
    pub async fn list_teams(&self) -> Result<Vec<Team>, ClientError> {
        self.call(Request::new(Method::GET, "/v1/teams".into()))
            .await
    }

    /// `GET /v1/teams/{id}`.
    pub async fn team(&self, id: i64) -> Result<Team, ClientError> {
        let path = format!("/v1/teams/{id}");
        self.call(Request::new(Method::GET, path)).await
    }

    /// `PATCH /v1/teams/{id}`: a new name (the operator, or an admin of the team).
    pub async fn rename_team(&self, id: i64, rename: &TeamRename) -> Result<Team, ClientError> {
        let path = format!("/v1/teams/{id}");
        self.call(Request::new(Method::PATCH, path).json(rename)?)
            .await
    }

    /// `POST /v1/teams/{team}/packs` (operator). With an idempotency key, repeating the call
    /// returns the first pack instead of buying another ([`Client::buy_pack_recorded`] says
    /// whether it did).
    pub async fn buy_pack(
        &self,
        team: i64,
        pack: &NewPack,
        idempotency_key: Option<&str>,
    ) -> Result<Pack, ClientError> {
        Ok(self
            .buy_pack_recorded(team, pack, idempotency_key)
            .await?
            .value)
    }

    /// [`Client::buy_pack`], saying whether the answer is the first pack of an idempotency key
    /// used before (then nothing was bought now).
    pub async fn buy_pack_recorded(
        &self,
        team: i64,
        pack: &NewPack,
        idempotency_key: Option<&str>,
    ) -> Result<Recorded<Pack>, ClientError> {
        let path = format!("/v1/teams/{team}/packs");
        let mut req = Request::new(Method::POST, path).json(pack)?;
        if let Some(key) = idempotency_key {
            req.headers.push((IDEMPOTENCY_KEY_HEADER, key.to_string()));
        }
        self.call_recorded(req).await
    }

    /// `GET /v1/teams/{team}/balance` (R-REP-1).
    pub async fn balance(&self, team: i64) -> Result<Balance, ClientError> {
        let path = format!("/v1/teams/{team}/balance");
        self.call(Request::new(Method::GET, path)).await
    }

    /// `GET /v1/teams/{team}/events?from&to&limit` (R-REP-2).
    pub async fn events(&self, team: i64, query: &EventsQuery) -> Result<Vec<Event>, ClientError> {
        let path = format!("/v1/teams/{team}/events");
        let mut req = Request::new(Method::GET, path);
        req.query = events_query(query);
        self.call(req).await
    }

    /// `POST /v1/teams/{team}/moves` (R-PACK-6).
    pub async fn move_tokens(&self, team: i64, request: &NewMove) -> Result<Move, ClientError> {
        let path = format!("/v1/teams/{team}/moves");
        self.call(Request::new(Method::POST, path).json(request)?)
            .await
    }

    /// `POST /v1/teams/{team}/merge` (R-PACK-7): `team` is closed into `request.into_team`.
    pub async fn merge(&self, team: i64, request: &MergeRequest) -> Result<Merge, ClientError> {
        let path = format!("/v1/teams/{team}/merge");
        self.call(Request::new(Method::POST, path).json(request)?)
            .await
    }

    /// `GET /v1/teams/{team}/audit`: the ledger reconciled with the packs.
    pub async fn audit(&self, team: i64) -> Result<Audit, ClientError> {
        let path = format!("/v1/teams/{team}/audit");
        self.call(Request::new(Method::GET, path)).await
    }

    // ------------------------------------------------------------ admins

    /// `POST /v1/admins` (operator). The answer holds the admin's API key, shown only once.
    pub async fn create_admin(&self, admin: &NewAdmin) -> Result<AdminCreated, ClientError> {
        self.call(Request::new(Method::POST, "/v1/admins".into()).json(admin)?)
            .await
    }

    /// `GET /v1/admins` (operator): every admin with their teams and key state, never a key.
    pub async fn admins(&self) -> Result<Vec<AdminInfo>, ClientError> {
        self.call(Request::new(Method::GET, "/v1/admins".into()))
            .await
    }

    /// `POST /v1/admins/{id}/revoke` (operator): the admin's key is refused from now on (401
    /// `key_revoked`) until [`Client::rotate_admin_key`] issues a new one (R-AUTH-1).
    pub async fn revoke_admin_key(&self, admin: i64) -> Result<AdminInfo, ClientError> {
        let path = format!("/v1/admins/{admin}/revoke");
        self.call(Request::new(Method::POST, path)).await
    }

    /// `POST /v1/admins/{id}/rotate` (operator): a new key for the admin, shown only in this
    /// answer; the old one is refused from now on (R-AUTH-1).
    pub async fn rotate_admin_key(&self, admin: i64) -> Result<AdminKey, ClientError> {
        let path = format!("/v1/admins/{admin}/rotate");
        self.call(Request::new(Method::POST, path)).await
    }

    /// `POST /v1/admins/{id}/password-link` (operator): a new single-use link for the admin to
    /// choose their console password, also emailed to them; earlier links stop working.
    pub async fn admin_password_link(&self, admin: i64) -> Result<PasswordLink, ClientError> {
        let path = format!("/v1/admins/{admin}/password-link");
        self.call(Request::new(Method::POST, path)).await
    }

    // ------------------------------------------------------------ people (R-USR, R-ACC)

    /// `POST /v1/auth/token` (no key needed): signs a user in; the answer's token is their key
    /// for `/v1/me` and product sessions. A wrong email or password is 401 `invalid_credentials`;
    /// after 10 attempts for one address in 15 minutes, 429 `too_many_sign_in_attempts`.
    pub async fn user_token(&self, request: &TokenRequest) -> Result<UserToken, ClientError> {
        let req = Request::new(Method::POST, "/v1/auth/token".into())
            .json(request)?
            .without_key();
        self.call(req).await
    }

    /// `POST /v1/me/sign-out` (user token): ends this client's token; the user's other tokens
    /// keep working (R-AUTH-1).
    pub async fn sign_out_token(&self) -> Result<(), ClientError> {
        self.send(Request::new(Method::POST, "/v1/me/sign-out".into()))
            .await
            .map(drop)
    }

    /// `POST /v1/me/sign-out-everywhere` (user token): ends every token of this user, this
    /// client's included (R-AUTH-1).
    pub async fn sign_out_everywhere(&self) -> Result<TokensEnded, ClientError> {
        self.call(Request::new(
            Method::POST,
            "/v1/me/sign-out-everywhere".into(),
        ))
        .await
    }

    /// `POST /v1/users/{id}/sign-out-everywhere` (operator): ends every token of that user.
    pub async fn sign_out_user_everywhere(&self, user: i64) -> Result<TokensEnded, ClientError> {
        let path = format!("/v1/users/{user}/sign-out-everywhere");
        self.call(Request::new(Method::POST, path)).await
    }

    /// `GET /v1/me` (user token): who the token belongs to.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.call(Request::new(Method::GET, "/v1/me".into())).await
    }

    /// `GET /v1/me/products` (user token): the downloads view (R-ACC-4).
    pub async fn my_products(&self) -> Result<Vec<MyProduct>, ClientError> {
        self.call(Request::new(Method::GET, "/v1/me/products".into()))
            .await
    }

    /// `POST /v1/teams/{team}/flex/users`: assigns an existing user (by `user_id` or `email`) or
    /// invites a new one (`invite: "Full Name <email>"`) (R-USR-1, R-USR-2).
    pub async fn assign(
        &self,
        team: i64,
        request: &AssignRequest,
    ) -> Result<Assignment, ClientError> {
        let req =
            Request::new(Method::POST, format!("/v1/teams/{team}/flex/users")).json(request)?;
        self.call(req).await
    }

    /// `POST /v1/teams/{team}/flex/users/batch`: several entries at once, each with its own
    /// result (a refused entry is an [`BatchEntry::error`], not a failed call).
    pub async fn assign_batch(
        &self,
        team: i64,
        request: &BatchAssignRequest,
    ) -> Result<Vec<BatchEntry>, ClientError> {
        let req = Request::new(Method::POST, format!("/v1/teams/{team}/flex/users/batch"))
            .json(request)?;
        self.call(req).await
    }

    /// `GET /v1/teams/{team}/flex/users`: the team's Flex users with their product access.
    pub async fn flex_users(&self, team: i64) -> Result<Vec<FlexUser>, ClientError> {
        self.call(Request::new(
            Method::GET,
            format!("/v1/teams/{team}/flex/users"),
        ))
        .await
    }

    /// `DELETE /v1/teams/{team}/flex/users/{user}`: unassigns the user; their history stays
    /// (R-USR-6).
    pub async fn unassign(&self, team: i64, user: i64) -> Result<(), ClientError> {
        let req = Request::new(
            Method::DELETE,
            format!("/v1/teams/{team}/flex/users/{user}"),
        );
        self.send(req).await.map(drop)
    }

    /// `PUT /v1/teams/{team}/flex/users/{user}/products`: `{"all": true}`, or `{"products": […]}`
    /// where `[]` clears the selection (R-ACC-1, R-ACC-2).
    pub async fn set_user_products(
        &self,
        team: i64,
        user: i64,
        selection: &SetProducts,
    ) -> Result<FlexUser, ClientError> {
        let path = format!("/v1/teams/{team}/flex/users/{user}/products");
        self.call(Request::new(Method::PUT, path).json(selection)?)
            .await
    }

    /// `GET /v1/teams/{team}/flex/defaults` (R-ACC-3).
    pub async fn defaults(&self, team: i64) -> Result<Defaults, ClientError> {
        self.call(Request::new(
            Method::GET,
            format!("/v1/teams/{team}/flex/defaults"),
        ))
        .await
    }

    /// `PUT /v1/teams/{team}/flex/defaults`: an empty list turns default assignments off.
    pub async fn set_defaults(
        &self,
        team: i64,
        defaults: &SetDefaults,
    ) -> Result<Defaults, ClientError> {
        let path = format!("/v1/teams/{team}/flex/defaults");
        self.call(Request::new(Method::PUT, path).json(defaults)?)
            .await
    }

    /// `POST /v1/teams/{team}/flex/import?first_line=N` with `csv` as a `text/csv` body
    /// (R-USR-5): the server stores the file as an import and answers at once (`202 Accepted`);
    /// its lines are applied in the background. Follow it with [`Client::import_job`]. For a
    /// file sent in parts, `query.first_line` is the file line number of the part's first line,
    /// so that outcomes name lines of the whole file. The server takes at most 100,000 lines and
    /// 10 MiB per request (`413 body_too_large`).
    pub async fn import_users(
        &self,
        team: i64,
        query: &ImportQuery,
        csv: Vec<u8>,
    ) -> Result<ImportJob, ClientError> {
        let mut req = Request::new(Method::POST, format!("/v1/teams/{team}/flex/import"))
            .body(CSV_CONTENT_TYPE, csv);
        if let Some(first_line) = query.first_line {
            req.query.push(("first_line", first_line.to_string()));
        }
        self.call(req).await
    }

    /// `GET /v1/teams/{team}/flex/imports/{id}`: an import's status, progress and counts, and a
    /// page of its lines' outcomes (`query.limit = Some(0)`: the counts alone).
    pub async fn import_job(
        &self,
        team: i64,
        id: i64,
        query: &ImportOutcomesQuery,
    ) -> Result<ImportDetail, ClientError> {
        let mut req = Request::new(Method::GET, format!("/v1/teams/{team}/flex/imports/{id}"));
        req.query = import_outcomes_query(query);
        self.call(req).await
    }

    /// Every outcome of an import so far (of kind `only`, when given), in line order: the pages
    /// of [`Client::import_job`] one after another.
    pub async fn import_outcomes(
        &self,
        team: i64,
        id: i64,
        only: Option<ImportLineOutcome>,
    ) -> Result<Vec<ImportLine>, ClientError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let query = ImportOutcomesQuery {
                after,
                limit: Some(MAX_IMPORT_OUTCOMES_PAGE),
                outcome: only,
            };
            let page = self.import_job(team, id, &query).await?;
            all.extend(page.outcomes);
            match page.next_after {
                // A server that names a line it already gave would loop for ever.
                Some(next) if after.is_none_or(|a| next > a) => after = Some(next),
                Some(next) => {
                    return Err(ClientError::Decode(format!(
                        "the server gave the outcomes after line {next} twice"
                    )));
                }
                None => return Ok(all),
            }
        }
    }

    /// `GET /v1/teams/{team}/flex/imports`: a team's imports, newest first.
    pub async fn import_jobs(
        &self,
        team: i64,
        query: &ImportsQuery,
    ) -> Result<Vec<ImportJob>, ClientError> {
        let mut req = Request::new(Method::GET, format!("/v1/teams/{team}/flex/imports"));
        if let Some(limit) = query.limit {
            req.query.push(("limit", limit.to_string()));
        }
        self.call(req).await
    }

    /// `GET /v1/teams/{team}/invitations`.
    pub async fn invitations(&self, team: i64) -> Result<Vec<Invitation>, ClientError> {
        self.call(Request::new(
            Method::GET,
            format!("/v1/teams/{team}/invitations"),
        ))
        .await
    }

    /// `POST /v1/teams/{team}/invitations/{id}/resend`: a new secret and a new 7-day window; the
    /// old link stops working (R-USR-3).
    pub async fn resend_invitation(&self, team: i64, id: i64) -> Result<Invitation, ClientError> {
        let path = format!("/v1/teams/{team}/invitations/{id}/resend");
        self.call(Request::new(Method::POST, path)).await
    }

    /// `POST /v1/invitations/accept` (no key needed): sets the new account's password (or checks
    /// an existing account's) and activates the assignment. 410 `invitation_expired` or
    /// `invitation_superseded` when the link no longer works.
    pub async fn accept_invitation(
        &self,
        request: &AcceptInvitation,
    ) -> Result<Accepted, ClientError> {
        let req = Request::new(Method::POST, "/v1/invitations/accept".into())
            .json(request)?
            .without_key();
        self.call(req).await
    }

    /// `GET /v1/outbox?status&to&limit` (operator): queued and sent emails, newest first.
    pub async fn outbox(&self, query: &OutboxQuery) -> Result<Vec<OutboxMessage>, ClientError> {
        let mut req = Request::new(Method::GET, "/v1/outbox".into());
        req.query = outbox_query(query);
        self.call(req).await
    }

    /// `POST /v1/outbox/{id}/retry` (operator): queues a `failed` email again. 409
    /// `message_not_failed` when it is pending or sent.
    pub async fn retry_outbox_message(&self, id: i64) -> Result<OutboxMessage, ClientError> {
        let path = format!("/v1/outbox/{id}/retry");
        self.call(Request::new(Method::POST, path)).await
    }

    /// `POST /v1/outbox/failed/retry` (operator): queues every `failed` email again.
    pub async fn retry_failed_outbox_messages(&self) -> Result<Requeued, ClientError> {
        let path = "/v1/outbox/failed/retry".to_string();
        self.call(Request::new(Method::POST, path)).await
    }

    // ------------------------------------------------------------ accounts and entitlements (R-PRI)

    /// `POST /v1/users` (operator): an account with a password, made directly (no invitation).
    pub async fn create_user(&self, user: &NewUser) -> Result<UserAccount, ClientError> {
        self.call(Request::new(Method::POST, "/v1/users".into()).json(user)?)
            .await
    }

    /// `POST /v1/users/{user}/subscriptions` (operator): a single-user subscription; its
    /// holder consumes no tokens for the product while it runs (R-PRI-1).
    pub async fn add_subscription(
        &self,
        user: i64,
        entitlement: &NewEntitlement,
    ) -> Result<Entitlement, ClientError> {
        let path = format!("/v1/users/{user}/subscriptions");
        self.call(Request::new(Method::POST, path).json(entitlement)?)
            .await
    }

    /// `POST /v1/users/{user}/trials` (operator): a trial; no tokens while it runs (R-PRI-2).
    pub async fn add_trial(
        &self,
        user: i64,
        entitlement: &NewEntitlement,
    ) -> Result<Entitlement, ClientError> {
        let path = format!("/v1/users/{user}/trials");
        self.call(Request::new(Method::POST, path).json(entitlement)?)
            .await
    }

    /// `DELETE /v1/users/{user}/subscriptions/{id}` (operator): removes the subscription and
    /// answers it. Nothing used under it is charged; each later sign-in pays as usual.
    pub async fn remove_subscription(
        &self,
        user: i64,
        id: i64,
    ) -> Result<Entitlement, ClientError> {
        let path = format!("/v1/users/{user}/subscriptions/{id}");
        self.call(Request::new(Method::DELETE, path)).await
    }

    /// `DELETE /v1/users/{user}/trials/{id}` (operator): removes the trial and answers it.
    pub async fn remove_trial(&self, user: i64, id: i64) -> Result<Entitlement, ClientError> {
        let path = format!("/v1/users/{user}/trials/{id}");
        self.call(Request::new(Method::DELETE, path)).await
    }

    /// `GET /v1/users?email=…` (operator): the account with this address, if there is one.
    pub async fn find_user(&self, email: &str) -> Result<Option<UserAccount>, ClientError> {
        let mut req = Request::new(Method::GET, "/v1/users".into());
        req.query.push(("email", email.to_string()));
        let found: Vec<UserAccount> = self.call(req).await?;
        Ok(found.into_iter().next())
    }

    /// `GET /v1/users/{user}/entitlements` (operator): the user's subscriptions and trials.
    pub async fn entitlements(&self, user: i64) -> Result<Vec<Entitlement>, ClientError> {
        let path = format!("/v1/users/{user}/entitlements");
        self.call(Request::new(Method::GET, path)).await
    }

    // ------------------------------------------------------------ sessions (R-SES)
    //
    // These are the raw calls. A product should rather use [`product::ProductClient`], which
    // verifies leases, keeps heartbeating and falls back to the lease while offline.

    /// `POST /v1/sessions` (user token): signs the token's user in to a product (R-SES-1/2). A
    /// refusal is a 422 problem whose code is `not_assigned`, `invitation_pending`,
    /// `product_not_allowed`, `unknown_product`, `insufficient_tokens` or `team_closed`. With an
    /// idempotency key, a retry returns the first answer instead of opening another session.
    pub async fn sign_in(
        &self,
        request: &SignIn,
        idempotency_key: Option<&str>,
    ) -> Result<SessionStarted, ClientError> {
        Ok(self.sign_in_recorded(request, idempotency_key).await?.value)
    }

    /// [`Client::sign_in`], saying whether the answer is the first answer of an idempotency key
    /// used before (then no session was opened and nothing was charged now).
    pub async fn sign_in_recorded(
        &self,
        request: &SignIn,
        idempotency_key: Option<&str>,
    ) -> Result<Recorded<SessionStarted>, ClientError> {
        let mut req = Request::new(Method::POST, "/v1/sessions".into()).json(request)?;
        if let Some(key) = idempotency_key {
            req.headers.push((IDEMPOTENCY_KEY_HEADER, key.to_string()));
        }
        self.call_recorded(req).await
    }

    /// `POST /v1/sessions/{id}/heartbeat` (user token): keeps the session alive and renews its
    /// lease. 422 `insufficient_tokens`: the next period could not be paid and the session is
    /// ended (stop the product); 410 `session_ended`: it was ended (sign in again).
    pub async fn heartbeat(
        &self,
        session: i64,
        heartbeat: &Heartbeat,
    ) -> Result<HeartbeatAnswer, ClientError> {
        let path = format!("/v1/sessions/{session}/heartbeat");
        self.call(Request::new(Method::POST, path).json(heartbeat)?)
            .await
    }

    /// `DELETE /v1/sessions/{id}` (user token): signs out; the answer says what the grace rule
    /// refunded (R-SES-4).
    pub async fn sign_out(&self, session: i64) -> Result<SignedOut, ClientError> {
        let path = format!("/v1/sessions/{session}");
        self.call(Request::new(Method::DELETE, path)).await
    }

    /// `POST /v1/sessions/{id}/results` (user token): charges a result (R-SES-8). The result's
    /// `id` makes it idempotent: sending the same id again charges nothing more.
    pub async fn report_result(
        &self,
        session: i64,
        result: &NewResult,
    ) -> Result<ResultCharged, ClientError> {
        let path = format!("/v1/sessions/{session}/results");
        self.call(Request::new(Method::POST, path).json(result)?)
            .await
    }

    /// `GET /v1/lease-key` (no key needed): the public key that verifies the server's offline
    /// leases (R-SES-7).
    pub async fn lease_key(&self) -> Result<LeaseKey, ClientError> {
        let req = Request::new(Method::GET, "/v1/lease-key".into()).without_key();
        self.call(req).await
    }

    /// `GET /v1/teams/{team}/sessions?open&limit`: the team's sessions, newest first.
    pub async fn sessions(
        &self,
        team: i64,
        query: &SessionsQuery,
    ) -> Result<Vec<SessionInfo>, ClientError> {
        let mut req = Request::new(Method::GET, format!("/v1/teams/{team}/sessions"));
        req.query = sessions_query(query);
        self.call(req).await
    }

    // ------------------------------------------------------------ reports (R-REP, R-NOT-1)

    /// `GET /v1/teams/{team}/usage?range&from&to&by` (R-REP-3): the summary, and the rows
    /// `query.by` asks for. A bad range is 400 `invalid_range`.
    pub async fn usage(&self, team: i64, query: &UsageQuery) -> Result<UsageReport, ClientError> {
        let mut req = Request::new(Method::GET, format!("/v1/teams/{team}/usage"));
        req.query = usage_query(query);
        self.call(req).await
    }

    /// `GET /v1/teams/{team}/usage.csv?range&from&to` (R-REP-4): the usage rows as CSV text,
    /// header line first, as the server wrote them (`query.by` is not sent).
    pub async fn usage_csv(&self, team: i64, query: &UsageQuery) -> Result<String, ClientError> {
        let mut req = Request::new(Method::GET, format!("/v1/teams/{team}/usage.csv"))
            .accept(CSV_CONTENT_TYPE);
        req.query = usage_query(&UsageQuery {
            by: None,
            ..query.clone()
        });
        self.text(req).await
    }

    /// `GET /v1/teams/{team}/settings`: the low-balance threshold and the pseudonym switch.
    pub async fn team_settings(&self, team: i64) -> Result<TeamSettings, ClientError> {
        let path = format!("/v1/teams/{team}/settings");
        self.call(Request::new(Method::GET, path)).await
    }

    /// `PUT /v1/teams/{team}/settings`: fields left `None` stay as they are.
    pub async fn set_team_settings(
        &self,
        team: i64,
        change: &TeamSettingsChange,
    ) -> Result<TeamSettings, ClientError> {
        let path = format!("/v1/teams/{team}/settings");
        self.call(Request::new(Method::PUT, path).json(change)?)
            .await
    }

    /// `GET /v1/teams/{team}/forecast`: at the last 30 days' burn rate, when the balance reaches
    /// zero and what expires unused.
    pub async fn forecast(&self, team: i64) -> Result<Forecast, ClientError> {
        let path = format!("/v1/teams/{team}/forecast");
        self.call(Request::new(Method::GET, path)).await
    }

    /// `POST /v1/estimate` (R-REP-5): the tokens a plan needs per month and year; with
    /// `request.team`, compared with that team's balance.
    pub async fn estimate(&self, request: &EstimateRequest) -> Result<Estimate, ClientError> {
        self.call(Request::new(Method::POST, "/v1/estimate".into()).json(request)?)
            .await
    }

    // ------------------------------------------------------------ plumbing

    /// Sends one request and reads its JSON answer: `T` on success, the server's problem
    /// otherwise.
    async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, ClientError> {
        Ok(self.call_recorded(request).await?.value)
    }

    /// [`Client::call`], with whether the server marked the answer as a replay.
    async fn call_recorded<T: DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<Recorded<T>, ClientError> {
        let what = format!("{} {}", request.method, request.path);
        let (bytes, headers) = self.exchange(request).await?;
        let replayed = headers
            .get(IDEMPOTENT_REPLAYED_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::Decode(format!(
                "unexpected answer to {what} from the Jeton server at {}: {e} \
                 (is that a Jeton server of a matching version?)",
                self.base
            ))
        })?;
        Ok(Recorded { value, replayed })
    }

    /// Sends one request and reads its answer as text (CSV): the server's problem otherwise.
    async fn text(&self, request: Request) -> Result<String, ClientError> {
        let what = format!("{} {}", request.method, request.path);
        let bytes = self.send(request).await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            ClientError::Decode(format!(
                "unexpected answer to {what} from the Jeton server at {}: not UTF-8 text ({e})",
                self.base
            ))
        })
    }

    /// Sends one request: the body of a success answer, the server's problem otherwise.
    async fn send(&self, request: Request) -> Result<Bytes, ClientError> {
        Ok(self.exchange(request).await?.0)
    }

    /// Sends one request: the body and headers of a success answer, the server's problem
    /// otherwise. Every call goes through here.
    async fn exchange(
        &self,
        request: Request,
    ) -> Result<(Bytes, reqwest::header::HeaderMap), ClientError> {
        let Request {
            method,
            path,
            query,
            headers,
            body,
            with_key,
            accept,
        } = request;
        let url = format!("{}{path}", self.base);
        let mut builder = self
            .http
            .request(method, &url)
            .header(reqwest::header::ACCEPT, accept);
        if !query.is_empty() {
            builder = builder.query(&query);
        }
        if let Some(key) = self.key.as_ref().filter(|_| with_key) {
            builder = builder.bearer_auth(key);
        }
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if let Some((content_type, body)) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let response = builder.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        if !status.is_success() {
            return Err(ClientError::Api(problem_from_answer(status, &bytes)));
        }
        Ok((bytes, headers))
    }

    fn transport(&self, error: &reqwest::Error) -> ClientError {
        let base = &self.base;
        let cause = root_cause(error);
        ClientError::Transport(if base.starts_with("https://") {
            format!(
                "cannot use {base:?} as the Jeton server URL: this client speaks plain HTTP only \
                 (expected http://HOST:PORT, e.g. http://127.0.0.1:8080)"
            )
        } else if error.is_builder() || !base.starts_with("http://") {
            format!(
                "cannot use {base:?} as the Jeton server URL: {cause} \
                 (expected http://HOST:PORT, e.g. http://127.0.0.1:8080)"
            )
        } else if error.is_timeout() {
            format!("the Jeton server at {base} did not answer in time: {cause}")
        } else if error.is_connect() {
            format!(
                "cannot reach the Jeton server at {base}: {cause} — is `jeton serve` running? \
                 (set --server or JETON_SERVER)"
            )
        } else {
            format!("the request to the Jeton server at {base} failed: {cause}")
        })
    }
}

/// One request to send: what [`Client::send`] needs.
#[derive(Debug)]
struct Request {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    /// Content type and bytes.
    body: Option<(&'static str, Bytes)>,
    /// Whether to send the client's key (endpoints that need none do not get it).
    with_key: bool,
    /// The `Accept` header: JSON, or CSV for exports.
    accept: &'static str,
}

impl Request {
    fn new(method: Method, path: String) -> Request {
        Request {
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            with_key: true,
            accept: JSON_CONTENT_TYPE,
        }
    }

    /// Asks for an answer of `content_type` instead of JSON (an error answer is still a problem).
    fn accept(mut self, content_type: &'static str) -> Request {
        self.accept = content_type;
        self
    }

    /// `body` as JSON.
    fn json<B: Serialize + ?Sized>(self, body: &B) -> Result<Request, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            ClientError::Decode(format!(
                "cannot write the request to {} as JSON: {e}",
                self.path
            ))
        })?;
        Ok(self.body(JSON_CONTENT_TYPE, bytes))
    }

    /// `bytes` as they are, labelled `content_type`.
    fn body(mut self, content_type: &'static str, bytes: impl Into<Bytes>) -> Request {
        self.body = Some((content_type, bytes.into()));
        self
    }

    /// Sent without the client's key (sign-in, accepting an invitation).
    fn without_key(mut self) -> Request {
        self.with_key = false;
        self
    }
}

const JSON_CONTENT_TYPE: &str = "application/json";
const CSV_CONTENT_TYPE: &str = "text/csv";

fn http_client(timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("jeton-client/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    // Building only fails on TLS back-end set-up, which this crate does not use.
    builder.build().unwrap_or_default()
}

/// The innermost cause of a transport error, in words (no `os error` numbers).
fn root_cause(error: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = error;
    let mut current: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                std::io::ErrorKind::TimedOut => "timed out".into(),
                _ => io.to_string(),
            };
        }
        last = e;
        current = e.source();
    }
    last.to_string()
}

/// The problem in an error answer; a synthesized one when the body is not problem+json.
fn problem_from_answer(status: StatusCode, body: &[u8]) -> Problem {
    if let Ok(problem) = serde_json::from_slice::<Problem>(body) {
        return problem;
    }
    let title = status
        .canonical_reason()
        .unwrap_or("Unexpected status")
        .to_string();
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    const MAX_DETAIL: usize = 500;
    let detail = if text.is_empty() {
        title.clone()
    } else if text.chars().count() > MAX_DETAIL {
        format!("{}…", text.chars().take(MAX_DETAIL).collect::<String>())
    } else {
        text.to_string()
    };
    Problem {
        type_: "about:blank".into(),
        title,
        status: status.as_u16(),
        detail,
        code: format!("http_{}", status.as_u16()),
    }
}

/// `from`, `to` (RFC 3339, UTC) and `limit`, leaving out those not given.
fn events_query(query: &EventsQuery) -> Vec<(&'static str, String)> {
    let time = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut pairs = Vec::new();
    if let Some(from) = &query.from {
        pairs.push(("from", time(from)));
    }
    if let Some(to) = &query.to {
        pairs.push(("to", time(to)));
    }
    if let Some(limit) = query.limit {
        pairs.push(("limit", limit.to_string()));
    }
    pairs
}

/// `range`, `from`, `to` (YYYY-MM-DD) and `by`, leaving out those not given.
fn usage_query(query: &UsageQuery) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(range) = &query.range {
        pairs.push(("range", range.clone()));
    }
    if let Some(from) = &query.from {
        pairs.push(("from", from.format("%Y-%m-%d").to_string()));
    }
    if let Some(to) = &query.to {
        pairs.push(("to", to.format("%Y-%m-%d").to_string()));
    }
    if let Some(by) = &query.by {
        pairs.push(("by", by.clone()));
    }
    pairs
}

/// `status`, `to` and `limit`, leaving out those not given.
fn outbox_query(query: &OutboxQuery) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(status) = &query.status {
        pairs.push(("status", status.clone()));
    }
    if let Some(to) = &query.to {
        pairs.push(("to", to.clone()));
    }
    if let Some(limit) = query.limit {
        pairs.push(("limit", limit.to_string()));
    }
    pairs
}

/// `open` and `limit`, leaving out those not given.
fn sessions_query(query: &SessionsQuery) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(open) = query.open {
        pairs.push(("open", open.to_string()));
    }
    if let Some(limit) = query.limit {
        pairs.push(("limit", limit.to_string()));
    }
    pairs
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
/// Outcomes per page asked for by [`Client::import_outcomes`]: the most the server gives.
const MAX_IMPORT_OUTCOMES_PAGE: u32 = 10_000;

fn import_outcomes_query(query: &ImportOutcomesQuery) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(after) = query.after {
        q.push(("after", after.to_string()));
    }
    if let Some(limit) = query.limit {
        q.push(("limit", limit.to_string()));
    }
    if let Some(outcome) = query.outcome {
        q.push(("outcome", outcome.as_str().to_owned()));
    }
    q
}

fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn problem_json_bodies_are_kept_as_sent() {
        let body = br#"{"type":"https://jeton.dev/problems/insufficient_tokens","title":"Not enough tokens","status":422,"detail":"team 3 has 2 tokens, 7 needed","code":"insufficient_tokens"}"#;
        let p = problem_from_answer(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(p.code, "insufficient_tokens");
        assert_eq!(p.status, 422);
        assert_eq!(
            ClientError::Api(p).to_string(),
            "team 3 has 2 tokens, 7 needed (code insufficient_tokens, HTTP 422)"
        );
    }

    #[test]
    fn other_error_bodies_become_a_synthesized_problem() {
        let p = problem_from_answer(StatusCode::BAD_GATEWAY, b"  upstream down\n");
        assert_eq!(p.code, "http_502");
        assert_eq!(p.status, 502);
        assert_eq!(p.title, "Bad Gateway");
        assert_eq!(p.detail, "upstream down");
        assert_eq!(
            ClientError::Api(p).to_string(),
            "upstream down (code http_502, HTTP 502)"
        );

        let empty = problem_from_answer(StatusCode::NOT_FOUND, b"");
        assert_eq!(
            empty.detail, "Not Found",
            "an empty body still says something"
        );
        assert_eq!(empty.code, "http_404");

        // JSON, but not a problem: kept as text.
        let json = problem_from_answer(StatusCode::BAD_REQUEST, br#"{"error":"nope"}"#);
        assert_eq!(json.code, "http_400");
        assert_eq!(json.detail, r#"{"error":"nope"}"#);

        let long = "x".repeat(2000);
        let cut = problem_from_answer(StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes());
        assert!(cut.detail.chars().count() <= 501, "long bodies are cut");
    }

    #[test]
    fn events_query_leaves_out_what_is_not_given_and_uses_rfc3339() {
        assert!(events_query(&EventsQuery::default()).is_empty());
        let q = EventsQuery {
            from: Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
            to: None,
            limit: Some(50),
        };
        assert_eq!(
            events_query(&q),
            vec![
                ("from", "2026-03-01T00:00:00Z".to_string()),
                ("limit", "50".to_string())
            ]
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("autocad"), "autocad");
        assert_eq!(path_segment("render.cloud-2_x~"), "render.cloud-2_x~");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn base_urls_lose_their_trailing_slash_and_empty_keys_are_no_keys() {
        let c = Client::new("http://127.0.0.1:8080/", Some(String::new()));
        assert_eq!(c.base_url(), "http://127.0.0.1:8080");
        assert!(!c.has_key());
    }

    /// A port that was free a moment ago: nothing listens there.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transport_error_naming_the_url() {
        let base = format!("http://127.0.0.1:{}", closed_port());
        let err = Client::new(&base, None).health().await.unwrap_err();
        let ClientError::Transport(message) = &err else {
            panic!("expected a transport error, got {err:?}");
        };
        assert!(message.contains(&base), "{message}");
        assert!(message.contains("connection refused"), "{message}");
        assert!(message.contains("JETON_SERVER"), "{message}");
    }

    #[tokio::test]
    async fn a_bad_server_url_says_what_is_expected() {
        let err = Client::new("localhost:8080", None)
            .health()
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
        assert!(err.to_string().contains("http://HOST:PORT"), "{err}");
        let err = Client::new("https://127.0.0.1:1", None)
            .health()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("plain HTTP only"), "{err}");
    }

    /// A one-shot HTTP server answering with `answer`; returns its URL and the request it saw.
    async fn one_answer(
        status: &str,
        content_type: &str,
        body: &str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nconnection: close\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the body (Content-Length) of one request.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
            String::from_utf8_lossy(&request).to_string()
        });
        (url, seen)
    }

    #[tokio::test]
    async fn requests_carry_the_key_the_idempotency_key_and_a_json_body() {
        let (url, seen) = one_answer(
            "201 Created",
            "application/json",
            r#"{"id":5,"team_id":3,"tokens":100,"remaining":100,"purchased_at":"2026-03-01T00:00:00Z","expires_at":"2027-03-01T00:00:00Z"}"#,
        )
        .await;
        let client = Client::new(&url, Some("k-123".into()));
        let pack = client
            .buy_pack(3, &NewPack { tokens: 100 }, Some("order-9"))
            .await
            .unwrap();
        assert_eq!((pack.id, pack.tokens), (5, 100));
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("POST /v1/teams/3/packs HTTP/1.1"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("authorization: bearer k-123"), "{request}");
        assert!(lower.contains("idempotency-key: order-9"), "{request}");
        assert!(request.ends_with(r#"{"tokens":100}"#), "{request}");
    }

    #[tokio::test]
    async fn query_parameters_are_sent_and_a_wrong_answer_is_a_decode_error() {
        let (url, seen) = one_answer("200 OK", "text/plain", "hello").await;
        let q = EventsQuery {
            from: Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
            to: Some(Utc.with_ymd_and_hms(2026, 4, 1, 12, 30, 0).unwrap()),
            limit: None,
        };
        let err = Client::new(&url, None).events(7, &q).await.unwrap_err();
        assert!(matches!(err, ClientError::Decode(_)), "{err:?}");
        assert!(err.to_string().contains("/v1/teams/7/events"), "{err}");
        let request = seen.await.unwrap();
        assert!(
            request.starts_with(
                "GET /v1/teams/7/events?from=2026-03-01T00%3A00%3A00Z&to=2026-04-01T12%3A30%3A00Z HTTP/1.1"
            ),
            "{request}"
        );
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "no key, no header"
        );
    }

    #[tokio::test]
    async fn imports_send_the_raw_csv_with_its_first_line() {
        let (url, seen) = one_answer(
            "202 Accepted",
            "application/json",
            r#"{"id":9,"team_id":4,"status":"queued","total":2,"done":1,"applied":0,
                "unchanged":0,"refused":1,"created_at":"2026-01-05T08:00:00Z"}"#,
        )
        .await;
        let csv = b"Jane Doe,jane@example.com,autocad;revit\nAnn,bad\n".to_vec();
        let job = Client::new(&url, Some("k".into()))
            .import_users(
                4,
                &ImportQuery {
                    first_line: Some(501),
                },
                csv,
            )
            .await
            .unwrap();
        assert_eq!((job.id, job.status), (9, jeton_api::ImportStatus::Queued));
        assert_eq!((job.done, job.total), (1, 2));
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("POST /v1/teams/4/flex/import?first_line=501 HTTP/1.1"),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("content-type: text/csv"),
            "{request}"
        );
        assert!(
            request.ends_with("\r\n\r\nJane Doe,jane@example.com,autocad;revit\nAnn,bad\n"),
            "the body is sent as it is: {request}"
        );
    }

    #[tokio::test]
    async fn an_import_is_followed_with_its_outcome_query() {
        let (url, seen) = one_answer(
            "200 OK",
            "application/json",
            r#"{"id":9,"team_id":4,"status":"done","total":2,"done":2,"applied":1,
                "unchanged":0,"refused":1,"created_at":"2026-01-05T08:00:00Z",
                "outcomes":[{"line":502,"outcome":"refused","reason":"bad"}],"next_after":502}"#,
        )
        .await;
        let detail = Client::new(&url, Some("k".into()))
            .import_job(
                4,
                9,
                &ImportOutcomesQuery {
                    after: Some(501),
                    limit: Some(1),
                    outcome: Some(ImportLineOutcome::Refused),
                },
            )
            .await
            .unwrap();
        assert_eq!(detail.job.status, jeton_api::ImportStatus::Done);
        assert_eq!(detail.outcomes[0].reason.as_deref(), Some("bad"));
        assert_eq!(detail.next_after, Some(502));
        let request = seen.await.unwrap();
        assert!(
            request.starts_with(
                "GET /v1/teams/4/flex/imports/9?after=501&limit=1&outcome=refused HTTP/1.1"
            ),
            "{request}"
        );
    }

    #[tokio::test]
    async fn an_unassignment_answered_with_204_is_unit() {
        let (url, seen) = one_answer("204 No Content", "text/plain", "").await;
        Client::new(&url, Some("k".into()))
            .unassign(3, 17)
            .await
            .unwrap();
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("DELETE /v1/teams/3/flex/users/17 HTTP/1.1"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn sign_in_and_accepting_an_invitation_send_no_key() {
        let (url, seen) = one_answer(
            "200 OK",
            "application/json",
            r#"{"token":"ju_abc","user_id":9,"expires_at":"2026-02-04T08:00:00Z"}"#,
        )
        .await;
        let client = Client::new(&url, Some("operator-key".into()));
        let token = client
            .user_token(&TokenRequest {
                email: "jane@example.com".into(),
                password: "correct horse".into(),
            })
            .await
            .unwrap();
        assert_eq!((token.user_id, token.token.as_str()), (9, "ju_abc"));
        let request = seen.await.unwrap();
        assert!(request.starts_with("POST /v1/auth/token "), "{request}");
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "{request}"
        );

        let (url, seen) = one_answer(
            "410 Gone",
            "application/problem+json",
            r#"{"type":"about:blank","title":"Gone","status":410,"detail":"the invitation expired","code":"invitation_expired"}"#,
        )
        .await;
        let err = Client::new(&url, Some("operator-key".into()))
            .accept_invitation(&AcceptInvitation {
                secret: "s3cret".into(),
                password: "correct horse".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("invitation_expired"));
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("POST /v1/invitations/accept "),
            "{request}"
        );
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "{request}"
        );
        assert!(
            request.ends_with(r#"{"secret":"s3cret","password":"correct horse"}"#),
            "{request}"
        );
    }

    #[tokio::test]
    async fn team_sessions_send_their_query_and_the_lease_key_no_key() {
        let (url, seen) = one_answer("200 OK", "application/json", "[]").await;
        let client = Client::new(&url, Some("k".into()));
        let query = SessionsQuery {
            open: Some(false),
            limit: Some(20),
        };
        assert!(client.sessions(3, &query).await.unwrap().is_empty());
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("GET /v1/teams/3/sessions?open=false&limit=20 HTTP/1.1"),
            "{request}"
        );
        assert!(sessions_query(&SessionsQuery::default()).is_empty());

        let (url, seen) = one_answer(
            "200 OK",
            "application/json",
            r#"{"algorithm":"ed25519","public_key":"abc"}"#,
        )
        .await;
        let key = Client::new(&url, Some("k".into()))
            .lease_key()
            .await
            .unwrap();
        assert_eq!(key.public_key, "abc");
        let request = seen.await.unwrap();
        assert!(request.starts_with("GET /v1/lease-key "), "{request}");
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_replayed_answer_says_so() {
        let pack = r#"{"id":4,"team_id":3,"tokens":100,"remaining":100,"purchased_at":"2026-01-05T08:00:00Z","expires_at":"2027-01-05T08:00:00Z"}"#;
        // The header rides after the content type of the canned answer.
        let (url, seen) = one_answer(
            "201 Created",
            "application/json\r\nIdempotent-Replayed: true",
            pack,
        )
        .await;
        let client = Client::new(&url, Some("k".into()));
        let again = client
            .buy_pack_recorded(3, &NewPack { tokens: 100 }, Some("order-1"))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.value.id, 4);
        let seen = seen.await.unwrap();
        assert!(seen.contains("idempotency-key: order-1"), "{seen}");
        let (url, _) = one_answer("201 Created", "application/json", pack).await;
        let first = Client::new(&url, Some("k".into()))
            .buy_pack_recorded(3, &NewPack { tokens: 100 }, Some("order-1"))
            .await
            .unwrap();
        assert!(!first.replayed, "no header, no replay");
    }

    #[tokio::test]
    async fn entitlements_go_to_the_users_path() {
        let (url, seen) = one_answer(
            "201 Created",
            "application/json",
            r#"{"id":1,"user_id":9,"product":"autocad","kind":"trial","starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-02-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z"}"#,
        )
        .await;
        let request = NewEntitlement {
            product: "autocad".into(),
            starts_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            ends_at: Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
        };
        let trial = Client::new(&url, Some("k".into()))
            .add_trial(9, &request)
            .await
            .unwrap();
        assert_eq!(trial.kind, jeton_api::AccessKind::Trial);
        let seen = seen.await.unwrap();
        assert!(seen.starts_with("POST /v1/users/9/trials "), "{seen}");
        assert!(
            seen.ends_with(
                r#"{"product":"autocad","starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-02-01T00:00:00Z"}"#
            ),
            "{seen}"
        );
    }

    #[test]
    fn usage_query_leaves_out_what_is_not_given_and_sends_days() {
        assert!(usage_query(&UsageQuery::default()).is_empty());
        let q = UsageQuery {
            range: Some("custom".into()),
            from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
            to: chrono::NaiveDate::from_ymd_opt(2026, 1, 31),
            by: Some("day".into()),
        };
        assert_eq!(
            usage_query(&q),
            vec![
                ("range", "custom".to_string()),
                ("from", "2026-01-01".to_string()),
                ("to", "2026-01-31".to_string()),
                ("by", "day".to_string()),
            ]
        );
    }

    #[tokio::test]
    async fn usage_reports_send_their_query() {
        let (url, seen) = one_answer(
            "200 OK",
            "application/json",
            r#"{"team_id":3,"range":{"name":"past_3_months","from":"2025-10-01","to":"2025-12-31","days":92},"pseudonyms":false,"summary":{"tokens":14,"products":1,"users":2,"periods":2,"results":0},"by_product":[{"product":"autocad","name":"AutoCAD","tokens":14,"users":2,"days":2,"results":0}]}"#,
        )
        .await;
        let query = UsageQuery {
            range: Some("past_3_months".into()),
            by: Some("product".into()),
            ..UsageQuery::default()
        };
        let report = Client::new(&url, Some("k".into()))
            .usage(3, &query)
            .await
            .unwrap();
        assert_eq!(report.range.days, 92);
        assert_eq!(report.by_product.unwrap()[0].tokens, 14);
        assert!(report.by_user.is_none());
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("GET /v1/teams/3/usage?range=past_3_months&by=product HTTP/1.1"),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("accept: application/json"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn the_usage_export_asks_for_csv_and_returns_it_as_sent() {
        let csv = "date,user,email,product,tokens,access,team,entry,result_type,quantity\n\
                   2026-01-05,Jane Doe,jane@example.com,autocad,7,flex,3,period,,\n";
        let (url, seen) = one_answer("200 OK", "text/csv; charset=utf-8", csv).await;
        let query = UsageQuery {
            from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
            to: chrono::NaiveDate::from_ymd_opt(2026, 1, 31),
            by: Some("user".into()),
            ..UsageQuery::default()
        };
        let text = Client::new(&url, Some("k".into()))
            .usage_csv(3, &query)
            .await
            .unwrap();
        assert_eq!(text, csv);
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("GET /v1/teams/3/usage.csv?from=2026-01-01&to=2026-01-31 HTTP/1.1"),
            "`by` is not sent: {request}"
        );
        assert!(
            request.to_ascii_lowercase().contains("accept: text/csv"),
            "{request}"
        );

        let (url, _seen) = one_answer(
            "400 Bad Request",
            "application/problem+json",
            r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"unknown range","code":"invalid_range"}"#,
        )
        .await;
        let err = Client::new(&url, None)
            .usage_csv(3, &UsageQuery::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some("invalid_range"),
            "errors are still problems"
        );
    }

    #[tokio::test]
    async fn settings_are_changed_with_a_put_of_the_given_fields() {
        let (url, seen) = one_answer(
            "200 OK",
            "application/json",
            r#"{"low_balance_percent":20,"pseudonyms":true}"#,
        )
        .await;
        let change = TeamSettingsChange {
            low_balance_percent: None,
            pseudonyms: Some(true),
        };
        let settings = Client::new(&url, Some("k".into()))
            .set_team_settings(4, &change)
            .await
            .unwrap();
        assert!(settings.pseudonyms);
        let request = seen.await.unwrap();
        assert!(
            request.starts_with("PUT /v1/teams/4/settings HTTP/1.1"),
            "{request}"
        );
        assert!(request.ends_with(r#"{"pseudonyms":true}"#), "{request}");
    }

    #[tokio::test]
    async fn estimates_post_the_plan() {
        let (url, seen) = one_answer(
            "200 OK",
            "application/json",
            r#"{"lines":[{"product":"autocad","daily_rate":7,"users":5,"days_per_month":8,"tokens_per_month":280,"tokens_per_year":3360}],"tokens_per_month":280,"tokens_per_year":3360}"#,
        )
        .await;
        let request = EstimateRequest {
            team: None,
            plan: vec![jeton_api::PlanLine {
                product: "autocad".into(),
                users: 5,
                days_per_month: 8,
            }],
        };
        let estimate = Client::new(&url, Some("k".into()))
            .estimate(&request)
            .await
            .unwrap();
        assert_eq!(estimate.tokens_per_year, 3360);
        assert!(estimate.team.is_none());
        let seen = seen.await.unwrap();
        assert!(seen.starts_with("POST /v1/estimate HTTP/1.1"), "{seen}");
        assert!(
            seen.ends_with(r#"{"plan":[{"product":"autocad","users":5,"days_per_month":8}]}"#),
            "{seen}"
        );
    }

    #[test]
    fn outbox_query_leaves_out_what_is_not_given() {
        assert!(outbox_query(&OutboxQuery::default()).is_empty());
        let q = OutboxQuery {
            status: Some("pending".into()),
            to: None,
            limit: Some(5),
        };
        assert_eq!(
            outbox_query(&q),
            vec![
                ("status", "pending".to_string()),
                ("limit", "5".to_string())
            ]
        );
    }
}
