//! The HTTP side: application state, the router, and serving with graceful shutdown.
//!
//! Routes: `POST /graphql` (queries), `GET /graphql` (queries only, as GraphQL-over-HTTP allows),
//! `GET /graphiql` (the GraphiQL explorer), `GET /schema.graphql` (the SDL), `GET /healthz`.

use std::future::Future;
use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{Extension, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use entity::enums::Role;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use crate::auth::DemoKey;
use crate::config::{ApiConfig, LimitConfig};
use crate::error::AppResult;
use crate::gate;
use crate::graphql::{self, PsmSchema};

/// What every request handler shares. Holds no per-client state: replicas behind a load balancer are
/// interchangeable.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: PsmSchema,
    /// The public demo keys of the embedded demo database that the GraphiQL page offers (never the
    /// ADMIN one); empty elsewhere.
    pub demo_keys: Arc<Vec<DemoKey>>,
    /// Request limits and rate limits (see [`crate::gate`]).
    pub limits: LimitConfig,
}

impl AppState {
    /// Builds the state, reading the server secret (and creating it on the first start) from `db`.
    pub async fn new(db: DatabaseConnection, config: ApiConfig) -> AppResult<Self> {
        let cursor_key = crate::secret::cursor_key(&db).await?;
        let limits = config.limits.clone();
        Ok(AppState { db, schema: graphql::schema(config, cursor_key), demo_keys: Arc::default(), limits })
    }

    /// What the `/graphql` middleware needs.
    fn door(&self) -> gate::Door {
        gate::Door { db: self.db.clone(), limits: self.limits.clone() }
    }

    /// Lets the GraphiQL page open with these keys (the embedded demo database only). The ADMIN key is
    /// dropped here: a web page must never hand it out, so the server prints it on its console only.
    pub fn with_demo_keys(mut self, keys: Vec<DemoKey>) -> Self {
        self.demo_keys = Arc::new(keys.into_iter().filter(|key| key.role != Role::Admin).collect());
        self
    }
}

/// The router of psm-api.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql_handler)
                .post(graphql_handler)
                .route_layer(axum::middleware::from_fn_with_state(state.door(), gate::guard)),
        )
        .route("/graphiql", get(graphiql))
        .route("/schema.graphql", get(schema_sdl))
        .route("/healthz", get(healthz))
        .with_state(state)
}

/// Runs a GraphQL request as the caller [`gate::guard`] authenticated (before the body was read); the
/// body reaches this handler only for a valid key, and only up to the size limit.
async fn graphql_handler(
    State(state): State<AppState>,
    method: Method,
    Extension(caller): Extension<gate::Caller>,
    request: GraphQLRequest,
) -> Response {
    let mut request = request.into_inner();
    // `writes` parses the query: only a query within the token limit is parsed here (a longer one is
    // refused before parsing during admission, which also refuses persisted mutations over GET).
    let small = crate::limits::check_tokens(&request.query, state.limits.max_tokens, 32).is_ok();
    if method == Method::GET && small && writes(&request) {
        // GraphQL over HTTP: GET is for queries only, so that a link or a prefetch can never change data.
        let body = json!({ "errors": [{ "message": "mutations must be sent with POST", "extensions": { "code": "METHOD_NOT_ALLOWED" } }] });
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], Json(body)).into_response();
    }
    if let Some(meter) = caller.meter {
        request = request.data(meter);
    }
    GraphQLResponse::from(graphql::execute(&state.schema, request, &state.db, &caller.viewer).await).into_response()
}

/// Whether the operation a request would run is a mutation (or subscription). A document that does not
/// parse is left to the executor, which reports it.
fn writes(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::OperationType;
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else { return false };
    document.operations.iter().any(|(name, operation)| {
        let chosen = match (&request.operation_name, name) {
            (Some(wanted), Some(name)) => wanted.as_str() == name.as_str(),
            (Some(_), None) => false,
            (None, _) => true,
        };
        chosen && operation.node.ty != OperationType::Query
    })
}

/// Which demo key the GraphiQL page opens with.
#[derive(Deserialize)]
struct GraphiqlParams {
    /// A role name, any case (`?role=partner`); STAFF when absent.
    role: Option<String>,
}

/// The GraphiQL page. On the embedded demo database it sends one of the demo keys (STAFF unless
/// `?role=` names another), so a new user can explore at once and switch roles by changing the address.
/// `?role=admin` opens without a key (the ADMIN demo key is printed on the server console only); a role
/// that does not exist is refused with HTTP 400 and the list of roles, rather than quietly opening as
/// STAFF and letting the user believe they see another role's view.
async fn graphiql(State(state): State<AppState>, Query(params): Query<GraphiqlParams>) -> Response {
    let wanted = match params.role.as_deref() {
        None => Role::Staff,
        Some(text) => match Role::parse(&text.trim().to_uppercase()) {
            Some(role) => role,
            None => {
                let roles: Vec<String> = Role::ALL.iter().map(|role| role.as_str().to_lowercase()).collect();
                let body = json!({
                    "error": format!("`{text}` is not a role; use ?role= with one of the roles listed"),
                    "roles": roles,
                    "admin": "opens without a key: paste the ADMIN key printed on the server console",
                });
                return (StatusCode::BAD_REQUEST, Json(body)).into_response();
            }
        },
    };
    let now = chrono::Utc::now();
    let bearer = state
        .demo_keys
        .iter()
        .find(|key| key.role == wanted && key.role != Role::Admin && key.is_live(now))
        .map(|key| format!("Bearer {}", key.key));
    let title = match (&bearer, wanted) {
        (Some(_), role) => format!("psm-api GraphiQL (demo {} key)", role.as_str()),
        (None, Role::Admin) => "psm-api GraphiQL (ADMIN: paste the key printed on the server console)".to_owned(),
        (None, _) => "psm-api GraphiQL (no key: add an Authorization header)".to_owned(),
    };
    let page = GraphiQLSource::build().endpoint("/graphql").title(&title);
    let page = match &bearer {
        Some(bearer) => page.header("Authorization", bearer),
        None => page,
    };
    Html(page.finish()).into_response()
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
