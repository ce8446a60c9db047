//! Admission: what happens to a GraphQL request around its execution, in the request's own code path
//! ([`Admission::run`]) rather than as an async-graphql extension: async-graphql resolves every field of
//! a schema that has any extension through the extensions' chain (one boxed future per extension and
//! field, a type lookup by name), and a schema without one takes its faster path.
//!
//! In order, before anything is executed and before any SQL statement of its own:
//! 1. a persisted-query hash is resolved to its text (memory, then the database), or a query sent with
//!    its hash is verified (see [`crate::persisted`]);
//! 2. the text's tokens and bracket nesting are counted ([`crate::limits::check_tokens`]);
//! 3. the document is parsed, or taken from the in-process cache of parsed documents;
//! 4. its expanded shape (depth, fields, aliases, directives) is measured with memoised fragments and
//!    checked ([`crate::limits`]);
//! 5. its cost is computed from the schema and the variables, statistics groups estimated, and both
//!    checked ([`super::cost`]);
//! 6. a newly sent persisted query is registered, and the key's bucket is charged the requested cost
//!    ([`crate::ratelimit`]);
//! 7. the operation is chosen and its variables checked, each failure with its code
//!    ([`super::request_errors`]), and the operation noted for the access log ([`crate::ops::operation`]).
//!
//! async-graphql then validates the document (on every request: without an extension there is no hook
//! to skip it) and executes it; validation errors get their codes here. After execution the actual
//! cost is computed from the answer, the unused points are given back, `extensions.cost` is added, and
//! an answer larger than `--max-response-bytes` is replaced by a `RESPONSE_TOO_LARGE` error.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{EmptySubscription, Request, Response, Schema, ServerError, ServerResult, Value, Variables};
use lru::LruCache;

use super::cost::{CostModel, Walk};
use super::{MutationRoot, QueryRoot};
use crate::config::ApiConfig;
use crate::error::AppError;
use crate::limits::{self, Refusal, code};
use crate::ratelimit::{ChargeError, Meter};
use crate::service::scope::Scoped;

/// Query texts longer than this are parsed every time rather than kept in the cache.
const MAX_CACHED_QUERY_BYTES: usize = 64 * 1024;

/// The requested cost of the running query, for the `rateLimit` field.
#[derive(Debug, Clone, Copy)]
pub struct RequestedCost(pub u64);

type Cache<K, V> = Mutex<Option<LruCache<K, V>>>;

/// What every request's admission shares: the limits, the cost model and the caches.
pub struct Gate {
    config: ApiConfig,
    model: Arc<CostModel>,
    /// Parsed documents by query text.
    documents: Cache<String, Arc<ExecutableDocument>>,
    /// Persisted query texts by hash, as registered in the database.
    persisted: Cache<String, Arc<str>>,
    /// Documents parsed so far (what the cache saved shows in how little this grows).
    parsed: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gate {
    fn new(config: ApiConfig) -> Gate {
        let size = NonZeroUsize::new(config.limits.document_cache_size);
        Gate {
            model: CostModel::shared(),
            documents: Mutex::new(size.map(LruCache::new)),
            persisted: Mutex::new(size.map(LruCache::new)),
            parsed: AtomicU64::new(0),
            config,
        }
    }

    /// The parsed document of `query`, from the cache when it was parsed before.
    fn document(&self, query: &str) -> ServerResult<Arc<ExecutableDocument>> {
        if let Some(cache) = lock(&self.documents).as_mut()
            && let Some(document) = cache.get(query)
        {
            return Ok(document.clone());
        }
        self.parsed.fetch_add(1, Ordering::Relaxed);
        let document = Arc::new(async_graphql::parser::parse_query(query)?);
        if query.len() <= MAX_CACHED_QUERY_BYTES
            && let Some(cache) = lock(&self.documents).as_mut()
        {
            cache.put(query.to_owned(), document.clone());
        }
        Ok(document)
    }

    fn remember_persisted(&self, hash: &str, query: &str) {
        if query.len() <= MAX_CACHED_QUERY_BYTES
            && let Some(cache) = lock(&self.persisted).as_mut()
        {
            cache.put(hash.to_owned(), Arc::from(query));
        }
    }

    fn known_persisted(&self, hash: &str) -> Option<Arc<str>> {
        lock(&self.persisted).as_mut().and_then(|cache| cache.get(hash).cloned())
    }
}

/// The admission of one schema (see [`super::schema`]); clones share their caches.
#[derive(Clone)]
pub struct Admission(Arc<Gate>);

/// How often a schema's admission parsed documents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    pub parsed: u64,
}

impl Admission {
    pub fn new(config: ApiConfig) -> Admission {
        Admission(Arc::new(Gate::new(config)))
    }

