//! The one error type of psm-api, and how each kind of error reaches a GraphQL client.
//!
//! Services return `Result<T, AppError>`; resolvers return `async_graphql::Result<T>` and use `?`, which
//! converts through [`ErrorExtensions::extend`] (the one `From` impl below), so that every error a
//! client sees carries `extensions.code`. `AppError` deliberately does not implement `Display`:
//! async-graphql converts any `Display` error into a bare message without a code, and that must not
//! compile. Database and internal errors are logged in full and shown only as "internal error" with
//! a reference (the request id). Database faults (an outage, a busy database, a statement timeout) get
//! their own codes and messages (see [`crate::ops::faults`]).

use async_graphql::ErrorExtensions;

/// Everything that can go wrong while serving a request.
#[derive(Debug)]
pub enum AppError {
    /// The input is malformed or out of range. `field` names the offending argument or input field.
    BadInput { field: Option<String>, message: String },
    /// The object does not exist (or the caller may not know that it exists).
    NotFound(String),
    /// The request conflicts with the current state (stale version, illegal transition, duplicate).
    Conflict(String),
    /// The caller is known but may not do or read this.
    Forbidden(String),
    /// The caller is not known (no key, or a key that is not valid).
    Unauthenticated(String),
    /// The key's statistics budget for the day is used up (HTTP 429 semantics): `budget` cells a day,
    /// `cost` asked for, available again at `reset_at`.
    BudgetExhausted { message: String, reset_at: chrono::DateTime<chrono::Utc>, budget: u64, cost: u64 },
    /// A database error; its details are logged, never shown.
    Database(sea_orm::DbErr),
    /// Any other internal failure; its details are logged, never shown.
    Internal(String),
}

impl AppError {
    /// A `BAD_USER_INPUT` error about one named input field.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput { field: Some(field.into()), message: message.into() }
    }

    /// The `extensions.code` clients see.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::BudgetExhausted { .. } => "STATS_BUDGET_EXHAUSTED",
            // An outage, a busy database or a statement timeout has its own code (see `ops::faults`).
            AppError::Database(error) => {
                crate::ops::faults::classify(error).map_or("INTERNAL", |cause| cause.fault().code())
            }
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The full message, internal details included: for logs, never for clients.
    pub fn detail(&self) -> String {
        match self {
            AppError::BadInput { message, .. }
            | AppError::NotFound(message)
            | AppError::Conflict(message)
            | AppError::Forbidden(message)
            | AppError::Unauthenticated(message)
            | AppError::BudgetExhausted { message, .. } => message.clone(),
            AppError::Database(error) => format!("database error: {error}"),
            AppError::Internal(message) => format!("internal error: {message}"),
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        AppError::Database(error)
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let fault = match self {
            AppError::Database(error) => crate::ops::faults::classify(error),
            _ => None,
        };
        let message = match (self, fault) {
            (_, Some(cause)) => {
                // Expected during an outage, and many at once: a warning, counted in the metrics.
                tracing::warn!(error = %self.detail(), cause = cause.label(), "database fault while serving a request");
                crate::ops::metrics::database_fault(cause);
                cause.fault().message().to_owned()
            }
            (AppError::Database(_) | AppError::Internal(_), None) => {
                // The request id ties the answer to the request's log lines; outside a request, a new id.
                let reference = crate::ops::context::request_id().unwrap_or_else(crate::ops::request_id::generate);
                tracing::error!(%reference, error = %self.detail(), "internal error while serving a request");
                format!("internal error (reference {reference})")
            }
            (other, None) => other.detail(),
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", self.code());
            if let AppError::BadInput { field: Some(field), .. } = self {
                extensions.set("field", field.as_str());
            }
            if let AppError::BudgetExhausted { reset_at, budget, cost, .. } = self {
                extensions.set("status", 429);
                extensions.set("resetAt", reset_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                extensions.set("budgetCells", *budget);
                extensions.set("requestCells", *cost);
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        error.extend()
    }
}

/// Result of services and helpers.
pub type AppResult<T> = Result<T, AppError>;

/// The `extensions.code` values a client can switch on, in the conventions GraphQL clients know
/// (Apollo Server's for the request itself, the STYLE list for the domain). README has the table.
pub mod code {
    /// The document is not GraphQL (a syntax error). Fix the query.
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The document is GraphQL but not valid against the schema (an unknown field, a missing
    /// argument, a fragment on the wrong type). Fix the query.
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// The operation to run cannot be chosen: several operations and no `operationName`, or an
    /// `operationName` the document does not have.
    pub const OPERATION_RESOLUTION_FAILURE: &str = "OPERATION_RESOLUTION_FAILURE";
    /// A value is wrong: a variable missing or of the wrong type, an argument out of range, an id or
    /// cursor this API did not issue. Fix the value, not the query.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// An automatic persisted query (Apollo's protocol) names a hash this server does not hold:
    /// send it again with its `query`.
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// No valid API key.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The key may not read or do this.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// No such object, or not one the key may know of.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The request conflicts with the current state.
    pub const CONFLICT: &str = "CONFLICT";
    /// Too many requests for the key's budget; retry after `Retry-After` seconds.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// Shopify's name for the same refusal, if a budget is counted in cost.
    pub const THROTTLED: &str = "THROTTLED";
    /// The server failed; the message carries a reference for its log.
    pub const INTERNAL: &str = "INTERNAL";
    /// The HTTP request is malformed: its body is not JSON, it is a batch, `query` is missing, or a
    /// parameter has the wrong type.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// A POST without `Content-Type: application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// An `Accept` header that allows neither `application/graphql-response+json` nor `application/json`.
    pub const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
    /// The method is not served on this path (or a mutation over GET).
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
}
