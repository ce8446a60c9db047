//! Metrics in the Prometheus text format at `GET /metrics`, recorded with the `metrics` crate and
//! rendered by `metrics-exporter-prometheus` (no listener of its own: the server's router serves them).
//!
//! Labels hold names, codes and counts only: operation names (a bounded set, see
//! [`OperationNames`]), error codes, routes, statuses. Never a variable, a query text, a key or any
//! personal data.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `psm_http_requests_total` | counter | `path`, `method`, `status` | every answered request (`path` is the route, not the address asked for) |
//! | `psm_http_request_duration_seconds` | histogram | `path` | time to answer |
//! | `psm_http_requests_in_flight` | gauge | | requests being served now |
//! | `psm_http_requests_cancelled_total` | counter | `path` | requests whose client went away before the answer (their work was dropped) |
//! | `psm_graphql_requests_total` | counter | `operation`, `type`, `outcome`, `code` | GraphQL requests; `outcome` is `success` or `error`, `code` the first error's code (`OK` without errors) |
//! | `psm_graphql_request_duration_seconds` | histogram | `operation`, `type` | time to answer a GraphQL request |
//! | `psm_graphql_request_statements` | histogram | `operation`, `type` | SQL statements one request sent |
//! | `psm_db_statements_total` | counter | `outcome` | statements sent (`ok`, `error`) |
//! | `psm_db_statement_duration_seconds` | histogram | | time per statement |
//! | `psm_db_pool_connections` | gauge | `state` | open connections, `idle` or `in_use` (read when scraped) |
//! | `psm_db_pool_max_connections` | gauge | | the pool's size limit |
//! | `psm_db_pool_acquire_duration_seconds` | histogram | | time a statement waited for its connection |
//! | `psm_db_pool_waits_total` | counter | | acquisitions that waited longer than 10 ms (no idle connection) |
//! | `psm_db_pool_timeouts_total` | counter | | requests answered `DATABASE_UNAVAILABLE` because no connection came within the acquire timeout |
//! | `psm_db_faults_total` | counter | `fault`, `cause` | database faults answered to clients (see [`super::faults`]) |
//! | `psm_sweeps_total` | counter | `trigger`, `outcome` | expiry sweeps (`timer` or `feed` read; `ok` or `error`) |
//! | `psm_sweep_changes_total` | counter | `trigger`, `change` | what sweeps changed (`expired_referrals`, `lapsed_consents`) |
//! | `psm_refusals_total` | counter | `code` | requests refused by a rate or cost limit |
//! | `psm_audit_write_failures_total` | counter | `kind` | audit records that could not be written (`read`: the answer was withheld) |
//! | `psm_build_info` | gauge | `version` | 1, with the running version |

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseBackend, DatabaseConnection};

use super::context::{self, Facts};
use super::faults::Cause;
use crate::app::AppState;

const SECONDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const ACQUIRE_SECONDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0];
const STATEMENTS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 100.0];

/// An acquisition slower than this waited for a connection rather than taking an idle one.
const WAIT_THRESHOLD_SECONDS: f64 = 0.010;

/// The process's one metrics recorder (the `metrics` crate has one global recorder).
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The metrics of one server: the handle that renders them, and the operation names it labels.
#[derive(Clone)]
pub struct Metrics {
    pub handle: PrometheusHandle,
    operations: Arc<OperationNames>,
}

impl Metrics {
    /// Installs the process's recorder on first use; later servers of the same process share it.
    pub fn new(max_operations: usize) -> Self {
        let handle = HANDLE.get_or_init(install).clone();
        Metrics { handle, operations: Arc::new(OperationNames::new(max_operations)) }
    }

    /// Records one answered request.
    pub fn request(&self, answered: &Answered<'_>) {
        let Answered { path, method, status, duration, facts, statements } = answered;
        let seconds = duration.as_secs_f64();
        let status = status.as_u16().to_string();
        counter!("psm_http_requests_total", "path" => path.to_string(), "method" => method.to_string(), "status" => status)
            .increment(1);
        histogram!("psm_http_request_duration_seconds", "path" => path.to_string()).record(seconds);
        if *path != "/graphql" {
            return;
        }
        let operation = self.operations.label(facts);
        let kind = facts.operation_type.unwrap_or("unknown");
        let code = facts
            .codes
            .first()
            .cloned()
            .unwrap_or_else(|| if answered.status.is_success() { "OK" } else { "HTTP" }.into());
        let outcome = if facts.codes.is_empty() && answered.status.is_success() { "success" } else { "error" };
        counter!("psm_graphql_requests_total", "operation" => operation.clone(), "type" => kind, "outcome" => outcome, "code" => code)
            .increment(1);
        histogram!("psm_graphql_request_duration_seconds", "operation" => operation.clone(), "type" => kind)
            .record(seconds);
        histogram!("psm_graphql_request_statements", "operation" => operation, "type" => kind)
            .record(*statements as f64);
    }
}

