//! What an operator of psm-api sees and relies on: probes, metrics, logs with request ids, time limits,
//! database faults answered clearly, and a shutdown that drains. Nothing here knows the domain.
//!
//! # Layout
//! - [`context`]: the facts of the request being served (its id, operation, statements, error codes),
//!   reachable from anywhere the request runs without passing them around.
//! - [`request_id`]: the `X-Request-Id` a request is known by: taken from the client when it is safe,
//!   generated otherwise.
//! - [`access`]: the outermost layer: a span per request, one access-log line, the request metrics,
//!   the HTTP status of database faults, the request id in every answer and every error.
//! - [`timeout`]: the time limit of a request (`TIMEOUT`, HTTP 504).
//! - [`faults`]: which database errors mean "unavailable", "busy" or "timed out", and the answers they get.
//! - [`health`]: `/healthz` (liveness) and `/readyz` (readiness: database and schema version).
//! - [`metrics`]: the Prometheus metrics and `/metrics`.
//! - [`operation`]: the async-graphql extension that notes each request's operation and complexity.
//! - [`logging`]: the log subscriber: text or JSON, colour only on a terminal.
//! - [`shutdown`]: signals, draining within a grace period, the sweeper's start and clean stop.
//!
//! The layers are added in [`crate::app::router`]; their order there matters and is explained there.

pub mod access;
pub mod context;
pub mod faults;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod operation;
pub mod request_id;
pub mod shutdown;
pub mod timeout;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::config::OpsConfig;

/// What the operational layers and routes share, built once per server.
#[derive(Clone)]
pub struct Ops {
    pub config: Arc<OpsConfig>,
    /// The metrics registry's handle, which renders `/metrics`.
    pub metrics: metrics::Metrics,
}

impl Ops {
    /// The operational state for `config`; installs the process's metrics recorder on first use.
    pub fn new(config: OpsConfig) -> Self {
        let metrics = metrics::Metrics::new(config.metrics_max_operations);
        Ops { config: Arc::new(config), metrics }
    }

    /// The time limit of one request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.config.request_timeout_seconds.max(1))
    }
}

/// The operational routes: `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
}
