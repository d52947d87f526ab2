//! The one place where failures become HTTP answers: every error is an [`ApiError`] with a
//! stable [`ErrorCode`], and [`status`] is the table from code to HTTP status — one status per
//! code, whichever error carries it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jeton_api::{PROBLEM_CONTENT_TYPE, Problem};
use jeton_core::{DomainError, ErrorCode};
use jeton_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No key, or a key that is not valid.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A team admin's key that the operator revoked (R-AUTH-1): refused like any invalid key,
    /// with its own code so that the holder knows to ask for a new one rather than retype it.
    #[error("{0}")]
    KeyRevoked(String),
    /// A wrong email or password: signing in, or accepting an invitation for an existing account.
    #[error("{0}")]
    InvalidCredentials(String),
    /// A valid key that may not do this (an admin calling an operator-only endpoint).
    #[error("{0}")]
    Forbidden(String),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// No route has this path.
    #[error("no such endpoint; the API is described at GET /v1/openapi.json")]
    NoSuchEndpoint,
    /// A route has this path, but not this method.
    #[error("this endpoint does not take that method; see GET /v1/openapi.json")]
    MethodNotAllowed,
    /// The request itself is malformed: body, path or query.
    #[error("{detail}")]
    BadRequest {
        malformed: Malformed,
        detail: String,
    },
    /// A body of a type this endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A body over the endpoint's limit; the detail names the limit.
    #[error("{0}")]
    BodyTooLarge(String),
    /// Too many sign-in attempts for an address: try again after `retry_after` seconds (a
    /// `Retry-After` header).
    #[error("{detail}")]
    TooManySignInAttempts { detail: String, retry_after: u64 },
    /// The server is at a bound it keeps to protect itself (password hashing slots): 503, try
    /// again after `retry_after` seconds.
    #[error("{detail}")]
    Busy { detail: String, retry_after: u64 },
    /// The system gave no randomness for a key or secret.
    #[error("{0}")]
    NoRandomness(String),
    /// The database does not answer (the health check).
    #[error("{0}")]
    DatabaseUnavailable(String),
    /// A fault of the server itself; the caller gets an opaque answer, the log the detail.
    #[error("{0}")]
    Internal(String),
}

/// Which part of a request does not parse, for [`ApiError::BadRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The body is not JSON at all.
    Json,
    /// The body (JSON, a file) does not fit the request.
    Body,
    Path,
    Query,
    Form,
    /// The test clock's `seconds`.
    Seconds,
}

/// What the caller of a request that failed inside the server is told; the log has the cause.
pub const INTERNAL_DETAIL: &str = "the server could not complete the request; it has been logged";

