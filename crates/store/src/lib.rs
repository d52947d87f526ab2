//! Jeton's storage. One [`Store`] over two real backends: SQLite (embedded, the default) and
//! PostgreSQL (any number of `jeton serve` processes on one database).
//!
//! The SQL is shared: both dialects accept `$1` parameters, `RETURNING`, partial indexes and
//! `CHECK`s, and times are BIGINT microseconds on both. The few differences (identity columns,
//! the append-only trigger, SQLite's pragmas) live in the two migration folders and in
//! [`backend`]. Every change that touches a balance is one transaction that first locks its
//! team's row (see `ledger::lock_team`); moves and merges lock their two teams in id order.

pub mod admins;
pub mod alerts;
mod backend;
mod beats;
pub mod catalogue;
pub mod charges;
mod conn;
pub mod console;
pub mod entitlements;
mod error;
pub mod events;
pub mod expiry;
pub mod flex;
pub mod gauges;
mod idempotency;
pub mod imports;
pub mod invitations;
mod ledger;
pub mod outbox;
mod pack_rows;
pub mod packs;
mod postgres_readers;
pub mod reports;
#[cfg(feature = "testing")]
pub mod schema;
mod session_batch;
mod session_state;
pub mod sessions;
pub mod sign_in;
mod sqlite_readers;
mod sqlite_statement;
mod sqlite_writer;
mod step_writes;
mod team_rows;
pub mod teams;
#[cfg(feature = "testing")]
pub mod testing;
mod time;
mod together;
pub mod transfers;
mod usage;
pub mod users;

pub use backend::{Backend, ConnectOptions, Store, redact as redact_url};
pub use error::{StoreError, StoreResult};
// Re-exported so that users of the store name the same sqlx version.
pub use sqlx;
