//! The limits of `/graphql` that HTTP itself carries: the body's size, checked before it is read, and
//! the key's budget in the answer's headers. The GraphQL handler ([`crate::app`]) calls these in order:
//! the key is checked before the body is touched, a `Content-Length` above `--max-body-bytes` is refused
//! (HTTP 413, `PAYLOAD_TOO_LARGE`) without reading anything, and a body without an honest length is
//! read only up to the limit.
//!
//! On the way out, an answer to a rate-limited key gets `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset` (epoch seconds at which the bucket is full again), and a throttled request
//! HTTP 429 with `Retry-After`.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::limits::code;
use crate::ratelimit::Meter;

/// The answer to a body over `limit` bytes: HTTP 413, `PAYLOAD_TOO_LARGE`, with the limit.
pub fn too_large(content_type: HeaderValue, limit: usize) -> Response {
    let message = format!("the request body is larger than {limit} bytes (--max-body-bytes)");
    crate::ops::metrics::refused(code::PAYLOAD_TOO_LARGE);
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code::PAYLOAD_TOO_LARGE, "limit": limit } }] });
    (StatusCode::PAYLOAD_TOO_LARGE, [(header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
}

/// Whether the request says (`Content-Length`) that its body is larger than `limit`.
pub fn declared_too_large(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .is_some_and(|length| length > limit as u64)
}

/// Why a body could not be had.
pub enum BodyError {
    /// It passed the limit (whatever its `Content-Length` said); reading stopped there.
    TooLarge,
    /// The client's stream failed.
    Unreadable(String),
}

/// Reads a body up to `limit` bytes, and not one chunk further.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let over =
            std::error::Error::source(&error).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over { BodyError::TooLarge } else { BodyError::Unreadable(error.to_string()) }
    })
}

/// Adds the budget headers, and the status the GraphQL layer asked for (429 with `Retry-After`; 405
/// for a persisted mutation over GET).
pub fn decorate(response: &mut Response, meter: &Meter) {
    let (status, retry_after) = meter.answer();
    if let Some(status) = status.and_then(|status| StatusCode::from_u16(status).ok()) {
        *response.status_mut() = status;
    }
    let headers = response.headers_mut();
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if status == Some(405) {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    headers.insert("x-ratelimit-limit", HeaderValue::from(meter.limit()));
    if let Some(throttle) = meter.throttle_status() {
        headers.insert("x-ratelimit-remaining", HeaderValue::from(throttle.currently_available));
        headers.insert("x-ratelimit-reset", HeaderValue::from(throttle.reset_at.timestamp()));
    }
}