/// The table: the one HTTP status of every code. Exhaustive, so a new code needs its row here.
pub fn status(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        // A value or a request that does not parse.
        C::InvalidTokens
        | C::InvalidRate
        | C::InvalidProductKey
        | C::InvalidName
        | C::InvalidItem
        | C::InvalidEmail
        | C::InvalidRange
        | C::InvalidIdempotencyKey
        | C::InvalidInvitee
        | C::InvalidPassword
        | C::InvalidImport
        | C::InvalidSelection
        | C::InvalidJson
        | C::InvalidBody
        | C::InvalidPath
        | C::InvalidQuery
        | C::InvalidForm
        | C::InvalidSeconds => StatusCode::BAD_REQUEST,
        C::Unauthorized | C::KeyRevoked | C::InvalidCredentials => StatusCode::UNAUTHORIZED,
        C::Forbidden => StatusCode::FORBIDDEN,
        C::NotFound => StatusCode::NOT_FOUND,
        C::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        // The request collides with stored state.
        C::InvitationAccepted
        | C::AlreadyAssigned
        | C::AlreadyInvited
        | C::DuplicateAdmin
        | C::DuplicateProduct
        | C::DuplicateUser
        | C::TooManyImports
        | C::MessageNotFailed => StatusCode::CONFLICT,
        // Gone: the link or session worked once and never will again (R-USR-3, R-SES-6).
        C::InvitationExpired
        | C::InvitationSuperseded
        | C::SessionEnded
        | C::PasswordLinkUsed
        | C::PasswordLinkExpired => StatusCode::GONE,
        C::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        // A rule refused: R-SES-1's sign-in refusals with their reason codes, and the same codes
        // wherever else they refuse (a closed team refuses purchases, moves and people changes
        // as it refuses a sign-in).
        C::NotAssigned
        | C::InvitationPending
        | C::ProductNotAllowed
        | C::UnknownProduct
        | C::UnknownResultType
        | C::InsufficientTokens
        | C::TeamClosed
        | C::SameTeam
        | C::TooManyPacks
        | C::TooManyTeams
        // Same key, different request: the request cannot be processed as sent.
        | C::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        C::TooManySignInAttempts => StatusCode::TOO_MANY_REQUESTS,
        C::Busy | C::NoRandomness | C::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::LedgerCorrupt | C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn not_found(what: &'static str, id: impl ToString) -> ApiError {
        ApiError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    pub fn bad_request(malformed: Malformed, detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            malformed,
            detail: detail.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Domain(e) | ApiError::Store(StoreError::Domain(e)) => e.code(),
            ApiError::Store(StoreError::NotFound { .. })
            | ApiError::NotFound { .. }
            | ApiError::NoSuchEndpoint => ErrorCode::NotFound,
            ApiError::Store(StoreError::Database(_) | StoreError::Migration(_))
            | ApiError::Internal(_) => ErrorCode::Internal,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::KeyRevoked(_) => ErrorCode::KeyRevoked,
            ApiError::InvalidCredentials(_) => ErrorCode::InvalidCredentials,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::BadRequest { malformed, .. } => match malformed {
                Malformed::Json => ErrorCode::InvalidJson,
                Malformed::Body => ErrorCode::InvalidBody,
                Malformed::Path => ErrorCode::InvalidPath,
                Malformed::Query => ErrorCode::InvalidQuery,
                Malformed::Form => ErrorCode::InvalidForm,
                Malformed::Seconds => ErrorCode::InvalidSeconds,
            },
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::BodyTooLarge(_) => ErrorCode::BodyTooLarge,
            ApiError::TooManySignInAttempts { .. } => ErrorCode::TooManySignInAttempts,
            ApiError::Busy { .. } => ErrorCode::Busy,
            ApiError::NoRandomness(_) => ErrorCode::NoRandomness,
            ApiError::DatabaseUnavailable(_) => ErrorCode::DatabaseUnavailable,
        }
    }

    /// Status, stable code and the detail shown to the caller.
    pub(crate) fn parts(&self) -> (StatusCode, ErrorCode, String) {
        let code = self.code();
        let detail = match self {
            // A database's or the server's own fault: internals stay in the log.
            ApiError::Store(StoreError::Database(_) | StoreError::Migration(_))
            | ApiError::Internal(_) => INTERNAL_DETAIL.into(),
            _ => self.to_string(),
        };
        (status(code), code, detail)
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

/// The problem+json answer for `code`, with the code's one status.
pub fn problem(code: ErrorCode, detail: String) -> Response {
    let status = status(code);
    let body = Problem {
        // A URN: an identifier that needs no web page, and no domain of ours to keep.
        type_: format!("urn:jeton:problem:{code}"),
        title: title(status),
        status: status.as_u16(),
        detail,
        code: code.as_str().to_owned(),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail) = self.parts();
        // A busy answer is the server protecting itself, not a fault: no error line per refusal.
        if status.is_server_error() && !matches!(self, ApiError::Busy { .. }) {
            // The caller gets an opaque message; the log gets the whole cause chain.
            tracing::error!(error = ?self, code = code.as_str(), "request failed");
        }
        let mut response = problem(code, detail);
        if let ApiError::TooManySignInAttempts { retry_after, .. }
        | ApiError::Busy { retry_after, .. } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A fault of the server's own making (no randomness for a key, say): logged, answered 500.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jeton_core::Tokens;

    #[test]
    fn rule_refusals_are_422_and_bad_values_400() {
        let e = ApiError::from(DomainError::InsufficientTokens {
            needed: 7,
            available: 6,
        });
        assert_eq!(e.parts().0, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.parts().1, ErrorCode::InsufficientTokens);
        let e = ApiError::from(Tokens::parse_amount(0).unwrap_err());
        assert_eq!(e.parts().0, StatusCode::BAD_REQUEST);
        let e = ApiError::from(StoreError::Database(sqlx_error()));
        let (status, code, detail) = e.parts();
        assert_eq!(
            (status, code),
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
        );
        assert!(!detail.contains("pool"), "internals stay in the log");
    }

    fn sqlx_error() -> jeton_store::sqlx::Error {
        jeton_store::sqlx::Error::PoolTimedOut
    }

    /// One sample of every error the server answers with, for the code → status check. The
    /// matches below do not compile when a variant of `DomainError`, `StoreError`, `ApiError` or
    /// `Malformed` is added without a sample here.
    fn every_error() -> Vec<ApiError> {
        use jeton_core::session::Refusal;
        let d = String::new;
        let team = jeton_core::TeamId(1);
        let mut domain = vec![
            DomainError::InvalidTokens { detail: d() },
            DomainError::InvalidRate { detail: d() },
            DomainError::InvalidProductKey { detail: d() },
            DomainError::InvalidName { detail: d() },
            DomainError::InvalidItem { detail: d() },
            DomainError::InvalidEmail { detail: d() },
            DomainError::InvalidRange { detail: d() },
            DomainError::InvalidIdempotencyKey { detail: d() },
            DomainError::InvalidInvitee { detail: d() },
            DomainError::InvalidPassword { detail: d() },
            DomainError::InvalidImport { detail: d() },
            DomainError::InvalidSelection { detail: d() },
            DomainError::InvitationExpired,
            DomainError::InvitationSuperseded,
            DomainError::InvitationAccepted { resend: false },
            DomainError::InvitationAccepted { resend: true },
            DomainError::UnknownProduct { key: d() },
            DomainError::UnknownResultType {
                product: d(),
                result_type: d(),
            },
            DomainError::InsufficientTokens {
                needed: 2,
                available: 1,
            },
            DomainError::TeamClosed { team },
            DomainError::SameTeam,
            DomainError::TooManyPacks { limit: 1 },
            DomainError::TooManyTeams { limit: 1 },
            DomainError::AlreadyAssigned { email: d() },
            DomainError::AlreadyInvited { email: d() },
            DomainError::PasswordLinkUsed,
            DomainError::PasswordLinkExpired,
            DomainError::IdempotencyKeyReused { detail: d() },
            DomainError::SessionEnded { reason: d() },
            DomainError::SessionStopped,
            DomainError::DuplicateAdmin { email: d() },
            DomainError::DuplicateProduct { key: d() },
            DomainError::DuplicateUser { email: d() },
            DomainError::TooManyImports { team, open: 1 },
            DomainError::MessageNotFailed {
                message: jeton_core::MessageId(1),
                status: d(),
            },
            DomainError::Corrupt { detail: d() },
        ];
        // Every sign-in refusal (R-SES-1), exhaustively.
        for reason in [
            Refusal::NotAssigned,
            Refusal::InvitationPending,
            Refusal::ProductNotAllowed,
            Refusal::UnknownProduct,
            Refusal::TeamClosed,
        ] {
            match reason {
                Refusal::NotAssigned
                | Refusal::InvitationPending
                | Refusal::ProductNotAllowed
                | Refusal::UnknownProduct
                | Refusal::TeamClosed => domain.push(DomainError::Refused { reason }),
            }
        }
        for e in &domain {
            // Exhaustive on purpose: a new variant needs a sample above.
            match e {
                DomainError::InvalidTokens { .. }
                | DomainError::InvalidRate { .. }
                | DomainError::InvalidProductKey { .. }
                | DomainError::InvalidName { .. }
                | DomainError::InvalidItem { .. }
                | DomainError::InvalidEmail { .. }
                | DomainError::InvalidRange { .. }
                | DomainError::InvalidIdempotencyKey { .. }
                | DomainError::InvalidInvitee { .. }
                | DomainError::InvalidPassword { .. }
                | DomainError::InvalidImport { .. }
                | DomainError::InvalidSelection { .. }
                | DomainError::InvitationExpired
                | DomainError::InvitationSuperseded
                | DomainError::InvitationAccepted { .. }
                | DomainError::UnknownProduct { .. }
                | DomainError::UnknownResultType { .. }
                | DomainError::Refused { .. }
                | DomainError::InsufficientTokens { .. }
                | DomainError::TeamClosed { .. }
                | DomainError::SameTeam
                | DomainError::TooManyPacks { .. }
                | DomainError::TooManyTeams { .. }
                | DomainError::AlreadyAssigned { .. }
                | DomainError::AlreadyInvited { .. }
                | DomainError::PasswordLinkUsed
                | DomainError::PasswordLinkExpired
                | DomainError::IdempotencyKeyReused { .. }
                | DomainError::SessionEnded { .. }
                | DomainError::SessionStopped
                | DomainError::DuplicateAdmin { .. }
                | DomainError::DuplicateProduct { .. }
                | DomainError::DuplicateUser { .. }
                | DomainError::TooManyImports { .. }
                | DomainError::MessageNotFailed { .. }
                | DomainError::Corrupt { .. } => {}
            }
        }
        let mut all: Vec<ApiError> = domain.iter().cloned().map(ApiError::from).collect();
        // The same refusals as the store answers them.
        all.extend(domain.into_iter().map(|e| ApiError::Store(e.into())));
        let store = vec![
            StoreError::NotFound {
                what: "team",
                id: d(),
            },
            StoreError::Database(sqlx_error()),
            StoreError::Migration(jeton_store::sqlx::migrate::MigrateError::VersionMissing(1)),
        ];
        for e in &store {
            match e {
                StoreError::NotFound { .. }
                | StoreError::Domain(_)
                | StoreError::Database(_)
                | StoreError::Migration(_) => {}
            }
        }
        all.extend(store.into_iter().map(ApiError::Store));
        for malformed in [
            Malformed::Json,
            Malformed::Body,
            Malformed::Path,
            Malformed::Query,
            Malformed::Form,
            Malformed::Seconds,
        ] {
            match malformed {
                Malformed::Json
                | Malformed::Body
                | Malformed::Path
                | Malformed::Query
                | Malformed::Form
                | Malformed::Seconds => all.push(ApiError::bad_request(malformed, d())),
            }
        }
        let server = vec![
            ApiError::Unauthorized(""),
            ApiError::KeyRevoked(d()),
            ApiError::InvalidCredentials(d()),
            ApiError::Forbidden(d()),
            ApiError::not_found("team", 1),
            ApiError::NoSuchEndpoint,
            ApiError::MethodNotAllowed,
            ApiError::UnsupportedMediaType(d()),
            ApiError::BodyTooLarge(d()),
            ApiError::TooManySignInAttempts {
                detail: d(),
                retry_after: 1,
            },
            ApiError::Busy {
                detail: d(),
                retry_after: 1,
            },
            ApiError::NoRandomness(d()),
            ApiError::DatabaseUnavailable(d()),
            ApiError::Internal(d()),
        ];
        for e in &server {
            match e {
                ApiError::Domain(_)
                | ApiError::Store(_)
                | ApiError::Unauthorized(_)
                | ApiError::KeyRevoked(_)
                | ApiError::InvalidCredentials(_)
                | ApiError::Forbidden(_)
                | ApiError::NotFound { .. }
                | ApiError::NoSuchEndpoint
                | ApiError::MethodNotAllowed
                | ApiError::BadRequest { .. }
                | ApiError::UnsupportedMediaType(_)
                | ApiError::BodyTooLarge(_)
                | ApiError::TooManySignInAttempts { .. }
                | ApiError::Busy { .. }
                | ApiError::NoRandomness(_)
                | ApiError::DatabaseUnavailable(_)
                | ApiError::Internal(_) => {}
            }
        }
        all.extend(server);
        all
    }

    #[test]
    fn every_error_code_answers_with_exactly_one_status() {
        let mut seen: std::collections::BTreeMap<&str, std::collections::BTreeSet<u16>> =
            Default::default();
        for e in every_error() {
            let (status, code, _) = e.parts();
            assert_eq!(status, super::status(e.code()), "{e:?}");
            let answer = e.into_response();
            assert_eq!(answer.status(), status, "{code}");
            seen.entry(code.as_str())
                .or_default()
                .insert(status.as_u16());
        }
        let two: Vec<_> = seen.iter().filter(|(_, s)| s.len() > 1).collect();
        assert_eq!(two, Vec::<(&&str, &std::collections::BTreeSet<u16>)>::new());
        // Every code is answered by some error: the table has no row nothing uses.
        let unused: Vec<_> = ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .filter(|c| !seen.contains_key(c))
            .collect();
        assert_eq!(unused, Vec::<&str>::new());
        assert_eq!(seen.len(), ErrorCode::ALL.len());
        // The statuses clients rely on (docs/api.md).
        for (code, status) in [
            // R-SES-1 refusals, at sign-in and everywhere else.
            ("team_closed", 422),
            ("not_assigned", 422),
            ("unknown_product", 422),
            ("insufficient_tokens", 422),
            ("idempotency_key_reused", 422),
            ("invitation_superseded", 410),
            ("invitation_expired", 410),
            ("session_ended", 410),
            ("invitation_accepted", 409),
            ("message_not_failed", 409),
            ("too_many_imports", 409),
            ("duplicate_admin", 409),
            ("duplicate_product", 409),
            ("duplicate_user", 409),
            ("invalid_credentials", 401),
            ("unsupported_media_type", 415),
            ("body_too_large", 413),
            ("too_many_sign_in_attempts", 429),
            ("no_randomness", 503),
            ("database_unavailable", 503),
            ("ledger_corrupt", 500),
        ] {
            assert_eq!(seen[code], [status].into(), "{code}");
        }
    }

    #[test]
    fn retry_after_goes_with_the_answers_that_may_be_retried() {
        for e in [
            ApiError::TooManySignInAttempts {
                detail: String::new(),
                retry_after: 900,
            },
            ApiError::Busy {
                detail: String::new(),
                retry_after: 1,
            },
        ] {
            let answer = e.into_response();
            assert!(answer.headers().contains_key(header::RETRY_AFTER));
        }
        let answer = ApiError::Forbidden(String::new()).into_response();
        assert!(!answer.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn an_admin_resending_an_accepted_invitation_is_told_there_is_nothing_to_resend() {
        let e = ApiError::from(DomainError::InvitationAccepted { resend: true });
        let (status, code, detail) = e.parts();
        assert_eq!(
            (status, code),
            (StatusCode::CONFLICT, ErrorCode::InvitationAccepted)
        );
        assert!(detail.contains("already accepted"), "{detail}");
        assert!(detail.contains("nothing to resend"), "{detail}");
    }
}
