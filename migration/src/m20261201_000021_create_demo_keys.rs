//! The demo keys of an embedded (SQLite) demo database, kept in full so that the server can print them at
//! each start. Only ever filled in a SQLite demo database, whose data is made up: the keys are public by
//! design. Each expires (`expires_at`); authentication refuses it from then on.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

use crate::columns::{drop_tables, fk, instant};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("demo_keys")
                    .col(col::pk_uuid("api_key_id"))
                    .col(col::string("key"))
                    .col(instant("created_at"))
                    .col(instant("expires_at"))
                    .foreign_key(&mut fk("demo_keys", "api_key_id", "api_keys", "id"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["demo_keys"]).await
    }
}
