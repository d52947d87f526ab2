//! Extractors whose rejections are problem+json with a stable code, instead of axum's plain text:
//! bad input is answered in the same shape as every other error.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body. Malformed JSON → 400 `invalid_json`; well-formed but wrong shape (not an object, a
/// missing field, a string where a number belongs, an unknown field) → 400 `invalid_body`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        // serde would also fill a struct from an array of its fields in order; a request body is
        // an object with named fields, nothing else.
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the body must be a JSON object, such as {\"tokens\": 100}",
            ));
        }
        serde_json::from_value(value).map(ApiJson).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("the JSON body does not fit this request: {e}"),
            )
        })
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => ApiError::bad_request(
                "invalid_body",
                format!("the JSON body does not fit this request: {}", e.body_text()),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::Status {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                detail: "send the body as JSON with the header Content-Type: application/json"
                    .into(),
            },
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::Status {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "body_too_large",
                detail: format!(
                    "the request body is larger than {} KiB, the most this endpoint takes",
                    crate::serve::MAX_BODY_BYTES / 1024
                ),
            },
            other => ApiError::bad_request("invalid_body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(
            "invalid_path",
            format!("{} (team ids are whole numbers)", r.body_text()),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "{} (times are RFC 3339, such as 2026-01-05T08:00:00Z)",
                r.body_text()
            ),
        )
    }
}
