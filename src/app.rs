//! The HTTP side: application state, the router and its layers, the GraphQL handler (authenticating
//! each request), and serving with graceful shutdown.
//!
//! Routes: `POST /graphql` and `GET /graphql` (queries only over GET), `GET /graphiql` (the GraphiQL
//! explorer) and `GET /graphiql/assets/<file>`, `GET /schema.graphql` (the SDL), and the operational
//! routes of [`crate::ops`]: `GET /healthz`, `GET /readyz`, `GET /metrics`. How
//! GraphQL travels over HTTP (media types, status codes) lives in [`crate::web::protocol`]; CORS,
//! GraphiQL and the response layers in [`crate::web`].

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use entity::enums::Role;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::{self, AuthFailure, DemoKey, Viewer};
use crate::config::{ApiConfig, LimitConfig};
use crate::error::{AppError, AppResult, code};
use crate::gate::{self, BodyError};
use crate::graphql::{self, PsmSchema};
use crate::ratelimit::Meter;
use crate::web::cors::CorsPolicy;
use crate::web::protocol::{self, MediaType, Refusal};
use crate::web::{self, graphiql};

/// What every request handler shares. Holds no per-client state: replicas behind a load balancer are
/// interchangeable.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub schema: PsmSchema,
    /// The public demo keys of the embedded demo database that the GraphiQL page offers (never the
    /// ADMIN one); empty elsewhere.
    pub demo_keys: Arc<Vec<DemoKey>>,
    /// Which browser origins may call the API; none unless configured (see [`AppState::with_cors`]).
    pub cors: CorsPolicy,
    /// Time limits, metrics and probes.
    pub ops: crate::ops::Ops,
    /// Request limits and rate limits (see [`crate::gate`] and [`crate::ratelimit`]).
    pub limits: LimitConfig,
    /// Keys checked a moment ago (see [`auth::KeyCache`]).
    pub keys: auth::KeyCache,
    /// Reference data every request reads from memory (see [`crate::service::reference`]).
    pub reference: crate::service::reference::Reference,
}

impl AppState {
    /// Builds the state, reading the server secret (and creating it on the first start) from `db`.
    pub async fn new(db: DatabaseConnection, config: ApiConfig) -> AppResult<Self> {
        let cursor_key = crate::secret::cursor_key(&db).await?;
        let ops = crate::ops::Ops::new(config.ops.clone());
        let limits = config.limits.clone();
        let keys = auth::KeyCache::new(std::time::Duration::from_millis(limits.key_cache_ms));
        Ok(AppState {
            keys,
            limits,
            db,
            schema: graphql::schema(config, cursor_key),
            demo_keys: Arc::default(),
            cors: CorsPolicy::default(),
            ops,
            reference: Default::default(),
        })
    }

    /// Lets the GraphiQL page open with these keys (the embedded demo database only). The ADMIN key is
    /// dropped here: a web page must never hand it out, so the server prints it on its console only.
    pub fn with_demo_keys(mut self, keys: Vec<DemoKey>) -> Self {
        self.demo_keys = Arc::new(keys.into_iter().filter(|key| key.role != Role::Admin).collect());
        self
    }

    /// Lets the pages of these origins call the API from a browser.
    pub fn with_cors(mut self, cors: CorsPolicy) -> Self {
        self.cors = cors;
        self
    }
}

/// The router of psm-api, with its layers.
pub fn router(state: AppState) -> Router {
    let cors = state.cors.layer();
    let ops = state.ops.clone();
    Router::new()
        .route("/graphql", get(graphql_handler).post(graphql_handler))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/schema.graphql", get(schema_sdl))
        // /healthz (liveness), /readyz (readiness), /metrics (Prometheus).
        .merge(crate::ops::routes())
        .fallback(web::not_found)
        .with_state(state)
        // The time limit of every request (TIMEOUT, HTTP 504): it answers by itself, so it sits below
        // `json_error_bodies`.
        .layer(middleware::from_fn_with_state(ops.clone(), crate::ops::timeout::limit))
        .layer(
            // Outermost first: a request passes these from the top down, its answer from the bottom up.
            // CORS stays near the top so that every answer, refusals included, carries its headers;
            // compression sits outside the access layer, which adds `requestId` to JSON error bodies
            // (it could not once they are compressed); a layer that answers by itself (a limit, a
            // timeout) goes below `json_error_bodies` so that its refusal gets a JSON body too.
            ServiceBuilder::new()
                .layer(middleware::from_fn(web::preflight_no_content))
                .layer(cors)
                .layer(CompressionLayer::new())
                .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, web::NOSNIFF))
                .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, web::NO_STORE))
                // Request id, span, access log, metrics, HTTP status of database faults.
                .layer(middleware::from_fn_with_state(ops, crate::ops::access::observe))
                .layer(middleware::map_response(web::json_error_bodies)),
        )
}

