//! The wire types of Jeton's HTTP API (see `docs/api.md`): what clients send and receive.
//!
//! Requests carry plain JSON values (`i64` token counts, `String` keys) and reject unknown
//! fields; the server turns them into domain types, which is where each value is checked and
//! where a bad one gets its stable error `code`.

use std::collections::BTreeMap;

pub mod bounds;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An error answer, `application/problem+json` (RFC 9457). `code` is stable and meant for
/// programs; `detail` says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[schema(example = "insufficient_tokens")]
    pub code: String,
}

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Marks an answer that is the stored first answer of its `Idempotency-Key`: the request was
/// done before and nothing was done again. Its value is `true`.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "Idempotent-Replayed";

// ---------------------------------------------------------------- catalogue

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    #[schema(example = "2027")]
    pub version: String,
    #[schema(example = "windows")]
    pub platform: String,
    #[schema(example = "https://downloads.example.com/autocad-2027.exe")]
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    #[schema(example = "autocad")]
    pub key: String,
    #[schema(example = "AutoCAD")]
    pub name: String,
    /// Tokens per 24-hour usage period (0 is allowed).
    #[schema(example = 7, minimum = 0, maximum = 1_000_000)]
    pub daily_rate: i64,
    /// Tokens per reported result, by result type.
    #[serde(default)]
    pub result_rates: BTreeMap<String, i64>,
    #[serde(default)]
    pub idle_awareness: bool,
    #[serde(default)]
    pub items: Vec<Item>,
}

/// A change to a product: fields left out stay as they are. Lists given replace the old ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub daily_rate: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_rates: Option<BTreeMap<String, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_awareness: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Item>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub key: String,
    pub name: String,
    pub daily_rate: u64,
    pub result_rates: BTreeMap<String, u64>,
    pub idle_awareness: bool,
    pub items: Vec<Item>,
    /// When the product entered Flex (R-CAT-2).
    pub added_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product with every rate it has had (R-CAT-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductDetail {
    #[serde(flatten)]
    pub product: Product,
    pub rate_history: Vec<RateChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateChange {
    /// Charges made from this time on use these rates.
    pub at: DateTime<Utc>,
    pub daily_rate: u64,
    pub result_rates: BTreeMap<String, u64>,
    pub actor: String,
}

// ---------------------------------------------------------------- teams and packs

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    #[schema(example = "Design")]
    pub name: String,
}

/// A team's new name (`PATCH /v1/teams/{team}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRename {
    #[schema(example = "Design & Build")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamStatus {
    Open,
    /// Merged into another team; takes no new changes.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub status: TeamStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPack {
    /// Whole tokens, 1 to 1,000,000,000.
    #[schema(example = 1000, minimum = 1, maximum = 1_000_000_000)]
    pub tokens: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pack {
    pub id: i64,
    pub team_id: i64,
    pub tokens: u64,
    pub remaining: u64,
    pub purchased_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BalancePack {
    pub id: i64,
    pub tokens: u64,
    pub remaining: u64,
    pub purchased_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whole days until the pack expires (0 on its last day).
    pub days_to_expiry: i64,
}

/// R-REP-1. `packs` are the active packs in consumption order: the first pays next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Balance {
    pub team_id: i64,
    pub available: u64,
    pub used: u64,
    pub total: u64,
    /// `available` is below `low_percent` % of `total`.
    pub low: bool,
    /// The team's low-balance threshold (1–99 %, 20 by default; team settings).
    pub low_percent: u8,
    pub packs: Vec<BalancePack>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Start of the range (inclusive). Default: 90 days before `to`.
    #[serde(default, deserialize_with = "bounds::de_opt_time")]
    pub from: Option<DateTime<Utc>>,
    /// End of the range (exclusive). Default: now.
    #[serde(default, deserialize_with = "bounds::de_opt_time")]
    pub to: Option<DateTime<Utc>>,
    /// At most this many events (default 1000, at most 10000).
    pub limit: Option<u32>,
}

/// One ledger event (R-PACK-5). `amount` is signed: credits positive, debits negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: i64,
    pub team_id: i64,
    /// purchased, charged, refunded, expired, moved_out, moved_in, merged or adjusted.
    #[schema(example = "charged")]
    pub kind: String,
    #[schema(example = -7)]
    pub amount: i64,
    pub pack_id: i64,
    pub at: DateTime<Utc>,
    /// operator, admin:ID, user:ID or system.
    pub actor: String,
    /// What caused it: purchase:PACK, move:ID, merge:TEAM, expiry, session:ID, result:ID.
    #[schema(example = "move:12")]
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMove {
    pub to_team: i64,
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub tokens: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MovedPack {
    pub from_pack: i64,
    pub to_pack: i64,
    pub tokens: u64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Move {
    pub id: i64,
    pub from_team: i64,
    pub to_team: i64,
    pub tokens: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub packs: Vec<MovedPack>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    pub into_team: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Merge {
    pub from_team: i64,
    pub into_team: i64,
    pub tokens: u64,
    pub at: DateTime<Utc>,
    pub packs: Vec<MovedPack>,
}

/// A reconciliation of a team's ledger with its packs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Audit {
    pub team_id: i64,
    pub events_sum: i64,
    pub remaining_sum: i64,
    /// True when the events add up to the packs, in total and pack by pack.
    pub balanced: bool,
    pub mismatched_packs: Vec<i64>,
}

// ---------------------------------------------------------------- admins

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub email: String,
    pub name: String,
    pub teams: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminCreated {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub teams: Vec<i64>,
    /// Shown once; only its hash is stored.
    pub api_key: String,
    /// A single-use link to choose a console password, also emailed to the admin.
    pub password_link: String,
    pub password_link_expires_at: DateTime<Utc>,
}

/// A new single-use link for an admin to choose their console password (also emailed). Earlier
/// links of the same admin stop working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordLink {
    pub admin_id: i64,
    pub link: String,
    pub expires_at: DateTime<Utc>,
}

/// Whether an admin's key works (R-AUTH-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    /// Refused (401 `key_revoked`) until a rotation issues a new key.
    Revoked,
}

/// A team admin as the operator sees them: never the key or its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminInfo {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub teams: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub key_status: KeyStatus,
    /// When the current key was issued: at creation or at the last rotation.
    pub key_created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_revoked_at: Option<DateTime<Utc>>,
}

