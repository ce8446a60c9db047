//! The probes a load balancer or an orchestrator asks:
//!
//! - `GET /healthz`, liveness: 200 `{"status":"live"}` whenever the process can answer at all. It never
//!   touches the database, so that a database outage does not get every replica restarted.
//! - `GET /readyz`, readiness: 200 `{"status":"ready"}` when the database answers and every migration
//!   this binary knows is applied; 503 otherwise, with `status` `database unavailable`, `migrations
//!   pending` (and the names of the pending ones) or `draining` (the server is shutting down). A schema
//!   newer than the binary (migrations it does not know, applied by a newer replica during a rolling
//!   upgrade) is ready: migrations are written to keep the previous version working; the answer lists
//!   them under `unknownMigrations`.
//!
//! Each readiness check is bounded to 5 s, so a probe never hangs.

use std::collections::HashSet;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

use crate::app::AppState;

/// `GET /healthz`.
pub async fn healthz() -> Response {
    Json(json!({ "status": "live" })).into_response()
}

/// `GET /readyz`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if super::shutdown::draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "draining" }))).into_response();
    }
    let limit = Duration::from_secs(5);
    match tokio::time::timeout(limit, check(&state.db)).await {
        Ok(Ok(Readiness { pending, unknown })) if pending.is_empty() => {
            Json(json!({ "status": "ready", "unknownMigrations": unknown })).into_response()
        }
        Ok(Ok(Readiness { pending, .. })) => {
            let body = json!({ "status": "migrations pending", "pending": pending });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" }))).into_response()
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within {} s", limit.as_secs());
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "database unavailable" }))).into_response()
        }
    }
}

/// Migrations this binary knows that are not applied, and applied ones it does not know.
struct Readiness {
    pending: Vec<String>,
    unknown: Vec<String>,
}

async fn check(db: &DatabaseConnection) -> Result<Readiness, sea_orm::DbErr> {
    let select = Statement::from_string(db.get_database_backend(), "SELECT version FROM seaql_migrations");
    let applied: HashSet<String> = db
        .query_all_raw(select)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<_, _>>()?;
    let known: Vec<String> = Migrator::migrations().iter().map(|migration| migration.name().to_owned()).collect();
    let pending = known.iter().filter(|name| !applied.contains(*name)).cloned().collect();
    let known: HashSet<String> = known.into_iter().collect();
    let mut unknown: Vec<String> = applied.into_iter().filter(|name| !known.contains(name)).collect();
    unknown.sort();
    Ok(Readiness { pending, unknown })
}