const X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");

/// `GET` and `POST /graphql`: runs a GraphQL request as the caller its `Authorization: Bearer <key>`
/// header names. Without a valid key the answer is HTTP 401 with one `UNAUTHENTICATED` error, and the
/// body is not even read.
async fn graphql_handler(State(state): State<AppState>, request: Request) -> Response {
    match run_graphql(&state, request).await {
        Ok(answer) | Err(answer) => answer,
    }
}

/// The steps of a GraphQL request; each refusal is an answer of its own.
async fn run_graphql(state: &AppState, request: Request) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    // 1. The media type of the answer, from `Accept` (406 when the client accepts neither of ours).
    let media = protocol::negotiate(&parts.headers).map_err(|refusal| refusal.answer(MediaType::Json))?;
    let refuse = |refusal: Refusal| refusal.answer(media);
    // 2. The caller, from the key, before the body is read (401).
    let viewer = authenticate(state, &parts.headers).await.map_err(|failure| match failure {
        Ok(refusal) => refuse(refusal),
        // A database fault gets the same code and status here as during execution.
        Err(error) => crate::ops::faults::answer(&error),
    })?;
    // 3. The GraphQL request, from the query string or the JSON body (400, 415), the body read only up
    //    to its limit (413, from `Content-Length` before anything is read).
    let limit = state.limits.max_body_bytes;
    let mut request = match parts.method {
        Method::GET => protocol::decode_get(&parts.uri).map_err(refuse)?,
        _ => {
            if gate::declared_too_large(&parts.headers, limit) {
                return Err(gate::too_large(media.content_type(), limit));
            }
            let body = gate::read_body(body, limit).await.map_err(|error| match error {
                BodyError::TooLarge => gate::too_large(media.content_type(), limit),
                BodyError::Unreadable(error) => refuse(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    code::BAD_REQUEST,
                    format!("the body cannot be read: {error}"),
                )),
            })?;
            protocol::decode_post(&parts.headers, &body).map_err(refuse)?
        }
    };
    // 4. GET runs queries only (405 for a mutation). Only a query within the token limit is parsed here;
    //    a longer one is refused before parsing during admission, which also refuses persisted
    //    mutations over GET.
    if crate::limits::check_tokens(&request.query, state.limits.max_tokens, 32).is_ok() {
        protocol::check_method(&parts.method, &mut request).map_err(refuse)?;
    }
    // 5. Execution (admission first: limits, cost, the key's budget; see `graphql::admission`), and the
    //    answer in the negotiated media type, with the key's budget in its headers.
    let meter =
        viewer.key_id.and_then(|key| Meter::new(state.db.clone(), key, &state.limits, parts.method == Method::GET));
    if let Some(meter) = &meter {
        request = request.data(meter.clone());
    }
    let mut answer =
        protocol::encode(media, graphql::execute(&state.schema, request, &state.db, &viewer, &state.reference).await);
    if let Some(meter) = &meter {
        gate::decorate(&mut answer, meter);
    }
    Ok(answer)
}

/// The viewer the request's key names: a refusal (401) without a valid key, the database's error when
/// the key store cannot be read.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Viewer, Result<Refusal, AppError>> {
    // A header that is not valid text is present but unusable: invalid, not missing.
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.to_str().unwrap_or_default());
    auth::authenticate(&state.db, &state.keys, authorization).await.map_err(|failure| match failure {
        AuthFailure::Denied(reason) => {
            Ok(Refusal::new(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, reason.message()))
        }
        AuthFailure::Error(error) => Err(error),
    })
}

async fn schema_sdl(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], state.schema.sdl())
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