/// A rotated admin key: the admin, and their new key, shown this once (only its hash is
/// stored). The previous key no longer works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminKey {
    pub admin: AdminInfo,
    pub api_key: String,
}

// ---------------------------------------------------------------- operations

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockAdvance {
    /// Seconds to move the test clock forward (1 to 10 years' worth).
    #[schema(minimum = 1, maximum = 316_224_000)]
    pub seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClockNow {
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub database: String,
    pub version: String,
}

// ---------------------------------------------------------------- people (R-USR, R-ACC)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
}

/// A user token, for product clients and the downloads view (`Authorization: Bearer <token>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserToken {
    pub token: String,
    pub user_id: i64,
    pub expires_at: DateTime<Utc>,
}

/// Signing out everywhere (R-AUTH-1): how many of the user's tokens were ended (those still
/// valid; expired ones are removed too). Every one of them is refused from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokensEnded {
    pub user_id: i64,
    pub ended: u64,
}

/// Assign someone to Flex on a team: `invite` a new person as `Full Name <email>` (R-USR-2), or
/// name an existing user by `user_id` or `email` (R-USR-1). Exactly one of the three. The
/// optional product selection (`all` or `products`) is set at the same time (R-ACC-1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Jane Doe <jane@example.com>")]
    pub invite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

/// Several invitations at once: entries one per line or comma-separated (R-USR-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchAssignRequest {
    #[schema(example = "Jane Doe <jane@example.com>, John Roe <john@example.com>")]
    pub entries: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    /// Invited; the invitation has not been accepted yet.
    Invited,
    Active,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assignment {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub status: AssignmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<i64>,
}

/// One entry of a batch: its assignment, or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchEntry {
    pub entry: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<Assignment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EntryError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EntryError {
    pub code: String,
    pub detail: String,
}

