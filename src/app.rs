//! The HTTP side: application state, the router, and serving with graceful shutdown.
//!
//! Routes: `POST /graphql` (queries), `GET /graphql` (queries only, as GraphQL-over-HTTP allows),
//! `GET /graphiql` (the GraphiQL explorer), `GET /schema.graphql` (the SDL), `GET /healthz`.

use std::future::Future;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::config::ApiConfig;
use crate::graphql::{self, PsmSchema};

/// What every request handler shares. Holds no per-client state: replicas behind a load balancer are
/// interchangeable.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: PsmSchema,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: ApiConfig) -> Self {
        AppState { db, schema: graphql::schema(config) }
    }
}

/// The router of psm-api.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql_handler).post(graphql_handler))
        .route("/graphiql", get(graphiql))
        .route("/schema.graphql", get(schema_sdl))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn graphql_handler(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    graphql::execute(&state.schema, request.into_inner(), &state.db).await.into()
}

async fn graphiql() -> impl IntoResponse {
    Html(GraphiQLSource::build().endpoint("/graphql").title("psm-api GraphiQL").finish())
}

async fn schema_sdl(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], state.schema.sdl())
}

/// Liveness and database reachability: 200 when a trivial query succeeds, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(error) => {
            tracing::warn!(%error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "database unavailable" })))
        }
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
