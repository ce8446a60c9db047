//! The web edge of psm-api: what a browser or an HTTP client sees besides the schema itself.
//!
//! # Layout
//! - [`protocol`]: GraphQL over HTTP: content negotiation, reading GET and POST requests, status codes.
//! - [`cors`]: which origins (browser dashboards) may call the API.
//! - [`graphiql`]: the GraphiQL page and its pinned, compiled-in assets.
//!
//! The layers [`crate::app::router`] stacks come from here too: preflight status, security and cache
//! headers, and JSON bodies for every error answer.

pub mod cors;
pub mod graphiql;
pub mod protocol;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::code;
use protocol::{MediaType, refusal};

/// `Cache-Control` of every answer that does not set its own: API answers hold personal data and
/// keys, and must not be kept by browsers or proxies.
pub const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// `X-Content-Type-Options` of every answer: browsers must not guess a type other than the one sent.
pub const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

/// Answers a CORS preflight with 204 No Content rather than the CORS layer's 200 with an empty body.
/// Every `OPTIONS` request is answered by the CORS layer, so this sees only preflights.
pub async fn preflight_no_content(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    if preflight && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

/// The largest error body (from a layer or an extractor) quoted in the JSON that replaces it.
const QUOTED_ERROR_BYTES: usize = 1024;

/// Gives every error answer a JSON body: one whose body is already JSON stays as it is; any other (an
/// extractor's plain-text rejection, a layer's empty 408 or 413) becomes
/// `{"errors": [{"message", "extensions": {"code"}}]}`, quoting its text.
pub async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json =
        response.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(|value| {
            value.starts_with("application/json") || value.starts_with("application/graphql-response+json")
        });
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, QUOTED_ERROR_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned());
    let message = match text {
        Ok(text) if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let code = match status {
        StatusCode::BAD_REQUEST => code::BAD_REQUEST,
        StatusCode::NOT_FOUND => code::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => code::METHOD_NOT_ALLOWED,
        StatusCode::NOT_ACCEPTABLE => code::NOT_ACCEPTABLE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => code::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNAUTHORIZED => code::UNAUTHENTICATED,
        StatusCode::FORBIDDEN => code::FORBIDDEN,
        StatusCode::TOO_MANY_REQUESTS => code::RATE_LIMITED,
        status if status.is_server_error() => code::INTERNAL,
        _ => code::BAD_REQUEST,
    };
    let mut replacement = refusal(MediaType::Json, status, code, &message);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement.headers_mut().append(name, value.clone());
        }
    }
    replacement
}

/// Any path the router does not serve.
pub async fn not_found() -> Response {
    refusal(MediaType::Json, StatusCode::NOT_FOUND, code::NOT_FOUND, "no such path: the API is at /graphql")
}