/// `"all"`, or the list of product keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ProductSelection {
    All(AllProducts),
    Some(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllProducts {
    /// Every product in Flex, including those added later (R-ACC-2).
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlexUser {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub status: AssignmentStatus,
    /// The user's own selection (kept while default assignments are on).
    pub products: ProductSelection,
    /// What the user may open now: the team's defaults while they are on, else the selection.
    pub effective_products: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_expires_at: Option<DateTime<Utc>>,
    pub assigned_at: DateTime<Utc>,
}

/// A user's product selection: `{"all": true}` or `{"products": [keys]}` (`[]` clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetProducts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

/// Default assignments (R-ACC-3). An empty list turns them off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDefaults {
    pub products: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Defaults {
    pub team_id: i64,
    /// On while `products` is not empty.
    pub enabled: bool,
    pub products: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The file line number of the body's first line, when a client sends a large file in parts
    /// (default 1), so that reasons name lines of the whole file.
    #[param(minimum = 1, maximum = 1_000_000_000)]
    pub first_line: Option<u64>,
}

/// The outcome of a whole file as `jeton import` reports it (and prints with `--json`): the
/// counts of all its parts, and every refused line with its reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    pub applied: u64,
    pub unchanged: u64,
    pub rejected: Vec<ImportRejection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportRejection {
    pub line: u64,
    pub reason: String,
}

/// Where an import stands (R-USR-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Stored; no line applied yet.
    Queued,
    /// Lines are being applied (after a restart of the server, they will be again).
    Running,
    /// Every line has its outcome.
    Done,
    /// Stopped for good (see `error`): lines with an outcome were applied as it says, the others
    /// were not applied.
    Failed,
}

impl ImportStatus {
    /// Done or failed: nothing will change any more.
    pub fn is_over(self) -> bool {
        matches!(self, ImportStatus::Done | ImportStatus::Failed)
    }
}

/// What became of one line of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportLineOutcome {
    /// A new assignment, or a changed product selection.
    Applied,
    /// Already so: the line had been imported before.
    Unchanged,
    /// Not applied; `reason` says why.
    Refused,
}

impl ImportLineOutcome {
    /// The name on the wire (`?outcome=…`).
    pub fn as_str(self) -> &'static str {
        match self {
            ImportLineOutcome::Applied => "applied",
            ImportLineOutcome::Unchanged => "unchanged",
            ImportLineOutcome::Refused => "refused",
        }
    }
}

/// Why an import stopped: a stable code and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportFailure {
    #[schema(example = "team_closed")]
    pub code: String,
    pub detail: String,
}

/// An import (R-USR-5): the file is stored when it is sent, and a background worker applies its
/// lines in chunks. Progress is `done` of `total` lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportJob {
    pub id: i64,
    pub team_id: i64,
    pub status: ImportStatus,
    /// Lines of the file that get an outcome (blank lines and the header get none).
    pub total: u64,
    /// Lines that have their outcome so far: `applied + unchanged + refused`.
    pub done: u64,
    pub applied: u64,
    pub unchanged: u64,
    pub refused: u64,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why a failed import stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ImportFailure>,
}

/// One line's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportLine {
    /// The line number in the file.
    pub line: u64,
    pub outcome: ImportLineOutcome,
    /// Why a refused line was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An import and one page of its lines' outcomes (`GET …/flex/imports/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportDetail {
    #[serde(flatten)]
    pub job: ImportJob,
    /// Outcomes of the lines after `after`, in line order; lines still waiting have none yet.
    pub outcomes: Vec<ImportLine>,
    /// More outcomes follow: ask again with `after` set to this line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
}

/// Which outcomes of an import to show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportOutcomesQuery {
    /// Only lines after this line number (default 0: from the start).
    pub after: Option<u64>,
    /// Most outcomes in the page (0 to 10000, default 1000; 0 gives the counts alone).
    pub limit: Option<u32>,
    /// Only outcomes of this kind.
    #[param(inline)]
    pub outcome: Option<ImportLineOutcome>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportsQuery {
    /// Most imports listed, newest first (1 to 1000, default 20).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    /// Seven days passed; a resend makes a new one.
    Expired,
    Accepted,
    /// A newer invitation replaced it.
    Superseded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    pub id: i64,
    pub team_id: i64,
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub status: InvitationStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// False for invitations made by an import, which sends no email (R-USR-4).
    pub emailed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub secret: String,
    /// The new account's password (8 to 256 characters); for an existing account, its password.
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub user_id: i64,
    pub team_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    Flex,
    Subscription,
    Trial,
}

