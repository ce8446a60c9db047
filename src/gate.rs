//! The door of `/graphql`: an axum middleware that checks the caller before the request body is read,
//! and reads the body only up to `--max-body-bytes`.
//!
//! In order, each step costing less than the next:
//! 1. no `Authorization` header: HTTP 401, nothing read;
//! 2. a `Content-Length` above the limit: HTTP 413 (`PAYLOAD_TOO_LARGE`), nothing read;
//! 3. the key checked in the database: HTTP 401 when it is not valid, nothing read;
//! 4. the body read, stopping (HTTP 413) as soon as it passes the limit, whatever `Content-Length` said.
//!
//! The handler then gets a [`Caller`] (the viewer and the rate-limit [`Meter`]). On the way out, the
//! answer gets the key's budget in `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
//! (epoch seconds at which the bucket is full again), and a throttled request HTTP 429 with
//! `Retry-After`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::auth::{self, AuthFailure, Unauthenticated, Viewer};
use crate::config::LimitConfig;
use crate::limits::code;
use crate::ratelimit::Meter;

/// Who is calling `/graphql`, as established by [`guard`].
#[derive(Clone)]
pub struct Caller {
    pub viewer: Viewer,
    /// `None` when rate limiting is off.
    pub meter: Option<Meter>,
}

/// What the middleware needs: the database and the limits.
#[derive(Clone)]
pub struct Door {
    pub db: DatabaseConnection,
    pub limits: LimitConfig,
}

fn unauthenticated(reason: Unauthenticated) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({ "errors": [{ "message": reason.message(), "extensions": { "code": "UNAUTHENTICATED" } }] })),
    )
        .into_response()
}

fn too_large(limit: usize) -> Response {
    let message = format!("the request body is larger than {limit} bytes (--max-body-bytes)");
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code::PAYLOAD_TOO_LARGE, "limit": limit } }] });
    (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
}

/// The middleware of `/graphql` (see the module documentation).
pub async fn guard(State(door): State<Door>, request: Request, next: Next) -> Response {
    let limit = door.limits.max_body_bytes;
    // A header that is not valid text is present but unusable: invalid, not missing.
    let authorization = request.headers().get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or_default());
    if authorization.is_none() {
        return unauthenticated(Unauthenticated::Missing);
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(limit);
    }
    let viewer = match auth::authenticate(&door.db, authorization).await {
        Ok(viewer) => viewer,
        Err(AuthFailure::Denied(reason)) => return unauthenticated(reason),
        Err(AuthFailure::Error(error)) => {
            let error = async_graphql::Error::from(error);
            let body = json!({ "errors": [{ "message": error.message, "extensions": { "code": "INTERNAL" } }] });
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    };
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(error) => {
            let over =
                std::error::Error::source(&error).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if over {
                return too_large(limit);
            }
            let body = json!({ "errors": [{ "message": "the request body could not be read", "extensions": { "code": "BAD_REQUEST" } }] });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let meter =
        viewer.key_id.and_then(|key| Meter::new(door.db.clone(), key, &door.limits, parts.method == Method::GET));
    parts.extensions.insert(Caller { viewer, meter: meter.clone() });
    let mut response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if let Some(meter) = meter {
        decorate(&mut response, &meter);
    }
    response
}

/// Adds the budget headers, and the status the GraphQL layer asked for (429 with `Retry-After`).
fn decorate(response: &mut Response, meter: &Meter) {
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
