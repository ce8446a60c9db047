//! The facts of the request being served: its id, the GraphQL operation it runs, the key it runs as, the
//! statements it sends, its cost and the error codes of its answer. The [`access`](super::access) layer
//! creates one per request and makes it current for everything the request runs (a tokio task-local),
//! so that the executor, the error conversion and the database callback can note facts without every
//! function passing them on; the same layer reads them to write the access log and the metrics.
//!
//! A request's work all runs in the request's own task: DataLoader batches are driven inside it
//! ([`crate::graphql::batch`]) and no request spawns tasks, so nothing of a request outlives it and
//! everything it does is counted here. Outside a request (tests calling the schema directly, the
//! sweeper, the command line) there is no current context, and noting anything does nothing.
//!
//! Nothing personal is noted: no variables, no query text, no values, only names, counts and codes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::faults::Fault;

tokio::task_local! {
    static CURRENT: Arc<RequestContext>;
}

/// What is known about one request.
#[derive(Debug)]
pub struct RequestContext {
    /// The request id (see [`super::request_id`]).
    pub id: String,
    statements: AtomicU64,
    facts: Mutex<Facts>,
}

/// What a request noted while it ran.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// The GraphQL operation's name; `None` for an anonymous operation or one never parsed.
    pub operation: Option<String>,
    /// `query`, `mutation` or `subscription`, once the document parsed.
    pub operation_type: Option<&'static str>,
    /// The complexity async-graphql computed while validating.
    pub complexity: Option<usize>,
    /// The cost the request was charged, when a limit counts one.
    pub cost: Option<u64>,
    /// The visible prefix of the API key the request ran as.
    pub key_prefix: Option<String>,
    /// The `extensions.code` of every error of the answer, in order (duplicates dropped).
    pub codes: Vec<String>,
}

impl RequestContext {
    pub fn new(id: String) -> Self {
        RequestContext { id, statements: AtomicU64::new(0), facts: Mutex::default() }
    }

    /// Statements the request sent to the database so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// A copy of what the request noted.
    pub fn facts(&self) -> Facts {
        self.facts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The database fault the answer reports, if any (the worst first: unavailable, busy, timeout).
    pub fn fault(&self) -> Option<Fault> {
        let facts = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        let faults: Vec<Fault> = facts.codes.iter().filter_map(|code| Fault::from_code(code)).collect();
        [Fault::Unavailable, Fault::Busy, Fault::Timeout].into_iter().find(|fault| faults.contains(fault))
    }

    fn with_facts(&self, change: impl FnOnce(&mut Facts)) {
        change(&mut self.facts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Notes one error code of the answer.
    pub fn note_code(&self, code: &str) {
        self.with_facts(|facts| {
            if !facts.codes.iter().any(|known| known == code) {
                facts.codes.push(code.to_owned());
            }
        });
    }
}

/// Runs `work` with `context` as the current request.
pub async fn scope<F: Future>(context: Arc<RequestContext>, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// The current request, if there is one.
pub fn current() -> Option<Arc<RequestContext>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// The id of the current request, if there is one.
pub fn request_id() -> Option<String> {
    CURRENT.try_with(|context| context.id.clone()).ok()
}

/// Counts one statement sent to the database (called by the database callback of
/// [`super::metrics::instrument`]).
pub fn count_statement() {
    let _ = CURRENT.try_with(|context| context.statements.fetch_add(1, Ordering::Relaxed));
}

/// Notes the operation the request runs: its name (when it has one) and its type.
pub fn note_operation(name: Option<&str>, operation_type: &'static str) {
    let _ = CURRENT.try_with(|context| {
        context.with_facts(|facts| {
            facts.operation = name.map(str::to_owned);
            facts.operation_type = Some(operation_type);
        })
    });
}

/// Notes the complexity async-graphql computed for the operation.
pub fn note_complexity(complexity: usize) {
    let _ = CURRENT.try_with(|context| context.with_facts(|facts| facts.complexity = Some(complexity)));
}

/// Notes the cost a limit charged the request (for the access log).
pub fn note_cost(cost: u64) {
    let _ = CURRENT.try_with(|context| context.with_facts(|facts| facts.cost = Some(cost)));
}

/// Notes the prefix of the key the request runs as.
pub fn note_key(prefix: Option<&str>) {
    let _ = CURRENT.try_with(|context| context.with_facts(|facts| facts.key_prefix = prefix.map(str::to_owned)));
}

/// Notes one error code of the answer.
pub fn note_code(code: &str) {
    let _ = CURRENT.try_with(|context| context.note_code(code));
}