/// The downloads view (R-ACC-4): a product the user may open, how, and what to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MyProduct {
    pub key: String,
    pub name: String,
    pub access: AccessKind,
    /// The teams through which the user has Flex access to it.
    pub teams: Vec<i64>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// pending, sent or failed.
    pub status: Option<String>,
    /// Only messages to this address.
    pub to: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutboxMessage {
    pub id: i64,
    pub team_id: i64,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// invitation, access_granted, …
    pub kind: String,
    /// pending, sent or failed (gave up after many attempts).
    pub status: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// `POST /v1/outbox/failed/retry`: how many failed emails were queued again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Requeued {
    pub queued: u64,
}

/// `GET /v1/me`: who a user token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    /// The open teams where they are an active Flex user: the teams they may sign in on (a
    /// product client names one by id; this is where a user learns it).
    pub teams: Vec<MyTeam>,
}

/// A team of the user's, in `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MyTeam {
    pub id: i64,
    pub name: String,
}

// ---------------------------------------------------------------- sessions (R-SES, R-PRI)

/// An account made by the operator directly (no invitation), e.g. for service users or
/// simulations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserAccount {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A single-user subscription or a trial of one product, for one identity (R-PRI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntitlement {
    pub product: String,
    #[serde(deserialize_with = "bounds::de_time")]
    pub starts_at: DateTime<Utc>,
    #[serde(deserialize_with = "bounds::de_time")]
    pub ends_at: DateTime<Utc>,
}

/// `GET /v1/users?email=…`: an account looked up by its address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserSearch {
    /// The account's email address (compared without regard to case).
    #[param(example = "jane@example.com")]
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 7, "user_id": 42, "product": "autocad", "kind": "subscription",
    "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
    "created_at": "2025-12-15T09:30:00Z"}))]
pub struct Entitlement {
    pub id: i64,
    pub user_id: i64,
    pub product: String,
    /// subscription or trial.
    pub kind: AccessKind,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/sessions`: a product client signs its user in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub team: i64,
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2027.1")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "WS-0042")]
    pub machine: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionStarted {
    pub id: i64,
    pub access: AccessKind,
    /// Tokens charged by this sign-in (0 when a running period covers it).
    pub tokens_charged: u64,
    pub period_ends_at: DateTime<Utc>,
    /// Signed offline lease (R-SES-7); verify with `GET /v1/lease-key`.
    pub lease: String,
    /// Send a heartbeat at least this often.
    pub heartbeat_every_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Meaningful use since the last heartbeat (idle awareness, R-SES-5).
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatAnswer {
    /// Tokens charged by this heartbeat (a new period opened).
    pub tokens_charged: u64,
    pub access: AccessKind,
    pub period_ends_at: DateTime<Utc>,
    pub lease: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedOut {
    /// Refunded by the grace rule (R-SES-4): every session of the period ended within 5 minutes.
    pub tokens_refunded: u64,
}

/// R-SES-8: a result such as a cloud render; `id` is the client's own id for it (idempotency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResult {
    #[serde(rename = "type")]
    #[schema(example = "render.cloud")]
    pub result_type: String,
    /// 1 to 10,000.
    #[schema(minimum = 1, maximum = 10_000)]
    pub quantity: i64,
    #[schema(example = "job-5f2c")]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ResultCharged {
    pub tokens_charged: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaseKey {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The public key, base64url without padding (32 bytes).
    pub public_key: String,
}

/// A session as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub id: i64,
    pub team_id: i64,
    pub user_id: i64,
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// signed_out, lease_expired, insufficient_tokens or access_ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    /// Only sessions still open (default true).
    pub open: Option<bool>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------- reports (R-REP, R-NOT-1)

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// past_30_days (default), past_3_months, past_6_months, past_9_months, past_12_months or
    /// custom (with from and to).
    pub range: Option<String>,
    /// First day (YYYY-MM-DD), with range=custom (or alone: implies custom).
    #[serde(default, deserialize_with = "bounds::de_opt_day")]
    pub from: Option<chrono::NaiveDate>,
    /// Last day, included.
    #[serde(default, deserialize_with = "bounds::de_opt_day")]
    pub to: Option<chrono::NaiveDate>,
    /// summary (default), product, user or day.
    pub by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageRange {
    pub name: String,
    /// First day, included.
    pub from: chrono::NaiveDate,
    /// Last day, included.
    pub to: chrono::NaiveDate,
    pub days: i64,
}

/// Totals over the range. Usage with 0 tokens (grace, subscription, trial) counts as use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageSummary {
    /// Tokens charged less refunded.
    pub tokens: i64,
    pub products: i64,
    pub users: i64,
    /// Usage periods (usage days) begun in the range.
    pub periods: i64,
    pub results: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductUsage {
    pub product: String,
    pub name: String,
    pub tokens: i64,
    pub users: i64,
    /// Usage days (periods).
    pub days: i64,
    pub results: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WeekUsage {
    /// ISO week, such as 2026-W03.
    pub week: String,
    /// Days of that week with use.
    pub days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserUsage {
    /// Omitted when the team shows pseudonyms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The user's name, or their stable pseudonym.
    pub user: String,
    /// Omitted when the team shows pseudonyms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub tokens: i64,
    pub products: i64,
    pub days: i64,
    pub weeks: Vec<WeekUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DayUsage {
    pub date: chrono::NaiveDate,
    pub tokens: i64,
    pub periods: i64,
    pub results: i64,
}

/// R-REP-3. `summary` always; the rows asked for with `by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    pub team_id: i64,
    pub range: UsageRange,
    pub pseudonyms: bool,
    pub summary: UsageSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_product: Option<Vec<ProductUsage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_user: Option<Vec<UserUsage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_day: Option<Vec<DayUsage>>,
}

