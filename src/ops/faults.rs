//! Database faults, and the answers they get. A fault is not the client's doing and not a bug: the
//! database is down or unreachable, busy, or too slow. Each kind has its own `extensions.code` and HTTP
//! status, the same wherever the request was when the fault hit it (the key check or execution):
//!
//! | code | HTTP | when |
//! |---|---|---|
//! | `DATABASE_UNAVAILABLE` | 503, `Retry-After: 1` | no connection within the acquire timeout (the database is down, unreachable, or every connection stayed busy), a connection lost, the server shutting down or refusing connections |
//! | `DATABASE_BUSY` | 503, `Retry-After: 1` | SQLite: another connection held the lock longer than the busy timeout |
//! | `TIMEOUT` | 504 | the request ran out of its time limit, or PostgreSQL cancelled a statement at `statement_timeout` |
//!
//! 503 says "try again shortly, perhaps elsewhere": load balancers may retry it on another replica. 504
//! says the work itself took too long: retrying the same request is likely to take as long again, so
//! it is kept apart from 503 (retry policies usually treat them differently).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, RuntimeErr};
use serde_json::{Value, json};

use crate::error::AppError;

/// A kind of database fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The database cannot be reached, or no connection became free in time.
    Unavailable,
    /// SQLite's lock stayed taken longer than the busy timeout.
    Busy,
    /// The request or one of its statements ran out of time.
    Timeout,
}

impl Fault {
    /// The `extensions.code` clients see.
    pub fn code(self) -> &'static str {
        match self {
            Fault::Unavailable => "DATABASE_UNAVAILABLE",
            Fault::Busy => "DATABASE_BUSY",
            Fault::Timeout => "TIMEOUT",
        }
    }

    /// The fault an `extensions.code` names.
    pub fn from_code(code: &str) -> Option<Fault> {
        [Fault::Unavailable, Fault::Busy, Fault::Timeout].into_iter().find(|fault| fault.code() == code)
    }

    /// The HTTP status of an answer with this fault.
    pub fn status(self) -> StatusCode {
        match self {
            Fault::Unavailable | Fault::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Fault::Unavailable => "the database is unavailable; retry shortly (a write with the same idempotencyKey)",
            Fault::Busy => "the database is busy; retry shortly (a write with the same idempotencyKey)",
            Fault::Timeout => "the request took too long and was stopped",
        }
    }

    /// Sets the status (and for 503, `Retry-After`) of `response` to this fault's.
    pub fn apply(self, response: &mut Response) {
        *response.status_mut() = self.status();
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
    }
}

/// What went wrong, finer than [`Fault`], for the metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No connection within the acquire timeout: the pool is exhausted, or new connections fail.
    PoolTimeout,
    /// The pool was closed (the server is stopping).
    PoolClosed,
    /// A connection failed or was lost (refused, reset, end of stream).
    Connection,
    /// PostgreSQL is shutting down, starting up, or refuses more connections.
    ServerUnavailable,
    /// PostgreSQL cancelled a statement (`statement_timeout`).
    StatementTimeout,
    /// SQLite's lock was held by another connection for longer than the busy timeout.
    Locked,
}

impl Cause {
    pub fn fault(self) -> Fault {
        match self {
            Cause::PoolTimeout | Cause::PoolClosed | Cause::Connection | Cause::ServerUnavailable => Fault::Unavailable,
            Cause::StatementTimeout => Fault::Timeout,
            Cause::Locked => Fault::Busy,
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Cause::PoolTimeout => "pool_timeout",
            Cause::PoolClosed => "pool_closed",
            Cause::Connection => "connection",
            Cause::ServerUnavailable => "server_unavailable",
            Cause::StatementTimeout => "statement_timeout",
            Cause::Locked => "locked",
        }
    }
}

/// What kind of fault `error` is, if it is one (a constraint violation or a bad statement is not).
pub fn classify(error: &DbErr) -> Option<Cause> {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout) => Some(Cause::PoolTimeout),
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed) => Some(Cause::PoolClosed),
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => match &**error {
            Sqlx::PoolTimedOut => Some(Cause::PoolTimeout),
            Sqlx::PoolClosed => Some(Cause::PoolClosed),
            Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::Protocol(_) | Sqlx::WorkerCrashed => Some(Cause::Connection),
            Sqlx::Database(error) => database_cause(error.as_ref()),
            _ => None,
        },
        // Connecting failed in a way SeaORM reports as text only.
        DbErr::Conn(_) => Some(Cause::Connection),
        _ => None,
    }
}

/// The cause a database's own error code gives.
fn database_cause(error: &dyn sea_orm::sqlx::error::DatabaseError) -> Option<Cause> {
    use sea_orm::sqlx::postgres::PgDatabaseError;
    use sea_orm::sqlx::sqlite::SqliteError;
    let code = error.code()?;
    if error.try_downcast_ref::<PgDatabaseError>().is_some() {
        // SQLSTATE: class 08 connection exceptions; 57P01-03 shutting down or starting; 53300 too many
        // connections; 57014 a statement cancelled (statement_timeout).
        return match &*code {
            "57014" => Some(Cause::StatementTimeout),
            "57P01" | "57P02" | "57P03" | "53300" => Some(Cause::ServerUnavailable),
            code if code.starts_with("08") => Some(Cause::Connection),
            _ => None,
        };
    }
    if error.try_downcast_ref::<SqliteError>().is_some() {
        // Extended result codes: the primary code is the low byte. SQLITE_BUSY (5), SQLITE_LOCKED (6).
        return match code.parse::<i32>().map(|code| code & 0xff) {
            Ok(5 | 6) => Some(Cause::Locked),
            _ => None,
        };
    }
    None
}

/// The GraphQL-shaped body of an error answered outside GraphQL execution, with the current request id.
pub fn error_body(message: &str, code: &str) -> Value {
    let mut extensions = json!({ "code": code });
    if let Some(id) = super::context::request_id() {
        extensions["requestId"] = Value::String(id);
    }
    json!({ "errors": [{ "message": message, "extensions": extensions }] })
}

/// The answer to a request that failed before GraphQL execution (the key check) with `error`: a
/// database fault gets its code and status, anything else `INTERNAL` with HTTP 500.
pub fn answer(error: &AppError) -> Response {
    let graphql = async_graphql::ErrorExtensions::extend(error);
    let code = error.code();
    super::context::note_code(code);
    let status = Fault::from_code(code).map_or(StatusCode::INTERNAL_SERVER_ERROR, Fault::status);
    let mut response = (status, Json(error_body(&graphql.message, code))).into_response();
    if let Some(fault) = Fault::from_code(code) {
        fault.apply(&mut response);
    }
    response
}