/// What the access layer knows of an answered request.
pub struct Answered<'a> {
    /// The matched route (`/graphql`), never the raw address with its query string.
    pub path: &'a str,
    pub method: &'a str,
    pub status: StatusCode,
    pub duration: Duration,
    pub facts: &'a Facts,
    pub statements: u64,
}

fn install() -> PrometheusHandle {
    let builder = [
        ("psm_http_request_duration_seconds", SECONDS),
        ("psm_graphql_request_duration_seconds", SECONDS),
        ("psm_db_statement_duration_seconds", SECONDS),
        ("psm_db_pool_acquire_duration_seconds", ACQUIRE_SECONDS),
        ("psm_graphql_request_statements", STATEMENTS),
    ]
    .into_iter()
    .try_fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
        builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
    });
    let handle = match builder.map(PrometheusBuilder::install_recorder) {
        Ok(Ok(handle)) => handle,
        // Another recorder is installed, or the buckets are wrong: metrics are rendered from a recorder
        // nothing records into, rather than failing the server.
        Ok(Err(error)) | Err(error) => {
            tracing::error!(%error, "cannot install the metrics recorder; /metrics will stay empty");
            PrometheusBuilder::new().build_recorder().handle()
        }
    };
    describe();
    gauge!("psm_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    handle
}

fn describe() {
    describe_counter!("psm_http_requests_total", "HTTP requests answered, by route, method and status.");
    describe_histogram!("psm_http_request_duration_seconds", metrics::Unit::Seconds, "Time to answer, by route.");
    describe_gauge!("psm_http_requests_in_flight", "Requests being served.");
    describe_counter!("psm_http_requests_cancelled_total", "Requests whose client went away before the answer.");
    describe_counter!("psm_graphql_requests_total", "GraphQL requests by operation, type, outcome and error code.");
    describe_histogram!(
        "psm_graphql_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a GraphQL request."
    );
    describe_histogram!("psm_graphql_request_statements", "SQL statements one GraphQL request sent.");
    describe_counter!("psm_db_statements_total", "SQL statements sent, by outcome.");
    describe_histogram!("psm_db_statement_duration_seconds", metrics::Unit::Seconds, "Time per SQL statement.");
    describe_gauge!("psm_db_pool_connections", "Open pooled connections, idle or in use.");
    describe_gauge!("psm_db_pool_max_connections", "The pool's size limit.");
    describe_histogram!(
        "psm_db_pool_acquire_duration_seconds",
        metrics::Unit::Seconds,
        "Time waited for a connection."
    );
    describe_counter!("psm_db_pool_waits_total", "Connection acquisitions that waited longer than 10 ms.");
    describe_counter!(
        "psm_db_pool_timeouts_total",
        "Requests failed because no connection came within the acquire timeout."
    );
    describe_counter!("psm_db_faults_total", "Database faults answered to clients, by fault and cause.");
    describe_counter!("psm_sweeps_total", "Expiry sweeps, by trigger and outcome.");
    describe_counter!("psm_sweep_changes_total", "Changes made by sweeps: expired referrals, lapsed consents.");
    describe_counter!("psm_refusals_total", "Requests refused by a rate or cost limit, by error code.");
    describe_counter!("psm_audit_write_failures_total", "Audit records that could not be written.");
    describe_gauge!("psm_build_info", "1, labelled with the running version.");
}

/// Lets the recorder fold recorded histogram samples into its buckets, so that memory stays bounded
/// when nobody scrapes `/metrics`. Runs until `stop` says so.
pub fn spawn_upkeep(metrics: &Metrics, mut stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let handle = metrics.handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => handle.run_upkeep(),
                _ = stop.wait_for(|stopping| *stopping) => break,
            }
        }
    })
}

/// The operation names the metrics label, at most `max` of them: a client choosing a new name for every
/// request would otherwise grow the metrics (and the scrapes) without bound. Names seen after the first
/// `max` are labelled `other`; an anonymous operation `anonymous`; a request that never reached the
/// parser (refused before) `unknown`.
struct OperationNames {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl OperationNames {
    fn new(max: usize) -> Self {
        OperationNames { max, seen: Mutex::default() }
    }