/// A team's report and alert settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamSettings {
    /// The balance is "low" (and admins are emailed once) below this percentage of the active
    /// total (default 20).
    pub low_balance_percent: u8,
    /// Reports and exports show users as stable pseudonyms instead of names and emails.
    pub pseudonyms: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamSettingsChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 99)]
    pub low_balance_percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonyms: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PackForecast {
    pub pack_id: i64,
    pub expires_at: DateTime<Utc>,
    pub remaining: u64,
    /// Used before it expires, at the burn rate.
    pub used: u64,
    /// Expiring unused, at the burn rate.
    pub expiring: u64,
}

/// At the team's burn rate over the last 30 days: when the balance reaches zero and how many
/// tokens expire unused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Forecast {
    pub team_id: i64,
    pub available: u64,
    /// Tokens per day (tokens used in the last 30 days / 30).
    pub daily_burn: f64,
    /// When the balance reaches zero, by use or by expiry; absent for an empty balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_zero_at: Option<DateTime<Utc>>,
    /// True when tokens run out by use, false when the last of them expire.
    pub runs_out_by_use: bool,
    pub expiring_unused: u64,
    pub packs: Vec<PackForecast>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanLine {
    pub product: String,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub users: i64,
    #[schema(minimum = 1, maximum = 31)]
    pub days_per_month: i64,
}

/// R-REP-5: a plan of use; with `team`, compared with that team's balance and expiry dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<i64>,
    pub plan: Vec<PlanLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EstimateLine {
    pub product: String,
    pub daily_rate: u64,
    pub users: i64,
    pub days_per_month: i64,
    pub tokens_per_month: u64,
    pub tokens_per_year: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EstimateAgainstTeam {
    pub team_id: i64,
    pub available: u64,
    /// Tokens of the balance that would expire before the plan uses them.
    pub expiring_before_use: u64,
    /// Tokens to buy to cover a year of the plan (0 when the balance covers it).
    pub shortfall: u64,
    /// When the balance would reach zero under the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_zero_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Estimate {
    pub lines: Vec<EstimateLine>,
    pub tokens_per_month: u64,
    pub tokens_per_year: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<EstimateAgainstTeam>,
}
