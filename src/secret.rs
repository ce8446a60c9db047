//! The server secret: random bytes kept in the database (table `server_secret`, one row), so that every
//! replica of psm-api uses the same ones. They key the cursors (see [`crate::graphql::connection`]).
//!
//! The bytes are made here, by the first server that finds the row missing, and inserted only if no
//! other replica got there first; every server then reads back the one row that won. Generating them
//! in SQL would need PostgreSQL's pgcrypto extension.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, ExprTrait};

use crate::error::{AppError, AppResult};
use crate::graphql::connection::CursorKey;

/// Reads the cursor key of this database, creating it on first use.
pub async fn cursor_key(db: &DatabaseConnection) -> AppResult<CursorKey> {
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).map_err(|e| AppError::Internal(format!("no randomness for the server secret: {e}")))?;
    let mut insert = Query::insert();
    insert
        .into_table("server_secret")
        .columns(["id", "cursor_key", "created_at"])
        .values([1.into(), fresh.to_vec().into(), Utc::now().into()])
        .map_err(|e| AppError::Internal(format!("server secret statement: {e}")))?
        .on_conflict(OnConflict::column("id").do_nothing().to_owned());
    db.execute(&insert).await?;
    let select = Query::select().column("cursor_key").from("server_secret").and_where(Expr::col("id").eq(1)).take();
    let row = db.query_one(&select).await?.ok_or_else(|| AppError::Internal("the server secret is missing".into()))?;
    let bytes: Vec<u8> = row.try_get("", "cursor_key")?;
    let bytes: [u8; 32] =
        bytes.try_into().map_err(|_| AppError::Internal("the server secret is not 32 bytes long".into()))?;
    Ok(CursorKey::new(bytes))
}
