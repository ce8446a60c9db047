//! The one error type of psm-api, and how each kind of error reaches a GraphQL client.
//!
//! Services return `Result<T, AppError>`; resolvers return `async_graphql::Result<T>` and use `?`, which
//! converts through [`ErrorExtensions::extend`] (the one `From` impl below), so that every error a
//! client sees carries `extensions.code`. `AppError` deliberately does not implement `Display`:
//! async-graphql converts any `Display` error into a bare message without a code, and that must not
//! compile. Database and internal errors are logged in full and shown only as "internal error" with
//! a reference id.

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
            AppError::Database(_) | AppError::Internal(_) => "INTERNAL",
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
        let message = match self {
            AppError::Database(_) | AppError::Internal(_) => {
                let reference = uuid::Uuid::now_v7();
                tracing::error!(%reference, error = %self.detail(), "internal error while serving a request");
                format!("internal error (reference {reference})")
            }
            other => other.detail(),
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