    fn label(&self, facts: &Facts) -> String {
        let name = match (&facts.operation, facts.operation_type) {
            (_, None) => return "unknown".into(),
            (None, Some(_)) => return "anonymous".into(),
            (Some(name), Some(_)) => name,
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if name.len() <= 64 && (seen.contains(name) || seen.len() < self.max) {
            seen.insert(name.clone());
            name.clone()
        } else {
            "other".into()
        }
    }
}

/// Counts every statement `db` sends (in total, and for the current request) and its time. Call once,
/// before the connection is cloned into the server's state.
pub fn instrument(db: &mut DatabaseConnection) {
    db.set_metric_callback(|info| {
        context::count_statement();
        let outcome = if info.failed { "error" } else { "ok" };
        counter!("psm_db_statements_total", "outcome" => outcome).increment(1);
        histogram!("psm_db_statement_duration_seconds").record(info.elapsed.as_secs_f64());
    });
}

/// Counts a database fault answered to a client.
pub fn database_fault(cause: Cause) {
    counter!("psm_db_faults_total", "fault" => cause.fault().code(), "cause" => cause.label()).increment(1);
    if cause == Cause::PoolTimeout {
        counter!("psm_db_pool_timeouts_total").increment(1);
    }
}

/// Counts a request refused by a rate or cost limit; `code` is the error code it got (`RATE_LIMITED`,
/// a cost code). For the limits to call.
pub fn refused(code: &'static str) {
    counter!("psm_refusals_total", "code" => code).increment(1);
}

/// Counts an audit record that could not be written; `kind` is `read` or `write`.
pub fn audit_write_failed(kind: &'static str) {
    counter!("psm_audit_write_failures_total", "kind" => kind).increment(1);
}

/// Counts a sweep and what it changed; `trigger` is `timer` (the background sweeper) or `feed` (a feed
/// read sweeps first).
pub fn swept(trigger: &'static str, swept: &crate::service::feed::Swept) {
    counter!("psm_sweeps_total", "trigger" => trigger, "outcome" => "ok").increment(1);
    counter!("psm_sweep_changes_total", "trigger" => trigger, "change" => "expired_referrals")
        .increment(swept.expired_referrals as u64);
    counter!("psm_sweep_changes_total", "trigger" => trigger, "change" => "lapsed_consents")
        .increment(swept.lapsed_consents as u64);
}

/// Counts a sweep that failed.
pub fn sweep_failed(trigger: &'static str) {
    counter!("psm_sweeps_total", "trigger" => trigger, "outcome" => "error").increment(1);
}

/// Moves the gauge of requests in flight (the access layer counts them).
pub fn in_flight(change: f64) {
    gauge!("psm_http_requests_in_flight").increment(change);
}

/// Counts a request whose client went away.
pub fn cancelled(path: &str) {
    counter!("psm_http_requests_cancelled_total", "path" => path.to_owned()).increment(1);
}

/// Reads the pool's connections into the gauges (at each scrape).
fn pool_gauges(db: &DatabaseConnection) {
    let (size, idle, max) = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        _ => return,
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
    gauge!("psm_db_pool_connections", "state" => "idle").set(f64::from(idle));
    gauge!("psm_db_pool_connections", "state" => "in_use").set(f64::from(size - idle));
    gauge!("psm_db_pool_max_connections").set(f64::from(max));
}

/// `GET /metrics`: the metrics in the Prometheus text format. With `--metrics-token`, only for
/// `Authorization: Bearer <token>` (HTTP 401 otherwise).
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.ops.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        // Hashes compared, so that the comparison's time says nothing about the token.
        let hash = crate::auth::sha256_hex;
        if given.is_none_or(|given| hash(given) != hash(token)) {
            let body = super::faults::error_body(
                "a metrics token is required: send `Authorization: Bearer <token>`",
                "UNAUTHENTICATED",
            );
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(body))
                .into_response();
        }
    }
    pool_gauges(&state.db);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.ops.metrics.handle.render())
        .into_response()
}

/// A tracing layer that turns the pool's "acquired connection" events (target `sqlx::pool::acquire`,
/// field `acquired_after_secs`; enabled in [`crate::db::connect_with`]) into the acquisition metrics.
/// Add it with a filter that lets those TRACE events through (see [`super::logging`]).
pub struct PoolAcquireLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PoolAcquireLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::pool::acquire" {
            return;
        }
        struct Seconds(Option<f64>);
        impl tracing::field::Visit for Seconds {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "acquired_after_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut seconds = Seconds(None);
        event.record(&mut seconds);
        if let Some(seconds) = seconds.0 {
            histogram!("psm_db_pool_acquire_duration_seconds").record(seconds);
            if seconds > WAIT_THRESHOLD_SECONDS {
                counter!("psm_db_pool_waits_total").increment(1);
            }
        }
    }
}