    /// Documents parsed so far (cache hits excluded).
    pub fn work(&self) -> Work {
        Work { parsed: self.0.parsed.load(Ordering::Relaxed) }
    }

    /// Admits `request` (steps 1 to 7 of the module's list), lets `schema` validate and execute it, and
    /// settles its cost. Every answer, a refusal included, is settled, so that `extensions.cost` is
    /// there whenever the cost was computed.
    pub async fn run(&self, schema: &Schema<QueryRoot, MutationRoot, EmptySubscription>, request: Request) -> Response {
        let admit = Admit { gate: self.0.clone(), admitted: Mutex::default() };
        let response = match admit.admit(request).await.and_then(super::request_errors::check) {
            Ok(request) => coded_validation(schema.execute(request).await),
            Err(error) => Response::from_errors(vec![error]),
        };
        admit.settle(response).await
    }
}

/// Codes the errors of a request that did not execute (async-graphql answers a document that fails
/// validation that way).
fn coded_validation(mut response: Response) -> Response {
    if super::request_errors::is_request_error(&response) {
        response.errors = super::request_errors::code_validation(std::mem::take(&mut response.errors));
    }
    response
}

/// What admission learnt about one request, for after its execution.
#[derive(Default)]
struct Admitted {
    document: Option<Arc<ExecutableDocument>>,
    operation_name: Option<String>,
    variables: Variables,
    requested: Option<u64>,
    /// Whether the request was handed to execution (only then are unused points given back).
    executed: bool,
    meter: Option<Meter>,
}

/// One request's admission.
struct Admit {
    gate: Arc<Gate>,
    admitted: Mutex<Admitted>,
}

fn data<T: Clone + 'static>(data: &async_graphql::Data) -> Option<T> {
    data.get(&std::any::TypeId::of::<T>()).and_then(|value| value.downcast_ref::<T>()).cloned()
}

/// An error without a position (it is about the whole request), from an [`AppError`].
///
/// Every admission error is a refusal (a limit, the cost, the key's budget, an unknown persisted query):
/// counted in the metrics by its code.
fn app_error(error: AppError) -> ServerError {
    crate::ops::metrics::refused(error.code());
    let error: async_graphql::Error = error.into();
    let mut server = ServerError::new(error.message, None);
    server.extensions = error.extensions;
    server
}

/// The variables with the operation's defaults filled in where a variable was not sent.
fn with_defaults(document: &ExecutableDocument, operation_name: Option<&str>, variables: &Variables) -> Variables {
    let mut all = variables.clone();
    for operation in limits::chosen_operations(document, operation_name) {
        for definition in &operation.variable_definitions {
            let name = &definition.node.name.node;
            if !all.contains_key(name)
                && let Some(default) = &definition.node.default_value
            {
                all.insert(name.clone(), default.node.clone());
            }
        }
    }
    all
}

