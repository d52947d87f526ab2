use jeton_core::DomainError;

/// What the store can answer besides success. `NotFound` and the refusals (`Domain`, each with
/// its stable code) are kept apart from database failures so that the server maps each code to
/// its one status in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// A rule refused the change, or the request collides with stored state (a duplicate key, a
    /// reused idempotency key, an ended session); nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> StoreError {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// A broken invariant found while applying a change: the transaction is dropped (rolled back)
    /// and the cause is reported as a server fault, never as the caller's.
    pub(crate) fn corrupt(detail: impl Into<String>) -> StoreError {
        StoreError::Domain(DomainError::Corrupt {
            detail: detail.into(),
        })
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Maps a unique-constraint violation (a duplicate key) to the refusal `duplicate` makes; any
/// other error passes through. Works on both backends: the Any driver passes the driver's own
/// error on.
pub(crate) fn refuse_duplicate(
    duplicate: impl FnOnce() -> DomainError,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Domain(duplicate()),
        _ => StoreError::Database(e),
    }
}
