//! The time limit of a request (`--request-timeout-seconds`). A request still running at the limit is
//! stopped: its future is dropped, and with it every statement it was waiting on, its transaction (rolled
//! back) and its loaders, since nothing of a request runs in another task. The client gets `TIMEOUT`
//! with HTTP 504 (see [`super::faults`] for why 504).
//!
//! What dropping cannot stop: a statement PostgreSQL has already received runs until it ends or reaches
//! `statement_timeout` (`--db-statement-timeout-seconds`, shorter than the request limit by default);
//! SQLite finishes the statement it is in. A mutation stopped at the limit may have committed just
//! before: a client retries it with its `idempotencyKey`, which returns the first result.

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Ops;
use super::faults::{Fault, error_body};

/// The layer: `router.layer(axum::middleware::from_fn_with_state(ops, limit))`.
pub async fn limit(State(ops): State<Ops>, request: Request, next: Next) -> Response {
    let limit = ops.request_timeout();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => timed_out(limit),
    }
}

/// The answer to a request stopped at its time limit.
fn timed_out(limit: Duration) -> Response {
    let fault = Fault::Timeout;
    super::context::note_code(fault.code());
    tracing::warn!(limit_seconds = limit.as_secs(), "request stopped at its time limit");
    let message = format!("the request took longer than {} s and was stopped", limit.as_secs());
    let mut response = Json(error_body(&message, fault.code())).into_response();
    fault.apply(&mut response);
    response
}
