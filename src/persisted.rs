//! Persisted queries in Apollo's automatic persisted query protocol: a client sends
//! `extensions.persistedQuery = { version: 1, sha256Hash }` without the query; an unknown hash is answered
//! `PERSISTED_QUERY_NOT_FOUND` (message `PersistedQueryNotFound`, which Apollo Client looks for), and the
//! client sends the query with its hash once, which registers it. Registration verifies the hash.
//!
//! Registered queries are kept in the database (table `persisted_queries`), so every replica knows every
//! hash; each server also keeps the texts it has seen in memory (see
//! [`crate::graphql::admission`]). Only queries that passed every limit are stored.

use async_graphql::Value;
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, ExprTrait};

use crate::auth::sha256_hex;
use crate::error::{AppError, AppResult};
use crate::limits::{Refusal, code};

const TABLE: &str = "persisted_queries";

/// The hash a request names, if it uses the protocol, lowercased; version 1 only.
pub fn requested_hash(extensions: &async_graphql::Extensions) -> Result<Option<String>, Refusal> {
    let Some(persisted) = extensions.0.get("persistedQuery") else { return Ok(None) };
    let Value::Object(persisted) = persisted else {
        return Err(Refusal::new("BAD_USER_INPUT", "extensions.persistedQuery must be an object"));
    };
    match persisted.get("version") {
        Some(Value::Number(version)) if version.as_u64() == Some(1) => {}
        _ => return Err(Refusal::new("BAD_USER_INPUT", "only version 1 of persisted queries is supported")),
    }
    match persisted.get("sha256Hash") {
        // A malformed hash is one nobody registered: looked up, it is not found (without a statement);
        // sent with a query, it does not match.
        Some(Value::String(hash)) => Ok(Some(hash.to_ascii_lowercase())),
        _ => Err(Refusal::new("BAD_USER_INPUT", "extensions.persistedQuery.sha256Hash must be a string")),
    }
}

/// Whether `hash` can be a SHA-256 in hex at all.
pub fn well_formed(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Refuses a query whose text does not hash to `hash`.
pub fn verify(query: &str, hash: &str) -> Result<(), Refusal> {
    if sha256_hex(query) == hash {
        Ok(())
    } else {
        Err(Refusal::new(
            code::PERSISTED_QUERY_HASH_MISMATCH,
            "provided sha256Hash does not match the query (it must be the hex SHA-256 of the query text)",
        ))
    }
}

/// The refusal of a hash nobody registered.
pub fn not_found() -> Refusal {
    Refusal::new(code::PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
}

/// The query registered under `hash`.
pub async fn find(db: &DatabaseConnection, hash: &str) -> AppResult<Option<String>> {
    let select = Query::select().column("query").from(TABLE).and_where(Expr::col("hash").eq(hash)).take();
    match db.query_one(&select).await? {
        Some(row) => Ok(Some(row.try_get("", "query")?)),
        None => Ok(None),
    }
}

/// Registers `query` under its `hash` (already verified); registering twice is harmless.
pub async fn store(db: &DatabaseConnection, hash: &str, query: &str) -> AppResult<()> {
    let mut insert = Query::insert();
    insert
        .into_table(TABLE)
        .columns(["hash", "query", "created_at"])
        .values([hash.into(), query.into(), Utc::now().into()])
        .map_err(|e| AppError::Internal(format!("persisted query statement: {e}")))?
        .on_conflict(OnConflict::column("hash").do_nothing().to_owned());
    db.execute(&insert).await?;
    Ok(())
}
