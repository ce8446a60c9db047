//! The id a request is known by: the `X-Request-Id` the client (or a proxy in front) sent, when it is
//! short and made of safe characters, or a new UUID v7 otherwise. The id is echoed in the answer's
//! `X-Request-Id` header and in every error's `extensions.requestId`, and every log line of the request
//! carries it, so that an error a client reports can be found in the logs.
//!
//! An id that is too long or holds other characters is replaced rather than cleaned: it would otherwise
//! carry whatever a client wants into log files and log viewers (control characters, markup, volume).

use axum::http::{HeaderMap, HeaderName};

/// The header of the request id, in requests and answers.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id taken from a request.
pub const MAX_LENGTH: usize = 64;

/// Whether `id` may be used as it is: 1 to 64 ASCII letters, digits, `-`, `_`, `.`, `:` (UUIDs, ULIDs,
/// hex trace ids and the ids of common proxies all qualify).
pub fn is_valid(id: &str) -> bool {
    (1..=MAX_LENGTH).contains(&id.len())
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

/// The id of a request with `headers`: the one it carries when valid (the first, if it carries several),
/// a new one otherwise.
pub fn of(headers: &HeaderMap) -> String {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_valid(id))
        .map(str::to_owned)
        .unwrap_or_else(generate)
}

/// A new request id: a UUID v7, so that ids sort by time.
pub fn generate() -> String {
    uuid::Uuid::now_v7().to_string()
}