impl Admit {
    fn admitted(&self) -> MutexGuard<'_, Admitted> {
        lock(&self.admitted)
    }

    async fn admit(&self, mut request: Request) -> ServerResult<Request> {
        let gate = &self.gate;
        let limits = &gate.config.limits;
        let meter: Option<Meter> = data(&request.data);
        let scoped: Option<Scoped> = data(&request.data);
        self.admitted().meter = meter.clone();

        // 1. Persisted queries.
        let hash = crate::persisted::requested_hash(&request.extensions).map_err(Refusal::into_server_error)?;
        let mut register = None;
        if let Some(hash) = &hash {
            if request.query.trim().is_empty() {
                let text = match gate.known_persisted(hash) {
                    Some(text) => Some(text.to_string()),
                    None => match &scoped {
                        Some(scoped) if crate::persisted::well_formed(hash) => {
                            crate::persisted::find(scoped.db(), hash).await.map_err(app_error)?
                        }
                        _ => None,
                    },
                };
                let text = text.ok_or_else(|| crate::persisted::not_found().into_server_error())?;
                gate.remember_persisted(hash, &text);
                request.query = text;
            } else {
                crate::persisted::verify(&request.query, hash).map_err(Refusal::into_server_error)?;
                if gate.known_persisted(hash).is_none() {
                    register = Some(hash.clone());
                }
            }
        }

        // 2. to 5. Limits and cost, before any statement.
        let refuse = Refusal::into_server_error;
        limits::check_tokens(&request.query, limits.max_tokens, gate.config.max_depth).map_err(refuse)?;
        let document = gate.document(&request.query).map_err(|mut error| {
            error.extensions.get_or_insert_with(Default::default).set("code", crate::error::code::GRAPHQL_PARSE_FAILED);
            error
        })?;
        let operation_name = request.operation_name.clone();
        crate::ops::operation::note_document(&document, operation_name.as_deref());
        let shape = limits::measure(&document, operation_name.as_deref()).map_err(refuse)?;
        limits::check_shape(&shape, limits, gate.config.max_depth, gate.config.max_complexity).map_err(refuse)?;
        // The complexity async-graphql computes counts the same fields.
        crate::ops::operation::note_complexity(usize::try_from(shape.fields).unwrap_or(usize::MAX));
        let variables = with_defaults(&document, operation_name.as_deref(), &request.variables);
        let walk = Walk {
            document: &document,
            variables: &variables,
            default_page_size: u64::from(gate.config.default_page_size),
            max_stats_groups: limits.max_stats_groups,
        };
        let requested = gate.model.requested(&walk, operation_name.as_deref()).map_err(refuse)?;
        {
            let mut admitted = self.admitted();
            admitted.requested = Some(requested);
            admitted.document = Some(document.clone());
            admitted.operation_name = operation_name.clone();
            admitted.variables = variables.clone();
        }
        if requested > limits.max_query_cost {
            return Err(refuse(Refusal::over(
                code::MAX_COST_EXCEEDED,
                "the query could cost this many points",
                requested,
                limits.max_query_cost,
                " (--max-query-cost); ask for smaller pages or fewer nested connections",
            )));
        }
        if let Some(meter) = &meter
            && meter.is_get()
            && limits::chosen_operations(&document, operation_name.as_deref())
                .iter()
                .any(|operation| operation.ty != OperationType::Query)
        {
            meter.set_status(405);
            return Err(refuse(Refusal::new("METHOD_NOT_ALLOWED", "mutations must be sent with POST")));
        }

        // 6. Registration and the charge: the first statements this request runs.
        if let (Some(hash), Some(scoped)) = (&register, &scoped) {
            crate::persisted::store(scoped.db(), hash, &request.query).await.map_err(app_error)?;
            gate.remember_persisted(hash, &request.query);
        }
        if let Some(meter) = &meter {
            match meter.charge(requested).await {
                Ok(()) => {}
                Err(ChargeError::Refused(refusal)) => return Err(refuse(refusal)),
                Err(ChargeError::Error(error)) => return Err(app_error(error)),
            }
        }

        self.admitted().executed = true;
        request.set_parsed_query((*document).clone());
        request.data.insert(RequestedCost(requested));
        Ok(request)
    }

    /// After execution: the actual cost, the refund, the size limit, `extensions.cost`.
    async fn settle(&self, mut response: Response) -> Response {
        let admitted = std::mem::take(&mut *self.admitted());
        let Some(requested) = admitted.requested else { return response };
        let executed = admitted.executed;
        let actual = match (&admitted.document, executed) {
            (Some(document), true) => {
                let walk = Walk {
                    document,
                    variables: &admitted.variables,
                    default_page_size: u64::from(self.gate.config.default_page_size),
                    max_stats_groups: self.gate.config.limits.max_stats_groups,
                };
                self.gate.model.actual(&walk, admitted.operation_name.as_deref(), &response.data).min(requested)
            }
            _ => 0,
        };
        let mut throttle = None;
        if let Some(meter) = &admitted.meter {
            if executed && let Err(error) = meter.refund(requested - actual).await {
                tracing::warn!(error = %error.detail(), "could not give back unused points");
            }
            throttle = meter.throttle_status();
        }
        let max = self.gate.config.limits.max_response_bytes;
        let size = serialized_size(&response.data).saturating_add(serialized_size(&response.errors));
        if size > max {
            tracing::warn!(size, max, "answer withheld: larger than --max-response-bytes");
            let refusal = Refusal::over(
                code::RESPONSE_TOO_LARGE,
                "the answer has this many bytes",
                size as u64,
                max as u64,
                " (--max-response-bytes); ask for smaller pages",
            );
            let extensions = std::mem::take(&mut response.extensions);
            response = Response::from_errors(vec![refusal.into_server_error()]);
            response.extensions = extensions;
        }
        let mut cost = serde_json::json!({ "requestedQueryCost": requested, "actualQueryCost": actual });
        if let Some(status) = throttle {
            cost["throttleStatus"] = serde_json::json!({
                "maximumAvailable": status.maximum_available,
                "currentlyAvailable": status.currently_available,
                "restoreRate": status.restore_rate,
            });
        }
        if let Ok(cost) = Value::from_json(cost) {
            response.extensions.insert("cost".to_owned(), cost);
        }
        response
    }
}

/// Bytes `value` takes as JSON, counted without building the text.
fn serialized_size(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
