//! Admission: what happens to a GraphQL request between the HTTP layer and execution, as an
//! async-graphql extension registered on the schema.
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
//!    ([`crate::ratelimit`]).
//!
//! Validation is skipped for a document already validated with the same operation and variables (its
//! result is cached). After execution the actual cost is computed from the answer, the unused points
//! are given back, `extensions.cost` is added, and an answer larger than `--max-response-bytes` is
//! replaced by a `RESPONSE_TOO_LARGE` error.
//!
//! The same extension codes the errors raised before execution ([`super::request_errors`]) and notes the
//! operation and its complexity for the access log ([`crate::ops::operation`]): one extension rather than
//! three, since every field passes through each.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables};
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::cost::{CostModel, Walk};
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
    /// Validation results by SHA-256 of (query, operation name, variables).
    validated: Cache<[u8; 32], ValidationResult>,
    /// Persisted query texts by hash, as registered in the database.
    persisted: Cache<String, Arc<str>>,
    /// Documents parsed and validated so far (what the caches saved shows in how little these grow).
    parsed: AtomicU64,
    validations: AtomicU64,
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
            validated: Mutex::new(size.map(LruCache::new)),
            persisted: Mutex::new(size.map(LruCache::new)),
            parsed: AtomicU64::new(0),
            validations: AtomicU64::new(0),
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

/// The extension factory registered on the schema (see [`super::schema`]); clones share their caches.
#[derive(Clone)]
pub struct Admission(Arc<Gate>);

/// How often a schema's admission parsed and validated documents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    pub parsed: u64,
    pub validations: u64,
}

impl Admission {
    pub fn new(config: ApiConfig) -> Admission {
        Admission(Arc::new(Gate::new(config)))
    }

    /// Documents parsed and validated so far (cache hits excluded).
    pub fn work(&self) -> Work {
        Work { parsed: self.0.parsed.load(Ordering::Relaxed), validations: self.0.validations.load(Ordering::Relaxed) }
    }
}

impl ExtensionFactory for Admission {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Admit { gate: self.0.clone(), admitted: Mutex::default(), wanted: Mutex::default() })
    }
}

/// What admission learnt about one request, for after its execution.
#[derive(Default)]
struct Admitted {
    document: Option<Arc<ExecutableDocument>>,
    operation_name: Option<String>,
    variables: Variables,
    requested: Option<u64>,
    validation_key: Option<[u8; 32]>,
    meter: Option<Meter>,
}

struct Admit {
    gate: Arc<Gate>,
    admitted: Mutex<Admitted>,
    /// The operation name the request asked for, to note the operation it runs once parsed.
    wanted: Mutex<Option<String>>,
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
        let shape = limits::measure(&document, operation_name.as_deref()).map_err(refuse)?;
        limits::check_shape(&shape, limits, gate.config.max_depth, gate.config.max_complexity).map_err(refuse)?;
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

        let mut key = Sha256::new();
        key.update(request.query.as_bytes());
        key.update([0]);
        key.update(operation_name.as_deref().unwrap_or_default().as_bytes());
        key.update([0]);
        key.update(serde_json::to_vec(&request.variables).unwrap_or_default());
        self.admitted().validation_key = Some(key.finalize().into());
        request.set_parsed_query((*document).clone());
        request.data.insert(RequestedCost(requested));
        Ok(request)
    }

    /// After execution: the actual cost, the refund, the size limit, `extensions.cost`.
    async fn settle(&self, mut response: Response) -> Response {
        let admitted = std::mem::take(&mut *self.admitted());
        let Some(requested) = admitted.requested else { return response };
        let executed = admitted.validation_key.is_some();
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

/// The schema's one extension. async-graphql resolves every field of a schema with extensions through
/// their chain, one boxed future per extension and field (a schema without any takes a faster path):
/// admission, the coding of request errors ([`super::request_errors`]) and the notes for the access log
/// ([`crate::ops::operation`]) therefore share this one, in that order.
#[async_trait::async_trait]
impl Extension for Admit {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        self.settle(response).await
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = self.admit(request).await?;
        lock(&self.wanted).clone_from(&request.operation_name);
        let request = next.run(ctx, request).await?;
        super::request_errors::check(request)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let wanted = lock(&self.wanted).clone();
        crate::ops::operation::note_document(&document, wanted.as_deref());
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let key = self.admitted().validation_key;
        if let Some(key) = key
            && let Some(result) = lock(&self.gate.validated).as_mut().and_then(|cache| cache.get(&key).copied())
        {
            return Ok(result);
        }
        self.gate.validations.fetch_add(1, Ordering::Relaxed);
        let result = next.run(ctx).await.map_err(super::request_errors::code_validation)?;
        crate::ops::operation::note_complexity(result.complexity);
        if let Some(key) = key
            && let Some(cache) = lock(&self.gate.validated).as_mut()
        {
            cache.put(key, result);
        }
        Ok(result)
    }
}
