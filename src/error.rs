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
            | AppError::Unauthenticated(message) => message.clone(),
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
