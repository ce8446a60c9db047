//! The GraphQL schema: types, root fields, loaders and the pagination machinery.
//!
//! # Layout
//! - [`admission`]: what happens before execution (persisted queries, limits, cost, the rate-limit
//!   charge, cached documents) and after it (actual cost, refund, `extensions.cost`).
//! - [`batch`]: runs each request's loader batches in the request's own task (deterministic batches).
//! - [`connection`]: Relay connections over keyset cursors, root and nested.
//! - [`cost`]: the cost model: points a query may cost, and did cost.
//! - [`disclosure`]: the request side of the statistics' disclosure control (exact or perturbed,
//!   whole days, no single-record filters, the key's budget, the audit record).
//! - [`guard`]: the access rules applied to fields and inputs (personal data, free text, actor labels).
//! - [`ids`]: opaque global ids.
//! - [`loaders`]: DataLoaders through which every relation is followed.
//! - [`types`]: one module per domain noun (object type, filter, orderBy).
//! - [`query`]: the root Query type, one object per noun merged into [`QueryRoot`].
//! - [`request_errors`]: the codes of errors raised before execution (parse, validation, variables).
//! - [`mutation`]: the root Mutation type; each mutation decodes its arguments and runs a command of
//!   [`service`](crate::service).

pub mod admission;
pub mod batch;
pub mod connection;
pub mod cost;
pub mod disclosure;
pub mod guard;
pub mod ids;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod request_errors;
pub mod types;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use crate::audit::{self, ReadLog};
use crate::auth::Viewer;
use crate::config::ApiConfig;
use crate::graphql::batch::Batches;
use crate::graphql::connection::CursorKey;
use crate::graphql::loaders::Loaders;
use crate::service::reference::Reference;
use crate::service::scope::Scoped;
pub use mutation::MutationRoot;
pub use query::QueryRoot;

/// The schema served by psm-api, with its admission (see [`admission`]).
#[derive(Clone)]
pub struct PsmSchema {
    schema: Schema<QueryRoot, MutationRoot, EmptySubscription>,
    admission: admission::Admission,
}

impl PsmSchema {
    /// The SDL of the schema.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }
}

/// The schema without data: enough to print the SDL.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .register_output_type::<query::Node>()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The schema bound to a database, sealing cursors with `cursor_key` (from [`crate::secret`]). Loaders
/// are created per request (see [`request_data`]) so that no cached row outlives the request that read it.
pub fn schema(config: ApiConfig, cursor_key: CursorKey) -> PsmSchema {
    let admission = admission::Admission::new(config.clone());
    schema_with_admission(config, cursor_key, &admission)
}

/// [`schema`] with the given admission (whose caches it then shares, and whose work can be read).
/// No async-graphql extension is registered: admission runs around execution instead (see
/// [`admission`]), so that fields resolve on async-graphql's fast path.
pub fn schema_with_admission(config: ApiConfig, cursor_key: CursorKey, admission: &admission::Admission) -> PsmSchema {
    let schema = schema_builder()
        .limit_depth(config.max_depth)
        .limit_complexity(config.max_complexity)
        .data(config)
        .data(cursor_key)
        .finish();
    PsmSchema { schema, admission: admission.clone() }
}

/// Adds the per-request data every resolver needs: the viewer, the connection (and the process's
/// reference data), the log of personal
/// data read, and the request's loaders (made on first use, scoped to the viewer), whose batches run
/// through the returned [`Batches`].
fn request_data(
    request: async_graphql::Request,
    db: &DatabaseConnection,
    viewer: &Viewer,
    reference: &Reference,
) -> (async_graphql::Request, Batches, Arc<ReadLog>) {
    let batches = Batches::default();
    let reads = Arc::new(ReadLog::default());
    let scoped = Scoped::new(db.clone(), viewer.clone()).with_reference(reference);
    let loaders = Loaders::new(&scoped, &batches);
    let request = request.data(loaders).data(viewer.clone()).data(reads.clone()).data(scoped);
    (request, batches, reads)
}

/// Executes a request against the database as `viewer`. Errors raised before execution get their codes
/// from [`request_errors`]; resolver errors carry theirs. Any error still without a code (one that
/// async-graphql raised while coercing a value during execution) is the client's to fix, so it gets
/// `BAD_USER_INPUT`.
///
/// The personal data the response holds is recorded in the audit trail before it is returned; if that
/// record cannot be written, the response is replaced by an `INTERNAL` error (or the database fault's
/// code, when the database is the reason).
///
/// Every error carries the request's id in `extensions.requestId` when served over HTTP, and its code
/// is noted for the access log, the metrics and the HTTP status (see [`crate::ops::access`]).
pub async fn execute(
    schema: &PsmSchema,
    request: async_graphql::Request,
    db: &DatabaseConnection,
    viewer: &Viewer,
    reference: &Reference,
) -> async_graphql::Response {
    crate::ops::context::note_key(viewer.key_prefix.as_deref());
    let (request, batches, reads) = request_data(request, db, viewer, reference);
    let mut response = batch::drive(batches, schema.admission.run(&schema.schema, request)).await;
    record_denials(&response, &reads);
    if let Err(error) = audit::flush_reads(db, viewer, &reads).await {
        crate::ops::metrics::audit_write_failed("read");
        // No location: the failure is the server's, not a place in the document.
        let error: async_graphql::Error = error.into();
        let mut error_out = async_graphql::ServerError::new(error.message, None);
        error_out.extensions = error.extensions;
        response = async_graphql::Response::from_errors(vec![error_out]);
    }
    let request_id = crate::ops::context::request_id();
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
        // ops: the request id ties an error to the request's log lines.
        if let Some(id) = &request_id {
            extensions.set("requestId", id.as_str());
        }
        if let Some(async_graphql::Value::String(code)) = extensions.get("code") {
            crate::ops::context::note_code(code);
        }
    }
    response
}

/// Notes every refusal in the response (a `FORBIDDEN` field, a `NOT_FOUND` object) in the read log, so
/// that the audit trail shows probing: one entry per code and field path, list indexes dropped.
fn record_denials(response: &async_graphql::Response, reads: &ReadLog) {
    for error in &response.errors {
        let code = error.extensions.as_ref().and_then(|extensions| extensions.get("code"));
        let code = match code {
            Some(async_graphql::Value::String(code)) if code == "FORBIDDEN" || code == "NOT_FOUND" => code,
            _ => continue,
        };
        let path: Vec<String> = error
            .path
            .iter()
            .filter_map(|segment| match segment {
                async_graphql::PathSegment::Field(name) => Some(name.clone()),
                async_graphql::PathSegment::Index(_) => None,
            })
            .collect();
        reads.record_denial(code, &path.join("."));
    }
}
