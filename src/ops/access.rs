//! The outermost layer of the server: for every request, its id, a tracing span that every log line of
//! the request carries, one access-log line, the request metrics, and the final touches of the answer:
//!
//! - the `X-Request-Id` header on every answer;
//! - `extensions.requestId` on every error of an error answer (401, 405, 413, 429, 503, 504, ... whoever
//!   built it; GraphQL answers get theirs in [`crate::graphql::execute`]);
//! - the HTTP status of a database fault ([`super::faults`]): a GraphQL answer whose errors report
//!   `DATABASE_UNAVAILABLE` or `DATABASE_BUSY` is sent with 503 and `Retry-After`, one reporting `TIMEOUT`
//!   with 504, wherever in the request the fault hit.
//!
//! The access-log line (target `psm_api::access`, message `request`) has: method, path (the route, never
//! the query string, which may hold a GET request's query and variables), operation name and type,
//! status, first error code, duration, statements, complexity, cost when a limit charged one, and the
//! key's visible prefix. Never variables, query text, or personal data. Probes and scrapes (`/healthz`,
//! `/readyz`, `/metrics`) log at DEBUG, so that they do not drown the rest.
//!
//! A request whose client goes away is dropped by the server together with all its work (nothing of a
//! request runs in another task); its line says `cancelled` with status 499, as nginx logs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use axum::body::{Body, HttpBody as _};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use tracing::{Instrument, Span};

use super::Ops;
use super::context::{self, RequestContext};
use super::metrics::{self, Answered};
use super::request_id::{self, X_REQUEST_ID};

/// Requests being served now (also the `psm_http_requests_in_flight` gauge).
static IN_FLIGHT: AtomicI64 = AtomicI64::new(0);

/// Requests being served now.
pub fn in_flight() -> i64 {
    IN_FLIGHT.load(Ordering::Relaxed)
}

fn count_in_flight(change: i64) {
    IN_FLIGHT.fetch_add(change, Ordering::Relaxed);
    metrics::in_flight(change as f64);
}

/// Largest error answer whose errors get their `requestId` added; larger ones are passed on untouched.
const MAX_REWRITTEN_BODY: usize = 64 * 1024;

/// The layer: `router.layer(axum::middleware::from_fn_with_state(ops, observe))`.
pub async fn observe(State(ops): State<Ops>, mut request: Request, next: Next) -> Response {
    let id = request_id::of(request.headers());
    let path = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = method_label(request.method());
    if let Ok(value) = HeaderValue::from_str(&id) {
        // Handlers see the id that is used, not an invalid one the client sent.
        request.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let context = Arc::new(RequestContext::new(id.clone()));
    let span = tracing::info_span!("request", id = %id);
    let mut pending = Pending {
        ops,
        path,
        method,
        context: context.clone(),
        span: span.clone(),
        started: Instant::now(),
        done: false,
    };
    count_in_flight(1);
    let response = context::scope(context, next.run(request)).instrument(span).await;
    pending.finish(response).await
}

/// A request being served; when dropped before [`Pending::finish`], its client went away.
struct Pending {
    ops: Ops,
    path: String,
    method: &'static str,
    context: Arc<RequestContext>,
    span: Span,
    started: Instant,
    done: bool,
}

impl Pending {
    async fn finish(&mut self, mut response: Response) -> Response {
        if response.status() == StatusCode::OK
            && let Some(fault) = self.context.fault()
        {
            fault.apply(&mut response);
        }
        if !response.status().is_success() {
            response = self.with_request_ids(response).await;
        }
        if let Ok(value) = HeaderValue::from_str(&self.context.id) {
            response.headers_mut().insert(X_REQUEST_ID.clone(), value);
        }
        self.done = true;
        count_in_flight(-1);
        let facts = self.context.facts();
        let status = response.status();
        let duration = self.started.elapsed();
        let statements = self.context.statements();
        let answered = Answered { path: &self.path, method: self.method, status, duration, facts: &facts, statements };
        self.ops.metrics.request(&answered);
        self.span.in_scope(|| log(&answered, false));
        response
    }

    /// Adds `extensions.requestId` to every error of a JSON error answer, and notes their codes.
    async fn with_request_ids(&self, response: Response) -> Response {
        let headers = response.headers();
        let json = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(|value| {
            value.starts_with("application/json") || value.starts_with("application/graphql-response+json")
        });
        let small = response.body().size_hint().upper().is_some_and(|upper| upper <= MAX_REWRITTEN_BODY as u64);
        if !json || !small || headers.contains_key(header::CONTENT_ENCODING) {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_REWRITTEN_BODY).await else {
            // The body failed while being read: there is nothing left to send.
            return Response::from_parts(parts, Body::empty());
        };
        let Ok(mut document) = serde_json::from_slice::<Value>(&bytes) else {
            return Response::from_parts(parts, Body::from(bytes));
        };
        let Some(errors) = document.get_mut("errors").and_then(Value::as_array_mut) else {
            return Response::from_parts(parts, Body::from(bytes));
        };
        for error in errors.iter_mut().filter_map(Value::as_object_mut) {
            let extensions = error.entry("extensions").or_insert_with(|| Value::Object(Default::default()));
            if let Some(extensions) = extensions.as_object_mut() {
                if let Some(code) = extensions.get("code").and_then(Value::as_str) {
                    self.context.note_code(code);
                }
                extensions.insert("requestId".into(), Value::String(self.context.id.clone()));
            }
        }
        let Ok(rewritten) = serde_json::to_vec(&document) else {
            return Response::from_parts(parts, Body::from(bytes));
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(rewritten))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The client went away (or the server stopped past its grace period): the request's future, and
        // with it all its work, is being dropped.
        count_in_flight(-1);
        metrics::cancelled(&self.path);
        let facts = self.context.facts();
        let answered = Answered {
            path: &self.path,
            method: self.method,
            status: StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            duration: self.started.elapsed(),
            facts: &facts,
            statements: self.context.statements(),
        };
        self.span.in_scope(|| log(&answered, true));
    }
}

/// Writes the access-log line of a request.
fn log(answered: &Answered<'_>, cancelled: bool) {
    let Answered { path, method, status, duration, facts, statements } = answered;
    let probe = matches!(*path, "/healthz" | "/readyz" | "/metrics");
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                target: "psm_api::access",
                $level,
                method,
                path,
                operation = facts.operation.as_deref(),
                operation_type = facts.operation_type,
                status = status.as_u16(),
                code = facts.codes.first().map(String::as_str),
                duration_ms = (duration.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
                statements,
                complexity = facts.complexity,
                cost = facts.cost,
                key = facts.key_prefix.as_deref(),
                cancelled,
                "request"
            )
        };
    }
    if probe && !cancelled {
        line!(tracing::Level::DEBUG);
    } else {
        line!(tracing::Level::INFO);
    }
}

/// The method as a label: one of the standard methods or `OTHER` (a client may invent methods).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE", "CONNECT", "TRACE"];
    KNOWN.into_iter().find(|known| *known == method.as_str()).unwrap_or("OTHER")
}
