//! The one place where failures become HTTP answers: every error is an [`ApiError`], and
//! [`ApiError::parts`] is the table from error to status and stable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jeton_api::{PROBLEM_CONTENT_TYPE, Problem};
use jeton_core::DomainError;
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
    /// A valid key that may not do this (an admin calling an operator-only endpoint).
    #[error("{0}")]
    Forbidden(String),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The request itself is malformed: body, path or query.
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// A fault of the server itself; the caller gets an opaque answer, the log the detail.
    #[error("{0}")]
    Internal(String),
    #[error("{detail}")]
    Status {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    /// Refused for now; may be tried again after `retry_after` seconds (a `Retry-After` header).
    #[error("{detail}")]
    TooManyRequests {
        code: &'static str,
        detail: String,
        retry_after: u64,
    },
    /// The server is at a bound it keeps to protect itself (password hashing slots): 503, try
    /// again after `retry_after` seconds.
    #[error("{detail}")]
    Busy { detail: String, retry_after: u64 },
}

/// What the caller of a request that failed inside the server is told; the log has the cause.
pub const INTERNAL_DETAIL: &str = "the server could not complete the request; it has been logged";

impl ApiError {
    pub fn not_found(what: &'static str, id: impl ToString) -> ApiError {
        ApiError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    /// Status, stable code and the detail shown to the caller.
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Domain(e) => (domain_status(e), e.code(), self.to_string()),
            ApiError::Store(StoreError::Domain(e)) => (domain_status(e), e.code(), e.to_string()),
            ApiError::Store(StoreError::NotFound { .. }) | ApiError::NotFound { .. } => {
                (StatusCode::NOT_FOUND, "not_found", self.to_string())
            }
            ApiError::Store(StoreError::Conflict { code, detail }) => {
                let status = match *code {
                    // Same key, different request: the request cannot be processed as sent.
                    "idempotency_key_reused" => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::CONFLICT,
                };
                (status, code, detail.clone())
            }
            ApiError::Store(StoreError::Gone { code, detail }) => {
                let status = match *code {
                    // R-SES-3: a session stopped for lack of tokens answers like the refusal.
                    "insufficient_tokens" => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::GONE,
                };
                (status, code, detail.clone())
            }
            ApiError::Store(StoreError::Database(_) | StoreError::Migration(_))
            | ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                INTERNAL_DETAIL.into(),
            ),
            ApiError::Unauthorized(detail) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", (*detail).into())
            }
            ApiError::KeyRevoked(detail) => {
                (StatusCode::UNAUTHORIZED, "key_revoked", detail.clone())
            }
            ApiError::Forbidden(detail) => (StatusCode::FORBIDDEN, "forbidden", detail.clone()),
            ApiError::BadRequest { code, detail } => {
                (StatusCode::BAD_REQUEST, code, detail.clone())
            }
            ApiError::Status {
                status,
                code,
                detail,
            } => (*status, code, detail.clone()),
            ApiError::TooManyRequests { code, detail, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, code, detail.clone())
            }
            ApiError::Busy { detail, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "busy", detail.clone())
            }
        }
    }
}

fn domain_status(e: &DomainError) -> StatusCode {
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
        | DomainError::InvalidSelection { .. } => StatusCode::BAD_REQUEST,
        DomainError::TeamClosed { .. }
        | DomainError::InvitationAccepted
        | DomainError::AlreadyAssigned { .. }
        | DomainError::AlreadyInvited { .. } => StatusCode::CONFLICT,
        // Gone: the link worked once and never will again (R-USR-3).
        DomainError::InvitationExpired | DomainError::InvitationSuperseded => StatusCode::GONE,
        DomainError::UnknownProduct { .. }
        | DomainError::UnknownResultType { .. }
        // R-SES-1: a sign-in refused by a rule, with its reason code.
        | DomainError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::InsufficientTokens { .. }
        | DomainError::SameTeam
        | DomainError::TooManyPacks { .. }
        | DomainError::TooManyTeams { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

pub fn problem(status: StatusCode, code: &str, detail: String) -> Response {
    let body = Problem {
        // A URN: an identifier that needs no web page, and no domain of ours to keep.
        type_: format!("urn:jeton:problem:{code}"),
        title: title(status),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
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
            tracing::error!(error = ?self, code, "request failed");
        }
        let mut response = problem(status, code, detail);
        if let ApiError::TooManyRequests { retry_after, .. } | ApiError::Busy { retry_after, .. } =
            self
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
        assert_eq!(e.parts().1, "insufficient_tokens");
        let e = ApiError::from(Tokens::parse_amount(0).unwrap_err());
        assert_eq!(e.parts().0, StatusCode::BAD_REQUEST);
        let e = ApiError::from(StoreError::Database(sqlx_error()));
        let (status, code, detail) = e.parts();
        assert_eq!(
            (status, code),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        assert!(!detail.contains("pool"), "internals stay in the log");
    }

    fn sqlx_error() -> jeton_store::sqlx::Error {
        jeton_store::sqlx::Error::PoolTimedOut
    }
}
