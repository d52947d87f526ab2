//! Jeton's domain, free of I/O: every rule of `SPEC.md` that decides something lives here once,
//! and the store and server only apply what these functions return.

pub mod access;
pub mod assignment;
pub mod clock;
pub mod code;
pub mod console;
pub mod email;
pub mod error;
pub mod forecast;
pub mod idempotency;
pub mod ids;
pub mod import;
pub mod invitation;
pub mod invitee;
pub mod lease;
pub mod ledger;
pub mod limits;
pub mod mail;
pub mod pack;
pub mod password;
pub mod person;
pub mod product;
pub mod pseudonym;
pub mod refusal;
pub mod report;
pub mod rng;
pub mod session;
pub mod sign_in;
pub mod team;
pub mod tokens;

pub use access::ProductAccess;
pub use clock::{Clock, ManualClock, SystemClock};
pub use email::Email;
pub use error::{DomainError, ErrorCode};
pub use idempotency::IdempotencyKey;
pub use ids::{
    AdminId, EntitlementId, EventId, ImportId, InvitationId, MessageId, MoveId, PackId, PeriodId,
    ProductId, ResultId, SessionId, TeamId, UserId,
};
pub use invitee::Invitee;
pub use ledger::{Actor, Cause, EventKind};
pub use pack::{Draw, PackState};
pub use password::Password;
pub use person::PersonName;
pub use product::{DownloadItem, ProductDraft, ProductKey, ProductName, ResultType};
pub use team::TeamName;
pub use tokens::Tokens;
