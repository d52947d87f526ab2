//! Extractors whose rejections are problem+json with a stable code, instead of axum's plain text:
//! bad input is answered in the same shape as every other error.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Malformed};

/// Largest request body: every JSON request of this API is far smaller. (CSV imports take
/// more: `routes::flex`.)
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

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
                Malformed::Body,
                "the body must be a JSON object, such as {\"tokens\": 100}",
            ));
        }
        if let Some((field, c)) = control_in_json(&value, "") {
            return Err(ApiError::bad_request(
                Malformed::Body,
                control_detail(&field, c),
            ));
        }
        serde_json::from_value(value).map(ApiJson).map_err(|e| {
            ApiError::bad_request(
                Malformed::Body,
                format!("the JSON body does not fit this request: {e}"),
            )
        })
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// A URL-encoded form (the pages' plain HTML forms). A browser sends every field of the form,
/// so a rejection means another client: it gets a 400 problem+json `invalid_form`, like every bad
/// request, instead of axum's plain-text 422. Values are checked for control characters.
pub struct ApiForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let invalid = |detail: String| ApiError::bad_request(Malformed::Form, detail);
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(ApiError::UnsupportedMediaType(
                "send the form as Content-Type: application/x-www-form-urlencoded".into(),
            ));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    invalid(format!("the form cannot be read: {}", r.body_text()))
                }
            })?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| invalid(format!("the form cannot be read: {e}")))?;
        for (name, value) in &pairs {
            if let Some(c) = control(name).or_else(|| control(value)) {
                return Err(invalid(control_detail(name, c)));
            }
        }
        serde_urlencoded::from_bytes(&body)
            .map(ApiForm)
            .map_err(|e| invalid(format!("the form does not fit this page: {e}")))
    }
}

/// Query string. Besides the shape, every value is checked for control characters (see
/// [`control`]), so that a NUL never reaches a database (PostgreSQL refuses it in text with a
/// server error, SQLite stores it) and the two backends answer alike.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)?;
        for (name, value) in &pairs {
            if let Some(c) = control(name).or_else(|| control(value)) {
                return Err(ApiError::bad_request(
                    Malformed::Query,
                    control_detail(name, c),
                ));
            }
        }
        let Query(query) = Query::<T>::try_from_uri(&parts.uri)?;
        Ok(ApiQuery(query))
    }
}

/// The first control character in `s`, other than tab, line feed and carriage return (which
/// multi-line text such as a list of invitees may hold). No name, address, key or search of
/// this API has a use for the others, and NUL in particular is stored differently, or refused
/// with a server error, by the two backends.
pub fn control(s: &str) -> Option<char> {
    s.chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn control_detail(field: &str, c: char) -> String {
    format!(
        "{} must not contain control characters; found U+{:04X}",
        if field.is_empty() { "the text" } else { field },
        c as u32
    )
}

/// The first string in a JSON value (keys included) with a control character: the field's path
/// and the character.
fn control_in_json(value: &serde_json::Value, at: &str) -> Option<(String, char)> {
    use serde_json::Value;
    match value {
        Value::String(s) => control(s).map(|c| (at.to_owned(), c)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| control_in_json(v, &format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            match control(k) {
                Some(c) => Some((path, c)),
                None => control_in_json(v, &path),
            }
        }),
        _ => None,
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                Malformed::Json,
                format!("the body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => ApiError::bad_request(
                Malformed::Body,
                format!("the JSON body does not fit this request: {}", e.body_text()),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "send the body as JSON with the header Content-Type: application/json".into(),
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            other => ApiError::bad_request(Malformed::Body, other.body_text()),
        }
    }
}

/// 413 `body_too_large` with the general limit, wherever a body is found too large.
pub(crate) fn too_large() -> ApiError {
    ApiError::BodyTooLarge(format!(
        "the request body is larger than {} KiB, the most this endpoint takes",
        MAX_BODY_BYTES / 1024
    ))
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(
            Malformed::Path,
            format!("{} (team ids are whole numbers)", r.body_text()),
        )
    }
}

/// The parameter's name and what was wrong with it; a date or time parameter's message says the
/// form it takes (`jeton_api::bounds`), so nothing is added here: a date-only parameter is not a
/// time.
impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad_request(Malformed::Query, r.body_text())
    }
}
