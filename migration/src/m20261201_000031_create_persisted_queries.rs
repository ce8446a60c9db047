//! Persisted queries (Apollo's automatic persisted queries): the text of each query a client
//! registered, under the hex SHA-256 of that text, shared by every replica.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{drop_tables, instant};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("persisted_queries")
                    .col(col::string_len("hash", 64).primary_key())
                    .col(col::text("query"))
                    .col(instant("created_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["persisted_queries"]).await
    }
}
